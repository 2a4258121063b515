//! `wraith export` and `wraith save` of VM disk files, end to end with the real binary: an
//! image exported as qcow2/VHDX/VMDK is what qemu-img checks clean and reads as the image's
//! raw export; an existing output is refused without --force and kept; and a qcow2, VHDX or
//! streamOptimized VMDK made by qemu-img from a real disk saves and restores to the same
//! partition table and filesystems.
#![allow(clippy::panic)] // test helpers report failures by panicking

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use wraith_testkit::{self as kit, assert_same_filesystems, table_of};

fn wraith(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wraith"))
        .args(args)
        .output()
        .expect("running wraith")
}

fn json(args: &[&str]) -> Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let o = wraith(&a);
    assert!(
        o.status.success(),
        "wraith {a:?} failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    serde_json::from_str(out.lines().last().expect("a JSON result line")).expect("JSON result")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn qemu(args: &[&str]) -> String {
    let o = Command::new("qemu-img")
        .args(args)
        .output()
        .expect("qemu-img");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "qemu-img {args:?}: {text}");
    text
}

fn have_qemu_img() -> bool {
    if Command::new("qemu-img").arg("--version").output().is_ok() {
        return true;
    }
    kit::skip_missing_tool("qemu-img", "export tests");
    false
}

#[test]
fn an_image_exports_as_vm_disks_qemu_reads_and_an_existing_file_is_kept() {
    if !have_qemu_img() {
        return;
    }
    let disk = kit::gpt_disk();
    let repo = tempfile::tempdir().expect("tempdir");
    let spec = format!("{}:pc", s(repo.path()));
    assert_eq!(json(&["save", s(&disk.path), &spec])["result"], "ok");
    let out = tempfile::tempdir().expect("tempdir");
    let raw = out.path().join("pc.img");
    let r = json(&["export", &spec, s(&raw)]);
    assert_eq!(r["format"], "raw");
    // The raw export keeps every filesystem and the table of the source.
    assert_same_filesystems(&disk, &raw);
    assert_eq!(table_of(&raw), table_of(&disk.path));
    for (name, fmt) in [
        ("pc.qcow2", "qcow2"),
        ("pc.vhdx", "vhdx"),
        ("pc.vmdk", "vmdk"),
    ] {
        let p = out.path().join(name);
        let r = json(&["export", &spec, s(&p)]);
        assert_eq!(r["format"], fmt);
        assert_eq!(r["virtual_size"].as_u64(), Some(disk.size));
        assert!(
            r["allocated"].as_u64().expect("allocated") < disk.size / 2,
            "{name} is sparse: {r}"
        );
        let check = qemu(&["check", "-f", fmt, s(&p)]);
        assert!(check.contains("No errors"), "{name}: {check}");
        let cmp = qemu(&["compare", "-f", "raw", "-F", fmt, s(&raw), s(&p)]);
        assert!(cmp.contains("identical"), "{name}: {cmp}");
    }
    // An existing OUT is refused, named, and left as it was; --force replaces it.
    let kept = out.path().join("pc.vhdx");
    let before = std::fs::read(&kept).expect("read");
    std::fs::write(&kept, b"not a disk").expect("write");
    let o = wraith(&["export", &spec, s(&kept)]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("already exists") && err.contains("--force") && err.contains("pc.vhdx"),
        "{err}"
    );
    assert_eq!(std::fs::read(&kept).expect("read"), b"not a disk");
    json(&["export", &spec, s(&kept), "--force"]);
    qemu(&["check", "-f", "vhdx", s(&kept)]);
    assert_eq!(std::fs::read(&kept).expect("read").len(), before.len());
    // No file name without a format.
    let o = wraith(&["export", &spec, s(&out.path().join("pc.iso"))]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!out.path().join("pc.iso").exists());
    let left: Vec<_> = std::fs::read_dir(out.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".partial"))
        .collect();
    assert!(left.is_empty(), "partial files left: {left:?}");
}

#[test]
fn vm_disk_files_save_as_the_disk_they_hold() {
    if !have_qemu_img() {
        return;
    }
    let disk = kit::mbr_disk();
    let work = tempfile::tempdir().expect("tempdir");
    let repo = work.path().join("repo");
    for (name, opts) in [
        ("vm.qcow2", vec!["-O", "qcow2"]),
        ("vm.vhdx", vec!["-O", "vhdx"]),
        (
            "vm.vmdk",
            vec!["-O", "vmdk", "-o", "subformat=streamOptimized"],
        ),
    ] {
        let file = work.path().join(name);
        let mut a = vec!["convert", "-f", "raw"];
        a.extend(opts);
        a.extend([s(&disk.path), s(&file)]);
        qemu(&a);
        // `info` shows the disk inside, with the source's partitions.
        let shown = json(&["info", s(&file)]);
        assert_eq!(
            shown["plan"]["disk"]["size"].as_u64(),
            Some(disk.size),
            "{name}"
        );
        let on_source = json(&["info", s(&disk.path)]);
        assert_eq!(shown["plan"]["table"], on_source["plan"]["table"], "{name}");
        let spec = format!("{}:{}", s(&repo), name.replace('.', "-"));
        let saved = json(&["save", s(&file), &spec]);
        assert_eq!(saved["result"], "ok", "{saved}");
        let info = json(&["info", &spec]);
        assert_eq!(
            info["manifest"]["source"]["size"].as_u64(),
            Some(disk.size),
            "{name}: the virtual disk's size is saved, not the file's"
        );
        let restored = work.path().join(format!("{name}.restored.img"));
        json(&["restore", &spec, s(&restored), "--yes"]);
        assert_eq!(table_of(&restored), table_of(&disk.path), "{name}: table");
        assert_same_filesystems(&disk, &restored);
        std::fs::remove_file(&restored).expect("remove");
    }
}

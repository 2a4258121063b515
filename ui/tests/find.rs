//! `wraith list --find` and the engine's discovery on real filesystems over a loop device:
//! a repository one directory down on an ext4 partition is found (label, image count, newest
//! image), an empty ext2 partition is offered for a new repository, a filesystem that cannot be
//! looked into says why, nothing stays mounted and not one byte of the disk changes; a disk the caller excludes is never looked at, and on a boot
//! medium only its data partition is. The `label:` location it prints then works for `list`
//! and `restore`. Needs root (loop devices, mounts).
#![allow(clippy::panic)]

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use wraith_testkit::loopdev::Loop;
use wraith_testkit::{self as kit, DiskBuilder, FsType, Table, MIB};

fn wraith(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wraith"))
        .args(args)
        .output()
        .expect("run wraith")
}

fn ok(args: &[&str]) -> String {
    let o = wraith(args);
    assert!(
        o.status.success(),
        "wraith {args:?}: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn mounted(dev: &str) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().any(|w| w == dev))
}

fn digest(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read disk")
}

#[test]
fn repositories_on_attached_drives_are_found_without_typing() {
    if !is_root() {
        eprintln!("SKIPPED: finding repositories mounts loop devices, which needs root");
        return;
    }
    // Labels unique on this machine, so `label:` names only this test's filesystem.
    let tag = std::process::id() % 100_000;
    let (ext_label, ext2_label) = (format!("WFA{tag}"), format!("WFB{tag}"));
    let fat_label = format!("WFC{tag}");
    let drive = DiskBuilder::new(144 * MIB, Table::Gpt)
        .part(64 * MIB, FsType::Ext4, &ext_label)
        .part(40 * MIB, FsType::Ext2, &ext2_label)
        .part(34 * MIB, FsType::Fat32, &fat_label)
        .build()
        .expect("drive");
    let source = kit::mbr_disk();

    // A repository one directory down, made by a real save through a mount of our own.
    // One loop device per partition: the kernel sees two drives, each a filesystem.
    let (p1, p2) = (drive.part(1), drive.part(2));
    let lo1 = Loop::attach_range(&drive.path, p1.start, p1.len).expect("losetup");
    let lo2 = Loop::attach_range(&drive.path, p2.start, p2.len).expect("losetup");
    let p3 = drive.part(3);
    let lo3 = Loop::attach_range(&drive.path, p3.start, p3.len).expect("losetup");
    let mnt = tempfile::tempdir().expect("mount point");
    let m = Command::new("mount")
        .arg(&lo1.0)
        .arg(mnt.path())
        .status()
        .expect("mount");
    assert!(m.success());
    let repo = mnt.path().join("lab");
    ok(&[
        "save",
        source.path.to_str().expect("utf-8"),
        &format!("{}:pc17", repo.display()),
    ]);
    assert!(Command::new("umount")
        .arg(mnt.path())
        .status()
        .expect("umount")
        .success());
    let before = digest(&drive.path);

    let out: Value = serde_json::from_str(&ok(&["--json", "list", "--find"])).expect("json");
    let places = out["places"].as_array().expect("places");
    let ext = places
        .iter()
        .find(|p| p["label"] == ext_label.as_str())
        .unwrap_or_else(|| panic!("{ext_label} not found: {out:#}"));
    assert_eq!(ext["device"], lo1.0.as_str());
    let repos = ext["repositories"].as_array().expect("repositories");
    assert_eq!(repos.len(), 1, "{ext:#}");
    assert_eq!(repos[0]["at"], format!("label:{ext_label}/lab").as_str());
    assert_eq!(repos[0]["images"], 1);
    assert_eq!(repos[0]["newest"]["name"], "pc17");
    assert!(ext["free"].as_u64().expect("free") > 0);
    let ext2 = places
        .iter()
        .find(|p| p["label"] == ext2_label.as_str())
        .unwrap_or_else(|| panic!("{ext2_label} not found: {out:#}"));
    assert_eq!(ext2["writable"], true);
    assert!(ext2["repositories"].as_array().expect("list").is_empty());
    // A kernel without vfat (some build hosts) cannot look into FAT: that is said, naming the
    // device, never skipped in silence.
    let fat = places
        .iter()
        .find(|p| p["device"] == lo3.0.as_str())
        .unwrap_or_else(|| panic!("{} not listed: {out:#}", lo3.0));
    assert!(
        fat["error"].is_null() || fat["error"].as_str().is_some_and(|e| e.contains(&lo3.0)),
        "{fat:#}"
    );
    // Looking mounted nothing that stays, and wrote nothing.
    assert!(!mounted(&lo1.0) && !mounted(&lo2.0) && !mounted(&lo3.0));
    assert!(digest(&drive.path) == before, "looking changed the drive");

    // The people's table names it the same way.
    let text = ok(&["list", "--find"]);
    assert!(text.contains(&format!("label:{ext_label}/lab")), "{text}");
    assert!(
        text.contains(&format!("label:{ext2_label}/wraith-images")),
        "{text}"
    );

    // What --find printed is a location the other commands take.
    let at = format!("label:{ext_label}/lab");
    let listed = ok(&["list", &at]);
    assert!(listed.contains("pc17@"), "{listed}");
    assert!(!mounted(&lo1.0), "list left the drive mounted");
    let target = kit::blank_disk(source.size);
    ok(&[
        "restore",
        &format!("{at}:pc17"),
        target.path.to_str().expect("utf-8"),
        "--yes",
    ]);
    assert!(!mounted(&lo1.0), "restore left the drive mounted");
    kit::assert_same_filesystems(&source, &target.path);

    // The engine's own rules: an excluded disk is not touched; on a boot medium only the data
    // partition is looked at.
    let disks: Vec<_> = wraith_engine::disks::list()
        .expect("disks")
        .into_iter()
        .filter(|d| d.path == lo1.0 || d.path == lo2.0)
        .collect();
    assert_eq!(disks.len(), 2, "the loop devices are listed");
    use wraith_engine::ops::discover;
    let seen = discover::local(&disks, std::slice::from_ref(&lo1.0), &[]);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].device, lo2.0, "the excluded disk was looked at");
    let on_boot = discover::local(&disks, &[], &[lo1.0.clone(), lo2.0.clone()]);
    assert!(on_boot.is_empty(), "{on_boot:?}");
}

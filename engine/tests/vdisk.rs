//! `vdisk`: a saved image exported as raw, qcow2, VHDX and VMDK files that qemu-img checks
//! clean and reads as exactly the image's bytes (the source where the image stores data,
//! zeros elsewhere), sparse on disk; and qcow2/VHDX/VMDK files made by qemu-img from a real
//! mkfs'd disk read back by our readers as that disk, byte for byte.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use wraith_engine::device::{Device, ReadAt};
use wraith_engine::events::{Cancel, Ctx};
use wraith_engine::plan::plan;
use wraith_engine::vdisk::{self, Format};

mod saved;
use saved::saved;

fn have_qemu_img() -> bool {
    if Command::new("qemu-img").arg("--version").output().is_ok() {
        return true;
    }
    wraith_testkit::skip_missing_tool("qemu-img", "vdisk tests");
    false
}

fn qemu(args: &[&str]) -> (bool, String) {
    let o = Command::new("qemu-img")
        .args(args)
        .output()
        .expect("qemu-img");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

fn allocated(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().blocks() * 512
}

fn export_all_formats(src: &wraith_testkit::Disk) {
    let (_repo_dir, disk) = saved(src);
    let stored = disk.stored();
    let image = disk.read_vec(0, disk.size() as usize).expect("read image");
    let source = std::fs::read(&src.path).unwrap();
    // The image is the source where it stores data and zeros elsewhere: so is every export.
    let differ = image.iter().zip(&source).filter(|(a, b)| a != b).count();
    assert!(
        image.iter().zip(&source).all(|(a, b)| a == b || *a == 0),
        "image bytes are the source's or zero"
    );
    let out = tempfile::tempdir().unwrap();
    let raw = out.path().join("disk.raw");
    vdisk::export(&disk, &stored, &raw, Format::Raw, false, &Ctx::quiet()).expect("raw");
    assert_eq!(
        std::fs::read(&raw).unwrap(),
        image,
        "raw export = image bytes"
    );
    let data = image
        .chunks(4096)
        .filter(|c| c.iter().any(|&b| b != 0))
        .count() as u64
        * 4096;
    assert!(
        allocated(&raw) <= data + (1 << 20),
        "raw export is sparse: {} allocated for {} of data in a {}-byte disk",
        allocated(&raw),
        data,
        image.len()
    );
    assert!(
        data < image.len() as u64 / 2,
        "the fixture leaves much unused ({differ} bytes not kept)"
    );
    for (fmt, name, qemu_fmt) in [
        (Format::Qcow2, "disk.qcow2", "qcow2"),
        (Format::Vhdx, "disk.vhdx", "vhdx"),
        (Format::Vmdk, "disk.vmdk", "vmdk"),
    ] {
        let p = out.path().join(name);
        assert_eq!(Format::from_path(&p), Some(fmt));
        vdisk::export(&disk, &stored, &p, fmt, false, &Ctx::quiet()).expect(name);
        assert!(!vdisk::partial_path(&p).exists(), "no partial file left");
        let ps = p.to_str().unwrap();
        let (ok, text) = qemu(&["check", "-f", qemu_fmt, ps]);
        assert!(ok, "qemu-img check {name}: {text}");
        assert!(
            !text.contains("leaked") && !text.contains("ERROR"),
            "qemu-img check {name}: {text}"
        );
        let (ok, text) = qemu(&[
            "compare",
            "-f",
            "raw",
            "-F",
            qemu_fmt,
            raw.to_str().unwrap(),
            ps,
        ]);
        assert!(
            ok && text.contains("identical"),
            "qemu-img compare {name}: {text}"
        );
        let (ok, text) = qemu(&["info", "--output=json", "-f", qemu_fmt, ps]);
        assert!(ok, "{text}");
        let info: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            info["virtual-size"].as_u64(),
            Some(image.len() as u64),
            "{name} size"
        );
        assert!(
            allocated(&p) < data + data / 4 + (8 << 20),
            "{name} holds only the data: {} allocated for {data}",
            allocated(&p)
        );
        // Our own reader reads our export back as the image.
        let r = vdisk::open(&p).expect("open export");
        assert_eq!(r.size(), image.len() as u64);
        assert_eq!(
            r.read_vec(0, image.len()).unwrap(),
            image,
            "{name} read back"
        );
        assert!(Format::detect(&Device::open_read(&p).unwrap()) == Some(fmt));
    }
}

#[test]
fn a_gpt_image_exports_to_every_format_checked_and_identical() {
    if !have_qemu_img() {
        return;
    }
    export_all_formats(&wraith_testkit::gpt_disk());
}

#[test]
fn an_mbr_image_exports_to_every_format_checked_and_identical() {
    if !have_qemu_img() {
        return;
    }
    export_all_formats(&wraith_testkit::mbr_disk());
}

#[test]
fn an_existing_output_is_refused_and_a_cancelled_export_leaves_nothing() {
    let src = wraith_testkit::mbr_disk();
    let (_repo_dir, disk) = saved(&src);
    let out = tempfile::tempdir().unwrap();
    let p = out.path().join("vm.qcow2");
    std::fs::write(&p, b"keep me").unwrap();
    let e = vdisk::export(
        &disk,
        &disk.stored(),
        &p,
        Format::Qcow2,
        false,
        &Ctx::quiet(),
    )
    .expect_err("existing output");
    assert!(e.to_string().contains("--force"), "{e}");
    assert_eq!(std::fs::read(&p).unwrap(), b"keep me");
    // Cancelled in the middle, after the first piece was written.
    let cancel = Cancel::new();
    let c2 = cancel.clone();
    let sink = move |e: wraith_engine::events::Event| {
        if let wraith_engine::events::Event::Progress { done, .. } = e {
            assert!(done > 0);
            c2.cancel();
        }
    };
    let ctx = Ctx::new(&sink, &cancel, 1);
    let e =
        vdisk::export(&disk, &disk.stored(), &p, Format::Qcow2, true, &ctx).expect_err("cancelled");
    assert!(matches!(e, wraith_engine::Error::Cancelled), "{e}");
    assert_eq!(std::fs::read(&p).unwrap(), b"keep me", "the old file stays");
    assert!(!vdisk::partial_path(&p).exists(), "no partial file left");
    vdisk::export(
        &disk,
        &disk.stored(),
        &p,
        Format::Qcow2,
        true,
        &Ctx::quiet(),
    )
    .expect("--force");
    assert_eq!(vdisk::open(&p).unwrap().size(), disk.size());
}

#[test]
fn files_made_by_qemu_img_read_as_the_disk() {
    if !have_qemu_img() {
        return;
    }
    let src = wraith_testkit::gpt_disk();
    let source = std::fs::read(&src.path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let s = src.path.to_str().unwrap();
    for (name, args) in [
        ("a.qcow2", vec!["-O", "qcow2"]),
        ("c.qcow2", vec!["-c", "-O", "qcow2"]),
        (
            "v2.qcow2",
            vec!["-O", "qcow2", "-o", "compat=0.10,cluster_size=4096"],
        ),
        ("a.vhdx", vec!["-O", "vhdx"]),
        ("f.vhdx", vec!["-O", "vhdx", "-o", "subformat=fixed"]),
        (
            "s.vmdk",
            vec!["-O", "vmdk", "-o", "subformat=monolithicSparse"],
        ),
        (
            "o.vmdk",
            vec!["-O", "vmdk", "-o", "subformat=streamOptimized"],
        ),
    ] {
        let p = dir.path().join(name);
        let mut a = vec!["convert", "-f", "raw"];
        a.extend(args);
        a.extend([s, p.to_str().unwrap()]);
        let (ok, text) = qemu(&a);
        assert!(ok, "qemu-img {a:?}: {text}");
        let r = vdisk::open_image(&p)
            .expect(name)
            .expect("a VM disk format");
        assert_eq!(r.size(), source.len() as u64, "{name} size");
        let whole = r.read_vec(0, source.len()).expect(name);
        assert!(whole == source, "{name} reads as the source disk");
        // Odd-sized reads across cluster and grain edges give the same bytes.
        let mut at = 4097u64;
        while at < r.size() {
            let n = 200_003u64.min(r.size() - at) as usize;
            assert_eq!(
                r.read_vec(at, n).unwrap(),
                source[at as usize..at as usize + n]
            );
            at += 7_000_001;
        }
        assert!(r.read_vec(r.size() - 1, 2).is_err(), "past the end");
        // A plan of the virtual disk finds the source's partitions.
        let p1 = plan(&*r, Device::open_read(&src.path).unwrap().identity.clone()).unwrap();
        assert_eq!(
            p1.table.partitions.len(),
            src.parts.len(),
            "{name} partitions"
        );
    }
}

#[test]
fn overlays_and_descriptor_files_are_refused_by_name() {
    if !have_qemu_img() {
        return;
    }
    let src = wraith_testkit::mbr_disk();
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.qcow2");
    let (ok, t) = qemu(&[
        "convert",
        "-f",
        "raw",
        "-O",
        "qcow2",
        src.path.to_str().unwrap(),
        base.to_str().unwrap(),
    ]);
    assert!(ok, "{t}");
    let top = dir.path().join("top.qcow2");
    let (ok, t) = qemu(&[
        "create",
        "-f",
        "qcow2",
        "-b",
        base.to_str().unwrap(),
        "-F",
        "qcow2",
        top.to_str().unwrap(),
    ]);
    assert!(ok, "{t}");
    let e = vdisk::open_image(&top)
        .err()
        .expect("overlay refused")
        .to_string();
    assert!(e.contains("backing file") && e.contains("top.qcow2"), "{e}");
    let flat = dir.path().join("flat.vmdk");
    let (ok, t) = qemu(&[
        "create",
        "-f",
        "vmdk",
        "-o",
        "subformat=monolithicFlat",
        flat.to_str().unwrap(),
        "16M",
    ]);
    assert!(ok, "{t}");
    let e = vdisk::open_image(&flat)
        .err()
        .expect("descriptor refused")
        .to_string();
    assert!(e.contains("descriptor") && e.contains("flat.vmdk"), "{e}");
    let child = dir.path().join("child.vhdx");
    let _ = child; // qemu-img cannot make differencing VHDX; the parser refuses the flag (fuzzed).
}

/// Damaged headers and tables give errors, never a panic or a huge allocation.
#[test]
fn damaged_containers_never_panic() {
    let src = wraith_testkit::mbr_disk();
    let (_repo_dir, disk) = saved(&src);
    let out = tempfile::tempdir().unwrap();
    for name in ["d.qcow2", "d.vhdx", "d.vmdk"] {
        let p = out.path().join(name);
        let f = Format::from_path(&p).unwrap();
        vdisk::export(&disk, &disk.stored(), &p, f, false, &Ctx::quiet()).unwrap();
        // The metadata (first 4 MiB) with one byte changed at a time, in a buffer.
        let head: Vec<u8> = std::fs::read(&p)
            .unwrap()
            .into_iter()
            .take(4 << 20)
            .collect();
        let mut seed = 0x1234_5678u64;
        for _ in 0..400 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let mut b = head.clone();
            let at = (seed >> 33) as usize % b.len().min(if seed & 1 == 0 { 512 } else { 1 << 20 });
            b[at] ^= (seed >> 8) as u8 | 1;
            if let Ok(Some(r)) = vdisk::open_inner(b, name) {
                let mut buf = vec![0u8; 1 << 20];
                let _ = r.read_exact_at(&mut buf, 0);
                let _ = r.read_exact_at(&mut buf, r.size().saturating_sub(1 << 20));
            }
        }
    }
}

//! A dying source disk in the real live system: QEMU's blkdebug makes chosen sectors of the
//! source fail every read with EIO (the guest kernel logs real I/O errors). The unattended
//! clone and save must complete, report exactly those sectors and the file holding each, and
//! copy everything else identically.
//! `#[ignore]`d like the other VM tests; `./build.sh test` runs them with `--ignored`.
#![allow(clippy::panic)]

use qemu_tests::{artifact, Boot, Bus, VmBuilder};
use std::path::Path;
use std::time::Duration;
use wraith_testkit::{self as kit, table_of, MIB};

/// The fixture and one failing sector in a file of its ext4 (2) and NTFS (3) partitions.
struct Dying {
    src: kit::Disk,
    /// (partition, file, sector)
    failing: [(u32, String, u64); 2],
}

fn dying() -> Dying {
    let src = kit::gpt_disk();
    let (ext_file, s1) = src.sector_in_a_file(2);
    let (ntfs_file, s2) = src.sector_in_a_file(3);
    eprintln!("failing sectors {s1} ({ext_file} on ext4) and {s2} ({ntfs_file} on NTFS)");
    Dying {
        src,
        failing: [(2, ext_file, s1), (3, ntfs_file, s2)],
    }
}

/// Runs an inline job with the dying disk as DYING and `other` as a second virtio disk;
/// returns the job's result line.
fn run(d: &Dying, job: &str, other: &Path, serial: &str) -> serde_json::Value {
    let kernel = artifact("WRAITH_KERNEL", "out/pxe/vmlinuz").unwrap_or_else(|e| panic!("{e}"));
    let initramfs =
        artifact("WRAITH_INITRAMFS", "out/pxe/initramfs.zst").unwrap_or_else(|e| panic!("{e}"));
    let sectors: Vec<u64> = d.failing.iter().map(|f| f.2).collect();
    let mut vm = VmBuilder::new(Boot::Kernel {
        kernel,
        initramfs,
        append: format!("console=ttyS0,115200 panic=-1 wraith.run=\"{job}\""),
    })
    .memory(256)
    .failing_disk(&d.src.path, Bus::Virtio, "DYING", &sectors)
    .disk(other, Bus::Virtio, serial)
    .start()
    .unwrap_or_else(|e| panic!("{e}"));
    let r = vm
        .result(Duration::from_secs(600))
        .unwrap_or_else(|e| panic!("{e}"));
    drop(vm);
    eprintln!("result: {r}");
    r
}

/// The result is partial and names exactly the failing sectors, their partitions, and the
/// one file holding each.
fn assert_names_the_damage(d: &Dying, r: &serde_json::Value) {
    let (s1, s2) = (d.failing[0].2, d.failing[1].2);
    let src = &d.src;
    assert_eq!(r["result"], "partial", "{r}");
    let mut want = vec![(s1 * 512, 512u64), (s2 * 512, 512)];
    want.sort();
    let got: Vec<(u64, u64)> = r["unreadable"]
        .as_array()
        .unwrap_or_else(|| panic!("no unreadable list: {r}"))
        .iter()
        .map(|e| {
            (
                e["start"].as_u64().unwrap_or(0),
                e["len"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        got, want,
        "the report must name exactly the failing sectors"
    );
    let regions = r["unreadable_regions"].to_string();
    assert!(
        regions.contains("partition 2") && regions.contains("partition 3"),
        "{regions}"
    );
    // Each failing sector lies in one file's data: the report names exactly that file.
    for (n, name, _) in &d.failing {
        let part = src.part(*n);
        let entry = r["unreadable_files"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|d| d["region_start"].as_u64() == Some(part.start))
            })
            .unwrap_or_else(|| panic!("no files named for partition {n}: {r}"));
        let paths: Vec<&str> = entry["files"]
            .as_array()
            .unwrap_or_else(|| panic!("no file list: {entry}"))
            .iter()
            .map(|t| t["path"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(paths, vec![format!("/{name}")], "partition {n}: {entry}");
        assert_eq!(entry["files"][0]["kind"], "data", "{entry}");
    }
}

#[test]
#[ignore = "boots the real kernel: run by ./build.sh test"]
fn clone_of_a_disk_with_failing_sectors_completes_and_names_them() {
    let d = dying();
    let dst = kit::blank_disk(256 * MIB);
    let r = run(
        &d,
        "action=clone source=serial:DYING target=serial:FRESH layout=keep after=poweroff",
        &dst.path,
        "FRESH",
    );
    assert_names_the_damage(&d, &r);
    let src = &d.src;

    // Everything else is identical (the layout is kept, so byte for byte): table,
    // filesystems pass fsck, every file but the two touched ones identical, and those differ
    // only by the zeroed sector.
    assert_eq!(table_of(&dst.path), table_of(&src.path));
    let copy = std::fs::read(&dst.path).expect("read copy");
    for (n, name, sector) in &d.failing {
        let (n, sector) = (*n, *sector);
        let part = src.part(n);
        kit::fsck(&dst.path, part).unwrap_or_else(|e| panic!("fsck partition {n}: {e}"));
        let got = kit::files(&dst.path, part).unwrap_or_else(|e| panic!("files: {e}"));
        for (f, data) in &part.files {
            let c = got
                .get(f)
                .unwrap_or_else(|| panic!("{f} missing on the copy"));
            if f == name {
                assert_ne!(c, data, "{f} holds the failing sector and cannot be intact");
                assert_eq!(c.len(), data.len());
                let diff: Vec<usize> = (0..c.len()).filter(|&i| c[i] != data[i]).collect();
                let (a, b) = (diff[0], diff[diff.len() - 1]);
                assert!(b - a < 512, "{f}: damage spans more than one sector");
            } else {
                assert_eq!(c, data, "{f} differs on the copy");
            }
        }
        let at = (sector * 512) as usize;
        assert!(
            copy[at..at + 512].iter().all(|&b| b == 0),
            "sector {sector}"
        );
    }
}

#[test]
#[ignore = "boots the real kernel: run by ./build.sh test"]
fn save_of_a_disk_with_failing_sectors_completes_and_names_them() {
    let d = dying();
    let drive = kit::images_drive(256 * MIB, "WRAITH-IMAGES");
    let r = run(
        &d,
        "action=save source=serial:DYING repo=label:WRAITH-IMAGES/images image=dying after=poweroff",
        &drive.path,
        "IMAGES",
    );
    assert_names_the_damage(&d, &r);
    assert!(
        r["mapfile"]
            .as_str()
            .is_some_and(|m| m.ends_with(".mapfile")),
        "{r}"
    );
}

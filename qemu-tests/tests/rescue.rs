//! A dying source disk in the real live system: QEMU's blkdebug makes chosen sectors of the
//! source fail every read with EIO (the guest kernel logs real I/O errors). The unattended
//! clone must complete, report exactly those sectors, and copy everything else identically.
//! `#[ignore]`d like the other VM tests; `./build.sh test` runs them with `--ignored`.
#![allow(clippy::panic)]

use qemu_tests::{artifact, Boot, Bus, VmBuilder};
use std::time::Duration;
use wraith_testkit::{self as kit, table_of, MIB};

/// Byte offset on the disk of the first copy of `needle` inside `[start, start+len)`.
fn find(disk: &[u8], start: u64, len: u64, needle: &[u8]) -> u64 {
    let hay = &disk[start as usize..(start + len) as usize];
    let pos = hay
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("file bytes not found on the fixture disk"));
    start + pos as u64
}

/// A file of partition `n` big enough to hold a failing sector in its middle: (name, sector).
fn sector_in_a_file(fixture: &kit::Disk, disk: &[u8], n: u32) -> (String, u64) {
    let part = fixture.part(n);
    let (name, data) = part
        .files
        .iter()
        .find(|(_, d)| d.len() >= 16 << 10)
        .unwrap_or_else(|| panic!("partition {n} has no file of 16 KiB"));
    let at = find(disk, part.start, part.len, &data[..4096]);
    (name.clone(), at / 512 + 3)
}

#[test]
#[ignore = "boots the real kernel: run by ./build.sh test"]
fn clone_of_a_disk_with_failing_sectors_completes_and_names_them() {
    let src = kit::gpt_disk();
    let dst = kit::blank_disk(256 * MIB);
    let disk = std::fs::read(&src.path).expect("read fixture");
    let (ext_file, s1) = sector_in_a_file(&src, &disk, 2);
    let (ntfs_file, s2) = sector_in_a_file(&src, &disk, 3);
    eprintln!("failing sectors {s1} ({ext_file} on ext4) and {s2} ({ntfs_file} on NTFS)");

    let kernel = artifact("WRAITH_KERNEL", "out/pxe/vmlinuz").unwrap_or_else(|e| panic!("{e}"));
    let initramfs =
        artifact("WRAITH_INITRAMFS", "out/pxe/initramfs.zst").unwrap_or_else(|e| panic!("{e}"));
    let job = "action=clone source=serial:DYING target=serial:FRESH after=poweroff";
    let mut vm = VmBuilder::new(Boot::Kernel {
        kernel,
        initramfs,
        append: format!("console=ttyS0,115200 panic=-1 wraith.run=\"{job}\""),
    })
    .memory(256)
    .failing_disk(&src.path, Bus::Virtio, "DYING", &[s1, s2])
    .disk(&dst.path, Bus::Virtio, "FRESH")
    .start()
    .unwrap_or_else(|e| panic!("{e}"));
    let r = vm
        .result(Duration::from_secs(600))
        .unwrap_or_else(|e| panic!("{e}"));
    drop(vm);
    eprintln!("result: {r}");

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

    // Everything else is identical: table, filesystems pass fsck, every file but the two
    // touched ones identical, and those differ only by the zeroed sector.
    assert_eq!(table_of(&dst.path), table_of(&src.path));
    let copy = std::fs::read(&dst.path).expect("read copy");
    for (n, name, sector) in [(2, &ext_file, s1), (3, &ntfs_file, s2)] {
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

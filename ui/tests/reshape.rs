//! Restore and clone onto disks of other sizes (`--layout grow|fit|proportional`), end to end
//! through the `wraith` command on disk images made by the real mkfs tools, checked with the
//! real tools: `sfdisk --verify`, each filesystem's checker, every file byte-identical, and
//! each filesystem's size equal to its new partition. Root (loop devices for the resize
//! tools); skipped with a message otherwise, a failure under WRAITH_NO_SKIP.
#![allow(clippy::panic)] // test helpers report failures by panicking

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use wraith_testkit::{self as kit, Disk, Part, MIB};

fn wraith(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wraith"))
        .args(args)
        .output()
        .expect("running wraith")
}

fn json_ok(args: &[&str]) -> Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let o = wraith(&a);
    assert!(
        o.status.success(),
        "wraith {a:?} failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(out.lines().last().expect("a JSON result line")).expect("JSON result")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn ready() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    assert!(
        std::env::var_os("WRAITH_NO_SKIP").is_none(),
        "resizing needs root (loop devices) and WRAITH_NO_SKIP is set"
    );
    eprintln!("SKIPPED: resizing needs root (loop devices)");
    false
}

/// Every partition of `fixture` is on `target` where the job's layout says, passes its
/// checker, holds exactly the fixture's files, and a resized filesystem fills its partition.
fn assert_reshaped(fixture: &Disk, target: &Path, report: &Value) {
    kit::assert_table_verifies(target);
    let now = kit::partition_ranges(target).unwrap_or_else(|e| panic!("sfdisk: {e}"));
    let steps = report["layout"]["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no layout in the report: {report}"));
    for p in &fixture.parts {
        if p.fs == kit::FsType::None {
            continue;
        }
        let step = steps
            .iter()
            .find(|st| st["number"].as_u64() == Some(p.number as u64))
            .unwrap_or_else(|| panic!("partition {} not in the layout: {report}", p.number));
        let (start, len) = (
            step["new_start"].as_u64().unwrap_or(0),
            step["new_len"].as_u64().unwrap_or(0),
        );
        assert!(
            now.contains(&(p.number, start, len)),
            "partition {} should be at {start}+{len}; the table has {now:?}",
            p.number
        );
        let moved = Part {
            start,
            len,
            ..p.clone()
        };
        kit::fsck(target, &moved)
            .unwrap_or_else(|e| panic!("fsck of partition {} on the target: {e}", p.number));
        let got = kit::files(target, &moved)
            .unwrap_or_else(|e| panic!("reading files of partition {}: {e}", p.number));
        assert!(got == p.files, "partition {} files differ", p.number);
        if step["how"] != "copy" {
            let fs_size = fs_size(target, &moved);
            assert!(
                fs_size <= len && fs_size + MIB >= len,
                "partition {}: filesystem of {fs_size} bytes in a partition of {len}",
                p.number
            );
        }
    }
}

/// The size the filesystem of `part` says it has, read from its own superblock or boot
/// sector (a resized NTFS is marked for chkdsk, which `wraith info` does not map).
fn fs_size(disk: &Path, part: &Part) -> u64 {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(disk).expect("open target");
    let mut b = vec![0u8; 2048];
    f.read_exact_at(&mut b, part.start)
        .expect("read superblock");
    let le = |o: usize, n: usize| -> u64 {
        b[o..o + n]
            .iter()
            .rev()
            .fold(0u64, |acc, &x| (acc << 8) | x as u64)
    };
    match part.fs {
        kit::FsType::Ntfs => le(0x28, 8) * le(0x0B, 2),
        f if f.is_ext() => {
            // Superblock at 1024: blocks (lo at 0x04, hi at 0x150), block size 1024 << 0x18.
            let lo = le(1024 + 0x04, 4);
            let hi = le(1024 + 0x150, 4);
            let bs = 1024u64 << le(1024 + 0x18, 4);
            ((hi << 32) | lo) * bs
        }
        f if f.is_fat() => {
            let total = match le(0x13, 2) {
                0 => le(0x20, 4),
                n => n,
            };
            total * le(0x0B, 2)
        }
        other => panic!("no size check for {other:?}"),
    }
}

/// A Windows-like GPT disk with room to shrink: ESP (FAT32), a Microsoft-reserved partition
/// without a filesystem, ext4 and NTFS, mostly free. Sparse: it costs its data only.
fn gpt_roomy() -> Disk {
    kit::DiskBuilder::new(768 * MIB, kit::Table::Gpt)
        .seed(0x7265_7300)
        .part(64 * MIB, kit::FsType::Fat32, "ESP")
        .with_type(kit::GPT_EFI)
        .part(16 * MIB, kit::FsType::None, "MSR")
        .with_type("E3C9E316-0B5C-4DB8-817D-F92DF00215AE")
        .part(384 * MIB, kit::FsType::Ext4, "root")
        .part(256 * MIB, kit::FsType::Ntfs, "DATA")
        .with_type(kit::GPT_BASIC_DATA)
        .build()
        .expect("building the GPT fixture")
}

/// An MBR disk with a primary and two logical partitions, mostly free.
fn mbr_roomy() -> Disk {
    kit::DiskBuilder::new(512 * MIB, kit::Table::Dos)
        .seed(0x7265_7301)
        .part(160 * MIB, kit::FsType::Ext4, "boot")
        .bootable()
        .extended(320 * MIB)
        .logical(144 * MIB, kit::FsType::Ext4, "home")
        .logical(160 * MIB, kit::FsType::Ntfs, "DATA")
        .boot_code()
        .build()
        .expect("building the MBR fixture")
}

/// `wraith restore SPEC TARGET [--layout LAYOUT] --verify`: done and verified.
fn restore_verified(spec: &str, target: &Disk, layout: Option<&str>) -> Value {
    let mut args = vec!["restore", spec, s(&target.path), "--yes", "--verify"];
    if let Some(l) = layout {
        args.extend(["--layout", l]);
    }
    let r = json_ok(&args);
    assert_eq!(r["result"], "ok", "{r}");
    assert_eq!(r["verified"], true, "the verification passes: {r}");
    r
}

fn saved(disk: &Disk) -> (tempfile::TempDir, String) {
    let repo = tempfile::Builder::new()
        .prefix("wraith-repo-")
        .tempdir()
        .expect("tempdir");
    let spec = format!("{}:pc", s(repo.path()));
    let r = json_ok(&["save", s(&disk.path), &spec]);
    assert_eq!(r["result"], "ok", "{r}");
    (repo, spec)
}

#[test]
fn gpt_image_restored_onto_a_smaller_disk_shrinks_to_fit_and_onto_a_larger_one_grows() {
    kit::require_tools();
    if !ready() {
        return;
    }
    let disk = gpt_roomy();
    let (_repo, spec) = saved(&disk);

    // 40 % smaller: the ext4 and NTFS partitions shrink; the ESP keeps its size.
    let small = kit::blank_disk(disk.size / 10 * 6);
    let r = restore_verified(&spec, &small, Some("fit"));
    eprintln!("fit: {}", r["layout"]);
    assert_eq!(r["layout"]["policy"], "fit");
    assert_reshaped(&disk, &small.path, &r);
    let steps = r["layout"]["steps"].as_array().cloned().unwrap_or_default();
    let esp = &steps[0];
    assert_eq!(esp["old_len"], esp["new_len"], "the ESP keeps its size");

    // Twice as large: the last data partition takes the new space.
    let large = kit::blank_disk(disk.size * 2);
    let r = restore_verified(&spec, &large, Some("grow"));
    eprintln!("grow: {}", r["layout"]);
    assert_reshaped(&disk, &large.path, &r);
    let last = r["layout"]["steps"]
        .as_array()
        .and_then(|s| s.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["how"], "grow", "{r}");
    assert!(last["new_len"].as_u64() > last["old_len"].as_u64());
}

#[test]
fn mbr_image_with_logical_partitions_onto_smaller_and_larger_disks() {
    kit::require_tools();
    if !ready() {
        return;
    }
    let disk = mbr_roomy();
    let (_repo, spec) = saved(&disk);
    let small = kit::blank_disk(disk.size / 10 * 7);
    let r = restore_verified(&spec, &small, Some("fit"));
    eprintln!("fit: {}", r["layout"]);
    assert_reshaped(&disk, &small.path, &r);
    // No --layout: a larger disk grows by default, the last logical partition taking the
    // new space (its extended partition grows around it).
    let large = kit::blank_disk(disk.size * 2);
    let r = restore_verified(&spec, &large, None);
    eprintln!("auto: {}", r["layout"]);
    assert_eq!(r["layout"]["policy"], "grow", "{r}");
    assert_reshaped(&disk, &large.path, &r);
    let grown: Vec<u64> = r["layout"]["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["how"] == "grow")
        .filter_map(|s| s["number"].as_u64())
        .collect();
    assert_eq!(grown, [6], "the last data partition grows: {r}");
}

#[test]
fn clone_onto_a_smaller_disk_shrinks_to_fit_by_default_and_verifies() {
    kit::require_tools();
    if !ready() {
        return;
    }
    let disk = gpt_roomy();
    let small = kit::blank_disk(disk.size / 10 * 6);
    let r = json_ok(&["clone", s(&disk.path), s(&small.path), "--yes", "--verify"]);
    assert_eq!(r["layout"]["policy"], "fit", "{r}");
    assert_eq!(r["verified"], true, "the verification passes: {r}");
    assert_reshaped(&disk, &small.path, &r);
}

#[test]
fn a_target_too_small_for_the_data_is_refused_before_anything_is_written() {
    kit::require_tools();
    let disk = gpt_roomy();
    let (_repo, spec) = saved(&disk);
    let tiny = kit::blank_disk(160 * MIB);
    let before = std::fs::read(&tiny.path).expect("read target");
    let o = wraith(&["restore", &spec, s(&tiny.path), "--yes", "--layout", "fit"]);
    assert!(!o.status.success(), "a 160 MiB target cannot hold the data");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("refused") && err.contains("needs at least"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&tiny.path).expect("read target"),
        before,
        "the target is untouched"
    );
}

/// A GPT disk of several GiB as a dual-boot PC leaves it: ESP, a Microsoft-reserved
/// partition, ext4 and NTFS, each of the last two with a file written at the very end of the
/// filesystem, so a shrink has to move data (NTFS and a used ext4 put files anywhere).
fn gpt_several_gib() -> Disk {
    let mut disk = kit::DiskBuilder::new(3 * 1024 * MIB, kit::Table::Gpt)
        .seed(0x7265_7302)
        .part(256 * MIB, kit::FsType::Fat32, "ESP")
        .with_type(kit::GPT_EFI)
        .part(16 * MIB, kit::FsType::None, "MSR")
        .with_type("E3C9E316-0B5C-4DB8-817D-F92DF00215AE")
        .part(1792 * MIB, kit::FsType::Ext4, "root")
        .part(960 * MIB, kit::FsType::Ntfs, "DATA")
        .with_type(kit::GPT_BASIC_DATA)
        .build()
        .expect("building the several-GiB GPT fixture");
    let mut rng = kit::Prng::new(0x0065_6e64);
    for i in [2, 3] {
        let data = rng.bytes(12 * MIB as usize + 4321);
        kit::put_file_at_end(&disk.path, &mut disk.parts[i], "at-the-end.bin", data)
            .expect("writing a file at the end of the filesystem");
    }
    disk
}

#[test]
fn a_several_gib_disk_with_data_at_the_ends_restores_onto_a_disk_40_percent_smaller_and_twice_as_large(
) {
    kit::require_tools();
    if !ready() {
        return;
    }
    let disk = gpt_several_gib();
    let (_repo, spec) = saved(&disk);

    let small = kit::blank_disk(disk.size / 10 * 6);
    let r = restore_verified(&spec, &small, None);
    eprintln!("auto onto 60 %: {}", r["layout"]);
    assert_eq!(r["layout"]["policy"], "fit", "{r}");
    assert_reshaped(&disk, &small.path, &r);
    let how = |r: &Value, n: u64| -> String {
        r["layout"]["steps"]
            .as_array()
            .and_then(|s| s.iter().find(|st| st["number"].as_u64() == Some(n)))
            .map(|st| st["how"].to_string())
            .unwrap_or_default()
    };
    // The files at the ends lie past the new ends: both shrinks go through the scratch space.
    assert_eq!(how(&r, 3), "\"shrink_staged\"", "{r}");
    assert_eq!(how(&r, 4), "\"shrink_staged\"", "{r}");

    let large = kit::blank_disk(disk.size * 2);
    let r = restore_verified(&spec, &large, None);
    eprintln!("auto onto 200 %: {}", r["layout"]);
    assert_eq!(r["layout"]["policy"], "grow", "{r}");
    assert_reshaped(&disk, &large.path, &r);
    assert_eq!(how(&r, 4), "\"grow\"", "{r}");
    kit::assert_table_grown(&large.path, &disk.path, 4);
}

#[test]
fn an_xfs_partition_that_would_have_to_shrink_is_refused_before_anything_is_written() {
    kit::require_tools();
    let mut disk = kit::DiskBuilder::new(448 * MIB, kit::Table::Gpt)
        .seed(0x7265_7303)
        .part(64 * MIB, kit::FsType::Ext4, "boot")
        .part(360 * MIB, kit::FsType::None, "srv")
        .build()
        .expect("building the XFS fixture");
    let p = disk.parts[1].clone();
    let img = kit::extract(&disk.path, p.start, p.len).expect("extract");
    let mkfs = Command::new(kit::find_tool("mkfs.xfs").expect("mkfs.xfs (xfsprogs)"))
        .args(["-q", "-f", "-L", "srv"])
        .arg(img.path())
        .output()
        .expect("running mkfs.xfs");
    assert!(
        mkfs.status.success(),
        "{}",
        String::from_utf8_lossy(&mkfs.stderr)
    );
    kit::write_back(&disk.path, p.start, img.path()).expect("write back");
    disk.parts[1].label = "srv".into();

    let (_repo, spec) = saved(&disk);
    let target = kit::blank_disk(320 * MIB);
    let before = std::fs::read(&target.path).expect("read target");
    for layout in [None, Some("fit"), Some("proportional")] {
        let mut args = vec!["restore", &spec, s(&target.path), "--yes"];
        if let Some(l) = layout {
            args.extend(["--layout", l]);
        }
        let o = wraith(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success(),
            "{layout:?}: an XFS cannot shrink: {err}"
        );
        assert!(
            err.contains("partition 2") && err.contains("XFS cannot shrink"),
            "{layout:?}: the refusal names the partition and why: {err}"
        );
        assert_eq!(
            std::fs::read(&target.path).expect("read target"),
            before,
            "{layout:?}: the target is untouched"
        );
    }
}

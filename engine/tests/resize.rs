//! The resizers on real filesystems made by the real mkfs tools in plain image files: data is
//! left high in each (big files written, the early ones deleted), then each filesystem is
//! shrunk to the plan's minimum and grown to twice its size; after each step the tool's own
//! checker must be clean, the size must be the one asked for, and every file identical. Also
//! pins the headroom rule against resize2fs -P and ntfsresize --info, and the refusals.

#![allow(clippy::panic)]

mod fs_helpers;
use fs_helpers::*;
use std::path::Path;
use std::process::Command;
use wraith_engine::device::{Device, ReadAt};
use wraith_engine::fs::{self, FsKind};
use wraith_engine::plan::{FsSummary, Method};
use wraith_engine::resize;

const MIB: u64 = 1 << 20;

/// A file's bytes as a tool prints them (debugfs cat, ntfscat, mtype-free mcopy to stdout).
fn raw(tool_name: &str, args: &[&str]) -> Vec<u8> {
    let exe = tool(tool_name).unwrap_or_else(|| panic!("{tool_name} missing"));
    let out = Command::new(exe).args(args).output().expect("run");
    assert!(
        out.status.success(),
        "{tool_name} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Probes the image and returns the plan's facts and the used bytes.
fn facts(img: &Path) -> (FsSummary, u64, fs::FsInfo) {
    let dev = Device::open_read(img).expect("open");
    let info = fs::probe(&dev).expect("probe").expect("recognised");
    let s = FsSummary {
        kind: info.kind,
        label: info.label.clone(),
        uuid: info.uuid.clone(),
        block_size: info.block_size,
        size: info.size,
    };
    (s, info.used.total(), info)
}

fn set_len(img: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(img)
        .expect("open")
        .set_len(len)
        .expect("set_len");
}

fn highest_used(info: &fs::FsInfo) -> u64 {
    info.used.iter().map(|e| e.end()).max().unwrap_or(0)
}

fn do_resize(img: &Path, s: &FsSummary, new: u64) {
    let mut lines = Vec::new();
    resize::resize(img, s, new, &mut |l: &str| lines.push(l.to_string()))
        .unwrap_or_else(|e| panic!("resize to {new}: {e}\n{}", lines.join("\n")));
}

/// Shrinks to the plan's minimum (which must move data: some sits above it), then grows to
/// twice the original size; `check` runs the tool's fsck and compares every file.
fn shrink_and_grow(img: &Path, check: &dyn Fn(&Path), size_of: &dyn Fn(&Path) -> (u64, u64)) {
    let (s, used, info) = facts(img);
    let a = resize::ability(Some(&s), used, &Method::UsedBlocks);
    assert!(a.no_shrink.is_none(), "{a:?}");
    let min = a.min_size.expect("can shrink");
    assert!(
        min < s.size && min.is_multiple_of(MIB),
        "{a:?} size {}",
        s.size
    );
    assert!(
        highest_used(&info) > min,
        "the fixture must have data above the new end ({} <= {min})",
        highest_used(&info)
    );
    do_resize(img, &s, min);
    set_len(img, min);
    check(img);
    let (got, slack) = size_of(img);
    assert!(
        got <= min && got + slack >= min,
        "size {got} after shrinking to {min}"
    );

    let (s2, _, _) = facts_or(img, &s, got);
    let big = s.size * 2;
    set_len(img, big);
    do_resize(img, &s2, big);
    check(img);
    let (got, slack) = size_of(img);
    assert!(
        got <= big && got + slack >= big,
        "size {got} after growing to {big}"
    );
}

/// The facts after a resize: NTFS is then marked for chkdsk, which our probe refuses, so its
/// summary is the old one with the new size.
fn facts_or(img: &Path, old: &FsSummary, size: u64) -> (FsSummary, u64, Option<fs::FsInfo>) {
    let dev = Device::open_read(img).expect("open");
    match fs::probe(&dev) {
        Ok(Some(_)) => {
            let (s, u, i) = facts(img);
            (s, u, Some(i))
        }
        _ => {
            let mut s = old.clone();
            s.size = size;
            (s, 0, None)
        }
    }
}

fn probed_size(img: &Path) -> (u64, u64) {
    let dev = Device::open_read(img).expect("open");
    (fs::probe(&dev).expect("probe").expect("recognised").size, 0)
}

#[test]
fn ext4_shrinks_to_its_minimum_and_grows_with_files_intact() {
    if !have(&["mkfs.ext4", "debugfs", "e2fsck", "resize2fs"]) {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("sub")).expect("mkdir");
    let mut files = Vec::new();
    for i in 0..56u64 {
        let name = format!("f{i:02}");
        std::fs::write(src.join(&name), bytes(i, 4 * MIB as usize)).expect("write");
        files.push(name);
    }
    std::fs::write(src.join("sub/small"), bytes(99, 10_000)).expect("write");
    let img = tmp.path().join("ext4.img");
    image(&img, 256 * MIB, 0);
    let d = src.to_str().expect("utf8");
    run_ok(
        "mkfs.ext4",
        &["-q", "-F", "-d", d, img.to_str().expect("utf8")],
    );
    // Delete the early files: what stays sits high.
    for name in &files[..50] {
        run_ok(
            "debugfs",
            &[
                "-w",
                "-R",
                &format!("rm /{name}"),
                img.to_str().expect("utf8"),
            ],
        );
    }
    let mut keep: Vec<(String, Vec<u8>)> = files[50..]
        .iter()
        .map(|n| (n.clone(), std::fs::read(src.join(n)).expect("read")))
        .collect();
    keep.push(("sub/small".into(), bytes(99, 10_000)));
    run_ok("e2fsck", &["-fy", img.to_str().expect("utf8")]);
    let check = |img: &Path| {
        let i = img.to_str().expect("utf8");
        let (code, out, err) = run("e2fsck", &["-fn", i]);
        assert_eq!(code, 0, "e2fsck -fn:\n{out}\n{err}");
        for (n, data) in &keep {
            assert!(
                raw("debugfs", &["-R", &format!("cat /{n}"), i]) == *data,
                "{n} differs"
            );
        }
    };
    shrink_and_grow(&img, &check, &probed_size);
}

#[test]
fn ntfs_shrinks_to_its_minimum_and_grows_passing_ntfsfix() {
    if !have(&["mkntfs", "ntfscp", "ntfscat", "ntfsfix", "ntfsresize"]) {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let img = tmp.path().join("ntfs.img");
    let i = img.to_str().expect("utf8");
    image(&img, 256 * MIB, 0);
    run_ok("mkntfs", &["-F", "-Q", "-q", i]);
    let mut keep = Vec::new();
    let tiny = tmp.path().join("tiny");
    std::fs::write(&tiny, b"x").expect("tiny");
    for n in 0..7u64 {
        let p = tmp.path().join(format!("f{n}"));
        let data = bytes(n + 10, 30 * MIB as usize);
        std::fs::write(&p, &data).expect("write");
        run_ok("ntfscp", &[i, p.to_str().expect("utf8"), &format!("/f{n}")]);
        keep.push((format!("f{n}"), data));
    }
    // Overwriting the first five with one byte frees their clusters: the rest sits high.
    for (n, data) in keep.iter_mut().take(5) {
        run_ok(
            "ntfscp",
            &["-f", i, tiny.to_str().expect("utf8"), &format!("/{n}")],
        );
        *data = b"x".to_vec();
    }
    let check = |img: &Path| {
        let i = img.to_str().expect("utf8");
        let (code, out, err) = run("ntfsfix", &["-n", i]);
        assert_eq!(code, 0, "ntfsfix -n:\n{out}\n{err}");
        for (n, data) in &keep {
            assert!(
                raw("ntfscat", &["-f", i, &format!("/{n}")]) == *data,
                "{n} differs"
            );
        }
    };
    // NTFS counts sectors to the cluster before the backup boot sector: read it from the boot
    // sector (our probe refuses the volume ntfsresize left marked for chkdsk).
    let size_of = |img: &Path| {
        let dev = Device::open_read(img).expect("open");
        let b = dev.read_vec(0, 512).expect("boot");
        let sectors = u64::from_le_bytes(b[0x28..0x30].try_into().expect("8"));
        ((sectors + 1) * 512, 4096 + 512)
    };
    shrink_and_grow(&img, &check, &size_of);
}

fn fat_case(bits: &str, size: u64, file_mib: u64) {
    if !have(&["mkfs.vfat", "mcopy", "mdel", "mmd", "fsck.fat"]) {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let img = tmp.path().join("fat.img");
    let i = img.to_str().expect("utf8");
    image(&img, size, 0);
    run_ok("mkfs.vfat", &["-F", bits, i]);
    let mut keep = Vec::new();
    for n in 0..7u64 {
        let p = tmp.path().join(format!("F{n}.BIN"));
        let data = bytes(n + 20, (file_mib * MIB) as usize);
        std::fs::write(&p, &data).expect("write");
        run_ok("mcopy", &["-i", i, p.to_str().expect("utf8"), "::/"]);
        keep.push((format!("F{n}.BIN"), data));
    }
    // A directory made last sits high too: its clusters, `.`, `..` and entries must follow.
    run_ok("mmd", &["-i", i, "::/SUB", "::/SUB/DEEP"]);
    for n in 0..3u64 {
        let p = tmp.path().join(format!("S{n}.TXT"));
        let data = bytes(n + 40, 3000 + n as usize * 5000);
        std::fs::write(&p, &data).expect("write");
        let to = if n == 2 { "::/SUB/DEEP/" } else { "::/SUB/" };
        run_ok("mcopy", &["-i", i, p.to_str().expect("utf8"), to]);
        let path = if n == 2 {
            format!("SUB/DEEP/S{n}.TXT")
        } else {
            format!("SUB/S{n}.TXT")
        };
        keep.push((path, data));
    }
    for n in 0..5 {
        run_ok("mdel", &["-i", i, &format!("::/F{n}.BIN")]);
    }
    keep.retain(|(n, _)| !(n.starts_with('F') && n.as_bytes()[1] < b'5'));
    let check = |img: &Path| {
        let i = img.to_str().expect("utf8");
        let (code, out, err) = run("fsck.fat", &["-n", i]);
        assert_eq!(code, 0, "fsck.fat -n:\n{out}\n{err}");
        assert!(
            !out.contains("\n  ") && !err.contains("Free cluster summary wrong"),
            "{out}{err}"
        );
        for (n, data) in &keep {
            assert!(
                raw("mcopy", &["-n", "-i", i, &format!("::/{n}"), "-"]) == *data,
                "{n} differs"
            );
        }
    };
    // Grow needs room in the FAT: the ability read with the boot sector says how far.
    let dev = Device::open_read(&img).expect("open");
    let boot = dev.read_vec(0, 512).expect("boot");
    drop(dev);
    let (s, used, info) = facts(&img);
    let a = resize::ability_with_boot(Some(&s), used, &Method::UsedBlocks, Some(&boot));
    let min = a.min_size.expect("shrinks");
    assert!(a.no_shrink.is_none() && min < s.size, "{a:?}");
    assert!(highest_used(&info) > min, "data must sit above {min}");
    do_resize(&img, &s, min);
    set_len(&img, min);
    check(&img);
    assert_eq!(probed_size(&img).0, min);
    // Grow back to the largest size the FAT allows.
    let (s2, used2, _) = facts(&img);
    let a2 = resize::ability_with_boot(Some(&s2), used2, &Method::UsedBlocks, Some(&boot));
    let max = a2.max_size.expect("max");
    assert!(max >= s.size, "{a2:?}");
    set_len(&img, max);
    do_resize(&img, &s2, max);
    check(&img);
    assert_eq!(probed_size(&img).0, max);
    // One cluster more than the FAT describes is refused with the reason, nothing written.
    set_len(&img, max + 64 * MIB);
    let err =
        resize::resize(&img, &facts(&img).0, max + 64 * MIB, &mut |_| {}).expect_err("refused");
    assert!(err.to_string().contains("clusters"), "{err}");
    check(&img);
}

#[test]
fn fat32_shrinks_moving_high_clusters_and_grows_within_its_fat() {
    fat_case("32", 256 * MIB, 30);
}

#[test]
fn fat16_shrinks_moving_high_clusters_and_grows_within_its_fat() {
    fat_case("16", 128 * MIB, 14);
}

#[test]
fn raw_and_unknown_regions_are_not_resizable_with_reasons() {
    let s = FsSummary {
        kind: FsKind::Ext4,
        label: None,
        uuid: None,
        block_size: 4096,
        size: 256 * MIB,
    };
    let dirty = Method::Raw {
        reason: "filesystem unreadable (unsupported: ext journal needs recovery (mounted, or not cleanly unmounted); run e2fsck first)".into(),
    };
    let a = resize::ability(None, 10 * MIB, &dirty);
    assert_eq!(a.min_size, None);
    assert!(
        a.no_shrink.as_deref().is_some_and(
            |r| r.starts_with("not resizable: ") && r.contains("journal needs recovery")
        ),
        "{a:?}"
    );
    assert!(a.no_grow.is_some());
    let a = resize::ability(Some(&s), 10 * MIB, &dirty);
    assert!(a.no_shrink.is_some() && a.no_grow.is_some() && a.min_size.is_none());
    let a = resize::ability(None, 10 * MIB, &Method::UsedBlocks);
    assert_eq!(
        a.no_shrink.as_deref(),
        Some("filesystem not recognised: kept at its size")
    );
    assert_eq!(
        a.no_grow.as_deref(),
        Some("filesystem not recognised: kept at its size")
    );
}

#[test]
fn dirty_ext4_is_planned_raw_and_refused_for_resizing() {
    if !have(&["mkfs.ext4", "debugfs"]) {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let img = tmp.path().join("ext4.img");
    let i = img.to_str().expect("utf8");
    image(&img, 64 * MIB, 0);
    run_ok("mkfs.ext4", &["-q", "-F", i]);
    // needs_recovery (incompat 0x4), as a crash while mounted leaves it.
    run_ok("debugfs", &["-w", "-R", "feature needs_recovery", i]);
    let dev = Device::open_read(&img).expect("open");
    let identity = dev.identity.clone();
    let plan = wraith_engine::plan::plan(&dev, identity).expect("plan");
    let r = &plan.regions[0];
    assert!(matches!(r.method, Method::Raw { .. }), "{r:?}");
    let a = resize::ability(r.fs.as_ref(), r.used.total(), &r.method);
    let why = a.no_shrink.expect("refused");
    assert!(
        why.starts_with("not resizable: ") && why.contains("needs recovery"),
        "{why}"
    );
}

/// The headroom rule must never promise a size the tool refuses: on the fixtures, the plan's
/// minimum is at or above resize2fs -P and ntfsresize --info's.
#[test]
fn headroom_is_at_least_what_the_tools_require() {
    if !have(&["mkfs.ext4", "resize2fs", "mkntfs", "ntfscp", "ntfsresize"]) {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = bytes(7, 8 * MIB as usize);
    let src = tmp.path().join("d");
    std::fs::create_dir_all(&src).expect("mkdir");
    for (size, nfiles) in [(64u64, 4usize), (256, 16), (256, 26), (512, 0), (512, 32)] {
        std::fs::remove_dir_all(&src).expect("rm");
        std::fs::create_dir_all(&src).expect("mkdir");
        for n in 0..nfiles {
            std::fs::write(src.join(format!("f{n}")), &data).expect("write");
        }
        let img = tmp.path().join(format!("e{size}-{nfiles}.img"));
        image(&img, size * MIB, 0);
        let i = img.to_str().expect("utf8");
        run_ok(
            "mkfs.ext4",
            &["-q", "-F", "-d", src.to_str().expect("utf8"), i],
        );
        let (s, used, _) = facts(&img);
        let a = resize::ability(Some(&s), used, &Method::UsedBlocks);
        let out = run_ok("resize2fs", &["-P", i]);
        let blocks: u64 = out
            .lines()
            .find_map(|l| l.split("filesystem:").nth(1))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("resize2fs -P: {out}"));
        let tool_min = blocks * s.block_size;
        eprintln!(
            "ext4 {size} MiB, {nfiles}x8 MiB: used {used}, -P {tool_min}, ours {:?}",
            a.min_size
        );
        assert!(a.min_size.expect("min") >= tool_min, "{a:?} < {tool_min}");
        std::fs::remove_file(&img).expect("rm");
    }
    for (size, nfiles) in [(128u64, 4usize), (256, 20), (512, 40)] {
        let img = tmp.path().join(format!("n{size}.img"));
        image(&img, size * MIB, 0);
        let i = img.to_str().expect("utf8");
        run_ok("mkntfs", &["-F", "-Q", "-q", i]);
        let p = tmp.path().join("payload");
        std::fs::write(&p, &data).expect("write");
        for n in 0..nfiles {
            run_ok("ntfscp", &[i, p.to_str().expect("utf8"), &format!("/f{n}")]);
        }
        let (s, used, _) = facts(&img);
        let a = resize::ability(Some(&s), used, &Method::UsedBlocks);
        let (_, out, _) = run("ntfsresize", &["--info", "--force", i]);
        let tool_min: u64 = out
            .split("resize at ")
            .nth(1)
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("ntfsresize --info: {out}"));
        eprintln!(
            "ntfs {size} MiB, {nfiles}x8 MiB: used {used}, tool {tool_min}, ours {:?}",
            a.min_size
        );
        assert!(a.min_size.expect("min") >= tool_min, "{a:?} < {tool_min}");
        std::fs::remove_file(&img).expect("rm");
    }
}

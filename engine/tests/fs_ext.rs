//! Cross-checks the ext2/3/4 used map against e2fsprogs on images made by the real mkfs:
//! the map must equal the complement of dumpe2fs's free blocks exactly, and copying only the
//! map onto garbage must give a filesystem e2fsck passes with identical file contents.

#![allow(clippy::panic)]

mod fs_helpers;
use fs_helpers::*;
use wraith_engine::fs::{self, FsKind};

/// Block numbers that dumpe2fs lists as free, with the block size and count.
fn dumpe2fs_free(img: &str) -> (u64, u64, Vec<bool>, String) {
    let out = run_ok("dumpe2fs", &[img]);
    let field = |name: &str| -> u64 {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().parse().expect("number"))
            .unwrap_or_else(|| panic!("dumpe2fs: no {name}"))
    };
    let bs = field("Block size:");
    let count = field("Block count:");
    let mut free = vec![false; count as usize];
    for line in out.lines().filter(|l| l.starts_with("  Free blocks:")) {
        let list = line.trim_start().trim_start_matches("Free blocks:").trim();
        for part in list.split(", ").filter(|p| !p.is_empty()) {
            let (a, b) = match part.split_once('-') {
                Some((a, b)) => (a.parse::<u64>().expect("a"), b.parse::<u64>().expect("b")),
                None => {
                    let a = part.parse::<u64>().expect("single");
                    (a, a)
                }
            };
            for blk in a..=b {
                free[blk as usize] = true;
            }
        }
    }
    (bs, count, free, out)
}

/// Blocks of inode tables that dumpe2fs says were never zeroed (no ITABLE_ZEROED) and hold
/// no inode yet (past the group's unused-inode count): Wraith leaves them out of the map.
fn never_used_itables(dump: &str, bs: u64, count: u64) -> Vec<bool> {
    let field = |name: &str| -> u64 {
        dump.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().parse().expect("number"))
            .unwrap_or_else(|| panic!("dumpe2fs: no {name}"))
    };
    let ipg = field("Inodes per group:");
    let isz = field("Inode size:");
    let mut skip = vec![false; count as usize];
    let mut zeroed = true;
    let mut table: Option<(u64, u64)> = None;
    for line in dump.lines() {
        if line.starts_with("Group ") {
            zeroed = line.contains("ITABLE_ZEROED");
            table = None;
        } else if let Some(rest) = line.trim_start().strip_prefix("Inode table at ") {
            let range = rest.split_whitespace().next().expect("range");
            let (a, b) = range.split_once('-').expect("a-b");
            table = Some((a.parse().expect("a"), b.parse().expect("b")));
        } else if let Some(pos) = line.find(" unused inodes") {
            let unused: u64 = line[..pos]
                .rsplit(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .expect("unused count");
            if let (false, Some((a, b))) = (zeroed, table) {
                let keep = ((ipg - unused) * isz).div_ceil(bs);
                for blk in a + keep..=b {
                    skip[blk as usize] = true;
                }
            }
        }
    }
    skip
}

struct Case {
    name: &'static str,
    mkfs: &'static str,
    size_mib: u64,
    args: &'static [&'static str],
    kind: FsKind,
    expect_uninit: bool,
}

fn check(case: &Case) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("src");
    let files = sample_tree(&src);
    let img = tmp.path().join("fs.img");
    let imgs = img.to_str().expect("utf8");
    image(&img, case.size_mib << 20, 0);
    let mut args: Vec<&str> = vec![
        "-q",
        "-F",
        "-E",
        "nodiscard",
        "-L",
        "wraithlbl",
        "-U",
        "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
    ];
    args.extend_from_slice(case.args);
    let src_s = src.to_str().expect("utf8");
    args.extend_from_slice(&["-d", src_s, imgs]);
    run_ok(case.mkfs, &args);
    // A deleted file: its blocks are free again but still hold its bytes.
    run_ok("debugfs", &["-w", "-R", "rm /doomed.bin", imgs]);

    let dev = wraith_engine::device::Device::open_read(&img).expect("open");
    let info = fs::probe(&dev).expect("probe").expect("recognised");
    assert_eq!(info.kind, case.kind, "{}", case.name);
    assert_eq!(info.label.as_deref(), Some("wraithlbl"));
    assert_eq!(
        info.uuid.as_deref(),
        Some("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
    );

    let (bs, count, free, dump) = dumpe2fs_free(imgs);
    eprintln!(
        "{}: {} of {} bytes used in {} extents",
        case.name,
        info.used.total(),
        info.size,
        info.used.len()
    );
    assert_eq!(info.block_size, bs, "{}", case.name);
    assert_eq!(info.size, count * bs, "{}", case.name);
    if case.expect_uninit {
        assert!(
            dump.contains("BLOCK_UNINIT"),
            "{}: no BLOCK_UNINIT group to test",
            case.name
        );
    }
    let mut ours = vec![false; count as usize];
    for e in info.used.iter() {
        assert_eq!(e.start % bs, 0);
        assert_eq!(e.len % bs, 0);
        for b in e.start / bs..e.end() / bs {
            ours[b as usize] = true;
        }
    }
    // Blocks before the first group (block 0 with 1 KiB blocks) are in no bitmap; we keep them.
    let first_data = if bs == 1024 { 1 } else { 0 };
    let skipped = never_used_itables(&dump, bs, count);
    eprintln!(
        "{}: {} never-used inode table blocks left out",
        case.name,
        skipped.iter().filter(|&&x| x).count()
    );
    let mut diffs = Vec::new();
    for b in first_data..count {
        let expected_used = !free[b as usize] && !skipped[b as usize];
        if ours[b as usize] != expected_used {
            diffs.push((b, ours[b as usize]));
        }
    }
    assert!(
        diffs.is_empty(),
        "{}: {} blocks differ (block, ours_used): {:?}",
        case.name,
        diffs.len(),
        &diffs[..diffs.len().min(20)]
    );

    let copy = tmp.path().join("copy.img");
    let copys = copy.to_str().expect("utf8");
    copy_used_onto_garbage(&img, &info.used, &copy);
    let (code, out, err) = run("e2fsck", &["-fn", copys]);
    assert_eq!(code, 0, "{}: e2fsck on the copy:\n{out}\n{err}", case.name);
    for (name, data) in files.iter().filter(|(n, _)| n != "doomed.bin") {
        let got = std::process::Command::new(tool("debugfs").expect("debugfs"))
            .args(["-R", &format!("cat /{name}"), copys])
            .output()
            .expect("debugfs cat");
        assert!(
            got.stdout == *data,
            "{}: {name} differs in the copy",
            case.name
        );
    }
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "ext4 8M 1k",
            mkfs: "mkfs.ext4",
            size_mib: 8,
            args: &["-b", "1024"],
            kind: FsKind::Ext4,
            expect_uninit: false,
        },
        Case {
            name: "ext4 64M 4k",
            mkfs: "mkfs.ext4",
            size_mib: 64,
            args: &["-b", "4096"],
            kind: FsKind::Ext4,
            expect_uninit: false,
        },
        Case {
            name: "ext4 no flex_bg",
            mkfs: "mkfs.ext4",
            size_mib: 32,
            args: &["-b", "1024", "-O", "^flex_bg"],
            kind: FsKind::Ext4,
            expect_uninit: true,
        },
        Case {
            name: "ext2",
            mkfs: "mkfs.ext2",
            size_mib: 16,
            args: &[],
            kind: FsKind::Ext2,
            expect_uninit: false,
        },
        Case {
            name: "ext3",
            mkfs: "mkfs.ext3",
            size_mib: 16,
            args: &[],
            kind: FsKind::Ext3,
            expect_uninit: false,
        },
        Case {
            name: "ext4 many groups (metadata_csum)",
            mkfs: "mkfs.ext4",
            size_mib: 48,
            args: &["-b", "1024", "-g", "1024", "-O", "64bit"],
            kind: FsKind::Ext4,
            expect_uninit: true,
        },
        Case {
            name: "ext4 uninit_bg 32-bit",
            mkfs: "mkfs.ext4",
            size_mib: 48,
            args: &[
                "-b",
                "4096",
                "-g",
                "2048",
                "-O",
                "^metadata_csum,^64bit,uninit_bg",
            ],
            kind: FsKind::Ext4,
            expect_uninit: true,
        },
        Case {
            name: "ext4 meta_bg",
            mkfs: "mkfs.ext4",
            size_mib: 48,
            args: &["-b", "1024", "-g", "1024", "-O", "meta_bg,^resize_inode"],
            kind: FsKind::Ext4,
            expect_uninit: true,
        },
        Case {
            name: "ext4 sparse_super2",
            mkfs: "mkfs.ext4",
            size_mib: 48,
            args: &["-b", "1024", "-g", "1024", "-O", "sparse_super2"],
            kind: FsKind::Ext4,
            expect_uninit: true,
        },
    ]
}

#[test]
fn ext_used_map_matches_e2fsprogs() {
    if !have(&[
        "mkfs.ext4",
        "mkfs.ext2",
        "mkfs.ext3",
        "dumpe2fs",
        "debugfs",
        "e2fsck",
    ]) {
        return;
    }
    for case in cases() {
        check(&case);
    }
}

fn small_ext4(tmp: &std::path::Path) -> String {
    let img = tmp.join("small.img");
    image(&img, 8 << 20, 0);
    let imgs = img.to_str().expect("utf8").to_string();
    run_ok("mkfs.ext4", &["-q", "-F", "-b", "1024", &imgs]);
    imgs
}

#[test]
fn ext_inconsistent_or_unclean_is_an_error() {
    if !have(&["mkfs.ext4", "debugfs"]) {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let imgs = small_ext4(tmp.path());
    run_ok(
        "debugfs",
        &["-w", "-R", "set_bg 0 block_bitmap 99999999", &imgs],
    );
    let dev = wraith_engine::device::Device::open_read(std::path::Path::new(&imgs)).expect("open");
    match fs::probe(&dev) {
        Err(wraith_engine::Error::Corrupt { what, .. }) => {
            assert_eq!(what, "ext4 group 0 block bitmap")
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }

    let imgs = small_ext4(tmp.path());
    run_ok("debugfs", &["-w", "-R", "feature needs_recovery", &imgs]);
    let dev = wraith_engine::device::Device::open_read(std::path::Path::new(&imgs)).expect("open");
    assert!(matches!(
        fs::probe(&dev),
        Err(wraith_engine::Error::Unsupported(_))
    ));
}

/// A fresh ext4 made without zeroing its inode tables (lazy init), as installers leave it.
fn lazy_ext4(tmp: &std::path::Path) -> (std::path::PathBuf, String) {
    let img = tmp.join("lazy.img");
    image(&img, 64 << 20, 0xA5);
    let imgs = img.to_str().expect("utf8").to_string();
    run_ok(
        "mkfs.ext4",
        &[
            "-q",
            "-F",
            "-b",
            "4096",
            "-E",
            "nodiscard,lazy_itable_init=1",
            &imgs,
        ],
    );
    (img, imgs)
}

#[test]
fn ext_unused_inode_tables_are_trusted_only_with_a_valid_descriptor_checksum() {
    if !have(&["mkfs.ext4"]) {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let (img, _) = lazy_ext4(tmp.path());
    let probe = || {
        let dev = wraith_engine::device::Device::open_read(&img).expect("open");
        fs::probe(&dev).expect("probe").expect("ext4").used
    };
    let before = probe();
    // Group 0's descriptor (block 1 with 4 KiB blocks): inode table location, and
    // bg_itable_unused claimed to be "every inode" without fixing the checksum.
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&img)
        .expect("open rw");
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut desc = [0u8; 64];
    f.seek(SeekFrom::Start(4096)).expect("seek");
    f.read_exact(&mut desc).expect("read desc");
    let table = u64::from(u32::from_le_bytes(desc[8..12].try_into().expect("4")));
    assert!(
        before.covered(table * 4096, table * 4096 + 4096) == 4096,
        "the first inode table block holds the root inode and is always copied"
    );
    f.seek(SeekFrom::Start(4096 + 0x1C)).expect("seek");
    f.write_all(&0xFFFFu16.to_le_bytes()).expect("write");
    drop(f);
    let after = probe();
    assert!(
        after.total() > before.total(),
        "a descriptor failing its checksum must not drop inode table blocks ({} vs {})",
        after.total(),
        before.total()
    );
}

/// The kernel itself runs on a copy that left never-used inode tables as garbage: mount it,
/// create many files (new inodes land in those tables), unmount, and e2fsck finds nothing.
#[test]
fn ext_copy_without_unused_inode_tables_works_in_the_kernel() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !have(&["mkfs.ext4", "e2fsck", "mount", "umount"]) {
        eprintln!("SKIP: needs root, mount and e2fsprogs");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let (img, _) = lazy_ext4(tmp.path());
    let dev = wraith_engine::device::Device::open_read(&img).expect("open");
    let used = fs::probe(&dev).expect("probe").expect("ext4").used;
    drop(dev);
    let copy = tmp.path().join("copy.img");
    let copys = copy.to_str().expect("utf8");
    copy_used_onto_garbage(&img, &used, &copy);
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).expect("mkdir");
    let mnts = mnt.to_str().expect("utf8");
    let (code, _, err) = run("mount", &["-o", "loop,noinit_itable", copys, mnts]);
    if code != 0 {
        eprintln!("SKIP: cannot loop-mount here: {err}");
        return;
    }
    let written = (|| -> std::io::Result<()> {
        for d in 0..8 {
            let dir = mnt.join(format!("d{d}"));
            std::fs::create_dir(&dir)?;
            for i in 0..300 {
                std::fs::write(dir.join(format!("f{i}")), format!("{d}/{i}"))?;
            }
        }
        Ok(())
    })();
    let listed = std::fs::read_to_string(mnt.join("d7/f299"));
    run_ok("umount", &[mnts]);
    written.expect("files written on the copy");
    assert_eq!(listed.expect("read back"), "7/299");
    let (code, out, err) = run("e2fsck", &["-fn", copys]);
    assert_eq!(code, 0, "e2fsck after use:\n{out}\n{err}");
}

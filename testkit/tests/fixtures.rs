//! The fixtures must be what they claim: readable tables, clean filesystems, the expected
//! files, and old data left in free space.

use std::path::Path;
use wraith_testkit::*;

/// Offsets (512-aligned) within `hay` where `needle`'s first 64 bytes occur.
fn find_aligned(hay: &[u8], needle: &[u8]) -> bool {
    let probe = &needle[..64.min(needle.len())];
    hay.chunks(512).any(|s| s.starts_with(probe))
}

fn check_all_parts(disk: &Disk) {
    for p in &disk.parts {
        if let Err(out) = fsck(&disk.path, p) {
            panic!("fsck failed on partition {}:\n{out}", p.number);
        }
        let got = files(&disk.path, p).expect("files()");
        let want_names: Vec<_> = p.files.keys().collect();
        let got_names: Vec<_> = got.keys().collect();
        assert_eq!(
            got_names, want_names,
            "file names of partition {}",
            p.number
        );
        for (name, data) in &p.files {
            assert!(
                got[name] == *data,
                "content of {name} on partition {}",
                p.number
            );
        }
        if !matches!(p.fs, FsType::None | FsType::Raw) {
            assert!(
                p.files.len() >= 8,
                "partition {} has too few files",
                p.number
            );
        }
    }
}

/// The deleted files' bytes are still in the partition.
fn check_deleted(disk: &Disk, p: &Part) {
    assert!(
        !p.deleted.is_empty(),
        "partition {} has no deleted file",
        p.number
    );
    let img = extract(&disk.path, p.start, p.len).expect("extract");
    let bytes = std::fs::read(img.path()).expect("read");
    for (name, data) in &p.deleted {
        assert!(!p.files.contains_key(name));
        assert!(
            find_aligned(&bytes, data),
            "deleted {name} not found in free space"
        );
    }
}

/// Some block that dumpe2fs lists as free holds non-zero bytes.
fn check_ext_free_nonzero(disk: &Disk, p: &Part) {
    let img = extract(&disk.path, p.start, p.len).expect("extract");
    let out = std::process::Command::new(find_tool("dumpe2fs").expect("dumpe2fs"))
        .arg(img.path())
        .output()
        .expect("dumpe2fs");
    let text = String::from_utf8_lossy(&out.stdout);
    let bs: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("Block size:"))
        .expect("block size")
        .trim()
        .parse()
        .expect("number");
    let bytes = std::fs::read(img.path()).expect("read");
    let mut free_blocks = 0u64;
    let mut nonzero = 0u64;
    // Per-group lines are indented; the unindented superblock line is just a count.
    for l in text.lines().filter(|l| l.starts_with(' ')) {
        let Some(ranges) = l.trim().strip_prefix("Free blocks: ") else {
            continue;
        };
        for r in ranges.split(", ").filter(|r| !r.is_empty()) {
            let (a, b) = r.split_once('-').unwrap_or((r, r));
            let (a, b): (u64, u64) = (a.parse().expect("a"), b.parse().expect("b"));
            for blk in a..=b {
                free_blocks += 1;
                let s = (blk * bs) as usize;
                if bytes[s..s + bs as usize].iter().any(|&x| x != 0) {
                    nonzero += 1;
                }
            }
        }
    }
    assert!(free_blocks > 0);
    assert!(
        nonzero * 2 > free_blocks,
        "only {nonzero} of {free_blocks} free blocks hold old data"
    );
}

/// Whether sfdisk's (pretty-printed) JSON lists a partition with this start and size.
fn json_has(json: &str, start_sectors: u64, size_sectors: u64) -> bool {
    let flat: String = json.chars().filter(|c| !c.is_whitespace()).collect();
    flat.contains(&format!(
        "\"start\":{start_sectors},\"size\":{size_sectors},"
    ))
}

#[test]
fn gpt_disk_fixture() {
    require_tools();
    let d = gpt_disk();
    assert_eq!(std::fs::metadata(&d.path).expect("meta").len(), 160 * MIB);
    let json = sfdisk_json(&d.path).expect("sfdisk --json");
    assert!(json.contains("\"label\": \"gpt\","), "{json}");
    assert_eq!(json.matches("\"node\"").count(), 3, "{json}");
    for p in &d.parts {
        assert!(json_has(&json, p.start / 512, p.len / 512), "{json}");
        assert!(json.contains(&p.type_code), "{json}");
    }
    assert!(json.contains("\"name\": \"ESP\""), "{json}");
    assert_eq!(d.part(1).fs, FsType::Fat32);
    assert_eq!(d.part(1).type_code, GPT_EFI);
    assert_eq!((d.part(2).fs, d.part(2).start), (FsType::Ext4, 41 * MIB));
    assert_eq!((d.part(3).fs, d.part(3).len), (FsType::Ntfs, 32 * MIB));
    check_all_parts(&d);
    check_deleted(&d, d.part(1));
    check_deleted(&d, d.part(2));
    check_ext_free_nonzero(&d, d.part(2));
    // Sparse file really has holes in ext4: 16 MiB logical, ~70 KiB allocated.
    assert_eq!(d.part(2).files["sparse.bin"].len() as u64, 16 * MIB);
    let img = extract(&d.path, d.part(2).start, d.part(2).len).expect("extract");
    let out = std::process::Command::new(find_tool("debugfs").expect("debugfs"))
        .args(["-R", "stat /sparse.bin"])
        .arg(img.path())
        .output()
        .expect("debugfs");
    let stat = String::from_utf8_lossy(&out.stdout);
    let blockcount: u64 = stat
        .split("Blockcount: ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .expect("Blockcount");
    assert!(blockcount * 512 < MIB, "sparse.bin not sparse: {stat}");
    // The image itself is sparse: the free tail and holes take no space.
    use std::os::unix::fs::MetadataExt;
    let used = std::fs::metadata(&d.path).expect("meta").blocks() * 512;
    assert!(
        used < 150 * MIB,
        "disk image not sparse: {used} bytes allocated"
    );
}

#[test]
fn mbr_disk_fixture() {
    require_tools();
    let d = mbr_disk();
    let json = sfdisk_json(&d.path).expect("sfdisk --json");
    assert!(json.contains("\"label\": \"dos\""), "{json}");
    assert_eq!(json.matches("\"node\"").count(), 5, "{json}");
    assert!(json.contains("\"bootable\": true"), "{json}");
    for p in &d.parts {
        assert!(json_has(&json, p.start / 512, p.len / 512), "{json}");
    }
    let numbers: Vec<u32> = d.parts.iter().map(|p| p.number).collect();
    assert_eq!(numbers, [1, 2, 5, 6, 7]);
    assert!(d.part(1).bootable);
    assert_eq!(d.part(2).type_code, "5");
    let fss: Vec<FsType> = d.parts.iter().map(|p| p.fs).collect();
    use FsType::*;
    assert_eq!(fss, [Fat16, None, Ext3, Fat12, Ext2]);
    // Boot code and post-MBR gap hold data, and the signature is intact.
    let head = read_at(&d.path, 0, MIB as usize).expect("read");
    assert!(head[..MBR_BOOT_CODE].iter().filter(|&&b| b != 0).count() > 400);
    assert_eq!(&head[510..512], &[0x55, 0xAA]);
    assert!(head[512..].iter().filter(|&&b| b != 0).count() > 1_000_000);
    check_all_parts(&d);
    for n in [1, 5, 6, 7] {
        check_deleted(&d, d.part(n));
    }
    check_ext_free_nonzero(&d, d.part(5));
    check_ext_free_nonzero(&d, d.part(7));
}

#[test]
fn raw_disk_fixture() {
    let d = raw_disk();
    assert!(d.parts.is_empty());
    let bytes = std::fs::read(&d.path).expect("read");
    assert_eq!(bytes.len() as u64, 32 * MIB);
    assert!(bytes == raw_disk_expected());
    assert!(
        bytes[..(8 * MIB) as usize]
            .iter()
            .filter(|&&b| b == 0)
            .count()
            < 100_000
    );
    assert!(bytes[(8 * MIB) as usize..(16 * MIB) as usize]
        .iter()
        .all(|&b| b == 0));
    assert!(bytes[(16 * MIB) as usize..(20 * MIB) as usize].is_ascii());
    assert!(bytes[(20 * MIB) as usize..].iter().all(|&b| b == 0));
}

#[test]
fn superfloppy_fixture() {
    require_tools();
    let d = superfloppy_ext4();
    assert_eq!(d.parts.len(), 1);
    let p = d.part(0);
    assert_eq!((p.start, p.len, p.fs), (0, 64 * MIB, FsType::Ext4));
    assert!(sfdisk_json(&d.path).map_or(true, |j| !j.contains("\"node\"")));
    check_all_parts(&d);
    check_deleted(&d, p);
    check_ext_free_nonzero(&d, p);
}

fn modify_and_check(disk: &Path, p: &mut Part) {
    let before = p.files.clone();
    modify_small(disk, p).expect("modify_small");
    fsck(disk, p).unwrap_or_else(|e| panic!("fsck after modify: {e}"));
    let got = files(disk, p).expect("files");
    assert!(
        got == p.files,
        "partition {} content after modify",
        p.number
    );
    assert_ne!(before["notes.txt"], p.files["notes.txt"]);
    assert_eq!(p.files["incremental-1.bin"].len() as u64, 256 * KIB);
    modify_small(disk, p).expect("second modify_small");
    assert!(files(disk, p).expect("files") == p.files);
    assert!(p.files.contains_key("incremental-2.bin"));
}

#[test]
fn modify_small_gpt() {
    require_tools();
    let mut d = gpt_disk();
    let path = d.path.clone();
    let untouched = std::fs::read(&path).expect("read");
    for p in d.parts.iter_mut() {
        modify_and_check(&path, p);
    }
    // Only bytes inside the partitions changed.
    let after = std::fs::read(&path).expect("read");
    let first = d.parts[0].start as usize;
    let last = d
        .parts
        .iter()
        .map(|p| p.start + p.len)
        .max()
        .expect("parts") as usize;
    assert_eq!(untouched[..first], after[..first]);
    assert_eq!(untouched[last..], after[last..]);
}

#[test]
fn modify_small_mbr_fat12_ext2() {
    require_tools();
    let mut d = mbr_disk();
    let path = d.path.clone();
    for p in d.parts.iter_mut().filter(|p| p.number >= 6) {
        modify_and_check(&path, p);
    }
}

#[test]
fn builder_generic() {
    require_tools();
    let d = DiskBuilder::new(24 * MIB, Table::Dos)
        .seed(42)
        .part(8 * MIB, FsType::Ntfs, "WIN")
        .part(4 * MIB, FsType::Raw, "")
        .part(4 * MIB, FsType::None, "")
        .build()
        .expect("build");
    let json = sfdisk_json(&d.path).expect("sfdisk");
    assert_eq!(json.matches("\"node\"").count(), 3, "{json}");
    check_all_parts(&d);
    let raw = read_at(&d.path, d.part(2).start, (4 * MIB) as usize).expect("read");
    assert!(raw.iter().filter(|&&b| b == 0).count() < 100_000);
    let none = read_at(&d.path, d.part(3).start, (4 * MIB) as usize).expect("read");
    assert!(none.iter().all(|&b| b == 0));
}

#[test]
fn find_tool_resolves() {
    assert!(find_tool("definitely-not-a-wraith-tool").is_none());
    assert!(find_tool("sh").is_some());
}

#[test]
fn fsck_reports_damage() {
    require_tools();
    let d = gpt_disk();
    // Wipe each filesystem's primary boot/super block: the checker must now fail.
    for p in &d.parts {
        let at = if p.fs.is_ext() { 1024 } else { 0 };
        write_at(&d.path, p.start + at, &[0u8; 1024]).expect("write");
        let err = fsck(&d.path, p).expect_err("fsck should fail on a damaged fs");
        assert!(!err.is_empty());
    }
}

#[test]
fn blank_and_duplicate() {
    let b = blank_disk(8 * MIB);
    assert_eq!(std::fs::metadata(&b.path).expect("meta").len(), 8 * MIB);
    let r = raw_disk();
    let c = r.duplicate().expect("duplicate");
    assert_ne!(r.path, c.path);
    assert!(std::fs::read(&c.path).expect("read") == raw_disk_expected());
}

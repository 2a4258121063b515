//! Naming the files in unreadable ranges (`fs::files_touching`), cross-checked against the
//! real tools on images they made: for every block of an ext2/ext4 image, the files named must
//! be exactly those debugfs's `icheck` + `ncheck` name; for NTFS, those `ntfscluster -c`
//! names. Plus the cases a report relies on: index/indirect blocks as metadata, an inode
//! table block, free space, a resident NTFS file, a failing read, and mutated images.

#![allow(clippy::panic)]

mod fs_helpers;
use fs_helpers::*;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use wraith_engine::device::ReadAt;
use wraith_engine::events::Cancel;
use wraith_engine::extent::ExtentList;
use wraith_engine::fs::{self, FileTouches, FsKind, TouchKind};

fn range(start: u64, len: u64) -> ExtentList {
    let mut l = ExtentList::new();
    l.push(start, len);
    l
}

fn touching(dev: &dyn ReadAt, kind: FsKind, bad: &ExtentList) -> FileTouches {
    fs::files_touching(dev, kind, bad, 1000, &Cancel::new()).expect("files_touching")
}

/// The file paths named (directories as their path, every hard link), and the structure
/// names ("(...)", "$MFT") apart.
fn split(t: &FileTouches) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut files = BTreeSet::new();
    let mut areas = BTreeSet::new();
    for x in &t.touches {
        if let Some(d) = x
            .path
            .strip_prefix("(directory ")
            .and_then(|p| p.strip_suffix(')'))
        {
            files.insert(d.to_string());
            files.extend(x.also.iter().cloned());
        } else if (x.path.starts_with('(') && !x.path.starts_with("(unreachable"))
            || x.path.starts_with('$')
        {
            areas.insert(x.path.clone());
        } else {
            files.insert(x.path.clone());
            files.extend(x.also.iter().cloned());
        }
    }
    (files, areas)
}

fn debugfs(img: &str, cmds: &str) -> String {
    let f = tempfile::NamedTempFile::new().expect("cmd file");
    std::fs::write(f.path(), cmds).expect("write cmds");
    run_ok("debugfs", &["-f", f.path().to_str().expect("utf8"), img])
}

/// Block → inode using it, by `icheck` (None: "<block not found>").
fn icheck(img: &str, blocks: u64) -> Vec<Option<u64>> {
    let mut cmds = String::new();
    for chunk in (0..blocks).collect::<Vec<_>>().chunks(512) {
        cmds.push_str("icheck");
        for b in chunk {
            cmds.push_str(&format!(" {b}"));
        }
        cmds.push('\n');
    }
    let out = debugfs(img, &cmds);
    let mut owner = vec![None; blocks as usize];
    for line in out.lines() {
        let mut it = line.split('\t');
        let (Some(b), Some(i)) = (it.next(), it.next()) else {
            continue;
        };
        if let (Ok(b), Ok(i)) = (b.trim().parse::<u64>(), i.trim().parse::<u64>()) {
            owner[b as usize] = Some(i);
        }
    }
    owner
}

/// Inode → every path `ncheck` finds for it.
fn ncheck(img: &str, inodes: &BTreeSet<u64>) -> HashMap<u64, BTreeSet<String>> {
    let mut cmd = String::from("ncheck");
    for i in inodes {
        cmd.push_str(&format!(" {i}"));
    }
    let out = debugfs(img, &format!("{cmd}\n"));
    let mut names: HashMap<u64, BTreeSet<String>> = HashMap::new();
    for line in out.lines() {
        if let Some((i, p)) = line.split_once('\t') {
            if let Ok(i) = i.trim().parse::<u64>() {
                // debugfs writes the root's children as "//name".
                let p = p.replace("//", "/");
                names.entry(i).or_default().insert(p);
            }
        }
    }
    names
}

fn field(out: &str, name: &str) -> u64 {
    out.lines()
        .find_map(|l| l.trim().strip_prefix(name))
        .map(|v| v.trim().parse().expect("number"))
        .unwrap_or_else(|| panic!("no {name}"))
}

/// Every block of the image, one at a time: the files named equal icheck + ncheck's.
fn every_block_matches_debugfs(img: &str, kind: FsKind) {
    let dump = run_ok("dumpe2fs", &["-h", img]);
    let bs = field(&dump, "Block size:");
    let blocks = field(&dump, "Block count:");
    let first_ino = field(&dump, "First inode:");
    let owner = icheck(img, blocks);
    let inodes: BTreeSet<u64> = owner.iter().flatten().copied().collect();
    let names = ncheck(img, &inodes);
    let data = std::fs::read(img).expect("read image");
    let mut named = 0;
    for b in 0..blocks {
        let t = touching(&data, kind, &range(b * bs, bs));
        let (files, areas) = split(&t);
        // The image reads fine: only the asked-about range itself is left unread.
        assert!(
            t.skipped
                .iter()
                .all(|s| s.contains("in an unreadable range")),
            "block {b}: {:?}",
            t.skipped
        );
        match owner[b as usize] {
            // An inode table block names the files whose inodes it holds (tested apart).
            None if areas.iter().any(|a| a.starts_with("(inode table")) => {}
            None => {
                assert!(files.is_empty(), "block {b} is no file's, named {files:?}");
            }
            Some(8) => assert!(areas.contains("(journal)"), "block {b}: {areas:?}"),
            Some(2) => assert_eq!(files, BTreeSet::from(["/".to_string()]), "block {b}"),
            Some(i) if i >= first_ino => {
                let want = names.get(&i).cloned().unwrap_or_default();
                assert!(!want.is_empty(), "ncheck names no path for inode {i}");
                assert_eq!(files, want, "block {b} (inode {i})");
                named += 1;
            }
            Some(_) => {} // resize inode: its blocks are reported by place
        }
        if t.touches.is_empty() {
            assert_eq!(t.unclaimed, bs, "block {b}");
        }
    }
    assert!(named > 100, "only {named} file blocks checked");
}

/// The blocks `debugfs stat` lists for a file: (label, block) with labels like "ETB0",
/// "IND", or a logical range for data.
fn stat_blocks(img: &str, path: &str) -> Vec<(String, u64)> {
    let out = debugfs(img, &format!("stat {path}\n"));
    let mut v = Vec::new();
    let list = out
        .split_once("EXTENTS:\n")
        .or_else(|| out.split_once("BLOCKS:\n"))
        .map(|x| x.1)
        .unwrap_or_else(|| panic!("no block list for {path}:\n{out}"));
    for part in list.lines().next().unwrap_or("").split(", ") {
        let Some((label, blocks)) = part.split_once(':') else {
            continue;
        };
        let label = label.trim_matches(|c| c == '(' || c == ')').to_string();
        let first = blocks.split('-').next().unwrap_or("");
        if let Ok(b) = first.trim().parse::<u64>() {
            v.push((label, b));
        }
    }
    v
}

fn kinds_for(t: &FileTouches, path: &str) -> Vec<TouchKind> {
    t.touches
        .iter()
        .filter(|x| x.path == path)
        .map(|x| x.kind)
        .collect()
}

/// Index and indirect blocks are the file's metadata, its other blocks its data.
fn check_kinds(img: &str, path: &str, want_meta: &[&str]) {
    let dump = run_ok("dumpe2fs", &["-h", img]);
    let bs = field(&dump, "Block size:");
    let data = std::fs::read(img).expect("read image");
    let blocks = stat_blocks(img, path);
    let mut seen_meta = BTreeSet::new();
    for (label, b) in &blocks {
        let t = touching(&data, FsKind::Ext4, &range(b * bs, bs));
        let meta = label.starts_with("ETB") || label.ends_with("IND");
        if meta {
            seen_meta.insert(label.trim_end_matches(char::is_numeric).to_string());
        }
        let want = if meta {
            TouchKind::Metadata
        } else {
            TouchKind::Data
        };
        assert_eq!(
            kinds_for(&t, path),
            vec![want],
            "{path} block {b} ({label})"
        );
        assert_eq!(t.touches[0].bytes, bs);
    }
    for m in want_meta {
        assert!(seen_meta.contains(*m), "{path}: no {m} block in {blocks:?}");
    }
}

fn build_ext4(dir: &Path) -> String {
    let src = dir.join("src");
    let w = |p: &str, data: Vec<u8>| {
        let p = src.join(p);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, data).expect("write");
    };
    w("a/b/c/nested.bin", bytes(1, 70_000));
    w("hard.bin", bytes(2, 20_000));
    std::fs::hard_link(src.join("hard.bin"), src.join("a/hardlink.bin")).expect("link");
    for i in 0..400 {
        w(
            &format!("many/entry_with_a_rather_long_name_{i:03}"),
            format!("{i}\n").into_bytes(),
        );
    }
    for i in 0..100 {
        w(&format!("fill/f{i:02}"), bytes(100 + i, 8192));
    }
    std::os::unix::fs::symlink("x".repeat(100), src.join("longlink")).expect("symlink");
    std::os::unix::fs::symlink("short", src.join("shortlink")).expect("symlink");
    let img = dir.join("e4.img");
    let imgs = img.to_str().expect("utf8").to_string();
    image(&img, 16 << 20, 0);
    run_ok(
        "mkfs.ext4",
        &[
            "-q",
            "-F",
            "-b",
            "4096",
            "-d",
            src.to_str().expect("utf8"),
            &imgs,
        ],
    );
    // Index the big directory (htree), then punch holes in /fill and write a file into them:
    // fragmented past the four extents an inode holds, so its tree gets an index block.
    let (code, _, err) = run("e2fsck", &["-fyD", &imgs]);
    assert!(code <= 1, "e2fsck -D: {err}");
    let frag = dir.join("frag");
    std::fs::write(&frag, bytes(7, 600_000)).expect("frag");
    let mut cmds: String = (0..100)
        .step_by(2)
        .map(|i| format!("rm /fill/f{i:02}\n"))
        .collect();
    cmds.push_str(&format!("write {} /frag.bin\n", frag.display()));
    run_ok("debugfs", &["-w", "-R", "", &imgs]);
    {
        let f = dir.join("cmds");
        std::fs::write(&f, cmds).expect("cmds");
        run_ok("debugfs", &["-w", "-f", f.to_str().expect("utf8"), &imgs]);
    }
    let (code, out, err) = run("e2fsck", &["-fn", &imgs]);
    assert_eq!(code, 0, "the test image must be clean:\n{out}\n{err}");
    imgs
}

#[test]
fn ext4_every_block_names_what_debugfs_names() {
    if !have(&["mkfs.ext4", "debugfs", "e2fsck", "dumpe2fs"]) {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let img = build_ext4(tmp.path());
    every_block_matches_debugfs(&img, FsKind::Ext4);
    // Depth > 0: the fragmented file's and the htree directory's index blocks.
    check_kinds(&img, "/frag.bin", &["ETB"]);
    check_kinds(&img, "/a/b/c/nested.bin", &[]);
}

#[test]
fn ext4_hard_link_inode_table_free_space_and_limit() {
    if !have(&["mkfs.ext4", "debugfs", "e2fsck", "dumpe2fs"]) {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let img = build_ext4(tmp.path());
    let data = std::fs::read(&img).expect("read");
    let dump = run_ok("dumpe2fs", &["-h", &img]);
    let bs = field(&dump, "Block size:");
    let isz = field(&dump, "Inode size:");
    let ipg = field(&dump, "Inodes per group:");

    // A hard link: one data block, both names.
    let b = stat_blocks(&img, "/hard.bin")[0].1;
    let t = touching(&data, FsKind::Ext4, &range(b * bs + 100, 10));
    assert_eq!(t.touches.len(), 1, "{t:?}");
    let mut names = vec![t.touches[0].path.clone()];
    names.extend(t.touches[0].also.clone());
    names.sort();
    assert_eq!(names, vec!["/a/hardlink.bin", "/hard.bin"]);
    assert_eq!(
        (t.touches[0].kind, t.touches[0].bytes),
        (TouchKind::Data, 10)
    );

    // One inode record: the file's metadata, inside the group's inode table.
    let imap = debugfs(&img, "imap /a/b/c/nested.bin\n");
    let blk: u64 = imap
        .split("located at block ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("imap: {imap}"));
    let off = u64::from_str_radix(
        imap.split("offset 0x")
            .nth(1)
            .map(|r| r.trim())
            .unwrap_or_else(|| panic!("imap: {imap}")),
        16,
    )
    .expect("hex");
    let t = touching(&data, FsKind::Ext4, &range(blk * bs + off, isz));
    let (files, areas) = split(&t);
    assert_eq!(files, BTreeSet::from(["/a/b/c/nested.bin".to_string()]));
    assert_eq!(
        kinds_for(&t, "/a/b/c/nested.bin"),
        vec![TouchKind::Metadata]
    );
    assert!(
        areas
            .iter()
            .any(|a| a.starts_with("(inode table of group 0")),
        "{areas:?}"
    );

    // A whole unreadable inode table block (not the root's): it is not read, yet directory
    // entries still name the in-use files whose inodes were there.
    let inode_of = |p: &str| -> u64 {
        let out = debugfs(&img, &format!("stat {p}\n"));
        out.split("Inode: ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("stat {p}: {out}"))
    };
    let victim = inode_of("/many/entry_with_a_rather_long_name_200");
    let per_block = bs / isz;
    let group = (victim - 1) / ipg;
    let idx0 = ((victim - 1) % ipg) / per_block * per_block;
    assert!(
        group > 0 || idx0 > 0,
        "the root's block would hide every name"
    );
    let imap = debugfs(&img, &format!("imap <{victim}>\n"));
    let blk: u64 = imap
        .split("located at block ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("imap: {imap}"));
    let in_block: BTreeSet<u64> = (0..per_block).map(|k| group * ipg + idx0 + k + 1).collect();
    let mut want = BTreeSet::new();
    for (_, n) in ncheck(&img, &in_block) {
        want.extend(n);
    }
    let t = touching(&data, FsKind::Ext4, &range(blk * bs, bs));
    let (files, _) = split(&t);
    assert!(
        want.contains("/many/entry_with_a_rather_long_name_200")
            && want.len() == per_block as usize,
        "{want:?}"
    );
    assert_eq!(files, want);
    assert!(!t.skipped.is_empty(), "the block was not read, and says so");

    // Free space: nothing named, every byte unclaimed.
    let ffb = debugfs(&img, "ffb 1 3000\n");
    let free: u64 = ffb
        .split("Free blocks found: ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("ffb: {ffb}"));
    let t = touching(&data, FsKind::Ext4, &range(free * bs, bs));
    assert!(t.touches.is_empty(), "{t:?}");
    assert_eq!(t.unclaimed, bs);

    // Everything past the inode table (so inodes stay readable): capped at the limit, the
    // rest counted.
    let full_dump = run_ok("dumpe2fs", &[&img]);
    let itable_end: u64 = full_dump
        .split("Inode table at ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|r| r.split('-').nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no inode table in dumpe2fs"));
    let start = (itable_end + 1) * bs;
    let all = range(start, data.len() as u64 - start);
    let full = fs::files_touching(&data, FsKind::Ext4, &all, 100_000, &Cancel::new()).expect("all");
    let cut = fs::files_touching(&data, FsKind::Ext4, &all, 5, &Cancel::new()).expect("5");
    assert!(full.touches.len() > 450, "{}", full.touches.len());
    assert_eq!(cut.touches.len(), 5);
    assert_eq!(cut.more, full.touches.len() - 5);
    assert_eq!(cut.touches[..], full.touches[..5]);
    assert!(full.touches.iter().any(|t| t.path == "/frag.bin"));
    assert!(full.touches.iter().any(|t| t.path == "(journal)"));
    assert!(full.touches.iter().any(|t| t.path == "(directory /many)"));
    // Directory blocks in the range are not read: what only they name is reported by inode.
    assert!(full.touches.iter().any(|t| t.path == "/hard.bin"));
    let unnamed = full
        .touches
        .iter()
        .filter(|t| t.path.starts_with("(inode ") && t.path.ends_with(", no name found)"))
        .count();
    assert!(unnamed >= 400, "{unnamed}");
    assert!(full
        .touches
        .iter()
        .any(|t| t.path.starts_with("(directory inode ") && t.path.ends_with(", no name found)")));
    assert_eq!(full.unclaimed + claimed(&full), all.total());
}

/// Bytes the named touches account for (each byte once: they do not overlap in these tests).
fn claimed(t: &FileTouches) -> u64 {
    t.touches.iter().map(|x| x.bytes).sum()
}

/// An ext2 image with 1 KiB blocks: a file with double indirect blocks (past 12 + 256
/// blocks), a nested small file, and with `sparse`, a sparse file whose only data is past
/// 12 + 256 + 65536 blocks (triple indirect).
fn build_ext2(dir: &Path, sparse: bool) -> String {
    let src = dir.join("src2");
    std::fs::create_dir_all(src.join("d/e")).expect("mkdir");
    std::fs::write(src.join("d/double.bin"), bytes(1, 400_000)).expect("w");
    std::fs::write(src.join("d/e/small.txt"), b"small\n").expect("w");
    if sparse {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::create(src.join("sparse.bin")).expect("sparse");
        f.set_len(70 << 20).expect("len");
        f.write_all_at(b"tail-data", (70 << 20) - 100)
            .expect("tail");
    }
    let img = dir.join("e2.img");
    let imgs = img.to_str().expect("utf8").to_string();
    image(&img, 8 << 20, 0);
    run_ok(
        "mkfs.ext2",
        &[
            "-q",
            "-F",
            "-b",
            "1024",
            "-d",
            src.to_str().expect("utf8"),
            &imgs,
        ],
    );
    imgs
}

#[test]
fn ext2_indirect_blocks_match_debugfs() {
    if !have(&["mkfs.ext2", "debugfs", "e2fsck", "dumpe2fs"]) {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let img = build_ext2(tmp.path(), true);
    let imgs = img.as_str();
    every_block_matches_debugfs(imgs, FsKind::Ext2);
    check_kinds(imgs, "/d/double.bin", &["IND", "DIND"]);
    check_kinds(imgs, "/sparse.bin", &["IND", "DIND", "TIND"]);
}

/// A device whose reads fail over one range, as a failing disk's do.
struct Failing<'a> {
    data: &'a [u8],
    bad: (u64, u64),
}

impl ReadAt for Failing<'_> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> wraith_engine::Result<()> {
        let end = offset + buf.len() as u64;
        if offset < self.bad.1 && end > self.bad.0 {
            return Err(wraith_engine::Error::io(
                "failing",
                std::io::Error::from_raw_os_error(libc_eio()),
            ));
        }
        self.data.read_exact_at(buf, offset)
    }
    fn size(&self) -> u64 {
        self.data.len() as u64
    }
}

fn libc_eio() -> i32 {
    5
}

#[test]
fn ext4_read_errors_skip_that_part_only() {
    if !have(&["mkfs.ext4", "debugfs", "e2fsck", "dumpe2fs"]) {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let img = build_ext4(tmp.path());
    let data = std::fs::read(&img).expect("read");
    let bs = 4096;
    // /a's directory block fails to read; a bad range in /a/b/c/nested.bin and one in
    // /hard.bin are asked about.
    let a_blk = stat_blocks(&img, "/a")[0].1;
    let dev = Failing {
        data: &data,
        bad: (a_blk * bs, a_blk * bs + bs),
    };
    let nested = stat_blocks(&img, "/a/b/c/nested.bin")[0].1;
    let hard = stat_blocks(&img, "/hard.bin")[0].1;
    let mut bad = range(nested * bs, 512);
    bad.push(hard * bs, 512);
    let t = touching(&dev, FsKind::Ext4, &bad);
    let (files, _) = split(&t);
    // /a's entries are unknown: /a/b's name is lost (its path says so), /hard.bin is not.
    assert!(files.contains("/hard.bin"), "{files:?}");
    assert!(
        files
            .iter()
            .any(|f| f.starts_with("(unreachable directory inode") && f.ends_with("/c/nested.bin")),
        "{files:?}"
    );
    assert!(
        t.skipped.iter().any(|s| s.contains("directory")),
        "{:?}",
        t.skipped
    );
}

/// An NTFS volume with a nested directory, a hard link, a big directory, a resident file and
/// a fragmented one. ntfscp cannot make directories or links, so those need an ntfs-3g (FUSE)
/// mount; without one the volume is flat and the nested checks are skipped. Returns the image
/// and whether it was mounted.
fn build_ntfs(dir: &Path) -> (String, bool) {
    let img = dir.join("n.img");
    let imgs = img.to_str().expect("utf8").to_string();
    image(&img, 24 << 20, 0x5C);
    run_ok("mkntfs", &["-F", "-Q", "-f", "-L", "Files", &imgs]);
    let mnt = dir.join("mnt");
    std::fs::create_dir_all(&mnt).expect("mnt");
    let mounted = tool("ntfs-3g").is_some()
        && std::path::Path::new("/dev/fuse").exists()
        && run("ntfs-3g", &[&imgs, mnt.to_str().expect("utf8")]).0 == 0;
    let src = dir.join("nsrc");
    std::fs::create_dir_all(&src).expect("src");
    let put = |name: &str, data: &[u8]| {
        if mounted {
            let p = mnt.join(name);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, data).expect("write");
        } else {
            let local = src.join(name.replace('/', "_"));
            std::fs::write(&local, data).expect("write");
            run_ok(
                "ntfscp",
                &[
                    "-f",
                    &imgs,
                    local.to_str().expect("utf8"),
                    &format!("/{name}"),
                ],
            );
        }
    };
    put("big.bin", &bytes(1, 300_000));
    put("small.txt", b"resident, in its MFT record\n");
    for i in 0..20 {
        put(&format!("f{i:02}"), &bytes(10 + i, 16384));
    }
    // Free every other fill file's clusters (overwrite with one byte: ntfscp cannot delete),
    // then write into the holes.
    for i in (0..20).step_by(2) {
        if mounted {
            std::fs::remove_file(mnt.join(format!("f{i:02}"))).expect("rm");
        } else {
            put(&format!("f{i:02}"), b"x");
        }
    }
    if mounted {
        // Two files written in turns, a cluster at a time: ntfs-3g interleaves their clusters.
        use std::io::Write;
        let mut a = std::fs::File::create(mnt.join("frag.bin")).expect("frag");
        let mut b = std::fs::File::create(mnt.join("partner.bin")).expect("partner");
        let data = bytes(7, 50 * 4096);
        for piece in data.chunks(4096) {
            a.write_all(piece).expect("write frag");
            b.write_all(piece).expect("write partner");
        }
    } else {
        put("frag.bin", &bytes(7, 200_000));
    }
    if mounted {
        put("d1/d2/nested.bin", &bytes(3, 70_000));
        std::fs::hard_link(mnt.join("big.bin"), mnt.join("d1/biglink.bin")).expect("link");
        for i in 0..300 {
            put(
                &format!("many/entry_with_a_rather_long_name_{i:03}"),
                format!("{i}\n").as_bytes(),
            );
        }
        // The mount may still be busy for a moment after the last close: retry.
        let mut last = String::new();
        let unmounted = (0..50).any(|_| {
            let (code, _, err) = run("fusermount", &["-u", mnt.to_str().expect("utf8")]);
            last = err;
            if code != 0 {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            code == 0
        });
        assert!(unmounted, "unmount: {last}");
        // ntfs-3g finishes writing the image after the unmount returns: wait for its exit.
        wait_ntfs3g_gone(&imgs);
    } else {
        eprintln!("SKIP: no ntfs-3g mount here: NTFS directories and hard links not tested");
    }
    let (code, out, err) = run("ntfsfix", &["-n", &imgs]);
    assert_eq!(code, 0, "the test image must be clean:\n{out}\n{err}");
    (imgs, mounted)
}

/// Waits until no ntfs-3g process serves `img` (it may still be flushing after `fusermount -u`).
fn wait_ntfs3g_gone(img: &str) {
    for _ in 0..100 {
        let busy = std::fs::read_dir("/proc")
            .map(|d| {
                d.flatten().any(|p| {
                    std::fs::read(p.path().join("cmdline"))
                        .map(|c| {
                            let c = String::from_utf8_lossy(&c);
                            c.starts_with("ntfs-3g") && c.contains(img)
                        })
                        .unwrap_or(false)
                })
            })
            .unwrap_or(false);
        if !busy {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("ntfs-3g still serving {img}");
}

/// Paths ntfscluster finds in clusters `[a, b]`, by inode, attribute suffix removed.
fn ntfscluster(img: &str, a: u64, b: u64) -> BTreeSet<(u64, String)> {
    let out = run_ok("ntfscluster", &["-c", &format!("{a}-{b}"), img]);
    let mut v = BTreeSet::new();
    for line in out.lines() {
        let Some(rest) = line.strip_prefix("Inode ") else {
            continue;
        };
        let Some((n, path)) = rest.split_once(' ') else {
            continue;
        };
        let file = match path.rsplit_once("/$") {
            Some((f, _)) if !f.is_empty() && f != "/." => f.to_string(),
            _ => "/".to_string(),
        };
        v.insert((n.parse().expect("inode"), file));
    }
    v
}

/// Our answer as (every name of each touch), system files written "/$Name" as ntfscluster does.
fn ntfs_names(t: &FileTouches) -> Vec<BTreeSet<String>> {
    let mut out = Vec::new();
    for x in &t.touches {
        let mut names = BTreeSet::new();
        for p in std::iter::once(&x.path).chain(&x.also) {
            let p = p
                .strip_prefix("(directory ")
                .and_then(|p| p.strip_suffix(')'))
                .unwrap_or(p);
            if p.starts_with('$') {
                names.insert(format!("/{p}"));
            } else if p.starts_with('/') {
                names.insert(p.to_string());
            }
        }
        if !names.is_empty() {
            out.push(names);
        }
    }
    out
}

#[test]
fn ntfs_every_cluster_names_what_ntfscluster_names() {
    if !have(&["mkntfs", "ntfscp", "ntfscluster", "ntfsinfo", "ntfsfix"]) {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let (img, mounted) = build_ntfs(tmp.path());
    let data = std::fs::read(&img).expect("read");
    let cs = u64::from(u16::from_le_bytes([data[0x0B], data[0x0C]])) * u64::from(data[0x0D]);
    let total = u64::from_le_bytes(data[0x28..0x30].try_into().expect("8")) * 512 / cs;
    let mut mft_clusters = 0;
    let mut named = 0;
    for c in 0..total {
        let t = touching(&data, FsKind::Ntfs, &range(c * cs, cs));
        assert!(
            t.skipped.iter().all(|s| s.contains("unreadable range")),
            "cluster {c}: {:?}",
            t.skipped
        );
        let ours = ntfs_names(&t);
        let theirs = ntfscluster(&img, c, c);
        if theirs.iter().any(|(n, _)| *n == 0) {
            // $MFT's own clusters: we also name the files whose records are there.
            assert!(
                ours.iter().any(|n| n.contains("/$MFT")),
                "cluster {c}: {ours:?}"
            );
            mft_clusters += 1;
            continue;
        }
        assert_eq!(
            ours.len(),
            theirs.len(),
            "cluster {c}: {ours:?} vs {theirs:?}"
        );
        for (_, p) in &theirs {
            assert!(
                ours.iter().any(|names| names.contains(p)),
                "cluster {c}: ntfscluster names {p}, we {ours:?}"
            );
        }
        if theirs.is_empty() {
            assert_eq!(t.unclaimed, cs, "cluster {c}: free, {t:?}");
        } else {
            named += 1;
        }
    }
    assert!(mft_clusters > 0 && named > 100, "{mft_clusters} {named}");
    if mounted {
        // Everything but the MFT: every file is named from its record.
        let mut mft = ExtentList::new();
        for (lcn, len) in ntfs_runs(&img, "/$MFT") {
            mft.push(lcn * cs, len * cs);
        }
        assert!(!mft.is_empty());
        let t = touching(&data, FsKind::Ntfs, &range(0, total * cs).minus(&mft));
        let all: BTreeSet<String> = ntfs_names(&t).into_iter().flatten().collect();
        for p in [
            "/d1/d2/nested.bin",
            "/d1/biglink.bin",
            "/big.bin",
            "/many",
            "/frag.bin",
        ] {
            assert!(all.contains(p), "{p} not in {all:?}");
        }
    }
}

/// Data runs of a file, per `ntfscluster -F`: (first cluster, count).
fn ntfs_runs(img: &str, path: &str) -> Vec<(u64, u64)> {
    let out = run_ok("ntfscluster", &["-F", path, img]);
    let mut v = Vec::new();
    let mut in_data = false;
    for line in out.lines() {
        let l = line.trim();
        if l.starts_with("0x") {
            in_data = l.starts_with("0x80 - non-resident");
            continue;
        }
        let nums: Vec<u64> = l
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if in_data && nums.len() == 3 {
            v.push((nums[1], nums[2]));
        }
    }
    v
}

#[test]
fn ntfs_resident_fragmented_and_record_bytes() {
    if !have(&["mkntfs", "ntfscp", "ntfscluster", "ntfsinfo", "ntfsfix"]) {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let (img, mounted) = build_ntfs(tmp.path());
    let data = std::fs::read(&img).expect("read");
    let cs = u64::from(u16::from_le_bytes([data[0x0B], data[0x0C]])) * u64::from(data[0x0D]);
    let mft = u64::from_le_bytes(data[0x30..0x38].try_into().expect("8")) * cs;

    // Non-resident and fragmented: every run's clusters are the file's data.
    let runs = ntfs_runs(&img, "/frag.bin");
    assert!(!mounted || runs.len() > 2, "not fragmented: {runs:?}");
    for (lcn, len) in runs {
        let t = touching(&data, FsKind::Ntfs, &range(lcn * cs, len * cs));
        assert_eq!(t.touches.len(), 1, "{t:?}");
        assert_eq!(t.touches[0].path, "/frag.bin");
        assert_eq!(
            (t.touches[0].kind, t.touches[0].bytes),
            (TouchKind::Data, len * cs)
        );
    }

    // A hard link: both names, on one file.
    if mounted {
        let (lcn, _) = ntfs_runs(&img, "/big.bin")[0];
        let t = touching(&data, FsKind::Ntfs, &range(lcn * cs, 4096));
        assert_eq!(t.touches.len(), 1, "{t:?}");
        let mut names = vec![t.touches[0].path.clone()];
        names.extend(t.touches[0].also.clone());
        names.sort();
        assert_eq!(names, vec!["/big.bin", "/d1/biglink.bin"]);
    }

    // Resident: no clusters of its own; its MFT record holds the data, so the record's bytes
    // name it (as metadata), inside $MFT's data.
    assert!(ntfs_runs(&img, "/small.txt").is_empty());
    let info = run_ok("ntfsinfo", &["-F", "/small.txt", &img]);
    let rec: u64 = info
        .split("mft record ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("ntfsinfo: {info}"));
    let t = touching(&data, FsKind::Ntfs, &range(mft + rec * 1024 + 100, 16));
    let small: Vec<_> = t
        .touches
        .iter()
        .filter(|x| x.path == "/small.txt")
        .collect();
    assert_eq!(small.len(), 1, "{t:?}");
    assert_eq!((small[0].kind, small[0].bytes), (TouchKind::Metadata, 16));
    assert!(t
        .touches
        .iter()
        .any(|x| x.path == "$MFT" && x.kind == TouchKind::Metadata));
    assert_eq!(t.touches.len(), 2, "{t:?}");

    // The backup boot sector, past the last cluster.
    let total_sectors = u64::from_le_bytes(data[0x28..0x30].try_into().expect("8"));
    let t = touching(&data, FsKind::Ntfs, &range(total_sectors * 512, 512));
    assert_eq!(t.touches.len(), 1);
    assert_eq!(t.touches[0].path, "(backup boot sector)");
}

/// Changes a few random bytes in `[lo, hi)` per round and asks for the files in `bad`: an
/// answer or an error, never a panic or a hang. Returns how many rounds still named a file.
fn mutate_and_ask(
    img: &mut Vec<u8>,
    lo: usize,
    hi: usize,
    kind: FsKind,
    bad: &ExtentList,
    rounds: usize,
    seed: u64,
) -> usize {
    let mut x = seed | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut named = 0;
    for _ in 0..rounds {
        let mut saved = Vec::new();
        for _ in 0..1 + next() % 6 {
            let at = lo + (next() as usize) % (hi - lo);
            saved.push((at, img[at]));
            img[at] = next() as u8;
        }
        if let Ok(t) = fs::files_touching(&*img, kind, bad, 50, &Cancel::new()) {
            if t.touches.iter().any(|x| x.path.starts_with('/')) {
                named += 1;
            }
        }
        for (at, b) in saved.into_iter().rev() {
            img[at] = b;
        }
    }
    named
}

/// Every 7th block past the first sixteenth of the image: data, mostly.
fn spread(len: u64, bs: u64) -> ExtentList {
    let mut l = ExtentList::new();
    let mut b = len / bs / 16;
    while (b + 1) * bs <= len {
        l.push(b * bs, 512);
        b += 7;
    }
    l
}

#[test]
fn mutated_images_never_panic() {
    if !have(&[
        "mkfs.ext4",
        "mkfs.ext2",
        "debugfs",
        "e2fsck",
        "dumpe2fs",
        "mkntfs",
        "ntfscp",
        "ntfsfix",
        "ntfscluster",
        "ntfsinfo",
    ]) {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");

    // ext4: superblock, descriptors, bitmaps and inode tables; then the directory and extent
    // index blocks.
    let img = build_ext4(tmp.path());
    let mut data = std::fs::read(&img).expect("read");
    let bad = spread(data.len() as u64, 4096);
    let clean = touching(&data, FsKind::Ext4, &bad);
    assert!(clean.touches.len() > 10, "{clean:?}");
    let n = mutate_and_ask(&mut data, 1024, 300 << 10, FsKind::Ext4, &bad, 1500, 1);
    eprintln!("ext4 metadata: {n} rounds still named files");
    let n = mutate_and_ask(&mut data, 1024, 8192, FsKind::Ext4, &bad, 1500, 11);
    eprintln!("ext4 superblock and descriptors: {n} rounds still named files");
    // The used part of the inode table (the root's and the first files' inodes).
    let itable: u64 = run_ok("dumpe2fs", &[&img])
        .split("Inode table at ")
        .nth(1)
        .and_then(|r| r.split('-').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no inode table"));
    let at = (itable * 4096) as usize;
    let n = mutate_and_ask(&mut data, at, at + 8192, FsKind::Ext4, &bad, 3000, 12);
    eprintln!("ext4 first inodes: {n} rounds still named files");
    for path in ["/frag.bin", "/many", "/"] {
        for (label, b) in stat_blocks(&img, path).into_iter().take(3) {
            let at = (b * 4096) as usize;
            let n = mutate_and_ask(&mut data, at, at + 4096, FsKind::Ext4, &bad, 300, b);
            eprintln!("ext4 {path} {label} block {b}: {n} rounds still named files");
        }
    }

    // ext2 with 1 KiB blocks: indirect blocks.
    let img2 = build_ext2(tmp.path(), false);
    let img2s = img2.as_str();
    let mut data = std::fs::read(&img2).expect("read");
    let bad = spread(data.len() as u64, 1024);
    let n = mutate_and_ask(&mut data, 1024, 64 << 10, FsKind::Ext2, &bad, 1000, 2);
    eprintln!("ext2 metadata: {n} rounds still named files");
    for (label, b) in stat_blocks(img2s, "/d/double.bin") {
        if label.ends_with("IND") {
            let at = (b * 1024) as usize;
            let n = mutate_and_ask(&mut data, at, at + 1024, FsKind::Ext2, &bad, 300, b);
            eprintln!("ext2 {label} block {b}: {n} rounds still named files");
        }
    }

    // NTFS: boot sector, then the first MFT records (system files, root, user files).
    let (img, _) = build_ntfs(tmp.path());
    let mut data = std::fs::read(&img).expect("read");
    let cs = u64::from(u16::from_le_bytes([data[0x0B], data[0x0C]])) * u64::from(data[0x0D]);
    let mft = (u64::from_le_bytes(data[0x30..0x38].try_into().expect("8")) * cs) as usize;
    let bad = spread(data.len() as u64, cs);
    let n = mutate_and_ask(&mut data, 0, 512, FsKind::Ntfs, &bad, 500, 3);
    eprintln!("ntfs boot sector: {n} rounds still named files");
    let n = mutate_and_ask(&mut data, mft, mft + 96 * 1024, FsKind::Ntfs, &bad, 3000, 4);
    eprintln!("ntfs MFT: {n} rounds still named files");
}

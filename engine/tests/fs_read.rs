//! Reading files straight out of filesystem images (`fs::reader`), checked against what real
//! tools wrote: ext4 made by `mkfs.ext4 -d` from a host tree (sparse files, hard links,
//! symlinks, modes, nanosecond mtimes, inline data, a 40-level tree, UTF-8 and 255-byte names)
//! then fragmented with debugfs; ext2 block maps through double indirect blocks; FAT12/16/32 by
//! mtools with long names and a fragmented file; NTFS through an ntfs-3g mount (hard links,
//! sparse file, a file in 700 pieces through its attribute list, an LZNT1-compressed file). One filesystem is also read through a saved
//! image (`ImageDisk`). Damaged images must give errors, never panics.

#![allow(clippy::unwrap_used, clippy::panic)]

mod fs_helpers;
use fs_helpers::*;
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use wraith_engine::device::{Device, ReadAt, Slice};
use wraith_engine::fs::reader::{self, Entry, EntryKind};
use wraith_engine::fs::{FsKind, FsReader};

/// What one path holds, as read back.
#[derive(Debug, Clone, PartialEq)]
struct Node {
    kind: EntryKind,
    data: Vec<u8>,
    mode: Option<u32>,
    mtime: Option<(i64, u32)>,
    id: u64,
    target: Option<Vec<u8>>,
}

/// Every entry of the filesystem by path, files read whole through `open`.
fn walk(fs: &dyn FsReader) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    let root = fs.root().expect("root");
    walk_dir(fs, &root, "", &mut out);
    out
}

fn walk_dir(fs: &dyn FsReader, dir: &Entry, path: &str, out: &mut BTreeMap<String, Node>) {
    for e in fs.list(dir).expect("list") {
        let p = format!("{path}/{}", e.name_lossy());
        let data = if e.kind == EntryKind::File && e.unsupported.is_none() {
            let f = fs.open(&e).expect("open");
            assert_eq!(f.size(), e.size, "{p}: size");
            f.read_vec(0, e.size as usize).expect("read")
        } else {
            Vec::new()
        };
        out.insert(
            p.clone(),
            Node {
                kind: e.kind,
                data,
                mode: e.mode,
                mtime: e.mtime.map(|t| (t.secs, t.nsecs)),
                id: e.id,
                target: e.target.clone(),
            },
        );
        if e.kind == EntryKind::Dir {
            walk_dir(fs, &e, &p, out);
        }
    }
}

fn set_mtime(p: &Path, secs: i64, nsecs: u32) {
    let t = std::time::UNIX_EPOCH + std::time::Duration::new(secs as u64, nsecs);
    let f = std::fs::File::options().write(true).open(p).expect("open");
    f.set_times(std::fs::FileTimes::new().set_modified(t).set_accessed(t))
        .expect("set_times");
}

/// A host tree to copy into filesystems: (path, bytes) of its regular files.
fn host_tree(dir: &Path, deep: usize) -> Vec<(String, Vec<u8>)> {
    let long = "L".repeat(200) + "é";
    let mut deep_path = String::new();
    for i in 0..deep {
        deep_path.push_str(&format!("d{i}/"));
    }
    let files: Vec<(String, Vec<u8>)> = vec![
        ("hello.txt".into(), b"hello, wraith\n".to_vec()),
        ("empty".into(), Vec::new()),
        ("Résumé 日本.txt".into(), bytes(11, 5000)),
        (long, bytes(12, 3)),
        ("big.bin".into(), bytes(13, 2 * 1024 * 1024 + 77)),
        ("sub/mid.bin".into(), bytes(14, 200_001)),
        (
            format!("{deep_path}bottom.txt"),
            b"at the bottom\n".to_vec(),
        ),
    ];
    for (i, (name, data)) in files.iter().enumerate() {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        set_mtime(&p, 1_600_000_000 + i as i64 * 1000, 123_456_789);
    }
    files
}

/// A file with holes: data at 0, a hole, data at 1 MiB + 5, a hole, data at the end. (No
/// hole at the end: `mkfs.ext4 -d -O inline_data` 1.47.0 records such a file's size short.)
fn sparse_bytes() -> (Vec<u8>, Vec<(u64, Vec<u8>)>) {
    let parts = vec![
        (0u64, bytes(21, 4096)),
        (1_048_581, bytes(22, 10_000)),
        ((3 << 20) - 3000, bytes(23, 3000)),
    ];
    let mut whole = vec![0u8; 3 << 20];
    for (at, d) in &parts {
        whole[*at as usize..*at as usize + d.len()].copy_from_slice(d);
    }
    (whole, parts)
}

fn write_sparse(p: &Path) -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let (whole, parts) = sparse_bytes();
    let f = std::fs::File::create(p).unwrap();
    f.set_len(whole.len() as u64).unwrap();
    for (at, d) in parts {
        f.write_all_at(&d, at).unwrap();
    }
    whole
}

/// Equal bytes, or where they first differ (never the whole buffers).
fn same(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what}: {} bytes read, {} expected; first difference at {at:?}",
            got.len(),
            want.len()
        );
    }
}

fn check_same_files(got: &BTreeMap<String, Node>, want: &[(String, Vec<u8>)]) {
    for (name, data) in want {
        let p = format!("/{name}");
        let n = got
            .get(&p)
            .unwrap_or_else(|| panic!("{p} missing; have {:?}", got.keys()));
        assert_eq!(n.kind, EntryKind::File, "{p}");
        same(&n.data, data, &p);
    }
}

fn ext_source(dir: &Path) -> (Vec<(String, Vec<u8>)>, Vec<u8>) {
    let files = host_tree(dir, 40);
    let sparse = write_sparse(&dir.join("sparse.bin"));
    std::fs::hard_link(dir.join("hello.txt"), dir.join("sub/hardlink.txt")).unwrap();
    std::os::unix::fs::symlink("../hello.txt", dir.join("sub/link")).unwrap();
    let long_target = "t/".repeat(100);
    std::os::unix::fs::symlink(&long_target, dir.join("slowlink")).unwrap();
    std::fs::set_permissions(
        dir.join("sub/mid.bin"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    std::fs::set_permissions(
        dir.join("hello.txt"),
        std::fs::Permissions::from_mode(0o4755),
    )
    .unwrap();
    (files, sparse)
}

#[test]
fn ext4_tree_reads_back_as_written_even_fragmented() {
    if !have(&["mkfs.ext4", "debugfs"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let (files, sparse) = ext_source(&src);
    // Many small files to punch holes in, so a file written later is fragmented.
    std::fs::create_dir(src.join("fill")).unwrap();
    for i in 0..120 {
        std::fs::write(src.join(format!("fill/f{i:03}")), bytes(100 + i, 16384)).unwrap();
    }
    let img = t.path().join("ext4.img");
    let img_s = img.to_str().unwrap();
    run_ok(
        "mkfs.ext4",
        &[
            "-q",
            "-F",
            "-O",
            "inline_data",
            "-d",
            src.to_str().unwrap(),
            img_s,
            "48M",
        ],
    );
    let mut cmds = String::new();
    for i in (0..120).step_by(2) {
        cmds.push_str(&format!("rm /fill/f{i:03}\n"));
    }
    let frag = bytes(999, 600_000);
    let frag_path = t.path().join("frag.bin");
    std::fs::write(&frag_path, &frag).unwrap();
    cmds.push_str(&format!("write {} frag.bin\n", frag_path.display()));
    // mkfs.ext4 -d keeps whole seconds only; nanoseconds (and the epoch bits past 2038) are
    // set here: 123456789 ns, and one more epoch (2^32 s later).
    cmds.push_str(&format!(
        "sif /empty mtime_extra {}\n",
        (123_456_789u64 << 2) | 1
    ));
    let cmdf = t.path().join("cmds");
    std::fs::write(&cmdf, cmds).unwrap();
    run_ok("debugfs", &["-w", "-f", cmdf.to_str().unwrap(), img_s]);

    let dev = Device::open_read(&img).unwrap();
    let fs = reader::open(&dev).expect("open ext4");
    assert_eq!(fs.kind(), FsKind::Ext4);
    let got = walk(fs.as_ref());
    check_same_files(&got, &files);
    same(&got["/sparse.bin"].data, &sparse, "sparse file");
    same(&got["/frag.bin"].data, &frag, "fragmented file");
    for i in (1..120).step_by(2) {
        assert_eq!(got[&format!("/fill/f{i:03}")].data, bytes(100 + i, 16384));
    }
    assert!(!got.contains_key("/fill/f000"), "deleted file listed");
    // Really fragmented, and the sparse file really has holes in the map.
    let e = reader::lookup(fs.as_ref(), "/frag.bin").unwrap();
    assert!(
        fs.open(&e).unwrap().pieces().len() > 3,
        "frag.bin not fragmented"
    );
    let e = reader::lookup(fs.as_ref(), "sparse.bin").unwrap();
    let mapped: u64 = fs.open(&e).unwrap().pieces().iter().map(|p| p.len).sum();
    assert!(
        mapped < 1 << 20,
        "holes stored as data ({mapped} bytes mapped)"
    );
    // Metadata as the host had it.
    for (name, _) in &files {
        let meta = std::fs::symlink_metadata(src.join(name)).unwrap();
        let n = &got[&format!("/{name}")];
        assert_eq!(n.mode, Some(meta.mode()), "{name}: mode");
        if name != "empty" {
            assert_eq!(n.mtime.map(|t| t.0), Some(meta.mtime()), "{name}: mtime");
        }
    }
    let empty_secs = std::fs::metadata(src.join("empty")).unwrap().mtime();
    assert_eq!(
        got["/empty"].mtime,
        Some((empty_secs + (1 << 32), 123_456_789)),
        "nanoseconds and epoch bits"
    );
    assert_eq!(got["/hello.txt"].mode.unwrap() & 0o7777, 0o4755);
    assert_eq!(got["/sub/mid.bin"].mode.unwrap() & 0o7777, 0o640);
    assert_eq!(
        got["/hello.txt"].id, got["/sub/hardlink.txt"].id,
        "hard link"
    );
    assert_eq!(got["/sub/link"].kind, EntryKind::Symlink);
    assert_eq!(
        got["/sub/link"].target.as_deref(),
        Some(&b"../hello.txt"[..])
    );
    assert_eq!(
        got["/slowlink"].target.as_deref(),
        Some("t/".repeat(100).as_bytes())
    );
    // Lookups: a deep path; through a symlink is refused, not followed.
    let deep: String = (0..40).map(|i| format!("/d{i}")).collect::<String>() + "/bottom.txt";
    let e = reader::lookup(fs.as_ref(), &deep).unwrap();
    assert_eq!(
        fs.open(&e).unwrap().read_vec(0, 14).unwrap(),
        b"at the bottom\n"
    );
    assert!(reader::lookup(fs.as_ref(), "/sub/link/x").is_err());
    assert!(reader::lookup(fs.as_ref(), "/nope").is_err());
    assert!(reader::lookup(fs.as_ref(), "/sub/../hello.txt").is_err());
}

#[test]
fn ext2_block_maps_through_double_indirect_blocks() {
    if !have(&["mkfs.ext2"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let files = host_tree(&src, 3);
    let sparse = write_sparse(&src.join("sparse.bin"));
    let img = t.path().join("ext2.img");
    // 1 KiB blocks: 12 direct + 256 single-indirect blocks = 268 KiB; big.bin (2 MiB) and the
    // sparse file's second piece (at 1 MiB) need the double indirect block.
    run_ok(
        "mkfs.ext2",
        &[
            "-q",
            "-F",
            "-b",
            "1024",
            "-d",
            src.to_str().unwrap(),
            img.to_str().unwrap(),
            "24M",
        ],
    );
    let dev = Device::open_read(&img).unwrap();
    let fs = reader::open(&dev).unwrap();
    assert_eq!(fs.kind(), FsKind::Ext2);
    let got = walk(fs.as_ref());
    check_same_files(&got, &files);
    same(&got["/sparse.bin"].data, &sparse, "sparse file");
    let e = reader::lookup(fs.as_ref(), "/big.bin").unwrap();
    assert!(e.size > (12 + 256) * 1024 + 256 * 1024);
}

fn mtools(img: &Path, args: &[&str]) {
    let (tool, rest) = (args[0], &args[1..]);
    let mut full = vec!["-i", img.to_str().unwrap()];
    full.extend_from_slice(rest);
    let o = std::process::Command::new(tool)
        .args(&full)
        .env("TZ", "UTC")
        .env("LC_ALL", "C.UTF-8")
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{tool} {rest:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn fat_long_names_and_fragmented_chains() {
    if !have(&["mkfs.vfat", "mcopy", "mdel", "mmd"]) {
        return;
    }
    for (bits, size) in [("12", 4u64 << 20), ("16", 24 << 20), ("32", 40 << 20)] {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        std::fs::create_dir(&src).unwrap();
        let files = host_tree(&src, 6);
        let img = t.path().join("fat.img");
        image(&img, size, 0);
        run_ok("mkfs.vfat", &["-F", bits, img.to_str().unwrap()]);
        // Interleaved writes, then a delete, then a big file into the gaps.
        for i in 0..6 {
            let p = t.path().join(format!("small{i}.bin"));
            std::fs::write(&p, bytes(50 + i, 5000)).unwrap();
            mtools(&img, &["mcopy", p.to_str().unwrap(), "::"]);
        }
        for i in (0..6).step_by(2) {
            mtools(&img, &["mdel", &format!("::small{i}.bin")]);
        }
        if bits == "32" {
            // FAT32 allocates after its FSInfo "next free" hint; "unknown" makes mtools look
            // from the start, into the gaps, as after a fresh mount elsewhere.
            use std::os::unix::fs::FileExt;
            let f = std::fs::File::options().write(true).open(&img).unwrap();
            f.write_all_at(&[0xFF; 4], 512 + 0x1EC).unwrap();
        }
        let big = bytes(77, 300_000);
        let bigp = t.path().join("Fragmented Big File.bin");
        std::fs::write(&bigp, &big).unwrap();
        mtools(&img, &["mcopy", bigp.to_str().unwrap(), "::"]);
        // The tree, with its mtimes kept (-m).
        let entries: Vec<String> = std::fs::read_dir(&src)
            .unwrap()
            .map(|e| e.unwrap().path().to_str().unwrap().to_string())
            .collect();
        let mut args = vec!["mcopy", "-s", "-m"];
        args.extend(entries.iter().map(String::as_str));
        args.push("::");
        mtools(&img, &args);

        let dev = Device::open_read(&img).unwrap();
        let fs = reader::open(&dev).unwrap();
        assert_eq!(fs.kind().name(), format!("fat{bits}"));
        let got = walk(fs.as_ref());
        check_same_files(&got, &files);
        same(
            &got["/Fragmented Big File.bin"].data,
            &big,
            "fragmented file",
        );
        for i in (1..6).step_by(2) {
            assert_eq!(got[&format!("/small{i}.bin")].data, bytes(50 + i, 5000));
        }
        assert!(!got.contains_key("/small0.bin"));
        let e = reader::lookup(fs.as_ref(), "/fragmented big file.bin").unwrap();
        assert!(
            fs.open(&e).unwrap().pieces().len() > 1,
            "fat{bits}: not fragmented"
        );
        // mtimes to FAT's 2 seconds.
        for (name, _) in &files {
            let meta = std::fs::metadata(src.join(name)).unwrap();
            let got_t = got[&format!("/{name}")].mtime.unwrap().0;
            assert!(
                (got_t - meta.mtime()).abs() <= 2,
                "fat{bits} {name}: mtime {got_t} vs {}",
                meta.mtime()
            );
        }
    }
}

/// Runs `f` with an NTFS image mounted by ntfs-3g at a fresh directory; unmounted after.
fn with_ntfs_mount(img: &Path, f: impl FnOnce(&Path)) {
    let mnt = tempfile::tempdir().unwrap();
    run_ok(
        "ntfs-3g",
        &[img.to_str().unwrap(), mnt.path().to_str().unwrap()],
    );
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(mnt.path())));
    run_ok("umount", &[mnt.path().to_str().unwrap()]);
    if let Err(e) = r {
        std::panic::resume_unwind(e);
    }
}

fn can_fuse() -> bool {
    if !Path::new("/dev/fuse").exists() {
        wraith_testkit::skip_missing_tool("/dev/fuse", "NTFS through ntfs-3g");
        return false;
    }
    have(&["mkntfs", "ntfs-3g", "setfattr"])
}

#[test]
fn ntfs_tree_through_ntfs3g_with_compressed_and_scattered_files() {
    if !can_fuse() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let img = t.path().join("ntfs.img");
    image(&img, 48 << 20, 0);
    run_ok("mkntfs", &["-q", "-F", "-f", img.to_str().unwrap()]);
    let src = t.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let files = host_tree(&src, 40);
    let sparse_want = sparse_bytes().0;
    let comp_text: Vec<u8> = (0..40_000)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect();
    // Then a zero stretch (sparse units), incompressible bytes (units stored plain), a tail.
    let mut comp_text = comp_text;
    comp_text.extend(vec![0u8; 300_000]);
    comp_text.extend(bytes(41, 150_000));
    comp_text.extend(b"the end\n");
    let mut many = Vec::new();
    let scattered = bytes(31, 3 << 20);
    with_ntfs_mount(&img, |m| {
        run_ok(
            "cp",
            &["-a", &format!("{}/.", src.display()), m.to_str().unwrap()],
        );
        write_sparse(&m.join("sparse.bin"));
        std::fs::hard_link(m.join("hello.txt"), m.join("sub/hardlink.txt")).unwrap();
        // Enough entries that the directory needs index allocation blocks.
        std::fs::create_dir(m.join("many")).unwrap();
        for i in 0..300 {
            let name = format!("entry number {i:04}.txt");
            std::fs::write(m.join("many").join(&name), format!("{i}")).unwrap();
            many.push(name);
        }
        std::fs::create_dir(m.join("packed")).unwrap();
        run_ok(
            "setfattr",
            &[
                "-v",
                "0x00080000",
                "-n",
                "system.ntfs_attrib",
                m.join("packed").to_str().unwrap(),
            ],
        );
        std::fs::write(m.join("packed/comp.txt"), &comp_text).unwrap();
        // A file in so many pieces that its runlist spills out of its MFT record into
        // extension records, found through an attribute list: fill, free every other
        // cluster, write into the gaps.
        std::fs::create_dir(m.join("fill")).unwrap();
        for i in 0..2400 {
            std::fs::write(m.join(format!("fill/{i}")), [1u8; 4096]).unwrap();
        }
        // Ballast up to a full volume (but 512 KiB), so only the gaps are left to write into.
        {
            use std::io::Write;
            let mut f = std::fs::File::create(m.join("ballast")).unwrap();
            let chunk = vec![7u8; 1 << 20];
            let mut written = 0u64;
            while f.write_all(&chunk).is_ok() {
                written += chunk.len() as u64;
            }
            drop(f);
            let f = std::fs::File::options()
                .write(true)
                .open(m.join("ballast"))
                .unwrap();
            f.set_len(written.saturating_sub(512 << 10)).unwrap();
        }
        for i in (0..2400).step_by(2) {
            std::fs::remove_file(m.join(format!("fill/{i}"))).unwrap();
        }
        std::fs::write(m.join("scattered.bin"), &scattered).unwrap();
    });
    let dev = Device::open_read(&img).unwrap();
    let fs = reader::open(&dev).unwrap();
    assert_eq!(fs.kind(), FsKind::Ntfs);
    let got = walk(fs.as_ref());
    check_same_files(&got, &files);
    same(&got["/sparse.bin"].data, &sparse_want, "sparse file");
    for (i, name) in many.iter().enumerate() {
        assert_eq!(
            got[&format!("/many/{name}")].data,
            format!("{i}").into_bytes()
        );
    }
    assert_eq!(
        got["/hello.txt"].id, got["/sub/hardlink.txt"].id,
        "hard link"
    );
    assert!(
        !got.keys().any(|k| k.starts_with("/$")),
        "system files listed"
    );
    for (name, _) in &files {
        let meta = std::fs::metadata(src.join(name)).unwrap();
        let (s, ns) = got[&format!("/{name}")].mtime.unwrap();
        assert_eq!(
            (s, ns / 100),
            (meta.mtime(), meta.mtime_nsec() as u32 / 100),
            "{name}"
        );
    }
    same(
        &got["/scattered.bin"].data,
        &scattered,
        "file with an attribute list",
    );
    let e = reader::lookup(fs.as_ref(), "/scattered.bin").unwrap();
    let pieces = fs.open(&e).unwrap().pieces().len();
    // A 1 KiB record holds a few hundred runs at most.
    assert!(
        pieces > 500,
        "only {pieces} pieces: no attribute list exercised"
    );
    // The compressed file (LZNT1), decoded: whole, and in odd pieces across unit edges.
    same(&got["/packed/comp.txt"].data, &comp_text, "compressed file");
    let comp = reader::lookup(fs.as_ref(), "/packed/comp.txt").unwrap();
    let f = fs.open(&comp).unwrap();
    assert!(f.pieces().is_empty(), "read as a plain map, not decoded");
    let mut at = 0usize;
    while at < comp_text.len() {
        let n = 40_000.min(comp_text.len() - at);
        same(
            &f.read_vec(at as u64, n).unwrap(),
            &comp_text[at..at + n],
            "compressed piece",
        );
        at += 65_537;
    }
}

#[test]
fn a_saved_image_reads_files_like_the_disk() {
    let src = wraith_testkit::gpt_disk();
    let source = Device::open_read(&src.path).unwrap();
    let p = wraith_engine::plan::plan(&source, source.identity.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let repo = wraith_engine::repo::Repository::open_or_create(dir.path()).unwrap();
    let opts = wraith_engine::pipeline::save::SaveOptions {
        name: "pc".into(),
        machine: None,
        all_sectors: false,
        zstd_level: None,
    };
    let rep = wraith_engine::pipeline::save::save(
        &source,
        &p,
        &repo,
        &opts,
        &wraith_engine::events::Ctx::quiet(),
    )
    .unwrap();
    let repo = std::sync::Arc::new(wraith_engine::repo::Repository::open(dir.path()).unwrap());
    let disk = wraith_engine::repo::image_disk::ImageDisk::open(repo, &rep.image).unwrap();
    let mut checked = 0;
    for part in &src.parts {
        let want = wraith_testkit::files(&src.path, part).unwrap();
        if want.is_empty() {
            continue;
        }
        let region = disk
            .manifest()
            .regions
            .iter()
            .find(|r| {
                r.region.kind
                    == wraith_engine::plan::RegionKind::Partition {
                        number: part.number,
                    }
            })
            .unwrap();
        let slice = Slice {
            dev: &disk,
            offset: region.region.start,
            len: region.region.len,
        };
        let fs = reader::open(&slice).unwrap();
        let got = walk(fs.as_ref());
        for (path, data) in &want {
            let n = &got[&format!("/{path}")];
            assert!(
                n.data == *data,
                "partition {} {path}: bytes differ",
                part.number
            );
        }
        checked += 1;
    }
    assert!(checked >= 2, "the fixture has filesystems with files");
}

/// Damaged copies (random bytes overwritten in the metadata area) give errors or
/// differently-read files, never a panic or a hang.
#[test]
fn damaged_filesystems_never_panic() {
    if !have(&["mkfs.ext4", "mkfs.vfat", "mkntfs"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    std::fs::create_dir(&src).unwrap();
    host_tree(&src, 5);
    let mut images = Vec::new();
    let e = t.path().join("e.img");
    run_ok(
        "mkfs.ext4",
        &[
            "-q",
            "-F",
            "-d",
            src.to_str().unwrap(),
            e.to_str().unwrap(),
            "8M",
        ],
    );
    images.push(e);
    let f = t.path().join("f.img");
    image(&f, 8 << 20, 0);
    run_ok("mkfs.vfat", &[f.to_str().unwrap()]);
    mtools(
        &f,
        &["mcopy", "-s", src.join("sub").to_str().unwrap(), "::"],
    );
    images.push(f);
    let n = t.path().join("n.img");
    image(&n, 8 << 20, 0);
    run_ok("mkntfs", &["-q", "-F", "-f", n.to_str().unwrap()]);
    images.push(n);
    for img in images {
        let orig = std::fs::read(&img).unwrap();
        for round in 0..40u64 {
            let mut b = orig.clone();
            let noise = bytes(round, 64);
            // Damage somewhere in the first 4 MiB, where these keep their metadata.
            let at = (u64::from_le_bytes(noise[0..8].try_into().unwrap()) % (4 << 20)) as usize;
            let at = at & !511;
            b[at..at + 512]
                .iter_mut()
                .zip(noise.iter().cycle())
                .for_each(|(x, n)| *x ^= n);
            let _ = try_walk(&b as &dyn ReadAt);
        }
    }
}

fn try_walk(b: &dyn ReadAt) -> wraith_engine::error::Result<usize> {
    let fs = reader::open(b)?;
    let mut n = 0usize;
    let mut stack = vec![fs.root()?];
    while let Some(d) = stack.pop() {
        for e in fs.list(&d)? {
            n += 1;
            if n > 100_000 {
                return Ok(n);
            }
            match e.kind {
                EntryKind::Dir => stack.push(e),
                EntryKind::File => {
                    if let Ok(f) = fs.open(&e) {
                        let len = f.size().min(1 << 20) as usize;
                        let _ = f.read_vec(0, len);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(n)
}

/// A directory entry naming an inode past the filesystem's end is listed as unreadable (with
/// why), and its siblings are still listed and read.
#[test]
fn a_bad_entry_does_not_hide_its_siblings() {
    if !have(&["mkfs.ext4"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("good.txt"), b"still here\n").unwrap();
    std::fs::write(src.join("brokenentry"), b"x").unwrap();
    let img = t.path().join("e.img");
    run_ok(
        "mkfs.ext4",
        &[
            "-q",
            "-F",
            "-d",
            src.to_str().unwrap(),
            img.to_str().unwrap(),
            "8M",
        ],
    );
    // The entry's inode number is the 4 bytes 8 before its name.
    let mut b = std::fs::read(&img).unwrap();
    let at = b.windows(11).position(|w| w == b"brokenentry").unwrap();
    b[at - 8..at - 4].copy_from_slice(&0x7FFF_FFF0u32.to_le_bytes());
    let fs_bytes: &dyn ReadAt = &b;
    let fs = reader::open(fs_bytes).unwrap();
    let root = fs.root().unwrap();
    let list = fs.list(&root).unwrap();
    let bad = list.iter().find(|e| e.name == b"brokenentry").unwrap();
    assert_eq!(bad.kind, EntryKind::Other);
    assert!(
        bad.unsupported
            .as_deref()
            .unwrap_or("")
            .contains("unreadable"),
        "{:?}",
        bad.unsupported
    );
    let good = list.iter().find(|e| e.name == b"good.txt").unwrap();
    assert_eq!(
        fs.open(good).unwrap().read_vec(0, 11).unwrap(),
        b"still here\n"
    );
}

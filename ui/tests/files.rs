//! `wraith files` and `wraith extract` end to end: files copied out of a saved image's
//! partitions (FAT32, ext4, NTFS) are byte-identical to what the real tools read from the
//! source disk; ext metadata (mode, mtime, symlinks, hard links) survives; an existing DEST is
//! refused without --force; and crafted images (a symlink and a directory under one name, a
//! name holding `/`, a FAT long name of `..`) never write outside DEST or through a symlink.
#![allow(clippy::panic, clippy::unwrap_used)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};
use wraith_testkit as kit;

fn wraith(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wraith"))
        .args(args)
        .output()
        .expect("running wraith")
}

fn ok(args: &[&str]) -> String {
    let o = wraith(args);
    assert!(
        o.status.success(),
        "wraith {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every regular file under `dir` by '/'-separated relative path.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                let rel = e
                    .path()
                    .strip_prefix(dir)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string();
                out.insert(rel, std::fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

#[test]
fn files_extracted_from_a_saved_image_are_the_disks_files() {
    kit::require_tools();
    let disk = kit::gpt_disk();
    let repo = tempfile::tempdir().unwrap();
    let spec = format!("{}:pc", s(repo.path()));
    ok(&["save", s(&disk.path), &spec]);
    for part in &disk.parts {
        let want = kit::files(&disk.path, part).unwrap();
        if want.is_empty() {
            continue;
        }
        // The listing names the top-level files.
        let listing: Value =
            serde_json::from_str(ok(&["--json", "files", &spec, &part.number.to_string()]).trim())
                .unwrap();
        let names: Vec<&str> = listing["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        for top in want.keys().filter(|k| !k.contains('/')) {
            assert!(names.contains(&top.as_str()), "{top} not listed: {names:?}");
        }
        let out = tempfile::tempdir().unwrap();
        let dest = out.path().join("p");
        ok(&["extract", &spec, &format!("{}:/", part.number), s(&dest)]);
        let mut got = tree(&dest);
        got.retain(|k, _| !k.starts_with("lost+found"));
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "partition {}",
            part.number
        );
        for (k, v) in &want {
            assert!(got[k] == *v, "partition {} {k}: bytes differ", part.number);
        }
        // Again: every entry exists now, so each is refused (exit 3) and left as it was.
        let (first, data) = want.iter().next().unwrap();
        std::fs::write(dest.join(first), b"mine").unwrap();
        let again = wraith(&["extract", &spec, &format!("{}:/", part.number), s(&dest)]);
        assert_eq!(
            again.status.code(),
            Some(3),
            "existing entries must be refused"
        );
        assert_eq!(std::fs::read(dest.join(first)).unwrap(), b"mine");
        let forced = wraith(&[
            "extract",
            &spec,
            &format!("{}:/{first}", part.number),
            s(&dest.join(first)),
            "--force",
        ]);
        assert!(
            forced.status.success(),
            "{}",
            String::from_utf8_lossy(&forced.stderr)
        );
        assert!(std::fs::read(dest.join(first)).unwrap() == *data);
    }
}

fn debugfs(img: &Path, cmds: &str) {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), cmds).unwrap();
    let o = Command::new("debugfs")
        .args(["-w", "-f", s(f.path()), s(img)])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "debugfs: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Renames a directory entry in place by patching its bytes: `from` and `to` have one length.
fn patch_name(img: &Path, from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let mut b = std::fs::read(img).unwrap();
    let at = b
        .windows(from.len())
        .position(|w| w == from)
        .unwrap_or_else(|| panic!("{:?} not in the image", String::from_utf8_lossy(from)));
    b[at..at + to.len()].copy_from_slice(to);
    std::fs::write(img, b).unwrap();
}

#[test]
fn ext4_metadata_survives_and_crafted_names_never_escape() {
    if kit::find_tool("debugfs").is_none() {
        kit::skip_missing_tool("debugfs", "crafted ext4 extraction");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(src.join("sub/data.bin"), &payload).unwrap();
    std::fs::set_permissions(
        src.join("sub/data.bin"),
        std::fs::Permissions::from_mode(0o751),
    )
    .unwrap();
    std::fs::hard_link(src.join("sub/data.bin"), src.join("twin.bin")).unwrap();
    std::os::unix::fs::symlink("sub/data.bin", src.join("link")).unwrap();
    let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_234_567_890);
    std::fs::File::options()
        .write(true)
        .open(src.join("sub/data.bin"))
        .unwrap()
        .set_times(std::fs::FileTimes::new().set_modified(old))
        .unwrap();
    let img = t.path().join("e.img");
    let o = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-d", s(&src), s(&img), "16M"])
        .output()
        .unwrap();
    assert!(o.status.success());
    // Crafted: a symlink "evil" to a directory outside; a directory also named "evil" (a
    // second name of realdir, renamed by patching) holding a file; a file named "../../zz".
    let outside = t.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let bait = t.path().join("bait");
    std::fs::write(&bait, b"must not leave DEST").unwrap();
    debugfs(
        &img,
        &format!(
            "symlink evil {}\nmkdir realdir\nwrite {} realdir/x\nln realdir evix\nwrite {} slashnam\n",
            outside.display(),
            bait.display(),
            bait.display()
        ),
    );
    patch_name(&img, b"evix", b"evil");
    patch_name(&img, b"slashnam", b"../../zz");

    let listing = ok(&["files", s(&img), "0"]);
    assert!(listing.contains("evil ->"), "{listing}");
    for force in [false, true] {
        let dest = t.path().join(format!("out-{force}"));
        // DEST already holds a symlink where the image has the directory realdir.
        std::fs::create_dir(&dest).unwrap();
        std::os::unix::fs::symlink(&outside, dest.join("realdir")).unwrap();
        let mut args = vec!["extract", s(&img), "0:/", s(&dest)];
        if force {
            args.push("--force");
        }
        let o = wraith(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "skips are reported: {err}");
        assert!(err.contains("../../zz") && err.contains("skipped"), "{err}");
        // Nothing went through the symlink or up the tree.
        assert_eq!(
            std::fs::read_dir(&outside).unwrap().count(),
            0,
            "wrote through a symlink"
        );
        // "../../zz" from DEST's root would land next to the test's directory.
        let escaped = t.path().parent().unwrap().join("zz");
        assert!(
            !escaped.exists() && !t.path().join("zz").exists(),
            "escaped DEST"
        );
        // The ordinary files are all there, as they were.
        let got = std::fs::read(dest.join("sub/data.bin")).unwrap();
        assert!(got == payload);
        let m = std::fs::metadata(dest.join("sub/data.bin")).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o751);
        assert_eq!(m.mtime(), 1_234_567_890);
        let twin = std::fs::metadata(dest.join("twin.bin")).unwrap();
        assert_eq!(twin.ino(), m.ino(), "hard link kept");
        assert_eq!(
            std::fs::read_link(dest.join("link")).unwrap(),
            Path::new("sub/data.bin")
        );
        let rd = std::fs::symlink_metadata(dest.join("realdir")).unwrap();
        if force {
            // Replaced by the directory, never followed.
            assert!(rd.is_dir());
            assert_eq!(
                std::fs::read(dest.join("realdir/x")).unwrap(),
                b"must not leave DEST"
            );
        } else {
            assert!(rd.file_type().is_symlink(), "replaced without --force");
        }
        // The second name of realdir is not walked again (a directory met twice), and the
        // symlink stays a symlink, with or without --force.
        assert!(err.contains("met before"), "{err}");
        let m = std::fs::symlink_metadata(dest.join("evil")).unwrap();
        assert!(m.file_type().is_symlink());
    }
}

#[test]
fn fat_long_names_that_are_paths_are_skipped() {
    if kit::find_tool("mcopy").is_none() {
        kit::skip_missing_tool("mcopy", "crafted FAT extraction");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let img = t.path().join("f.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(8 << 20)
        .unwrap();
    assert!(Command::new("mkfs.vfat")
        .arg(s(&img))
        .output()
        .unwrap()
        .status
        .success());
    for (name, body) in [
        ("dotdot_name_here.txt", "a"),
        ("slash_name_here.txt", "b"),
        ("Ordinary Long Name.txt", "c"),
    ] {
        let p = t.path().join(name);
        std::fs::write(&p, body).unwrap();
        let o = Command::new("mcopy")
            .args(["-i", s(&img), s(&p), "::"])
            .env("MTOOLS_SKIP_CHECK", "1")
            .output()
            .unwrap();
        assert!(o.status.success());
    }
    // The first long-name piece holds 5 UTF-16 units: ".." then the terminator, and "a/b..".
    let u16s = |x: &str| -> Vec<u8> { x.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    patch_name(
        &img,
        &u16s("dotdo"),
        &[u16s(".."), vec![0, 0], u16s("xx")].concat(),
    );
    patch_name(&img, &u16s("slash"), &u16s("a/../"));
    let dest = t.path().join("out");
    let o = wraith(&["extract", s(&img), "0:/", s(&dest)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    let got = tree(&dest);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        vec!["Ordinary Long Name.txt"],
        "only the ordinary name is created: {err}"
    );
    assert_eq!(got["Ordinary Long Name.txt"], b"c");
    assert!(err.matches("skipped").count() >= 2, "{err}");
}

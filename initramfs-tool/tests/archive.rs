//! Archive-level behaviour: round trips, the real cpio(1), determinism, errors, hostile input.
#![allow(clippy::unwrap_used, clippy::panic)] // test helpers, not only #[test] fns

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use initramfs_tool::newc::{compress_zstd, read_archive, read_newc, write_image};
use initramfs_tool::{build, BuildOptions, Config, Error, DEFAULT_READ_LIMIT};

/// A small source tree and a config using every entry type.
fn fixture(dir: &Path) -> Config {
    std::fs::create_dir_all(dir.join("tree/sub")).unwrap();
    std::fs::write(dir.join("tree/a.rules"), "ACTION==\"add\"\n").unwrap();
    std::fs::write(dir.join("tree/sub/b.txt"), "bee\n").unwrap();
    std::os::unix::fs::symlink("../a.rules", dir.join("tree/sub/link")).unwrap();
    std::fs::write(dir.join("hello.txt"), "hello, world\n").unwrap();
    std::fs::write(dir.join("odd-length"), "12345").unwrap();
    let text = format!(
        r#"
[vars]
SRC = "{src}"

[[file]]
src = "${{SRC}}/hello.txt"
dest = "/etc/hello"

[[file]]
src = "${{SRC}}/odd-length"
dest = "/usr/share/odd"
mode = 0o600

[[file]]
src = "${{SRC}}/nope"
dest = "/etc/nope"
optional = true

[[tree]]
src = "${{SRC}}/tree"
dest = "/lib/udev/rules.d"

[[dir]]
paths = ["/proc", "/sys"]

[[dir]]
path = "/tmp"
mode = 0o1777

[[symlink]]
target = "hello"
paths = ["/etc/hi", "/etc/hey"]

[[node]]
path = "/dev/console"
type = "char"
major = 5
minor = 1
"#,
        src = dir.display()
    );
    Config::parse(&text).unwrap()
}

fn names(entries: &[initramfs_tool::ArchiveEntry]) -> Vec<String> {
    entries.iter().map(|e| e.name.clone()).collect()
}

#[test]
fn round_trip_through_own_reader_keeps_every_entry() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = fixture(dir.path());
    let built = build(&cfg, &BuildOptions::default()).unwrap();
    assert_eq!(built.warnings.len(), 1, "{:?}", built.warnings);
    assert!(built.warnings[0].contains("/etc/nope"));
    let raw = write_image(&built.image, 0).unwrap();
    let entries = read_newc(&raw).unwrap();
    assert_eq!(
        names(&entries),
        [
            "dev",
            "dev/console",
            "etc",
            "etc/hello",
            "etc/hey",
            "etc/hi",
            "lib",
            "lib/udev",
            "lib/udev/rules.d",
            "lib/udev/rules.d/a.rules",
            "lib/udev/rules.d/sub",
            "lib/udev/rules.d/sub/b.txt",
            "lib/udev/rules.d/sub/link",
            "proc",
            "sys",
            "tmp",
            "usr",
            "usr/share",
            "usr/share/odd",
        ]
    );
    let by_name: BTreeMap<&str, _> = entries.iter().map(|e| (e.name.as_str(), e)).collect();
    assert_eq!(by_name["etc/hello"].data, b"hello, world\n");
    assert_eq!(by_name["etc/hello"].mode, 0o100_644);
    assert_eq!(by_name["usr/share/odd"].mode, 0o100_600);
    assert_eq!(by_name["etc/hi"].data, b"hello");
    assert_eq!(by_name["etc/hi"].mode, 0o120_777);
    assert_eq!(by_name["lib/udev/rules.d/sub/link"].data, b"../a.rules");
    assert_eq!(by_name["tmp"].mode, 0o041_777);
    assert_eq!(by_name["tmp"].nlink, 2);
    let console = by_name["dev/console"];
    assert_eq!(
        (console.mode, console.rdev_major, console.rdev_minor),
        (0o020_600, 5, 1)
    );
    // Deterministic metadata: sequential inodes, owner 0:0.
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.ino, i as u32 + 1);
        assert_eq!((e.uid, e.gid, e.mtime), (0, 0, 0));
    }
    // Compressed archives read back the same.
    let zst = compress_zstd(&raw, 3).unwrap();
    assert_eq!(read_archive(&zst, DEFAULT_READ_LIMIT).unwrap(), entries);
}

#[test]
fn real_cpio_lists_and_extracts_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = fixture(dir.path());
    // Extracting a device node needs root; cpio -t still sees it in the listing test below.
    let nodes = std::mem::take(&mut cfg.nodes);
    let built = build(&cfg, &BuildOptions::default()).unwrap();
    let raw = write_image(&built.image, 0).unwrap();
    let archive = dir.path().join("a.cpio");
    std::fs::write(&archive, &raw).unwrap();

    let out = Command::new("cpio")
        .args(["-t", "--quiet", "-F"])
        .arg(&archive)
        .output()
        .expect("cpio installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(listed, names(&read_newc(&raw).unwrap()));

    let dest = dir.path().join("x");
    std::fs::create_dir(&dest).unwrap();
    let out = Command::new("cpio")
        .args([
            "-i",
            "--quiet",
            "-d",
            "--no-absolute-filenames",
            "--no-preserve-owner",
            "-F",
        ])
        .arg(&archive)
        .current_dir(&dest)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (path, entry) in built.image.entries() {
        let on_disk = dest.join(path.trim_start_matches('/'));
        match &entry.kind {
            initramfs_tool::Kind::File { data, .. } => {
                assert_eq!(&std::fs::read(&on_disk).unwrap(), data, "{path}")
            }
            initramfs_tool::Kind::Symlink { target } => {
                assert_eq!(
                    std::fs::read_link(&on_disk).unwrap().to_str().unwrap(),
                    target,
                    "{path}"
                )
            }
            initramfs_tool::Kind::Dir { .. } => assert!(on_disk.is_dir(), "{path}"),
            other => panic!("unexpected {other:?}"),
        }
    }

    // And with the device node back in, cpio -tv shows it as a char device 5,1.
    cfg.nodes = nodes;
    let raw = write_image(&build(&cfg, &BuildOptions::default()).unwrap().image, 0).unwrap();
    std::fs::write(&archive, &raw).unwrap();
    let out = Command::new("cpio")
        .args(["-tv", "--quiet", "-F"])
        .arg(&archive)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().find(|l| l.ends_with("dev/console")).unwrap();
    assert!(
        line.starts_with("crw-------") && line.contains("5,") && line.contains('1'),
        "{line}"
    );
}

#[test]
fn two_builds_are_byte_identical_also_compressed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = fixture(dir.path());
    let a = write_image(&build(&cfg, &BuildOptions::default()).unwrap().image, 0).unwrap();
    // Touch the sources' timestamps: they must not matter.
    std::fs::write(dir.path().join("hello.txt"), "hello, world\n").unwrap();
    let b = write_image(&build(&cfg, &BuildOptions::default()).unwrap().image, 0).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        compress_zstd(&a, 19).unwrap(),
        compress_zstd(&b, 19).unwrap()
    );
}

#[test]
fn cli_respects_source_date_epoch_and_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let _ = fixture(&src);
    let cfg_path = dir.path().join("rootfs.toml");
    std::fs::write(
        &cfg_path,
        "[[file]]\nsrc = \"${SRC}/hello.txt\"\ndest = \"/etc/hello\"\n",
    )
    .unwrap();
    let run = |epoch: Option<&str>, out: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_initramfs-tool"));
        cmd.arg("build")
            .arg("--config")
            .arg(&cfg_path)
            .arg("--overlay")
            .arg(src.join("tree"));
        cmd.arg("--var")
            .arg(format!("SRC={}", src.display()))
            .arg("-o")
            .arg(dir.path().join(out));
        cmd.env_remove("SOURCE_DATE_EPOCH");
        if let Some(e) = epoch {
            cmd.env("SOURCE_DATE_EPOCH", e);
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read(dir.path().join(out)).unwrap()
    };
    let a = run(Some("1700000000"), "a.cpio.zst");
    let b = run(Some("1700000000"), "b.cpio.zst");
    assert_eq!(a, b);
    let entries = read_archive(&a, DEFAULT_READ_LIMIT).unwrap();
    assert!(entries.iter().all(|e| e.mtime == 1_700_000_000));
    assert!(
        entries.iter().any(|e| e.name == "a.rules"),
        "overlay copied over /"
    );
    let zero = read_archive(&run(None, "c.cpio.zst"), DEFAULT_READ_LIMIT).unwrap();
    assert!(zero.iter().all(|e| e.mtime == 0));

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_initramfs-tool"));
    let o = cmd
        .arg("list")
        .arg(dir.path().join("a.cpio.zst"))
        .output()
        .unwrap();
    let listing = String::from_utf8(o.stdout).unwrap();
    assert!(
        listing.contains("-rw-r--r--    0/0            13 /etc/hello"),
        "{listing}"
    );
    assert!(listing.contains("/sub/link -> ../a.rules"), "{listing}");

    let o = Command::new(env!("CARGO_BIN_EXE_initramfs-tool"))
        .args(["build", "--config"])
        .arg(&cfg_path)
        .arg("-o")
        .arg(dir.path().join("d.cpio"))
        .env("SOURCE_DATE_EPOCH", "yesterday")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("SOURCE_DATE_EPOCH"));
}

#[test]
fn conflicting_entries_name_both_sources() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("one"), "1").unwrap();
    std::fs::write(dir.path().join("two"), "2").unwrap();
    let d = dir.path().display();
    let cfg = Config::parse(&format!(
        "[[file]]\nsrc = \"{d}/one\"\ndest = \"/etc/x\"\n[[file]]\nsrc = \"{d}/two\"\ndest = \"/etc/x\"\n"
    ))
    .unwrap();
    let err = build(&cfg, &BuildOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("/etc/x") && msg.matches("[[file]]").count() == 2,
        "{msg}"
    );

    // Identical content twice is fine.
    let cfg = Config::parse(&format!(
        "[[file]]\nsrc = \"{d}/one\"\ndest = \"/etc/x\"\n[[file]]\nsrc = \"{d}/one\"\ndest = \"/etc/x\"\n"
    ))
    .unwrap();
    build(&cfg, &BuildOptions::default()).unwrap();

    // A symlink and a file at one path conflict too.
    let cfg = Config::parse(&format!(
        "[[file]]\nsrc = \"{d}/one\"\ndest = \"/bin/sh\"\n[[symlink]]\npath = \"/bin/sh\"\ntarget = \"busybox\"\n"
    ))
    .unwrap();
    let msg = build(&cfg, &BuildOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("/bin/sh") && msg.contains("[[symlink]]") && msg.contains("[[file]]"),
        "{msg}"
    );
}

#[test]
fn missing_required_files_and_unset_vars_name_the_entry_and_path() {
    let cfg = Config::parse(
        "[[file]]\nsrc = \"/nonexistent/udev.conf\"\ndest = \"/etc/udev/udev.conf\"\n",
    )
    .unwrap();
    let err = build(&cfg, &BuildOptions::default()).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("/nonexistent/udev.conf") && msg.contains("dest=\"/etc/udev/udev.conf\""),
        "{msg}"
    );

    let cfg =
        Config::parse("[[binary]]\nsrc = \"${WRAITH}\"\ndest = \"/usr/bin/wraith\"\n").unwrap();
    let msg = build(&cfg, &BuildOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("${WRAITH}") && msg.contains("/usr/bin/wraith") && msg.contains("--var"),
        "{msg}"
    );

    let cfg = Config::parse(
        "[[binary]]\nsrc = \"/nonexistent/bin\"\ndest = \"/bin/x\"\noptional = true\n",
    )
    .unwrap();
    let built = build(&cfg, &BuildOptions::default()).unwrap();
    assert!(built.image.is_empty());
    assert!(built.warnings[0].contains("/nonexistent/bin"));
}

#[test]
fn truncated_or_damaged_archives_are_errors_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = fixture(dir.path());
    let raw = write_image(&build(&cfg, &BuildOptions::default()).unwrap().image, 0).unwrap();
    let zst = compress_zstd(&raw, 3).unwrap();

    // Only the trailer's own padding may be missing (the trailer record is 121 bytes + 3).
    for len in 0..raw.len() - 3 {
        let r = read_newc(&raw[..len]);
        assert!(r.is_err(), "truncated to {len} bytes was accepted");
        assert!(r.unwrap_err().is_corrupt());
    }
    for len in 0..zst.len() {
        assert!(
            read_archive(&zst[..len], DEFAULT_READ_LIMIT).is_err(),
            "zstd truncated to {len}"
        );
    }
    // Bit flips anywhere: whatever comes back, it must come back (Ok or Err) without panicking.
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for _ in 0..20_000 {
        let mut bad = raw.clone();
        for _ in 0..1 + next() % 4 {
            let i = (next() % bad.len() as u64) as usize;
            bad[i] ^= 1 << (next() % 8);
        }
        let _ = read_newc(&bad);
    }
    for _ in 0..2_000 {
        let mut bad = zst.clone();
        let i = (next() % bad.len() as u64) as usize;
        bad[i] ^= 1 << (next() % 8);
        let _ = read_archive(&bad, DEFAULT_READ_LIMIT);
    }
    // Header fields claiming huge sizes must not allocate: a name size of 0xffffffff.
    let mut huge = raw.clone();
    huge[94..102].copy_from_slice(b"ffffffff");
    assert!(read_newc(&huge).unwrap_err().is_corrupt());
    assert!(read_newc(b"garbage garbage garbage")
        .unwrap_err()
        .is_corrupt());
    // A small zstd bomb: 64 MiB of zeros is refused under a 1 MiB limit.
    let bomb = compress_zstd(&vec![0u8; 64 << 20], 1).unwrap();
    assert!(read_archive(&bomb, 1 << 20).unwrap_err().is_corrupt());
}

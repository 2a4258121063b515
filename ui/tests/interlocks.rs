//! The interlocks, as one table: every destructive path (clone's target, restore's target,
//! save's repository) refuses when it would destroy the wrong thing: the target is the source
//! (the same file by another path: symlink, hard link, /proc/PID/fd, a loop device over it), it
//! holds the running live medium, it is mounted, it is too small, or it holds the repository
//! (or the repository lives on the disk being saved). Each refusal exits 2, says why, and
//! leaves every disk byte-identical.
//!
//! Cases that need root (loop devices, mounts, a private mount namespace to play the live
//! system) are skipped with a message when not root.
#![allow(clippy::panic)] // test helpers report failures by panicking

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use wraith_testkit::{self as kit, MIB};

fn wraith_cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wraith"))
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

use wraith_testkit::loopdev::Loop;

fn mount(dev: &str, dir: &Path, opts: &str) -> bool {
    Command::new("mount")
        .args(["-o", opts, dev])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success())
}

/// One row of the table.
struct Case {
    what: String,
    cmd: Command,
    /// Texts the refusal must contain.
    says: Vec<&'static str>,
    /// Files that must come out byte-identical.
    untouched: Vec<PathBuf>,
}

fn case(what: impl Into<String>, args: &[&str], says: &'static str, untouched: &[&Path]) -> Case {
    let mut cmd = wraith_cmd();
    cmd.args(args);
    Case {
        what: what.into(),
        cmd,
        says: says.split(" | ").collect(),
        untouched: untouched.iter().map(|p| p.to_path_buf()).collect(),
    }
}

fn run(mut c: Case) {
    let before: Vec<Vec<u8>> = c
        .untouched
        .iter()
        .map(|p| std::fs::read(p).expect("read"))
        .collect();
    let o: Output = c.cmd.output().expect("running wraith");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{}: not refused: {err}", c.what);
    for says in &c.says {
        assert!(
            err.contains(says),
            "{}: does not say {says:?}: {err}",
            c.what
        );
    }
    for (p, b) in c.untouched.iter().zip(before) {
        assert!(
            std::fs::read(p).expect("read") == b,
            "{}: {} was written",
            c.what,
            p.display()
        );
    }
    eprintln!("refused as it must: {}", c.what);
}

#[test]
fn every_destructive_path_refuses_what_it_must_not_destroy() {
    kit::require_tools();
    let src = kit::raw_disk(); // 32 MiB, no table
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let repo = d.join("repo");
    let spec = format!("{}:x", s(&repo));
    let o = wraith_cmd()
        .args(["save", s(&src.path), &spec])
        .output()
        .expect("save");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sp = s(&src.path);

    let link = d.join("link.img");
    std::os::unix::fs::symlink(&src.path, &link).expect("symlink");
    let hard = d.join("hard.img");
    std::fs::hard_link(&src.path, &hard).expect("hardlink");
    // The source through this test's own open descriptor, as /proc/PID/fd/N.
    let held = std::fs::File::open(&src.path).expect("open");
    let proc_fd = PathBuf::from(format!(
        "/proc/{}/fd/{}",
        std::process::id(),
        std::os::fd::AsRawFd::as_raw_fd(&held)
    ));
    let small = d.join("small.img");
    std::fs::write(&small, vec![7u8; (16 * MIB) as usize]).expect("small");
    let other = d.join("other.img");
    std::fs::write(&other, vec![9u8; (32 * MIB) as usize]).expect("other");
    let inside = repo.join("t.img");
    std::fs::write(&inside, vec![3u8; (32 * MIB) as usize]).expect("inside");
    let into_repo = d.join("into-repo.img");
    std::os::unix::fs::symlink(&inside, &into_repo).expect("symlink");

    let mut cases = vec![
        case(
            "clone onto the source itself",
            &["clone", sp, sp, "--yes"],
            "same disk",
            &[&src.path],
        ),
        case(
            "clone onto a symlink to the source",
            &["clone", sp, s(&link), "--yes"],
            "same disk",
            &[&src.path],
        ),
        case(
            "clone onto a hard link of the source",
            &["clone", sp, s(&hard), "--yes"],
            "same disk",
            &[&src.path],
        ),
        case(
            "clone onto /proc/PID/fd of the source",
            &["clone", sp, s(&proc_fd), "--yes"],
            "same disk",
            &[&src.path],
        ),
        case(
            "clone onto a disk too small",
            &["clone", sp, s(&small), "--yes"],
            "small.img | 16.0 MiB | needs at least | 32.0 MiB",
            &[&small],
        ),
        case(
            "restore onto a disk too small",
            &["restore", &spec, s(&small), "--yes"],
            "needs at least",
            &[&small],
        ),
        case(
            "clone onto an existing disk without --yes and no terminal",
            &["clone", sp, s(&other)],
            "--yes",
            &[&other],
        ),
        case(
            "restore onto an existing disk without --yes and no terminal",
            &["restore", &spec, s(&other)],
            "--yes",
            &[&other],
        ),
        case(
            "restore into the repository",
            &["restore", &spec, s(&inside), "--yes"],
            "holds the repository",
            &[&inside],
        ),
        case(
            "restore onto a symlink into the repository",
            &["restore", &spec, s(&into_repo), "--yes"],
            "holds the repository",
            &[&inside],
        ),
    ];

    if !is_root() {
        eprintln!("skipped the loop device, mount and live medium rows: they need root");
        cases.into_iter().for_each(run);
        return;
    }

    // A loop device over the source is the source.
    let lo_src = Loop::attach(&src.path).expect("losetup");
    cases.push(case(
        "clone onto a loop device over the source",
        &["clone", sp, &lo_src.0, "--yes"],
        "same disk",
        &[&src.path],
    ));
    cases.push(case(
        "clone from a loop device onto its backing file",
        &["clone", &lo_src.0, sp, "--yes"],
        "same disk",
        &[&src.path],
    ));

    // A mounted target: an ext4 disk mounted read-only (so the kernel leaves its bytes alone).
    let floppy = kit::superfloppy_ext4();
    let lo_fl = Loop::attach(&floppy.path).expect("losetup");
    let mnt = tempfile::tempdir().expect("tempdir");
    assert!(mount(&lo_fl.0, mnt.path(), "ro"), "mount");
    cases.push(case(
        "clone onto a mounted disk",
        &["clone", sp, &lo_fl.0, "--yes"],
        "mounted",
        &[&floppy.path],
    ));
    cases.push(case(
        "clone onto the file behind a mounted loop device",
        &["clone", sp, s(&floppy.path), "--yes"],
        "mounted",
        &[&floppy.path],
    ));
    cases.push(case(
        "restore onto a mounted disk",
        &["restore", &spec, &lo_fl.0, "--yes"],
        "mounted",
        &[&floppy.path],
    ));

    // A repository on a mounted filesystem: its disk may not be restored onto, and a save of
    // that disk may not put its image there.
    let host = kit::superfloppy_ext4();
    let lo_host = Loop::attach(&host.path).expect("losetup");
    let hmnt = tempfile::tempdir().expect("tempdir");
    assert!(mount(&lo_host.0, hmnt.path(), "rw"), "mount");
    let hrepo = hmnt.path().join("images");
    let hspec = format!("{}:x", s(&hrepo));
    let o = wraith_cmd()
        .args(["save", sp, &hspec])
        .output()
        .expect("save");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let _ = Command::new("sync").status();
    cases.push(case(
        "restore onto the file behind the repository's loop device",
        &["restore", &hspec, s(&host.path), "--yes"],
        "mounted",
        &[],
    ));
    let new_repo = format!("{}:y", s(&hmnt.path().join("new-repo")));
    cases.push(case(
        "save into a repository on the disk being saved",
        &["save", &lo_host.0, &new_repo],
        "on the source disk",
        &[],
    ));
    cases.push(case(
        "save of an image file into a repository on it",
        &["save", s(&host.path), &new_repo],
        "on the source disk",
        &[],
    ));

    // The running live medium: a disk with a Wraith ISO volume descriptor, while wraith runs as
    // the live system (the marker file, present only in a private mount namespace here).
    let medium = d.join("medium.img");
    let mut iso = vec![0u8; (40 * MIB) as usize];
    iso[32768] = 1;
    iso[32769..32774].copy_from_slice(b"CD001");
    iso[32768 + 40..32768 + 46].copy_from_slice(b"WRAITH");
    std::fs::write(&medium, &iso).expect("medium");
    let etc = d.join("etc");
    let live = |args: &[&str]| {
        let mut cmd = Command::new("unshare");
        cmd.args(["-m", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "cp -a /etc/. '{0}' && touch '{0}/wraith-live' && mount --bind '{0}' /etc && exec \"$@\"",
                s(&etc)
            ))
            .arg("sh")
            .arg(env!("CARGO_BIN_EXE_wraith"))
            .args(args);
        cmd
    };
    std::fs::create_dir_all(&etc).expect("etc");
    cases.push(Case {
        what: "clone onto the running live medium".into(),
        cmd: live(&["clone", sp, s(&medium), "--yes"]),
        says: vec!["live medium"],
        untouched: vec![medium.clone()],
    });
    cases.push(Case {
        what: "restore onto the running live medium".into(),
        cmd: live(&["restore", &spec, s(&medium), "--yes"]),
        says: vec!["live medium"],
        untouched: vec![medium.clone()],
    });
    cases.into_iter().for_each(run);
    // The same medium is an ordinary disk for a host: the refusal above came from being live.
    let o = wraith_cmd()
        .args(["clone", sp, s(&medium), "--yes"])
        .output()
        .expect("clone");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let _ = Command::new("umount").arg(hmnt.path()).status();
    let _ = Command::new("umount").arg(mnt.path()).status();
}

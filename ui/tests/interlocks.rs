//! The interlocks, as one refusal matrix: every case is run through all three front ends —
//! the CLI (`wraith clone/save/restore …`), an unattended job (`wraith job --inline …`) and the
//! TUI (its state machine driven by keys) — and each must be refused by the same rule with the
//! same engine message, leaving every disk byte-identical. The cases: the target is the
//! source (the same file by another path: symlink, hard link, /proc/PID/fd, a loop device over
//! it), it is mounted, it holds the running live medium, it is too small, it holds the
//! repository, or the repository of a save lives on the disk being saved.
//!
//! The TUI runs in a child process (this test binary again, see [`tui_front_end_of_the_matrix`])
//! so that the live-medium rows can put it in the same private mount namespace as the CLI and
//! the job. It only offers disks from its list, so each case's disks are its list.
//!
//! Cases that need root (loop devices, mounts, a private mount namespace to play the live
//! system) are skipped with a message when not root.
#![allow(clippy::panic)] // test helpers report failures by panicking

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use wraith_engine::Interlock;
use wraith_testkit::loopdev::Loop;
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

fn mount(dev: &str, dir: &Path, opts: &str) -> bool {
    Command::new("mount")
        .args(["-o", opts, dev])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success())
}

/// What a case asks for, in the terms every front end can express.
#[derive(Clone, Debug)]
enum Op {
    Clone {
        source: String,
        target: String,
    },
    /// The image name is the disk's model in the TUI's list (the TUI names images by it).
    Save {
        source: String,
        repo: String,
        name: String,
    },
    Restore {
        repo: String,
        image: String,
        target: String,
    },
}

/// How the TUI meets a case.
#[derive(Clone, Copy, Debug)]
enum Tui {
    /// The disk is picked from the list and the engine refuses it.
    Engine,
    /// The list already greys the target with this reason (the source's own path): it cannot
    /// be picked, so it never reaches the engine.
    Greyed(&'static str),
    /// The list greys the target by the size udev reports (this reason); with a list entry
    /// claiming a size that fits (a disk whose reported size is wrong), the pick reaches the
    /// engine, which refuses it. Both are checked.
    GreyedUnlessClaimed(&'static str),
}

/// One row of the matrix.
struct Case {
    what: String,
    op: Op,
    interlock: Interlock,
    /// Texts the CLI's refusal must contain.
    says: Vec<&'static str>,
    /// Files that must come out byte-identical from every front end.
    untouched: Vec<PathBuf>,
    tui: Tui,
    /// Run every front end as the live system (in a private mount namespace).
    live: Option<PathBuf>,
}

fn case(
    what: impl Into<String>,
    op: Op,
    interlock: Interlock,
    says: &'static str,
    untouched: &[&Path],
) -> Case {
    Case {
        what: what.into(),
        op,
        interlock,
        says: says.split(" | ").collect(),
        untouched: untouched.iter().map(|p| p.to_path_buf()).collect(),
        tui: Tui::Engine,
        live: None,
    }
}

impl Case {
    fn tui(mut self, t: Tui) -> Self {
        self.tui = t;
        self
    }
}

/// `program args…`, as the live system when `live` names a scratch copy of /etc: a private
/// mount namespace where /etc holds the live marker, and /proc/consoles is empty so a job's
/// result line is not copied to this machine's real consoles.
fn command(live: &Option<PathBuf>, program: &Path, args: &[String]) -> Command {
    let Some(etc) = live else {
        let mut cmd = Command::new(program);
        cmd.args(args);
        return cmd;
    };
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "cp -a /etc/. '{0}' && touch '{0}/wraith-live' && mount --bind '{0}' /etc && \
             mount --bind /dev/null /proc/consoles && exec \"$@\"",
            s(etc)
        ))
        .arg("sh")
        .arg(program)
        .args(args);
    cmd
}

/// A refusal as a front end showed it.
#[derive(Debug, PartialEq)]
struct Refusal {
    /// The engine's words, after "refused: ".
    message: String,
    interlock: Option<Interlock>,
}

fn after_refused(text: &str) -> Option<String> {
    text.split_once("refused: ")
        .map(|(_, m)| m.trim().to_string())
}

fn interlock_of(v: &Value) -> Option<Interlock> {
    serde_json::from_value(v["interlock"].clone()).ok()
}

fn cli(c: &Case) -> Refusal {
    let mut args: Vec<String> = vec!["--json".into()];
    args.extend(match &c.op {
        Op::Clone { source, target } => {
            vec![
                "clone".into(),
                source.clone(),
                target.clone(),
                "--yes".into(),
            ]
        }
        Op::Save { source, repo, name } => {
            vec!["save".into(), source.clone(), format!("{repo}:{name}")]
        }
        Op::Restore {
            repo,
            image,
            target,
        } => vec![
            "restore".into(),
            format!("{repo}:{image}"),
            target.clone(),
            "--yes".into(),
        ],
    });
    let o: Output = command(&c.live, Path::new(env!("CARGO_BIN_EXE_wraith")), &args)
        .output()
        .expect("running wraith");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}: CLI not refused: {err}",
        c.what
    );
    for says in &c.says {
        assert!(
            err.contains(says),
            "{}: the CLI does not say {says:?}: {err}",
            c.what
        );
    }
    let out = String::from_utf8_lossy(&o.stdout);
    let v: Value = out
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("{}: no JSON result from the CLI: {out}", c.what));
    let message = v["error"]
        .as_str()
        .and_then(after_refused)
        .unwrap_or_else(|| panic!("{}: the CLI's error is not a refusal: {v}", c.what));
    Refusal {
        message,
        interlock: interlock_of(&v),
    }
}

fn job(c: &Case) -> Refusal {
    let inline = match &c.op {
        Op::Clone { source, target } => format!("action=clone source={source} target={target}"),
        Op::Save { source, repo, name } => {
            format!("action=save source={source} repository={repo} image={name}")
        }
        Op::Restore {
            repo,
            image,
            target,
        } => format!("action=restore repository={repo} image={image} target={target}"),
    };
    let args = ["job".to_string(), "--inline".into(), inline];
    let o = command(&c.live, Path::new(env!("CARGO_BIN_EXE_wraith")), &args)
        .output()
        .expect("running wraith job");
    let out = String::from_utf8_lossy(&o.stdout);
    let v: Value = out
        .lines()
        .find_map(|l| l.strip_prefix("WRAITH-RESULT "))
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_else(|| {
            panic!(
                "{}: no WRAITH-RESULT from the job: {out}{}",
                c.what,
                String::from_utf8_lossy(&o.stderr)
            )
        });
    // A failed job stops in the shell, where a technician sees why.
    assert_eq!(o.status.code(), Some(102), "{}: {v}", c.what);
    assert_eq!(v["result"], "error", "{}: job not refused: {v}", c.what);
    let message = v["error"]
        .as_str()
        .and_then(after_refused)
        .unwrap_or_else(|| panic!("{}: the job's error is not a refusal: {v}", c.what));
    Refusal {
        message,
        interlock: interlock_of(&v),
    }
}

const TUI_CASE: &str = "WRAITH_TUI_CASE";

/// What the TUI child reports: how far the pick got, and the refusal it showed.
fn tui(c: &Case, claims: Option<u64>) -> Value {
    let (action, source, target, repo, image) = match &c.op {
        Op::Clone { source, target } => ("clone", Some(source), Some(target), None, None),
        Op::Save { source, repo, name } => ("save", Some(source), None, Some(repo), Some(name)),
        Op::Restore {
            repo,
            image,
            target,
        } => ("restore", None, Some(target), Some(repo), Some(image)),
    };
    let spec = json!({
        "action": action, "source": source, "target": target, "repo": repo, "image": image,
        "claims": claims,
    });
    let me = std::env::current_exe().expect("this test binary");
    let args: Vec<String> = [
        "--exact",
        "tui_front_end_of_the_matrix",
        "--nocapture",
        "--test-threads=1",
    ]
    .map(String::from)
    .to_vec();
    let o = command(&c.live, &me, &args)
        .env(TUI_CASE, spec.to_string())
        .output()
        .expect("running the TUI child");
    let out = String::from_utf8_lossy(&o.stdout);
    // The test harness prints the test's name on the same line first.
    out.lines()
        .find_map(|l| l.split_once("TUI-RESULT ").map(|(_, j)| j))
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_else(|| {
            panic!(
                "{}: no result from the TUI child: {out}{}",
                c.what,
                String::from_utf8_lossy(&o.stderr)
            )
        })
}

fn tui_refusal(c: &Case, v: &Value) -> Refusal {
    assert_eq!(v["refused"], "engine", "{}: TUI not refused: {v}", c.what);
    Refusal {
        message: v["message"].as_str().unwrap_or_default().to_string(),
        interlock: interlock_of(v),
    }
}

fn contents(c: &Case) -> Vec<Vec<u8>> {
    c.untouched
        .iter()
        .map(|p| std::fs::read(p).expect("read"))
        .collect()
}

fn check_untouched(c: &Case, before: &[Vec<u8>], front_end: &str) {
    for (p, b) in c.untouched.iter().zip(before) {
        assert!(
            std::fs::read(p).expect("read") == *b,
            "{}: {} was written by the {front_end}",
            c.what,
            p.display()
        );
    }
}

/// Runs one row through the three front ends.
fn run(c: Case) {
    let before = contents(&c);
    let by_cli = cli(&c);
    check_untouched(&c, &before, "CLI");
    assert_eq!(
        by_cli.interlock,
        Some(c.interlock),
        "{}: the CLI names another rule",
        c.what
    );
    let by_job = job(&c);
    check_untouched(&c, &before, "job");
    assert_eq!(by_job, by_cli, "{}: the job and the CLI differ", c.what);
    match c.tui {
        Tui::Engine => {
            let v = tui(&c, None);
            assert_eq!(tui_refusal(&c, &v), by_cli, "{}: the TUI differs", c.what);
        }
        Tui::Greyed(reason) => {
            let v = tui(&c, None);
            assert_eq!(v["refused"], "list", "{}: {v}", c.what);
            assert!(
                v["reason"].as_str().is_some_and(|r| r.contains(reason)),
                "{v}"
            );
        }
        Tui::GreyedUnlessClaimed(reason) => {
            let v = tui(&c, None);
            assert_eq!(v["refused"], "list", "{}: {v}", c.what);
            assert!(
                v["reason"].as_str().is_some_and(|r| r.contains(reason)),
                "{v}"
            );
            let v = tui(&c, Some(1 << 40));
            assert_eq!(tui_refusal(&c, &v), by_cli, "{}: the TUI differs", c.what);
        }
    }
    check_untouched(&c, &before, "TUI");
    eprintln!(
        "refused as it must by the CLI, the job and the TUI: {} ({:?})",
        c.what, c.interlock
    );
}

/// Confirmation is not an interlock, and only the CLI asks for it in words: without `--yes`
/// and without a terminal it refuses. (A job file is its own confirmation; the TUI's typed
/// confirmation is tested with its screens.)
fn cli_needs_yes(what: &str, args: &[&str], untouched: &Path) {
    let before = std::fs::read(untouched).expect("read");
    let o = wraith_cmd().args(args).output().expect("running wraith");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{what}: not refused: {err}");
    assert!(err.contains("--yes"), "{what}: {err}");
    assert!(std::fs::read(untouched).expect("read") == before, "{what}");
    eprintln!("refused as it must: {what}");
}

#[test]
fn every_front_end_refuses_what_it_must_not_destroy_with_the_same_words() {
    kit::require_tools();
    let src = kit::raw_disk(); // 32 MiB, no table
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let repo = d.join("repo");
    let rp = s(&repo).to_string();
    let o = wraith_cmd()
        .args(["save", s(&src.path), &format!("{rp}:x")])
        .output()
        .expect("save");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sp = s(&src.path).to_string();

    let link = d.join("link.img");
    std::os::unix::fs::symlink(&src.path, &link).expect("symlink");
    let hard = d.join("hard.img");
    std::fs::hard_link(&src.path, &hard).expect("hardlink");
    // The source through this test's own open descriptor, as /proc/PID/fd/N (the TUI's
    // child process reads it there too: as root, or as the same user).
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

    let clone = |target: &Path| Op::Clone {
        source: sp.clone(),
        target: s(target).to_string(),
    };
    let restore = |repo: &str, target: &Path| Op::Restore {
        repo: repo.to_string(),
        image: "x".into(),
        target: s(target).to_string(),
    };
    use Interlock::*;
    let mut cases = vec![
        case(
            "clone onto the source itself",
            clone(&src.path),
            SameDisk,
            "same disk",
            &[&src.path],
        )
        // The TUI's list never offers the source's own path as the target.
        .tui(Tui::Greyed("is the source")),
        case(
            "clone onto a symlink to the source",
            clone(&link),
            SameDisk,
            "same disk",
            &[&src.path],
        ),
        case(
            "clone onto a hard link of the source",
            clone(&hard),
            SameDisk,
            "same disk",
            &[&src.path],
        ),
        case(
            "clone onto /proc/PID/fd of the source",
            clone(&proc_fd),
            SameDisk,
            "same disk",
            &[&src.path],
        ),
        case(
            "clone onto a disk too small",
            clone(&small),
            TargetTooSmall,
            "small.img | 16.0 MiB | needs at least | 32.0 MiB",
            &[&small],
        )
        .tui(Tui::GreyedUnlessClaimed("too small")),
        case(
            "restore onto a disk too small",
            restore(&rp, &small),
            TargetTooSmall,
            "needs at least",
            &[&small],
        )
        .tui(Tui::GreyedUnlessClaimed("too small")),
        case(
            "restore into the repository",
            restore(&rp, &inside),
            RepositoryOnTarget,
            "holds the repository",
            &[&inside],
        ),
        case(
            "restore onto a symlink into the repository",
            restore(&rp, &into_repo),
            RepositoryOnTarget,
            "holds the repository",
            &[&inside],
        ),
    ];
    cli_needs_yes(
        "clone onto an existing disk without --yes and no terminal",
        &["clone", &sp, s(&other)],
        &other,
    );
    cli_needs_yes(
        "restore onto an existing disk without --yes and no terminal",
        &["restore", &format!("{rp}:x"), s(&other)],
        &other,
    );

    if !is_root() {
        eprintln!(
            "skipped the loop device, mount, repository-on-the-source and live medium rows: \
             they need root"
        );
        cases.into_iter().for_each(run);
        return;
    }

    // A loop device over the source is the source.
    let lo_src = Loop::attach(&src.path).expect("losetup");
    cases.push(case(
        "clone onto a loop device over the source",
        clone(Path::new(&lo_src.0)),
        SameDisk,
        "same disk",
        &[&src.path],
    ));
    cases.push(case(
        "clone from a loop device onto its backing file",
        Op::Clone {
            source: lo_src.0.clone(),
            target: sp.clone(),
        },
        SameDisk,
        "same disk",
        &[&src.path],
    ));

    // A mounted target: an ext4 disk mounted read-only (so the kernel leaves its bytes alone).
    let floppy = kit::superfloppy_ext4();
    let lo_fl = Loop::attach(&floppy.path).expect("losetup");
    let mnt = tempfile::tempdir().expect("tempdir");
    assert!(mount(&lo_fl.0, mnt.path(), "ro"), "mount");
    // A mounted block device cannot even be opened exclusively: the kernel's EBUSY is the
    // refusal ("in use (mounted or held by the kernel)").
    cases.push(case(
        "clone onto a mounted disk",
        clone(Path::new(&lo_fl.0)),
        InUse,
        "mounted",
        &[&floppy.path],
    ));
    cases.push(case(
        "clone onto the file behind a mounted loop device",
        clone(&floppy.path),
        TargetMounted,
        "mounted",
        &[&floppy.path],
    ));
    cases.push(case(
        "restore onto a mounted disk",
        restore(&rp, Path::new(&lo_fl.0)),
        InUse,
        "mounted",
        &[&floppy.path],
    ));

    // A repository on a mounted filesystem: its disk may not be restored onto, and a save of
    // that disk may not put its image there (the case the TUI used to miss).
    let host = kit::superfloppy_ext4();
    let lo_host = Loop::attach(&host.path).expect("losetup");
    let hmnt = tempfile::tempdir().expect("tempdir");
    assert!(mount(&lo_host.0, hmnt.path(), "rw"), "mount");
    let hrepo = s(&hmnt.path().join("images")).to_string();
    let o = wraith_cmd()
        .args(["save", &sp, &format!("{hrepo}:x")])
        .output()
        .expect("save");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let _ = Command::new("sync").status();
    // The mounted filesystem's own bytes may change (its journal), so nothing is compared.
    cases.push(case(
        "restore onto the file behind the repository's loop device",
        restore(&hrepo, &host.path),
        TargetMounted,
        "mounted",
        &[],
    ));
    let new_repo = s(&hmnt.path().join("new-repo")).to_string();
    cases.push(case(
        "save into a repository on the disk being saved",
        Op::Save {
            source: lo_host.0.clone(),
            repo: new_repo.clone(),
            name: "y".into(),
        },
        RepositoryOnSource,
        "on the source disk",
        &[],
    ));
    cases.push(case(
        "save of an image file into a repository on it",
        Op::Save {
            source: s(&host.path).to_string(),
            repo: new_repo.clone(),
            name: "y".into(),
        },
        RepositoryOnSource,
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
    std::fs::create_dir_all(&etc).expect("etc");
    let mut c = case(
        "clone onto the running live medium",
        clone(&medium),
        BootMedium,
        "live medium",
        &[&medium],
    );
    c.live = Some(etc.clone());
    cases.push(c);
    let mut c = case(
        "restore onto the running live medium",
        restore(&rp, &medium),
        BootMedium,
        "live medium",
        &[&medium],
    );
    c.live = Some(etc.clone());
    cases.push(c);
    assert!(
        cases.iter().any(|c| c.interlock == RepositoryOnSource),
        "the matrix must hold the save into a repository on its source"
    );
    cases.into_iter().for_each(run);
    // The same medium is an ordinary disk for a host: the refusal above came from being live.
    let o = wraith_cmd()
        .args(["clone", &sp, s(&medium), "--yes"])
        .output()
        .expect("clone");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let _ = Command::new("umount").arg(hmnt.path()).status();
    let _ = Command::new("umount").arg(mnt.path()).status();
}

/// Not a test of its own: the TUI front end of the matrix above, which runs this binary again
/// with the case in `WRAITH_TUI_CASE` (so the live rows can run it in their mount namespace).
/// It builds the TUI's state machine over a list of the case's disks, drives it with keys as a
/// technician would, and prints `TUI-RESULT {json}`: the refusal shown, or where it got to.
#[test]
fn tui_front_end_of_the_matrix() {
    let Ok(spec) = std::env::var(TUI_CASE) else {
        eprintln!(
            "tui_front_end_of_the_matrix: run by the refusal matrix with {TUI_CASE} set; \
             nothing to do alone"
        );
        return;
    };
    let spec: Value = serde_json::from_str(&spec).expect("the case");
    println!("TUI-RESULT {}", drive_tui(&spec));
}

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use wraith::tui::app::{App, Msg, Popup, Screen};

fn key(a: &mut App, code: KeyCode) {
    a.handle(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

/// Handles the workers' messages while one reads a disk, opens a repository or prepares.
fn pump(a: &mut App, rx: &mpsc::Receiver<Msg>) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while matches!(a.screen, Screen::Reading(_)) || a.opening.is_some() || a.preparing.is_some() {
        assert!(Instant::now() < deadline, "a TUI worker hung");
        if let Ok(m) = rx.recv_timeout(Duration::from_millis(100)) {
            a.handle(m);
        }
    }
}

/// A list entry for `path` as udev would show it; `model` names a saved image.
fn listed(path: &str, model: &str, claims: Option<u64>) -> wraith_engine::disks::DiskInfo {
    use wraith_engine::device::ReadAt;
    let size = wraith_engine::device::Device::open_read(Path::new(path))
        .map(|d| d.size())
        .unwrap_or(0);
    wraith_engine::disks::DiskInfo {
        path: path.to_string(),
        by_id: None,
        model: Some(model.to_string()),
        serial: None,
        size: claims.unwrap_or(size),
        transport: "file".into(),
        removable: false,
        rotational: false,
        read_only: false,
        partitions: Vec::new(),
        fs: None,
        label: None,
        uuid: None,
        health: None,
    }
}

/// What the app shows now, as the child's answer.
fn shown(a: &App) -> Value {
    match &a.popup {
        Some(Popup::Refused { interlock, message }) => {
            json!({ "refused": "engine", "interlock": interlock, "message": message })
        }
        Some(Popup::Error(e)) => json!({ "refused": null, "error": e.to_string() }),
        _ => json!({ "refused": null, "plan": matches!(a.screen, Screen::Plan(_)) }),
    }
}

/// Moves the target list's cursor to `path` and picks it, unless the list greys it.
fn pick_target(a: &mut App, rx: &mpsc::Receiver<Msg>, path: &str) -> Option<Value> {
    let Screen::PickDisk(p) = &a.screen else {
        return Some(shown(a));
    };
    let i = p
        .items
        .iter()
        .position(|it| it.disk.path == path)
        .expect("the target in the list");
    if let Some(why) = &p.items[i].disabled {
        return Some(json!({ "refused": "list", "reason": why }));
    }
    for _ in 0..p.items.len() {
        key(a, KeyCode::Up);
    }
    for _ in 0..i {
        key(a, KeyCode::Down);
    }
    key(a, KeyCode::Enter);
    pump(a, rx);
    None
}

fn drive_tui(spec: &Value) -> Value {
    let text = |k: &str| spec[k].as_str().map(str::to_string);
    let (action, source, target) = (
        text("action").unwrap_or_default(),
        text("source"),
        text("target"),
    );
    let claims = spec["claims"].as_u64();
    let name = text("image").unwrap_or_default();
    // The list: the source first (named so a save names its image as the case does), then
    // the target when it is another path.
    let mut disks = Vec::new();
    if let Some(src) = &source {
        disks.push(listed(src, &name, None));
    }
    if let Some(t) = target.as_ref().filter(|t| Some(*t) != source.as_ref()) {
        disks.push(listed(t, "Target", claims));
    }
    let machine = wraith::tui::machine::Machine {
        disks,
        ..Default::default()
    };
    let (tx, rx) = mpsc::channel();
    let mut a = App::new(machine, tx);
    let downs = match action.as_str() {
        "clone" => 0,
        "save" => 1,
        _ => 2,
    };
    key(&mut a, KeyCode::Enter);
    for _ in 0..downs {
        key(&mut a, KeyCode::Down);
    }
    key(&mut a, KeyCode::Enter);
    if source.is_some() {
        key(&mut a, KeyCode::Enter); // the source: first in the list
        pump(&mut a, &rx);
    }
    if let Some(repo) = text("repo") {
        key(&mut a, KeyCode::Char('t')); // type it, rather than pick a found one
        for c in repo.chars() {
            key(&mut a, KeyCode::Char(c));
        }
        key(&mut a, KeyCode::Enter);
        pump(&mut a, &rx);
    }
    if action == "restore" {
        let Screen::Images(l) = &a.screen else {
            return shown(&a);
        };
        let i = l
            .rows
            .iter()
            .position(|r| r.image.name == name)
            .expect("the image in the list");
        // From the top: the list may have started on another image it preselected.
        for _ in 0..l.rows.len() {
            key(&mut a, KeyCode::Up);
        }
        for _ in 0..i {
            key(&mut a, KeyCode::Down);
        }
        key(&mut a, KeyCode::Enter);
    }
    if let Some(t) = &target {
        if let Some(v) = pick_target(&mut a, &rx, t) {
            return v;
        }
    }
    shown(&a)
}

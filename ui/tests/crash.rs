//! Crash safety, proven: `wraith save`, `restore` and `clone` are killed with SIGKILL at many
//! exact moments, and then what a user relies on is checked: every earlier image still verifies
//! and restores to identical files and bytes, a killed save leaves no image that looks complete
//! (unless its manifest was already in place, and then it verifies and restores), and running
//! the job again completes.
//!
//! How the kills are placed: from outside, with strace's syscall tampering
//! (`--inject=SYSCALL:signal=KILL:when=N` kills the process as it enters its N-th such call;
//! strace counts per thread). The binary under test is the product as shipped, with no test
//! hook. A census run first records every syscall of an uninterrupted job (`-y` names each
//! file descriptor's file), and the kill points are located in it by what the repository
//! actually did: each pack, index and manifest file is written to `tmp/`, fsynced, renamed into
//! place and its directory fsynced, so killing at each of those four calls leaves each state a
//! crash can leave. Kills between them land on the reads of the source disk while chunks sit
//! in a half-built pack in memory. The census is taken again on every run, so the points follow
//! the code if it changes; each kill is checked to have happened (exit by SIGKILL).
#![allow(clippy::panic)] // test helpers report failures by panicking

use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use wraith_testkit::{self as kit, DiskBuilder, FsType, Part, Prng, Table, MIB};

fn wraith_bin() -> &'static str {
    env!("CARGO_BIN_EXE_wraith")
}

fn wraith(args: &[&str]) -> Output {
    Command::new(wraith_bin())
        .args(args)
        .output()
        .expect("running wraith")
}

fn wraith_json(args: &[&str]) -> Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let o = wraith(&a);
    assert!(
        o.status.success(),
        "wraith {args:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(out.lines().last().expect("a result line")).expect("JSON result")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn require_strace() {
    assert!(
        kit::find_tool("strace").is_some(),
        "missing tool strace: run ./build.sh deps"
    );
}

/// One syscall of a census: thread, name, the rest of the line (arguments with `-y` paths).
struct Call {
    tid: u32,
    name: String,
    args: String,
}

/// Runs `wraith args` under strace, recording `syscalls` of every thread.
fn census(syscalls: &str, args: &[&str]) -> Vec<Call> {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("strace.log");
    let o = Command::new("strace")
        .args(["-f", "-qq", "-y", "-s", "0", "-e"])
        .arg(format!("trace={syscalls}"))
        .arg("-o")
        .arg(&log)
        .arg(wraith_bin())
        .args(args)
        .output()
        .expect("strace");
    assert!(
        o.status.success(),
        "census run failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = std::fs::read_to_string(&log).expect("strace log");
    text.lines()
        .filter_map(|l| {
            let (tid, rest) = l.split_once(' ')?;
            let rest = rest.trim_start();
            if rest.starts_with("<...") {
                return None; // the second half of a call already counted
            }
            let (name, args) = rest.split_once('(')?;
            Some(Call {
                tid: tid.parse().ok()?,
                name: name.to_string(),
                args: args.to_string(),
            })
        })
        .collect()
}

/// Where to kill: the N-th `syscall` of a thread, optionally counting only calls on `path`.
#[derive(Clone, Debug)]
struct KillPoint {
    what: String,
    syscall: &'static str,
    nth: usize,
    path: Option<PathBuf>,
    /// The repository file (relative path) that this point is about, and whether it must be
    /// visible after the kill.
    file: Option<(String, bool)>,
}

/// Runs `wraith args` under strace and kills it at `k`; asserts the kill happened.
fn run_killed(k: &KillPoint, args: &[&str]) {
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-o", "/dev/null", "-e"])
        .arg(format!("trace={}", k.syscall))
        .arg("-e")
        .arg(format!("inject={}:signal=KILL:when={}", k.syscall, k.nth));
    if let Some(p) = &k.path {
        cmd.arg("-P").arg(p);
    }
    let o = cmd.arg(wraith_bin()).args(args).output().expect("strace");
    assert_eq!(
        o.status.signal(),
        Some(9),
        "{}: wraith was not killed (status {:?}): {}",
        k.what,
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Kill points of a save, from its census: the four steps of each repository file the save
/// writes, the first write after them, and reads of the source spread over the whole save.
fn save_kill_points(calls: &[Call], repo: &Path, source: &Path, reads: usize) -> Vec<KillPoint> {
    let repo_s = s(repo);
    let writer = calls
        .iter()
        .find(|c| c.name == "rename" || c.name.starts_with("renameat"))
        .expect("the save renamed no file")
        .tid;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut out = Vec::new();
    // Steps of the file being written: (syscall, nth, step) until its rename names it.
    let mut pending: Vec<(&'static str, usize, &'static str)> = Vec::new();
    let mut after_rename: Option<String> = None;
    let mut last_write = 0;
    for c in calls.iter().filter(|c| c.tid == writer) {
        let name: &'static str = match c.name.as_str() {
            "write" => "write",
            "fsync" => "fsync",
            "rename" => "rename",
            "renameat" => "renameat",
            "renameat2" => "renameat2",
            _ => continue,
        };
        let n = counts.entry(name).or_default();
        *n += 1;
        let n = *n;
        let on_tmp = c.args.contains(&format!("{repo_s}/tmp/"));
        match name {
            "write" if on_tmp => pending.push(("write", n, "tmp file created, nothing written")),
            "write" => last_write = n,
            "fsync" if on_tmp => pending.push(("fsync", n, "written, not yet fsynced")),
            "fsync" => {
                if let Some(dest) = after_rename.take() {
                    out.push(KillPoint {
                        what: format!("{dest}: renamed into place, directory not yet fsynced"),
                        syscall: "fsync",
                        nth: n,
                        path: None,
                        file: Some((dest, true)),
                    });
                }
            }
            _ => {
                // rename("<repo>/tmp/x.tmp", "<repo>/packs/ab/….pack")
                let dest = c
                    .args
                    .rsplit(&format!("{repo_s}/"))
                    .next()
                    .and_then(|d| d.split('"').next())
                    .unwrap_or("")
                    .to_string();
                for (sc, nth, step) in pending.drain(..) {
                    out.push(KillPoint {
                        what: format!("{dest}: {step}"),
                        syscall: sc,
                        nth,
                        path: None,
                        file: Some((dest.clone(), false)),
                    });
                }
                out.push(KillPoint {
                    what: format!("{dest}: fsynced, not yet renamed"),
                    syscall: name,
                    nth: n,
                    path: None,
                    file: Some((dest.clone(), false)),
                });
                after_rename = Some(dest);
            }
        }
    }
    if last_write > 0 {
        out.push(KillPoint {
            what: "everything written, report not yet printed".into(),
            syscall: "write",
            nth: last_write,
            path: None,
            file: None,
        });
    }
    // Reads of the source: by the planning thread first, then by the save's reader thread.
    // strace counts per thread, so a point past the planner's count lands in the reader.
    let src = format!("<{}>", s(source));
    let mut per_tid: BTreeMap<u32, usize> = BTreeMap::new();
    for c in calls
        .iter()
        .filter(|c| c.name == "pread64" && c.args.contains(&src))
    {
        *per_tid.entry(c.tid).or_default() += 1;
    }
    let planner = per_tid.get(&writer).copied().unwrap_or(0);
    let reader = per_tid
        .iter()
        .filter(|(t, _)| **t != writer)
        .map(|(_, n)| *n)
        .max()
        .unwrap_or(0);
    assert!(
        reader > planner + reads,
        "too few reads to place kills: {per_tid:?}"
    );
    out.push(KillPoint {
        what: "planning: first read of the source".into(),
        syscall: "pread64",
        nth: 1,
        path: Some(source.to_path_buf()),
        file: None,
    });
    for i in 1..=reads {
        let nth = planner + 1 + (reader - planner - 1) * i / reads;
        out.push(KillPoint {
            what: format!(
                "reading the source: read {nth} of {reader}, chunks in a half-built pack"
            ),
            syscall: "pread64",
            nth,
            path: Some(source.to_path_buf()),
            file: None,
        });
    }
    out
}

/// Kill points of a restore or clone: writes to the target, spread over the job.
fn target_kill_points(calls: &[Call], target: &Path, count: usize) -> Vec<KillPoint> {
    let t = format!("<{}>", s(target));
    let mut per_tid: BTreeMap<u32, usize> = BTreeMap::new();
    for c in calls
        .iter()
        .filter(|c| c.name == "pwrite64" && c.args.contains(&t))
    {
        *per_tid.entry(c.tid).or_default() += 1;
    }
    assert_eq!(
        per_tid.len(),
        1,
        "one thread writes the target: {per_tid:?}"
    );
    let writes = per_tid.values().copied().sum::<usize>();
    assert!(writes >= count, "only {writes} writes to the target");
    (0..count)
        .map(|i| {
            let nth = 1 + (writes - 1) * i / (count - 1).max(1);
            KillPoint {
                what: format!("write {nth} of {writes} to the target"),
                syscall: "pwrite64",
                nth,
                path: Some(target.to_path_buf()),
                file: None,
            }
        })
        .collect()
}

/// The test disk: a real ext4 (files checked with debugfs) and a raw partition of random bytes
/// large enough that a save of it spans two packs.
struct Source {
    disk: kit::Disk,
    ext: Part,
    raw: Part,
}

impl Source {
    fn new() -> Source {
        let disk = DiskBuilder::new(80 * MIB, Table::Gpt)
            .seed(0xc4a5_4000)
            .part(24 * MIB, FsType::Ext4, "root")
            .part(44 * MIB, FsType::Raw, "blob")
            .build()
            .expect("building the crash-test disk");
        let ext = disk.part(1).clone();
        let raw = disk.part(2).clone();
        Source { disk, ext, raw }
    }
    fn raw_bytes(&self, disk: &Path) -> Vec<u8> {
        kit::read_at(disk, self.raw.start, self.raw.len as usize).expect("read raw partition")
    }
    /// New data everywhere: files changed on ext4, the raw partition rewritten.
    fn change(&mut self, seed: u64) {
        kit::modify_small(&self.disk.path, &mut self.ext).expect("modify ext4");
        let mut buf = vec![0u8; self.raw.len as usize];
        Prng::new(seed).fill(&mut buf);
        kit::write_at(&self.disk.path, self.raw.start, &buf).expect("rewrite raw partition");
    }
}

/// What a disk held when it was saved: compared byte for byte and file for file.
struct Expected {
    raw: Vec<u8>,
    files: BTreeMap<String, Vec<u8>>,
}

impl Expected {
    fn of(src: &Source) -> Expected {
        Expected {
            raw: src.raw_bytes(&src.disk.path),
            files: src.ext.files.clone(),
        }
    }
    /// `disk` holds exactly this: the raw partition byte-identical, every ext4 file identical,
    /// e2fsck clean.
    fn check(&self, src: &Source, disk: &Path, what: &str) {
        assert!(
            src.raw_bytes(disk) == self.raw,
            "{what}: raw partition differs"
        );
        let files = kit::files(disk, &src.ext).expect("reading ext4 files");
        assert!(files == self.files, "{what}: ext4 files differ");
        kit::fsck(disk, &src.ext).unwrap_or_else(|e| panic!("{what}: fsck: {e}"));
    }
}

/// Restores `spec` onto a fresh file and checks it against `expected` and with `verify --against`.
fn check_restores(spec: &str, src: &Source, expected: &Expected, what: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("restored.img");
    let o = wraith(&["restore", spec, s(&target), "--yes"]);
    assert!(
        o.status.success(),
        "{what}: restore of {spec} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v = wraith(&["verify", spec, "--against", s(&target)]);
    assert_eq!(v.status.code(), Some(0), "{what}: verify --against");
    expected.check(src, &target, what);
}

/// Hard-links a repository's files into a new directory: repository files are immutable, so
/// each kill starts from the same state at no copying cost.
fn snapshot(repo: &Path, to: &Path) {
    let ok = Command::new("cp")
        .arg("-al")
        .arg(repo)
        .arg(to)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "cp -al {}", repo.display());
}

fn pack_files(repo: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in std::fs::read_dir(repo.join("packs"))
        .expect("packs")
        .flatten()
    {
        for f in std::fs::read_dir(d.path()).expect("pack dir").flatten() {
            out.push(f.path());
        }
    }
    out
}

fn manifests(repo: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(names) = std::fs::read_dir(repo.join("images")) else {
        return out;
    };
    for d in names.flatten() {
        for f in std::fs::read_dir(d.path()).expect("image dir").flatten() {
            if f.path().extension().is_some_and(|e| e == "manifest") {
                out.push(f.path());
            }
        }
    }
    out
}

#[test]
fn save_killed_at_every_step_leaves_earlier_images_intact_and_a_rerun_reuses_chunks() {
    kit::require_tools();
    require_strace();
    let work = tempfile::tempdir().expect("tempdir");
    let mut src = Source::new();
    let base = work.path().join("base");
    let base_spec = format!("{}:pc", s(&base));
    wraith_json(&["--threads", "1", "save", s(&src.disk.path), &base_spec]);
    let first = Expected::of(&src);
    src.change(0xc4a5_4001);
    let second = Expected::of(&src);

    // The census: an uninterrupted save of the changed disk onto a copy of the repository.
    let census_repo = work.path().join("census");
    snapshot(&base, &census_repo);
    let census_spec = format!("{}:pc", s(&census_repo));
    let save_args = ["--threads", "1", "save", s(&src.disk.path), &census_spec];
    let calls = census("write,fsync,rename,renameat,renameat2,pread64", &save_args);
    let full = wraith_json(&["list", s(&census_repo)]);
    let full_new = full["images"]
        .as_array()
        .and_then(|a| a.last())
        .and_then(|i| i["stats"]["new_stored_bytes"].as_u64())
        .expect("stats of the census save");
    assert!(full_new > 32 * MIB, "the save should span two packs");
    let points = save_kill_points(&calls, &census_repo, &src.disk.path, 14);
    let packs = points
        .iter()
        .filter(|k| k.what.starts_with("packs/") && k.syscall == "rename")
        .count();
    assert!(packs >= 2, "{packs} packs written: {points:#?}");
    assert!(points.len() >= 30, "only {} kill points", points.len());
    let base_packs: Vec<std::ffi::OsString> = pack_files(&base)
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_os_string()))
        .collect();

    for (i, k) in points.iter().enumerate() {
        let repo = work.path().join(format!("kill-{i}"));
        snapshot(&base, &repo);
        // The paths in the census name the census repository; the same files are written here.
        let spec = format!("{}:pc", s(&repo));
        run_killed(k, &["--threads", "1", "save", s(&src.disk.path), &spec]);
        let what = format!("save killed at {}", k.what);

        // The file the kill point is about is in the state the point says.
        if let Some((file, visible)) = &k.file {
            // Pack and index names are their content's hash, the same as in the census; a
            // manifest's name holds the time, so manifests are counted below instead.
            if !file.starts_with("images/") {
                assert_eq!(repo.join(file).exists(), *visible, "{what}: {file}");
            }
        }
        let complete = matches!(&k.file, Some((f, true)) if f.starts_with("images/"))
            || k.file.is_none() && k.syscall == "write";
        let images = manifests(&repo);
        assert_eq!(
            images.len(),
            if complete { 2 } else { 1 },
            "{what}: {images:?}"
        );
        // Every image in the repository verifies: the earlier one, and the killed save's own
        // only if its manifest made it into place.
        let v = wraith(&["verify", s(&repo)]);
        assert_eq!(
            v.status.code(),
            Some(0),
            "{what}: verify: {}",
            String::from_utf8_lossy(&v.stdout)
        );
        let ids: Vec<String> = wraith_json(&["list", s(&repo)])["images"]
            .as_array()
            .expect("images")
            .iter()
            .map(|i| i["id"].as_str().unwrap_or_default().to_string())
            .collect();
        // The earlier image restores to what the disk held then; a few of the cheaper checks
        // are enough for most points, all of them for every fourth.
        if i % 4 == 0 {
            check_restores(&format!("{spec}@{}", ids[0]), &src, &first, &what);
            if complete {
                check_restores(&format!("{spec}@{}", ids[1]), &src, &second, &what);
            }
        }
        let in_place: u64 = pack_files(&repo)
            .iter()
            .filter(|p| {
                !base_packs
                    .iter()
                    .any(|b| Some(b.as_os_str()) == p.file_name())
            })
            .map(|p| std::fs::metadata(p).expect("pack").len())
            .sum();
        // Running the save again completes and stores again only what was not durable.
        let again = wraith_json(&["save", s(&src.disk.path), &spec]);
        let new = again["stats"]["new_stored_bytes"].as_u64().expect("stats");
        assert!(new <= full_new, "{what}: rerun stored {new} > {full_new}");
        // What the killed save left in place is not stored again: packs, whether an index names
        // them yet or not (the next save takes unindexed packs back), and nothing else.
        if in_place == 0 {
            assert_eq!(new, full_new, "{what}: rerun");
        } else {
            assert!(
                new + in_place <= full_new + 64 * 1024,
                "{what}: the rerun stored {new} of {full_new} bytes though {in_place} were in place"
            );
        }
        eprintln!("{what}: {in_place} bytes of packs in place, rerun stored {new} of {full_new}");
        if i % 4 == 1 {
            let latest = wraith_json(&["list", s(&repo)])["images"]
                .as_array()
                .and_then(|a| a.last())
                .map(|i| i["id"].as_str().unwrap_or_default().to_string())
                .expect("an image");
            check_restores(&format!("{spec}@{latest}"), &src, &second, &what);
        }
        std::fs::remove_dir_all(&repo).expect("cleanup");
    }
}

#[test]
fn restore_and_clone_killed_midway_complete_when_run_again() {
    kit::require_tools();
    require_strace();
    let work = tempfile::tempdir().expect("tempdir");
    let src = Source::new();
    let expected = Expected::of(&src);
    let repo = work.path().join("repo");
    let spec = format!("{}:pc", s(&repo));
    wraith_json(&["--threads", "1", "save", s(&src.disk.path), &spec]);

    // Restore: census onto one file, kills onto fresh ones.
    let census_target = work.path().join("census.img");
    let calls = census(
        "pwrite64",
        &[
            "--threads",
            "1",
            "restore",
            &spec,
            s(&census_target),
            "--yes",
        ],
    );
    let points = target_kill_points(&calls, &census_target, 6);
    for (i, k) in points.iter().enumerate() {
        let target = work.path().join(format!("restore-{i}.img"));
        let mut k = k.clone();
        k.path = Some(target.clone());
        let args = ["--threads", "1", "restore", &spec, s(&target), "--yes"];
        run_killed(&k, &args);
        let what = format!("restore killed at {}", k.what);
        assert!(target.exists(), "{what}: no target");
        let o = wraith(&args);
        assert!(
            o.status.success(),
            "{what}: rerun: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let v = wraith(&["verify", &spec, "--against", s(&target)]);
        assert_eq!(
            v.status.code(),
            Some(0),
            "{what}: verify --against: {}",
            String::from_utf8_lossy(&v.stdout)
        );
        expected.check(&src, &target, &what);
        std::fs::remove_file(&target).expect("cleanup");
    }

    // Clone, the same way.
    let census_target = work.path().join("clone-census.img");
    let calls = census(
        "pwrite64",
        &["clone", s(&src.disk.path), s(&census_target), "--yes"],
    );
    let points = target_kill_points(&calls, &census_target, 5);
    for (i, k) in points.iter().enumerate() {
        let target = work.path().join(format!("clone-{i}.img"));
        let mut k = k.clone();
        k.path = Some(target.clone());
        let args = ["clone", s(&src.disk.path), s(&target), "--yes"];
        run_killed(&k, &args);
        let what = format!("clone killed at {}", k.what);
        let o = wraith(&args);
        assert!(
            o.status.success(),
            "{what}: rerun: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(
            kit::table_of(&target),
            kit::table_of(&src.disk.path),
            "{what}"
        );
        expected.check(&src, &target, &what);
        std::fs::remove_file(&target).expect("cleanup");
    }
}

/// A restore onto a larger disk changes the layout (`auto`: the ext4 partition grows, the raw
/// one after it moves). Killed at writes spread over the job and at each of its last writes
/// (the new table going in): the target shows either no partition table or the finished one —
/// never the saved table over moved data — and running the job again completes; the result
/// verifies where its partitions went and holds identical files and bytes. Root (the resize
/// tools run on loop devices).
#[test]
fn a_restore_that_changes_the_layout_killed_midway_shows_no_stale_table_and_completes() {
    kit::require_tools();
    require_strace();
    if !nix::unistd::geteuid().is_root() {
        assert!(
            std::env::var_os("WRAITH_NO_SKIP").is_none(),
            "resizing needs root (loop devices) and WRAITH_NO_SKIP is set"
        );
        eprintln!("SKIPPED: resizing needs root (loop devices)");
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let src = Source::new();
    let expected = Expected::of(&src);
    let repo = work.path().join("repo");
    let spec = format!("{}:pc", s(&repo));
    wraith_json(&["--threads", "1", "save", s(&src.disk.path), &spec]);
    let blank = |name: &str| {
        let p = work.path().join(name);
        std::fs::File::create(&p)
            .and_then(|f| f.set_len(2 * src.disk.size))
            .expect("a larger blank target");
        p
    };
    let census_target = blank("census.img");
    let args = |t: &Path| -> Vec<String> {
        ["--threads", "1", "restore", &spec, s(t), "--yes"]
            .iter()
            .map(|a| a.to_string())
            .collect()
    };
    let a: Vec<String> = args(&census_target);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let calls = census("pwrite64", &a);
    let finished = kit::table_of(&census_target);
    let mut points = target_kill_points(&calls, &census_target, 4);
    // The last writes put the new table and the boot area in place.
    let last = points.last().map_or(0, |k| k.nth);
    for nth in last.saturating_sub(3)..last {
        points.push(KillPoint {
            what: format!("write {nth} (of the last ones) to the target"),
            nth,
            ..points[0].clone()
        });
    }
    for (i, k) in points.iter().enumerate() {
        let target = blank(&format!("reshape-{i}.img"));
        let mut k = k.clone();
        k.path = Some(target.clone());
        let a: Vec<String> = args(&target);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        run_killed(&k, &a);
        let what = format!("restore with a layout change killed at {}", k.what);
        if let Ok(json) = kit::sfdisk_json(&target) {
            let seen: Value = serde_json::from_str(&json).expect("sfdisk json");
            let any = seen["partitiontable"]["partitions"]
                .as_array()
                .is_some_and(|p| !p.is_empty());
            assert!(
                !any || kit::table_of(&target) == finished,
                "{what}: a table that is not the finished one: {seen}"
            );
        }
        let o = wraith(&a);
        assert!(
            o.status.success(),
            "{what}: rerun: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(kit::table_of(&target), finished, "{what}");
        let v = wraith(&["verify", &spec, "--against", s(&target)]);
        assert_eq!(
            v.status.code(),
            Some(0),
            "{what}: verify --against: {}",
            String::from_utf8_lossy(&v.stdout)
        );
        kit::assert_same_filesystems(&src.disk, &target);
        let (_, raw_at, _) = kit::partition_ranges(&target)
            .expect("table")
            .into_iter()
            .find(|p| p.0 == src.raw.number)
            .expect("the raw partition");
        assert!(
            kit::read_at(&target, raw_at, src.raw.len as usize).expect("read") == expected.raw,
            "{what}: the moved raw partition differs"
        );
        std::fs::remove_file(&target).expect("cleanup");
    }
}

//! End-to-end tests of the `wraith` command on disk image files built by real tools, checked
//! with real tools: what a technician relies on (the table, fsck, the files), not internals.
#![allow(clippy::panic)] // test helpers report failures by panicking

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use wraith_testkit::{self as kit, assert_same_filesystems, table_of, Disk, MIB};

fn wraith(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wraith"))
        .args(args)
        .output()
        .expect("running wraith")
}

fn wraith_ok(args: &[&str]) -> String {
    let o = wraith(args);
    assert!(
        o.status.success(),
        "wraith {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json(args: &[&str]) -> Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let out = wraith_ok(&a);
    serde_json::from_str(out.lines().last().expect("a JSON result line")).expect("JSON result")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn repo_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("wraith-repo-")
        .tempdir()
        .expect("tempdir")
}

#[test]
fn gpt_disk_saved_and_restored_to_a_larger_disk_grows_its_last_partition_and_keeps_every_file() {
    kit::require_tools();
    let disk = kit::gpt_disk();
    let repo = repo_dir();
    let spec = format!("{}:pc1", s(repo.path()));
    let saved = json(&["save", s(&disk.path), &spec]);
    assert_eq!(saved["result"], "ok");

    let info = json(&["info", s(&disk.path)]);
    let methods: Vec<&str> = info["plan"]["regions"]
        .as_array()
        .expect("regions")
        .iter()
        .map(|r| r["method"]["method"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        methods,
        ["raw", "used_blocks", "used_blocks", "used_blocks", "raw"],
        "{info}"
    );

    let target = kit::blank_disk(200 * MIB);
    wraith_ok(&["restore", &spec, s(&target.path), "--yes"]);
    // The NTFS partition takes the new space; `verify --against` finds where it went.
    kit::assert_default_layout(&target.path, &disk.path, 3);
    kit::assert_table_verifies(&target.path);
    assert_same_filesystems(&disk, &target.path);
    assert_eq!(
        wraith(&["verify", &spec, "--against", s(&target.path)])
            .status
            .code(),
        Some(0)
    );
    // A disk that has changed since no longer matches its image.
    let mut parts = disk.parts.clone();
    kit::modify_small(&target.path, &mut parts[1]).expect("modify the restored ext4");
    let v = wraith(&["verify", &spec, "--against", s(&target.path)]);
    let out = String::from_utf8_lossy(&v.stdout);
    assert_eq!(v.status.code(), Some(1), "{out}");
    assert!(
        out.contains("partition 2") && out.contains("differs from the image"),
        "{out}"
    );
}

#[test]
fn free_space_is_neither_stored_nor_restored() {
    kit::require_tools();
    let disk = kit::gpt_disk();
    let repo = repo_dir();
    let spec = format!("{}:pc1", s(repo.path()));
    let saved = json(&["save", s(&disk.path), &spec]);
    let image_bytes = saved["stats"]["image_bytes"].as_u64().expect("image_bytes");
    let partitions: u64 = disk.parts.iter().map(|p| p.len).sum();
    // The fixture's free space is full of old garbage: a used-blocks image covers far less.
    assert!(
        image_bytes < partitions / 2,
        "image covers {image_bytes} of {partitions} partition bytes"
    );
    let target = kit::blank_disk(disk.size);
    wraith_ok(&["restore", &spec, s(&target.path), "--yes"]);
    let restored = std::fs::read(&target.path).expect("read");
    for p in disk.parts.iter() {
        for (name, data) in &p.deleted {
            let probe = &data[data.len() / 2..data.len() / 2 + 4096];
            assert!(
                !restored.windows(probe.len()).any(|w| w == probe),
                "deleted {name} of partition {} came back",
                p.number
            );
        }
    }
}

#[test]
fn mbr_clone_keeps_boot_code_gap_and_logical_partitions() {
    kit::require_tools();
    let disk = kit::mbr_disk();
    let out = tempfile::tempdir().expect("tempdir");
    let target = out.path().join("clone.img");
    // A missing target file is created with the source's size.
    wraith_ok(&["clone", s(&disk.path), s(&target), "--yes"]);
    assert_eq!(table_of(&target), table_of(&disk.path));
    let head = |p: &Path| kit::read_at(p, 0, MIB as usize).expect("read");
    assert!(
        head(&target) == head(&disk.path),
        "MBR boot code or post-MBR gap differs"
    );
    assert_same_filesystems(&disk, &target);
}

#[test]
fn incremental_save_stores_only_changed_chunks_and_every_image_restores_alone() {
    kit::require_tools();
    let mut disk = kit::gpt_disk();
    let repo = repo_dir();
    let spec = format!("{}:pc1", s(repo.path()));
    let before = disk.parts.clone();
    let first = json(&["save", s(&disk.path), &spec]);
    let first_new = first["stats"]["new_stored_bytes"].as_u64().expect("bytes");
    kit::modify_small(&disk.path.clone(), &mut disk.parts[1]).expect("modify ext4");
    let second = json(&["save", s(&disk.path), &spec]);
    let second_new = second["stats"]["new_stored_bytes"].as_u64().expect("bytes");
    // 256 KiB of random data plus a few changed metadata blocks: a handful of 1 MiB chunks.
    assert!(
        second_new > 256 * 1024,
        "the change was stored ({second_new} bytes)"
    );
    assert!(
        second_new < 8 * MIB && second_new * 10 < first_new,
        "incremental stored {second_new} of {first_new}"
    );

    let first_id = first["image"]["id"].as_str().expect("id");
    let target = kit::blank_disk(disk.size);
    wraith_ok(&[
        "restore",
        &format!("{spec}@{first_id}"),
        s(&target.path),
        "--yes",
    ]);
    let old = Disk {
        dir: tempfile::tempdir().expect("t"),
        path: disk.path.clone(),
        size: disk.size,
        table: disk.table,
        parts: before,
    };
    assert_same_filesystems(&old, &target.path);
    let target2 = kit::blank_disk(disk.size);
    wraith_ok(&["restore", &spec, s(&target2.path), "--yes"]);
    assert_same_filesystems(&disk, &target2.path);
    let list = json(&["list", s(repo.path())]);
    assert_eq!(list["images"].as_array().map(|a| a.len()), Some(2));
}

#[test]
fn unknown_content_is_copied_raw_and_said_so() {
    let disk = kit::raw_disk();
    let info = wraith_ok(&["info", s(&disk.path)]);
    assert!(
        info.contains("raw (no partition table and no known filesystem)"),
        "{info}"
    );
    let repo = repo_dir();
    let spec = format!("{}:raw", s(repo.path()));
    let saved = json(&["save", s(&disk.path), &spec]);
    // The 20 MiB of zeros cost nothing: all-zero chunks are not stored, and what is stored is
    // the 8 MiB of random bytes and the 4 MiB of text, compressed.
    assert!(
        saved["stats"]["zero_chunks"].as_u64().expect("zero") >= 8,
        "{saved}"
    );
    let stored = saved["stats"]["stored_bytes"].as_u64().expect("stored");
    assert!(stored < 10 * MIB, "{saved}");
    let out = tempfile::tempdir().expect("tempdir");
    let target = out.path().join("r.img");
    wraith_ok(&["restore", &spec, s(&target), "--yes"]);
    assert!(std::fs::read(&target).expect("read") == kit::raw_disk_expected());
}

#[test]
fn whole_disk_filesystem_without_a_table_is_copied_by_its_used_blocks() {
    kit::require_tools();
    let disk = kit::superfloppy_ext4();
    let info = json(&["info", s(&disk.path)]);
    assert_eq!(
        info["plan"]["regions"][0]["method"]["method"], "used_blocks",
        "{info}"
    );
    let out = tempfile::tempdir().expect("tempdir");
    let target = out.path().join("c.img");
    wraith_ok(&["clone", s(&disk.path), s(&target), "--yes"]);
    assert_same_filesystems(&disk, &target);
}

fn files_under(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in walk(dir) {
        if e.extension().and_then(|x| x.to_str()) == Some(ext) {
            out.push(e);
        }
    }
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn a_restore_onto_a_disk_too_small_for_the_partitions_is_refused() {
    kit::require_tools();
    let disk = kit::gpt_disk();
    let repo = repo_dir();
    let spec = format!("{}:pc1", s(repo.path()));
    json(&["save", s(&disk.path), &spec]);
    // The partitions end at 137 MiB: a 100 MiB disk cannot hold them.
    let small = kit::blank_disk(100 * MIB);
    let o = wraith(&["restore", &spec, s(&small.path), "--yes"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.contains("100.0 MiB") && err.contains("needs at least"),
        "{err}"
    );
    // A smaller disk that still holds every partition works: images are not tied to disk size.
    let smaller = kit::blank_disk(140 * MIB);
    // (Smaller than the source disk but not than its partitions: the layout is kept.)
    wraith_ok(&["restore", &spec, s(&smaller.path), "--yes"]);
    assert_eq!(table_of(&smaller.path), table_of(&disk.path));
    assert_same_filesystems(&disk, &smaller.path);
}

#[test]
fn ctrl_c_cancels_a_save_cleanly_and_a_rerun_reuses_what_was_stored() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = dir.path().join("big.img");
    // Compressible text: slow enough to compress that the save is still running when we stop it.
    let f = std::fs::File::create(&disk).expect("create");
    for i in 0..24u64 {
        std::os::unix::fs::FileExt::write_all_at(
            &f,
            &kit::text(i, (16 * MIB) as usize),
            i * 16 * MIB,
        )
        .expect("write");
    }
    drop(f);
    let repo = dir.path().join("repo");
    let spec = format!("{}:big", s(&repo));
    let mut child = Command::new(env!("CARGO_BIN_EXE_wraith"))
        .args(["--json", "--threads", "1", "save", s(&disk), &spec])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut lines = stderr.lines();
    // Wait until it has made real progress, then press Ctrl-C.
    loop {
        let line = lines
            .next()
            .expect("save ended before any progress")
            .expect("line");
        let ev: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if ev["event"] == "progress" && ev["done"].as_u64().unwrap_or(0) >= 40 * MIB {
            break;
        }
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("kill");
    for _ in lines {}
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130), "exit code after Ctrl-C");
    assert!(
        files_under(&repo, "manifest").is_empty(),
        "a cancelled save left an image"
    );
    assert_eq!(
        wraith(&["verify", s(&repo)]).status.code(),
        Some(0),
        "repository consistent after cancel"
    );
    let saved = json(&["save", s(&disk), &spec]);
    let chunks = saved["stats"]["chunks"].as_u64().expect("chunks");
    let new = saved["stats"]["new_chunks"].as_u64().expect("new");
    assert!(
        new + 40 <= chunks,
        "the re-run stored {new} of {chunks} chunks again"
    );
    let target = dir.path().join("restored.img");
    wraith_ok(&["restore", &spec, s(&target), "--yes"]);
    assert!(std::fs::read(&target).expect("read") == std::fs::read(&disk).expect("read"));
}

#[test]
fn restore_without_an_id_takes_the_newest_image() {
    let disk = kit::raw_disk();
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("repo");
    let spec = format!("{}:r", s(&repo));
    json(&["save", s(&disk.path), &spec]);
    kit::write_at(&disk.path, 30 * MIB, b"changed after the first save").expect("write");
    let second = json(&["save", s(&disk.path), &spec]);
    let info = json(&["info", &spec]);
    assert_eq!(info["image"]["id"], second["image"]["id"]);
    let target = dir.path().join("t.img");
    wraith_ok(&["restore", &spec, s(&target), "--yes"]);
    assert!(std::fs::read(&target).expect("read") == std::fs::read(&disk.path).expect("read"));
}

#[test]
fn disks_lists_this_machines_disks_as_json() {
    let v = json(&["disks"]);
    assert_eq!(v["result"], "ok");
    for d in v["disks"].as_array().expect("disks array") {
        assert!(
            d["path"].as_str().is_some_and(|p| p.starts_with("/dev/")),
            "{d}"
        );
        assert!(d["size"].as_u64().is_some_and(|n| n > 0), "{d}");
    }
}

#[test]
fn a_job_file_saves_and_restores_prints_a_result_line_and_tells_init_what_next() {
    kit::require_tools();
    let disk = kit::gpt_disk();
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("repo");
    let job = dir.path().join("save.toml");
    std::fs::write(
        &job,
        format!("action = \"save\"\nsource = \"{}\"\nrepository = \"{}\"\nimage = \"lab\"\nverify = true\n", s(&disk.path), s(&repo)),
    )
    .expect("write job");
    let o = wraith(&["job", "--file", s(&job)]);
    let out = String::from_utf8_lossy(&o.stdout);
    // The default `after` is power off: init is told so by exit code 100.
    assert_eq!(
        o.status.code(),
        Some(100),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("WRAITH-RESULT "))
        .expect("a WRAITH-RESULT line");
    let v: Value = serde_json::from_str(line).expect("json");
    assert_eq!(v["result"], "ok");
    assert_eq!(v["verified"], true);
    let stored = files_under(&repo.join("results"), "json");
    assert_eq!(stored.len(), 1, "the result is kept beside the images");

    let target = kit::blank_disk(disk.size);
    let inline = format!(
        "action=restore target={} repo={} image=lab after=none",
        s(&target.path),
        s(&repo)
    );
    let o = wraith(&["job", "--inline", &inline]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_same_filesystems(&disk, &target.path);
}

#[test]
fn a_failing_job_reports_the_error_and_stops_at_the_shell() {
    let o = wraith(&[
        "job",
        "--inline",
        "action=clone source=serial:NO-SUCH-DISK target=rule:other-internal",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(102), "{out}");
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("WRAITH-RESULT "))
        .expect("a WRAITH-RESULT line");
    let v: Value = serde_json::from_str(line).expect("json");
    assert_eq!(v["result"], "error");
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("NO-SUCH-DISK")),
        "{v}"
    );
}

use wraith_testkit::loopdev::Loop;

#[test]
fn a_block_device_target_is_written_like_a_file() {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if uid.ok().as_deref() != Some("0") {
        eprintln!("skipped: loop devices need root");
        return;
    }
    kit::require_tools();
    let disk = kit::gpt_disk();
    let blank = kit::blank_disk(disk.size);
    let Some(lo) = Loop::attach(&blank.path) else {
        eprintln!("skipped: no loop devices here");
        return;
    };
    // A real block device as the target: ioctl sizes, O_EXCL, BLKZEROOUT.
    wraith_ok(&["clone", s(&disk.path), &lo.0, "--yes"]);
    assert_eq!(table_of(&blank.path), table_of(&disk.path));
    assert_same_filesystems(&disk, &blank.path);
}

/// Every stderr line of `--json` must parse as a JSON event, warnings and the final error
/// included: a program reading them cannot skip plain lines it does not expect.
fn all_json_events(stderr: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stderr)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l)
                .unwrap_or_else(|e| panic!("not a JSON event on stderr: {l:?} ({e})"))
        })
        .collect()
}

#[test]
fn under_json_every_stderr_line_is_a_json_event() {
    kit::require_tools();
    let disk = kit::gpt_disk();
    let repo = repo_dir();
    let o = wraith(&[
        "--json",
        "save",
        s(&disk.path),
        &format!("{}:pc", s(repo.path())),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let events = all_json_events(&o.stderr);
    assert!(
        events.iter().any(|e| e["event"] == "finished"),
        "{events:?}"
    );
    // A refusal: the image does not fit; the error is an event too.
    let small = kit::blank_disk(4 * MIB);
    let o = wraith(&[
        "--json",
        "restore",
        &format!("{}:pc", s(repo.path())),
        s(&small.path),
        "--yes",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let events = all_json_events(&o.stderr);
    assert!(
        events.iter().any(|e| e["event"] == "error"
            && e["message"].as_str().is_some_and(|m| m.contains("refused"))),
        "{events:?}"
    );
    // The mounted-source warning (once a plain line): needs root for the loop mount.
    if !is_root_here() {
        eprintln!("SKIPPED the mounted-source part: loop mounts need root");
        return;
    }
    let fs = tempfile::tempdir().expect("tmp");
    let img = fs.path().join("fs.img");
    std::fs::File::create(&img)
        .and_then(|f| f.set_len(32 * MIB))
        .expect("image");
    assert!(Command::new("mkfs.ext4")
        .args(["-q", "-F"])
        .arg(&img)
        .status()
        .expect("mkfs")
        .success());
    let lo = Loop::attach(&img).expect("loop device (root)");
    let point = fs.path().join("mnt");
    std::fs::create_dir(&point).expect("mnt");
    assert!(Command::new("mount")
        .args(["-o", "ro", &lo.0])
        .arg(&point)
        .status()
        .expect("mount")
        .success());
    let o = wraith(&[
        "--json",
        "save",
        &lo.0,
        &format!("{}:mounted", s(repo.path())),
    ]);
    let _ = Command::new("umount").arg(&point).status();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let events = all_json_events(&o.stderr);
    assert!(
        events.iter().any(|e| e["event"] == "warning"
            && e["message"]
                .as_str()
                .is_some_and(|m| m.contains("is mounted at"))),
        "{events:?}"
    );
}

fn is_root_here() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `--verify` on clone, save and restore (and `verify = true` in a clone job, once silently
/// ignored) compares the result and says what and how much was compared.
#[test]
fn every_operation_verifies_when_asked_and_the_result_says_how_much() {
    kit::require_tools();
    let disk = kit::gpt_disk();
    let check = |v: &Value, what: &str| {
        assert_eq!(v["verified"], true, "{v}");
        assert!(
            v["verify"]["bytes"].as_u64().is_some_and(|b| b > MIB),
            "{v}"
        );
        assert!(
            v["verify"]["what"]
                .as_str()
                .is_some_and(|w| w.contains(what)),
            "{v}"
        );
    };
    let target = kit::blank_disk(disk.size);
    let v = json(&["clone", s(&disk.path), s(&target.path), "--yes", "--verify"]);
    check(&v, "the target against the source");
    let repo = repo_dir();
    let spec = format!("{}:v", s(repo.path()));
    let v = json(&["save", s(&disk.path), &spec, "--verify"]);
    check(&v, "the disk against image v@");
    let target2 = kit::blank_disk(disk.size);
    let v = json(&["restore", &spec, s(&target2.path), "--yes", "--verify"]);
    check(&v, "the target against image v@");
    assert_same_filesystems(&disk, &target2.path);

    let target3 = kit::blank_disk(disk.size);
    let o = wraith(&[
        "job",
        "--inline",
        &format!(
            "action=clone source={} target={} verify=true after=none",
            s(&disk.path),
            s(&target3.path)
        ),
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("WRAITH-RESULT "))
        .expect("a WRAITH-RESULT line");
    let v: Value = serde_json::from_str(line).expect("json");
    check(&v, "the target against the source");
}

/// A job's full log is kept beside its result in the repository, with the plan, the steps
/// and the result; a failed job keeps one too.
#[test]
fn a_job_keeps_its_log_beside_its_result() {
    kit::require_tools();
    let disk = kit::gpt_disk();
    let repo = repo_dir();
    let o = wraith(&[
        "job",
        "--inline",
        &format!(
            "action=save source={} repo={} image=logged after=none",
            s(&disk.path),
            s(repo.path())
        ),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let logs = files_under(&repo.path().join("results"), "log");
    assert_eq!(logs.len(), 1, "{logs:?}");
    let log = std::fs::read_to_string(&logs[0]).expect("log");
    for says in [
        "Save",
        "source:",
        "partition 2",
        "save: started",
        "save: finished",
        "\"result\":\"ok\"",
    ] {
        assert!(log.contains(says), "log lacks {says:?}:\n{log}");
    }
    // A job that fails after its plan was made keeps its log too: a verify against a disk
    // that differs reads as a mismatch, a verify of a missing image is an error before any plan.
    let other = kit::blank_disk(disk.size);
    let o = wraith(&[
        "job",
        "--inline",
        &format!(
            "action=verify source={} repo={} image=logged after=none",
            s(&other.path),
            s(repo.path())
        ),
    ]);
    assert_eq!(
        o.status.code(),
        Some(102),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let logs = files_under(&repo.path().join("results"), "log");
    assert_eq!(logs.len(), 2, "{logs:?}");
    let text: String = logs
        .iter()
        .map(|l| std::fs::read_to_string(l).expect("log"))
        .collect();
    assert!(text.contains("\"result\":\"mismatch\""), "{text}");
}

/// `--compression` trades save time for size: the same disk stored smaller at `small` than at
/// `fast`, each image restoring to identical files; a repository a save creates keeps that
/// save's choice as its default, and a later save may choose otherwise for its own chunks.
#[test]
fn compression_choices_store_the_same_disk_smaller_or_faster_and_all_restore() {
    kit::require_tools();
    // Mostly text, as a system's files are: the levels differ on what compresses. (On random
    // bytes every level stores the same, give or take a frame header.)
    let mut disk = kit::DiskBuilder::new(64 * MIB, kit::Table::Gpt)
        .seed(0x7a73_7464)
        .part(48 * MIB, kit::FsType::Ext4, "root")
        .build()
        .expect("disk");
    kit::put_files(
        &disk.path.clone(),
        &mut disk.parts[0],
        vec![("syslog.txt".into(), kit::text(11, (12 * MIB) as usize))],
    )
    .expect("a log file");
    let config_level = |repo: &Path| -> i64 {
        let cfg: Value =
            serde_json::from_slice(&std::fs::read(repo.join("wraith-repo.json")).expect("config"))
                .expect("config JSON");
        cfg["zstd_level"].as_i64().expect("zstd_level")
    };
    let image_of = |spec: &str| -> (i64, u64) {
        let info = json(&["info", spec]);
        let m = &info["manifest"];
        (
            m["zstd_level"]
                .as_i64()
                .expect("the image records its level"),
            m["stats"]["stored_bytes"].as_u64().expect("stored bytes"),
        )
    };
    let mut stored = Vec::new();
    let repos: Vec<tempfile::TempDir> = (0..3).map(|_| repo_dir()).collect();
    for ((choice, level), repo) in [("fast", 1), ("balanced", 4), ("small", 6)]
        .into_iter()
        .zip(&repos)
    {
        let at = repo.path().join("r");
        let spec = format!("{}:pc", s(&at));
        json(&["save", s(&disk.path), &spec, "--compression", choice]);
        assert_eq!(
            config_level(&at),
            level,
            "{choice}: the new repository's default"
        );
        let (got, bytes) = image_of(&spec);
        assert_eq!(got, level, "{choice}");
        stored.push(bytes);
        let target = kit::blank_disk(disk.size);
        json(&["restore", &spec, s(&target.path), "--yes"]);
        assert_same_filesystems(&disk, &target.path);
    }
    eprintln!("stored fast/balanced/small: {stored:?}");
    assert!(
        stored[2] <= stored[1] && stored[1] < stored[0],
        "small <= balanced < fast: {stored:?}"
    );

    // The small repository: a save without a choice takes its default, one with a choice
    // uses it for the chunks it stores and leaves the default alone.
    let at = repos[2].path().join("r");
    let mut changed = disk.duplicate().expect("copy of the disk");
    kit::modify_small(&changed.path, &mut changed.parts[0]).expect("modify");
    json(&["save", s(&changed.path), &format!("{}:again", s(&at))]);
    assert_eq!(image_of(&format!("{}:again", s(&at))).0, 6);
    kit::modify_small(&changed.path, &mut changed.parts[0]).expect("modify");
    json(&[
        "save",
        s(&changed.path),
        &format!("{}:quick", s(&at)),
        "--compression",
        "fast",
    ]);
    assert_eq!(image_of(&format!("{}:quick", s(&at))).0, 1);
    assert_eq!(config_level(&at), 6, "a save's choice is its own");
    let target = kit::blank_disk(disk.size);
    json(&[
        "restore",
        &format!("{}:quick", s(&at)),
        s(&target.path),
        "--yes",
    ]);
    assert_same_filesystems(&changed, &target.path);

    let bad = wraith(&[
        "save",
        s(&disk.path),
        &format!("{}:x", s(&at)),
        "--compression",
        "max",
    ]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("fast, balanced or small"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

/// Two machines installed separately from the same files: each has its own data first (logs
/// of another size), so every file sits at another disk offset, off the 1 MiB grid. Content-
/// defined chunks (new repositories) find the files anyway: the second disk stores a fraction
/// of the first. A repository made before them (fixed windows, its config says nothing of
/// chunking) keeps working as it did, sharing next to nothing.
///
/// Not achieved yet: the same files in another order, or placed less regularly (NTFS by
/// ntfs-3g). Chunks then span two files whose neighbours differ (bench/README.md: the second
/// NTFS disk stores 0.56-0.89 of the first); boundaries at file starts are the way there.
#[test]
fn independently_installed_disks_share_their_files_chunks() {
    kit::require_tools();
    let work = tempfile::tempdir().expect("tempdir");
    // The "installation media": files of many sizes, text and binary.
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..48u64 {
        let len = 64 * 1024 + (i as usize * 37_123) % (900 * 1024);
        let data = if i % 3 == 0 {
            let mut v = vec![0u8; len];
            kit::Prng::new(1000 + i).fill(&mut v);
            v
        } else {
            kit::text(2000 + i, len)
        };
        files.push((format!("f{i:02}"), data));
    }
    let make = |name: &str, order: &mut dyn Iterator<Item = usize>, extra: usize| -> PathBuf {
        let tree = work.path().join(format!("{name}-tree"));
        std::fs::create_dir_all(&tree).expect("tree");
        // Another machine's own file first (its logs), so everything after it moves.
        std::fs::write(tree.join("0-own.log"), kit::text(extra as u64, extra)).expect("own");
        for i in order {
            let (n, data) = &files[i];
            // Other names (mkfs.ext4 -d still lays them out in the same order: the order of
            // the files is not what this test varies).
            let dir = tree.join(format!("{name}-{}", i % 5));
            std::fs::create_dir_all(&dir).expect("dir");
            std::fs::write(dir.join(format!("{name}-{n}")), data).expect("file");
        }
        let img = work.path().join(format!("{name}.img"));
        std::fs::File::create(&img)
            .and_then(|f| f.set_len(64 * MIB))
            .expect("image");
        let o = Command::new("mkfs.ext4")
            .args(["-q", "-F", "-b", "4096", "-d"])
            .arg(&tree)
            .arg(&img)
            .output()
            .expect("mkfs.ext4");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        img
    };
    let a = make("alpha", &mut (0..files.len()), 3 * MIB as usize + 12_345);
    let b = make("beta", &mut (0..files.len()), 700_001);
    let new_stored = |v: &Value| v["stats"]["new_stored_bytes"].as_u64().expect("stats");

    let repo = repo_dir();
    let at = repo.path().join("r");
    let first = json(&["save", s(&a), &format!("{}:alpha", s(&at))]);
    let second = json(&["save", s(&b), &format!("{}:beta", s(&at))]);
    let (fa, fb) = (new_stored(&first), new_stored(&second));
    eprintln!(
        "content-defined: first {fa}, second {fb} ({:.3})",
        fb as f64 / fa as f64
    );
    assert!(
        fb * 10 <= fa * 3,
        "the second machine stores at most 0.3x the first: {fb} of {fa}"
    );
    let target = work.path().join("restored.img");
    json(&["restore", &format!("{}:beta", s(&at)), s(&target), "--yes"]);
    assert!(
        std::fs::read(&target).expect("restored") == std::fs::read(&b).expect("source"),
        "the second machine's disk restores byte for byte"
    );

    // NTFS (Windows machines): the same files copied in by ntfscp after another first file.
    // ntfs-3g places them less regularly than mkfs.ext4 -d (measured 0.56 of the first): the
    // goal of 0.3 needs boundaries at file starts; here the second disk only stores less than
    // the first, and restores.
    let ntfs = |seed: u64, order: &mut dyn Iterator<Item = usize>, extra: usize| -> kit::Disk {
        let mut d = kit::DiskBuilder::new(96 * MIB, kit::Table::Gpt)
            .seed(seed)
            .part(80 * MIB, kit::FsType::Ntfs, "DATA")
            .build()
            .expect("NTFS disk");
        let mut put = vec![("own.log".to_string(), kit::text(seed, extra))];
        put.extend(order.map(|i| files[i].clone()));
        kit::put_files(&d.path.clone(), &mut d.parts[0], put).expect("ntfscp");
        d
    };
    let na = ntfs(31, &mut (0..files.len()), 2 * MIB as usize + 4_321);
    let nb = ntfs(31, &mut (0..files.len()), 555_555);
    let repo = repo_dir();
    let at = repo.path().join("r");
    let first = json(&["save", s(&na.path), &format!("{}:win-a", s(&at))]);
    let second = json(&["save", s(&nb.path), &format!("{}:win-b", s(&at))]);
    let (fa, fb) = (new_stored(&first), new_stored(&second));
    eprintln!(
        "NTFS content-defined: first {fa}, second {fb} ({:.3})",
        fb as f64 / fa as f64
    );
    assert!(fb < fa, "NTFS: {fb} of {fa}");
    let target = kit::blank_disk(nb.size);
    json(&[
        "restore",
        &format!("{}:win-b", s(&at)),
        s(&target.path),
        "--yes",
    ]);
    assert_same_filesystems(&nb, &target.path);

    // A repository from before (fixed windows): still saves and restores, and shows what
    // content-defined chunking buys.
    let old = repo_dir();
    let at = old.path().join("r");
    std::fs::create_dir_all(&at).expect("dir");
    std::fs::write(
        at.join("wraith-repo.json"),
        r#"{"format":"wraith-repository","version":1,"chunk_size":1048576,"hash":"blake3","compression":"zstd","zstd_level":4}"#,
    )
    .expect("old config");
    let first = json(&["save", s(&a), &format!("{}:alpha", s(&at))]);
    let second = json(&["save", s(&b), &format!("{}:beta", s(&at))]);
    let (oa, ob) = (new_stored(&first), new_stored(&second));
    eprintln!(
        "fixed windows: first {oa}, second {ob} ({:.3})",
        ob as f64 / oa as f64
    );
    let target = work.path().join("restored-old.img");
    json(&["restore", &format!("{}:beta", s(&at)), s(&target), "--yes"]);
    assert!(std::fs::read(&target).expect("restored") == std::fs::read(&b).expect("source"));
    let cfg = std::fs::read_to_string(at.join("wraith-repo.json")).expect("config");
    assert!(
        !cfg.contains("cdc"),
        "an old repository keeps its chunking: {cfg}"
    );
}

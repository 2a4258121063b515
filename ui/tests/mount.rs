//! `wraith mount` / `wraith umount` on this host: a saved image shown as a directory, each
//! partition mounted read-only (by the kernel's vfat, ext4 and ntfs3; where the kernel has
//! none, as on this build machine, by ntfs-3g or fuse2fs, else by Wraith's own readers), the disk reaching the kernel through its NBD driver
//! or, on a kernel without one (this build machine), through our FUSE file. Checked: every
//! file reads back as saved, nothing can be written, the repository is untouched, and
//! `wraith umount` leaves nothing mounted and no process behind — also after the serving
//! process was killed.
#![allow(clippy::unwrap_used, clippy::panic)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use wraith_engine::device::ReadAt;
use wraith_engine::repo::image_disk::ImageDisk;
use wraith_engine::repo::Repository;
use wraith_testkit as kit;

fn wraith(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wraith"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Whether this machine can mount at all (root, loop devices, and FUSE or NBD).
fn can_mount() -> bool {
    let nbd = Path::new("/sys/block/nbd0").exists();
    if !(nix::unistd::Uid::effective().is_root()
        && Path::new("/dev/loop-control").exists()
        && (nbd || Path::new("/dev/fuse").exists()))
    {
        kit::skip_missing_tool("root with loop devices and FUSE or NBD", "wraith mount");
        return false;
    }
    // Where the kernel lacks a filesystem, its FUSE helper must be there (FAT has none:
    // Wraith's own reader serves it).
    for (fs, helper) in [("ntfs3", "ntfs-3g"), ("ext4", "fuse2fs")] {
        if !kernel_has(fs) && kit::find_tool(helper).is_none() {
            kit::skip_missing_tool(helper, "wraith mount on a kernel without its filesystem");
            return false;
        }
    }
    true
}

fn kernel_has(fs: &str) -> bool {
    std::fs::read_to_string("/proc/filesystems")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().last() == Some(fs))
}

/// Every regular file under `dir`, by '/'-separated relative path.
fn files_in(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d)
            .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
            .flatten()
        {
            let p = e.path();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                todo.push(p);
            } else if t.is_file() {
                let rel = p.strip_prefix(dir).unwrap().to_str().unwrap().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Mount points at or under `dir`.
fn mounts_under(dir: &Path) -> Vec<String> {
    let d = s(dir).to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| *m == d || m.starts_with(&format!("{d}/")))
        .collect()
}

/// Loop devices whose backing file lies under `dir`.
fn loops_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/sys/block").unwrap().flatten() {
        let back = e.path().join("loop/backing_file");
        if let Ok(b) = std::fs::read_to_string(back) {
            if Path::new(b.trim()).starts_with(dir) {
                out.push(e.file_name().to_string_lossy().into_owned());
            }
        }
    }
    out
}

fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| !st.contains(") Z "))
}

/// Every file of the repository with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    files_in(dir)
}

struct Mounted {
    dir: tempfile::TempDir,
    json: Value,
}

fn mount(spec: &str) -> Mounted {
    let dir = tempfile::tempdir().unwrap();
    let o = wraith(&["--json", "mount", spec, s(dir.path())]);
    assert!(o.status.success(), "wraith mount failed: {}", text(&o));
    let line = String::from_utf8_lossy(&o.stdout).into_owned();
    let json: Value = serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("not one JSON line ({e}): {line}"));
    assert_eq!(json["result"], "mounted", "{json}");
    Mounted { dir, json }
}

impl Mounted {
    fn pid(&self) -> u64 {
        self.json["pid"].as_u64().unwrap()
    }
}

/// `disk` saved as `pc` into a new repository, and its `REPO:pc`.
fn saved(disk: &kit::Disk) -> (tempfile::TempDir, String) {
    let repo = tempfile::tempdir().unwrap();
    let spec = format!("{}:pc", s(repo.path()));
    let o = wraith(&["save", s(&disk.path), &spec]);
    assert!(o.status.success(), "{}", text(&o));
    (repo, spec)
}

#[test]
fn a_mounted_image_shows_every_partitions_files_read_only_and_umount_leaves_nothing() {
    if !can_mount() {
        return;
    }
    let disk = kit::gpt_disk();
    let (repo, spec) = saved(&disk);
    let before = snapshot(repo.path());

    let m = mount(&spec);
    let dir = m.dir.path().to_path_buf();
    let via = m.json["via"].as_str().unwrap();
    assert!(via == "NBD" || via == "FUSE", "{}", m.json);
    // `wraith mount` returned, its server goes on in the background.
    assert!(alive(m.pid()), "no background server: {}", m.json);

    for p in &disk.parts {
        // The kernel's driver first, then the usual FUSE helper, then Wraith's own reader.
        let (driver, helper) = match p.fs {
            kit::FsType::Fat32 => ("vfat", None),
            kit::FsType::Ext4 => ("ext4", Some("fuse2fs")),
            kit::FsType::Ntfs => ("ntfs3", Some("ntfs-3g")),
            other => panic!("the fixture has a {other:?} partition"),
        };
        let want = if kernel_has(driver) {
            driver
        } else {
            helper
                .filter(|h| kit::find_tool(h).is_some())
                .unwrap_or("wraith")
        };
        let part = m.json["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["number"] == p.number)
            .unwrap_or_else(|| panic!("partition {} not listed: {}", p.number, m.json));
        assert_eq!(part["mounted_by"], want, "partition {}: {part}", p.number);
        let sub = dir.join(format!("p{}", p.number));
        let got = files_in(&sub);
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            p.files.keys().collect::<Vec<_>>(),
            "partition {} ({:?}) lists other files: {}",
            p.number,
            p.fs,
            m.json
        );
        assert!(
            got == p.files,
            "partition {} ({:?}) reads other bytes",
            p.number,
            p.fs
        );
        let err = std::fs::write(sub.join("new-file"), b"x").unwrap_err();
        assert!(
            [
                nix::errno::Errno::EROFS as i32,
                nix::errno::Errno::EACCES as i32
            ]
            .contains(&err.raw_os_error().unwrap_or(0)),
            "partition {}: a write was not refused as read-only: {err}",
            p.number
        );
    }
    // The whole disk, as saved.
    let r = Arc::new(Repository::open(repo.path()).unwrap());
    let image = ImageDisk::open(r.clone(), &r.resolve("pc", None).unwrap()).unwrap();
    let whole = std::fs::read(dir.join("disk")).unwrap();
    assert_eq!(whole.len() as u64, image.size());
    assert!(whole == image.read_vec(0, whole.len()).unwrap());
    // Nothing more can be made in DIR itself.
    assert!(std::fs::create_dir(dir.join("mine")).is_err());

    let o = wraith(&["umount", s(&dir)]);
    assert!(o.status.success(), "umount failed: {}", text(&o));
    assert_eq!(mounts_under(&dir), Vec::<String>::new());
    assert_eq!(loops_under(&dir), Vec::<String>::new());
    assert!(!alive(m.pid()), "the server still runs after umount");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "DIR not empty");
    assert!(snapshot(repo.path()) == before, "the repository changed");
}

#[test]
fn a_killed_mount_is_tidied_by_umount() {
    if !can_mount() {
        return;
    }
    let disk = kit::mbr_disk();
    let (_repo, spec) = saved(&disk);
    let m = mount(&spec);
    let dir = m.dir.path().to_path_buf();
    assert!(!mounts_under(&dir).is_empty());

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(m.pid() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let start = std::time::Instant::now();
    while alive(m.pid()) && start.elapsed().as_secs() < 10 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!alive(m.pid()));
    // What a killed server leaves is still mounted; umount removes all of it.
    assert!(!mounts_under(&dir).is_empty());
    let o = wraith(&["umount", s(&dir)]);
    assert!(
        o.status.success(),
        "umount after a kill failed: {}",
        text(&o)
    );
    assert_eq!(mounts_under(&dir), Vec::<String>::new());
    assert_eq!(loops_under(&dir), Vec::<String>::new());
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
}

#[test]
fn a_directory_that_is_not_empty_or_not_a_mount_is_refused_with_its_reason() {
    if !can_mount() {
        return;
    }
    let disk = kit::gpt_disk();
    let (repo, spec) = saved(&disk);

    let busy = tempfile::tempdir().unwrap();
    std::fs::write(busy.path().join("mine.txt"), b"keep").unwrap();
    let o = wraith(&["mount", &spec, s(busy.path())]);
    assert!(!o.status.success());
    assert!(text(&o).contains("not empty"), "{}", text(&o));
    assert_eq!(mounts_under(busy.path()), Vec::<String>::new());
    assert_eq!(
        std::fs::read(busy.path().join("mine.txt")).unwrap(),
        b"keep"
    );

    let o = wraith(&[
        "mount",
        &format!("{}:nosuch", s(repo.path())),
        s(busy.path()),
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("nosuch"), "{}", text(&o));

    let plain = tempfile::tempdir().unwrap();
    let o = wraith(&["umount", s(plain.path())]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("no image is mounted here"),
        "{}",
        text(&o)
    );
}

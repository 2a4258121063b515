//! Rescue reading end to end on a real fixture disk (GPT: FAT32, ext4, NTFS made by the real
//! mkfs tools) whose chosen sectors fail with EIO: save and clone complete, the unreadable
//! ranges are exactly the failing sectors the filesystems use, everything else is identical,
//! and the image carries the ranges (manifest and ddrescue mapfile). The same faults come from
//! QEMU's blkdebug in the VM test; here a reader wrapper injects them on the host.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use wraith_engine::device::{Device, ReadAt};
use wraith_engine::events::{Cancel, Ctx, Event, Quiet, Sink};
use wraith_engine::extent::ExtentList;
use wraith_engine::pipeline::{clone, rescue, restore, save};
use wraith_engine::repo::{manifest::Manifest, Repository};
use wraith_engine::{plan, Error, Result};

/// A disk whose listed 512-byte sectors always fail, as a dying disk's do.
struct Failing<'a> {
    dev: &'a Device,
    bad: Vec<u64>,
    errno: i32,
}

impl ReadAt for Failing<'_> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let end = offset + buf.len() as u64;
        if self.bad.iter().any(|&s| s < end && s + 512 > offset) {
            return Err(Error::io(
                "failing disk",
                std::io::Error::from_raw_os_error(self.errno),
            ));
        }
        self.dev.read_exact_at(buf, offset)
    }
    fn size(&self) -> u64 {
        self.dev.size()
    }
}

/// Sectors to fail: two inside used data of the ext4 partition, one in the NTFS one, and one
/// in free space of the ext4 partition (never read by a used-blocks copy, so never reported).
fn pick_sectors(p: &plan::Plan) -> (Vec<u64>, Vec<u64>) {
    let ext4 = &p.regions[2];
    let ntfs = &p.regions[3];
    let used_ext: Vec<_> = ext4.used.iter().copied().collect();
    let big = used_ext.iter().max_by_key(|e| e.len).unwrap();
    let a = big.start + 8 * 512;
    let b = big.start + big.len / 2 - (big.len / 2) % 512;
    let n = ntfs.used.iter().max_by_key(|e| e.len).unwrap();
    let c = n.start + n.len - 1024;
    let free = ExtentList::from_iter([wraith_engine::extent::Extent::new(ext4.start, ext4.len)])
        .minus(&ext4.used);
    let f = free.iter().max_by_key(|e| e.len).unwrap().start + 4096;
    let used = vec![a, b, c];
    let mut all = used.clone();
    all.push(f);
    (used, all)
}

/// The copy equals the source everywhere the plan copies, except the failing sectors: zero.
fn assert_copy(src: &Path, copy: &Path, p: &plan::Plan, bad: &[u64]) {
    let s = std::fs::read(src).unwrap();
    let c = std::fs::read(copy).unwrap();
    for r in p
        .regions
        .iter()
        .filter(|r| r.start < 1 << 30 && r.start > 0)
    {
        for e in r.used.iter() {
            for off in (e.start..e.end()).step_by(512) {
                let i = off as usize;
                let n = 512.min((e.end() - off) as usize);
                if bad.contains(&off) {
                    assert!(
                        c[i..i + n].iter().all(|&x| x == 0),
                        "bad sector {off} not zero"
                    );
                } else {
                    assert!(s[i..i + n] == c[i..i + n], "byte range at {off} differs");
                }
            }
        }
    }
}

/// Saves `source` as image "dying" into a repository created at `repo_dir`.
fn save_to(
    source: &dyn ReadAt,
    p: &plan::Plan,
    repo_dir: &Path,
    sink: &dyn Sink,
) -> save::SaveReport {
    let repo = Repository::open_or_create(repo_dir).unwrap();
    let opts = save::SaveOptions {
        name: "dying".into(),
        machine: None,
        all_sectors: false,
        zstd_level: None,
    };
    save::save(source, p, &repo, &opts, &Ctx::new(sink, &Cancel::new(), 2)).unwrap()
}

/// Clones `source` onto a new image file of `size` bytes at `path`.
fn clone_to(source: &dyn ReadAt, p: &plan::Plan, path: &Path, size: u64) -> clone::CloneReport {
    std::fs::File::create(path).unwrap().set_len(size).unwrap();
    let target = Device::open_write(path).unwrap();
    clone::clone(source, p, &target, None, &Ctx::quiet()).unwrap()
}

/// Restores the image `rep` saved into `repo_dir` onto a new image file of `size` bytes at
/// `path`.
fn restore_to(
    repo_dir: &Path,
    rep: &save::SaveReport,
    m: &Manifest,
    path: &Path,
    size: u64,
    sink: &dyn Sink,
) {
    std::fs::File::create(path).unwrap().set_len(size).unwrap();
    let target = Device::open_write(path).unwrap();
    let repo = Repository::open(repo_dir).unwrap();
    let cancel = Cancel::new();
    restore::restore(
        &repo,
        &rep.image,
        m,
        &target,
        None,
        &Ctx::new(sink, &cancel, 2),
    )
    .unwrap();
}

fn ranges(l: &ExtentList) -> Vec<(u64, u64)> {
    l.iter().map(|e| (e.start, e.len)).collect()
}

#[test]
fn save_and_clone_go_on_past_failing_sectors_and_record_them() {
    let fixture = wraith_testkit::gpt_disk();
    let dev = Device::open_read(&fixture.path).unwrap();
    let p = plan::plan(&dev, dev.identity.clone()).unwrap();
    let (used_bad, all_bad) = pick_sectors(&p);
    let failing = Failing {
        dev: &dev,
        bad: all_bad,
        errno: libc::EIO,
    };
    let expect: Vec<(u64, u64)> = {
        let mut v: Vec<(u64, u64)> = used_bad.iter().map(|&s| (s, 512)).collect();
        v.sort();
        v
    };

    // Save: completes, records exactly the used failing sectors, writes a mapfile.
    let tmp = tempfile::tempdir().unwrap();
    let repo_dir = tmp.path().join("repo");
    let rep = save_to(&failing, &p, &repo_dir, &Quiet);
    assert_eq!(ranges(&rep.unreadable), expect);
    let m = Repository::open(&repo_dir)
        .unwrap()
        .load_manifest(&rep.image)
        .unwrap();
    assert_eq!(ranges(&m.unreadable), expect);
    let map =
        std::fs::read_to_string(repo_dir.join(rep.image.path().replace(".manifest", ".mapfile")))
            .unwrap();
    for (s, _) in &expect {
        assert!(
            map.contains(&format!("0x{s:08X}  0x00000200  -")),
            "mapfile lacks {s}:\n{map}"
        );
    }

    // Restore of that image: identical except the failing sectors, which are zeros.
    let out = tmp.path().join("restored.img");
    restore_to(&repo_dir, &rep, &m, &out, fixture.size, &Quiet);
    assert_copy(&fixture.path, &out, &p, &used_bad);

    // Clone: the same.
    let cl = tmp.path().join("clone.img");
    let rep = clone_to(&failing, &p, &cl, fixture.size);
    assert_eq!(ranges(&rep.unreadable), expect);
    assert_copy(&fixture.path, &cl, &p, &used_bad);
}

#[test]
fn a_vanished_disk_stops_the_job_instead_of_being_rescued() {
    let fixture = wraith_testkit::gpt_disk();
    let dev = Device::open_read(&fixture.path).unwrap();
    let p = plan::plan(&dev, dev.identity.clone()).unwrap();
    let (_, all_bad) = pick_sectors(&p);
    let gone = Failing {
        dev: &dev,
        bad: all_bad,
        errno: libc::ENODEV,
    };
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repository::open_or_create(&tmp.path().join("repo")).unwrap();
    let opts = save::SaveOptions {
        name: "gone".into(),
        machine: None,
        all_sectors: false,
        zstd_level: None,
    };
    let e = save::save(&gone, &p, &repo, &opts, &Ctx::quiet()).unwrap_err();
    assert!(e.to_string().contains("failing disk"), "{e}");
    assert!(
        repo.images().unwrap().is_empty(),
        "no image may look complete"
    );
}

/// The files report of one partition, as the JSON result and the manifest carry it.
fn named_files(files: &[rescue::DamagedFiles], p: &plan::Plan, number: u32) -> serde_json::Value {
    let start = p
        .regions
        .iter()
        .find(|r| r.kind == plan::RegionKind::Partition { number })
        .unwrap()
        .start;
    let d = files
        .iter()
        .find(|d| d.region_start == start)
        .unwrap_or_else(|| panic!("no files named for partition {number}: {files:?}"));
    serde_json::to_value(d).unwrap()
}

/// What a report must say of a partition whose one failing sector lies in `file`'s data.
fn assert_names_only(d: &serde_json::Value, file: &str, fs: &str) {
    assert_eq!(d["fs"], fs, "{d}");
    assert_eq!(
        d["files"],
        serde_json::json!([{ "path": format!("/{file}"), "also": [], "kind": "data", "bytes": 512 }]),
        "{d}"
    );
    assert_eq!(d["more"], 0, "{d}");
    assert_eq!(d["unclaimed"], 0, "{d}");
}

#[test]
fn save_and_clone_name_the_file_holding_each_failing_sector_on_ext4_and_ntfs() {
    let fixture = wraith_testkit::gpt_disk();
    let (ext_file, s1) = fixture.sector_in_a_file(2);
    let (ntfs_file, s2) = fixture.sector_in_a_file(3);
    let dev = Device::open_read(&fixture.path).unwrap();
    let p = plan::plan(&dev, dev.identity.clone()).unwrap();
    let failing = Failing {
        dev: &dev,
        bad: vec![s1 * 512, s2 * 512],
        errno: libc::EIO,
    };
    let check = |files: &[rescue::DamagedFiles], what: &str| {
        assert_eq!(files.len(), 2, "{what}: {files:?}");
        assert_names_only(&named_files(files, &p, 2), &ext_file, "ext4");
        assert_names_only(&named_files(files, &p, 3), &ntfs_file, "ntfs");
    };

    let tmp = tempfile::tempdir().unwrap();
    let repo_dir = tmp.path().join("repo");
    let events = std::sync::Mutex::new(Vec::new());
    let sink = |e: Event| events.lock().unwrap().push(e);
    let rep = save_to(&failing, &p, &repo_dir, &sink);
    check(&rep.unreadable_files, "save");
    // The image keeps the names, for restore and verify to repeat.
    let m = Repository::open(&repo_dir)
        .unwrap()
        .load_manifest(&rep.image)
        .unwrap();
    check(&m.unreadable_files, "manifest");
    // The job's log (and the TUI's summary, built from its warnings) names them too, and a
    // restore of the image repeats them.
    let warns_of_both = |what: &str| {
        let warned: Vec<String> = std::mem::take(&mut *events.lock().unwrap())
            .into_iter()
            .filter_map(|e| match e {
                Event::Warning { message } => Some(message),
                _ => None,
            })
            .collect();
        for f in [&ext_file, &ntfs_file] {
            assert!(
                warned.iter().any(|w| w.contains(&format!("/{f}"))),
                "{what}: {f} not in {warned:?}"
            );
        }
    };
    warns_of_both("save");
    let out = tmp.path().join("restored.img");
    restore_to(&repo_dir, &rep, &m, &out, fixture.size, &sink);
    warns_of_both("restore");

    let rep = clone_to(&failing, &p, &tmp.path().join("clone.img"), fixture.size);
    check(&rep.unreadable_files, "clone");
}

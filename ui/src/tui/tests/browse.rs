//! Browse: snapshots of its screens (partitions with one that cannot be read, a directory with
//! marks, the destinations, the copy under way and its summary), and a real run by keys: a
//! saved image of an ext4 disk made by mkfs.ext4, browsed, a file and a folder marked and
//! copied to a stick (a directory standing in for its mount), the copies byte-identical with
//! their times; copied again, the files already there are left as they were.

use super::super::app::{App, Msg, Screen};
use super::super::browse::{Browse, Copying, DirView, Marked, View};
use super::fixtures::*;
use crossterm::event::KeyCode;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::sync::mpsc;
use std::time::Duration;
use wraith_engine::fs::reader::{Entry, EntryKind, Time};
use wraith_engine::ops::extract::{PartitionFiles, Tally};
use wraith_engine::repo::ImageRef;

const OLD: i64 = 1_234_567_890;

fn image() -> ImageRef {
    ImageRef {
        name: "Samsung_SSD_860-S3Z9NB0K".into(),
        id: "20261122T053500-ab12".into(),
    }
}

fn browse(view: View) -> Browse {
    Browse {
        image: image(),
        back: None,
        view,
        reading: None,
        parts: Some(Ok(vec![
            PartitionFiles {
                number: 1,
                size: 512 << 20,
                fs: Some("FAT32".into()),
                label: Some("EFI".into()),
                readable: Ok(()),
            },
            PartitionFiles {
                number: 2,
                size: 40 << 30,
                fs: Some("ext4".into()),
                label: Some("root".into()),
                readable: Ok(()),
            },
            PartitionFiles {
                number: 3,
                size: 8 << 30,
                fs: None,
                label: None,
                readable: Err(
                    "unsupported: no ext2/3/4, FAT or NTFS filesystem found on this partition"
                        .into(),
                ),
            },
        ])),
        part_sel: 1,
        dir: None,
        marked: BTreeMap::new(),
        select_after: None,
        error: None,
        seq: 0,
        cancel: None,
        worker: None,
    }
}

fn entry(name: &str, kind: EntryKind, size: u64, secs: i64) -> Entry {
    Entry {
        name: name.as_bytes().to_vec(),
        id: 0,
        kind,
        size,
        mtime: Some(Time { secs, nsecs: 0 }),
        atime: None,
        ctime: None,
        mode: None,
        uid: None,
        gid: None,
        nlink: 1,
        target: None,
        unsupported: None,
    }
}

fn dir_browse() -> Browse {
    let mut b = browse(View::Dir);
    b.dir = Some(DirView {
        number: 2,
        path: "/home/anna".into(),
        entries: vec![
            entry("Documents", EntryKind::Dir, 4096, 1_790_000_000),
            entry("Pictures", EntryKind::Dir, 4096, 1_791_000_000),
            entry(
                "invoice 2026-11.pdf",
                EntryKind::File,
                245_760,
                1_795_000_000,
            ),
            entry("notes.txt", EntryKind::File, 1_234, 1_795_300_000),
            entry(
                "thesis-final.odt",
                EntryKind::File,
                3_500_000,
                1_795_340_000,
            ),
        ],
        sel: 3,
    });
    b.marked.insert(
        "/home/anna/Pictures".into(),
        Marked {
            dir: true,
            size: 4096,
            entry: entry("Pictures", EntryKind::Dir, 4096, 1_791_000_000),
        },
    );
    b.marked.insert(
        "/home/anna/notes.txt".into(),
        Marked {
            dir: false,
            size: 1_234,
            entry: entry("notes.txt", EntryKind::File, 1_234, 1_795_300_000),
        },
    );
    b
}

fn shown(b: Browse) -> App {
    let (mut a, _rx) = app();
    a.screen = Screen::Browse(Box::new(b));
    a
}

#[test]
fn browse_screens() {
    let a = shown(browse(View::Parts));
    snap!("browse_partitions", a);
    let mut b = browse(View::Parts);
    b.reading = Some((1, "/".into()));
    snap!("browse_reading", shown(b));
    snap!("browse_directory", shown(dir_browse()));

    let mut b = dir_browse();
    b.view = View::Dest {
        places: vec![super::super::save_log::LogPlace {
            device: "/dev/sdd1".into(),
            fs: "vfat".into(),
            label: Some("BACKUP".into()),
            size: 32 * GB,
            disk: "Kingston DataTraveler E0D55EA5".into(),
            removable: true,
            mounted: None,
        }],
        sel: 0,
    };
    snap!("browse_destination", shown(b));

    let copying = Copying {
        place: "/dev/sdd1 (BACKUP, Kingston DataTraveler E0D55EA5)".into(),
        dest: Some("/run/wraith/mnt/wraith-files-_dev_sdd1/Samsung_SSD_860-S3Z9NB0K-files".into()),
        existed: false,
        total: Some((214, 1_500_000_000)),
        bytes: 600_000_000,
        files: 87,
        current: "Pictures/2026/IMG_0412.JPG".into(),
        ..Copying::default()
    };
    let mut b = dir_browse();
    b.view = View::Copy(Box::new(copying.clone()));
    snap!("browse_copying", shown(b));

    let mut done = copying;
    done.existed = true;
    done.warnings = vec!["notes.txt exists (use --force to replace it)".into()];
    done.done = Some(Ok(Tally {
        files: 213,
        dirs: 9,
        links: 0,
        bytes: 1_499_998_766,
        warnings: done.warnings.clone(),
        failed: Vec::new(),
    }));
    let mut b = dir_browse();
    b.view = View::Copy(Box::new(done));
    snap!("browse_copy_done", shown(b));
}

#[test]
fn partitions_that_cannot_be_read_cannot_be_entered() {
    let mut b = browse(View::Parts);
    b.part_sel = 2;
    let mut a = shown(b);
    key(&mut a, KeyCode::Enter);
    let Screen::Browse(b) = &a.screen else {
        panic!("left Browse")
    };
    assert!(b.reading.is_none(), "asked to list an unreadable partition");
    assert!(matches!(b.view, View::Parts));
}

/// Runs the app's messages until `done` holds.
fn pump_until(a: &mut App, rx: &mpsc::Receiver<Msg>, what: &str, done: impl Fn(&App) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !done(a) {
        assert!(std::time::Instant::now() < deadline, "{what}: timed out");
        if let Ok(m) = rx.recv_timeout(Duration::from_millis(100)) {
            a.handle(m);
        }
    }
}

fn browsing(a: &App) -> &Browse {
    match &a.screen {
        Screen::Browse(b) => b,
        _ => panic!("expected Browse"),
    }
}

fn idle(a: &App) -> bool {
    matches!(&a.screen, Screen::Browse(b) if b.reading.is_none())
}

fn copied(a: &App) -> bool {
    matches!(&a.screen, Screen::Browse(b)
        if matches!(&b.view, View::Copy(c) if c.done.is_some()))
}

/// mkfs.ext4 of a directory, saved into a repository as image "pc": (temp dirs, source dir,
/// repository path).
fn saved_ext4() -> Option<(tempfile::TempDir, std::path::PathBuf, String)> {
    if wraith_testkit::find_tool("mkfs.ext4").is_none() {
        wraith_testkit::skip_missing_tool("mkfs.ext4", "browsing a saved ext4 image");
        return None;
    }
    let t = tempfile::tempdir().expect("tempdir");
    let src = t.path().join("src");
    std::fs::create_dir_all(src.join("docs/sub")).expect("mkdir");
    let big: Vec<u8> = (0..2_300_000u32).map(|i| (i * 31 % 253) as u8).collect();
    let files: [(&str, &[u8]); 4] = [
        ("docs/a.txt", b"alpha\n"),
        ("docs/sub/big.bin", &big),
        ("notes.txt", b"notes\n"),
        ("other.txt", b"not chosen\n"),
    ];
    for (i, (f, data)) in files.iter().enumerate() {
        std::fs::write(src.join(f), data).expect("write");
        std::fs::File::options()
            .write(true)
            .open(src.join(f))
            .expect("open")
            .set_times(
                std::fs::FileTimes::new().set_modified(
                    std::time::UNIX_EPOCH + Duration::from_secs(OLD as u64 + i as u64),
                ),
            )
            .expect("times");
    }
    let img = t.path().join("disk.img");
    let o = std::process::Command::new("mkfs.ext4")
        .args(["-q", "-F", "-d"])
        .arg(&src)
        .arg(&img)
        .arg("32M")
        .output()
        .expect("mkfs.ext4");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let repo = t.path().join("images");
    let dev = wraith_engine::device::Device::open_read(&img).expect("open");
    let p = wraith_engine::plan::plan(&dev, dev.identity.clone()).expect("plan");
    let r = wraith_engine::repo::Repository::open_or_create(&repo).expect("repo");
    let opts = wraith_engine::pipeline::save::SaveOptions {
        name: "pc".into(),
        machine: None,
        all_sectors: false,
        zstd_level: None,
    };
    wraith_engine::pipeline::save::save(&dev, &p, &r, &opts, &wraith_engine::events::Ctx::quiet())
        .expect("save");
    let at = repo.display().to_string();
    Some((t, src, at))
}

#[test]
fn browse_a_saved_image_and_copy_a_file_and_a_folder_to_a_stick() {
    let Some((_t, src, repo)) = saved_ext4() else {
        return;
    };
    let (tx, rx) = mpsc::channel();
    let mut m = fake_machine();
    let mut usb = disk(
        "/dev/sdd",
        "Kingston DataTraveler",
        "E0D55EA5",
        32 * GB,
        "usb",
    );
    usb.removable = true;
    usb.partitions = vec![part("/dev/sdd1", 32 * GB, "vfat", "BACKUP")];
    m.disks = vec![usb];
    m.boot.clear();
    let mut a = App::new(m, tx);
    // The stick is mounted; a directory stands in for it.
    let stick = tempfile::tempdir().expect("tempdir");
    let info = tempfile::tempdir().expect("tempdir");
    a.mountinfo = info.path().join("mountinfo");
    std::fs::write(
        &a.mountinfo,
        format!(
            "40 22 8:49 / {} rw,relatime - vfat /dev/sdd1 rw\n",
            stick.path().display()
        ),
    )
    .expect("mountinfo");

    // Browse repository: typed location, the only image, its details, then b.
    key(&mut a, KeyCode::Enter);
    for _ in 0..4 {
        key(&mut a, KeyCode::Down);
    }
    key(&mut a, KeyCode::Enter);
    key(&mut a, KeyCode::Char('t'));
    typed(&mut a, &repo);
    key(&mut a, KeyCode::Enter);
    pump_until(&mut a, &rx, "opening", |a| {
        a.opening.is_none() && matches!(a.screen, Screen::Images(_))
    });
    key(&mut a, KeyCode::Enter);
    assert!(matches!(a.screen, Screen::ImageInfo(..)), "no details");
    key(&mut a, KeyCode::Char('b'));
    assert!(
        browsing(&a).reading.is_some(),
        "the partitions are read on the worker"
    );
    pump_until(&mut a, &rx, "partitions", idle);
    let parts = match &browsing(&a).parts {
        Some(Ok(p)) => p.clone(),
        other => panic!("partitions: {other:?}"),
    };
    assert_eq!(parts.len(), 1);
    assert_eq!((parts[0].number, parts[0].fs.as_deref()), (0, Some("ext4")));
    assert_eq!(parts[0].readable, Ok(()));

    key(&mut a, KeyCode::Enter);
    pump_until(&mut a, &rx, "root listing", idle);
    let names = |a: &App| -> Vec<String> {
        browsing(a)
            .dir
            .as_ref()
            .expect("a listing")
            .entries
            .iter()
            .map(|e| e.name_lossy())
            .collect()
    };
    assert_eq!(names(&a), ["docs", "lost+found", "notes.txt", "other.txt"]);
    // Into docs and back up: the cursor comes back onto docs.
    key(&mut a, KeyCode::Enter);
    pump_until(&mut a, &rx, "docs listing", idle);
    assert_eq!(names(&a), ["sub", "a.txt"]);
    assert_eq!(
        browsing(&a).dir.as_ref().map(|d| d.path.as_str()),
        Some("/docs")
    );
    key(&mut a, KeyCode::Backspace);
    pump_until(&mut a, &rx, "back up", idle);
    assert_eq!(browsing(&a).dir.as_ref().map(|d| d.sel), Some(0));
    // Mark docs (the cursor moves on) and notes.txt.
    key(&mut a, KeyCode::Char(' '));
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Char(' '));
    let marked: Vec<String> = browsing(&a).marked.keys().cloned().collect();
    assert_eq!(marked, ["/docs", "/notes.txt"]);
    let footer = super::super::browse::marked_text(browsing(&a));
    assert_eq!(footer, "2 marked: 1 file (6 B), 1 folder");

    key(&mut a, KeyCode::Char('c'));
    let View::Dest { places, .. } = &browsing(&a).view else {
        panic!("expected the destinations")
    };
    assert_eq!(places.len(), 1);
    key(&mut a, KeyCode::Enter);
    pump_until(&mut a, &rx, "copy", copied);
    let View::Copy(c) = &browsing(&a).view else {
        unreachable!()
    };
    let t = c.done.clone().expect("done").expect("copied");
    assert_eq!((t.files, t.dirs), (3, 2), "{t:?}");
    assert!(t.warnings.is_empty() && t.failed.is_empty(), "{t:?}");
    assert_eq!(c.total, Some((3, 6 + 2_300_000 + 6)));
    let dest = stick.path().join("pc-files");
    assert_eq!(c.dest.as_deref(), Some(dest.as_path()));
    assert!(!c.existed);
    for (i, f) in ["docs/a.txt", "docs/sub/big.bin", "notes.txt"]
        .iter()
        .enumerate()
    {
        let got = dest.join(f);
        assert!(
            std::fs::read(&got).expect("copied") == std::fs::read(src.join(f)).expect("src"),
            "{f} differs"
        );
        assert_eq!(
            std::fs::metadata(&got).expect("meta").mtime(),
            OLD + i as i64,
            "{f}: time not kept"
        );
    }
    assert!(
        !dest.join("other.txt").exists(),
        "an unmarked file was copied"
    );

    // Enter: back to the files, nothing marked. Copy notes.txt (highlighted) again after
    // changing the copy: it is left as it is, and the summary says why.
    key(&mut a, KeyCode::Enter);
    assert!(matches!(browsing(&a).view, View::Dir));
    assert!(browsing(&a).marked.is_empty());
    std::fs::write(dest.join("notes.txt"), b"mine").expect("write");
    key(&mut a, KeyCode::Up); // from other.txt, where marking moved the cursor
    key(&mut a, KeyCode::Char('c'));
    key(&mut a, KeyCode::Enter);
    pump_until(&mut a, &rx, "second copy", copied);
    let View::Copy(c) = &browsing(&a).view else {
        unreachable!()
    };
    assert!(c.existed);
    let t = c.done.clone().expect("done").expect("ran");
    assert_eq!(t.files, 0);
    assert_eq!(t.failed.len(), 1, "{t:?}");
    assert!(t.failed[0].contains("notes.txt exists"), "{t:?}");
    // Said from the folder, which the screen names above.
    assert_eq!(c.warnings, ["notes.txt exists (use --force to replace it)"]);
    assert_eq!(
        std::fs::read(dest.join("notes.txt")).expect("read"),
        b"mine"
    );
    // Esc from the files goes up to the partitions, then back to the details.
    key(&mut a, KeyCode::Esc);
    key(&mut a, KeyCode::Esc);
    key(&mut a, KeyCode::Esc);
    assert!(matches!(a.screen, Screen::ImageInfo(..)));
}

/// Esc while the copy runs asks the worker to stop (the engine checks between chunks); keys
/// other than Esc do nothing then. `?` lists the keys of the listing.
#[test]
fn esc_cancels_a_running_copy_and_help_lists_the_keys() {
    let cancel = wraith_engine::events::Cancel::new();
    let mut b = dir_browse();
    b.view = View::Copy(Box::default());
    b.cancel = Some(cancel.clone());
    let mut a = shown(b);
    key(&mut a, KeyCode::Enter);
    assert!(!cancel.is_cancelled());
    assert!(matches!(browsing(&a).view, View::Copy(_)));
    key(&mut a, KeyCode::Esc);
    assert!(cancel.is_cancelled(), "Esc did not cancel the copy");
    let View::Copy(c) = &browsing(&a).view else {
        panic!("left the copy while it runs")
    };
    assert!(c.cancelling);

    let mut a = shown(dir_browse());
    key(&mut a, KeyCode::Char('?'));
    snap!("browse_directory_help", a);
}

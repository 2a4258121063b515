//! `ops::extract` on a saved image of a real ext4 disk (made by mkfs.ext4 from a directory):
//! the events a front end renders (the pre-walk total, progress up to that total, a warning
//! naming what was not copied), files byte-identical with their times, existing files never
//! overwritten when merging into a folder that is there, and a cancel that stops the copy.
#![allow(clippy::panic, clippy::unwrap_used)]

mod saved;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use wraith_engine::events::Cancel;
use wraith_engine::fs::reader;
use wraith_engine::ops::extract::{self, ExtractEvent, Item, Options, Partition};
use wraith_engine::Error;

const OLD: i64 = 1_234_567_890;

struct Fixture {
    _t: tempfile::TempDir,
    src: PathBuf,
    disk: wraith_testkit::Disk,
}

/// A 32 MiB ext4 disk without a table holding docs/{a.txt, sub/big.bin, pipe} and top.txt.
fn fixture() -> Option<Fixture> {
    if wraith_testkit::find_tool("mkfs.ext4").is_none() {
        wraith_testkit::skip_missing_tool("mkfs.ext4", "extracting from a saved ext4 image");
        return None;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    std::fs::create_dir_all(src.join("docs/sub")).unwrap();
    std::fs::write(src.join("docs/a.txt"), b"alpha\n").unwrap();
    let big: Vec<u8> = (0..3_500_000u32).map(|i| (i * 13 % 251) as u8).collect();
    std::fs::write(src.join("docs/sub/big.bin"), &big).unwrap();
    std::fs::write(src.join("top.txt"), b"top level\n").unwrap();
    nix::unistd::mkfifo(
        &src.join("docs/pipe"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    for f in ["docs/a.txt", "docs/sub/big.bin", "top.txt"] {
        std::fs::File::options()
            .write(true)
            .open(src.join(f))
            .unwrap()
            .set_times(
                std::fs::FileTimes::new().set_modified(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(OLD as u64),
                ),
            )
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("disk.img");
    let o = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-d"])
        .arg(&src)
        .arg(&img)
        .arg("32M")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let disk = wraith_testkit::Disk {
        dir,
        path: img,
        size: 32 << 20,
        parts: Vec::new(),
        table: wraith_testkit::Table::None,
    };
    Some(Fixture { _t: t, src, disk })
}

fn items(fs: &dyn wraith_engine::fs::FsReader, paths: &[&str], dest: &Path) -> Vec<Item> {
    paths
        .iter()
        .map(|p| {
            let e = reader::lookup(fs, p).unwrap();
            Item {
                to: dest.join(e.name_lossy()),
                entry: e,
                contents_into: false,
            }
        })
        .collect()
}

const MERGE: Options = Options {
    force: false,
    merge: true,
    count_first: true,
    owners: false,
};

#[test]
fn the_events_tell_the_total_the_progress_and_what_was_skipped() {
    let Some(fx) = fixture() else { return };
    let (_repo, image) = saved::saved(&fx.disk);
    let part = Partition::of_image(image, 0).unwrap();
    let slice = part.slice();
    let fs = reader::open(&slice).unwrap();
    let out = tempfile::tempdir().unwrap();
    let events = Mutex::new(Vec::new());
    let on = |e: ExtractEvent| events.lock().unwrap().push(e);
    let t = extract::extract(
        fs.as_ref(),
        &items(fs.as_ref(), &["/docs", "/top.txt"], out.path()),
        &MERGE,
        &on,
        &Cancel::new(),
    )
    .unwrap();
    let events = events.into_inner().unwrap();
    let total_bytes = 6 + 3_500_000 + 10;
    assert_eq!(
        events[0],
        ExtractEvent::Total {
            files: 3,
            bytes: total_bytes
        }
    );
    // Progress never goes back and ends at the total.
    let progress: Vec<(u64, u64)> = events
        .iter()
        .filter_map(|e| match e {
            ExtractEvent::Progress { bytes, files, .. } => Some((*bytes, *files)),
            _ => None,
        })
        .collect();
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert_eq!(progress.last(), Some(&(total_bytes, 3)));
    assert!(events.iter().any(|e| matches!(e,
        ExtractEvent::Progress { path, .. } if path.ends_with("docs/sub/big.bin"))));
    // The fifo is named in a warning and not created.
    let warnings: Vec<&String> = events
        .iter()
        .filter_map(|e| match e {
            ExtractEvent::Warning { message } => Some(message),
            _ => None,
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("docs/pipe"), "{warnings:?}");
    assert!(!out.path().join("docs/pipe").exists());
    assert_eq!((t.files, t.dirs, t.bytes), (3, 2, total_bytes));
    assert_eq!(t.warnings.len(), 1);
    assert!(t.failed.is_empty());
    for f in ["docs/a.txt", "docs/sub/big.bin", "top.txt"] {
        let got = out.path().join(f);
        assert!(
            std::fs::read(&got).unwrap() == std::fs::read(fx.src.join(f)).unwrap(),
            "{f} differs"
        );
        assert_eq!(std::fs::metadata(&got).unwrap().mtime(), OLD, "{f}: mtime");
    }

    // Again into the same folder, one file changed there meanwhile: merged, nothing
    // overwritten, each existing file named in a warning.
    std::fs::write(out.path().join("top.txt"), b"mine").unwrap();
    let again = extract::extract(
        fs.as_ref(),
        &items(fs.as_ref(), &["/docs", "/top.txt"], out.path()),
        &MERGE,
        &|_| {},
        &Cancel::new(),
    )
    .unwrap();
    assert_eq!(again.files, 0);
    assert_eq!(std::fs::read(out.path().join("top.txt")).unwrap(), b"mine");
    // a.txt and big.bin exist (warnings inside docs), the fifo again; top.txt failed.
    assert_eq!(again.warnings.len(), 3, "{:?}", again.warnings);
    assert!(
        again.warnings.iter().any(|w| w.contains("a.txt exists")),
        "{:?}",
        again.warnings
    );
    assert_eq!(again.failed.len(), 1);
    assert!(
        again.failed[0].contains("top.txt exists"),
        "{:?}",
        again.failed
    );

    // Without merging, an existing folder is refused as a whole.
    let strict = Options {
        merge: false,
        ..MERGE
    };
    let r = extract::extract(
        fs.as_ref(),
        &items(fs.as_ref(), &["/docs"], out.path()),
        &strict,
        &|_| {},
        &Cancel::new(),
    )
    .unwrap();
    assert_eq!(r.failed.len(), 1, "{r:?}");
}

#[test]
fn a_cancel_stops_the_copy_midway() {
    let Some(fx) = fixture() else { return };
    // The disk image file itself, partition 0: the same reader as a saved image.
    let part = Partition::of_disk(&fx.disk.path, 0).unwrap();
    let slice = part.slice();
    let fs = reader::open(&slice).unwrap();
    let out = tempfile::tempdir().unwrap();
    let cancel = Cancel::new();
    let seen = Mutex::new(0u64);
    let on = |e: ExtractEvent| {
        if let ExtractEvent::Progress { bytes, .. } = e {
            if bytes > 0 {
                *seen.lock().unwrap() = bytes;
                cancel.cancel();
            }
        }
    };
    let r = extract::extract(
        fs.as_ref(),
        &items(fs.as_ref(), &["/docs/sub/big.bin"], out.path()),
        &MERGE,
        &on,
        &cancel,
    );
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
    let got = std::fs::metadata(out.path().join("big.bin")).unwrap().len();
    assert!(
        got < 3_500_000,
        "the copy went on to the end after the cancel"
    );
    assert_eq!(
        *seen.lock().unwrap(),
        1 << 20,
        "stopped after the first chunk"
    );
    // A partition the disk does not have is named.
    let e = Partition::of_disk(&fx.disk.path, 3).err().unwrap();
    assert!(e.to_string().contains("partition 3"), "{e}");
}

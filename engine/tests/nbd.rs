//! `nbd`: a saved image served over NBD reads, through qemu-img (a real client speaking
//! structured replies and block status), as its source disk where the image holds data and as
//! zeros elsewhere; `qemu-img map` sees holes exactly where the image holds nothing; several
//! clients are served at once; a damaged chunk is an I/O error for the client and a notice
//! naming the offset for the user, and the server keeps serving.
#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use wraith_engine::device::{Device, ReadAt};
use wraith_engine::events::{Cancel, Ctx};
use wraith_engine::nbd::{self, Export, Listener, Notice};
use wraith_engine::pipeline::save::{save, SaveOptions};
use wraith_engine::plan::plan;
use wraith_engine::repo::image_disk::ImageDisk;
use wraith_engine::repo::Repository;

fn have_qemu_img(what: &str) -> bool {
    let found = wraith_testkit::find_tool("qemu-img").is_some();
    if !found {
        wraith_testkit::skip_missing_tool("qemu-img", what);
    }
    found
}

fn saved(src: &wraith_testkit::Disk) -> (tempfile::TempDir, ImageDisk) {
    let source = Device::open_read(&src.path).expect("open source");
    let p = plan(&source, source.identity.clone()).expect("plan");
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repository::open_or_create(dir.path()).expect("repository");
    let opts = SaveOptions {
        name: "pc".into(),
        machine: None,
    };
    let rep = save(&source, &p, &repo, &opts, &Ctx::quiet()).expect("save");
    let repo = Arc::new(Repository::open(dir.path()).expect("reopen"));
    let disk = ImageDisk::open(repo, &rep.image).expect("image disk");
    (dir, disk)
}

/// The source disk with every byte the image does not hold (outside the regions' used
/// extents) set to zero: what a client must read.
fn expected(src: &Path, disk: &ImageDisk, out: &Path) {
    let source = std::fs::read(src).unwrap();
    let mut want = vec![0u8; source.len()];
    let used = disk
        .manifest()
        .regions
        .iter()
        .flat_map(|r| r.region.used.iter());
    for e in used {
        let (a, b) = (e.start as usize, e.end() as usize);
        want[a..b].copy_from_slice(&source[a..b]);
    }
    std::fs::write(out, want).unwrap();
}

struct Served {
    url: String,
    cancel: Cancel,
    notices: Arc<Mutex<Vec<Notice>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.cancel.cancel();
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

fn serve(disk: Arc<dyn ReadAt + Send + Sync>) -> Served {
    // Port 0: the kernel picks a free one, so tests run side by side.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let cancel = Cancel::new();
    let notices = Arc::new(Mutex::new(Vec::new()));
    let (c, n) = (cancel.clone(), notices.clone());
    let thread = std::thread::spawn(move || {
        let export = Export {
            name: "pc".into(),
            description: "test image".into(),
            disk,
            overlay: None,
        };
        let notify = move |x: Notice| n.lock().unwrap().push(x);
        nbd::serve(&Listener::Tcp(l), &export, &notify, &c, false).unwrap();
    });
    Served {
        url: format!("nbd://127.0.0.1:{port}/pc"),
        cancel,
        notices,
        thread: Some(thread),
    }
}

fn qemu_img(args: &[&str]) -> (bool, String) {
    let o = Command::new("qemu-img").args(args).output().unwrap();
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn check_served(src: wraith_testkit::Disk) {
    let (_repo, disk) = saved(&src);
    let work = tempfile::tempdir().unwrap();
    let want = work.path().join("want.img");
    expected(&src.path, &disk, &want);
    let size = disk.size();
    let stored = disk.stored();
    let whole = disk.read_vec(0, size as usize).unwrap();
    let disk: Arc<ImageDisk> = Arc::new(disk);
    let served = serve(disk.clone());

    let (ok, out) = qemu_img(&["compare", "-f", "raw", "-F", "raw", s(&want), &served.url]);
    assert!(ok, "qemu-img compare: {out}");
    assert!(out.contains("identical"), "{out}");

    // Two copies at once, each on its own connection.
    let outs: Vec<PathBuf> = (0..2)
        .map(|i| work.path().join(format!("copy{i}.img")))
        .collect();
    let kids: Vec<_> = outs
        .iter()
        .map(|o| {
            Command::new("qemu-img")
                .args(["convert", "-f", "raw", "-O", "raw", &served.url, s(o)])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut k in kids {
        assert!(k.wait().unwrap().success(), "qemu-img convert failed");
    }
    for o in &outs {
        assert!(
            std::fs::read(o).unwrap() == whole,
            "{} differs",
            o.display()
        );
    }

    // Holes exactly where no 4 KiB block holds stored bytes: block status answered.
    let (ok, out) = qemu_img(&["map", "--output=json", "-f", "raw", &served.url]);
    assert!(ok, "qemu-img map: {out}");
    let map: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut data_bytes = 0u64;
    let mut hole_bytes = 0u64;
    for e in map.as_array().unwrap() {
        let (start, len) = (e["start"].as_u64().unwrap(), e["length"].as_u64().unwrap());
        if e["data"] == true {
            data_bytes += len;
        } else {
            assert_eq!(e["zero"], true, "{e}");
            hole_bytes += len;
            assert!(
                !stored
                    .iter()
                    .any(|x| x.start < start + len && start < x.end()),
                "qemu-img map shows a hole at {start}+{len} where the image holds data"
            );
        }
    }
    let mut blocks = std::collections::BTreeSet::new();
    for e in stored.iter() {
        blocks.extend(e.start / 4096..e.end().div_ceil(4096));
    }
    let want_data: u64 = blocks
        .iter()
        .map(|b| (b * 4096 + 4096).min(size) - b * 4096)
        .sum();
    assert_eq!(data_bytes, want_data, "data reported by block status");
    assert_eq!(data_bytes + hole_bytes, size);
    assert!(hole_bytes > size / 4, "the fixture's free space is a hole");
    let n = served.notices.lock().unwrap();
    assert!(
        !n.iter().any(|x| matches!(x, Notice::ReadFailed { .. })),
        "{n:?}"
    );
}

#[test]
fn a_gpt_image_served_over_nbd_reads_as_its_source_with_holes_for_free_space() {
    if !have_qemu_img("nbd gpt") {
        return;
    }
    check_served(wraith_testkit::gpt_disk());
}

#[test]
fn an_mbr_image_served_over_nbd_reads_as_its_source_with_holes_for_free_space() {
    if !have_qemu_img("nbd mbr") {
        return;
    }
    check_served(wraith_testkit::mbr_disk());
}

#[test]
fn a_damaged_chunk_is_an_io_error_for_the_client_and_a_notice_with_its_offset() {
    if !have_qemu_img("nbd damaged") {
        return;
    }
    let src = wraith_testkit::mbr_disk();
    let (repo, disk) = saved(&src);
    for pack in walk(&repo.path().join("packs")) {
        let mut b = std::fs::read(&pack).unwrap();
        let at = 16 + (b.len() - 16) / 3;
        b[at] ^= 0x55;
        std::fs::write(&pack, b).unwrap();
    }
    let served = serve(Arc::new(disk));
    let out = tempfile::tempdir().unwrap();
    let copy = out.path().join("copy.img");
    let (ok, text) = qemu_img(&["convert", "-f", "raw", "-O", "raw", &served.url, s(&copy)]);
    assert!(!ok, "a damaged image copied without error: {text}");
    assert!(text.contains("Input/output error"), "{text}");
    let failed: Vec<_> = served
        .notices
        .lock()
        .unwrap()
        .iter()
        .filter_map(|n| match n {
            Notice::ReadFailed { offset, error, .. } => Some((*offset, error.clone())),
            _ => None,
        })
        .collect();
    assert!(!failed.is_empty(), "no read failure was reported");
    assert!(failed[0].1.contains("disk offset"), "{:?}", failed[0]);
    // The server still answers new clients.
    let (ok, text) = qemu_img(&["info", &served.url]);
    assert!(ok, "server stopped after a damaged read: {text}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

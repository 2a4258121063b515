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
use wraith_engine::device::ReadAt;
use wraith_engine::events::Cancel;
use wraith_engine::nbd::{self, Export, Listener, Notice};
use wraith_engine::repo::image_disk::ImageDisk;

mod saved;
use saved::saved;

fn have_qemu_img(what: &str) -> bool {
    let found = wraith_testkit::find_tool("qemu-img").is_some();
    if !found {
        wraith_testkit::skip_missing_tool("qemu-img", what);
    }
    found
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

/// A hand-rolled client for what qemu never sends: the old-fashioned replies, refusals and
/// malformed input. Big-endian, as on the wire.
struct Raw(std::net::TcpStream);

impl Raw {
    fn connect(url: &str) -> Raw {
        let addr = url.trim_start_matches("nbd://").split('/').next().unwrap();
        let s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        Raw(s)
    }
    fn put(&mut self, b: &[u8]) {
        use std::io::Write;
        self.0.write_all(b).unwrap();
    }
    fn get(&mut self, n: usize) -> Vec<u8> {
        use std::io::Read;
        let mut b = vec![0u8; n];
        self.0.read_exact(&mut b).unwrap();
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.get(2).try_into().unwrap())
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.get(4).try_into().unwrap())
    }
    fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.get(8).try_into().unwrap())
    }
    fn hello(&mut self) {
        assert_eq!(self.u64(), 0x4e42_444d_4147_4943, "NBDMAGIC");
        assert_eq!(self.u64(), 0x4948_4156_454f_5054, "IHAVEOPT");
        assert_eq!(self.u16(), 3, "fixed newstyle, no zeroes");
        self.put(&3u32.to_be_bytes());
    }
    fn option(&mut self, opt: u32, data: &[u8]) {
        let mut b = 0x4948_4156_454f_5054u64.to_be_bytes().to_vec();
        b.extend_from_slice(&opt.to_be_bytes());
        b.extend_from_slice(&(data.len() as u32).to_be_bytes());
        b.extend_from_slice(data);
        self.put(&b);
    }
    /// One option reply: (type, data).
    fn reply(&mut self, opt: u32) -> (u32, Vec<u8>) {
        assert_eq!(self.u64(), 0x0003_e889_0455_65a9, "option reply magic");
        assert_eq!(self.u32(), opt);
        let kind = self.u32();
        let n = self.u32() as usize;
        (kind, self.get(n))
    }
    fn request(&mut self, kind: u16, handle: u64, offset: u64, len: u32, data: &[u8]) {
        let mut b = 0x2560_9513u32.to_be_bytes().to_vec();
        b.extend_from_slice(&0u16.to_be_bytes());
        b.extend_from_slice(&kind.to_be_bytes());
        b.extend_from_slice(&handle.to_be_bytes());
        b.extend_from_slice(&offset.to_be_bytes());
        b.extend_from_slice(&len.to_be_bytes());
        b.extend_from_slice(data);
        self.put(&b);
    }
    /// A simple reply: its error, after checking the magic and the handle.
    fn simple(&mut self, handle: u64) -> u32 {
        assert_eq!(self.u32(), 0x6744_6698, "simple reply magic");
        let error = self.u32();
        assert_eq!(self.u64(), handle);
        error
    }
}

#[test]
fn negotiation_and_simple_replies_refuse_what_they_must_and_keep_the_stream_in_step() {
    let disk: Vec<u8> = (0..(8u32 << 20)).map(|i| (i % 253) as u8).collect();
    let served = serve(Arc::new(disk.clone()));

    // Junk where an option belongs: that connection is dropped, the server goes on.
    let mut junk = Raw::connect(&served.url);
    junk.hello();
    junk.put(&[0x55; 64]);
    let mut b = [0u8; 1];
    assert_eq!(std::io::Read::read(&mut junk.0, &mut b).unwrap_or(0), 0);

    let mut c = Raw::connect(&served.url);
    c.hello();
    c.option(42, b"hello");
    assert_eq!(
        c.reply(42).0,
        (1 << 31) | 1,
        "unknown option: NBD_REP_ERR_UNSUP"
    );
    c.option(42, &vec![0u8; 1 << 20]);
    assert_eq!(
        c.reply(42).0,
        (1 << 31) | 9,
        "an option too long is refused"
    );
    c.option(3, &[]);
    let (kind, data) = c.reply(3);
    assert_eq!(
        (kind, &data[4..]),
        (2, &b"pc"[..]),
        "NBD_OPT_LIST names the export"
    );
    assert_eq!(c.reply(3).0, 1);
    // NBD_OPT_INFO for the empty default name, asking for the name.
    c.option(6, &[0, 0, 0, 0, 0, 1, 0, 1]);
    let (kind, info) = c.reply(6);
    assert_eq!((kind, &info[..2]), (3, &[0u8, 0][..]));
    assert_eq!(u64::from_be_bytes(info[2..10].try_into().unwrap()), 8 << 20);
    let flags = u16::from_be_bytes(info[10..12].try_into().unwrap());
    assert_eq!(flags & 2, 2, "read-only without an overlay");
    let mut names = Vec::new();
    loop {
        let (kind, d) = c.reply(6);
        if kind == 1 {
            break;
        }
        if d[..2] == [0, 1] {
            names.push(d[2..].to_vec());
        }
        if d[..2] == [0, 3] {
            let max = u32::from_be_bytes(d[10..14].try_into().unwrap());
            assert_eq!(max, 32 << 20, "the largest request is advertised");
        }
    }
    assert_eq!(names, vec![b"pc".to_vec()]);
    // Block status needs structured replies first.
    c.option(10, &[0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(c.reply(10).0, (1 << 31) | 3);
    c.option(7, &[0, 0, 0, 3, b'a', b'n', b'y', 0, 0]);
    assert_eq!(c.reply(7).0, 3);
    loop {
        if c.reply(7).0 == 1 {
            break;
        }
    }

    // Transmission with simple replies.
    c.request(0, 1, 1000, 5000, &[]);
    assert_eq!(c.simple(1), 0);
    assert_eq!(c.get(5000), disk[1000..6000]);
    c.request(0, 2, 0, 33 << 20, &[]);
    assert_eq!(c.simple(2), 22, "a read over 32 MiB: EINVAL, no data");
    c.request(0, 3, (8 << 20) - 10, 11, &[]);
    assert_eq!(c.simple(3), 22, "a read past the end: EINVAL");
    c.request(1, 4, 0, 512, &[0xee; 512]);
    assert_eq!(c.simple(4), 1, "a write without an overlay: EPERM");
    c.request(4, 5, 0, 512, &[]);
    assert_eq!(c.simple(5), 1, "a trim without an overlay: EPERM");
    c.request(7, 6, 0, 512, &[]);
    assert_eq!(c.simple(6), 22, "block status without a context: EINVAL");
    c.request(3, 7, 0, 0, &[]);
    assert_eq!(c.simple(7), 0, "flush");
    c.request(0, 8, 0, 512, &[]);
    assert_eq!(c.simple(8), 0);
    assert_eq!(c.get(512), disk[..512], "the write changed nothing");
    c.request(2, 9, 0, 0, &[]);
    assert_eq!(
        std::io::Read::read(&mut c.0, &mut b).unwrap_or(0),
        0,
        "closed"
    );

    // The oldest way in, NBD_OPT_EXPORT_NAME, with any name: size and flags, no zeroes.
    let mut c = Raw::connect(&served.url);
    c.hello();
    c.option(1, b"whatever");
    assert_eq!(c.u64(), 8 << 20);
    assert_eq!(c.u16() & 3, 3, "has flags, read-only");
    c.request(0, 10, (8 << 20) - 512, 512, &[]);
    assert_eq!(c.simple(10), 0);
    assert_eq!(c.get(512), disk[(8 << 20) - 512..]);
}

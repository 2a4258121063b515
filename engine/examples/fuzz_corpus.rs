//! Writes the seed corpus of the fuzz targets (fuzz/) from real data: the testkit fixtures
//! (disks partitioned by sfdisk, filesystems made by mkfs.*), the files of a real save, a cpio
//! archive made by the `cpio` tool and real job files. Nothing binary is committed; run it
//! through `./build.sh fuzz`, or by hand:
//!
//! `cargo run -p wraith-engine --example fuzz_corpus -- fuzz/corpus`
//!
//! Disks become the sparse encoding of fuzz/src/lib.rs holding exactly the bytes the parser
//! read from the real disk: small seeds that still lead the fuzzer through the whole parser.
#![allow(clippy::unwrap_used, clippy::panic)] // a developer tool: fail loudly

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use wraith_engine::device::{Device, ReadAt, Slice};
use wraith_engine::error::Result;
use wraith_engine::fs::Filesystem;
use wraith_engine::repo::{manifest::Manifest, pack, Repository};
use wraith_testkit as kit;

/// Remembers every range a parser reads.
struct Recorder<'a> {
    dev: &'a dyn ReadAt,
    reads: Mutex<Vec<(u64, u64)>>,
}

impl<'a> Recorder<'a> {
    fn new(dev: &'a dyn ReadAt) -> Self {
        Recorder {
            dev,
            reads: Mutex::new(Vec::new()),
        }
    }
    /// The sparse-disk encoding of what was read.
    fn sparse(&self) -> Vec<u8> {
        let mut reads = self.reads.lock().unwrap().clone();
        reads.sort();
        let mut merged: Vec<(u64, u64)> = Vec::new();
        for (s, e) in reads {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        let mut out = self.dev.size().to_le_bytes().to_vec();
        for (s, e) in merged {
            let bytes = self.dev.read_vec(s, (e - s) as usize).unwrap();
            // Zero tails need not be stored: the sparse disk reads them as zero anyway.
            let keep = bytes.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
            if keep > 0 {
                out.extend_from_slice(&s.to_le_bytes());
                out.extend_from_slice(&(keep as u32).to_le_bytes());
                out.extend_from_slice(&bytes[..keep]);
            }
        }
        out
    }
}

impl ReadAt for Recorder<'_> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.reads
            .lock()
            .unwrap()
            .push((offset, offset + buf.len() as u64));
        self.dev.read_exact_at(buf, offset)
    }
    fn size(&self) -> u64 {
        self.dev.size()
    }
}

struct Corpus(PathBuf);

impl Corpus {
    fn put(&self, target: &str, name: &str, data: &[u8]) {
        let dir = self.0.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), data).unwrap();
        println!("{target}/{name}: {} bytes", data.len());
    }
}

fn tables(c: &Corpus, name: &str, path: &Path) {
    let dev = Device::open_read(path).unwrap();
    let rec = Recorder::new(&dev);
    let _ = wraith_engine::table::gpt::read(&rec, 512);
    let _ = wraith_engine::table::gpt::primary_area(&rec, 512);
    c.put("gpt", name, &rec.sparse());
    let rec = Recorder::new(&dev);
    let _ = wraith_engine::table::read(&rec, 512);
    let _ = wraith_engine::table::mbr::read(&rec, 512);
    c.put("mbr", name, &rec.sparse());
}

/// VM disk containers made by qemu-img from a real disk, read as the `vdisk` target reads.
fn vm_disks(c: &Corpus, disk: &kit::Disk) {
    let dir = tempfile::tempdir().unwrap();
    for (name, opts) in [
        ("qcow2", &["-O", "qcow2"][..]),
        ("qcow2-compressed", &["-c", "-O", "qcow2"][..]),
        ("vhdx", &["-O", "vhdx"][..]),
        ("vmdk-sparse", &["-O", "vmdk"][..]),
        (
            "vmdk-stream",
            &["-O", "vmdk", "-o", "subformat=streamOptimized"][..],
        ),
    ] {
        let p = dir.path().join(name);
        let ok = Command::new("qemu-img")
            .args(["convert", "-f", "raw"])
            .args(opts)
            .arg(&disk.path)
            .arg(&p)
            .status()
            .unwrap()
            .success();
        assert!(ok, "qemu-img convert {name}");
        let dev = Device::open_read(&p).unwrap();
        let rec = Recorder::new(&dev);
        let whole = Slice {
            dev: &rec,
            offset: 0,
            len: rec.size(),
        };
        if let Ok(Some(r)) = wraith_engine::vdisk::open_inner(whole, name) {
            let size = r.size();
            // Small reads: the seed keeps the tables on the way, not much data.
            let mut buf = vec![0u8; 4096];
            for at in [0, size / 2, size.saturating_sub(buf.len() as u64)] {
                let _ = r.read_exact_at(&mut buf, at);
            }
        }
        c.put("vdisk", name, &rec.sparse());
    }
}

fn filesystem(c: &Corpus, target: &str, name: &str, disk: &kit::Disk, number: u32) {
    let dev = Device::open_read(&disk.path).unwrap();
    let p = disk.part(number);
    let part = Slice {
        dev: &dev,
        offset: p.start,
        len: p.len,
    };
    let rec = Recorder::new(&part);
    let fs: &dyn Filesystem = match target {
        "ext" => &wraith_engine::fs::ext::Ext,
        "fat" => &wraith_engine::fs::fat::Fat,
        _ => &wraith_engine::fs::ntfs::Ntfs,
    };
    let info = fs.probe(&rec).unwrap();
    assert!(info.is_some(), "{target} not recognised on {name}");
    c.put(target, name, &rec.sparse());
}

/// Seeds for the file-name walkers: the bytes `files_touching` reads when asked about a 64 KiB
/// range holding some file's data (so the walk goes on to name it through its directories),
/// after the byte that chooses that range. The formula is `wraith_fuzz::bad_range`'s,
/// repeated here because the engine cannot depend on the fuzz crate.
fn file_walk(c: &Corpus, target: &str, name: &str, disk: &kit::Disk, number: u32) {
    let dev = Device::open_read(&disk.path).unwrap();
    let p = disk.part(number);
    let part = Slice {
        dev: &dev,
        offset: p.start,
        len: p.len,
    };
    let kind = wraith_engine::fs::probe(&part).unwrap().unwrap().kind;
    let cancel = wraith_engine::events::Cancel::new();
    let bad_range = |pick: u8| {
        let start = (p.len / 256 * u64::from(pick)) & !4095;
        let mut bad = wraith_engine::extent::ExtentList::new();
        bad.push(start, (64u64 << 10).min(p.len - start));
        bad
    };
    let names_a_file = |pick: u8| {
        let t =
            wraith_engine::fs::files_touching(&part, kind, &bad_range(pick), 16, &cancel).unwrap();
        t.skipped.is_empty()
            && t.touches
                .iter()
                .any(|t| t.kind == wraith_engine::fs::TouchKind::Data && t.path.starts_with('/'))
    };
    let pick = (0..=255u8)
        .rev()
        .find(|&p| names_a_file(p))
        .unwrap_or_else(|| panic!("no 64 KiB range of {name} holds a named file's data"));
    let rec = Recorder::new(&part);
    let _ = wraith_engine::fs::files_touching(&rec, kind, &bad_range(pick), 16, &cancel);
    c.put(target, name, &[&[pick][..], &rec.sparse()].concat());
}

fn repository(c: &Corpus, disk: &kit::Disk) {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::open_or_create(&dir.path().join("repo")).unwrap();
    let dev = Device::open_read(&disk.path).unwrap();
    let plan = wraith_engine::plan::plan(&dev, dev.identity.clone()).unwrap();
    let opts = wraith_engine::pipeline::save::SaveOptions {
        name: "seed".into(),
        machine: None,
        all_sectors: false,
        zstd_level: None,
    };
    let quiet = wraith_engine::events::Quiet;
    let cancel = wraith_engine::events::Cancel::new();
    let ctx = wraith_engine::events::Ctx::new(&quiet, &cancel, 1);
    let saved = wraith_engine::pipeline::save::save(&dev, &plan, &repo, &opts, &ctx).unwrap();
    // Reopen: the index files are written now.
    let repo = Repository::open(&dir.path().join("repo")).unwrap();
    let file = repo.store().read(&saved.image.path()).unwrap();
    let with_mode = |mode: u8, b: &[u8]| [&[mode][..], b].concat();
    c.put("manifest", "file", &with_mode(0, &file));
    let m = Manifest::decode("seed", &file).unwrap();
    c.put(
        "manifest",
        "json",
        &with_mode(1, &serde_json::to_vec(&m).unwrap()),
    );
    c.put("manifest", "body", &with_mode(2, &file[56..]));
    c.put(
        "manifest",
        "config",
        &with_mode(
            0,
            &repo.store().read(wraith_engine::repo::CONFIG_FILE).unwrap(),
        ),
    );
    for (i, name) in repo.store().list("index").unwrap().iter().enumerate() {
        let idx = repo.store().read(&format!("index/{name}")).unwrap();
        c.put("index", &format!("file-{i}"), &with_mode(0, &idx));
        c.put("index", &format!("fixed-{i}"), &with_mode(1, &idx));
    }
    // A pack of the image's smallest stored chunks, so seeds stay small.
    let mut ids: Vec<_> = m.chunks().filter_map(|(_, c)| c.id).collect();
    ids.sort_by_key(|id| repo.locate(id).map_or(u32::MAX, |l| l.stored_len));
    ids.dedup();
    let mut b = pack::PackBuilder::new();
    for id in ids.iter().take(4) {
        let (stored, loc) = repo.read_stored(id).unwrap();
        b.add(*id, &stored, loc.raw_len, loc.flags);
    }
    let (bytes, _) = b.finish();
    c.put("pack", "file", &with_mode(0, &bytes));
    c.put("pack", "fixed", &with_mode(1, &bytes));
}

fn cpio(c: &Corpus) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc/wraith")).unwrap();
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::write(root.join("etc/wraith/live"), b"1\n").unwrap();
    std::fs::write(root.join("bin/tool"), kit::text(7, 3000)).unwrap();
    std::os::unix::fs::symlink("tool", root.join("bin/alias")).unwrap();
    let archive = dir.path().join("a.cpio");
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cd '{}' && find . | LC_ALL=C sort | cpio -o -H newc --quiet > '{}'",
            root.display(),
            archive.display()
        ))
        .status()
        .unwrap()
        .success();
    assert!(ok, "cpio failed");
    let bytes = std::fs::read(&archive).unwrap();
    c.put("cpio", "newc", &bytes);
    let ok = Command::new("zstd")
        .args(["-q", "-f", "-19"])
        .arg(&archive)
        .status()
        .unwrap()
        .success();
    assert!(ok, "zstd failed");
    c.put(
        "cpio",
        "newc-zstd",
        &std::fs::read(archive.with_extension("cpio.zst")).unwrap(),
    );
}

fn jobs(c: &Corpus) {
    let seeds: [(&str, &str); 5] = [
        (
            "save",
            "action = \"save\"\nsource = \"serial:S3Z9NB0K\"\nrepository = \"label:IMAGES/wraith\"\nimage = \"lab-pc\"\nverify = true\nafter = \"poweroff\"\n",
        ),
        (
            "restore",
            "action = \"restore\"\ntarget = \"rule:only-internal\"\nrepository = \"/mnt/images\"\nimage = \"lab-pc@2026\"\nafter = \"reboot\"\n",
        ),
        (
            "clone",
            "action = \"clone\"\nsource = \"/dev/sda\"\ntarget = \"rule:other-internal\"\n",
        ),
        (
            "inline",
            "action=clone source=serial:ABC target=rule:other-internal after=poweroff;verify=true",
        ),
        (
            "inline-restore",
            "action=restore target=/dev/nvme0n1 repo=uuid:1234-ABCD/img%20s image=x@1 after=shell",
        ),
    ];
    for (name, text) in seeds {
        c.put("job", name, text.as_bytes());
    }
}

/// WebDAV PROPFIND answers as nginx (dav_ext), Apache mod_dav and a prefix-happy server
/// write them, and directory index pages of nginx, Apache and Python's http.server.
fn listings(c: &Corpus) {
    let propfind = [
        (
            "nginx",
            r#"<?xml version="1.0" encoding="utf-8" ?>
<D:multistatus xmlns:D="DAV:">
<D:response><D:href>/dav/repo/packs/</D:href><D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
<D:response><D:href>/dav/repo/packs/0a/</D:href><D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
<D:response><D:href>/dav/repo/packs/a%20b&amp;c.pack</D:href><D:propstat><D:prop><D:resourcetype/></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
</D:multistatus>
"#,
        ),
        (
            "apache",
            r#"<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:" xmlns:ns0="DAV:">
<D:response xmlns:lp1="DAV:" xmlns:lp2="http://apache.org/dav/props/">
<D:href>/r/images/</D:href>
<D:propstat>
<D:prop>
<lp1:resourcetype><D:collection/></lp1:resourcetype>
</D:prop>
<D:status>HTTP/1.1 200 OK</D:status>
</D:propstat>
</D:response>
<D:response><a:href xmlns:a="DAV:"><![CDATA[/r/images/pc1/]]></a:href></D:response>
</D:multistatus>
"#,
        ),
        (
            "default-ns",
            "<multistatus xmlns=\"DAV:\"><response><href>/r/x.idx</href></response>\
             <response><href xml:lang=\"en\">/r/&#x79;.idx</href></response><!-- c --></multistatus>",
        ),
    ];
    for (name, text) in propfind {
        c.put("propfind", name, text.as_bytes());
    }
    let html = [
        (
            "nginx",
            "<html><head><title>Index of /r/packs/</title></head><body><h1>Index of /r/packs/</h1><hr><pre><a href=\"../\">../</a>\n<a href=\"0a/\">0a/</a>      01-Jan-2026 00:00       -\n</pre><hr></body></html>\n",
        ),
        (
            "apache",
            "<table><tr><th><a href=\"?C=N;O=D\">Name</a></th></tr>\n<tr><td><a href=\"/r/\">Parent Directory</a></td></tr>\n<tr><td><a href=\"x%20y.manifest\">x y.manifest</a></td></tr></table>",
        ),
        (
            "python",
            "<ul>\n<li><a href='wraith-repo.json'>wraith-repo.json</a></li>\n<li><a href=\"/r/index/\">abs</a></li><li><a href=https://other/>x</a></li></ul>",
        ),
    ];
    for (name, text) in html {
        c.put("html", name, text.as_bytes());
    }
}

/// Seeds for wraith-init's parsers and the live-system formats: a DHCP ACK as a server sends
/// it (options, overload into `file`, a compressed search list), netlink ACK and error
/// datagrams, kernel command lines, request files and `wraith.net=` values.
fn init_inputs(c: &Corpus) {
    let mut ack = vec![0u8; 236];
    ack[0] = 2; // BOOTREPLY
    ack[1] = 1; // Ethernet
    ack[2] = 6;
    ack[4..8].copy_from_slice(&0xdead_beef_u32.to_be_bytes());
    ack[16..20].copy_from_slice(&[10, 0, 2, 15]);
    ack[20..24].copy_from_slice(&[10, 0, 2, 2]);
    ack[28..34].copy_from_slice(&[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    // Option overload 1: the `file` field (108..236) holds options too.
    ack[108..115].copy_from_slice(&[15, 4, b'l', b'a', b'b', b'.', 255]);
    ack.extend([99, 130, 83, 99]);
    let options: [(u8, &[u8]); 10] = [
        (53, &[5]),
        (54, &[10, 0, 2, 2]),
        (51, &[0, 1, 81, 128]),
        (58, &[0, 0, 168, 192]),
        (1, &[255, 255, 255, 0]),
        (3, &[10, 0, 2, 2]),
        (6, &[10, 0, 2, 3, 9, 9, 9, 9]),
        (52, &[1]),
        (
            119,
            &[
                3, b'l', b'a', b'b', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0, 1, b'x', 0xC0,
                0,
            ],
        ),
        (26, &[5, 220]),
    ];
    for (code, data) in options {
        ack.push(code);
        ack.push(data.len() as u8);
        ack.extend_from_slice(data);
    }
    ack.push(255);
    ack.resize(300, 0);
    c.put("dhcp", "ack", &ack);

    let nlmsg = |seq: u32, errno: i32| {
        let mut m = vec![0u8; 36];
        m[0..4].copy_from_slice(&36u32.to_ne_bytes());
        m[4..6].copy_from_slice(&2u16.to_ne_bytes()); // NLMSG_ERROR
        m[8..12].copy_from_slice(&seq.to_ne_bytes());
        m[16..20].copy_from_slice(&errno.to_ne_bytes());
        m
    };
    let mut two = nlmsg(6, 0);
    two[4..6].copy_from_slice(&3u16.to_ne_bytes()); // NLMSG_DONE first, then the answer
    two.extend(nlmsg(7, -17));
    c.put(
        "netlink",
        "ack",
        &[&7u32.to_le_bytes()[..], &nlmsg(7, 0)].concat(),
    );
    c.put(
        "netlink",
        "done-then-eexist",
        &[&7u32.to_le_bytes()[..], &two].concat(),
    );

    let lines = [
        ("live", "BOOT_IMAGE=/boot/bzImage console=tty0 console=ttyS0,115200n8 quiet wraith.wait=5 wraith.net=dhcp wraith.debug"),
        ("job", r#"console=ttyS0 wraith.run="action=clone source=serial:ABC target=rule:only-internal after=poweroff" wraith.after=reboot wraith.onfail=shell wraith.netwait=30"#),
        ("static", r#""wraith.net=static:192.168.1.50/24,gw=192.168.1.1,dns=9.9.9.9,if=eth0" wraith.job=http://10.0.2.2:8080/job.toml wraith.console=serial wraith.shell=0 wraith.bogus"#),
    ];
    for (name, line) in lines {
        c.put("cmdline", name, line.as_bytes());
    }
    let live = [
        (
            "request",
            "id=tui-42-1733040000
net=static:192.168.1.50/24,gw=192.168.1.1,dns=192.168.1.1,search=lab.example,if=eth0
",
        ),
        ("net", "dhcp,if=eth1"),
        (
            "inline",
            "action=save;source=serial:A%20B repo=/mnt/my%20images image=pc%3D1 verify=true",
        ),
    ];
    for (name, text) in live {
        c.put("live", name, text.as_bytes());
    }
}

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/corpus".into());
    kit::require_tools();
    let c = Corpus(PathBuf::from(out));
    let gpt = kit::gpt_disk();
    let mbr = kit::mbr_disk();
    let floppy = kit::superfloppy_ext4();
    tables(&c, "gpt_disk", &gpt.path);
    tables(&c, "mbr_disk", &mbr.path);
    filesystem(&c, "ext", "gpt_disk-ext4", &gpt, 2);
    filesystem(&c, "ext", "mbr_disk-ext3", &mbr, 5);
    filesystem(&c, "ext", "mbr_disk-ext2", &mbr, 7);
    filesystem(&c, "ext", "superfloppy-ext4", &floppy, 0);
    filesystem(&c, "fat", "gpt_disk-fat32", &gpt, 1);
    filesystem(&c, "fat", "mbr_disk-fat16", &mbr, 1);
    filesystem(&c, "fat", "mbr_disk-fat12", &mbr, 6);
    filesystem(&c, "ntfs", "gpt_disk-ntfs", &gpt, 3);
    file_walk(&c, "ext_files", "gpt_disk-ext4", &gpt, 2);
    file_walk(&c, "ext_files", "mbr_disk-ext3", &mbr, 5);
    file_walk(&c, "ext_files", "mbr_disk-ext2", &mbr, 7);
    file_walk(&c, "ext_files", "superfloppy-ext4", &floppy, 0);
    file_walk(&c, "ntfs_files", "gpt_disk-ntfs", &gpt, 3);
    repository(&c, &mbr);
    vm_disks(&c, &mbr);
    cpio(&c);
    jobs(&c);
    listings(&c);
    init_inputs(&c);
}

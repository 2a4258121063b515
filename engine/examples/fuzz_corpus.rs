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

fn repository(c: &Corpus, disk: &kit::Disk) {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::open_or_create(&dir.path().join("repo")).unwrap();
    let dev = Device::open_read(&disk.path).unwrap();
    let plan = wraith_engine::plan::plan(&dev, dev.identity.clone()).unwrap();
    let opts = wraith_engine::pipeline::save::SaveOptions {
        name: "seed".into(),
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
    repository(&c, &mbr);
    cpio(&c);
    jobs(&c);
}

//! wraith-testkit: builds fixture disk images for tests with the real tools (sfdisk, mkfs.ext4
//! -d, mkfs.vfat + mtools, mkntfs + ntfs-3g tools, debugfs) and checks them with the real
//! checkers (e2fsck -fn, fsck.vfat -n, ntfsfix -n). Test-only; never a dependency of the product.
//!
//! Nothing here needs root: no losetup, no mount. Each filesystem is made in a temporary file of
//! the partition's size and copied into the (sparse) disk image at the partition's offset, and
//! read back the same way, through an extracted copy.
//!
//! # Fixtures
//!
//! All are deterministic (seeded); each returns a [`Disk`] whose temp dir lives as long as it.
//! Builders panic on failure (they are for tests); [`DiskBuilder::build`] returns a `Result`.
//!
//! * [`gpt_disk`]: 160 MiB, GPT, 1 MiB aligned. p1 FAT32 "ESP" 40 MiB (EFI System type),
//!   p2 ext4 "root" 64 MiB (4 KiB blocks, Linux filesystem), p3 NTFS "DATA" 32 MiB (Microsoft
//!   basic data), then ~23 MiB unpartitioned tail.
//! * [`mbr_disk`]: 128 MiB, dos label. p1 FAT16 "BOOT" 32 MiB, bootable; p2 extended (48 MiB,
//!   `fs: None`) holding p5 ext3 "home" 24 MiB, p6 FAT12 "SMALL" 4 MiB, p7 ext2 "misc" 16 MiB
//!   (ext2/3 use 1 KiB blocks); free tail. Random "boot loader" bytes fill sector 0's code area
//!   (bytes 0..440) and the post-MBR gap (sectors 1..2047); see [`MBR_BOOT_CODE`].
//! * [`raw_disk`]: 32 MiB, no table, no partitions: 8 MiB random, 8 MiB zeros, 4 MiB text,
//!   12 MiB zeros.
//! * [`superfloppy_ext4`]: 64 MiB ext4 "floppy" on the whole disk, no table: one [`Part`] with
//!   `number: 0, start: 0`.
//!
//! * [`linux_workstation`]: 96 MiB, GPT, p1 FAT32 "ESP" 40 MiB, p2 ext4 "root" 48 MiB with
//!   a Linux system's identity files ([`LINUX_IDENTITY_FILES`]) besides the usual ones.
//!
//! * [`blank_disk`]`(size)`: all zeros, sparse, no table (a restore target);
//!   [`Disk::duplicate`] makes a sparse copy of any fixture.
//!
//! Generic layouts: [`DiskBuilder`], e.g.
//! `DiskBuilder::new(64 * MIB, Table::Gpt).seed(9).part(32 * MIB, FsType::Ext4, "r").build()`;
//! also `.with_type(code)`, `.bootable()`, `.extended(len)` + `.logical(len, fs, label)`,
//! `.boot_code()`; `FsType::Raw` fills a partition with random bytes, `FsType::None` leaves it
//! zero. File contents are seeded and reproducible; filesystem metadata (timestamps) is not.
//!
//! Every filesystem holds (see [`Part::files`] for the exact expected map):
//! `notes.txt`, `docs/manual.txt`, `docs/log/2024/boot.log` (a few hundred KiB of text in all),
//! `data/random-1.bin` (up to 3 MiB random + 777 bytes), `data/random-small.bin`,
//! `deep/a/b/c/d/leaf.txt`, `empty.txt`, `long file name with spaces.txt`; on ext* also
//! `sparse.bin` (16 MiB logical, three small data runs, the rest holes). NTFS gets the same
//! files flattened to the root (`docs_manual.txt`, ...) because no root-free tool can make
//! NTFS directories. Deleted data: every partition file is pre-filled with non-zero garbage
//! (7 of every 8 64 KiB blocks) and the mkfs calls do not discard or zero, so free space holds
//! old bytes; on ext* and FAT a `deleted.bin` (see [`Part::deleted`]) is also written and then
//! deleted (debugfs rm / mdel), leaving its bytes in free space.
//!
//! # Reading and checking
//!
//! * [`files`]`(disk, part)`: every regular file, read back with debugfs rdump / mcopy /
//!   ntfsls + ntfscat (lost+found and `$` system files skipped).
//! * [`fsck`]`(disk, part)`: e2fsck -fn / fsck.vfat -n / ntfsfix -n on an extracted copy.
//! * [`extract`]`(disk, start, len)`: the byte range as a sparse temp file.
//! * [`modify_small`]`(disk, &mut part)`: adds `incremental-N.bin` (256 KiB random) and changes
//!   4 KiB of `notes.txt`, in place, and updates `part.files` to match.
//! * [`require_tools`]: panics "missing tool X ...: run ./build.sh deps" if a tool is absent.
//! * [`sfdisk_json`]: `sfdisk --json` output for a disk image.
//!
//! ```no_run
//! let disk = wraith_testkit::gpt_disk();
//! for p in &disk.parts {
//!     wraith_testkit::fsck(&disk.path, p).unwrap();
//!     assert_eq!(wraith_testkit::files(&disk.path, p).unwrap(), p.files);
//! }
//! ```

pub mod clonezilla;
pub mod loopdev;
pub mod netns;
mod prng;
pub mod servers;
mod tools;

pub use prng::{text, Prng};
pub use tools::{
    copy_range, extract, files_under, find_tool, read_at, require_tools, write_at, write_back,
};

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use tools::{run, run_with_stdin, tool};

/// Errors carry the failing command and its output as text.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * 1024;
const SECTOR: u64 = 512;

/// Bytes of the MBR boot code area that [`mbr_disk`] fills (the rest of sector 0 is the table).
pub const MBR_BOOT_CODE: usize = 440;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsType {
    Ext4,
    Ext3,
    Ext2,
    Fat12,
    Fat16,
    Fat32,
    Ntfs,
    /// Random bytes, no filesystem ([`files`] is empty, [`fsck`] is Ok).
    Raw,
    /// Left as is: unformatted, or an extended-partition container.
    None,
}

impl FsType {
    pub fn is_ext(self) -> bool {
        matches!(self, FsType::Ext4 | FsType::Ext3 | FsType::Ext2)
    }
    pub fn is_fat(self) -> bool {
        matches!(self, FsType::Fat12 | FsType::Fat16 | FsType::Fat32)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Gpt,
    Dos,
    /// No partition table: the single part (if any) spans the whole disk (superfloppy).
    None,
}

#[derive(Debug, Clone)]
pub struct Part {
    /// Partition number as the kernel would name it (1.., logicals 5..); 0 for a superfloppy.
    pub number: u32,
    /// Byte offset and length within the disk image.
    pub start: u64,
    pub len: u64,
    pub fs: FsType,
    /// Filesystem label (also the GPT partition name).
    pub label: String,
    /// sfdisk type: a GPT type GUID or a dos hex code ("" without a table).
    pub type_code: String,
    pub bootable: bool,
    /// Seed the content was generated from.
    pub seed: u64,
    /// Expected regular files (path relative to the fs root, '/'-separated) and contents.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Files that were written and then deleted; their bytes remain in free space.
    pub deleted: BTreeMap<String, Vec<u8>>,
}

#[derive(Debug)]
pub struct Disk {
    /// Owns the image; dropping the Disk deletes it.
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    pub size: u64,
    pub table: Table,
    pub parts: Vec<Part>,
}

impl Disk {
    /// A sparse copy of this disk in its own temp dir (e.g. to modify one and keep the other).
    pub fn duplicate(&self) -> Result<Disk> {
        let dir = tempfile::Builder::new().prefix("wraith-disk-").tempdir()?;
        let path = dir.path().join("disk.img");
        let dst = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        dst.set_len(self.size)?;
        copy_range(&File::open(&self.path)?, 0, self.size, &dst, 0)?;
        Ok(Disk {
            dir,
            path,
            size: self.size,
            table: self.table,
            parts: self.parts.clone(),
        })
    }

    /// The partition with this number; panics if absent (test helper).
    pub fn part(&self, number: u32) -> &Part {
        self.parts
            .iter()
            .find(|p| p.number == number)
            .unwrap_or_else(|| panic!("no partition {number} in {}", self.path.display()))
    }

    /// A file of partition `number` large enough to be stored outside any inode or MFT
    /// record, and a sector inside its data to make fail: (path relative to the root, sector
    /// number on the disk). Found by looking for the file's first 4 KiB on the disk itself, so
    /// it holds whatever layout mkfs chose. Panics if there is none (test helper).
    pub fn sector_in_a_file(&self, number: u32) -> (String, u64) {
        let part = self.part(number);
        let (name, data) = part
            .files
            .iter()
            .find(|(_, d)| d.len() >= 16 << 10)
            .unwrap_or_else(|| panic!("partition {number} has no file of 16 KiB"));
        let mut hay = vec![0u8; part.len as usize];
        File::open(&self.path)
            .and_then(|f| f.read_exact_at(&mut hay, part.start))
            .expect("read fixture partition");
        let pos = hay
            .windows(4096)
            .position(|w| w == &data[..4096])
            .unwrap_or_else(|| panic!("{name}'s bytes not found on the fixture disk"));
        // A few sectors in: inside the file's first block, which is contiguous on any layout.
        (name.clone(), (part.start + pos as u64) / 512 + 3)
    }
}

// ---------------------------------------------------------------------------------------------
// Builders

/// GPT fixture; see the crate docs.
pub fn gpt_disk() -> Disk {
    DiskBuilder::new(160 * MIB, Table::Gpt)
        .seed(0x6770_7400)
        .part(40 * MIB, FsType::Fat32, "ESP")
        .with_type(GPT_EFI)
        .part(64 * MIB, FsType::Ext4, "root")
        .part(32 * MIB, FsType::Ntfs, "DATA")
        .build()
        .expect("building gpt_disk fixture")
}

/// MBR fixture with logical partitions and boot code; see the crate docs.
pub fn mbr_disk() -> Disk {
    DiskBuilder::new(128 * MIB, Table::Dos)
        .seed(0x6d62_7200)
        .part(32 * MIB, FsType::Fat16, "BOOT")
        .bootable()
        .extended(48 * MIB)
        .logical(24 * MIB, FsType::Ext3, "home")
        .logical(4 * MIB, FsType::Fat12, "SMALL")
        .logical(16 * MIB, FsType::Ext2, "misc")
        .boot_code()
        .build()
        .expect("building mbr_disk fixture")
}

/// Seed of [`raw_disk`]'s random and text regions.
pub const RAW_DISK_SEED: u64 = 0x7261_7700;

/// No table, no filesystem: 8 MiB random, 8 MiB zeros, 4 MiB text, 12 MiB zeros.
pub fn raw_disk() -> Disk {
    build_raw().expect("building raw_disk fixture")
}

/// The exact bytes [`raw_disk`] contains (for comparisons without keeping a copy).
pub fn raw_disk_expected() -> Vec<u8> {
    let mut v = vec![0u8; (32 * MIB) as usize];
    Prng::new(RAW_DISK_SEED).fill(&mut v[..(8 * MIB) as usize]);
    let t = text(RAW_DISK_SEED + 1, (4 * MIB) as usize);
    v[(16 * MIB) as usize..(20 * MIB) as usize].copy_from_slice(&t);
    v
}

fn build_raw() -> Result<Disk> {
    let dir = tempfile::Builder::new().prefix("wraith-disk-").tempdir()?;
    let path = dir.path().join("disk.img");
    let f = File::create(&path)?;
    f.set_len(32 * MIB)?;
    let mut buf = vec![0u8; (8 * MIB) as usize];
    Prng::new(RAW_DISK_SEED).fill(&mut buf);
    f.write_all_at(&buf, 0)?;
    f.write_all_at(&text(RAW_DISK_SEED + 1, (4 * MIB) as usize), 16 * MIB)?;
    f.sync_all()?;
    Ok(Disk {
        dir,
        path,
        size: 32 * MIB,
        table: Table::None,
        parts: Vec::new(),
    })
}

/// An all-zero sparse disk of `size` bytes with no table: a restore target.
pub fn blank_disk(size: u64) -> Disk {
    let make = || -> Result<Disk> {
        let dir = tempfile::Builder::new().prefix("wraith-disk-").tempdir()?;
        let path = dir.path().join("disk.img");
        File::create(&path)?.set_len(size)?;
        Ok(Disk {
            dir,
            path,
            size,
            table: Table::None,
            parts: Vec::new(),
        })
    };
    make().expect("creating blank disk")
}

/// What [`linux_workstation`]'s root holds besides the usual files: a Debian-like system's
/// identity (host name, hosts, machine id, SSH host keys, os-release), which naming a
/// restored machine changes.
pub const LINUX_IDENTITY_FILES: [(&str, &str); 7] = [
    ("etc/hostname", "golden\n"),
    (
        "etc/hosts",
        "127.0.0.1\tlocalhost\n127.0.1.1\tgolden.lab.example golden\n::1 localhost\n",
    ),
    ("etc/machine-id", "0123456789abcdef0123456789abcdef\n"),
    (
        "etc/os-release",
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n",
    ),
    (
        "etc/ssh/ssh_host_ed25519_key",
        "private key of the golden machine\n",
    ),
    (
        "etc/ssh/ssh_host_ed25519_key.pub",
        "ssh-ed25519 AAAA golden\n",
    ),
    ("etc/ssh/sshd_config", "PermitRootLogin no\n"),
];

/// A small Linux workstation to deploy: GPT, p1 FAT32 "ESP" 40 MiB, p2 ext4 "root" 48 MiB
/// holding the usual files and [`LINUX_IDENTITY_FILES`] (made with debugfs, no root needed).
pub fn linux_workstation() -> Disk {
    let make = || -> Result<Disk> {
        let mut d = DiskBuilder::new(96 * MIB, Table::Gpt)
            .seed(0x6c69_6e78)
            .part(40 * MIB, FsType::Fat32, "ESP")
            .with_type(GPT_EFI)
            .part(48 * MIB, FsType::Ext4, "root")
            .build()?;
        let root = &mut d.parts[1];
        let img = extract(&d.path, root.start, root.len)?;
        let stage = tempfile::tempdir()?;
        let mut cmds: Vec<String> = ["etc", "etc/ssh"]
            .iter()
            .map(|dir| format!("mkdir /{dir}"))
            .collect();
        for (i, (name, text)) in LINUX_IDENTITY_FILES.iter().enumerate() {
            let src = stage.path().join(i.to_string());
            fs::write(&src, text)?;
            cmds.push(format!("write {} /{name}", src.display()));
            root.files
                .insert(name.to_string(), text.as_bytes().to_vec());
        }
        debugfs_w(img.path(), &cmds)?;
        write_back(&d.path, root.start, img.path())?;
        Ok(d)
    };
    make().expect("building the Linux workstation fixture")
}

/// An empty ext4 filesystem labelled `label` on a whole disk of `size` bytes: the drive a
/// technician keeps images on (found by the live system as `label:LABEL`).
pub fn images_drive(size: u64, label: &str) -> Disk {
    let d = blank_disk(size);
    run(tool("mkfs.ext4")
        .args(["-q", "-F", "-L", label])
        .arg(&d.path))
    .expect("mkfs.ext4 of the images drive");
    d
}

/// ext4 on the whole disk, no partition table.
pub fn superfloppy_ext4() -> Disk {
    DiskBuilder::new(64 * MIB, Table::None)
        .seed(0x666c_7000)
        .part(64 * MIB, FsType::Ext4, "floppy")
        .build()
        .expect("building superfloppy_ext4 fixture")
}

pub const GPT_EFI: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
pub const GPT_LINUX: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
pub const GPT_BASIC_DATA: &str = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7";

fn default_type(table: Table, fs: FsType) -> &'static str {
    match (table, fs) {
        (Table::None, _) => "",
        (Table::Gpt, f) if f.is_ext() || matches!(f, FsType::Raw | FsType::None) => GPT_LINUX,
        (Table::Gpt, _) => GPT_BASIC_DATA,
        (Table::Dos, FsType::Fat12) => "1",
        (Table::Dos, FsType::Fat16) => "e",
        (Table::Dos, FsType::Fat32) => "c",
        (Table::Dos, FsType::Ntfs) => "7",
        (Table::Dos, _) => "83",
    }
}

#[derive(Debug, Clone)]
struct Spec {
    number: u32,
    start: u64,
    len: u64,
    fs: FsType,
    label: String,
    type_code: String,
    bootable: bool,
}

/// Generic builder. Partitions are laid out in call order from 1 MiB, back to back, each
/// 1 MiB aligned; `extended` opens a dos extended partition of the given size and following
/// `logical` calls are placed inside it (each after a 1 MiB slot for its EBR).
#[derive(Debug, Clone)]
pub struct DiskBuilder {
    size: u64,
    table: Table,
    seed: u64,
    boot_code: bool,
    specs: Vec<Spec>,
    cursor: u64,
    /// (next logical number, end of the extended partition) once `extended` was called.
    ext: Option<(u32, u64)>,
}

impl DiskBuilder {
    pub fn new(size: u64, table: Table) -> Self {
        DiskBuilder {
            size,
            table,
            seed: 1,
            boot_code: false,
            specs: Vec::new(),
            cursor: if table == Table::None { 0 } else { MIB },
            ext: None,
        }
    }

    /// Base seed for content; each partition derives its own from this and its number.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// A primary partition (or, with `Table::None`, the whole-disk filesystem).
    pub fn part(mut self, len: u64, fs: FsType, label: &str) -> Self {
        let number = if self.table == Table::None {
            0
        } else {
            self.specs.iter().filter(|s| s.number < 5).count() as u32 + 1
        };
        self.push(number, self.cursor, len, fs, label);
        self.cursor += len;
        self
    }

    /// Sets the sfdisk type of the last partition added.
    pub fn with_type(mut self, type_code: &str) -> Self {
        if let Some(s) = self.specs.last_mut() {
            s.type_code = type_code.to_string();
        }
        self
    }

    /// Marks the last partition added bootable (dos only).
    pub fn bootable(mut self) -> Self {
        if let Some(s) = self.specs.last_mut() {
            s.bootable = true;
        }
        self
    }

    /// A dos extended partition of `len` bytes; subsequent `logical` calls go inside it.
    pub fn extended(mut self, len: u64) -> Self {
        let start = self.cursor;
        self = self.part(len, FsType::None, "");
        self = self.with_type("5");
        self.ext = Some((5, start + len));
        self.cursor = start;
        self
    }

    pub fn logical(mut self, len: u64, fs: FsType, label: &str) -> Self {
        let (number, _) = self.ext.expect("logical() needs extended() first");
        let start = self.cursor + MIB;
        self.push(number, start, len, fs, label);
        self.cursor = start + len;
        if let Some(e) = self.ext.as_mut() {
            e.0 += 1;
        }
        self
    }

    /// Random boot loader bytes in the MBR code area and the post-MBR gap (dos only).
    pub fn boot_code(mut self) -> Self {
        self.boot_code = true;
        self
    }

    fn push(&mut self, number: u32, start: u64, len: u64, fs: FsType, label: &str) {
        self.specs.push(Spec {
            number,
            start,
            len,
            fs,
            label: label.to_string(),
            type_code: default_type(self.table, fs).to_string(),
            bootable: false,
        });
    }

    pub fn build(self) -> Result<Disk> {
        if let Some((_, end)) = self.ext {
            if self.cursor > end {
                return Err("logical partitions overflow the extended partition".into());
            }
        }
        for s in &self.specs {
            if s.start + s.len > self.size || s.start % MIB != 0 || s.len % MIB != 0 {
                return Err(format!("partition {} does not fit / is not aligned", s.number).into());
            }
        }
        let dir = tempfile::Builder::new().prefix("wraith-disk-").tempdir()?;
        let path = dir.path().join("disk.img");
        // Sparse: only blocks we actually write take space.
        File::create(&path)?.set_len(self.size)?;

        if self.table != Table::None {
            let script = self.sfdisk_script();
            run_with_stdin(
                tool("sfdisk")
                    .args(["-q", "--no-reread", "--no-tell-kernel"])
                    .arg(&path),
                Some(&script),
            )?;
        }

        let mut parts = Vec::new();
        for s in &self.specs {
            let seed = self.seed.wrapping_mul(1000).wrapping_add(s.number as u64);
            let mut part = Part {
                number: s.number,
                start: s.start,
                len: s.len,
                fs: s.fs,
                label: s.label.clone(),
                type_code: s.type_code.clone(),
                bootable: s.bootable,
                seed,
                files: BTreeMap::new(),
                deleted: BTreeMap::new(),
            };
            if s.fs != FsType::None {
                build_part(&path, dir.path(), &mut part)?;
            }
            parts.push(part);
        }

        if self.boot_code {
            // After sfdisk, and only over bytes sfdisk does not own, so the table stays valid.
            let mut rng = Prng::new(self.seed ^ 0xb007);
            write_at(&path, 0, &rng.bytes(MBR_BOOT_CODE))?;
            let gap_end = self.specs.iter().map(|s| s.start).min().unwrap_or(MIB);
            write_at(&path, SECTOR, &rng.bytes((gap_end - SECTOR) as usize))?;
        }

        Ok(Disk {
            dir,
            path,
            size: self.size,
            table: self.table,
            parts,
        })
    }

    fn sfdisk_script(&self) -> String {
        let mut rng = Prng::new(self.seed ^ 0x1abe1);
        let mut s = String::new();
        match self.table {
            Table::Gpt => s.push_str(&format!("label: gpt\nlabel-id: {}\n", uuid(&mut rng))),
            _ => s.push_str(&format!(
                "label: dos\nlabel-id: 0x{:08x}\n",
                rng.next_u64() as u32
            )),
        }
        s.push_str("unit: sectors\n\n");
        for p in &self.specs {
            s.push_str(&format!(
                "start={}, size={}, type={}",
                p.start / SECTOR,
                p.len / SECTOR,
                p.type_code
            ));
            if self.table == Table::Gpt {
                s.push_str(&format!(", uuid={}, name=\"{}\"", uuid(&mut rng), p.label));
            }
            if p.bootable {
                s.push_str(", bootable");
            }
            s.push('\n');
        }
        s
    }
}

fn uuid(rng: &mut Prng) -> String {
    let b = rng.bytes(16);
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// Pre-fills a partition file with recognisable non-zero garbage, so that whatever the
/// filesystem leaves free still holds "old" data, as on a used disk. Every 8th 64 KiB block
/// stays a hole, so images are partly sparse inside partitions too. Past the first
/// [`GARBAGE_DENSE`] bytes only one block in 16 holds garbage: a several-GiB fixture still has
/// old data all over its free space, without costing seconds per GiB to build and copy.
const GARBAGE_DENSE: u64 = 512 * MIB;

fn fill_garbage(f: &File, len: u64, seed: u64) -> Result<()> {
    let mut rng = Prng::new(seed ^ 0x6a5b);
    let mut buf = vec![0u8; tools::BLOCK];
    let mut off = 0u64;
    let mut i = 0u64;
    while off < len {
        let n = (len - off).min(buf.len() as u64) as usize;
        match i % 8 {
            _ if off >= GARBAGE_DENSE && i % 16 != 1 => {}
            7 => {}
            k if k % 2 == 0 => {
                // 0xAA pattern stamped with the offset every 512 bytes.
                buf.fill(0xAA);
                for (j, sec) in buf.chunks_mut(512).enumerate() {
                    sec[..8].copy_from_slice(&(off + j as u64 * 512).to_le_bytes());
                }
                f.write_all_at(&buf[..n], off)?;
            }
            _ => {
                rng.fill(&mut buf);
                f.write_all_at(&buf[..n], off)?;
            }
        }
        off += n as u64;
        i += 1;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Content

struct Entry {
    path: String,
    data: Vec<u8>,
    /// Write only non-zero 4 KiB chunks (after set_len) so the source file has holes.
    sparse: bool,
}

fn content(seed: u64, budget: u64, fs: FsType) -> (Vec<Entry>, Entry) {
    let mut rng = Prng::new(seed ^ 0xc0);
    let rnd_len = (3 * MIB).min(budget / 4) as usize + 777;
    let manual_len = (256 * KIB).min(budget / 8) as usize;
    let mut entries = vec![
        ("notes.txt", text(seed + 1, 48 * KIB as usize + 123)),
        ("docs/manual.txt", text(seed + 2, manual_len)),
        ("docs/log/2024/boot.log", text(seed + 3, 40 * KIB as usize)),
        ("data/random-1.bin", rng.bytes(rnd_len)),
        ("data/random-small.bin", rng.bytes(3 * 4096 + 1)),
        ("deep/a/b/c/d/leaf.txt", text(seed + 4, 100)),
        ("empty.txt", Vec::new()),
        ("long file name with spaces.txt", text(seed + 5, 1500)),
    ]
    .into_iter()
    .map(|(p, d)| Entry {
        path: p.to_string(),
        data: d,
        sparse: false,
    })
    .collect::<Vec<_>>();

    if fs.is_ext() {
        let mut d = vec![0u8; (16 * MIB) as usize];
        d[MIB as usize..(MIB + 64 * KIB) as usize].copy_from_slice(&rng.bytes((64 * KIB) as usize));
        d[(9 * MIB) as usize..(9 * MIB) as usize + 5000].copy_from_slice(&text(seed + 6, 5000));
        let end = d.len();
        d[end - 100..].fill(0x5a);
        entries.push(Entry {
            path: "sparse.bin".into(),
            data: d,
            sparse: true,
        });
    }
    if fs == FsType::Ntfs {
        // ntfscp cannot create directories, and mounting needs root: flatten.
        for e in &mut entries {
            e.path = e.path.replace('/', "_");
        }
    }
    let deleted = Entry {
        path: "deleted.bin".into(),
        data: rng.bytes((512 * KIB).min(budget / 16) as usize),
        sparse: false,
    };
    (entries, deleted)
}

fn write_entry(root: &Path, e: &Entry) -> Result<PathBuf> {
    let p = root.join(&e.path);
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent)?;
    }
    if e.sparse {
        let f = File::create(&p)?;
        f.set_len(e.data.len() as u64)?;
        for (i, c) in e.data.chunks(4096).enumerate() {
            if c.iter().any(|&b| b != 0) {
                f.write_all_at(c, i as u64 * 4096)?;
            }
        }
    } else {
        fs::write(&p, &e.data)?;
    }
    Ok(p)
}

fn build_part(disk: &Path, workdir: &Path, part: &mut Part) -> Result<()> {
    let img = workdir.join(format!("part{}.img", part.number));
    let f = File::create(&img)?;
    f.set_len(part.len)?;
    if part.fs == FsType::Raw {
        let mut rng = Prng::new(part.seed);
        let mut buf = vec![0u8; tools::BLOCK];
        let mut off = 0;
        while off < part.len {
            rng.fill(&mut buf);
            let n = (part.len - off).min(buf.len() as u64) as usize;
            f.write_all_at(&buf[..n], off)?;
            off += n as u64;
        }
    } else {
        fill_garbage(&f, part.len, part.seed)?;
        drop(f);
        make_fs(&img, part)?;
    }
    let f = File::open(&img)?;
    let dst = fs::OpenOptions::new().read(true).write(true).open(disk)?;
    copy_range(&f, 0, part.len, &dst, part.start)?;
    fs::remove_file(&img)?;
    Ok(())
}

fn make_fs(img: &Path, part: &mut Part) -> Result<()> {
    let stage = tempfile::Builder::new().prefix("wraith-stage-").tempdir()?;
    let root = stage.path().join("root");
    fs::create_dir(&root)?;
    let (entries, deleted) = content(part.seed, part.len, part.fs);
    let mut rng = Prng::new(part.seed ^ 0x1d);
    let hidden = (part.start / SECTOR).to_string();

    if part.fs.is_ext() {
        for e in &entries {
            write_entry(&root, e)?;
        }
        write_entry(&root, &deleted)?;
        let (cmd, mut opts) = match part.fs {
            FsType::Ext4 => ("mkfs.ext4", vec!["-b", "4096"]),
            FsType::Ext3 => ("mkfs.ext3", vec![]),
            _ => ("mkfs.ext2", vec![]),
        };
        let id = uuid(&mut rng);
        // nodiscard + lazy init: leave the garbage in unused blocks and inode tables.
        let ext_opts = format!("nodiscard,lazy_itable_init=1,hash_seed={id}");
        opts.extend([
            "-q",
            "-F",
            "-U",
            &id,
            "-E",
            &ext_opts,
            "-L",
            &part.label,
            "-d",
        ]);
        run(tool(cmd).args(opts).arg(&root).arg(img))?;
        debugfs_w(img, &[format!("rm /{}", deleted.path)])?;
    } else if part.fs.is_fat() {
        let bits = match part.fs {
            FsType::Fat12 => "12",
            FsType::Fat16 => "16",
            _ => "32",
        };
        let volid = format!("{:08x}", rng.next_u64() as u32);
        run(tool("mkfs.vfat")
            .args(["-F", bits, "-n", &part.label, "-i", &volid, "-h", &hidden])
            .arg(img))?;
        let mut tops = Vec::new();
        for e in &entries {
            write_entry(&root, e)?;
            let top = e.path.split('/').next().unwrap_or_default().to_string();
            if !tops.contains(&top) {
                tops.push(top);
            }
        }
        let mut cmd = tool("mcopy");
        cmd.arg("-s").arg("-i").arg(img);
        for t in &tops {
            cmd.arg(root.join(t));
        }
        run(cmd.arg("::/"))?;
        let del = write_entry(stage.path(), &deleted)?;
        run(tool("mcopy")
            .arg("-i")
            .arg(img)
            .arg(&del)
            .arg("::/deleted.bin"))?;
        run(tool("mdel").arg("-i").arg(img).arg("::/deleted.bin"))?;
    } else if part.fs == FsType::Ntfs {
        // -Q: quick format, the garbage stays in free clusters.
        run(tool("mkntfs")
            .args([
                "-q",
                "-Q",
                "-F",
                "-L",
                &part.label,
                "-p",
                &hidden,
                "-H",
                "255",
                "-S",
                "63",
            ])
            .arg(img))?;
        for e in &entries {
            let src = write_entry(&root, e)?;
            run(tool("ntfscp")
                .arg("-q")
                .arg(img)
                .arg(&src)
                .arg(format!("/{}", e.path)))?;
        }
        // No root-free tool deletes NTFS files; the garbage fill stands in for deleted data.
        part.files = entries.into_iter().map(|e| (e.path, e.data)).collect();
        return Ok(());
    } else {
        return Err(format!("cannot build filesystem {:?}", part.fs).into());
    }
    part.files = entries.into_iter().map(|e| (e.path, e.data)).collect();
    part.deleted.insert(deleted.path, deleted.data);
    Ok(())
}

/// Runs debugfs -w with a command file. debugfs exits 0 even when a command fails, so any
/// stderr line besides its version banner counts as an error.
fn debugfs_w(img: &Path, cmds: &[String]) -> Result<()> {
    let file = tempfile::NamedTempFile::new()?;
    fs::write(file.path(), cmds.join("\n") + "\n")?;
    let out = tool("debugfs")
        .arg("-w")
        .arg("-f")
        .arg(file.path())
        .arg(img)
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("debugfs "))
        .collect();
    if !out.status.success() || !errors.is_empty() {
        return Err(format!("debugfs -w {:?} failed: {stderr}", cmds).into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reading back and checking

/// `sfdisk --json` of a disk image (fails if sfdisk cannot read a table).
pub fn sfdisk_json(disk: &Path) -> Result<String> {
    run(tool("sfdisk").arg("--json").arg(disk))
}

/// Every regular file in the partition's filesystem, read back with the real tools, keyed by
/// '/'-separated path relative to the root. Skips lost+found and NTFS `$` system files.
/// Raw/None partitions yield an empty map.
pub fn files(disk: &Path, part: &Part) -> Result<BTreeMap<String, Vec<u8>>> {
    if matches!(part.fs, FsType::Raw | FsType::None) {
        return Ok(BTreeMap::new());
    }
    let img = extract(disk, part.start, part.len)?;
    let out = tempfile::Builder::new().prefix("wraith-files-").tempdir()?;
    if part.fs.is_ext() {
        let o = tool("debugfs")
            .arg("-R")
            .arg(format!("rdump / {}", out.path().display()))
            .arg(img.path())
            .output()?;
        if !o.status.success() {
            return Err(format!("debugfs rdump: {}", String::from_utf8_lossy(&o.stderr)).into());
        }
        let lf = out.path().join("lost+found");
        if lf.is_dir() {
            fs::remove_dir_all(lf)?;
        }
        let mut map = BTreeMap::new();
        walk(out.path(), "", &mut map)?;
        Ok(map)
    } else if part.fs.is_fat() {
        let listing = run(tool("mdir").args(["-b", "-i"]).arg(img.path()).arg("::/"))?;
        if listing.trim().is_empty() {
            return Ok(BTreeMap::new());
        }
        run(tool("mcopy")
            .args(["-s", "-n", "-i"])
            .arg(img.path())
            .arg("::/*")
            .arg(out.path()))?;
        let mut map = BTreeMap::new();
        walk(out.path(), "", &mut map)?;
        Ok(map)
    } else {
        ntfs_files(img.path())
    }
}

fn walk(dir: &Path, prefix: &str, map: &mut BTreeMap<String, Vec<u8>>) -> Result<()> {
    for ent in fs::read_dir(dir)? {
        let ent = ent?;
        let name = ent.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let ty = ent.file_type()?;
        if ty.is_dir() {
            walk(&ent.path(), &rel, map)?;
        } else if ty.is_file() {
            map.insert(rel, fs::read(ent.path())?);
        }
    }
    Ok(())
}

fn ntfs_files(img: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    // `ntfsls -R -F` prints "/dir/:" headers followed by entries, directories suffixed '/'.
    // `-f`: a volume resized by ntfsresize is marked for Windows' chkdsk, and the tools refuse
    // to read it without force; reading changes nothing (fsck still judges the volume).
    let listing = run(tool("ntfsls").args(["-f", "-R", "-F"]).arg(img))?;
    let mut dir = String::from("/");
    let mut map = BTreeMap::new();
    for line in listing.lines() {
        if line.is_empty() {
            continue;
        }
        if line.starts_with('/') && line.ends_with(':') {
            dir = line.trim_end_matches(':').to_string();
            if !dir.ends_with('/') {
                dir.push('/');
            }
            continue;
        }
        if line.ends_with('/') || line.starts_with('$') {
            continue;
        }
        let path = format!("{dir}{line}");
        let o = tool("ntfscat").arg("-f").arg(img).arg(&path).output()?;
        if !o.status.success() {
            return Err(format!("ntfscat {path}: {}", String::from_utf8_lossy(&o.stderr)).into());
        }
        map.insert(path.trim_start_matches('/').to_string(), o.stdout);
    }
    Ok(map)
}

/// Runs the filesystem's own checker read-only on an extracted copy; Err holds its output.
pub fn fsck(disk: &Path, part: &Part) -> Result<(), String> {
    let cmd = match part.fs {
        f if f.is_ext() => vec!["e2fsck", "-fn"],
        f if f.is_fat() => vec!["fsck.vfat", "-n"],
        FsType::Ntfs => vec!["ntfsfix", "-n"],
        _ => return Ok(()),
    };
    let img = extract(disk, part.start, part.len).map_err(|e| e.to_string())?;
    run(tool(cmd[0]).args(&cmd[1..]).arg(img.path()))
        .map(|_| ())
        .map_err(|e| format!("partition {} ({:?}): {e}", part.number, part.fs))
}

/// A small in-place change for incremental-save tests: adds `incremental-N.bin` (256 KiB
/// random; N counts up per call) and rewrites 4 KiB in the middle of `notes.txt`. Works on
/// ext*, FAT and NTFS; `part.files` is updated to the new expected content.
pub fn modify_small(disk: &Path, part: &mut Part) -> Result<()> {
    let n = 1 + part
        .files
        .keys()
        .filter(|k| k.starts_with("incremental-"))
        .count() as u64;
    let new_name = format!("incremental-{n}.bin");
    let new_data = Prng::new(part.seed ^ (0x1c0 + n)).bytes((256 * KIB) as usize);
    let mut notes = part
        .files
        .get("notes.txt")
        .cloned()
        .ok_or("modify_small: partition has no notes.txt")?;
    let mid = notes.len() / 2;
    let end = (mid + 4096).min(notes.len());
    let patch = text(part.seed ^ (0x2c0 + n), end - mid);
    notes[mid..end].copy_from_slice(&patch);

    put_files(
        disk,
        part,
        vec![("notes.txt".into(), notes), (new_name, new_data)],
    )
}

/// Writes `files` (path at the filesystem root, contents) into partition `part` of `disk`,
/// replacing files of the same name, and records them in `part.files`.
pub fn put_files(disk: &Path, part: &mut Part, files: Vec<(String, Vec<u8>)>) -> Result<()> {
    let img = extract(disk, part.start, part.len)?;
    let stage = tempfile::tempdir()?;
    for (i, (name, data)) in files.iter().enumerate() {
        let src = stage.path().join(i.to_string());
        fs::write(&src, data)?;
        if part.fs.is_ext() {
            let mut cmds = Vec::new();
            if part.files.contains_key(name) {
                cmds.push(format!("rm /{name}"));
            }
            cmds.push(format!("write {} /{name}", src.display()));
            debugfs_w(img.path(), &cmds)?;
        } else if part.fs.is_fat() {
            run(tool("mcopy")
                .args(["-o", "-i"])
                .arg(img.path())
                .arg(&src)
                .arg(format!("::/{name}")))?;
        } else if part.fs == FsType::Ntfs {
            run(tool("ntfscp")
                .arg("-q")
                .arg(img.path())
                .arg(&src)
                .arg(format!("/{name}")))?;
        } else {
            return Err(format!("put_files: unsupported fs {:?}", part.fs).into());
        }
    }
    write_back(disk, part.start, img.path())?;
    part.files.extend(files);
    Ok(())
}

/// Writes one file into partition `part` (ext or NTFS) so that its data lies at the end of
/// the filesystem, past anything a shrink can keep in place: the filesystem's free space
/// except the file's share is first taken by a filler file (allocated, not written), the file
/// is written into what is left, and the filler is removed. The case that needs data moved
/// (NTFS and ext both put files anywhere on a used disk).
pub fn put_file_at_end(disk: &Path, part: &mut Part, name: &str, data: Vec<u8>) -> Result<()> {
    let img = extract(disk, part.start, part.len)?;
    let stage = tempfile::tempdir()?;
    let src = stage.path().join("data");
    fs::write(&src, &data)?;
    let empty = stage.path().join("empty");
    fs::write(&empty, b"")?;
    // Room left for the file and the metadata that describes it.
    let slack = data.len() as u64 + 4 * MIB;
    if part.fs.is_ext() {
        let (free, block) = ext_free(img.path())?;
        let filler_blocks = (free * block).saturating_sub(slack) / block;
        debugfs_w(
            img.path(),
            &[
                format!("write {} /filler", empty.display()),
                format!("fallocate /filler 0 {}", filler_blocks.saturating_sub(1)),
                format!("write {} /{name}", src.display()),
                "rm /filler".into(),
            ],
        )?;
    } else if part.fs == FsType::Ntfs {
        let info = run(tool("ntfsinfo").arg("-m").arg(img.path()))?;
        let field = |key: &str| -> Result<u64> {
            info.lines()
                .find_map(|l| l.trim().strip_prefix(key))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .ok_or_else(|| format!("ntfsinfo -m shows no {key:?}").into())
        };
        let (free, cluster) = (field("Free Clusters:")?, field("Cluster Size:")?);
        run(tool("ntfscp")
            .arg("-q")
            .arg(img.path())
            .arg(&empty)
            .arg("/filler"))?;
        run(tool("ntfsfallocate")
            .arg("-l")
            .arg(((free * cluster).saturating_sub(slack)).to_string())
            .arg(img.path())
            .arg("/filler"))?;
        run(tool("ntfscp")
            .arg("-q")
            .arg(img.path())
            .arg(&src)
            .arg(format!("/{name}")))?;
        let listing = run(tool("ntfsls").arg("-i").arg(img.path()))?;
        let inode = listing
            .lines()
            .find_map(|l| {
                let mut w = l.split_whitespace();
                let n = w.next()?;
                (w.next() == Some("filler")).then(|| n.to_string())
            })
            .ok_or("ntfsls does not list the filler")?;
        // Freeing the filler's clusters; its (empty) record stays, as a deleted file's would.
        run(tool("ntfstruncate").arg(img.path()).arg(&inode).arg("0"))?;
        part.files.insert("filler".into(), Vec::new());
    } else {
        return Err(format!("put_file_at_end: unsupported fs {:?}", part.fs).into());
    }
    write_back(disk, part.start, img.path())?;
    part.files.insert(name.to_string(), data);
    Ok(())
}

/// Free blocks and block size of an ext filesystem image (its superblock, via dumpe2fs).
fn ext_free(img: &Path) -> Result<(u64, u64)> {
    let out = run(tool("dumpe2fs").arg("-h").arg(img))?;
    let field = |key: &str| -> Result<u64> {
        out.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| format!("dumpe2fs shows no {key:?}").into())
    };
    Ok((field("Free blocks:")?, field("Block size:")?))
}

/// `sfdisk --json` of a disk with the fields that legitimately differ on another disk removed
/// (device and node names, the last usable LBA): equal values mean the same partition table.
pub fn table_of(disk: &Path) -> serde_json::Value {
    let text =
        sfdisk_json(disk).unwrap_or_else(|e| panic!("sfdisk cannot read {}: {e}", disk.display()));
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("sfdisk prints JSON");
    if let Some(t) = v["partitiontable"].as_object_mut() {
        t.remove("device");
        t.remove("lastlba");
        for p in t
            .get_mut("partitions")
            .and_then(|p| p.as_array_mut())
            .into_iter()
            .flatten()
        {
            if let Some(p) = p.as_object_mut() {
                p.remove("node");
            }
        }
    }
    v
}

/// The partitions of a disk image as sfdisk reads them: number → (start, size) in bytes.
pub fn partition_ranges(disk: &Path) -> Result<Vec<(u32, u64, u64)>> {
    let v: serde_json::Value = serde_json::from_str(&sfdisk_json(disk)?)?;
    let ss = v["partitiontable"]["sectorsize"].as_u64().unwrap_or(512);
    let parts = v["partitiontable"]["partitions"]
        .as_array()
        .ok_or_else(|| format!("sfdisk lists no partitions on {}", disk.display()))?;
    Ok(parts
        .iter()
        .filter_map(|p| {
            // The node is "<disk><n>" or "<disk>p<n>": the number is its trailing digits.
            let node = p["node"].as_str()?;
            let digits = node.len() - node.trim_end_matches(|c: char| c.is_ascii_digit()).len();
            let number: u32 = node[node.len() - digits..].parse().ok()?;
            Some((number, p["start"].as_u64()? * ss, p["size"].as_u64()? * ss))
        })
        .collect())
}

/// Every partition of `fixture` passes fsck on `copy` and holds exactly the fixture's files,
/// wherever the copy's own table puts it (a restore onto a larger disk grows the last data
/// partition by default; a disk without a table keeps the fixture's offsets).
pub fn assert_same_filesystems(fixture: &Disk, copy: &Path) {
    let placed = if fixture.table == Table::None {
        Vec::new()
    } else {
        partition_ranges(copy).unwrap_or_else(|e| panic!("the copy's table: {e}"))
    };
    for p in &fixture.parts {
        let p = &match placed.iter().find(|(n, _, _)| *n == p.number) {
            Some(&(_, start, len)) => Part {
                start,
                len,
                ..p.clone()
            },
            None => p.clone(),
        };
        fsck(copy, p).unwrap_or_else(|e| panic!("fsck of partition {} on the copy: {e}", p.number));
        let got = files(copy, p)
            .unwrap_or_else(|e| panic!("reading files of partition {}: {e}", p.number));
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            p.files.keys().collect::<Vec<_>>(),
            "partition {} file list",
            p.number
        );
        assert!(
            got == p.files,
            "partition {} file contents differ",
            p.number
        );
    }
}

/// The copy's table is the source's with one partition grown into the rest of a larger disk
/// (what a restore or a clone does by default, `--layout auto`): every other partition and
/// every table field equal, `number` starting where it did and ending within the last MiB
/// the table may use.
pub fn assert_table_grown(copy: &Path, source: &Path, number: u32) {
    let v: serde_json::Value =
        serde_json::from_str(&sfdisk_json(copy).expect("sfdisk")).expect("sfdisk prints JSON");
    let ss = v["partitiontable"]["sectorsize"].as_u64().unwrap_or(512);
    let (_, start, _) = partition_ranges(copy)
        .expect("the copy's table")
        .into_iter()
        .find(|p| p.0 == number)
        .unwrap_or_else(|| panic!("no partition {number} on the copy"));
    let start = start / ss;
    // The partition's size taken out of a table_of value (the partition found by its start).
    let size_of = |t: &mut serde_json::Value| -> u64 {
        t["partitiontable"]["partitions"]
            .as_array_mut()
            .and_then(|ps| ps.iter_mut().find(|p| p["start"].as_u64() == Some(start)))
            .map_or(0, |p| p["size"].take().as_u64().unwrap_or(0))
    };
    let (mut c, mut s) = (table_of(copy), table_of(source));
    let (grown, old) = (size_of(&mut c), size_of(&mut s));
    assert_eq!(
        c, s,
        "the tables differ in more than partition {number}'s size"
    );
    let last = match v["partitiontable"]["lastlba"].as_u64() {
        Some(l) => l + 1,
        None => std::fs::metadata(copy).map(|m| m.len()).unwrap_or(0) / ss,
    };
    let end = start + grown;
    assert!(
        grown > old && end <= last && end + MIB / ss > last,
        "partition {number} should have grown from {old} sectors to the end ({last}); it has {grown} from {start}"
    );
}

/// `sfdisk --verify` finds nothing to say about the disk's partition table.
pub fn assert_table_verifies(disk: &Path) {
    let o = tool("sfdisk")
        .arg("--verify")
        .arg(disk)
        .output()
        .expect("sfdisk");
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "sfdisk --verify {}: {}{}",
        disk.display(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The table a restore or clone with the default layout (`auto`) leaves: on a disk larger
/// than the source, as root (the resize tools run on loop devices), the source's with
/// partition `number` grown to the end ([`assert_table_grown`]); otherwise the source's
/// unchanged (without root the plan says the extra space stays unused).
pub fn assert_default_layout(copy: &Path, source: &Path, number: u32) {
    use std::os::unix::fs::MetadataExt;
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    if root && size(copy) > size(source) {
        assert_table_grown(copy, source, number);
    } else {
        assert_eq!(table_of(copy), table_of(source));
    }
}

/// Says on stderr that a test (or a part of one) does not run because `tool` is missing. Under
/// `./build.sh test`, which installs every tool first, `WRAITH_NO_SKIP=1` makes a missing tool
/// a failure instead: CI must never pass a test that did not run.
pub fn skip_missing_tool(tool: &str, what: &str) {
    assert!(
        std::env::var_os("WRAITH_NO_SKIP").is_none(),
        "{what} needs {tool}, which is not installed (WRAITH_NO_SKIP is set: run ./build.sh deps)"
    );
    eprintln!("SKIPPED {what}: {tool} is not installed (./build.sh deps installs it)");
}

//! VMDK (VMware "Virtual Disk Format 5.0"): export of a saved image as a monolithicSparse
//! VMDK, and reading of monolithicSparse and streamOptimized VMDK files as their virtual disk.
//!
//! Why monolithicSparse for export: it is the single-file format VMware Workstation, Player
//! and Fusion run as it is (streamOptimized is a transport format they must import first),
//! ESXi takes it through `vmkfstools -i`, and it needs no compression, so export costs no
//! CPU beyond reading the image; unallocated grains are holes in a sparse file. The reader
//! also inflates streamOptimized grains (the OVA format) and refuses child (delta) disks,
//! descriptor files with separate extents and anything else it cannot read as a whole disk,
//! with an error naming the file. Every table entry and offset from the file is checked
//! before use; nothing is allocated by a size read from the file without a cap.

use super::{check_range, data_blocks, le32, le64, read_in, unique_bytes, Out};
use crate::device::ReadAt;
use crate::error::{Error, Result};
use crate::events::Ctx;
use crate::extent::ExtentList;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// "KDMV" as it lies in the file.
pub const MAGIC: [u8; 4] = *b"KDMV";
/// A text descriptor file (whose extents are other files).
pub const DESCRIPTOR: &[u8; 8] = b"# Disk D";

const SECTOR: u64 = 512;
const GRAIN_SECTORS: u64 = 128; // 64 KiB grains, as VMware writes them
const GTES_PER_GT: u64 = 512;
const GD_AT_END: u64 = u64::MAX;
const FLAG_NL_TEST: u32 = 1;
const FLAG_REDUNDANT: u32 = 2;
const FLAG_COMPRESSED: u32 = 1 << 16;
const DESCRIPTOR_SECTORS: u64 = 20;

fn put32(b: &mut [u8], o: usize, v: u32) {
    b[o..o + 4].copy_from_slice(&v.to_le_bytes());
}
fn put64(b: &mut [u8], o: usize, v: u64) {
    b[o..o + 8].copy_from_slice(&v.to_le_bytes());
}

/// Writes `src` as a monolithicSparse VMDK named `name` (the extent line names the file
/// itself). Layout in sectors: 0 header, 1 descriptor, then the redundant grain directory
/// and its grain tables, the grain directory and its grain tables (all preallocated, as
/// VMware does; tables without data stay holes), the data grains from the first grain
/// boundary after them, in disk order as found.
pub fn write(
    src: &dyn ReadAt,
    stored: &ExtentList,
    out: &Out,
    name: &str,
    ctx: &Ctx,
) -> Result<()> {
    let capacity = src.size().div_ceil(SECTOR);
    let grains = capacity.div_ceil(GRAIN_SECTORS);
    let gts = grains.div_ceil(GTES_PER_GT).max(1);
    let gd_sectors = (gts * 4).div_ceil(SECTOR);
    let gt_sectors = GTES_PER_GT * 4 / SECTOR;
    let rgd = 1 + DESCRIPTOR_SECTORS;
    let gd = rgd + gd_sectors + gts * gt_sectors;
    let overhead = (gd + gd_sectors + gts * gt_sectors).div_ceil(GRAIN_SECTORS) * GRAIN_SECTORS;
    // Sector offsets are 32-bit: the file, data included, must stay under 2 TiB.
    if overhead + grains * GRAIN_SECTORS > u64::from(u32::MAX) {
        return Err(Error::Unsupported(format!(
            "a {}-byte disk is too large for a monolithicSparse VMDK (2 TiB)",
            src.size()
        )));
    }
    let mut tables: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    let mut next = overhead;
    data_blocks(src, stored, GRAIN_SECTORS * SECTOR, ctx, |at, b| {
        out.write_at(b, next * SECTOR)?;
        let g = at / (GRAIN_SECTORS * SECTOR);
        tables
            .entry(g / GTES_PER_GT)
            .or_insert_with(|| vec![0; GTES_PER_GT as usize])[(g % GTES_PER_GT) as usize] =
            next as u32;
        next += GRAIN_SECTORS;
        Ok(())
    })?;
    out.set_len(next * SECTOR)?;
    let mut gt = vec![0u8; (gt_sectors * SECTOR) as usize];
    for (i, t) in &tables {
        for (j, e) in t.iter().enumerate() {
            put32(&mut gt, j * 4, *e);
        }
        for dir in [rgd, gd] {
            out.write_at(&gt, (dir + gd_sectors + i * gt_sectors) * SECTOR)?;
        }
    }
    for dir in [rgd, gd] {
        let mut d = vec![0u8; (gd_sectors * SECTOR) as usize];
        for i in 0..gts {
            put32(
                &mut d,
                (i * 4) as usize,
                (dir + gd_sectors + i * gt_sectors) as u32,
            );
        }
        out.write_at(&d, dir * SECTOR)?;
    }

    let id = unique_bytes(name.as_bytes());
    let cid = u32::from_le_bytes([id[0], id[1], id[2], id[3]]);
    let cylinders = (capacity / (255 * 63)).clamp(1, 65535);
    let extent = name.replace('"', "_");
    let text = format!(
        "# Disk DescriptorFile\nversion=1\nCID={cid:08x}\nparentCID=ffffffff\n\
         createType=\"monolithicSparse\"\n\n# Extent description\n\
         RW {capacity} SPARSE \"{extent}\"\n\n# The Disk Data Base\n#DDB\n\n\
         ddb.virtualHWVersion = \"4\"\nddb.geometry.cylinders = \"{cylinders}\"\n\
         ddb.geometry.heads = \"255\"\nddb.geometry.sectors = \"63\"\n\
         ddb.adapterType = \"lsilogic\"\nddb.toolsVersion = \"0\"\n"
    );
    let mut desc = vec![0u8; (DESCRIPTOR_SECTORS * SECTOR) as usize];
    let t = text.as_bytes();
    if t.len() >= desc.len() {
        return Err(Error::Invalid(format!(
            "file name {name} is too long for a VMDK"
        )));
    }
    desc[..t.len()].copy_from_slice(t);
    out.write_at(&desc, SECTOR)?;

    let mut h = vec![0u8; SECTOR as usize];
    h[..4].copy_from_slice(&MAGIC);
    put32(&mut h, 4, 1);
    put32(&mut h, 8, FLAG_NL_TEST | FLAG_REDUNDANT);
    put64(&mut h, 12, capacity);
    put64(&mut h, 20, GRAIN_SECTORS);
    put64(&mut h, 28, 1);
    put64(&mut h, 36, DESCRIPTOR_SECTORS);
    put32(&mut h, 44, GTES_PER_GT as u32);
    put64(&mut h, 48, rgd);
    put64(&mut h, 56, gd);
    put64(&mut h, 64, overhead);
    h[73..77].copy_from_slice(b"\n \r\n");
    out.write_at(&h, 0)
}

/// A VMDK sparse extent read as its virtual disk.
pub struct Reader<R> {
    inner: R,
    what: String,
    size: u64,
    grain: u64,
    per_gt: u64,
    gd_at: u64,
    gts: u64,
    compressed: bool,
    last: Mutex<Option<(u64, Vec<u8>)>>,
}

enum Grain {
    Zero,
    At(u64),
}

/// Largest grain read: 1 MiB (VMware writes 64 KiB).
const MAX_GRAIN_SECTORS: u64 = 2048;

impl<R: ReadAt> Reader<R> {
    pub fn new(inner: R, what: &str) -> Result<Self> {
        let name = format!("VMDK file {what}");
        let bad = |off: u64, d: &str| Error::corrupt(name.clone(), off, d.to_string());
        let unsupported = |d: &str| Error::Unsupported(format!("{what}: {d}"));
        let mut h = vec![0u8; SECTOR as usize];
        read_in(&inner, what, &mut h[..8], 0, "the VMDK header")?;
        if h[..8] == DESCRIPTOR[..] {
            return Err(unsupported(
                "a VMDK descriptor file whose data lies in other files is not supported; \
                 convert it to one file first (qemu-img convert -O vmdk)",
            ));
        }
        read_in(&inner, what, &mut h, 0, "the VMDK header")?;
        if h[..4] != MAGIC {
            return Err(bad(0, "no VMDK sparse extent magic"));
        }
        let mut flags = le32(&h, 8);
        if le64(&h, 56) == GD_AT_END {
            // streamOptimized: the real header is the footer, 1024 bytes before the end.
            let at = inner
                .size()
                .checked_sub(1024)
                .ok_or_else(|| bad(0, "no footer"))?;
            read_in(&inner, what, &mut h, at, "the VMDK footer")?;
            if h[..4] != MAGIC || le64(&h, 56) == GD_AT_END {
                return Err(bad(
                    at,
                    "the grain directory is at the end but the footer is not",
                ));
            }
            flags = le32(&h, 8);
        }
        let version = le32(&h, 4);
        if !(1..=3).contains(&version) {
            return Err(bad(4, &format!("VMDK version {version}")));
        }
        let capacity = le64(&h, 12);
        let grain = le64(&h, 20);
        if !grain.is_power_of_two() || !(1..=MAX_GRAIN_SECTORS).contains(&grain) {
            return Err(bad(20, &format!("grain of {grain} sectors")));
        }
        let per_gt = u64::from(le32(&h, 44));
        if !(1..=4096).contains(&per_gt) {
            return Err(bad(44, &format!("{per_gt} entries per grain table")));
        }
        let compressed = flags & FLAG_COMPRESSED != 0;
        if compressed && u16::from_le_bytes([h[77], h[78]]) != 1 {
            return Err(unsupported("a VMDK compressed with other than deflate"));
        }
        if capacity > 1 << 47 {
            return Err(bad(
                12,
                &format!("capacity of {capacity} sectors is implausible"),
            ));
        }
        // The embedded descriptor says whether this is a child disk or one of several extents.
        let (d_at, d_len) = (le64(&h, 28), le64(&h, 36));
        if d_at != 0 && d_len != 0 {
            let len = d_len.min(2048) * SECTOR; // bounded: descriptors are a few KiB
            let len = len.min(inner.size().saturating_sub(d_at.saturating_mul(SECTOR)));
            let mut d = vec![0u8; len as usize];
            read_in(
                &inner,
                what,
                &mut d,
                d_at.saturating_mul(SECTOR),
                "the VMDK descriptor",
            )?;
            let text = String::from_utf8_lossy(&d);
            for line in text.lines() {
                let l = line.trim();
                if let Some(v) = l.strip_prefix("parentCID=") {
                    if !v.trim().eq_ignore_ascii_case("ffffffff") {
                        return Err(unsupported(
                            "a VMDK child (delta) disk is not supported; consolidate it first",
                        ));
                    }
                }
            }
            let extents = text
                .lines()
                .filter(|l| {
                    let l = l.trim_start();
                    l.starts_with("RW ") || l.starts_with("RDONLY ") || l.starts_with("NOACCESS ")
                })
                .count();
            if extents > 1 {
                return Err(unsupported("a VMDK of several extents is not supported"));
            }
        }
        let gd_at = le64(&h, 56);
        let gts = capacity.div_ceil(grain).div_ceil(per_gt);
        if gd_at
            .checked_mul(SECTOR)
            .and_then(|a| a.checked_add(gts * 4))
            .is_none_or(|e| e > inner.size())
        {
            return Err(bad(56, "the grain directory lies past the end of the file"));
        }
        Ok(Reader {
            inner,
            what: what.to_string(),
            size: capacity * SECTOR,
            grain: grain * SECTOR,
            per_gt,
            gd_at: gd_at * SECTOR,
            gts,
            compressed,
            last: Mutex::new(None),
        })
    }

    fn entry(&self, at: u64, part: &str) -> Result<u64> {
        let mut e = [0u8; 4];
        read_in(&self.inner, &self.what, &mut e, at, part)?;
        Ok(u64::from(u32::from_le_bytes(e)))
    }

    fn grain_at(&self, g: u64) -> Result<Grain> {
        let t = g / self.per_gt;
        if t >= self.gts {
            return Ok(Grain::Zero);
        }
        let gt = self.entry(self.gd_at + t * 4, "a grain directory entry")?;
        if gt == 0 {
            return Ok(Grain::Zero);
        }
        let e = self.entry(gt * SECTOR + (g % self.per_gt) * 4, "a grain table entry")?;
        // 0: never written; 1: a zeroed grain.
        Ok(if e <= 1 {
            Grain::Zero
        } else {
            Grain::At(e * SECTOR)
        })
    }

    /// A compressed grain: at its sector a marker (LBA, size), then zlib data.
    fn inflate(&self, g: u64, at: u64, out: &mut [u8], within: usize) -> Result<()> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((i, data)) = last.as_ref() {
            if *i == g {
                out.copy_from_slice(&data[within..within + out.len()]);
                return Ok(());
            }
        }
        let mut m = [0u8; 12];
        read_in(&self.inner, &self.what, &mut m, at, "a grain marker")?;
        let len = u64::from(le32(&m, 8));
        let corrupt = |d: &str| {
            Error::corrupt(
                format!("VMDK file {}", self.what),
                at,
                format!("compressed grain for disk offset {}: {d}", g * self.grain),
            )
        };
        if len > 2 * self.grain + 4096 {
            return Err(corrupt("compressed size larger than a grain could need"));
        }
        let mut input = vec![0u8; len as usize];
        read_in(
            &self.inner,
            &self.what,
            &mut input,
            at + 12,
            "a compressed grain",
        )?;
        let mut data = vec![0u8; self.grain as usize];
        let mut d = flate2::Decompress::new(true);
        let r = d.decompress(&input, &mut data, flate2::FlushDecompress::Finish);
        // The last grain of a disk whose size is not a grain multiple inflates shorter.
        if r.is_err() || d.total_out() == 0 {
            return Err(corrupt("does not inflate"));
        }
        out.copy_from_slice(&data[within..within + out.len()]);
        *last = Some((g, data));
        Ok(())
    }
}

impl<R: ReadAt> ReadAt for Reader<R> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        check_range(&self.what, self.size, buf.len(), offset)?;
        let mut done = 0usize;
        while done < buf.len() {
            let at = offset + done as u64;
            let within = at % self.grain;
            let n = ((self.grain - within) as usize).min(buf.len() - done);
            let part = &mut buf[done..done + n];
            let g = at / self.grain;
            match self.grain_at(g)? {
                Grain::Zero => part.fill(0),
                Grain::At(o) if self.compressed => self.inflate(g, o, part, within as usize)?,
                Grain::At(o) => read_in(&self.inner, &self.what, part, o + within, "a grain")?,
            }
            done += n;
        }
        Ok(())
    }
    fn size(&self) -> u64 {
        self.size
    }
    fn is_hole(&self, offset: u64, len: u64) -> bool {
        let Some(end) = offset.checked_add(len).filter(|&e| e <= self.size) else {
            return false;
        };
        // A hint only: ranges of more than MAX_HOLE_UNITS table entries answer "unknown".
        if len / self.grain > super::MAX_HOLE_UNITS {
            return false;
        }
        let mut g = offset / self.grain;
        while g * self.grain < end {
            if !matches!(self.grain_at(g), Ok(Grain::Zero)) {
                return false;
            }
            g += 1;
        }
        true
    }
}

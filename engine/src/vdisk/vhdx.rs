//! VHDX (Microsoft [MS-VHDX]): export of a saved image as a dynamic VHDX Hyper-V attaches,
//! and reading of dynamic and fixed VHDX files as their virtual disk. Export writes the file
//! identifier, two headers and two region tables with CRC-32C, an empty log, the metadata
//! region (file parameters, virtual disk size, virtual disk id, logical and physical sector
//! size) and the BAT; only payload blocks holding a non-zero byte are allocated. The reader
//! refuses differencing disks and a log that must be replayed, with an error naming the file;
//! every table entry and offset from the file is bounds-checked before use.

use super::{check_range, data_blocks, le16, le32, le64, read_in, unique_bytes, Out};
use crate::device::ReadAt;
use crate::error::{Error, Result};
use crate::events::Ctx;
use crate::extent::ExtentList;

pub const FILE_SIGNATURE: [u8; 8] = *b"vhdxfile";
const MIB: u64 = 1 << 20;
const KIB64: u64 = 64 << 10;

/// GUIDs as they lie in the file (the first three fields little-endian).
const fn guid(a: u32, b: u16, c: u16, d: [u8; 8]) -> [u8; 16] {
    let a = a.to_le_bytes();
    let b = b.to_le_bytes();
    let c = c.to_le_bytes();
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5], d[6],
        d[7],
    ]
}
const BAT_REGION: [u8; 16] = guid(
    0x2DC2_7766,
    0xF623,
    0x4200,
    [0x9D, 0x64, 0x11, 0x5E, 0x9B, 0xFD, 0x4A, 0x08],
);
const METADATA_REGION: [u8; 16] = guid(
    0x8B7C_A206,
    0x4790,
    0x4B9A,
    [0xB8, 0xFE, 0x57, 0x5F, 0x05, 0x0F, 0x88, 0x6E],
);
const FILE_PARAMETERS: [u8; 16] = guid(
    0xCAA1_6737,
    0xFA36,
    0x4D43,
    [0xB3, 0xB6, 0x33, 0xF0, 0xAA, 0x44, 0xE7, 0x6B],
);
const VIRTUAL_DISK_SIZE: [u8; 16] = guid(
    0x2FA5_4224,
    0xCD1B,
    0x4876,
    [0xB2, 0x11, 0x5D, 0xBE, 0xD8, 0x3B, 0xF4, 0xB8],
);
const VIRTUAL_DISK_ID: [u8; 16] = guid(
    0xBECA_12AB,
    0xB2E6,
    0x4523,
    [0x93, 0xEF, 0xC3, 0x09, 0xE0, 0x00, 0xC7, 0x46],
);
const LOGICAL_SECTOR: [u8; 16] = guid(
    0x8141_BF1D,
    0xA96F,
    0x4709,
    [0xBA, 0x47, 0xF2, 0x33, 0xA8, 0xFA, 0xAB, 0x5F],
);
const PHYSICAL_SECTOR: [u8; 16] = guid(
    0xCDA3_48C7,
    0x445D,
    0x4471,
    [0x9C, 0xC9, 0xE9, 0x88, 0x52, 0x51, 0xC5, 0x56],
);
const PARENT_LOCATOR: [u8; 16] = guid(
    0xA8D3_5F2D,
    0xB30B,
    0x454D,
    [0xAB, 0xD7, 0xD3, 0xD8, 0x48, 0x34, 0xAB, 0x0C],
);

/// BAT entry states.
const PAYLOAD_FULLY_PRESENT: u64 = 6;
const PAYLOAD_PARTIALLY_PRESENT: u64 = 7;

/// CRC-32C (Castagnoli), as VHDX checksums its headers and region tables.
fn crc32c(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let t = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0x82F6_3B78
                } else {
                    c >> 1
                };
            }
            *e = c;
        }
        t
    });
    let mut c = !0u32;
    for &b in data {
        c = t[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// A structure with its CRC-32C at offset 4 (computed with that field zero).
fn checksum(buf: &mut [u8]) {
    buf[4..8].fill(0);
    let c = crc32c(buf);
    buf[4..8].copy_from_slice(&c.to_le_bytes());
}
fn checksum_ok(buf: &[u8]) -> bool {
    let mut b = buf.to_vec();
    let want = le32(buf, 4);
    b[4..8].fill(0);
    crc32c(&b) == want
}

/// Payload blocks per sector-bitmap block: the BAT interleaves one bitmap entry after each
/// chunk of this many payload entries.
fn chunk_ratio(logical_sector: u64, block: u64) -> u64 {
    ((1u64 << 23) * logical_sector / block).max(1)
}

/// Writes `src` as a dynamic VHDX. Layout: 0 identifier, 64 KiB and 128 KiB headers,
/// 192 KiB and 256 KiB region tables, 1 MiB an empty 1 MiB log, 2 MiB metadata, 3 MiB the
/// BAT, then the payload blocks in disk order as they are found, each 1 MiB aligned.
pub fn write(src: &dyn ReadAt, stored: &ExtentList, out: &Out, ctx: &Ctx) -> Result<()> {
    let logical: u64 = if src.sector_size() == 4096 { 4096 } else { 512 };
    let vsize = src.size().div_ceil(logical) * logical;
    if vsize > 64 << 40 {
        return Err(Error::Unsupported(format!(
            "a {vsize}-byte disk is larger than VHDX allows (64 TiB)"
        )));
    }
    // 1 MiB blocks keep the file small; past 256 GiB, 32 MiB blocks (Hyper-V's default)
    // keep the BAT small.
    let block: u64 = if vsize <= 256 << 30 { MIB } else { 32 * MIB };
    let ratio = chunk_ratio(logical, block);
    let blocks = vsize.div_ceil(block).max(1);
    let bat_entries = blocks + (blocks - 1) / ratio;
    let bat_len = (bat_entries * 8).div_ceil(MIB) * MIB;
    let (log_at, meta_at, bat_at) = (MIB, 2 * MIB, 3 * MIB);
    let mut bat = vec![0u8; (bat_entries * 8) as usize];
    let mut next = bat_at + bat_len;
    data_blocks(src, stored, block, ctx, |at, b| {
        out.write_at(b, next)?;
        let i = at / block;
        let e = (i + i / ratio) as usize * 8;
        let entry = PAYLOAD_FULLY_PRESENT | ((next / MIB) << 20);
        bat[e..e + 8].copy_from_slice(&entry.to_le_bytes());
        next += block;
        Ok(())
    })?;
    out.write_at(&bat, bat_at)?;
    out.set_len(next)?;

    // The identifier: signature and the creator in UTF-16.
    let mut id = vec![0u8; KIB64 as usize];
    id[..8].copy_from_slice(&FILE_SIGNATURE);
    for (i, u) in "Wraith".encode_utf16().enumerate() {
        id[8 + i * 2..10 + i * 2].copy_from_slice(&u.to_le_bytes());
    }
    out.write_at(&id, 0)?;

    let seed = unique_bytes(&vsize.to_le_bytes());
    let mut h = vec![0u8; 4096];
    h[..4].copy_from_slice(b"head");
    h[16..32].copy_from_slice(&seed[..16]); // FileWriteGuid
    h[32..48].copy_from_slice(&seed[16..32]); // DataWriteGuid
                                              // LogGuid stays zero: there is nothing to replay.
    h[66..68].copy_from_slice(&1u16.to_le_bytes()); // Version
    h[68..72].copy_from_slice(&(MIB as u32).to_le_bytes()); // LogLength
    h[72..80].copy_from_slice(&log_at.to_le_bytes()); // LogOffset
    for (seq, at) in [(1u64, KIB64), (2u64, 2 * KIB64)] {
        h[8..16].copy_from_slice(&seq.to_le_bytes());
        checksum(&mut h);
        out.write_at(&h, at)?;
    }

    let mut rt = vec![0u8; KIB64 as usize];
    rt[..4].copy_from_slice(b"regi");
    rt[8..12].copy_from_slice(&2u32.to_le_bytes());
    for (k, (g, at, len)) in [
        (BAT_REGION, bat_at, bat_len),
        (METADATA_REGION, meta_at, MIB),
    ]
    .into_iter()
    .enumerate()
    {
        let e = 16 + k * 32;
        rt[e..e + 16].copy_from_slice(&g);
        rt[e + 16..e + 24].copy_from_slice(&at.to_le_bytes());
        rt[e + 24..e + 28].copy_from_slice(&(len as u32).to_le_bytes());
        rt[e + 28..e + 32].copy_from_slice(&1u32.to_le_bytes()); // Required
    }
    checksum(&mut rt);
    out.write_at(&rt, 3 * KIB64)?;
    out.write_at(&rt, 4 * KIB64)?;

    // Metadata: the table, then the items from 64 KiB on.
    let mut md = vec![0u8; KIB64 as usize + 4096];
    md[..8].copy_from_slice(b"metadata");
    let disk_id = unique_bytes(b"virtual disk id");
    let mut items: Vec<([u8; 16], Vec<u8>, u32)> = vec![
        (
            FILE_PARAMETERS,
            {
                let mut v = (block as u32).to_le_bytes().to_vec();
                v.extend_from_slice(&0u32.to_le_bytes());
                v
            },
            4,
        ),
        (VIRTUAL_DISK_SIZE, vsize.to_le_bytes().to_vec(), 6),
        (VIRTUAL_DISK_ID, disk_id[..16].to_vec(), 6),
        (LOGICAL_SECTOR, (logical as u32).to_le_bytes().to_vec(), 6),
        (PHYSICAL_SECTOR, 4096u32.to_le_bytes().to_vec(), 6),
    ];
    md[10..12].copy_from_slice(&(items.len() as u16).to_le_bytes());
    let mut data_at = KIB64 as usize;
    for (k, (g, data, flags)) in items.iter_mut().enumerate() {
        let e = 32 + k * 32;
        md[e..e + 16].copy_from_slice(g);
        md[e + 16..e + 20].copy_from_slice(&(data_at as u32).to_le_bytes());
        md[e + 20..e + 24].copy_from_slice(&(data.len() as u32).to_le_bytes());
        md[e + 24..e + 28].copy_from_slice(&flags.to_le_bytes());
        md[data_at..data_at + data.len()].copy_from_slice(data);
        data_at += data.len().div_ceil(8) * 8;
    }
    out.write_at(&md, meta_at)
}

/// A VHDX file read as its virtual disk.
pub struct Reader<R> {
    inner: R,
    what: String,
    size: u64,
    block: u64,
    ratio: u64,
    logical: u64,
    bat_at: u64,
    bat_len: u64,
}

impl<R: ReadAt> Reader<R> {
    pub fn new(inner: R, what: &str) -> Result<Self> {
        let name = format!("VHDX file {what}");
        let bad = |off: u64, d: &str| Error::corrupt(name.clone(), off, d.to_string());
        let unsupported = |d: &str| Error::Unsupported(format!("{what}: {d}"));
        let mut sig = [0u8; 8];
        read_in(&inner, what, &mut sig, 0, "the VHDX file identifier")?;
        if sig != FILE_SIGNATURE {
            return Err(bad(0, "no VHDX file identifier"));
        }
        // The current header: the valid one with the higher sequence number.
        let mut best: Option<(u64, Vec<u8>)> = None;
        for at in [KIB64, 2 * KIB64] {
            let mut h = vec![0u8; 4096];
            if read_in(&inner, what, &mut h, at, "a VHDX header").is_err() {
                continue;
            }
            if &h[..4] != b"head" || !checksum_ok(&h) {
                continue;
            }
            let seq = le64(&h, 8);
            if best.as_ref().is_none_or(|(s, _)| seq > *s) {
                best = Some((seq, h));
            }
        }
        let Some((_, h)) = best else {
            return Err(bad(
                KIB64,
                "neither VHDX header is valid (signature, CRC-32C)",
            ));
        };
        if h[48..64].iter().any(|&b| b != 0) {
            return Err(unsupported(
                "the VHDX has a log to replay (it was not closed cleanly); open it once in \
                 Hyper-V or run qemu-img check -r all on it first",
            ));
        }
        if le16(&h, 66) != 1 {
            return Err(bad(KIB64 + 66, "VHDX version is not 1"));
        }
        // The region table: the first valid copy.
        let mut rt = vec![0u8; KIB64 as usize];
        let mut found = false;
        for at in [3 * KIB64, 4 * KIB64] {
            if read_in(&inner, what, &mut rt, at, "a VHDX region table").is_ok()
                && &rt[..4] == b"regi"
                && checksum_ok(&rt)
            {
                found = true;
                break;
            }
        }
        if !found {
            return Err(bad(3 * KIB64, "neither VHDX region table is valid"));
        }
        let count = le32(&rt, 8) as usize;
        if count > 2047 {
            return Err(bad(3 * KIB64 + 8, "more than 2047 region table entries"));
        }
        let (mut bat, mut meta) = (None, None);
        for k in 0..count {
            let e = &rt[16 + k * 32..48 + k * 32];
            let (at, len) = (le64(e, 16), u64::from(le32(e, 24)));
            if e[..16] == BAT_REGION {
                bat = Some((at, len));
            } else if e[..16] == METADATA_REGION {
                meta = Some((at, len));
            } else if le32(e, 28) & 1 != 0 {
                return Err(unsupported(
                    "the VHDX has a required region Wraith does not know",
                ));
            }
        }
        let (Some((bat_at, bat_len)), Some((meta_at, meta_len))) = (bat, meta) else {
            return Err(bad(
                3 * KIB64,
                "the VHDX region table lacks the BAT or metadata",
            ));
        };
        for (at, len, part) in [(bat_at, bat_len, "BAT"), (meta_at, meta_len, "metadata")] {
            if at.checked_add(len).is_none_or(|e| e > inner.size()) {
                return Err(bad(
                    at,
                    &format!("the {part} region lies past the end of the file"),
                ));
            }
        }
        // The metadata table (64 KiB) and its items, each read within the region.
        let mut mt = vec![0u8; KIB64 as usize];
        if meta_len < KIB64 {
            return Err(bad(meta_at, "metadata region smaller than its table"));
        }
        read_in(&inner, what, &mut mt, meta_at, "the VHDX metadata table")?;
        if &mt[..8] != b"metadata" {
            return Err(bad(meta_at, "no metadata table signature"));
        }
        let n = usize::from(le16(&mt, 10));
        if n > 2047 {
            return Err(bad(meta_at + 10, "more than 2047 metadata entries"));
        }
        let item = |id: &[u8; 16]| -> Result<Option<[u8; 8]>> {
            for k in 0..n {
                let e = &mt[32 + k * 32..64 + k * 32];
                if e[..16] != *id {
                    continue;
                }
                let (off, len) = (u64::from(le32(e, 16)), u64::from(le32(e, 20)));
                if off.checked_add(len).is_none_or(|end| end > meta_len) {
                    return Err(bad(
                        meta_at + 32 + k as u64 * 32,
                        "metadata item outside its region",
                    ));
                }
                let mut v = [0u8; 8];
                let l = len.min(8) as usize;
                read_in(
                    &inner,
                    what,
                    &mut v[..l],
                    meta_at + off,
                    "a VHDX metadata item",
                )?;
                return Ok(Some(v));
            }
            Ok(None)
        };
        if item(&PARENT_LOCATOR)?.is_some() {
            return Err(unsupported(
                "a differencing VHDX (a child of another disk) is not supported; merge it first",
            ));
        }
        let fp = item(&FILE_PARAMETERS)?.ok_or_else(|| bad(meta_at, "no file parameters"))?;
        let block = u64::from(le32(&fp, 0));
        if le32(&fp, 4) & 2 != 0 {
            return Err(unsupported(
                "a differencing VHDX (a child of another disk) is not supported; merge it first",
            ));
        }
        if !block.is_power_of_two() || !(MIB..=256 * MIB).contains(&block) {
            return Err(bad(
                meta_at,
                &format!("block size {block} is not a power of two in 1..=256 MiB"),
            ));
        }
        let size = item(&VIRTUAL_DISK_SIZE)?
            .map(|v| le64(&v, 0))
            .ok_or_else(|| bad(meta_at, "no virtual disk size"))?;
        let logical = item(&LOGICAL_SECTOR)?
            .map(|v| u64::from(le32(&v, 0)))
            .ok_or_else(|| bad(meta_at, "no logical sector size"))?;
        if logical != 512 && logical != 4096 {
            return Err(bad(meta_at, &format!("logical sector size {logical}")));
        }
        if size > 64 << 40 || size % logical != 0 {
            return Err(bad(meta_at, &format!("virtual disk size {size}")));
        }
        let ratio = chunk_ratio(logical, block);
        let blocks = size.div_ceil(block);
        let entries = blocks + blocks.saturating_sub(1) / ratio;
        if entries * 8 > bat_len {
            return Err(bad(bat_at, "the BAT is smaller than the disk needs"));
        }
        Ok(Reader {
            inner,
            what: what.to_string(),
            size,
            block,
            ratio,
            logical,
            bat_at,
            bat_len,
        })
    }

    /// Where payload block `i` lies in the file; None: it reads as zeros.
    fn block_at(&self, i: u64) -> Result<Option<u64>> {
        let idx = i + i / self.ratio;
        let at = self.bat_at + idx * 8;
        if (idx + 1) * 8 > self.bat_len {
            return Err(Error::corrupt(
                format!("VHDX file {}", self.what),
                at,
                "BAT entry outside the BAT",
            ));
        }
        let mut e = [0u8; 8];
        read_in(&self.inner, &self.what, &mut e, at, "a BAT entry")?;
        let e = u64::from_le_bytes(e);
        match e & 7 {
            PAYLOAD_FULLY_PRESENT => Ok(Some((e >> 20).saturating_mul(MIB))),
            PAYLOAD_PARTIALLY_PRESENT => Err(Error::Unsupported(format!(
                "{}: a partially present block (differencing VHDX) at disk offset {}",
                self.what,
                i * self.block
            ))),
            // Not present, undefined, zero, unmapped: zeros without a parent.
            _ => Ok(None),
        }
    }
}

impl<R: ReadAt> ReadAt for Reader<R> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        check_range(&self.what, self.size, buf.len(), offset)?;
        let mut done = 0usize;
        while done < buf.len() {
            let at = offset + done as u64;
            let within = at % self.block;
            let n = ((self.block - within) as usize).min(buf.len() - done);
            let part = &mut buf[done..done + n];
            match self.block_at(at / self.block)? {
                None => part.fill(0),
                Some(o) => read_in(
                    &self.inner,
                    &self.what,
                    part,
                    o.saturating_add(within),
                    "a payload block",
                )?,
            }
            done += n;
        }
        Ok(())
    }
    fn size(&self) -> u64 {
        self.size
    }
    fn sector_size(&self) -> u64 {
        self.logical
    }
    fn is_hole(&self, offset: u64, len: u64) -> bool {
        let Some(end) = offset.checked_add(len).filter(|&e| e <= self.size) else {
            return false;
        };
        // A hint only: ranges of more than MAX_HOLE_UNITS table entries answer "unknown".
        if len / self.block > super::MAX_HOLE_UNITS {
            return false;
        }
        let mut b = offset / self.block;
        while b * self.block < end {
            if !matches!(self.block_at(b), Ok(None)) {
                return false;
            }
            b += 1;
        }
        true
    }
}

//! partclone's image stream: the descriptor (image format 0001 and 0002), the used-block
//! bitmap, then the used blocks in disk order with their checksums. This file parses an
//! already-decompressed byte stream, forward only, and verifies every checksum it meets; it
//! knows nothing of files, pieces or compression (see `mod.rs`) and never writes anywhere.
//!
//! Layout, as partclone writes it (all integers little-endian):
//! - 0002: a 110-byte descriptor whose last 4 bytes are a CRC of the first 106; the bitmap, one
//!   bit per block (LSB first), followed by a CRC of it; then the used blocks, a checksum after
//!   every `blocks_per_checksum` of them and after the last, partial group.
//! - 0001: a 4160-byte descriptor; the bitmap, one byte per block (1 = used), then the magic
//!   `BiTmAgIc`; then each used block followed by a 4-byte checksum computed with 0001's
//!   defective CRC (it hashes the block's first byte `block_size` times, never reseeded).
//!
//! partclone's CRC32 is the IEEE polynomial, seeded with 0xFFFFFFFF and never inverted at the
//! end: the bitwise complement of the usual CRC-32.

use std::io::Read;

/// The largest block partclone itself accepts.
const MAX_BLOCK_SIZE: u32 = 64 << 20;
const V2_DESC_LEN: usize = 110;
const V1_DESC_LEN: usize = 4160;
const BIT_MAGIC: &[u8; 8] = b"BiTmAgIc";
const CSM_NONE: u16 = 0x00;
const CSM_CRC32: u16 = 0x20;

/// A fault in the stream, at a byte offset of the decompressed stream.
#[derive(Debug)]
pub enum StreamError {
    /// The bytes say something impossible or fail their checksum.
    Corrupt { offset: u64, detail: String },
    /// The stream ended early.
    Truncated { offset: u64, detail: String },
    /// Reading the underlying data failed (decompression, file I/O).
    Io { offset: u64, err: std::io::Error },
}

impl StreamError {
    pub fn offset(&self) -> u64 {
        match self {
            StreamError::Corrupt { offset, .. }
            | StreamError::Truncated { offset, .. }
            | StreamError::Io { offset, .. } => *offset,
        }
    }
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamError::Corrupt { offset, detail } => {
                write!(f, "{detail} (partclone stream byte {offset})")
            }
            StreamError::Truncated { offset, detail } => {
                write!(f, "stream ends early at partclone byte {offset}: {detail}")
            }
            StreamError::Io { offset, err } => {
                write!(f, "{err} (at partclone stream byte {offset})")
            }
        }
    }
}

pub type SResult<T> = std::result::Result<T, StreamError>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumMode {
    None,
    /// partclone's CRC32 over `blocks_per_checksum` blocks, `reseed`: restarted after each.
    Crc32 {
        per: u32,
        reseed: bool,
    },
    /// Image format 0001's defective CRC, one per block, never reseeded.
    Crc32V1,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// 1 or 2.
    pub version: u32,
    /// partclone's name of the filesystem ("EXTFS", "FAT32", "NTFS", "raw"...).
    pub fs: String,
    pub block_size: u32,
    pub device_size: u64,
    pub total_blocks: u64,
    pub used_blocks: u64,
    pub checksum: ChecksumMode,
    /// True: one byte per block (0001); false: one bit per block.
    pub byte_bitmap: bool,
    /// False: the image has no bitmap and every block is present.
    pub has_bitmap: bool,
}

impl Header {
    fn checksum_len(&self) -> u64 {
        match self.checksum {
            ChecksumMode::None => 0,
            _ => 4,
        }
    }
    /// Bytes of block data and checksums that follow the bitmap for `used` blocks.
    pub fn data_len(&self, used: u64) -> Option<u64> {
        let blocks = used.checked_mul(u64::from(self.block_size))?;
        let groups = match self.checksum {
            ChecksumMode::None => 0,
            ChecksumMode::Crc32 { per, .. } => used.div_ceil(u64::from(per)),
            ChecksumMode::Crc32V1 => used,
        };
        blocks.checked_add(groups.checked_mul(self.checksum_len())?)
    }
}

/// partclone's CRC32 of `data` continued from `state` (start: 0xFFFFFFFF).
pub fn crc32_update(state: u32, data: &[u8]) -> u32 {
    // crc32fast keeps the complemented state: complement on the way in and out.
    let mut h = crc32fast::Hasher::new_with_initial(!state);
    h.update(data);
    !h.finalize()
}

/// Image format 0001's CRC: every byte of the block taken to be its first byte.
fn crc32_v1_block(mut state: u32, block: &[u8]) -> u32 {
    let Some(&b) = block.first() else {
        return state;
    };
    // The same byte over and over: a 256-step cycle would not help, just run it.
    for _ in 0..block.len() {
        state = crc32_update(state, &[b]);
    }
    state
}

/// A byte source that counts what it has handed out.
pub struct Counted<R> {
    inner: R,
    pub pos: u64,
}

impl<R: Read> Counted<R> {
    pub fn new(inner: R) -> Self {
        Counted { inner, pos: 0 }
    }
    /// Fills `buf` completely or says why not.
    pub fn fill(&mut self, buf: &mut [u8], what: &str) -> SResult<()> {
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) => {
                    return Err(StreamError::Truncated {
                        offset: self.pos,
                        detail: format!("{what} incomplete"),
                    })
                }
                Ok(n) => {
                    got += n;
                    self.pos += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => {
                    return Err(StreamError::Io {
                        offset: self.pos,
                        err,
                    })
                }
            }
        }
        Ok(())
    }
    pub fn inner(&self) -> &R {
        &self.inner
    }
}

fn le16(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn le64(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}
fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).trim().to_string()
}

/// Reads and checks the descriptor.
pub fn read_header<R: Read>(r: &mut Counted<R>) -> SResult<Header> {
    let start = r.pos;
    let mut d = [0u8; V2_DESC_LEN];
    r.fill(&mut d, "partclone image descriptor")?;
    let corrupt = |detail: String| StreamError::Corrupt {
        offset: start,
        detail,
    };
    if &d[0..15] != b"partclone-image" {
        return Err(corrupt("not a partclone image (magic missing)".into()));
    }
    let version = &d[30..34];
    let h = match version {
        b"0002" => {
            let want = le32(&d, 106);
            let got = crc32_update(0xFFFF_FFFF, &d[..106]);
            if want != got {
                return Err(corrupt(format!(
                    "descriptor checksum mismatch (stored {want:#010x}, computed {got:#010x})"
                )));
            }
            if le16(&d, 34) != 0xC0DE {
                return Err(corrupt(
                    "image written on a big-endian machine: not supported".into(),
                ));
            }
            // file_system_info_v2 at 36: fs[16], device_size, totalblock, superBlockUsedBlocks,
            // usedblocks, block_size; image_options_v2 at 88.
            let fs = cstr(&d[36..52]);
            let device_size = le64(&d, 52);
            let total_blocks = le64(&d, 60);
            let used_blocks = le64(&d, 76);
            let block_size = le32(&d, 84);
            let csm = le16(&d, 96);
            let cs_size = le16(&d, 98);
            let per = le32(&d, 100);
            let reseed = d[104] != 0;
            let bitmap_mode = d[105];
            let checksum = match (csm, cs_size) {
                (CSM_NONE, 0) => ChecksumMode::None,
                (CSM_CRC32, 4) if per > 0 => ChecksumMode::Crc32 { per, reseed },
                (CSM_CRC32, 4) => return Err(corrupt("CRC32 checksums every 0 blocks".into())),
                (0x30, _) | (0x31, _) => {
                    return Err(corrupt(
                        "xxHash checksums are not supported (only none and CRC32)".into(),
                    ))
                }
                _ => {
                    return Err(corrupt(format!(
                        "unknown checksum mode {csm:#x} of {cs_size} bytes"
                    )))
                }
            };
            let (byte_bitmap, has_bitmap) = match bitmap_mode {
                0x01 => (false, true),
                0x08 => (true, true),
                0x00 => (false, false),
                m => return Err(corrupt(format!("unknown bitmap mode {m:#x}"))),
            };
            Header {
                version: 2,
                fs,
                block_size,
                device_size,
                total_blocks,
                used_blocks,
                checksum,
                byte_bitmap,
                has_bitmap,
            }
        }
        b"0001" => {
            let mut rest = vec![0u8; V1_DESC_LEN - V2_DESC_LEN];
            r.fill(&mut rest, "partclone 0001 image descriptor")?;
            let mut full = d.to_vec();
            full.extend_from_slice(&rest);
            // image_head_v1: magic[15], fs[15], version[4], padding[2]; file_system_info_v1
            // at 36: int block_size, device_size, totalblock, usedblocks (packed).
            Header {
                version: 1,
                fs: cstr(&full[15..30]),
                block_size: le32(&full, 36),
                device_size: le64(&full, 40),
                total_blocks: le64(&full, 48),
                used_blocks: le64(&full, 56),
                checksum: ChecksumMode::Crc32V1,
                byte_bitmap: true,
                has_bitmap: true,
            }
        }
        v => {
            return Err(corrupt(format!(
                "unknown image version {:?}",
                String::from_utf8_lossy(v)
            )))
        }
    };
    if h.block_size == 0 || h.block_size > MAX_BLOCK_SIZE || h.block_size % 512 != 0 {
        return Err(corrupt(format!("impossible block size {}", h.block_size)));
    }
    let fs_bytes = h.total_blocks.checked_mul(u64::from(h.block_size));
    if fs_bytes.is_none_or(|b| b > h.device_size) {
        return Err(corrupt(format!(
            "{} blocks of {} bytes do not fit the {}-byte device",
            h.total_blocks, h.block_size, h.device_size
        )));
    }
    // The bitmap is held in memory: 2^33 blocks (32 TiB of 4 KiB blocks) is a 1 GiB map, more
    // than any disk Clonezilla saved needs; a claim beyond is refused before it is read.
    if h.total_blocks > 1 << 33 {
        return Err(corrupt(format!(
            "{} blocks: more than this reader holds a map for",
            h.total_blocks
        )));
    }
    if h.used_blocks > h.total_blocks {
        return Err(corrupt(format!(
            "{} used blocks of {} in all",
            h.used_blocks, h.total_blocks
        )));
    }
    Ok(h)
}

/// Which blocks are stored, with counts to find a block's place in the stream quickly.
#[derive(Clone, Debug)]
pub struct Bitmap {
    words: Vec<u64>,
    total: u64,
    /// Used blocks before each group of `RANK_WORDS` words.
    ranks: Vec<u64>,
    used: u64,
}

const RANK_WORDS: usize = 8;

impl Bitmap {
    fn from_words(words: Vec<u64>, total: u64) -> Bitmap {
        let mut ranks = Vec::with_capacity(words.len() / RANK_WORDS + 1);
        let mut used = 0u64;
        for (i, w) in words.iter().enumerate() {
            if i % RANK_WORDS == 0 {
                ranks.push(used);
            }
            used += u64::from(w.count_ones());
        }
        Bitmap {
            words,
            total,
            ranks,
            used,
        }
    }
    /// Every block used (an image without a bitmap).
    fn full(total: u64) -> Bitmap {
        let n = total.div_ceil(64) as usize;
        let mut words = vec![u64::MAX; n];
        if !total.is_multiple_of(64) {
            if let Some(last) = words.last_mut() {
                *last = (1u64 << (total % 64)) - 1;
            }
        }
        Bitmap::from_words(words, total)
    }
    pub fn total(&self) -> u64 {
        self.total
    }
    pub fn used(&self) -> u64 {
        self.used
    }
    pub fn is_used(&self, block: u64) -> bool {
        block < self.total
            && self
                .words
                .get((block / 64) as usize)
                .is_some_and(|w| w & (1 << (block % 64)) != 0)
    }
    /// How many used blocks come before `block`: its index in the stream when used.
    pub fn rank(&self, block: u64) -> u64 {
        let block = block.min(self.total);
        let wi = (block / 64) as usize;
        let group = wi / RANK_WORDS;
        let mut n = self.ranks.get(group).copied().unwrap_or(self.used);
        for w in &self.words[group * RANK_WORDS..wi.min(self.words.len())] {
            n += u64::from(w.count_ones());
        }
        if !block.is_multiple_of(64) {
            if let Some(w) = self.words.get(wi) {
                n += u64::from((w & ((1u64 << (block % 64)) - 1)).count_ones());
            }
        }
        n
    }
    /// Runs of used blocks as (first block, count), in order.
    pub fn runs(&self) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        let mut b = 0u64;
        while b < self.total {
            let w = self.words[(b / 64) as usize] >> (b % 64);
            if w == 0 {
                b = (b / 64 + 1) * 64;
                continue;
            }
            let skip = u64::from(w.trailing_zeros());
            b += skip;
            let run = u64::from((!(w >> skip)).trailing_zeros()).min(64 - (b % 64));
            let run = run.min(self.total - b);
            match out.last_mut() {
                Some(last) if last.0 + last.1 == b => last.1 += run,
                _ => out.push((b, run)),
            }
            b += run;
        }
        out
    }
}

/// Reads the bitmap after the descriptor. Memory grows only as bitmap bytes actually arrive,
/// so a descriptor claiming a huge disk costs nothing until the stream backs it up.
pub fn read_bitmap<R: Read>(r: &mut Counted<R>, h: &Header) -> SResult<Bitmap> {
    if !h.has_bitmap {
        // Nothing in the stream backs the map up: bound it (2^31 blocks is 8 TiB of 4 KiB
        // blocks, a 256 MiB map).
        if h.total_blocks > (1 << 31) {
            return Err(StreamError::Corrupt {
                offset: r.pos,
                detail: format!("{} blocks without a bitmap", h.total_blocks),
            });
        }
        return Ok(Bitmap::full(h.total_blocks));
    }
    let start = r.pos;
    let total = h.total_blocks;
    let mut words: Vec<u64> = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    if h.byte_bitmap {
        let mut left = total;
        let mut cur = 0u64;
        let mut bit = 0u32;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            r.fill(&mut buf[..n], "block bitmap")?;
            for (i, &b) in buf[..n].iter().enumerate() {
                match b {
                    0 => {}
                    1 => cur |= 1 << bit,
                    x => {
                        return Err(StreamError::Corrupt {
                            offset: r.pos - n as u64 + i as u64,
                            detail: format!("bitmap byte {x:#x} is neither 0 nor 1"),
                        })
                    }
                }
                bit += 1;
                if bit == 64 {
                    words.push(cur);
                    cur = 0;
                    bit = 0;
                }
            }
            left -= n as u64;
        }
        if bit > 0 {
            words.push(cur);
        }
        let mut magic = [0u8; 8];
        let at = r.pos;
        r.fill(&mut magic, "bitmap end mark")?;
        if &magic != BIT_MAGIC {
            return Err(StreamError::Corrupt {
                offset: at,
                detail: "bitmap end mark BiTmAgIc missing".into(),
            });
        }
    } else {
        let bytes = total.div_ceil(8);
        let mut left = bytes;
        let mut crc = 0xFFFF_FFFFu32;
        let mut pending: Vec<u8> = Vec::with_capacity(8);
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            r.fill(&mut buf[..n], "block bitmap")?;
            crc = crc32_update(crc, &buf[..n]);
            for &b in &buf[..n] {
                pending.push(b);
                if pending.len() == 8 {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(&pending);
                    words.push(u64::from_le_bytes(a));
                    pending.clear();
                }
            }
            left -= n as u64;
        }
        if !pending.is_empty() {
            pending.resize(8, 0);
            let mut a = [0u8; 8];
            a.copy_from_slice(&pending);
            words.push(u64::from_le_bytes(a));
        }
        // Bits past the last block are not blocks.
        if !total.is_multiple_of(64) {
            if let Some(last) = words.last_mut() {
                *last &= (1u64 << (total % 64)) - 1;
            }
        }
        let mut stored = [0u8; 4];
        let at = r.pos;
        r.fill(&mut stored, "bitmap checksum")?;
        let stored = u32::from_le_bytes(stored);
        if stored != crc {
            return Err(StreamError::Corrupt {
                offset: at,
                detail: format!(
                    "bitmap checksum mismatch (stored {stored:#010x}, computed {crc:#010x}; bitmap starts at byte {start})"
                ),
            });
        }
    }
    let map = Bitmap::from_words(words, total);
    if map.used() != h.used_blocks {
        return Err(StreamError::Corrupt {
            offset: start,
            detail: format!(
                "bitmap marks {} blocks used, the descriptor says {}",
                map.used(),
                h.used_blocks
            ),
        });
    }
    Ok(map)
}

/// Walks the used blocks after the bitmap, in order, checking each checksum group.
pub struct Blocks {
    checksum: ChecksumMode,
    block_size: usize,
    used: u64,
    /// Used blocks consumed so far.
    index: u64,
    in_group: u32,
    state: u32,
}

impl Blocks {
    pub fn new(h: &Header, map: &Bitmap) -> Blocks {
        Blocks {
            checksum: h.checksum,
            block_size: h.block_size as usize,
            used: map.used(),
            index: 0,
            in_group: 0,
            state: 0xFFFF_FFFF,
        }
    }
    /// Index of the next used block `next` will return.
    pub fn index(&self) -> u64 {
        self.index
    }
    /// Reads the next used block into `buf` (`block_size` bytes), checking its checksum group.
    pub fn next<R: Read>(&mut self, r: &mut Counted<R>, buf: &mut [u8]) -> SResult<()> {
        if self.index >= self.used || buf.len() != self.block_size {
            return Err(StreamError::Corrupt {
                offset: r.pos,
                detail: format!("block {} asked past the {} stored", self.index, self.used),
            });
        }
        let at = r.pos;
        r.fill(buf, &format!("used block {}", self.index))?;
        self.index += 1;
        match self.checksum {
            ChecksumMode::None => {}
            ChecksumMode::Crc32 { per, reseed } => {
                self.state = crc32_update(self.state, buf);
                self.in_group += 1;
                if self.in_group == per || self.index == self.used {
                    self.check(r, at)?;
                    self.in_group = 0;
                    if reseed {
                        self.state = 0xFFFF_FFFF;
                    }
                }
            }
            ChecksumMode::Crc32V1 => {
                self.state = crc32_v1_block(self.state, buf);
                self.check(r, at)?;
            }
        }
        Ok(())
    }
    fn check<R: Read>(&mut self, r: &mut Counted<R>, block_at: u64) -> SResult<()> {
        let mut stored = [0u8; 4];
        let at = r.pos;
        r.fill(&mut stored, "block checksum")?;
        let stored = u32::from_le_bytes(stored);
        if stored != self.state {
            return Err(StreamError::Corrupt {
                offset: at,
                detail: format!(
                    "checksum mismatch after used block {} (block data from byte {block_at}; stored {stored:#010x}, computed {:#010x})",
                    self.index - 1,
                    self.state
                ),
            });
        }
        Ok(())
    }
}

/// Parses a whole stream from a buffer, checking everything: the fuzz target's entry point.
/// Returns the header and the number of used blocks read.
pub fn check_all(data: &[u8]) -> SResult<(Header, u64)> {
    let mut r = Counted::new(data);
    let h = read_header(&mut r)?;
    if !h.has_bitmap
        && h.data_len(h.total_blocks)
            .is_none_or(|n| n > data.len() as u64)
    {
        return Err(StreamError::Truncated {
            offset: data.len() as u64,
            detail: "fewer bytes than the blocks of an image without a bitmap".into(),
        });
    }
    let map = read_bitmap(&mut r, &h)?;
    let mut blocks = Blocks::new(&h, &map);
    let mut buf = vec![0u8; 0];
    // The block buffer is only as large as the data that is really there.
    let have = data.len() as u64 - r.pos;
    if map.used() > 0 && u64::from(h.block_size) > have {
        return Err(StreamError::Truncated {
            offset: data.len() as u64,
            detail: "first used block incomplete".into(),
        });
    }
    if map.used() > 0 {
        buf.resize(h.block_size as usize, 0);
    }
    while blocks.index() < map.used() {
        blocks.next(&mut r, &mut buf)?;
    }
    Ok((h, map.used()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn crc_is_complement_of_ieee() {
        let d = b"123456789";
        assert_eq!(crc32_update(0xFFFF_FFFF, d), !0xCBF4_3926);
        // Continuing equals hashing the concatenation.
        let a = crc32_update(crc32_update(0xFFFF_FFFF, b"1234"), b"56789");
        assert_eq!(a, crc32_update(0xFFFF_FFFF, d));
    }

    #[test]
    fn rank_and_runs() {
        let mut words = vec![0u64; 20];
        words[0] = 0b1011;
        words[9] = 1 << 63;
        words[19] = 1;
        let m = Bitmap::from_words(words, 20 * 64);
        assert_eq!(m.used(), 5);
        assert_eq!(m.rank(0), 0);
        assert_eq!(m.rank(2), 2);
        assert_eq!(m.rank(4), 3);
        assert_eq!(m.rank(9 * 64 + 63), 3);
        assert_eq!(m.rank(10 * 64), 4);
        assert_eq!(m.rank(20 * 64), 5);
        assert_eq!(
            m.runs(),
            vec![(0, 2), (3, 1), (9 * 64 + 63, 1), (19 * 64, 1)]
        );
        assert!(m.is_used(3) && !m.is_used(2));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for n in 0..200 {
            let v: Vec<u8> = (0..n).map(|i| (i * 37 + n) as u8).collect();
            assert!(check_all(&v).is_err());
        }
        let mut v = b"partclone-image\0".to_vec();
        v.resize(200, 0xff);
        assert!(check_all(&v).is_err());
    }
}

//! Pack files: many compressed chunks in one immutable file, so a repository holds few files
//! (friendly to FAT32, SMB and HTTP) and a restore reads them nearly sequentially.
//!
//! Layout (all integers little-endian):
//! `"WRAITHPK" u32 version=1 u32 0` · chunk bytes … · entries (52 bytes each: id[32], offset u64,
//! stored_len u32, raw_len u32, flags u32) · `u32 count` · `blake3(entries)[32]` · `"WRPKEND1"`.
//! The trailer makes a pack self-describing, so the index can be rebuilt from packs alone.

use super::ChunkId;
use crate::error::{Error, Result};

pub const MAGIC: &[u8; 8] = b"WRAITHPK";
pub const END_MAGIC: &[u8; 8] = b"WRPKEND1";
pub const HEADER_LEN: usize = 16;
pub const ENTRY_LEN: usize = 52;
pub const FOOTER_LEN: usize = 4 + 32 + 8;
/// Chunk is a zstd frame (otherwise stored as is, because compression did not pay).
pub const FLAG_ZSTD: u32 = 1;
/// The largest chunk a repository may hold (its configured chunk size is at most this).
pub const MAX_CHUNK: u64 = 16 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackEntry {
    pub id: ChunkId,
    pub offset: u64,
    pub stored_len: u32,
    pub raw_len: u32,
    pub flags: u32,
}

/// Builds one pack in memory. Packs are capped (tens of MiB) so memory stays bounded.
pub struct PackBuilder {
    buf: Vec<u8>,
    entries: Vec<PackEntry>,
}

impl Default for PackBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl PackBuilder {
    pub fn new() -> Self {
        // Room for a whole pack: growing by doubling would copy it five times over.
        Self::reusing(Vec::with_capacity(super::PACK_TARGET + (2 << 20)))
    }
    /// A builder writing into the allocation of a finished pack's bytes: its pages are already
    /// mapped, where a fresh 32 MiB buffer costs 8192 page faults to fill.
    pub fn reusing(mut buf: Vec<u8>) -> Self {
        buf.clear();
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&1u32.to_le_bytes());
        buf.extend_from_slice(&0u32.to_le_bytes());
        PackBuilder {
            buf,
            entries: Vec::new(),
        }
    }
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    pub fn add(&mut self, id: ChunkId, stored: &[u8], raw_len: u32, flags: u32) {
        let offset = self.buf.len() as u64;
        self.buf.extend_from_slice(stored);
        self.entries.push(PackEntry {
            id,
            offset,
            stored_len: stored.len() as u32,
            raw_len,
            flags,
        });
    }
    /// The finished file bytes and its entries.
    pub fn finish(mut self) -> (Vec<u8>, Vec<PackEntry>) {
        let start = self.buf.len();
        for e in &self.entries {
            self.buf.extend_from_slice(&e.id.0);
            self.buf.extend_from_slice(&e.offset.to_le_bytes());
            self.buf.extend_from_slice(&e.stored_len.to_le_bytes());
            self.buf.extend_from_slice(&e.raw_len.to_le_bytes());
            self.buf.extend_from_slice(&e.flags.to_le_bytes());
        }
        let hash = blake3::hash(&self.buf[start..]);
        self.buf
            .extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(hash.as_bytes());
        self.buf.extend_from_slice(END_MAGIC);
        (self.buf, self.entries)
    }
}

/// Parses a whole pack file's trailer, checking every entry lies inside the chunk area.
pub fn read_entries(name: &str, file: &[u8]) -> Result<Vec<PackEntry>> {
    let bad =
        |offset: usize, detail: &str| Error::corrupt(format!("pack {name}"), offset as u64, detail);
    if file.len() < HEADER_LEN + FOOTER_LEN || &file[..8] != MAGIC {
        return Err(bad(0, "not a Wraith pack (bad magic or too short)"));
    }
    let foot = file.len() - FOOTER_LEN;
    if &file[file.len() - 8..] != END_MAGIC {
        return Err(bad(file.len() - 8, "pack trailer missing (truncated?)"));
    }
    let count = u32::from_le_bytes(le4(&file[foot..])) as usize;
    let table_len = count
        .checked_mul(ENTRY_LEN)
        .filter(|&l| l <= foot - HEADER_LEN)
        .ok_or_else(|| bad(foot, "entry count exceeds file"))?;
    let table = &file[foot - table_len..foot];
    if blake3::hash(table).as_bytes() != &file[foot + 4..foot + 36] {
        return Err(bad(foot - table_len, "pack entry table fails its checksum"));
    }
    let data_end = (foot - table_len) as u64;
    let mut out = Vec::with_capacity(count);
    for (i, e) in table.chunks_exact(ENTRY_LEN).enumerate() {
        let mut id = [0u8; 32];
        id.copy_from_slice(&e[..32]);
        let entry = PackEntry {
            id: ChunkId(id),
            offset: u64::from_le_bytes(le8(&e[32..])),
            stored_len: u32::from_le_bytes(le4(&e[40..])),
            raw_len: u32::from_le_bytes(le4(&e[44..])),
            flags: u32::from_le_bytes(le4(&e[48..])),
        };
        if entry.offset < HEADER_LEN as u64
            || entry.offset.saturating_add(entry.stored_len as u64) > data_end
        {
            return Err(bad(
                foot - table_len + i * ENTRY_LEN,
                "entry points outside the pack",
            ));
        }
        out.push(entry);
    }
    Ok(out)
}

pub(crate) fn le4(b: &[u8]) -> [u8; 4] {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    a
}
pub(crate) fn le8(b: &[u8]) -> [u8; 8] {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    a
}

/// A chunk of at least this size is probed before it is compressed whole (smaller ones are
/// cheap enough to just compress).
const PROBE_MIN: usize = 64 << 10;
/// The probe: this many samples of `PROBE_LEN` bytes, spread evenly over the chunk.
const PROBES: usize = 8;
const PROBE_LEN: usize = 4096;
/// A sample counts as compressible when zstd saves at least this many bytes of it (1.5 %).
const PROBE_SAVING: usize = PROBE_LEN * 3 / 200;

/// A worker's zstd contexts, kept across chunks: making fresh ones for every 1 MiB chunk costs
/// more in allocation and page faults than the compression of small chunks itself.
pub struct Codec {
    level: i32,
    comp: Option<zstd::bulk::Compressor<'static>>,
    /// Level 1, for the incompressibility probe; a context of its own so the main one keeps
    /// its tables sized for whole chunks.
    probe: Option<zstd::bulk::Compressor<'static>>,
    probe_out: Vec<u8>,
    decomp: Option<zstd::bulk::Decompressor<'static>>,
}

impl Codec {
    pub fn new(level: i32) -> Codec {
        Codec {
            level,
            comp: None,
            probe: None,
            probe_out: Vec::new(),
            decomp: None,
        }
    }

    /// Compresses a chunk; keeps it raw when zstd saves less than 3 %.
    pub fn encode(&mut self, raw: &[u8]) -> Result<(Vec<u8>, u32)> {
        let mut out = Vec::new();
        match self.encode_into(raw, &mut out)? {
            0 => Ok((raw.to_vec(), 0)),
            flags => Ok((out, flags)),
        }
    }

    /// Compresses a chunk into `out` (its allocation is reused) and returns the pack flags:
    /// [`FLAG_ZSTD`], or 0 when the chunk is to be stored as it is (`out` is then empty and the
    /// caller stores `raw` itself, so nothing is copied). Raw when zstd saves less than 3 %.
    pub fn encode_into(&mut self, raw: &[u8], out: &mut Vec<u8>) -> Result<u32> {
        out.clear();
        if self.looks_incompressible(raw)? {
            return Ok(0);
        }
        let comp = match &mut self.comp {
            Some(c) => c,
            None => self
                .comp
                .insert(zstd::bulk::Compressor::new(self.level).map_err(|e| Error::io("zstd", e))?),
        };
        out.reserve(zstd::zstd_safe::compress_bound(raw.len()));
        comp.compress_to_buffer(raw, out)
            .map_err(|e| Error::io("zstd", e))?;
        if out.len() < raw.len() - raw.len() / 33 {
            Ok(FLAG_ZSTD)
        } else {
            out.clear();
            Ok(0)
        }
    }

    /// Whether samples from across the chunk all fail to compress. Media, compressed archives
    /// and encrypted data are a large part of a real disk; zstd would spend most of a full
    /// compression on them only to store them raw. A compressible stretch as long as the gap
    /// between two samples is always caught, so at worst a chunk of random data with short
    /// compressible pieces is stored raw (and slightly larger).
    fn looks_incompressible(&mut self, raw: &[u8]) -> Result<bool> {
        if raw.len() < PROBE_MIN {
            return Ok(false);
        }
        let probe = match &mut self.probe {
            Some(c) => c,
            None => self
                .probe
                .insert(zstd::bulk::Compressor::new(1).map_err(|e| Error::io("zstd", e))?),
        };
        self.probe_out
            .reserve(zstd::zstd_safe::compress_bound(PROBE_LEN));
        let step = (raw.len() - PROBE_LEN) / (PROBES - 1);
        for i in 0..PROBES {
            let sample = &raw[i * step..i * step + PROBE_LEN];
            self.probe_out.clear();
            probe
                .compress_to_buffer(sample, &mut self.probe_out)
                .map_err(|e| Error::io("zstd", e))?;
            if self.probe_out.len() + PROBE_SAVING <= PROBE_LEN {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Decompresses a stored chunk into `out` and checks it against its name; `what` says
    /// where it came from. `out`'s allocation is reused: a fresh 1 MiB buffer per chunk costs
    /// a page fault per 4 KiB.
    pub fn decode_into(
        &mut self,
        id: &ChunkId,
        stored: &[u8],
        raw_len: u32,
        flags: u32,
        what: &str,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        // raw_len comes from an index or pack trailer: never trust it for an allocation.
        if raw_len as u64 > MAX_CHUNK {
            return Err(Error::corrupt(
                what,
                0,
                format!("chunk {} claims {raw_len} bytes", id.short()),
            ));
        }
        out.clear();
        if flags & FLAG_ZSTD != 0 {
            let decomp = match &mut self.decomp {
                Some(d) => d,
                None => self
                    .decomp
                    .insert(zstd::bulk::Decompressor::new().map_err(|e| Error::io("zstd", e))?),
            };
            out.reserve(raw_len as usize);
            decomp.decompress_to_buffer(stored, out).map_err(|e| {
                Error::corrupt(
                    what,
                    0,
                    format!("chunk {} does not decompress: {e}", id.short()),
                )
            })?;
        } else {
            out.extend_from_slice(stored);
        }
        check(id, out, raw_len, what)
    }
}

/// Checks a chunk's bytes against its length and name.
pub fn check(id: &ChunkId, raw: &[u8], raw_len: u32, what: &str) -> Result<()> {
    if raw.len() != raw_len as usize || ChunkId::of(raw) != *id {
        return Err(Error::corrupt(
            what,
            0,
            format!("chunk {} fails its BLAKE3 check", id.short()),
        ));
    }
    Ok(())
}

/// One-off [`Codec::encode`].
pub fn encode(raw: &[u8], level: i32) -> Result<(Vec<u8>, u32)> {
    Codec::new(level).encode(raw)
}

/// One-off [`Codec::decode_into`].
pub fn decode(
    id: &ChunkId,
    stored: &[u8],
    raw_len: u32,
    flags: u32,
    what: &str,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    Codec::new(0).decode_into(id, stored, raw_len, flags, what, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes no compressor can shrink (xorshift64*).
    fn noise(len: usize, mut seed: u64) -> Vec<u8> {
        let mut v = Vec::with_capacity(len + 8);
        while v.len() < len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            v.extend_from_slice(&seed.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
        }
        v.truncate(len);
        v
    }

    fn text(len: usize) -> Vec<u8> {
        let line = b"Dec  1 07:04:31 host kernel: eth0: link up, 1000 Mbps, full duplex\n";
        line.iter().copied().cycle().take(len).collect()
    }

    fn round_trip(raw: &[u8]) -> u32 {
        let mut codec = Codec::new(4);
        let mut out = vec![1, 2, 3];
        let flags = codec.encode_into(raw, &mut out).expect("encode");
        let stored: &[u8] = if flags == 0 { raw } else { &out };
        let id = ChunkId::of(raw);
        let mut back = Vec::new();
        codec
            .decode_into(&id, stored, raw.len() as u32, flags, "test", &mut back)
            .expect("decode");
        assert_eq!(back, raw);
        flags
    }

    #[test]
    fn incompressible_chunks_are_stored_raw_and_compressible_ones_compressed() {
        assert_eq!(round_trip(&noise(1 << 20, 1)), 0);
        assert_eq!(round_trip(&text(1 << 20)), FLAG_ZSTD);
        assert_eq!(round_trip(&[]), 0);
        assert_eq!(round_trip(&text(1000)), FLAG_ZSTD);
    }

    #[test]
    fn a_compressible_stretch_inside_noise_is_found_by_the_probe() {
        // 300 KiB of text in the middle of a 1 MiB chunk of noise: longer than the gap between
        // two samples, so the chunk is compressed, not stored raw.
        let mut raw = noise(1 << 20, 2);
        raw[400 << 10..700 << 10].copy_from_slice(&text(300 << 10));
        assert_eq!(round_trip(&raw), FLAG_ZSTD);
        // A zeroed tail (free space in the chunk's window) counts as compressible too.
        let mut raw = noise(1 << 20, 3);
        raw[(1 << 20) - (200 << 10)..].fill(0);
        assert_eq!(round_trip(&raw), FLAG_ZSTD);
    }

    #[test]
    fn a_damaged_chunk_fails_its_check_in_a_reused_buffer() {
        let raw = text(1 << 20);
        let mut codec = Codec::new(4);
        let mut out = Vec::new();
        let flags = codec.encode_into(&raw, &mut out).expect("encode");
        let id = ChunkId::of(&raw);
        let mut back = noise(2 << 20, 4);
        let mut bad = raw.clone();
        bad[12345] ^= 1;
        assert!(check(&id, &bad, raw.len() as u32, "test").is_err());
        assert!(codec
            .decode_into(&id, &out, raw.len() as u32 - 1, flags, "test", &mut back)
            .is_err());
        codec
            .decode_into(&id, &out, raw.len() as u32, flags, "test", &mut back)
            .expect("decode");
        assert_eq!(back, raw);
    }
}

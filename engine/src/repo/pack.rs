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
        let mut buf = Vec::with_capacity(super::PACK_TARGET + (2 << 20));
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

/// A worker's zstd contexts, kept across chunks: making fresh ones for every 1 MiB chunk costs
/// more in allocation and page faults than the compression of small chunks itself.
pub struct Codec {
    level: i32,
    comp: Option<zstd::bulk::Compressor<'static>>,
    decomp: Option<zstd::bulk::Decompressor<'static>>,
}

impl Codec {
    pub fn new(level: i32) -> Codec {
        Codec {
            level,
            comp: None,
            decomp: None,
        }
    }

    /// Compresses a chunk; keeps it raw when zstd saves less than 3 %.
    pub fn encode(&mut self, raw: &[u8]) -> Result<(Vec<u8>, u32)> {
        let comp = match &mut self.comp {
            Some(c) => c,
            None => self
                .comp
                .insert(zstd::bulk::Compressor::new(self.level).map_err(|e| Error::io("zstd", e))?),
        };
        let z = comp.compress(raw).map_err(|e| Error::io("zstd", e))?;
        if z.len() < raw.len() - raw.len() / 33 {
            Ok((z, FLAG_ZSTD))
        } else {
            Ok((raw.to_vec(), 0))
        }
    }

    /// Decompresses a stored chunk and checks it against its name. `what` says where it came
    /// from.
    pub fn decode(
        &mut self,
        id: &ChunkId,
        stored: &[u8],
        raw_len: u32,
        flags: u32,
        what: &str,
    ) -> Result<Vec<u8>> {
        // raw_len comes from an index or pack trailer: never trust it for an allocation.
        if raw_len as u64 > MAX_CHUNK {
            return Err(Error::corrupt(
                what,
                0,
                format!("chunk {} claims {raw_len} bytes", id.short()),
            ));
        }
        let raw = if flags & FLAG_ZSTD != 0 {
            let decomp = match &mut self.decomp {
                Some(d) => d,
                None => self
                    .decomp
                    .insert(zstd::bulk::Decompressor::new().map_err(|e| Error::io("zstd", e))?),
            };
            decomp.decompress(stored, raw_len as usize).map_err(|e| {
                Error::corrupt(
                    what,
                    0,
                    format!("chunk {} does not decompress: {e}", id.short()),
                )
            })?
        } else {
            stored.to_vec()
        };
        if raw.len() != raw_len as usize || ChunkId::of(&raw) != *id {
            return Err(Error::corrupt(
                what,
                0,
                format!("chunk {} fails its BLAKE3 check", id.short()),
            ));
        }
        Ok(raw)
    }
}

/// One-off [`Codec::encode`].
pub fn encode(raw: &[u8], level: i32) -> Result<(Vec<u8>, u32)> {
    Codec::new(level).encode(raw)
}

/// One-off [`Codec::decode`].
pub fn decode(
    id: &ChunkId,
    stored: &[u8],
    raw_len: u32,
    flags: u32,
    what: &str,
) -> Result<Vec<u8>> {
    Codec::new(0).decode(id, stored, raw_len, flags, what)
}

//! Index files: which pack holds each chunk. Written after the packs they describe, so every
//! chunk an index names is already durable.
//!
//! Layout: `"WRAITHIX" u32 version=1 u32 0 u64 count` · entries (84 bytes each: id[32],
//! pack[32], offset u64, stored_len u32, raw_len u32, flags u32) · `blake3(all before)[32]`.

use super::pack::{le4, le8};
use super::ChunkId;
use crate::error::{Error, Result};

pub const MAGIC: &[u8; 8] = b"WRAITHIX";
const ENTRY_LEN: usize = 84;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    pub pack: ChunkId,
    pub offset: u64,
    pub stored_len: u32,
    pub raw_len: u32,
    pub flags: u32,
}

pub fn encode(entries: &[(ChunkId, Location)]) -> Vec<u8> {
    let mut b = Vec::with_capacity(24 + entries.len() * ENTRY_LEN + 32);
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for (id, l) in entries {
        b.extend_from_slice(&id.0);
        b.extend_from_slice(&l.pack.0);
        b.extend_from_slice(&l.offset.to_le_bytes());
        b.extend_from_slice(&l.stored_len.to_le_bytes());
        b.extend_from_slice(&l.raw_len.to_le_bytes());
        b.extend_from_slice(&l.flags.to_le_bytes());
    }
    let h = blake3::hash(&b);
    b.extend_from_slice(h.as_bytes());
    b
}

pub fn decode(name: &str, b: &[u8]) -> Result<Vec<(ChunkId, Location)>> {
    let what = format!("index {name}");
    if b.len() < 24 + 32 || &b[..8] != MAGIC {
        return Err(Error::corrupt(
            what,
            0,
            "not a Wraith index (bad magic or too short)",
        ));
    }
    let body = &b[..b.len() - 32];
    if blake3::hash(body).as_bytes() != &b[b.len() - 32..] {
        return Err(Error::corrupt(what, 0, "index fails its checksum"));
    }
    let count = u64::from_le_bytes(le8(&b[16..]));
    if count.checked_mul(ENTRY_LEN as u64) != Some((body.len() - 24) as u64) {
        return Err(Error::corrupt(
            what,
            16,
            "entry count does not match the file size",
        ));
    }
    let mut out = Vec::with_capacity(count as usize);
    for e in body[24..].chunks_exact(ENTRY_LEN) {
        let mut id = [0u8; 32];
        id.copy_from_slice(&e[..32]);
        let mut pack = [0u8; 32];
        pack.copy_from_slice(&e[32..64]);
        out.push((
            ChunkId(id),
            Location {
                pack: ChunkId(pack),
                offset: u64::from_le_bytes(le8(&e[64..])),
                stored_len: u32::from_le_bytes(le4(&e[72..])),
                raw_len: u32::from_le_bytes(le4(&e[76..])),
                flags: u32::from_le_bytes(le4(&e[80..])),
            },
        ));
    }
    Ok(out)
}

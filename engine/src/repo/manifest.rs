//! Image manifests: everything needed to rebuild one disk from the repository's chunks.
//!
//! File layout: `"WRAITHMF" u32 version=1 u32 0 u64 body_len blake3(body)[32]` · body, where the
//! body is zstd-compressed JSON of [`Manifest`]. The checksum catches any damaged byte before the
//! JSON is trusted.

use super::pack::le8;
use super::ChunkId;
use crate::device::DiskIdentity;
use crate::error::{Error, Result};
use crate::extent::ExtentList;
use crate::plan::Region;
use crate::table::PartitionTable;
use serde::{Deserialize, Serialize};

pub const MAGIC: &[u8; 8] = b"WRAITHMF";
/// The newest manifest format this Wraith reads and writes: 1, chunks are fixed windows
/// aligned on disk offsets; 2, chunks may be any contiguous range of a region up to
/// [`crate::pipeline::cdc::MAX`] (content-defined). Readers handle both alike (every chunk
/// says its offset and length); the number keeps older readers from misreading a version 2.
pub const FORMAT_VERSION: u32 = 2;
const MAX_JSON: u64 = 1 << 30;
/// Manifest JSON compresses a few times over (chunk ids are random hex); a body that claims
/// far more is a decompression bomb, refused before it can take the memory it asks for.
const MAX_RATIO: u64 = 256;
const HEADER_LEN: usize = 8 + 4 + 4 + 8 + 32;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub name: String,
    /// Seconds since the Unix epoch, UTC.
    pub created: u64,
    pub tool: String,
    pub source: DiskIdentity,
    /// The machine the source disk was inside (firmware vendor, product, serial), when it was
    /// an internal disk whose firmware names one. Absent in images saved before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<crate::machine::MachineIdentity>,
    pub table: PartitionTable,
    pub chunk_size: u64,
    pub regions: Vec<ImageRegion>,
    pub stats: ImageStats,
    /// Source byte ranges (absolute disk offsets) that could not be read after retries: the
    /// image holds zeros there. Empty for a healthy source.
    #[serde(default, skip_serializing_if = "ExtentList::is_empty")]
    pub unreadable: ExtentList,
    /// The files of each ext2/3/4 and NTFS partition with bytes in `unreadable`. Optional and
    /// absent when empty, so images stay readable by Wraith versions that predate it (serde
    /// ignores fields it does not know).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable_files: Vec<crate::pipeline::rescue::DamagedFiles>,
    /// A forensic acquisition: the image holds every sector of the source (one whole-disk raw
    /// region), and these are the whole disk's digests as read. Absent for ordinary images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acquisition: Option<crate::pipeline::acquire::Acquisition>,
    /// The zstd level this save compressed the chunks it stored with (chunks it shared with
    /// earlier images kept theirs). Informational: every level decodes alike. Absent in
    /// images saved before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zstd_level: Option<i32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageRegion {
    #[serde(flatten)]
    pub region: Region,
    pub chunks: Vec<ChunkRef>,
}

/// One chunk-sized window of the disk: `[offset, offset+len)`. Only the region's used bytes in
/// the window matter; the chunk holds zeros for the rest. `id: None` means all used bytes in the
/// window are zero and nothing is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRef {
    pub offset: u64,
    pub len: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<ChunkId>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageStats {
    /// Bytes of the source the image covers (used blocks plus raw regions).
    pub image_bytes: u64,
    /// Compressed bytes this save added to the repository.
    pub new_stored_bytes: u64,
    pub chunks: u64,
    pub new_chunks: u64,
    pub zero_chunks: u64,
    /// Compressed bytes of all chunks this image references (as if stored alone).
    pub stored_bytes: u64,
}

impl Manifest {
    pub fn encode(&self) -> Result<Vec<u8>> {
        let json =
            serde_json::to_vec(self).map_err(|e| Error::Invalid(format!("manifest: {e}")))?;
        let body = zstd::bulk::compress(&json, 3).map_err(|e| Error::io("zstd", e))?;
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.format_version.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(blake3::hash(&body).as_bytes());
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// `what` names the file for error messages.
    pub fn decode(what: &str, b: &[u8]) -> Result<Manifest> {
        if b.len() < HEADER_LEN || &b[..8] != MAGIC {
            return Err(Error::corrupt(
                what,
                0,
                "not a Wraith manifest (bad magic or too short)",
            ));
        }
        let version = u32::from_le_bytes(super::pack::le4(&b[8..]));
        if !(1..=FORMAT_VERSION).contains(&version) {
            return Err(Error::Unsupported(format!(
                "{what}: manifest format version {version} (this Wraith reads {FORMAT_VERSION})"
            )));
        }
        let body_len = u64::from_le_bytes(le8(&b[16..]));
        let body = &b[HEADER_LEN..];
        if body.len() as u64 != body_len {
            return Err(Error::corrupt(
                what,
                16,
                format!(
                    "body is {} bytes, header says {body_len} (truncated?)",
                    body.len()
                ),
            ));
        }
        if blake3::hash(body).as_bytes() != &b[24..56] {
            return Err(Error::corrupt(
                what,
                HEADER_LEN as u64,
                "manifest fails its BLAKE3 checksum",
            ));
        }
        // Streamed into a buffer that grows with the real size: a bulk decompress would reserve
        // its whole limit up front, which a 256 MiB live system cannot give. Bounded, since the
        // body is untrusted until parsed (a manifest is far below 1 GiB even for huge disks).
        let limit = MAX_JSON.min((body.len() as u64).saturating_mul(MAX_RATIO) + (1 << 20));
        let mut json = Vec::new();
        let read = zstd::stream::read::Decoder::new(body).and_then(|d| {
            std::io::Read::read_to_end(&mut std::io::Read::take(d, limit + 1), &mut json)
        });
        if let Err(e) = read {
            return Err(Error::corrupt(
                what,
                HEADER_LEN as u64,
                format!("does not decompress: {e}"),
            ));
        }
        if json.len() as u64 > limit {
            return Err(Error::corrupt(
                what,
                HEADER_LEN as u64,
                format!(
                    "body of {} bytes decompresses to more than {limit} bytes",
                    body.len()
                ),
            ));
        }
        serde_json::from_slice(&json)
            .map_err(|e| Error::corrupt(what, HEADER_LEN as u64, format!("invalid manifest: {e}")))
    }

    /// Every chunk reference with the region it belongs to.
    pub fn chunks(&self) -> impl Iterator<Item = (&ImageRegion, &ChunkRef)> {
        self.regions
            .iter()
            .flat_map(|r| r.chunks.iter().map(move |c| (r, c)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A valid header around a body that inflates 64 MiB of zeros: refused after reading only
    /// what the body's size allows (found while writing the fuzz target `manifest`).
    #[test]
    fn a_decompression_bomb_is_refused_early() {
        let body = zstd::bulk::compress(&vec![b' '; 64 << 20], 19).unwrap();
        assert!(body.len() < 64 << 10);
        let mut file = Vec::new();
        file.extend_from_slice(MAGIC);
        file.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        file.extend_from_slice(&0u32.to_le_bytes());
        file.extend_from_slice(&(body.len() as u64).to_le_bytes());
        file.extend_from_slice(blake3::hash(&body).as_bytes());
        file.extend_from_slice(&body);
        let e = Manifest::decode("bomb", &file).unwrap_err().to_string();
        assert!(e.contains("decompresses to more than"), "{e}");
    }
}

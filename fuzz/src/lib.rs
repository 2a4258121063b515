//! Shared pieces of Wraith's fuzz targets: a sparse virtual disk built from the fuzzer's bytes
//! (so a 64 MiB filesystem fits in a few KiB of input), and wrappers that give repository files
//! a valid checksum, so mutations reach the parsing behind the checksum instead of stopping at
//! it. The seed corpus is made by `cargo run -p wraith-engine --example fuzz_corpus`.
//!
//! Sparse disk encoding (little-endian): `u64 size` · then segments `u64 offset, u32 len,
//! len bytes` until the input ends. Bytes not covered by a segment read as zero; a later
//! segment overrides an earlier one; a truncated last segment keeps the bytes it has.

use wraith_engine::device::ReadAt;
use wraith_engine::error::{Error, Result};
use wraith_engine::events::Cancel;
use wraith_engine::extent::ExtentList;
use wraith_engine::fs::{files_touching, FsKind};

/// Largest virtual disk: big enough for any layout a parser may compute, small enough that a
/// parser sizing a bitmap by the disk stays inside the fuzzer's memory limit.
pub const MAX_SIZE: u64 = 1 << 36;

pub struct SparseDisk<'a> {
    size: u64,
    segments: Vec<(u64, &'a [u8])>,
}

impl<'a> SparseDisk<'a> {
    pub fn new(input: &'a [u8]) -> SparseDisk<'a> {
        let mut size = 0u64;
        let mut segments = Vec::new();
        if input.len() >= 8 {
            let mut a = [0u8; 8];
            a.copy_from_slice(&input[..8]);
            size = u64::from_le_bytes(a) % (MAX_SIZE + 1);
            let mut rest = &input[8..];
            while rest.len() >= 12 {
                let mut o = [0u8; 8];
                o.copy_from_slice(&rest[..8]);
                let mut l = [0u8; 4];
                l.copy_from_slice(&rest[8..12]);
                let len = (u32::from_le_bytes(l) as usize).min(rest.len() - 12);
                segments.push((u64::from_le_bytes(o), &rest[12..12 + len]));
                rest = &rest[12 + len..];
            }
        }
        SparseDisk { size, segments }
    }
}

impl ReadAt for SparseDisk<'_> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|&e| e <= self.size)
            .ok_or_else(|| Error::corrupt("sparse disk", offset, "read past the end"))?;
        buf.fill(0);
        for &(s, data) in &self.segments {
            let e = s.saturating_add(data.len() as u64);
            let (lo, hi) = (s.max(offset), e.min(end));
            if lo < hi {
                let n = (hi - lo) as usize;
                let dst = (lo - offset) as usize;
                let src = (lo - s) as usize;
                buf[dst..dst + n].copy_from_slice(&data[src..src + n]);
            }
        }
        Ok(())
    }
    fn size(&self) -> u64 {
        self.size
    }
}

/// Largest disk the file-name walkers are fuzzed on. Their cost is one pass over the
/// filesystem's metadata by design (a cancel token bounds it in real use); a fuzzed
/// superblock claiming a 64 GiB filesystem only makes the fuzzer slow, not find more.
pub const WALK_MAX_SIZE: u64 = 1 << 30;
/// Length of the unreadable range the walkers are asked about.
pub const BAD_LEN: u64 = 64 << 10;
/// Files named at most, as the rescue report asks.
pub const WALK_LIMIT: usize = 16;

/// The unreadable range for `pick`: 64 KiB at `pick`/256 of the disk, 4 KiB aligned. The
/// seed corpus (engine/examples/fuzz_corpus.rs) uses the same formula with `pick` = 255, the
/// end of the filesystem, so the walk reads everything before it.
pub fn bad_range(pick: u8, size: u64) -> ExtentList {
    let start = (size / 256 * u64::from(pick)) & !4095;
    let mut bad = ExtentList::new();
    bad.push(start, BAD_LEN.min(size.saturating_sub(start)));
    bad
}

/// Runs the file-name walker of `kind` over `disk` for the range `pick` chooses, and checks
/// what any answer must hold.
pub fn walk_files(disk: &SparseDisk<'_>, kind: FsKind, pick: u8) {
    if disk.size() > WALK_MAX_SIZE {
        return;
    }
    let bad = bad_range(pick, disk.size());
    if let Ok(t) = files_touching(disk, kind, &bad, WALK_LIMIT, &Cancel::new()) {
        assert!(t.touches.len() <= WALK_LIMIT);
        assert!(t.skipped.len() <= wraith_engine::fs::SKIPPED_KEPT);
        assert!(t.skipped.len() <= t.skipped_total);
        assert!(
            t.unclaimed <= bad.total(),
            "{} > {}",
            t.unclaimed,
            bad.total()
        );
    }
}

/// A manifest file around `body` (already zstd-compressed) with a correct header and checksum.
pub fn manifest_file(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(56 + body.len());
    out.extend_from_slice(wraith_engine::repo::manifest::MAGIC);
    out.extend_from_slice(&wraith_engine::repo::manifest::FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(blake3::hash(body).as_bytes());
    out.extend_from_slice(body);
    out
}

/// `data` with its last 32 bytes replaced by the BLAKE3 of everything before them (an index
/// file's trailer).
pub fn with_trailing_hash(data: &[u8]) -> Vec<u8> {
    let body = &data[..data.len().saturating_sub(32)];
    let mut out = body.to_vec();
    out.extend_from_slice(blake3::hash(body).as_bytes());
    out
}

/// A pack whose entry-table checksum matches its table, whatever the fuzzer wrote there.
pub fn pack_with_valid_table(data: &[u8]) -> Vec<u8> {
    use wraith_engine::repo::pack::{ENTRY_LEN, FOOTER_LEN, HEADER_LEN};
    let mut out = data.to_vec();
    if out.len() < HEADER_LEN + FOOTER_LEN {
        return out;
    }
    let foot = out.len() - FOOTER_LEN;
    let mut c = [0u8; 4];
    c.copy_from_slice(&out[foot..foot + 4]);
    let table_len = (u32::from_le_bytes(c) as usize).saturating_mul(ENTRY_LEN);
    if table_len <= foot - HEADER_LEN {
        let hash = blake3::hash(&out[foot - table_len..foot]);
        out[foot + 4..foot + 36].copy_from_slice(hash.as_bytes());
    }
    out
}

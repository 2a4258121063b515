//! Walking an ext inode's block map — the ext4 extent tree or the ext2/3 direct/indirect
//! pointers — for both users of it: naming the files in bad ranges (`ext_files`, which notes
//! what it cannot read and goes on) and reading files (`ext_read`, which stops at the first
//! problem). The walk parses; the [`MapVisitor`] decides what a run, a mapping block or a
//! problem means.
//!
//! Must not: read anything itself (the visitor reads mapping blocks, and may refuse), loop
//! (extent trees are depth-limited, indirect levels are three, and each level is cut at the
//! file's block count), or index outside the buffers it is given.

use super::ext_files::{EXTENT_MAGIC, EXT_INIT_MAX_LEN, MAX_EXTENT_DEPTH};
use super::{le16, le32};
use crate::error::Result;

pub(super) trait MapVisitor {
    /// The bytes of mapping block `b` (`what`: "extent" or "indirect"), or None when it is not
    /// to be followed (outside the filesystem, met before, unreadable — noted by the visitor).
    fn node(&mut self, b: u64, what: &str) -> Result<Option<Vec<u8>>>;
    /// `len` blocks of the file from logical block `logical`, stored from block `phys`;
    /// `unwritten` ones (preallocated) read as zeros.
    fn run(&mut self, logical: u64, phys: u64, len: u64, unwritten: bool) -> Result<()>;
    /// Something in the map makes no sense: an error stops the walk.
    fn bad(&mut self, msg: String) -> Result<()>;
}

/// One extent tree node: the inode's `i_block`, or an index/leaf block at `want_depth`.
pub(super) fn extents(v: &mut dyn MapVisitor, node: &[u8], want_depth: Option<u16>) -> Result<()> {
    if le16(node, 0) != EXTENT_MAGIC {
        return v.bad("extent node without its magic".into());
    }
    let entries = usize::from(le16(node, 2)).min(node.len().saturating_sub(12) / 12);
    let depth = le16(node, 6);
    if depth > MAX_EXTENT_DEPTH || want_depth.is_some_and(|d| d != depth) {
        return v.bad(format!(
            "extent node of depth {depth} where {want_depth:?} belongs"
        ));
    }
    for i in 0..entries {
        let e = 12 + i * 12;
        if depth == 0 {
            let logical = u64::from(le32(node, e));
            let raw_len = le16(node, e + 4);
            let start = u64::from(le32(node, e + 8)) | (u64::from(le16(node, e + 6)) << 32);
            let (len, unwritten) = if raw_len > EXT_INIT_MAX_LEN {
                (u64::from(raw_len - EXT_INIT_MAX_LEN), true)
            } else {
                (u64::from(raw_len), false)
            };
            if len > 0 {
                v.run(logical, start, len, unwritten)?;
            }
        } else {
            let leaf = u64::from(le32(node, e + 4)) | (u64::from(le16(node, e + 8)) << 32);
            if let Some(buf) = v.node(leaf, "extent")? {
                extents(v, &buf, Some(depth - 1))?;
            }
        }
    }
    Ok(())
}

/// The ext2/3 block map: 12 direct pointers, then single, double and triple indirect blocks
/// (`per` pointers each), followed no further than `nblocks`. Zero pointers are holes.
pub(super) fn block_map(
    v: &mut dyn MapVisitor,
    i_block: &[u8],
    nblocks: u64,
    per: u64,
) -> Result<()> {
    for i in 0..12u64.min(nblocks) {
        let b = u64::from(le32(i_block, i as usize * 4));
        if b != 0 {
            v.run(i, b, 1, false)?;
        }
    }
    let mut logical = 12u64;
    let mut span = per;
    for level in 1..=3u32 {
        if logical >= nblocks {
            break;
        }
        let b = u64::from(le32(i_block, (11 + level as usize) * 4));
        indirect(v, b, level, logical, nblocks, per)?;
        logical = logical.saturating_add(span);
        span = span.saturating_mul(per);
    }
    Ok(())
}

/// An indirect block of `level` (1 = points at data) mapping logical blocks from `first`.
fn indirect(
    v: &mut dyn MapVisitor,
    b: u64,
    level: u32,
    first: u64,
    nblocks: u64,
    per: u64,
) -> Result<()> {
    if b == 0 {
        return Ok(()); // a hole
    }
    let Some(buf) = v.node(b, "indirect")? else {
        return Ok(());
    };
    // Logical blocks each entry of this block covers.
    let span = per.saturating_pow(level - 1);
    for i in 0..per {
        let logical = first.saturating_add(i.saturating_mul(span));
        if logical >= nblocks {
            break;
        }
        let p = u64::from(le32(&buf, (i * 4) as usize));
        if p == 0 {
            continue;
        }
        if level == 1 {
            v.run(logical, p, 1, false)?;
        } else {
            indirect(v, p, level - 1, logical, nblocks, per)?;
        }
    }
    Ok(())
}

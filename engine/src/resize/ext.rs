//! ext2/3/4 resizing with e2fsprogs' resize2fs, on an unmounted target copy.
//!
//! Must not: pass `-f` (it would skip resize2fs's minimum-size check, and a shrink that does
//! not fit fails half-way with inodes already rewritten), or repair a filesystem: one that
//! `e2fsck -fn` finds inconsistent is refused, since the image it came from is then suspect.

use super::run_tool;
use crate::error::{Error, Result};
use crate::plan::FsSummary;
use std::path::Path;

/// Checks, then resizes to `new_size` rounded down to whole blocks.
pub fn resize(dev: &Path, fs: &FsSummary, new_size: u64, log: &mut dyn FnMut(&str)) -> Result<()> {
    let d = dev
        .to_str()
        .ok_or_else(|| Error::Invalid(format!("{}: path is not UTF-8", dev.display())))?;
    let bs = fs.block_size.max(1024);
    let blocks = new_size / bs;
    if blocks == 0 {
        return Err(Error::Invalid(format!(
            "{new_size} bytes is not one ext block"
        )));
    }
    // A read-only forced check first: it changes nothing, and a filesystem with errors is
    // refused before anything is written.
    run_tool(dev, "e2fsck", &["-fn", d], None, log)?;
    // resize2fs insists on a forced check newer than the last mount ("Please run 'e2fsck -f'
    // first"), which any filesystem that was ever mounted fails. On a filesystem -fn just found
    // clean, a preen changes nothing but the last-check time that resize2fs looks for.
    run_tool(dev, "e2fsck", &["-fp", d], None, log)?;
    // The size in KiB (resize2fs's `K` unit is 1024 bytes): whole blocks, so nothing rounds.
    let size = format!("{}K", blocks * (bs / 1024));
    run_tool(dev, "resize2fs", &[d, &size], None, log)?;
    Ok(())
}

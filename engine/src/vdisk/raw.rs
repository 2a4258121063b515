//! Raw export: a sparse file exactly the disk's size, where only blocks holding a non-zero
//! byte are written and everything else stays a hole. It must not write the zeros it skips
//! (that would allocate them) and reads nothing outside the image's stored ranges.

use super::{data_blocks, Out};
use crate::device::ReadAt;
use crate::error::Result;
use crate::events::Ctx;
use crate::extent::ExtentList;

/// Holes are kept at the filesystem's usual block size: a 4 KiB block of zeros inside data
/// stays unallocated too.
const BLOCK: u64 = 4096;

pub fn write(src: &dyn ReadAt, stored: &ExtentList, out: &Out, ctx: &Ctx) -> Result<()> {
    let size = src.size();
    out.set_len(size)?;
    // Consecutive data blocks go out as one write.
    let mut run: Vec<u8> = Vec::new();
    let mut run_at = 0u64;
    data_blocks(src, stored, BLOCK, ctx, |at, b| {
        if !run.is_empty() && (run_at + run.len() as u64 != at || run.len() >= 4 << 20) {
            out.write_at(&run, run_at)?;
            run.clear();
        }
        if run.is_empty() {
            run_at = at;
        }
        // The last block may be padded past the disk's end: never grow the file.
        let keep = (size - at).min(b.len() as u64) as usize;
        run.extend_from_slice(&b[..keep]);
        Ok(())
    })?;
    if !run.is_empty() {
        out.write_at(&run, run_at)?;
    }
    Ok(())
}

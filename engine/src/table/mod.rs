//! Partition tables: reading GPT and MBR (with extended/logical partitions) from untrusted disk
//! bytes, and laying a saved table out again on a target of another size.
//!
//! Must not: write to a device itself (it returns the bytes and offsets to write), or trust any
//! offset it reads without bounds checks.

pub mod gpt;
pub mod mbr;

use crate::device::ReadAt;
use crate::error::Result;
use crate::extent::ExtentList;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    Gpt,
    Mbr,
    /// No table we can read: the disk is copied as a whole.
    None,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// 1-based, as Linux numbers them (sda1; MBR logical partitions start at 5).
    pub number: u32,
    /// Byte offset of the first byte on the disk.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
    /// GPT: type GUID in canonical lower-case text form. MBR: "0x83" style.
    pub type_id: String,
    /// Human name of the type where known ("EFI System", "Linux filesystem", "NTFS/exFAT").
    pub type_name: String,
    /// GPT partition name; empty for MBR.
    pub name: String,
    /// GPT unique partition GUID; None for MBR.
    pub guid: Option<String>,
    /// MBR boot flag.
    pub bootable: bool,
    /// MBR logical partition inside an extended partition.
    pub logical: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionTable {
    pub kind: TableKind,
    pub sector_size: u64,
    /// GPT disk GUID or MBR disk signature as "0x1234abcd".
    pub disk_id: Option<String>,
    /// Data partitions only (not the MBR extended container), in on-disk order of `number`.
    pub partitions: Vec<Partition>,
    /// Byte ranges that hold the table itself and must be copied verbatim: LBA 0, the GPT primary
    /// header and entry array, every EBR sector of an MBR extended chain, the GPT backup entry
    /// array and header. Absolute disk offsets.
    pub metadata: ExtentList,
    /// Where the smallest target must end: the last partition's end, plus the GPT backup area.
    pub min_disk_size: u64,
}

/// Little-endian `u32` at `off`, or `None` when the buffer is too short.
pub(crate) fn le_u32(buf: &[u8], off: usize) -> Option<u32> {
    let b = buf.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Little-endian `u64` at `off`, or `None` when the buffer is too short.
pub(crate) fn le_u64(buf: &[u8], off: usize) -> Option<u64> {
    let b = buf.get(off..off.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

/// Sector sizes we accept: powers of two from 512 to 64 KiB. Anything else is a caller bug or a
/// lying device, and would make every LBA computation meaningless.
pub(crate) fn check_sector_size(sector_size: u64) -> Result<()> {
    if (512..=65536).contains(&sector_size) && sector_size.is_power_of_two() {
        Ok(())
    } else {
        Err(crate::error::Error::Invalid(format!(
            "sector size {sector_size} (expected a power of two, 512..65536)"
        )))
    }
}

/// Reads the partition table of a whole disk. GPT wins over its protective MBR. A disk with
/// neither gives `TableKind::None`. A table that is present but inconsistent (bad CRCs on both
/// GPT headers, partitions past the end of the disk, overlapping partitions, EBR loops) is an
/// `Error::Corrupt` naming the offset.
pub fn read(dev: &dyn ReadAt, sector_size: u64) -> Result<PartitionTable> {
    if let Some(t) = gpt::read(dev, sector_size)? {
        return Ok(t);
    }
    if let Some(t) = mbr::read(dev, sector_size)? {
        return Ok(t);
    }
    Ok(PartitionTable {
        kind: TableKind::None,
        sector_size,
        disk_id: None,
        partitions: Vec::new(),
        metadata: ExtentList::new(),
        min_disk_size: dev.size(),
    })
}

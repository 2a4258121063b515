//! Used-block maps: which bytes of a filesystem hold data, read from its own allocation
//! structures. One file per filesystem, all behind [`Filesystem`].
//!
//! Must not: write anything, or trust any value read from disk without a bounds check. A
//! filesystem it does not recognise is `Ok(None)`; one it recognises but finds inconsistent is
//! `Error::Corrupt` naming the offset, so the caller can fall back to a raw copy, said aloud.

pub mod ext;
pub mod fat;
pub mod ntfs;

use crate::device::ReadAt;
use crate::error::Result;
use crate::extent::ExtentList;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsKind {
    Ext2,
    Ext3,
    Ext4,
    Fat12,
    Fat16,
    Fat32,
    Ntfs,
}

impl FsKind {
    pub fn name(self) -> &'static str {
        match self {
            FsKind::Ext2 => "ext2",
            FsKind::Ext3 => "ext3",
            FsKind::Ext4 => "ext4",
            FsKind::Fat12 => "fat12",
            FsKind::Fat16 => "fat16",
            FsKind::Fat32 => "fat32",
            FsKind::Ntfs => "ntfs",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsInfo {
    pub kind: FsKind,
    pub label: Option<String>,
    pub uuid: Option<String>,
    /// Allocation unit in bytes (ext block, FAT cluster, NTFS cluster).
    pub block_size: u64,
    /// Bytes the filesystem says it spans (may be less than the partition).
    pub size: u64,
    /// Bytes holding data or metadata, relative to the start of the filesystem. Includes every
    /// structure the filesystem needs (boot sectors and their backups, FATs, bitmaps, journals).
    pub used: ExtentList,
}

/// One filesystem's reader of its allocation structures.
pub trait Filesystem: Sync {
    fn name(&self) -> &'static str;
    /// Recognises the filesystem from its superblock/boot sector and reads its used map.
    fn probe(&self, dev: &dyn ReadAt) -> Result<Option<FsInfo>>;
}

/// Every filesystem we can map, in probing order.
pub fn all() -> &'static [&'static dyn Filesystem] {
    &[&ext::Ext, &ntfs::Ntfs, &fat::Fat]
}

/// Probes each known filesystem on `dev` (a partition or a whole unpartitioned disk).
/// Returns the first recognised. A corrupt recognised filesystem is returned as the error.
pub fn probe(dev: &dyn ReadAt) -> Result<Option<FsInfo>> {
    for fs in all() {
        if let Some(info) = fs.probe(dev)? {
            return Ok(Some(info));
        }
    }
    Ok(None)
}

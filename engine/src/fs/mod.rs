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

/// Little-endian field readers for parsers. They never panic: a field that is not inside `b`
/// reads as 0. Parsers only use them on buffers they sized themselves with constant offsets,
/// or after checking a data-dependent offset against the buffer length.
pub(crate) fn le16(b: &[u8], off: usize) -> u16 {
    match off.checked_add(2).and_then(|end| b.get(off..end)) {
        Some(s) => u16::from_le_bytes([s[0], s[1]]),
        None => 0,
    }
}

pub(crate) fn le32(b: &[u8], off: usize) -> u32 {
    match off.checked_add(4).and_then(|end| b.get(off..end)) {
        Some(s) => u32::from_le_bytes([s[0], s[1], s[2], s[3]]),
        None => 0,
    }
}

pub(crate) fn le64(b: &[u8], off: usize) -> u64 {
    u64::from(le32(b, off)) | (u64::from(le32(b, off.saturating_add(4))) << 32)
}

/// Merges two sorted, coalesced lists into one (their union), in linear time.
pub(crate) fn union(a: &ExtentList, b: &ExtentList) -> ExtentList {
    let mut out = ExtentList::new();
    let (mut i, mut j) = (
        a.as_slice().iter().peekable(),
        b.as_slice().iter().peekable(),
    );
    loop {
        let next = match (i.peek(), j.peek()) {
            (Some(x), Some(y)) if x.start <= y.start => i.next(),
            (Some(_), Some(_)) => j.next(),
            (Some(_), None) => i.next(),
            (None, Some(_)) => j.next(),
            (None, None) => break,
        };
        if let Some(e) = next {
            out.push(e.start, e.len);
        }
    }
    out
}

/// Text of a fixed-size, NUL- or space-padded label field; `None` when it is empty.
pub(crate) fn label_from(bytes: &[u8]) -> Option<String> {
    let end = bytes.iter().position(|&c| c == 0).unwrap_or(bytes.len());
    let s = String::from_utf8_lossy(&bytes[..end])
        .trim_end()
        .to_string();
    if s.is_empty() {
        None
    } else {
        Some(s)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn unrecognised_bytes_are_none() {
        assert!(probe(&vec![0u8; 1 << 16]).unwrap().is_none());
        assert!(probe(&vec![0xAAu8; 1 << 16]).unwrap().is_none());
        assert!(probe(&vec![0u8; 100]).unwrap().is_none());
    }

    #[test]
    fn field_readers_never_panic() {
        assert_eq!(le16(&[1, 2], 0), 0x0201);
        assert_eq!(le32(&[1, 2], 0), 0);
        assert_eq!(le64(&[0; 4], usize::MAX), 0);
        assert_eq!(label_from(b"NAME\0\0\0"), Some("NAME".into()));
        assert_eq!(label_from(b"    "), None);
    }
}

//! Used-block maps: which bytes of a filesystem hold data, read from its own allocation
//! structures. One file per filesystem, all behind [`Filesystem`].
//!
//! Must not: write anything, or trust any value read from disk without a bounds check. A
//! filesystem it does not recognise is `Ok(None)`; one it recognises but finds inconsistent is
//! `Error::Corrupt` naming the offset, so the caller can fall back to a raw copy, said aloud.

pub mod ext;
mod ext_files;
mod ext_map;
mod ext_read;
pub mod fat;
mod fat_read;
pub mod foreign;
mod lznt1;
pub mod ntfs;
mod ntfs_files;
mod ntfs_read;
pub mod reader;

use crate::device::ReadAt;
use crate::error::{Error, Result};
use crate::events::Cancel;
use crate::extent::{Extent, ExtentList};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

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

/// Read-only access to one filesystem's files (see [`reader`]).
pub trait FsReader {
    fn kind(&self) -> FsKind;
    /// The root directory.
    fn root(&self) -> Result<reader::Entry>;
    /// A directory's entries, without `.` and `..`, in the order stored.
    fn list(&self, dir: &reader::Entry) -> Result<Vec<reader::Entry>>;
    /// A regular file's bytes. Encrypted files (and compression it cannot decode) are
    /// `Unsupported`, said clearly.
    fn open(&self, file: &reader::Entry) -> Result<reader::FileData<'_>>;
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

/// What of a file lies in an unreadable range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TouchKind {
    /// The file's contents.
    Data,
    /// What the filesystem keeps about it: its inode or MFT record, extent/indirect blocks,
    /// attribute lists, a directory's entries; and the filesystem's own structures.
    Metadata,
}

/// A file (or filesystem structure) with bytes inside unreadable ranges.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Touch {
    /// `/dir/file`; `(directory /dir)` for a directory's own blocks; a parenthesised name for
    /// filesystem structures (`(inode table of group 3)`, `(journal)`, `$MFT`). A file no
    /// directory names is `(inode N, no name found)` / `(MFT record N, …)`; one whose directory
    /// could not be placed is `(unreachable directory inode N)/rest/of/path`. NTFS named
    /// streams count as the file's data.
    pub path: String,
    /// The file's other names (hard links), a few at most.
    pub also: Vec<String>,
    pub kind: TouchKind,
    /// Bytes of this file's data or metadata inside the ranges.
    pub bytes: u64,
}

/// The answer of [`files_touching`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileTouches {
    /// Sorted by path; at most the `limit` asked for.
    pub touches: Vec<Touch>,
    /// How many more were found beyond the limit ("+N more").
    pub more: usize,
    /// Bytes of the ranges that nothing found claims: free space, or structures that could
    /// not be read (see `skipped`).
    pub unclaimed: u64,
    /// Parts of the walk that could not be read or made no sense, and were left out: the
    /// answer may miss files there. At most [`SKIPPED_KEPT`] messages are kept.
    pub skipped: Vec<String>,
    /// How many skip messages there were in all.
    pub skipped_total: usize,
}

/// Skip messages kept in a [`FileTouches`]; the rest are only counted.
pub const SKIPPED_KEPT: usize = 64;

/// Names the files of the filesystem on `dev` whose data or metadata lie in `bad` (byte
/// ranges relative to the filesystem start, e.g. what rescue reading could not read). ext2/3/4
/// and NTFS; other kinds are `Unsupported`.
///
/// Reads only the filesystem's inode tables or MFT, the directory, extent and indirect blocks
/// it needs, and never a byte inside `bad` (on a failing disk those are the slow, failing
/// reads). A read error skips that part and says so in `skipped`; it is not fatal. Cost: one
/// pass over the in-use inode tables (ext) or the MFT (NTFS), plus every directory — on a
/// large filesystem with millions of files that is minutes of reading; `cancel` stops it.
pub fn files_touching(
    dev: &dyn ReadAt,
    kind: FsKind,
    bad: &ExtentList,
    limit: usize,
    cancel: &Cancel,
) -> Result<FileTouches> {
    if bad.is_empty() {
        return Ok(FileTouches::default());
    }
    match kind {
        FsKind::Ext2 | FsKind::Ext3 | FsKind::Ext4 => {
            ext_files::files_touching(dev, bad, limit, cancel)
        }
        FsKind::Ntfs => ntfs_files::files_touching(dev, bad, limit, cancel),
        FsKind::Fat12 | FsKind::Fat16 | FsKind::Fat32 => Err(Error::Unsupported(format!(
            "naming the files in unreadable ranges of {}",
            kind.name()
        ))),
    }
}

impl FileTouches {
    /// Accounts for `bytes` of the ranges past the filesystem's end (`fs_end`).
    pub(crate) fn beyond(&mut self, bytes: u64, fs_end: u64) {
        if bytes == 0 {
            return;
        }
        self.unclaimed += bytes;
        self.skipped_total += 1;
        if self.skipped.len() < SKIPPED_KEPT {
            self.skipped.push(format!(
                "{bytes} bytes of the ranges lie beyond the filesystem's end ({fs_end} bytes)"
            ));
        }
    }
}

/// A file's report name from its paths (at least one): the first in order, the others as
/// `also`; a directory as `(directory /path)`, all of it metadata.
pub(crate) fn named(mut paths: Vec<String>, is_dir: bool) -> (String, Vec<String>, bool) {
    paths.sort();
    let first = if paths.is_empty() {
        String::new()
    } else {
        paths.remove(0)
    };
    if is_dir {
        (format!("(directory {first})"), paths, true)
    } else {
        (first, paths, false)
    }
}

/// Whose bytes a range is: a file by its number (inode, MFT record), or a named structure.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Owner {
    File(u64),
    Area(String),
}

/// Tallies, per owner, the bytes of the bad ranges that its ranges cover; guards reads.
pub(crate) struct Tally<'a> {
    bad: &'a ExtentList,
    hits: HashMap<(Owner, TouchKind), u64>,
    /// Pieces of `bad` some owner claims (unsorted; merged once at the end).
    claimed: Vec<Extent>,
    skipped: Vec<String>,
    skipped_total: usize,
}

impl<'a> Tally<'a> {
    pub(crate) fn new(bad: &'a ExtentList) -> Self {
        Tally {
            bad,
            hits: HashMap::new(),
            claimed: Vec::new(),
            skipped: Vec::new(),
            skipped_total: 0,
        }
    }

    /// Whether `[start, start+len)` (bytes) meets a bad range.
    pub(crate) fn touches(&self, start: u64, len: u64) -> bool {
        let end = start.saturating_add(len);
        let i = self.bad.as_slice().partition_point(|e| e.end() <= start);
        self.bad.as_slice().get(i).is_some_and(|e| e.start < end)
    }

    /// Counts the bytes of `bad` inside `[start, start+len)` for `owner`. Returns whether
    /// there were any.
    pub(crate) fn add(&mut self, owner: Owner, kind: TouchKind, start: u64, len: u64) -> bool {
        if !self.touches(start, len) {
            return false;
        }
        self.claim_only(start, len);
        let n = self.bad.covered(start, start.saturating_add(len));
        *self.hits.entry((owner, kind)).or_insert(0) += n;
        true
    }

    /// Marks the bad bytes in a range as belonging to something without naming it (space
    /// allocated to a file that holds no data yet, such as an unwritten extent).
    pub(crate) fn claim_only(&mut self, start: u64, len: u64) {
        let clipped = self.bad.clipped(start, start.saturating_add(len));
        self.claimed.extend(clipped.iter().copied());
    }

    pub(crate) fn skip(&mut self, msg: String) {
        self.skipped_total += 1;
        if self.skipped.len() < SKIPPED_KEPT {
            self.skipped.push(msg);
        }
    }

    /// Reads `buf` at `off` unless that meets a bad range; a failure is noted as a skip
    /// (`what` names the part, for the message) and returns false.
    pub(crate) fn read(
        &mut self,
        dev: &dyn ReadAt,
        buf: &mut [u8],
        off: u64,
        what: impl FnOnce() -> String,
    ) -> bool {
        if self.touches(off, buf.len() as u64) {
            self.skip(format!("{}: in an unreadable range, not read", what()));
            return false;
        }
        match dev.read_exact_at(buf, off) {
            Ok(()) => true,
            Err(e) => {
                self.skip(format!("{}: {e}", what()));
                false
            }
        }
    }

    /// The file numbers with any hit.
    pub(crate) fn files(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .hits
            .keys()
            .filter_map(|(o, _)| match o {
                Owner::File(n) => Some(*n),
                Owner::Area(_) => None,
            })
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The answer: each file named by `name` (path, other names, whether everything of it
    /// counts as metadata — a directory, a system file), or dropped when it gives None; merged
    /// per (path, kind), sorted, cut at `limit`.
    pub(crate) fn finish(
        self,
        limit: usize,
        mut name: impl FnMut(u64) -> Option<(String, Vec<String>, bool)>,
    ) -> FileTouches {
        let mut merged: HashMap<(String, TouchKind), (Vec<String>, u64)> = HashMap::new();
        for ((owner, kind), bytes) in self.hits {
            let (path, also, kind) = match owner {
                Owner::Area(a) => (a, Vec::new(), TouchKind::Metadata),
                Owner::File(n) => match name(n) {
                    Some((p, also, true)) => (p, also, TouchKind::Metadata),
                    Some((p, also, false)) => (p, also, kind),
                    None => continue,
                },
            };
            let e = merged.entry((path, kind)).or_insert((also, 0));
            e.1 += bytes;
        }
        let mut touches: Vec<Touch> = merged
            .into_iter()
            .map(|((path, kind), (also, bytes))| Touch {
                path,
                also,
                kind,
                bytes,
            })
            .collect();
        touches.sort_by(|a, b| (&a.path, a.kind).cmp(&(&b.path, b.kind)));
        let more = touches.len().saturating_sub(limit);
        touches.truncate(limit);
        let claimed: ExtentList = {
            let mut c = self.claimed;
            c.sort_unstable();
            c.into_iter().collect()
        };
        FileTouches {
            touches,
            more,
            unclaimed: self.bad.minus(&claimed).total(),
            skipped: self.skipped,
            skipped_total: self.skipped_total,
        }
    }
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
    fn files_touching_on_no_filesystem_is_an_error_not_a_panic() {
        let bad: ExtentList = [Extent::new(4096, 512)].into_iter().collect();
        let c = Cancel::new();
        for kind in [FsKind::Ext4, FsKind::Ntfs] {
            assert!(files_touching(&vec![0u8; 1 << 16], kind, &bad, 10, &c).is_err());
            assert!(files_touching(&vec![0u8; 10], kind, &bad, 10, &c).is_err());
            let none = files_touching(&vec![0u8; 10], kind, &ExtentList::new(), 10, &c);
            assert_eq!(none.unwrap(), FileTouches::default());
        }
        assert!(matches!(
            files_touching(&vec![0u8; 1 << 16], FsKind::Fat32, &bad, 10, &c),
            Err(Error::Unsupported(_))
        ));
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

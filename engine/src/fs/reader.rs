//! Read-only file access inside a filesystem image, without mounting: what every filesystem's
//! reader (`ext_read`, `fat_read`, `ntfs_read`) offers — the root, a directory's entries, a
//! file's bytes as a [`ReadAt`] — and what is common to them: path lookup and the mapped file
//! reader that turns a file's runs (extents, block maps, cluster chains, runlists) into bytes,
//! holes reading as zeros.
//!
//! Must not: write anything, trust a name read from the disk (names are handed on raw; the
//! caller decides what is safe to create), follow a symlink during lookup, or allocate by an
//! on-disk size without a bound.

use super::{FsKind, FsReader};
use crate::device::ReadAt;
use crate::error::{Error, Result};

/// What a directory entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    /// Devices, fifos, sockets, NTFS reparse points: listed, never extracted.
    Other,
}

/// A time stamp: seconds since 1970 (UTC) and nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Time {
    pub secs: i64,
    pub nsecs: u32,
}

/// One file or directory as its directory lists it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Entry {
    /// The name as stored (ext names are any bytes but `/` and NUL; FAT/NTFS names are
    /// UTF-16 turned to UTF-8). Untrusted: may hold anything a crafted image puts there.
    #[serde(skip)]
    pub name: Vec<u8>,
    /// The filesystem's own number for it: ext inode, NTFS MFT record, FAT first cluster.
    /// Two entries with the same `id` (ext, NTFS) are hard links of one file.
    pub id: u64,
    pub kind: EntryKind,
    pub size: u64,
    pub mtime: Option<Time>,
    pub atime: Option<Time>,
    pub ctime: Option<Time>,
    /// Permission bits and file type (ext only).
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub nlink: u32,
    /// A symlink's target, as stored.
    #[serde(skip)]
    pub target: Option<Vec<u8>>,
    /// Why this file's bytes cannot be read, when the reader already knows (compressed,
    /// encrypted): `open` says it again as the error.
    pub unsupported: Option<String>,
}

impl Entry {
    pub fn name_lossy(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// Bytes of a file: `pieces` sorted by `logical`, not overlapping; bytes no piece covers read
/// as zeros (holes, unwritten extents, past NTFS's initialised size), or from `inline`.
pub struct FileData<'a> {
    dev: &'a dyn ReadAt,
    size: u64,
    pieces: Vec<Piece>,
    inline: Option<Vec<u8>>,
    /// A file whose bytes need more than a map (NTFS compressed files).
    decoded: Option<Box<dyn ReadAt + 'a>>,
    what: String,
}

/// `len` bytes of a file from byte `logical`, stored at device byte `phys`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    pub logical: u64,
    pub len: u64,
    pub phys: u64,
}

impl<'a> FileData<'a> {
    /// A file read through `pieces` (sorted here; overlapping ones are corrupt).
    pub fn mapped(
        dev: &'a dyn ReadAt,
        size: u64,
        mut pieces: Vec<Piece>,
        what: String,
    ) -> Result<Self> {
        pieces.retain(|p| p.len > 0 && p.logical < size);
        pieces.sort_by_key(|p| p.logical);
        let mut end = 0u64;
        for p in &mut pieces {
            if p.logical < end {
                return Err(Error::corrupt(
                    &what,
                    p.logical,
                    "two parts of the file's map cover the same bytes",
                ));
            }
            p.len = p.len.min(size - p.logical);
            end = p.logical + p.len;
            if p.phys.checked_add(p.len).is_none_or(|e| e > dev.size()) {
                return Err(Error::corrupt(
                    &what,
                    p.logical,
                    format!("stored at {} past the end of the filesystem", p.phys),
                ));
            }
        }
        Ok(FileData {
            dev,
            size,
            pieces,
            inline: None,
            decoded: None,
            what,
        })
    }

    /// A file whose bytes are kept in its metadata (ext inline data, NTFS resident `$DATA`).
    pub fn inline(dev: &'a dyn ReadAt, mut bytes: Vec<u8>, size: u64, what: String) -> Self {
        let size = size.min(bytes.len() as u64);
        bytes.truncate(size as usize);
        FileData {
            dev,
            size,
            pieces: Vec::new(),
            inline: Some(bytes),
            decoded: None,
            what,
        }
    }

    /// A file read through its own decoder (`r.size()` bytes).
    pub(crate) fn decoded(dev: &'a dyn ReadAt, r: Box<dyn ReadAt + 'a>, what: String) -> Self {
        FileData {
            dev,
            size: r.size(),
            pieces: Vec::new(),
            inline: None,
            decoded: Some(r),
            what,
        }
    }

    /// Device byte ranges holding the file's data (for tests and reports).
    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }
}

impl ReadAt for FileData<'_> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let end = offset.checked_add(buf.len() as u64);
        if end.is_none_or(|e| e > self.size) {
            return Err(Error::corrupt(
                &self.what,
                offset,
                format!("read of {} bytes past the file's end", buf.len()),
            ));
        }
        if let Some(d) = &self.decoded {
            return d.read_exact_at(buf, offset);
        }
        if let Some(b) = &self.inline {
            let s = offset as usize;
            buf.copy_from_slice(&b[s..s + buf.len()]);
            return Ok(());
        }
        let mut done = 0usize;
        let mut i = self.pieces.partition_point(|p| p.logical + p.len <= offset);
        while done < buf.len() {
            let pos = offset + done as u64;
            let left = (buf.len() - done) as u64;
            match self.pieces.get(i) {
                Some(p) if p.logical <= pos => {
                    let n = (p.logical + p.len - pos).min(left) as usize;
                    self.dev
                        .read_exact_at(&mut buf[done..done + n], p.phys + (pos - p.logical))?;
                    done += n;
                    i += 1;
                }
                next => {
                    // A hole up to the next piece.
                    let n = next.map_or(left, |p| (p.logical - pos).min(left)) as usize;
                    buf[done..done + n].fill(0);
                    done += n;
                }
            }
        }
        Ok(())
    }

    fn size(&self) -> u64 {
        self.size
    }
}

/// Directory levels a lookup follows (deeper paths are refused, not walked).
pub const MAX_DEPTH: usize = 4096;
/// Entries one directory may list; more is treated as damage.
pub const MAX_DIR_ENTRIES: usize = 1 << 20;

/// The entry at `path` (`/`-separated from the root; `""` and `/` are the root). Names match
/// exactly, or ignoring case on FAT and NTFS when no exact match exists. A symlink on the way
/// is not followed.
pub fn lookup(fs: &dyn FsReader, path: &str) -> Result<Entry> {
    let mut cur = fs.root()?;
    let mut walked = String::new();
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.len() > MAX_DEPTH {
        return Err(Error::Invalid(format!(
            "{path}: more than {MAX_DEPTH} levels"
        )));
    }
    for part in parts {
        if part == ".." {
            return Err(Error::Invalid(format!(
                "{path}: '..' is not allowed in a path"
            )));
        }
        if cur.kind != EntryKind::Dir {
            let what = if cur.kind == EntryKind::Symlink {
                "a symlink (not followed)"
            } else {
                "not a directory"
            };
            return Err(Error::Invalid(format!("{walked}: {what}")));
        }
        let entries = fs.list(&cur)?;
        let fold = !matches!(fs.kind(), FsKind::Ext2 | FsKind::Ext3 | FsKind::Ext4);
        let found = entries
            .iter()
            .find(|e| e.name == part.as_bytes())
            .or_else(|| {
                fold.then(|| {
                    entries
                        .iter()
                        .find(|e| e.name_lossy().to_lowercase() == part.to_lowercase())
                })
                .flatten()
            });
        walked.push('/');
        walked.push_str(part);
        match found {
            Some(e) => cur = e.clone(),
            None => {
                return Err(Error::NotFound {
                    what: format!("{walked}: no such file or directory"),
                })
            }
        }
    }
    Ok(cur)
}

/// Opens the filesystem on `dev` (a partition) for reading files.
pub fn open<'a>(dev: &'a dyn ReadAt) -> Result<Box<dyn FsReader + 'a>> {
    if let Some(r) = super::ext_read::open(dev)? {
        return Ok(Box::new(r));
    }
    if let Some(r) = super::ntfs_read::open(dev)? {
        return Ok(Box::new(r));
    }
    if let Some(r) = super::fat_read::open(dev)? {
        return Ok(Box::new(r));
    }
    Err(Error::Unsupported(
        "no ext2/3/4, FAT or NTFS filesystem found on this partition".into(),
    ))
}

/// A time from a count of 100 ns units since 1601 (NTFS).
pub(crate) fn nt_time(t: u64) -> Option<Time> {
    if t == 0 {
        return None;
    }
    const EPOCH_DIFF: i64 = 11_644_473_600;
    let secs = (t / 10_000_000) as i64 - EPOCH_DIFF;
    Some(Time {
        secs,
        nsecs: ((t % 10_000_000) * 100) as u32,
    })
}

//! Reading files of an ext2/3/4 filesystem without mounting it: an inode found through its
//! group descriptor, its bytes through the extent tree or the ext2/3 direct/indirect block
//! map (holes and unwritten extents read as zeros) or inline data; directories parsed
//! linearly (htree index blocks look like empty entries); fast symlinks from `i_block`.
//!
//! Must not: write, loop on a damaged disk (extent trees are depth-limited, each mapping block
//! is followed once per file, the number of pieces and directory bytes are bounded), allocate
//! by on-disk sizes, or pretend to read what it cannot: encrypted and compressed inodes are
//! refused by name.

use super::ext::{kind_of, read_super, Super};
use super::ext_files::{
    inline_xattr_data, parse_dirents, FL_EXTENTS, FL_INLINE_DATA, INCOMPAT_FILETYPE, ROOT_INO,
    S_IFDIR, S_IFLNK, S_IFMT, S_IFREG,
};
use super::ext_map::{self, MapVisitor};
use super::reader::{Entry, EntryKind, FileData, Piece, Time, MAX_DIR_ENTRIES};
use super::{le16, le32, FsKind, FsReader};
use crate::device::ReadAt;
use crate::error::{Error, Result};
use std::collections::HashSet;

/// ext2's compression flags (never in mainline Linux) and ext4's encryption flag.
const FL_COMPR: u32 = 0x0000_0004 | 0x0000_0200 | 0x0000_0400;
const FL_ENCRYPT: u32 = 0x0000_0800;
/// Pieces one file may map to (a file in more pieces than this is treated as damage).
const MAX_PIECES: usize = 1 << 22;
/// Bytes of a directory read for a listing.
const MAX_DIR_BYTES: u64 = 256 << 20;
/// Longest symlink target read.
const MAX_LINK: u64 = 4096;

pub(super) struct ExtReader<'a> {
    dev: &'a dyn ReadAt,
    s: Super,
    kind: FsKind,
    bs: u64,
    filetype: bool,
}

pub(super) fn open(dev: &dyn ReadAt) -> Result<Option<ExtReader<'_>>> {
    let Some((s, _)) = read_super(dev)? else {
        return Ok(None);
    };
    let kind = kind_of(&s);
    Ok(Some(ExtReader {
        dev,
        bs: s.block_size,
        filetype: s.incompat & INCOMPAT_FILETYPE != 0,
        s,
        kind,
    }))
}

/// The inode fields the reader uses.
struct Inode {
    ino: u64,
    raw: Vec<u8>,
    mode: u16,
    size: u64,
    flags: u32,
}

fn ext_time(raw: &[u8], lo: usize, extra: Option<usize>) -> Option<Time> {
    let base = i64::from(le32(raw, lo) as i32);
    let (secs, nsecs) = match extra.map(|x| le32(raw, x)) {
        // The low two bits extend the seconds past 2038; the rest are nanoseconds.
        Some(x) => (base + (i64::from(x & 3) << 32), x >> 2),
        None => (base, 0),
    };
    Some(Time {
        secs,
        nsecs: nsecs.min(999_999_999),
    })
}

impl<'a> ExtReader<'a> {
    fn what(&self, ino: u64) -> String {
        format!("ext inode {ino}")
    }

    fn inode(&self, ino: u64) -> Result<Inode> {
        let ipg = self.s.inodes_per_group;
        if ino == 0 || ipg == 0 || (ino - 1) / ipg >= self.s.groups {
            return Err(Error::corrupt(
                self.what(ino),
                0,
                "inode number outside the filesystem",
            ));
        }
        let g = (ino - 1) / ipg;
        let idx = (ino - 1) % ipg;
        let dpb = self.s.desc_per_block.max(1);
        let desc_at = self.s.desc_block_location(g / dpb) * self.bs + (g % dpb) * self.s.desc_size;
        let desc = self.dev.read_vec(desc_at, self.s.desc_size as usize)?;
        let gd = self.s.group_desc(&desc);
        let at = gd
            .inode_table
            .checked_mul(self.bs)
            .and_then(|t| t.checked_add(idx * self.s.inode_size))
            .filter(|&a| a.saturating_add(self.s.inode_size) <= self.dev.size())
            .ok_or_else(|| {
                Error::corrupt(
                    format!("ext group {g} descriptor"),
                    desc_at,
                    "inode table outside the filesystem",
                )
            })?;
        let raw = self.dev.read_vec(at, self.s.inode_size as usize)?;
        let mut size = u64::from(le32(&raw, 0x4));
        let mode = le16(&raw, 0);
        if mode & S_IFMT != S_IFDIR || self.s.ro_compat & 0x2 != 0 {
            size |= u64::from(le32(&raw, 0x6C)) << 32;
        }
        Ok(Inode {
            ino,
            mode,
            size,
            flags: le32(&raw, 0x20),
            raw,
        })
    }

    fn entry(&self, name: Vec<u8>, i: &Inode) -> Result<Entry> {
        let raw = &i.raw;
        let kind = match i.mode & S_IFMT {
            S_IFREG => EntryKind::File,
            S_IFDIR => EntryKind::Dir,
            S_IFLNK => EntryKind::Symlink,
            _ => EntryKind::Other,
        };
        // Nanoseconds live in the inode's extra part when it is big enough to hold them.
        let extra = if self.s.inode_size > 128 {
            128 + usize::from(le16(raw, 0x80))
        } else {
            0
        };
        let ex = |off: usize| (extra >= off + 4).then_some(off);
        let unsupported = if i.flags & FL_ENCRYPT != 0 {
            Some(format!(
                "encrypted ext file (inode {}) not supported",
                i.ino
            ))
        } else if i.flags & FL_COMPR != 0 {
            Some(format!(
                "compressed ext file (inode {}) not supported",
                i.ino
            ))
        } else {
            None
        };
        let target = if kind == EntryKind::Symlink && unsupported.is_none() {
            Some(self.link_target(i)?)
        } else {
            None
        };
        Ok(Entry {
            name,
            id: i.ino,
            kind,
            size: i.size,
            mtime: ext_time(raw, 0x10, ex(0x88)),
            atime: ext_time(raw, 0x8, ex(0x8C)),
            ctime: ext_time(raw, 0xC, ex(0x84)),
            mode: Some(u32::from(i.mode)),
            uid: Some(u32::from(le16(raw, 0x2)) | (u32::from(le16(raw, 0x78)) << 16)),
            gid: Some(u32::from(le16(raw, 0x18)) | (u32::from(le16(raw, 0x7A)) << 16)),
            nlink: u32::from(le16(raw, 0x1A)),
            target,
            unsupported,
        })
    }

    fn link_target(&self, i: &Inode) -> Result<Vec<u8>> {
        let len = i.size.min(MAX_LINK);
        let acl = le32(&i.raw, 0x68) != 0;
        let blocks = u64::from(le32(&i.raw, 0x1C));
        let ea = if acl { self.bs / 512 } else { 0 };
        if i.flags & (FL_INLINE_DATA | FL_EXTENTS) == 0 && blocks <= ea {
            // A fast symlink: the target is in i_block.
            let b = i.raw.get(0x28..0x28 + 60).unwrap_or(&[]);
            return Ok(b[..(len as usize).min(b.len())].to_vec());
        }
        let data = self.data(i)?;
        let mut buf = vec![0u8; len as usize];
        data.read_exact_at(&mut buf, 0)?;
        Ok(buf)
    }

    /// The bytes of inode `i` (regular file, directory, slow symlink).
    fn data(&self, i: &Inode) -> Result<FileData<'a>> {
        let what = self.what(i.ino);
        if i.flags & FL_ENCRYPT != 0 {
            return Err(Error::Unsupported(format!(
                "encrypted ext file (inode {}) not supported",
                i.ino
            )));
        }
        if i.flags & FL_COMPR != 0 {
            return Err(Error::Unsupported(format!(
                "compressed ext file (inode {}) not supported",
                i.ino
            )));
        }
        let i_block = i.raw.get(0x28..0x28 + 60).unwrap_or(&[]);
        if i.flags & FL_INLINE_DATA != 0 {
            let mut b = i_block.to_vec();
            b.extend(inline_xattr_data(&i.raw, self.s.inode_size));
            if i.size > b.len() as u64 {
                return Err(Error::corrupt(
                    what,
                    0,
                    format!("size {} with {} bytes of inline data", i.size, b.len()),
                ));
            }
            return Ok(FileData::inline(self.dev, b, i.size, what));
        }
        let mut c = Collect {
            r: self,
            ino: i.ino,
            visited: HashSet::new(),
            pieces: Vec::new(),
        };
        if i.flags & FL_EXTENTS != 0 {
            ext_map::extents(&mut c, i_block, None)?;
        } else {
            ext_map::block_map(&mut c, i_block, i.size.div_ceil(self.bs), self.bs / 4)?;
        }
        FileData::mapped(self.dev, i.size, c.pieces, what)
    }

    fn push(
        &self,
        ino: u64,
        pieces: &mut Vec<Piece>,
        logical: u64,
        phys: u64,
        len: u64,
    ) -> Result<()> {
        if phys.checked_add(len).is_none_or(|e| e > self.s.blocks) {
            return Err(Error::corrupt(
                self.what(ino),
                logical.saturating_mul(self.bs),
                format!("blocks {phys}+{len} outside the filesystem"),
            ));
        }
        let bs = self.bs;
        if let Some(last) = pieces.last_mut() {
            if last.logical + last.len == logical * bs && last.phys + last.len == phys * bs {
                last.len += len * bs;
                return Ok(());
            }
        }
        if pieces.len() >= MAX_PIECES {
            return Err(Error::corrupt(
                self.what(ino),
                logical * bs,
                format!("more than {MAX_PIECES} pieces"),
            ));
        }
        pieces.push(Piece {
            logical: logical * bs,
            len: len * bs,
            phys: phys * bs,
        });
        Ok(())
    }

    /// A mapping block (extent index/leaf, indirect block), read once per file.
    fn mapping_block(&self, ino: u64, b: u64, visited: &mut HashSet<u64>) -> Result<Vec<u8>> {
        if b == 0 || b >= self.s.blocks || !visited.insert(b) {
            return Err(Error::corrupt(
                self.what(ino),
                b.saturating_mul(self.bs),
                format!("mapping block {b} outside the filesystem or met twice"),
            ));
        }
        self.dev.read_vec(b * self.bs, self.bs as usize)
    }
}

/// The [`ext_map`] visitor of a file being read: runs become pieces (unwritten ones stay
/// holes), mapping blocks are read once each, and any problem stops the read.
struct Collect<'r, 'a> {
    r: &'r ExtReader<'a>,
    ino: u64,
    visited: HashSet<u64>,
    pieces: Vec<Piece>,
}

impl MapVisitor for Collect<'_, '_> {
    fn node(&mut self, b: u64, _what: &str) -> Result<Option<Vec<u8>>> {
        self.r
            .mapping_block(self.ino, b, &mut self.visited)
            .map(Some)
    }

    fn run(&mut self, logical: u64, phys: u64, len: u64, unwritten: bool) -> Result<()> {
        if unwritten {
            return Ok(());
        }
        self.r.push(self.ino, &mut self.pieces, logical, phys, len)
    }

    fn bad(&mut self, msg: String) -> Result<()> {
        Err(Error::corrupt(self.r.what(self.ino), 0, msg))
    }
}

/// An entry whose inode could not be read or made no sense.
fn damaged(name: Vec<u8>, ino: u64, err: Error) -> Entry {
    Entry {
        name,
        id: ino,
        kind: EntryKind::Other,
        size: 0,
        mtime: None,
        atime: None,
        ctime: None,
        mode: None,
        uid: None,
        gid: None,
        nlink: 1,
        target: None,
        unsupported: Some(format!("unreadable: {err}")),
    }
}

impl FsReader for ExtReader<'_> {
    fn kind(&self) -> FsKind {
        self.kind
    }

    fn root(&self) -> Result<Entry> {
        let i = self.inode(ROOT_INO)?;
        self.entry(Vec::new(), &i)
    }

    fn list(&self, dir: &Entry) -> Result<Vec<Entry>> {
        let i = self.inode(dir.id)?;
        if i.mode & S_IFMT != S_IFDIR {
            return Err(Error::Invalid(format!(
                "{}: not a directory",
                self.what(dir.id)
            )));
        }
        let mut raw: Vec<(u64, Vec<u8>)> = Vec::new();
        if i.flags & FL_INLINE_DATA != 0 {
            // The 4-byte parent number, then entries; more in the system.data xattr.
            let b = i.raw.get(0x28 + 4..0x28 + 60).unwrap_or(&[]);
            parse_dirents(b, self.filetype, &mut raw);
            parse_dirents(
                &inline_xattr_data(&i.raw, self.s.inode_size),
                self.filetype,
                &mut raw,
            );
        } else {
            let data = self.data(&i)?;
            let size = data.size();
            if size > MAX_DIR_BYTES {
                return Err(Error::corrupt(
                    self.what(dir.id),
                    0,
                    format!("directory of {size} bytes (more than {MAX_DIR_BYTES})"),
                ));
            }
            let mut buf = vec![0u8; self.bs as usize];
            let mut off = 0u64;
            while off + self.bs <= size {
                data.read_exact_at(&mut buf, off)?;
                parse_dirents(&buf, self.filetype, &mut raw);
                off += self.bs;
                if raw.len() > MAX_DIR_ENTRIES {
                    break;
                }
            }
        }
        let mut out = Vec::new();
        for (ino, name) in raw.into_iter().take(MAX_DIR_ENTRIES) {
            if name == b"." || name == b".." {
                continue;
            }
            // One damaged entry does not hide its siblings: it is listed as unreadable.
            let e = self
                .inode(ino)
                .and_then(|child| self.entry(name.clone(), &child));
            out.push(e.unwrap_or_else(|err| damaged(name, ino, err)));
        }
        Ok(out)
    }

    fn open(&self, file: &Entry) -> Result<FileData<'_>> {
        let i = self.inode(file.id)?;
        if i.mode & S_IFMT != S_IFREG {
            return Err(Error::Invalid(format!(
                "{}: not a regular file",
                self.what(file.id)
            )));
        }
        self.data(&i)
    }
}

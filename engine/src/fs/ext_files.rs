//! Which files of an ext2/3/4 filesystem own given byte ranges: the group structures by their
//! place, then every in-use inode of the initialised part of each inode table (the inode
//! bitmap says which; `bg_itable_unused`/INODE_UNINIT say where to stop), with its extent tree
//! (index blocks count as the file's metadata) or its ext2/3 direct/indirect block map, and
//! its xattr block. Inode numbers become paths by reading every directory from the root;
//! linear entry parsing also reads htree directories, whose index blocks look like empty
//! entries.
//!
//! Must not: read a byte inside the bad ranges, panic or loop on a damaged disk (extent trees
//! are depth-limited and each index/indirect block is followed once per inode; paths are
//! walked a bounded number of steps), or allocate by on-disk sizes. A read error or a value
//! that makes no sense skips that part and is reported in `skipped`.

use super::ext::{read_super, Super};
use super::ext_map::{self, MapVisitor};
use super::{le16, le32, named, FileTouches, Owner, Tally, TouchKind};
use crate::device::ReadAt;
use crate::error::{Error, Result};
use crate::events::Cancel;
use crate::extent::ExtentList;
use std::collections::{HashMap, HashSet};

pub(super) const INCOMPAT_FILETYPE: u32 = 0x2;
pub(super) const INCOMPAT_64BIT: u32 = 0x80;

pub(super) const FL_EXTENTS: u32 = 0x0008_0000;
const FL_EA_INODE: u32 = 0x0020_0000;
pub(super) const FL_INLINE_DATA: u32 = 0x1000_0000;

pub(super) const S_IFMT: u16 = 0xF000;
pub(super) const S_IFDIR: u16 = 0x4000;
pub(super) const S_IFREG: u16 = 0x8000;
pub(super) const S_IFLNK: u16 = 0xA000;

pub(super) const EXTENT_MAGIC: u16 = 0xF30A;
/// The kernel allows at most 5 levels of extent index.
pub(super) const MAX_EXTENT_DEPTH: u16 = 5;
/// An extent longer than this is unwritten (preallocated): its length is `len - 32768`.
pub(super) const EXT_INIT_MAX_LEN: u16 = 32768;

pub(super) const ROOT_INO: u64 = 2;
const RESIZE_INO: u64 = 7;
/// Path components followed upwards before a name is given up as looping.
const MAX_PATH_DEPTH: usize = 4096;
/// Names kept per file (hard links).
const MAX_NAMES: usize = 8;
/// Directory blocks remembered for the name pass (bounds memory on huge filesystems).
const MAX_DIR_BLOCKS: u64 = 64 << 20;
/// Inode table bytes read at once.
const ITABLE_CHUNK: u64 = 256 << 10;

/// Where a directory's entries are.
enum DirSrc {
    Blocks(Vec<(u64, u64)>),
    /// Inline data: the entries after the 4-byte parent number in `i_block`, and the
    /// `system.data` xattr value.
    Inline(Vec<u8>, Vec<u8>),
}

struct Walk<'a> {
    dev: &'a dyn ReadAt,
    s: Super,
    bs: u64,
    t: Tally<'a>,
    filetype: bool,
    /// Directories by inode, with where their entries are.
    dirs: HashMap<u64, DirSrc>,
    dir_blocks: u64,
    /// Inodes with a special role, by number (journal, quotas, xattr value inodes).
    special: HashMap<u64, String>,
    first_ino: u64,
    /// Inodes whose record was in an unreadable range.
    unread: HashSet<u64>,
}

pub(super) fn files_touching(
    dev: &dyn ReadAt,
    bad: &ExtentList,
    limit: usize,
    cancel: &Cancel,
) -> Result<FileTouches> {
    let Some((s, sb)) = read_super(dev)? else {
        return Err(Error::Invalid("no ext superblock on this device".into()));
    };
    let bs = s.block_size;
    let fs_end = s.blocks * bs;
    let inside = bad.clipped(0, fs_end);
    let t = Tally::new(&inside);
    let beyond = bad.total() - inside.total();

    let mut special = HashMap::new();
    let journal = u64::from(le32(&sb, 0xE0));
    if journal != 0 {
        special.insert(journal, "(journal)".to_string());
    }
    for (off, name) in [
        (0x240, "(user quota)"),
        (0x244, "(group quota)"),
        (0x26C, "(project quota)"),
    ] {
        let n = u64::from(le32(&sb, off));
        if n != 0 {
            special.insert(n, name.to_string());
        }
    }
    let first_ino = if le32(&sb, 0x4C) == 0 {
        11
    } else {
        u64::from(le32(&sb, 0x54)).max(11)
    };
    let mut w = Walk {
        dev,
        bs,
        filetype: s.incompat & INCOMPAT_FILETYPE != 0,
        s,
        t,
        dirs: HashMap::new(),
        dir_blocks: 0,
        special,
        first_ino,
        unread: HashSet::new(),
    };
    w.groups(cancel)?;
    let hit = w.t.files();
    let names = if hit.is_empty() {
        Names::default()
    } else {
        w.names(&hit, cancel)?
    };
    let (t, dirs, special, first_ino, unread) = (w.t, w.dirs, w.special, w.first_ino, w.unread);
    let mut out = t.finish(limit, |ino| {
        let is_dir = dirs.contains_key(&ino);
        if let Some(n) = special.get(&ino) {
            return Some((n.clone(), Vec::new(), true));
        }
        if ino < first_ino && ino != ROOT_INO {
            return Some((reserved_name(ino), Vec::new(), true));
        }
        let paths = names.paths_of(ino);
        if paths.is_empty() {
            // An inode whose record could not be read and that no directory names: the inode
            // table area already reports the bytes.
            if unread.contains(&ino) {
                return None;
            }
            let what = if is_dir { "directory inode" } else { "inode" };
            return Some((format!("({what} {ino}, no name found)"), Vec::new(), is_dir));
        }
        Some(named(paths, is_dir))
    });
    out.beyond(beyond, fs_end);
    Ok(out)
}

fn reserved_name(ino: u64) -> String {
    match ino {
        1 => "(bad blocks inode)".into(),
        5 => "(boot loader inode)".into(),
        6 => "(undelete directory inode)".into(),
        RESIZE_INO => "(reserved GDT blocks: resize inode)".into(),
        8 => "(journal)".into(),
        _ => format!("(reserved inode {ino})"),
    }
}

/// Coalesces consecutive blocks into runs before they are counted.
struct Runs {
    cur: Option<(u64, u64)>,
    out: Vec<(u64, u64)>,
}

impl Runs {
    fn new() -> Self {
        Runs {
            cur: None,
            out: Vec::new(),
        }
    }
    fn push(&mut self, start: u64, len: u64) {
        match &mut self.cur {
            Some((s, l)) if *s + *l == start => *l += len,
            _ => {
                if let Some(r) = self.cur.replace((start, len)) {
                    self.out.push(r);
                }
            }
        }
    }
    fn done(mut self) -> Vec<(u64, u64)> {
        if let Some(r) = self.cur.take() {
            self.out.push(r);
        }
        self.out
    }
}

/// Names found for the files hit.
#[derive(Default)]
struct Names {
    /// Directory inode → (its parent, its name), from the entries naming it.
    parent: HashMap<u64, (u64, Vec<u8>)>,
    /// Hit file → (directory, name) of each entry naming it.
    links: HashMap<u64, Vec<(u64, Vec<u8>)>>,
}

impl Names {
    fn path_of_dir(&self, mut dir: u64) -> String {
        let mut parts: Vec<&[u8]> = Vec::new();
        for _ in 0..MAX_PATH_DEPTH {
            if dir == ROOT_INO {
                let mut p = String::new();
                for c in parts.iter().rev() {
                    p.push('/');
                    p.push_str(&String::from_utf8_lossy(c));
                }
                return if p.is_empty() { "/".into() } else { p };
            }
            match self.parent.get(&dir) {
                Some((up, name)) => {
                    parts.push(name);
                    dir = *up;
                }
                None => {
                    let mut p = format!("(unreachable directory inode {dir})");
                    for c in parts.iter().rev() {
                        p.push('/');
                        p.push_str(&String::from_utf8_lossy(c));
                    }
                    return p;
                }
            }
        }
        format!("(directory loop at inode {dir})")
    }

    fn paths_of(&self, ino: u64) -> Vec<String> {
        if ino == ROOT_INO {
            return vec!["/".into()];
        }
        let join = |dir: u64, name: &[u8]| {
            let d = self.path_of_dir(dir);
            let sep = if d.ends_with('/') { "" } else { "/" };
            format!("{d}{sep}{}", String::from_utf8_lossy(name))
        };
        if let Some(l) = self.links.get(&ino) {
            return l.iter().map(|(d, n)| join(*d, n)).collect();
        }
        if let Some((d, n)) = self.parent.get(&ino) {
            return vec![join(*d, n)];
        }
        Vec::new()
    }
}

impl Walk<'_> {
    fn in_fs(&self, block: u64, len: u64) -> bool {
        block >= self.s.first_data_block
            && block
                .checked_add(len)
                .is_some_and(|end| end <= self.s.blocks)
    }

    fn area(&mut self, name: impl FnOnce() -> String, block: u64, len: u64) {
        let (start, n) = (block * self.bs, len * self.bs);
        if self.t.touches(start, n) {
            self.t
                .add(Owner::Area(name()), TouchKind::Metadata, start, n);
        }
    }

    /// The group structures by place, and every in-use inode of every group.
    fn groups(&mut self, cancel: &Cancel) -> Result<()> {
        let bs = self.bs;
        let bs_usize = usize::try_from(bs).map_err(|_| Error::Unsupported("block size".into()))?;
        if bs > 1024 {
            self.area(|| "(boot sector and superblock)".into(), 0, 1);
        } else {
            self.area(|| "(boot block)".into(), 0, 1);
        }
        let mut desc_buf = vec![0u8; bs_usize];
        let mut desc_index = u64::MAX;
        let mut desc_ok = false;
        for g in 0..self.s.groups {
            cancel.check()?;
            // Superblock backups and descriptor copies.
            let mut base = Vec::new();
            self.s.base_meta(g, &mut base);
            for (i, (start, len)) in base.into_iter().enumerate() {
                let len = len.min(self.s.blocks.saturating_sub(start));
                let what = match (g, i) {
                    (0, 0) if bs > 1024 => continue,
                    (0, 0) => "(superblock)".to_string(),
                    (0, _) => "(group descriptors)".to_string(),
                    (_, 0) if self.s.has_super(g) => format!("(superblock backup in group {g})"),
                    _ => format!("(group descriptor backup in group {g})"),
                };
                self.area(|| what, start, len);
            }

            let di = g / self.s.desc_per_block;
            if di != desc_index {
                desc_index = di;
                desc_ok = self.read_desc_block(di, &mut desc_buf);
            }
            if !desc_ok {
                continue;
            }
            let d_off = ((g % self.s.desc_per_block) * self.s.desc_size) as usize;
            let d_end = (d_off + self.s.desc_size as usize).min(desc_buf.len());
            let desc = desc_buf[d_off..d_end].to_vec();
            let gd = self.s.group_desc(&desc);
            let itb = self.s.inode_table_blocks;
            if !self.in_fs(gd.block_bitmap, 1)
                || !self.in_fs(gd.inode_bitmap, 1)
                || !self.in_fs(gd.inode_table, itb)
            {
                self.t.skip(format!(
                    "ext group {g}: descriptor points outside the filesystem (bitmaps {}, {}, inode table {}): its inodes were not read",
                    gd.block_bitmap, gd.inode_bitmap, gd.inode_table
                ));
                continue;
            }
            if !self.s.block_uninit(gd.flags) {
                self.area(
                    || format!("(block bitmap of group {g})"),
                    gd.block_bitmap,
                    1,
                );
            }
            self.area(
                || format!("(inode bitmap of group {g})"),
                gd.inode_bitmap,
                1,
            );
            let ipg = self.s.inodes_per_group;
            let first = g * ipg + 1;
            self.area(
                || {
                    format!(
                        "(inode table of group {g}, inodes {first}-{})",
                        first + ipg - 1
                    )
                },
                gd.inode_table,
                itb,
            );
            let used = self.s.itable_used_inodes(g, &desc);
            if used > 0 {
                self.inodes(g, &gd, used, bs_usize);
            }
        }
        Ok(())
    }

    /// Reads descriptor block `di`, from a backup copy when the primary cannot be read.
    fn read_desc_block(&mut self, di: u64, buf: &mut [u8]) -> bool {
        let bs = self.bs;
        let s = &self.s;
        let mut copies = vec![s.desc_block_location(di)];
        if !s.meta_bg() || di < s.first_meta_bg {
            // Backups follow each superblock backup, in the same order.
            copies.extend(
                (1..s.groups)
                    .filter(|&g| s.has_super(g))
                    .take(3)
                    .map(|g| s.group_first_block(g) + 1 + di),
            );
        } else {
            // meta_bg: the second and last group of the meta group hold copies.
            let mg = di * s.desc_per_block;
            for g in [mg + 1, mg + s.desc_per_block - 1] {
                if g < s.groups {
                    copies.push(s.group_first_block(g) + u64::from(s.has_super(g)));
                }
            }
        }
        let first_group = di * s.desc_per_block;
        let mut failed = Vec::new();
        for blk in copies {
            if !self.in_fs(blk, 1) {
                continue;
            }
            let at = blk * bs;
            if self.t.touches(at, bs) {
                failed.push(format!("{blk}: in an unreadable range"));
                continue;
            }
            match self.dev.read_exact_at(buf, at) {
                Ok(()) => return true,
                Err(e) => failed.push(format!("{blk}: {e}")),
            }
        }
        self.t.skip(format!(
            "ext group descriptors of groups {first_group}.. (no copy readable: {}): their inodes were not read",
            failed.join("; ")
        ));
        false
    }

    /// Reads the first `used` inodes of group `g` and maps those the bitmap says are in use.
    fn inodes(&mut self, g: u64, gd: &super::ext::GroupDesc, used: u64, bs_usize: usize) {
        let bs = self.bs;
        let isz = self.s.inode_size;
        let mut bitmap = vec![0u8; bs_usize];
        let have_bitmap = self.t.read(self.dev, &mut bitmap, gd.inode_bitmap * bs, || {
            format!(
                "ext inode bitmap of group {g} (block {}): in-use inodes guessed from their mode and link count",
                gd.inode_bitmap
            )
        });
        let in_use_bit = |i: u64| -> Option<bool> {
            if !have_bitmap {
                return None;
            }
            bitmap
                .get((i / 8) as usize)
                .map(|b| b & (1 << (i % 8)) != 0)
        };
        let table = gd.inode_table * bs;
        let bytes = used * isz;
        let mut pos = 0u64;
        let mut chunk = vec![0u8; ITABLE_CHUNK.max(bs) as usize];
        while pos < bytes {
            let n = (bytes - pos).min(chunk.len() as u64);
            // A chunk that cannot be read whole is retried one inode at a time, so a bad
            // sector costs only the inodes in it.
            let whole = !self.t.touches(table + pos, n)
                && self
                    .dev
                    .read_exact_at(&mut chunk[..n as usize], table + pos)
                    .is_ok();
            let mut off = 0u64;
            while off + isz <= n {
                let idx = (pos + off) / isz;
                let ino = g * self.s.inodes_per_group + idx + 1;
                let rec_at = table + pos + off;
                let s = off as usize;
                let raw = &mut chunk[s..s + isz as usize];
                let ok = whole
                    || self.t.read(self.dev, raw, rec_at, || {
                        format!(
                            "ext inode {ino} (group {g} inode table, block {})",
                            rec_at / bs
                        )
                    });
                let bit = in_use_bit(idx);
                if ok {
                    let raw = raw.to_vec();
                    let mode = le16(&raw, 0);
                    let links = le16(&raw, 0x1A);
                    let in_use = match bit {
                        Some(b) => b && (mode != 0 || ino < self.first_ino),
                        None => mode != 0 && (links > 0 || ino < self.first_ino),
                    };
                    if in_use {
                        self.inode(ino, &raw, rec_at);
                    }
                } else if bit != Some(false)
                    && self
                        .t
                        .add(Owner::File(ino), TouchKind::Metadata, rec_at, isz)
                {
                    // Unreadable record: counted for the inode, which a directory entry may
                    // still name.
                    self.unread.insert(ino);
                }
                off += isz;
            }
            pos += n;
        }
    }

    /// Maps one in-use inode's record, xattr block and blocks.
    fn inode(&mut self, ino: u64, raw: &[u8], rec_at: u64) {
        let bs = self.bs;
        let owner = Owner::File(ino);
        self.t
            .add(owner.clone(), TouchKind::Metadata, rec_at, raw.len() as u64);
        let mode = le16(raw, 0);
        let ftype = mode & S_IFMT;
        let flags = le32(raw, 0x20);
        if flags & FL_EA_INODE != 0 {
            self.special
                .insert(ino, format!("(extended attribute value, inode {ino})"));
        }
        let mut acl = u64::from(le32(raw, 0x68));
        if self.s.incompat & INCOMPAT_64BIT != 0 {
            acl |= u64::from(le16(raw, 0x76)) << 32;
        }
        if acl != 0 {
            if self.in_fs(acl, 1) {
                self.t.add(owner.clone(), TouchKind::Metadata, acl * bs, bs);
            } else {
                self.t.skip(format!(
                    "ext inode {ino}: xattr block {acl} outside the filesystem"
                ));
            }
        }
        let i_block = raw.get(0x28..0x28 + 60).unwrap_or(&[]).to_vec();
        let is_dir = ftype == S_IFDIR;
        if flags & FL_INLINE_DATA != 0 {
            if is_dir {
                let extra = inline_xattr_data(raw, self.s.inode_size);
                self.dirs.insert(
                    ino,
                    DirSrc::Inline(i_block.get(4..).unwrap_or(&[]).to_vec(), extra),
                );
            }
            return;
        }
        let has_blocks = matches!(ftype, S_IFDIR | S_IFREG) || ino < self.first_ino || {
            // A fast symlink keeps its target in i_block and counts no blocks but an xattr
            // block's.
            let blocks = u64::from(le32(raw, 0x1C));
            let ea = if acl != 0 { bs / 512 } else { 0 };
            ftype == S_IFLNK && blocks > ea
        };
        if !has_blocks {
            return;
        }
        if ino == RESIZE_INO {
            // Its double-indirect block lists the reserved GDT blocks, reported by place.
            let dind = u64::from(le32(&i_block, 13 * 4));
            if dind != 0 && self.in_fs(dind, 1) {
                self.t.add(owner, TouchKind::Metadata, dind * bs, bs);
            }
            return;
        }
        let mut m = Mapper {
            w: self,
            ino,
            visited: HashSet::new(),
            data: Runs::new(),
        };
        // The mapper notes every problem and goes on: the walk never fails.
        let _ = if flags & FL_EXTENTS != 0 {
            ext_map::extents(&mut m, &i_block, None)
        } else {
            let size = u64::from(le32(raw, 0x4)) | (u64::from(le32(raw, 0x6C)) << 32);
            ext_map::block_map(&mut m, &i_block, size.div_ceil(bs), bs / 4)
        };
        let runs = m.data.done();
        for &(start, len) in &runs {
            self.t
                .add(owner.clone(), TouchKind::Data, start * bs, len * bs);
        }
        if is_dir {
            self.dir_blocks += runs.iter().map(|r| r.1).sum::<u64>();
            if self.dir_blocks > MAX_DIR_BLOCKS {
                self.t.skip(format!(
                    "ext directory inode {ino}: more than {MAX_DIR_BLOCKS} directory blocks in all; names past it are not read"
                ));
            } else {
                self.dirs.insert(ino, DirSrc::Blocks(runs));
            }
        }
    }

    /// A block of a file's mapping (extent index or indirect block): counted as the file's
    /// metadata, and its bytes returned to follow, unless it is outside the filesystem,
    /// already followed for this file, or unreadable.
    fn mapping_block(
        &mut self,
        ino: u64,
        b: u64,
        what: &str,
        visited: &mut HashSet<u64>,
    ) -> Option<Vec<u8>> {
        let bs = self.bs;
        if !self.in_fs(b, 1) {
            self.t.skip(format!(
                "ext inode {ino}: {what} block pointer {b} outside the filesystem"
            ));
            return None;
        }
        self.t
            .add(Owner::File(ino), TouchKind::Metadata, b * bs, bs);
        if !visited.insert(b) {
            return None;
        }
        let mut buf = vec![0u8; bs as usize];
        self.t
            .read(self.dev, &mut buf, b * bs, || {
                format!(
                    "ext inode {ino}: {what} block {b} (the part of the file it maps is not known)"
                )
            })
            .then_some(buf)
    }

    /// Reads every directory's entries: the name and parent of each directory, and the names
    /// of the files hit.
    fn names(&mut self, hit: &[u64], cancel: &Cancel) -> Result<Names> {
        let hit: HashSet<u64> = hit.iter().copied().collect();
        let mut names = Names::default();
        let bs = self.bs;
        let mut buf = vec![0u8; bs as usize];
        let dirs: Vec<u64> = {
            let mut d: Vec<u64> = self.dirs.keys().copied().collect();
            d.sort_unstable();
            d
        };
        let dir_set: HashSet<u64> = dirs.iter().copied().collect();
        for dir in dirs {
            cancel.check()?;
            let mut entries: Vec<(u64, Vec<u8>)> = Vec::new();
            match self.dirs.get(&dir) {
                Some(DirSrc::Inline(a, b)) => {
                    parse_dirents(a, self.filetype, &mut entries);
                    parse_dirents(b, self.filetype, &mut entries);
                }
                Some(DirSrc::Blocks(runs)) => {
                    let runs = runs.clone();
                    for (start, len) in runs {
                        for blk in start..start + len {
                            if self.t.read(self.dev, &mut buf, blk * bs, || {
                                format!("ext directory inode {dir}, block {blk}: names in it are not known")
                            }) {
                                parse_dirents(&buf, self.filetype, &mut entries);
                            }
                        }
                    }
                }
                None => {}
            }
            for (child, name) in entries {
                if name == b"." || name == b".." {
                    continue;
                }
                if dir_set.contains(&child) {
                    names.parent.entry(child).or_insert((dir, name.clone()));
                }
                if hit.contains(&child) {
                    let l = names.links.entry(child).or_default();
                    if l.len() < MAX_NAMES {
                        l.push((dir, name));
                    }
                }
            }
        }
        Ok(names)
    }
}

/// The [`ext_map`] visitor of one inode: data runs coalesced into `data`, mapping blocks
/// counted as the inode's metadata and followed once each, problems noted as skips.
struct Mapper<'w, 'a> {
    w: &'w mut Walk<'a>,
    ino: u64,
    visited: HashSet<u64>,
    data: Runs,
}

impl MapVisitor for Mapper<'_, '_> {
    fn node(&mut self, b: u64, what: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.w.mapping_block(self.ino, b, what, &mut self.visited))
    }

    fn run(&mut self, _logical: u64, phys: u64, len: u64, unwritten: bool) -> Result<()> {
        let (ino, bs) = (self.ino, self.w.bs);
        if !self.w.in_fs(phys, len) {
            self.w.t.skip(format!(
                "ext inode {ino}: blocks {phys}+{len} outside the filesystem"
            ));
        } else if unwritten {
            // Allocated but never written: reads as zeros, so nothing of the file is lost
            // there.
            self.w.t.claim_only(phys * bs, len * bs);
        } else {
            self.data.push(phys, len);
        }
        Ok(())
    }

    fn bad(&mut self, msg: String) -> Result<()> {
        self.w.t.skip(format!("ext inode {}: {msg}", self.ino));
        Ok(())
    }
}

/// Appends the live entries of a block of directory entries, stopping at the first entry that
/// does not fit (a damaged block keeps what came before).
pub(super) fn parse_dirents(b: &[u8], filetype: bool, out: &mut Vec<(u64, Vec<u8>)>) {
    let mut pos = 0usize;
    while pos + 8 <= b.len() {
        let ino = le32(b, pos);
        let mut rec_len = usize::from(le16(b, pos + 4));
        if (rec_len == 0 || rec_len == 65535) && b.len() == 65536 && pos == 0 {
            rec_len = 65536;
        }
        let name_len = if filetype {
            usize::from(b[pos + 6])
        } else {
            usize::from(le16(b, pos + 6) & 0xFF)
        };
        if rec_len < 8 || rec_len % 4 != 0 || pos + rec_len > b.len() {
            return;
        }
        if ino != 0 && name_len > 0 && 8 + name_len <= rec_len {
            out.push((u64::from(ino), b[pos + 8..pos + 8 + name_len].to_vec()));
        }
        pos += rec_len;
    }
}

/// The value of the in-inode `system.data` xattr (the rest of an inline directory), or empty.
pub(super) fn inline_xattr_data(raw: &[u8], inode_size: u64) -> Vec<u8> {
    const XATTR_MAGIC: u32 = 0xEA02_0000;
    const INDEX_SYSTEM: u8 = 7;
    if inode_size <= 128 {
        return Vec::new();
    }
    let start = 128 + usize::from(le16(raw, 0x80));
    if le32(raw, start) != XATTR_MAGIC {
        return Vec::new();
    }
    let first = start + 4;
    let mut pos = first;
    // Entries are at least 16 bytes: bounded by the inode size.
    while pos + 16 <= raw.len() {
        let name_len = usize::from(raw[pos]);
        if name_len == 0 && raw[pos + 1] == 0 && le16(raw, pos + 2) == 0 {
            break;
        }
        let index = raw[pos + 1];
        let voff = usize::from(le16(raw, pos + 2));
        let vsize = le32(raw, pos + 8) as usize;
        let name = raw.get(pos + 16..pos + 16 + name_len).unwrap_or(&[]);
        if index == INDEX_SYSTEM && name == b"data" {
            return raw
                .get(first + voff..(first + voff).saturating_add(vsize))
                .map(<[u8]>::to_vec)
                .unwrap_or_default();
        }
        pos += (16 + name_len).div_ceil(4) * 4;
    }
    Vec::new()
}

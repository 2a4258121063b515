//! Which files of an NTFS volume own given byte ranges: every in-use MFT record (read through
//! `$MFT`'s own runlist, update sequences checked), its bytes as the file's metadata, and the
//! runlists of its non-resident attributes — `$DATA` as data, the rest (`$INDEX_ALLOCATION`,
//! `$ATTRIBUTE_LIST`, `$BITMAP`, ...) as metadata. Extension records count for their base
//! record, so attribute lists need not be followed for the mapping; `$MFT`'s own extension
//! records are followed to find all of the MFT. Names come from `$FILE_NAME` (Win32 names
//! before DOS 8.3 ones), paths from parent references up to the root (record 5); system files
//! (records below 16) go by their name, like `$MFT` or `$LogFile`.
//!
//! Must not: read a byte inside the bad ranges, panic or loop on a damaged volume (parent
//! walks are bounded, records are bounded by the MFT's mapped size), or allocate by on-disk
//! sizes. A read error or a damaged record skips that part and is reported in `skipped`.

use super::ntfs::{
    apply_fixups, apply_fixups_as, attributes, decode_runlist, parse_boot, read_attr, Boot, Run,
    ATTR_DATA,
};
use super::{le16, le32, le64, named, FileTouches, Owner, Tally, TouchKind};
use crate::device::ReadAt;
use crate::error::{Error, Result};
use crate::events::Cancel;
use crate::extent::ExtentList;
use std::collections::{HashMap, HashSet};

pub(super) const ATTR_ATTRIBUTE_LIST: u32 = 0x20;
const ATTR_FILE_NAME: u32 = 0x30;
const ATTR_INDEX_ROOT: u32 = 0x90;
const ATTR_INDEX_ALLOCATION: u32 = 0xA0;
/// Index entry flag: the last entry of a node (it carries no key).
const INDEX_ENTRY_END: u16 = 0x2;
pub(super) const REC_IN_USE: u16 = 0x1;
pub(super) const REC_DIRECTORY: u16 = 0x2;
pub(super) const ROOT: u64 = 5;
/// Records below this are the volume's own files, named as such.
pub(super) const FIRST_USER_RECORD: u64 = 16;
pub(super) const NAMESPACE_DOS: u8 = 2;
/// The volume's own files, by record number (record 5 is the root directory).
const SYSTEM_FILES: [&str; 12] = [
    "$MFT",
    "$MFTMirr",
    "$LogFile",
    "$Volume",
    "$AttrDef",
    "(directory /)",
    "$Bitmap",
    "$Boot",
    "$BadClus",
    "$Secure",
    "$UpCase",
    "$Extend",
];
const MAX_PATH_DEPTH: usize = 4096;
const MAX_NAMES: usize = 8;
/// MFT bytes read at once.
const MFT_CHUNK: u64 = 256 << 10;
/// A reference's record number: its low 48 bits.
pub(super) const REF_MASK: u64 = 0xFFFF_FFFF_FFFF;

/// One `$FILE_NAME`: parent record and sequence number, namespace, name.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct FileName {
    pub(super) parent: u64,
    pub(super) parent_seq: u16,
    pub(super) namespace: u8,
    pub(super) name: String,
}

struct Walk<'a> {
    dev: &'a dyn ReadAt,
    boot: Boot,
    t: Tally<'a>,
    mft: Vec<Run>,
    /// Directories (base records) → their sequence number.
    dirs: HashMap<u64, u16>,
    /// Names of directories, and those found in extension records, by base record.
    names: HashMap<u64, Vec<FileName>>,
    /// Records that could not be read.
    unread: HashSet<u64>,
}

pub(super) fn files_touching(
    dev: &dyn ReadAt,
    bad: &ExtentList,
    limit: usize,
    cancel: &Cancel,
) -> Result<FileTouches> {
    let boot = read_boot(dev, bad)?;
    let bps = boot.bytes_per_sector;
    let fs_end = (boot.total_sectors + 1) * bps;
    let inside = bad.clipped(0, fs_end);
    let beyond = bad.total() - inside.total();
    let mut t = Tally::new(&inside);
    t.add(
        Owner::Area("(backup boot sector)".into()),
        TouchKind::Metadata,
        boot.total_sectors * bps,
        bps,
    );
    let mft = match mft_runs(dev, &boot, &mut t) {
        Some(r) => r,
        None => {
            // Without the MFT nothing can be named; say what was asked and why.
            let mut out = t.finish(limit, |_| None);
            out.beyond(beyond, fs_end);
            return Ok(out);
        }
    };
    let mut w = Walk {
        dev,
        boot,
        t,
        mft,
        dirs: HashMap::new(),
        names: HashMap::new(),
        unread: HashSet::new(),
    };
    w.records(cancel)?;
    let hit = w.t.files();
    let mut hit_names: HashMap<u64, Vec<FileName>> = HashMap::new();
    for &h in &hit {
        cancel.check()?;
        if w.dirs.contains_key(&h) || w.unread.contains(&h) {
            continue;
        }
        if let Some(rec) = w.read_record(h) {
            let mut v = file_names(&rec);
            v.extend(w.names.get(&h).cloned().unwrap_or_default());
            hit_names.insert(h, v);
        }
    }
    // Records that could not be read are named by the directory indexes that list them.
    let lost: HashSet<u64> = hit
        .iter()
        .copied()
        .filter(|h| w.unread.contains(h))
        .collect();
    if !lost.is_empty() {
        let mut dirs: Vec<u64> = w.dirs.keys().copied().collect();
        dirs.sort_unstable();
        for d in dirs {
            cancel.check()?;
            for (child, f) in w.index_entries(d) {
                if lost.contains(&child) {
                    let v = hit_names.entry(child).or_default();
                    if v.len() < MAX_NAMES * 2 && !v.contains(&f) {
                        v.push(f);
                    }
                }
            }
        }
    }
    let Walk {
        t,
        dirs,
        names,
        unread,
        ..
    } = w;
    let paths = Paths {
        dirs: &dirs,
        names: &names,
    };
    let mut out = t.finish(limit, |n| {
        let is_dir = dirs.contains_key(&n);
        let own = if is_dir {
            names.get(&n)
        } else {
            hit_names.get(&n)
        };
        let chosen = own.map(|v| choose(v)).unwrap_or_default();
        if n < FIRST_USER_RECORD && n != ROOT {
            // Fixed by the format, so named even when the record cannot be read.
            let name = SYSTEM_FILES
                .get(n as usize)
                .map_or_else(|| format!("(reserved MFT record {n})"), |s| s.to_string());
            return Some((name, Vec::new(), true));
        }
        let mut list: Vec<String> = if n == ROOT {
            vec!["/".into()]
        } else {
            chosen.iter().map(|f| paths.join(f)).collect()
        };
        if list.is_empty() {
            let what = if unread.contains(&n) {
                "unreadable"
            } else {
                "no name found"
            };
            list.push(format!("(MFT record {n}, {what})"));
        }
        Some(named(list, is_dir))
    });
    out.beyond(beyond, fs_end);
    Ok(out)
}

/// The boot sector, or its backup at the device's last sector when it cannot be read.
pub(super) fn read_boot(dev: &dyn ReadAt, bad: &ExtentList) -> Result<Boot> {
    let mut errors = Vec::new();
    let size = dev.size();
    for at in [0, size.saturating_sub(512)] {
        if bad.covered(at, at + 512) > 0 {
            errors.push(format!("sector at {at}: in an unreadable range"));
            continue;
        }
        match dev.read_vec(at, 512) {
            Ok(b) => match parse_boot(&b, size) {
                Ok(Some(boot)) => return Ok(boot),
                Ok(None) => errors.push(format!("sector at {at}: not an NTFS boot sector")),
                Err(e) => errors.push(e.to_string()),
            },
            Err(e) => errors.push(e.to_string()),
        }
    }
    Err(Error::Invalid(format!(
        "no readable NTFS boot sector ({})",
        errors.join("; ")
    )))
}

/// `$MFT`'s runlist: record 0's `$DATA`, plus the parts its attribute list puts in
/// extension records. None (and a skip note) when record 0 cannot be read.
pub(super) fn mft_runs(dev: &dyn ReadAt, boot: &Boot, t: &mut Tally) -> Option<Vec<Run>> {
    let cs = boot.cluster_size;
    let rs = boot.record_size as usize;
    let mut rec0 = vec![0u8; rs];
    let at = boot.mft_lcn * cs;
    // $MFTMirr holds a copy. (The record's bytes are counted with the other records.)
    let mut found = false;
    for copy in [boot.mft_lcn, boot.mft_mirr_lcn] {
        let Some(c_at) = copy
            .checked_mul(cs)
            .filter(|&a| copy < boot.total_clusters && a.checked_add(boot.record_size).is_some())
        else {
            continue;
        };
        if t.read(dev, &mut rec0, c_at, || {
            format!("NTFS MFT record 0 ($MFT) at cluster {copy}")
        }) {
            match apply_fixups(&mut rec0, c_at, "NTFS MFT record 0") {
                Ok(()) => {
                    found = true;
                    break;
                }
                Err(e) => t.skip(e.to_string()),
            }
        }
    }
    if !found {
        t.skip("NTFS: no copy of MFT record 0 ($MFT) readable; no file can be named".into());
        return None;
    }
    let mut runs = Vec::new();
    let mut list = Vec::new();
    match attributes(&rec0, at, "NTFS MFT record 0") {
        Ok(attrs) => {
            for a in attrs {
                let bytes = &rec0[a.start..a.start + a.len];
                if a.ty == ATTR_DATA && a.name_len == 0 && bytes[8] != 0 {
                    match nonresident_runs(bytes, boot, at + a.start as u64) {
                        Ok(r) => runs.extend(r),
                        Err(e) => t.skip(format!("{e}")),
                    }
                } else if a.ty == ATTR_ATTRIBUTE_LIST && bytes[8] == 0 {
                    list = resident(bytes).map(<[u8]>::to_vec).unwrap_or_default();
                }
            }
        }
        Err(e) => {
            t.skip(format!("{e}: no file can be named"));
            return None;
        }
    }
    // Extension records holding more of $MFT's $DATA, found through runs known so far
    // (each entry is at least 26 bytes: bounded by the list's length).
    let mut pos = 0usize;
    let mut seen = HashSet::new();
    while pos + 0x1A <= list.len() {
        let ty = le32(&list, pos);
        let len = usize::from(le16(&list, pos + 4));
        let rec = le64(&list, pos + 0x10) & REF_MASK;
        if len < 0x1A {
            break;
        }
        if ty == ATTR_DATA && rec != 0 && seen.insert(rec) {
            let mut buf = vec![0u8; rs];
            let read = read_attr(
                dev,
                boot,
                &runs,
                rec * boot.record_size,
                &mut buf,
                "NTFS $MFT",
            )
            .and_then(|()| apply_fixups(&mut buf, 0, "NTFS $MFT extension record"))
            .and_then(|()| attributes(&buf, 0, "NTFS $MFT extension record"));
            match read {
                Ok(attrs) => {
                    for a in attrs
                        .iter()
                        .filter(|a| a.ty == ATTR_DATA && a.name_len == 0)
                    {
                        let bytes = &buf[a.start..a.start + a.len];
                        if bytes[8] != 0 {
                            match nonresident_runs(bytes, boot, 0) {
                                Ok(r) => runs.extend(r),
                                Err(e) => t.skip(format!("{e}")),
                            }
                        }
                    }
                }
                Err(e) => t.skip(format!(
                    "NTFS $MFT extension record {rec}: {e}: records it maps are not read"
                )),
            }
        }
        pos += len;
    }
    runs.sort_by_key(|r| r.vcn);
    Some(runs)
}

/// The value of a resident attribute (`a` is the whole attribute).
pub(super) fn resident(a: &[u8]) -> Option<&[u8]> {
    let vlen = le32(a, 0x10) as usize;
    let voff = usize::from(le16(a, 0x14));
    a.get(voff..voff.checked_add(vlen)?)
}

/// The runs of a non-resident attribute (`a` is the whole attribute).
pub(super) fn nonresident_runs(a: &[u8], boot: &Boot, at: u64) -> Result<Vec<Run>> {
    if a.len() < 0x40 {
        return Err(Error::corrupt(
            "NTFS attribute",
            at,
            "non-resident header too short",
        ));
    }
    let start_vcn = le64(a, 0x10);
    let pairs = usize::from(le16(a, 0x20));
    let Some(bytes) = a.get(pairs..).filter(|b| !b.is_empty()) else {
        return Err(Error::corrupt(
            "NTFS attribute",
            at,
            format!("mapping pairs at {pairs}"),
        ));
    };
    decode_runlist(bytes, start_vcn, boot.total_clusters, at + pairs as u64)
}

/// The `$FILE_NAME`s of a fixed-up record.
fn file_names(rec: &[u8]) -> Vec<FileName> {
    let Ok(attrs) = attributes(rec, 0, "") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for a in attrs.iter().filter(|a| a.ty == ATTR_FILE_NAME) {
        let bytes = &rec[a.start..a.start + a.len];
        if bytes[8] != 0 {
            continue;
        }
        if let Some(f) = resident(bytes).and_then(file_name) {
            out.push(f);
        }
    }
    out
}

/// A `$FILE_NAME` value (in a record, or as an index entry's key).
fn file_name(v: &[u8]) -> Option<FileName> {
    let n = usize::from(*v.get(0x40)?);
    let units: Vec<u16> = v
        .get(0x42..0x42 + 2 * n)?
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let parent = le64(v, 0);
    Some(FileName {
        parent: parent & REF_MASK,
        parent_seq: (parent >> 48) as u16,
        namespace: *v.get(0x41)?,
        name: String::from_utf16_lossy(&units),
    })
}

/// Appends the (record, name) of each entry of an index node's entry area.
fn index_node_entries(b: &[u8], out: &mut Vec<(u64, FileName)>) {
    let mut pos = 0usize;
    // Each entry is at least 16 bytes: bounded by the node's length.
    while pos + 16 <= b.len() {
        let len = usize::from(le16(b, pos + 8));
        let key_len = usize::from(le16(b, pos + 10));
        let flags = le16(b, pos + 12);
        if flags & INDEX_ENTRY_END != 0 || len < 16 || pos + len > b.len() {
            return;
        }
        if let Some(f) = b.get(pos + 16..pos + 16 + key_len).and_then(file_name) {
            out.push((le64(b, pos) & REF_MASK, f));
        }
        pos += len;
    }
}

/// The entries of a directory's `$I30` index, from its fixed-up record `rec`: its root in the
/// record and every block of its allocation, read in full (a B-tree's nodes all hold
/// entries). `read` fills an index block from a device offset (false: not readable, skipped);
/// what could not be used is returned as notes.
pub(super) fn dir_index(
    rec: &[u8],
    boot: &Boot,
    read: &mut dyn FnMut(&mut [u8], u64) -> bool,
    out: &mut Vec<(u64, FileName)>,
) -> Vec<String> {
    let mut notes = Vec::new();
    let Ok(attrs) = attributes(rec, 0, "") else {
        notes.push("attributes unreadable".to_string());
        return notes;
    };
    let mut block_size = 0u64;
    let mut alloc = Vec::new();
    for a in &attrs {
        let bytes = &rec[a.start..a.start + a.len];
        if a.ty == ATTR_INDEX_ROOT && bytes[8] == 0 {
            if let Some(v) = resident(bytes) {
                block_size = u64::from(le32(v, 0x08));
                // The node header follows the 16-byte root header; offsets are from it.
                let start = 0x10 + le32(v, 0x10) as usize;
                let end = (0x10 + le32(v, 0x14) as usize).min(v.len());
                if let Some(entries) = v.get(start..end) {
                    index_node_entries(entries, out);
                }
            }
        } else if a.ty == ATTR_INDEX_ALLOCATION && bytes[8] != 0 {
            match nonresident_runs(bytes, boot, 0) {
                Ok(r) => alloc.extend(r),
                Err(e) => notes.push(e.to_string()),
            }
        }
    }
    if alloc.is_empty() {
        return notes;
    }
    if !(512..=65536).contains(&block_size) || !block_size.is_power_of_two() {
        notes.push(format!("index block size {block_size}"));
        return notes;
    }
    let cs = boot.cluster_size;
    let mut buf = vec![0u8; block_size as usize];
    for r in alloc {
        let Some(lcn) = r.lcn else { continue };
        let mut off = 0u64;
        let bytes = r.len * cs;
        while off + block_size <= bytes {
            let at = lcn * cs + off;
            off += block_size;
            if !read(&mut buf, at) {
                continue;
            }
            if apply_fixups_as(&mut buf, b"INDX", at, "").is_err() {
                continue; // an unused block of the allocation
            }
            let start = 0x18 + le32(&buf, 0x18) as usize;
            let end = (0x18 + le32(&buf, 0x1C) as usize).min(buf.len());
            if let Some(entries) = buf.get(start..end) {
                index_node_entries(entries, out);
            }
        }
    }
    notes
}

/// The names to report: the non-DOS ones (one per parent and name), or the DOS one if that is
/// all there is.
fn choose(v: &[FileName]) -> Vec<FileName> {
    let mut out: Vec<FileName> = Vec::new();
    for f in v.iter().filter(|f| f.namespace != NAMESPACE_DOS) {
        if !out.iter().any(|o| o.parent == f.parent && o.name == f.name) && out.len() < MAX_NAMES {
            out.push(f.clone());
        }
    }
    if out.is_empty() {
        out.extend(v.first().cloned());
    }
    out
}

struct Paths<'a> {
    dirs: &'a HashMap<u64, u16>,
    names: &'a HashMap<u64, Vec<FileName>>,
}

impl Paths<'_> {
    /// The path of `f`'s parent directory joined with its name.
    fn join(&self, f: &FileName) -> String {
        let mut parts = vec![f.name.as_str()];
        let (mut dir, mut seq) = (f.parent, f.parent_seq);
        for _ in 0..MAX_PATH_DEPTH {
            // A parent whose sequence number moved on was deleted: the name is stale.
            let live = self.dirs.get(&dir).is_some_and(|&s| s == seq || seq == 0);
            if dir == ROOT && live {
                let mut p = String::new();
                for c in parts.iter().rev() {
                    p.push('/');
                    p.push_str(c);
                }
                return p;
            }
            let up = self
                .names
                .get(&dir)
                .filter(|_| live)
                .and_then(|v| choose(v).into_iter().next());
            match up {
                Some(u) => {
                    parts.push(self.names_str(dir, &u));
                    dir = u.parent;
                    seq = u.parent_seq;
                }
                None => {
                    let mut p = format!("(unreachable directory MFT record {dir})");
                    for c in parts.iter().rev() {
                        p.push('/');
                        p.push_str(c);
                    }
                    return p;
                }
            }
        }
        format!("(directory loop at MFT record {dir})/{}", f.name)
    }

    /// `u`'s name as stored in `names` (borrowed for the path being built).
    fn names_str(&self, dir: u64, u: &FileName) -> &str {
        self.names
            .get(&dir)
            .and_then(|v| v.iter().find(|x| x.name == u.name))
            .map_or("", |x| x.name.as_str())
    }
}

impl Walk<'_> {
    /// Device byte ranges of MFT bytes `[off, off+len)`; None when some part is not mapped.
    fn mft_pieces(&self, off: u64, len: u64) -> Option<Vec<(u64, u64)>> {
        let cs = self.boot.cluster_size;
        let mut out = Vec::new();
        let mut pos = off;
        let end = off.checked_add(len)?;
        while pos < end {
            let vcn = pos / cs;
            let run = self
                .mft
                .iter()
                .find(|r| vcn >= r.vcn && vcn - r.vcn < r.len)?;
            let lcn = run.lcn?;
            let run_end = run.vcn.checked_add(run.len)?.checked_mul(cs)?;
            let n = run_end.min(end) - pos;
            out.push((lcn * cs + (pos - run.vcn * cs), n));
            pos += n;
        }
        Some(out)
    }

    fn read_pieces(&mut self, pieces: &[(u64, u64)], buf: &mut [u8], n: u64) -> bool {
        let mut done = 0usize;
        for &(at, len) in pieces {
            let Some(part) = buf.get_mut(done..done + len as usize) else {
                return false;
            };
            if !self
                .t
                .read(self.dev, part, at, || format!("NTFS MFT record {n}"))
            {
                return false;
            }
            done += len as usize;
        }
        true
    }

    /// Record `n`, fixed up; None (noted) when it cannot be read.
    fn read_record(&mut self, n: u64) -> Option<Vec<u8>> {
        let rs = self.boot.record_size;
        let pieces = self.mft_pieces(n.checked_mul(rs)?, rs)?;
        let mut rec = vec![0u8; rs as usize];
        if !self.read_pieces(&pieces, &mut rec, n) {
            return None;
        }
        let what = format!("NTFS MFT record {n}");
        match apply_fixups(&mut rec, pieces.first().map_or(0, |p| p.0), &what) {
            Ok(()) => Some(rec),
            Err(e) => {
                self.t.skip(e.to_string());
                None
            }
        }
    }

    /// The entries of directory `d`'s `$I30` index (see [`dir_index`]).
    fn index_entries(&mut self, d: u64) -> Vec<(u64, FileName)> {
        let mut out = Vec::new();
        let Some(rec) = self.read_record(d) else {
            return out;
        };
        let (dev, t) = (self.dev, &mut self.t);
        let notes = dir_index(
            &rec,
            &self.boot,
            &mut |buf, at| {
                t.read(dev, buf, at, || {
                    format!("NTFS directory record {d}: index block at {at}")
                })
            },
            &mut out,
        );
        for n in notes {
            self.t.skip(format!("NTFS directory record {d}: {n}"));
        }
        out
    }

    /// Every record of the MFT, a chunk at a time (one record at a time where a chunk cannot
    /// be read whole).
    fn records(&mut self, cancel: &Cancel) -> Result<()> {
        let rs = self.boot.record_size;
        // Records up to the end of the last mapped run, and no more than the volume holds
        // (a damaged runlist may claim a huge sparse tail).
        let cs = self.boot.cluster_size;
        let mapped_end = self
            .mft
            .iter()
            .filter(|r| r.lcn.is_some())
            .map(|r| r.vcn.saturating_add(r.len))
            .max()
            .unwrap_or(0);
        let total = (mapped_end.min(self.boot.total_clusters).saturating_mul(cs)) / rs;
        let per_chunk = (MFT_CHUNK / rs).max(1);
        let mut buf = vec![0u8; (per_chunk * rs) as usize];
        // $MFT's data, from the runlist already read (record 0 itself may be unreadable).
        for r in self.mft.clone() {
            if let Some(lcn) = r.lcn {
                self.t
                    .add(Owner::File(0), TouchKind::Data, lcn * cs, r.len * cs);
            }
        }
        let mut first = 0u64;
        while first < total {
            cancel.check()?;
            let count = per_chunk.min(total - first);
            let len = count * rs;
            let whole = match self.mft_pieces(first * rs, len) {
                Some(p) if p.iter().all(|&(at, l)| !self.t.touches(at, l)) => {
                    let mut done = 0usize;
                    p.iter().all(|&(at, l)| {
                        let ok = self
                            .dev
                            .read_exact_at(&mut buf[done..done + l as usize], at)
                            .is_ok();
                        done += l as usize;
                        ok
                    })
                }
                _ => false,
            };
            for i in 0..count {
                let n = first + i;
                let Some(pieces) = self.mft_pieces(n * rs, rs) else {
                    self.t
                        .skip(format!("NTFS MFT record {n}: not mapped by $MFT's runlist"));
                    continue;
                };
                let rec = &mut buf[(i * rs) as usize..((i + 1) * rs) as usize];
                if pieces.iter().any(|&(at, l)| self.t.touches(at, l)) {
                    // Unreadable: its bytes are counted for it (whose file it was is unknown
                    // without reading it).
                    for &(at, l) in &pieces {
                        self.t.add(Owner::File(n), TouchKind::Metadata, at, l);
                    }
                    self.unread.insert(n);
                    continue;
                }
                if !whole {
                    let mut tmp = vec![0u8; rs as usize];
                    if !self.read_pieces(&pieces, &mut tmp, n) {
                        continue;
                    }
                    rec.copy_from_slice(&tmp);
                }
                let mut rec = rec.to_vec();
                self.record(n, &mut rec, &pieces);
            }
            first += count;
        }
        Ok(())
    }

    /// Maps one record: its bytes, its non-resident attributes, and the names worth keeping.
    fn record(&mut self, n: u64, rec: &mut [u8], pieces: &[(u64, u64)]) {
        if &rec[0..4] != b"FILE" {
            if &rec[0..4] == b"BAAD" {
                self.t
                    .skip(format!("NTFS MFT record {n}: marked BAAD (a torn write)"));
            }
            return;
        }
        let at = pieces.first().map_or(0, |p| p.0);
        let what = format!("NTFS MFT record {n}");
        if let Err(e) = apply_fixups(rec, at, &what) {
            self.t.skip(e.to_string());
            return;
        }
        let flags = le16(rec, 0x16);
        if flags & REC_IN_USE == 0 {
            return;
        }
        let base = le64(rec, 0x20) & REF_MASK;
        let owner = if base != 0 { base } else { n };
        for &(a, l) in pieces {
            self.t.add(Owner::File(owner), TouchKind::Metadata, a, l);
        }
        if base == 0 && flags & REC_DIRECTORY != 0 {
            self.dirs.insert(n, le16(rec, 0x10));
        }
        let attrs = match attributes(rec, at, &what) {
            Ok(a) => a,
            Err(e) => {
                self.t.skip(format!("{e}: its clusters are not known"));
                return;
            }
        };
        let cs = self.boot.cluster_size;
        for a in &attrs {
            let bytes = &rec[a.start..a.start + a.len];
            if bytes[8] == 0 {
                continue;
            }
            let runs = match nonresident_runs(bytes, &self.boot, at + a.start as u64) {
                Ok(r) => r,
                Err(e) => {
                    self.t
                        .skip(format!("{e}: part of record {n}'s clusters are not known"));
                    continue;
                }
            };
            if owner == 0 && a.ty == ATTR_DATA && a.name_len == 0 {
                continue; // counted from the runlist in `records`
            }
            let kind = if a.ty == ATTR_DATA {
                TouchKind::Data
            } else {
                TouchKind::Metadata
            };
            for r in runs {
                if let Some(lcn) = r.lcn {
                    self.t.add(Owner::File(owner), kind, lcn * cs, r.len * cs);
                }
            }
        }
        if flags & REC_DIRECTORY != 0 || base != 0 || n < FIRST_USER_RECORD {
            let found = file_names(rec);
            if !found.is_empty() {
                let v = self.names.entry(owner).or_default();
                for f in found {
                    if v.len() < MAX_NAMES * 2 {
                        v.push(f);
                    }
                }
            }
        }
    }
}

//! Reading files of an NTFS volume without mounting it: MFT records through `$MFT`'s runlist
//! (update sequences checked), directories from their `$I30` index (root and allocation
//! blocks), times and attributes from `$STANDARD_INFORMATION`, a file's unnamed `$DATA`
//! resident or through its runlist (sparse runs and bytes past the initialised size read as
//! zeros), gathered from extension records through the attribute list when it does not fit
//! in one; compressed files (LZNT1) decoded a compression unit at a time. Hard links are one
//! record under several names.
//!
//! Must not: write, or pretend to read what it cannot: encrypted (EFS) files, reparse points
//! and compression units of unusual sizes are refused by name. Never allocates by on-disk sizes beyond a record or an index
//! block (both bounded by the boot sector's checks).

use super::lznt1;
use super::ntfs::{attributes, data_runs, read_attr, read_record, Boot, Run, ATTR_DATA};
use super::ntfs_files::{
    dir_index, mft_runs, nonresident_runs, read_boot, resident, FileName, ATTR_ATTRIBUTE_LIST,
    FIRST_USER_RECORD, NAMESPACE_DOS, REC_DIRECTORY, REC_IN_USE, REF_MASK, ROOT,
};
use super::reader::{nt_time, Entry, EntryKind, FileData, Piece, MAX_DIR_ENTRIES};
use super::{le16, le32, le64, FsKind, FsReader, Tally};
use crate::device::ReadAt;
use crate::error::{Error, Result};
use crate::extent::ExtentList;
use std::collections::HashMap;
use std::sync::Mutex;

const ATTR_STANDARD_INFORMATION: u32 = 0x10;
/// Largest compression unit read (64 KiB is what NTFS uses).
const MAX_UNIT_BYTES: u64 = 1 << 20;
/// Largest attribute list read (lists are a few KiB even for very fragmented files).
const MAX_LIST_BYTES: u64 = 4 << 20;
/// `$DATA` attribute flags.
const DATA_COMPRESSED: u16 = 0x0001;
const DATA_ENCRYPTED: u16 = 0x4000;
/// File attribute bits in `$STANDARD_INFORMATION`.
const FILE_REPARSE_POINT: u32 = 0x400;
const FILE_ENCRYPTED: u32 = 0x4000;

pub(super) struct NtfsReader<'a> {
    dev: &'a dyn ReadAt,
    boot: Boot,
    mft: Vec<Run>,
    /// Records `$MFT`'s data holds.
    records: u64,
}

pub(super) fn open(dev: &dyn ReadAt) -> Result<Option<NtfsReader<'_>>> {
    if dev.size() < 512 || dev.read_vec(3, 8)? != b"NTFS    " {
        return Ok(None);
    }
    // The boot sector or its backup, and $MFT's runlist including the parts its attribute
    // list puts in extension records: the same reading as naming damaged files, with
    // nothing excluded.
    let none = ExtentList::new();
    let boot = read_boot(dev, &none)?;
    let mut t = Tally::new(&none);
    let mft = mft_runs(dev, &boot, &mut t);
    let notes = t.finish(0, |_| None).skipped;
    let Some(mft) = mft.filter(|_| notes.is_empty()) else {
        return Err(Error::corrupt(
            "NTFS $MFT",
            boot.mft_lcn * boot.cluster_size,
            notes.join("; "),
        ));
    };
    let size = mft
        .iter()
        .map(|r| r.vcn.saturating_add(r.len))
        .max()
        .unwrap_or(0)
        .saturating_mul(boot.cluster_size);
    let records = size / boot.record_size;
    Ok(Some(NtfsReader {
        dev,
        boot,
        mft,
        records,
    }))
}

/// What a record says of its unnamed `$DATA`: resident bytes, or a non-resident attribute's
/// runs with its sizes; with the attribute's flags.
enum Data {
    Resident(Vec<u8>),
    Runs {
        runs: Vec<Run>,
        size: u64,
        init: u64,
        /// Clusters per compression unit (0: not compressed).
        unit: u64,
    },
    None,
}

impl NtfsReader<'_> {
    fn record(&self, n: u64) -> Result<Vec<u8>> {
        if n >= self.records {
            return Err(Error::corrupt(
                "NTFS index entry",
                0,
                format!("MFT record {n} past the MFT's {} records", self.records),
            ));
        }
        read_record(self.dev, &self.boot, &self.mft, n)
    }

    /// The unnamed `$DATA` of a fixed-up record, and its flags.
    fn data(&self, n: u64, rec: &[u8]) -> Result<(Data, u16)> {
        let what = format!("NTFS MFT record {n}");
        let attrs = attributes(rec, 0, &what)?;
        if let Some(a) = attrs.iter().find(|a| a.ty == ATTR_ATTRIBUTE_LIST) {
            let b = &rec[a.start..a.start + a.len];
            let list = if b[8] == 0 {
                resident(b).map(<[u8]>::to_vec).unwrap_or_default()
            } else {
                self.nonresident_value(b, &what)?
            };
            if let Some(d) = self.listed_data(n, &list)? {
                return Ok(d);
            }
        }
        for a in &attrs {
            let b = &rec[a.start..a.start + a.len];
            if a.ty != ATTR_DATA || a.name_len != 0 {
                continue;
            }
            let flags = le16(b, 0x0C);
            if b[8] == 0 {
                let v = resident(b).map(<[u8]>::to_vec).ok_or_else(|| {
                    Error::corrupt(&what, a.start as u64, "resident $DATA past its attribute")
                })?;
                return Ok((Data::Resident(v), flags));
            }
            if flags & DATA_ENCRYPTED != 0 {
                return Ok((Data::None, flags));
            }
            let (runs, size, init) = data_runs(rec, &self.boot, 0, &what)?;
            let unit = self.unit(b, flags);
            return Ok((
                Data::Runs {
                    runs,
                    size,
                    init,
                    unit,
                },
                flags,
            ));
        }
        Ok((Data::None, 0))
    }

    /// The whole value of a small non-resident attribute (an attribute list).
    fn nonresident_value(&self, a: &[u8], what: &str) -> Result<Vec<u8>> {
        let size = le64(a, 0x30);
        if size > MAX_LIST_BYTES {
            return Err(Error::corrupt(
                what,
                0,
                format!("attribute list of {size} bytes (at most {MAX_LIST_BYTES})"),
            ));
        }
        let runs = nonresident_runs(a, &self.boot, 0)?;
        let mut buf = vec![0u8; size as usize];
        read_attr(self.dev, &self.boot, &runs, 0, &mut buf, what)?;
        Ok(buf)
    }

    /// The unnamed `$DATA` of a file with an attribute list: every piece of it, from the
    /// records the list names (its sizes and flags are in the piece starting at VCN 0).
    /// None when the list names no unnamed `$DATA` (it is then in the base record alone).
    fn listed_data(&self, n: u64, list: &[u8]) -> Result<Option<(Data, u16)>> {
        let what = format!("NTFS MFT record {n} attribute list");
        let mut recs: Vec<u64> = Vec::new();
        let mut pos = 0usize;
        // Each entry is at least 26 bytes: bounded by the list's length.
        while pos + 0x1A <= list.len() {
            let len = usize::from(le16(list, pos + 4));
            if len < 0x1A {
                return Err(Error::corrupt(
                    &what,
                    pos as u64,
                    format!("entry of {len} bytes"),
                ));
            }
            if le32(list, pos) == ATTR_DATA && list[pos + 6] == 0 {
                let r = le64(list, pos + 0x10) & REF_MASK;
                if !recs.contains(&r) {
                    recs.push(r);
                }
            }
            pos += len;
        }
        if recs.is_empty() {
            return Ok(None);
        }
        let (mut runs, mut sizes, mut flags) = (Vec::new(), None, 0u16);
        for r in recs {
            let rec = if r == n {
                self.record(n)?
            } else {
                let rec = self.record(r)?;
                if le64(&rec, 0x20) & REF_MASK != n {
                    return Err(Error::corrupt(
                        &what,
                        0,
                        format!("names MFT record {r}, which belongs to another file"),
                    ));
                }
                rec
            };
            let rwhat = format!("NTFS MFT record {r}");
            for a in attributes(&rec, 0, &rwhat)? {
                let b = &rec[a.start..a.start + a.len];
                if a.ty != ATTR_DATA || a.name_len != 0 {
                    continue;
                }
                if b[8] == 0 {
                    // Resident data has no other pieces.
                    let v = resident(b).map(<[u8]>::to_vec).unwrap_or_default();
                    return Ok(Some((Data::Resident(v), le16(b, 0x0C))));
                }
                if le64(b, 0x10) == 0 {
                    flags = le16(b, 0x0C);
                    sizes = Some((le64(b, 0x30), le64(b, 0x38), self.unit(b, flags)));
                }
                runs.extend(nonresident_runs(b, &self.boot, 0)?);
            }
        }
        let Some((size, init, unit)) = sizes else {
            return Err(Error::corrupt(
                &what,
                0,
                "no piece of $DATA starts at VCN 0",
            ));
        };
        if flags & DATA_ENCRYPTED != 0 {
            return Ok(Some((Data::None, flags)));
        }
        runs.sort_by_key(|r| r.vcn);
        Ok(Some((
            Data::Runs {
                runs,
                size,
                init,
                unit,
            },
            flags,
        )))
    }

    /// Clusters per compression unit of a non-resident attribute `b` with `flags`: 0 when it
    /// is not compressed; `u64::MAX` when compressed in units we do not read (only 4 KiB
    /// clusters and 16-cluster units are what Windows and ntfs-3g write).
    fn unit(&self, b: &[u8], flags: u16) -> u64 {
        if flags & DATA_COMPRESSED == 0 {
            return 0;
        }
        let log = u32::from(b[0x22]);
        if log == 0 || log > 8 || (self.boot.cluster_size << log) > MAX_UNIT_BYTES {
            return u64::MAX;
        }
        1 << log
    }

    fn entry(&self, n: u64, name: &FileName, rec: &[u8]) -> Result<Entry> {
        let flags = le16(rec, 0x16);
        let si = attributes(rec, 0, "")
            .ok()
            .and_then(|v| v.into_iter().find(|a| a.ty == ATTR_STANDARD_INFORMATION))
            .and_then(|a| {
                let b = &rec[a.start..a.start + a.len];
                let voff = usize::from(le16(b, 0x14));
                (b[8] == 0).then(|| b.get(voff..).unwrap_or(&[]).to_vec())
            })
            .unwrap_or_default();
        let attrs = le32(&si, 0x20);
        let is_dir = flags & REC_DIRECTORY != 0;
        let mut unsupported = None;
        let mut size = 0;
        let kind = if attrs & FILE_REPARSE_POINT != 0 {
            unsupported = Some(format!(
                "NTFS reparse point (symlink or junction), MFT record {n}: not supported"
            ));
            EntryKind::Other
        } else if is_dir {
            EntryKind::Dir
        } else {
            EntryKind::File
        };
        if kind == EntryKind::File {
            let (data, dflags) = self.data(n, rec)?;
            size = match &data {
                Data::Resident(v) => v.len() as u64,
                Data::Runs { size, .. } => *size,
                _ => 0,
            };
            if matches!(data, Data::Runs { unit: u64::MAX, .. }) {
                unsupported = Some(format!(
                    "compressed NTFS file (LZNT1) in compression units of an unusual size, MFT record {n}: not supported"
                ));
            } else if dflags & DATA_ENCRYPTED != 0 || attrs & FILE_ENCRYPTED != 0 {
                unsupported = Some(format!(
                    "encrypted NTFS file (EFS), MFT record {n}: not supported"
                ));
            }
            if unsupported.is_some() && matches!(data, Data::None) {
                // The size the directory index keeps, for the listing.
                size = 0;
            }
        }
        Ok(Entry {
            name: name.name.clone().into_bytes(),
            id: n,
            kind,
            size,
            mtime: nt_time(le64(&si, 0x08)),
            atime: nt_time(le64(&si, 0x18)),
            ctime: nt_time(le64(&si, 0x10)),
            mode: None,
            uid: None,
            gid: None,
            nlink: u32::from(le16(rec, 0x12)),
            target: None,
            unsupported,
        })
    }
}

impl FsReader for NtfsReader<'_> {
    fn kind(&self) -> FsKind {
        FsKind::Ntfs
    }

    fn root(&self) -> Result<Entry> {
        let rec = self.record(ROOT)?;
        let name = FileName {
            parent: ROOT,
            parent_seq: 0,
            namespace: 0,
            name: String::new(),
        };
        self.entry(ROOT, &name, &rec)
    }

    fn list(&self, dir: &Entry) -> Result<Vec<Entry>> {
        let rec = self.record(dir.id)?;
        if le16(&rec, 0x16) & REC_DIRECTORY == 0 {
            return Err(Error::Invalid(format!(
                "NTFS MFT record {}: not a directory",
                dir.id
            )));
        }
        let mut found = Vec::new();
        let mut failed: Option<Error> = None;
        let notes = dir_index(
            &rec,
            &self.boot,
            &mut |buf, at| match self.dev.read_exact_at(buf, at) {
                Ok(()) => true,
                Err(e) => {
                    failed.get_or_insert(e);
                    false
                }
            },
            &mut found,
        );
        if let Some(e) = failed {
            return Err(e);
        }
        if let Some(n) = notes.first() {
            return Err(Error::corrupt(
                format!("NTFS directory MFT record {}", dir.id),
                0,
                n.clone(),
            ));
        }
        // One entry per (record, name): DOS 8.3 aliases only where a record has no other name
        // in this directory.
        let mut by_rec: HashMap<u64, Vec<FileName>> = HashMap::new();
        let mut order = Vec::new();
        for (r, f) in found {
            if r < FIRST_USER_RECORD || r == dir.id || f.parent != dir.id {
                continue; // the volume's own files, and "." of the root
            }
            let v = by_rec.entry(r).or_insert_with(|| {
                order.push(r);
                Vec::new()
            });
            if !v.iter().any(|x| x.name == f.name) {
                v.push(f);
            }
        }
        let mut out = Vec::new();
        for r in order.into_iter().take(MAX_DIR_ENTRIES) {
            let names = by_rec.remove(&r).unwrap_or_default();
            let long: Vec<&FileName> = names
                .iter()
                .filter(|f| f.namespace != NAMESPACE_DOS)
                .collect();
            let chosen: Vec<&FileName> = if long.is_empty() {
                names.iter().take(1).collect()
            } else {
                long
            };
            let child = self.record(r)?;
            if le16(&child, 0x16) & REC_IN_USE == 0 {
                continue; // a stale index entry
            }
            for f in chosen {
                out.push(self.entry(r, f, &child)?);
            }
        }
        Ok(out)
    }

    fn open(&self, file: &Entry) -> Result<FileData<'_>> {
        if let Some(u) = &file.unsupported {
            return Err(Error::Unsupported(u.clone()));
        }
        if file.kind != EntryKind::File {
            return Err(Error::Invalid(format!(
                "NTFS MFT record {}: not a regular file",
                file.id
            )));
        }
        let rec = self.record(file.id)?;
        let what = format!("NTFS MFT record {} $DATA", file.id);
        match self.data(file.id, &rec)?.0 {
            Data::Resident(v) => {
                let n = v.len() as u64;
                Ok(FileData::inline(self.dev, v, n, what))
            }
            Data::Runs {
                runs,
                size,
                init,
                unit,
            } if unit > 0 => {
                let r = Compressed {
                    dev: self.dev,
                    cs: self.boot.cluster_size,
                    runs,
                    size,
                    init: init.min(size),
                    unit,
                    cache: Mutex::new(None),
                    what: what.clone(),
                };
                Ok(FileData::decoded(self.dev, Box::new(r), what))
            }
            Data::Runs {
                runs, size, init, ..
            } => {
                let cs = self.boot.cluster_size;
                let init = init.min(size);
                let mut pieces = Vec::new();
                for r in runs {
                    let Some(lcn) = r.lcn else { continue };
                    let logical = r.vcn.saturating_mul(cs);
                    if logical >= init {
                        continue; // past the initialised size: zeros
                    }
                    pieces.push(Piece {
                        logical,
                        len: r.len.saturating_mul(cs).min(init - logical),
                        phys: lcn * cs,
                    });
                }
                FileData::mapped(self.dev, size, pieces, what)
            }
            Data::None => Err(Error::Unsupported(format!(
                "NTFS MFT record {} has no readable unnamed $DATA",
                file.id
            ))),
        }
    }
}

/// An LZNT1-compressed file: each compression unit is either all sparse (zeros), fully
/// allocated (stored plain), or compressed into its allocated clusters, the rest sparse.
struct Compressed<'a> {
    dev: &'a dyn ReadAt,
    cs: u64,
    runs: Vec<Run>,
    size: u64,
    init: u64,
    /// Clusters per unit.
    unit: u64,
    /// The last unit decoded: sequential reads decode each once.
    cache: Mutex<Option<(u64, Vec<u8>)>>,
    what: String,
}

impl Compressed<'_> {
    fn lcn(&self, vcn: u64) -> Option<u64> {
        let i = self
            .runs
            .partition_point(|r| r.vcn.saturating_add(r.len) <= vcn);
        let r = self.runs.get(i).filter(|r| r.vcn <= vcn)?;
        r.lcn.map(|l| l + (vcn - r.vcn))
    }

    /// Unit `u`'s bytes.
    fn decode(&self, u: u64) -> Result<Vec<u8>> {
        let cs = self.cs;
        let ub = (self.unit * cs) as usize;
        let mut out = vec![0u8; ub];
        let first = u * self.unit;
        let lcns: Vec<Option<u64>> = (first..first + self.unit).map(|v| self.lcn(v)).collect();
        let stored: Vec<u64> = lcns.iter().flatten().copied().collect();
        if stored.is_empty() {
            return Ok(out);
        }
        let mut raw = vec![0u8; stored.len() * cs as usize];
        for (k, l) in stored.iter().enumerate() {
            let c = &mut raw[k * cs as usize..(k + 1) * cs as usize];
            self.dev.read_exact_at(c, l * cs)?;
        }
        if stored.len() as u64 == self.unit {
            return Ok(raw); // not compressed: it would not have saved a cluster
        }
        let at = stored[0] * cs;
        lznt1::decompress(&raw, &mut out, at).map_err(|e| match e {
            Error::Corrupt { detail, .. } => Error::corrupt(&self.what, u * ub as u64, detail),
            e => e,
        })?;
        Ok(out)
    }
}

impl ReadAt for Compressed<'_> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let ub = self.unit * self.cs;
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let n = ((ub - pos % ub) as usize).min(buf.len() - done);
            let piece = &mut buf[done..done + n];
            if pos >= self.init {
                piece.fill(0);
            } else {
                let u = pos / ub;
                let mut cache = self
                    .cache
                    .lock()
                    .map_err(|_| Error::Invalid("NTFS decompression cache poisoned".into()))?;
                if cache.as_ref().is_none_or(|c| c.0 != u) {
                    *cache = Some((u, self.decode(u)?));
                }
                let data = cache.as_ref().map(|c| c.1.as_slice()).unwrap_or(&[]);
                let s = (pos % ub) as usize;
                piece.copy_from_slice(&data[s..s + n]);
                // Bytes past the initialised size read as zeros.
                let valid = self.init.saturating_sub(pos).min(n as u64) as usize;
                piece[valid..].fill(0);
            }
            done += n;
        }
        Ok(())
    }

    fn size(&self) -> u64 {
        self.size
    }
}

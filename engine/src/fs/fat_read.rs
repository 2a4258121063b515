//! Reading files of a FAT12/16/32 volume without mounting it: directory entries with their
//! long (VFAT) names checked against the short entry's checksum, files and directories as
//! cluster chains through the active FAT, the fixed root directory of FAT12/16.
//!
//! Must not: write, loop on a damaged FAT (a chain is cut at the number of clusters the volume
//! has, or at the file's size), read outside the volume, or allocate by on-disk sizes (the FAT
//! is read a page at a time through a bounded cache).

use super::fat::{parse_bpb, Bpb};
use super::reader::{Entry, EntryKind, FileData, Piece, Time, MAX_DIR_ENTRIES};
use super::{le16, le32, FsKind, FsReader};
use crate::device::ReadAt;
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::Mutex;

const ATTR_VOLUME: u8 = 0x08;
const ATTR_DIR: u8 = 0x10;
const ATTR_LFN: u8 = 0x0F;
/// FAT bytes read and kept at once, and how many such pages are kept.
const FAT_PAGE: u64 = 64 << 10;
const FAT_PAGES_KEPT: usize = 64;
/// Bytes of a directory read for a listing (FAT directories hold at most 65536 entries).
const MAX_DIR_BYTES: u64 = 65536 * 32;

pub(super) struct FatReader<'a> {
    dev: &'a dyn ReadAt,
    p: Bpb,
    root_cluster: u64,
    fat_off: u64,
    pages: Mutex<HashMap<u64, Vec<u8>>>,
}

pub(super) fn open(dev: &dyn ReadAt) -> Result<Option<FatReader<'_>>> {
    if dev.size() < 512 {
        return Ok(None);
    }
    let boot = dev.read_vec(0, 512)?;
    let Some(p) = parse_bpb(&boot, dev.size())? else {
        return Ok(None);
    };
    let fat_off = (p.reserved_sectors + p.active_fat * p.fat_sectors) * p.bytes_per_sector;
    Ok(Some(FatReader {
        dev,
        root_cluster: u64::from(le32(&boot, 0x2C)),
        fat_off,
        p,
        pages: Mutex::new(HashMap::new()),
    }))
}

/// A DOS date and time (local time, taken as UTC: FAT keeps no zone).
fn dos_time(date: u16, time: u16, hundredths: u8) -> Option<Time> {
    if date == 0 {
        return None;
    }
    let (y, m, d) = (
        i64::from(date >> 9) + 1980,
        i64::from((date >> 5) & 0xF).clamp(1, 12),
        i64::from(date & 0x1F).clamp(1, 31),
    );
    // Days from 1970-01-01 to y-m-d (proleptic Gregorian; "days from civil").
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = i64::from(time >> 11) * 3600
        + i64::from((time >> 5) & 0x3F) * 60
        + i64::from(time & 0x1F) * 2
        + i64::from(hundredths / 100);
    Some(Time {
        secs: days * 86400 + secs,
        nsecs: u32::from(hundredths % 100) * 10_000_000,
    })
}

/// The checksum of an 11-byte short name that its long-name entries carry.
fn lfn_checksum(short: &[u8]) -> u8 {
    short
        .iter()
        .fold(0u8, |s, &c| (s >> 1 | (s & 1) << 7).wrapping_add(c))
}

/// The 8.3 name, lower-cased as the NT flags in byte 0x0C ask.
fn short_name(e: &[u8]) -> Vec<u8> {
    let mut base: Vec<u8> = e[0..8].to_vec();
    if base[0] == 0x05 {
        base[0] = 0xE5; // a real 0xE5 first byte, escaped
    }
    let trim = |v: &[u8]| -> Vec<u8> {
        let end = v.iter().rposition(|&c| c != b' ').map_or(0, |p| p + 1);
        v[..end].to_vec()
    };
    let mut base = trim(&base);
    let mut ext = trim(&e[8..11]);
    if e[0x0C] & 0x08 != 0 {
        base.make_ascii_lowercase();
    }
    if e[0x0C] & 0x10 != 0 {
        ext.make_ascii_lowercase();
    }
    // Bytes above 0x7F are in an OEM code page we do not know: kept as Latin-1.
    let text = |v: &[u8]| v.iter().map(|&c| char::from(c)).collect::<String>();
    let mut name = text(&base);
    if !ext.is_empty() {
        name.push('.');
        name.push_str(&text(&ext));
    }
    name.into_bytes()
}

impl FatReader<'_> {
    fn eoc(&self) -> u32 {
        match self.p.kind {
            FsKind::Fat12 => 0xFF8,
            FsKind::Fat16 => 0xFFF8,
            _ => 0x0FFF_FFF8,
        }
    }

    /// The FAT entry of cluster `n`.
    fn next(&self, n: u64) -> Result<u32> {
        let (byte, width) = match self.p.kind {
            FsKind::Fat12 => (n * 3 / 2, 2),
            FsKind::Fat16 => (n * 2, 2),
            _ => (n * 4, 4),
        };
        let page = byte / FAT_PAGE;
        let mut pages = self
            .pages
            .lock()
            .map_err(|_| Error::Invalid("FAT cache poisoned".into()))?;
        if !pages.contains_key(&page) {
            if pages.len() >= FAT_PAGES_KEPT {
                pages.clear();
            }
            let fat_len = self.p.fat_sectors * self.p.bytes_per_sector;
            let start = page * FAT_PAGE;
            // One extra byte: a FAT12 entry may straddle two pages.
            let len = (FAT_PAGE + 4).min(fat_len.saturating_sub(start));
            let b = self.dev.read_vec(self.fat_off + start, len as usize)?;
            pages.insert(page, b);
        }
        let b = pages.get(&page).map(Vec::as_slice).unwrap_or(&[]);
        let off = (byte - page * FAT_PAGE) as usize;
        Ok(match (self.p.kind, width) {
            (FsKind::Fat12, _) => {
                let pair = le16(b, off);
                u32::from(if n.is_multiple_of(2) {
                    pair & 0x0FFF
                } else {
                    pair >> 4
                })
            }
            (_, 2) => u32::from(le16(b, off)),
            _ => le32(b, off) & 0x0FFF_FFFF,
        })
    }

    fn cluster_at(&self, c: u64) -> u64 {
        self.p.data_start() + (c - 2) * self.p.cluster_size
    }

    /// The pieces of the chain from `first`, cut at `limit` bytes. With `exact` (a file of
    /// `limit` bytes) a chain ending sooner is corrupt; without (a directory) a chain longer
    /// than `limit` is.
    fn chain(&self, first: u64, limit: u64, exact: bool, what: &str) -> Result<Vec<Piece>> {
        let cs = self.p.cluster_size;
        let mut out: Vec<Piece> = Vec::new();
        let mut c = first;
        let mut logical = 0u64;
        // A chain longer than the volume has clusters loops.
        for _ in 0..=self.p.clusters {
            if logical >= limit {
                if exact {
                    return Ok(out);
                }
                return Err(Error::corrupt(
                    what,
                    logical,
                    format!("directory longer than {limit} bytes"),
                ));
            }
            if c < 2 || c >= self.p.clusters + 2 {
                return Err(Error::corrupt(
                    what,
                    logical,
                    format!(
                        "cluster {c} outside the volume's {} clusters",
                        self.p.clusters
                    ),
                ));
            }
            let phys = self.cluster_at(c);
            match out.last_mut() {
                Some(p) if p.phys + p.len == phys => p.len += cs,
                _ => out.push(Piece {
                    logical,
                    len: cs,
                    phys,
                }),
            }
            logical += cs;
            let n = self.next(c)?;
            if n >= self.eoc() {
                if exact && logical < limit {
                    return Err(Error::corrupt(
                        what,
                        logical,
                        "cluster chain ends before the file's size",
                    ));
                }
                return Ok(out);
            }
            c = u64::from(n);
        }
        Err(Error::corrupt(what, logical, "cluster chain loops"))
    }

    fn first_cluster(&self, e: &[u8]) -> u64 {
        let hi = if self.p.kind == FsKind::Fat32 {
            u64::from(le16(e, 0x14)) << 16
        } else {
            0
        };
        hi | u64::from(le16(e, 0x1A))
    }

    /// A directory's bytes: the fixed FAT12/16 root (id 0), or a cluster chain.
    fn dir_bytes(&self, id: u64) -> Result<Vec<u8>> {
        if id == 0 && self.p.kind != FsKind::Fat32 {
            let at = (self.p.reserved_sectors + self.p.fats * self.p.fat_sectors)
                * self.p.bytes_per_sector;
            let len = self.p.root_dir_sectors * self.p.bytes_per_sector;
            return self.dev.read_vec(at, len as usize);
        }
        let first = if id == 0 { self.root_cluster } else { id };
        let what = format!("FAT directory at cluster {first}");
        let pieces = self.chain(first, MAX_DIR_BYTES, false, &what)?;
        let total: u64 = pieces.iter().map(|p| p.len).sum();
        let data = FileData::mapped(self.dev, total, pieces, what)?;
        data.read_vec(0, total as usize)
    }
}

impl FsReader for FatReader<'_> {
    fn kind(&self) -> FsKind {
        self.p.kind
    }

    fn root(&self) -> Result<Entry> {
        Ok(Entry {
            name: Vec::new(),
            id: 0,
            kind: EntryKind::Dir,
            size: 0,
            mtime: None,
            atime: None,
            ctime: None,
            mode: None,
            uid: None,
            gid: None,
            nlink: 1,
            target: None,
            unsupported: None,
        })
    }

    fn list(&self, dir: &Entry) -> Result<Vec<Entry>> {
        let b = self.dir_bytes(dir.id)?;
        let mut out = Vec::new();
        // Long-name pieces gathered before their short entry: (checksum, UTF-16 units by
        // sequence number).
        let mut lfn: Option<(u8, Vec<Option<Vec<u16>>>)> = None;
        for e in b.chunks_exact(32) {
            if e[0] == 0 {
                break;
            }
            if e[0] == 0xE5 {
                lfn = None;
                continue;
            }
            let attr = e[0x0B];
            if attr & 0x3F == ATTR_LFN {
                let seq = usize::from(e[0] & 0x1F);
                if seq == 0 {
                    lfn = None;
                    continue;
                }
                if e[0] & 0x40 != 0 {
                    lfn = Some((e[13], vec![None; seq]));
                }
                if let Some((sum, parts)) = &mut lfn {
                    if *sum != e[13] || seq > parts.len() {
                        lfn = None;
                        continue;
                    }
                    let units: Vec<u16> = [(1usize, 5usize), (14, 6), (28, 2)]
                        .iter()
                        .flat_map(|&(o, n)| (0..n).map(move |k| le16(e, o + 2 * k)))
                        .collect();
                    parts[seq - 1] = Some(units);
                }
                continue;
            }
            let long = lfn.take();
            if attr & ATTR_VOLUME != 0 {
                continue;
            }
            let short = short_name(e);
            if short == b"." || short == b".." {
                continue;
            }
            let name = match long {
                Some((sum, parts))
                    if sum == lfn_checksum(&e[0..11]) && parts.iter().all(Option::is_some) =>
                {
                    let units: Vec<u16> = parts
                        .into_iter()
                        .flatten()
                        .flatten()
                        .take_while(|&u| u != 0)
                        .collect();
                    String::from_utf16_lossy(&units).into_bytes()
                }
                _ => short,
            };
            let is_dir = attr & ATTR_DIR != 0;
            let mut first = self.first_cluster(e);
            if is_dir && self.p.kind == FsKind::Fat32 && first == self.root_cluster {
                // The root by its cluster: one id for it (0), so a loop back to it is seen.
                first = 0;
            }
            let mtime = dos_time(le16(e, 0x18), le16(e, 0x16), 0);
            out.push(Entry {
                name,
                id: first,
                kind: if is_dir {
                    EntryKind::Dir
                } else {
                    EntryKind::File
                },
                size: if is_dir { 0 } else { u64::from(le32(e, 0x1C)) },
                mtime,
                atime: dos_time(le16(e, 0x12), 0, 0),
                ctime: dos_time(le16(e, 0x10), le16(e, 0x0E), e[0x0D]),
                mode: None,
                uid: None,
                gid: None,
                nlink: 1,
                target: None,
                unsupported: None,
            });
            if out.len() >= MAX_DIR_ENTRIES {
                break;
            }
        }
        Ok(out)
    }

    fn open(&self, file: &Entry) -> Result<FileData<'_>> {
        if file.kind != EntryKind::File {
            return Err(Error::Invalid("not a regular file".into()));
        }
        let what = format!("FAT file at cluster {}", file.id);
        if file.size == 0 {
            return FileData::mapped(self.dev, 0, Vec::new(), what);
        }
        let pieces = self.chain(file.id, file.size, true, &what)?;
        FileData::mapped(self.dev, file.size, pieces, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_dates() {
        // 2024-02-29 13:45:58
        let date = ((2024 - 1980) << 9) | (2 << 5) | 29;
        let time = (13 << 11) | (45 << 5) | 29;
        assert_eq!(dos_time(date, time, 0).map(|t| t.secs), Some(1_709_214_358));
    }
}

//! FAT16/FAT32 resizing, our own: Debian's fatresize (libparted) aborts on a filesystem that
//! is not inside a partition table — on an image file and on a loop device alike ("Assertion
//! (disk != NULL) at libparted/disk.c:1620", fatresize 1.1.0) — which is exactly what a restore
//! gives it.
//!
//! Shrink: every allocated cluster at or beyond the new cluster count moves to a free cluster
//! below it; FAT chains, directory entries (start clusters, `.` and `..`) and the FAT32 root
//! cluster follow; then the boot sector(s) get the new total sectors and FSInfo the new free
//! count. Grow: the total sectors rise as far as the existing FAT can describe clusters. The
//! FAT keeps its size both ways (a FAT larger than its volume needs is legal).
//!
//! Must not: change the FAT type (a cluster count crossing 4085 or 65525 would make other
//! systems read the volume as another type), resize FAT12, or write anything before every
//! check has passed. Writes go data copies first (into free clusters: the old volume stays
//! consistent), then the FATs, directories and boot sectors; a crash in between leaves a
//! volume for fsck, which is why this runs only on a restore's target copy.

use super::Ability;
use crate::device::{Device, ReadAt};
use crate::error::{Error, Result};
use crate::fs::fat::{parse_bpb, Bpb};
use crate::fs::FsKind;
use crate::plan::FsSummary;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// Microsoft's cluster-count bounds of FAT16 (a volume with fewer is FAT12, more is FAT32).
const FAT16_MIN: u64 = 4085;
const FAT16_MAX: u64 = 65524;
/// FAT32's least cluster count, and the most its 28-bit entries can number.
const FAT32_MIN: u64 = 65525;
const FAT32_MAX: u64 = 0x0FFF_FFF5 - 2;

/// The cluster-count range a volume of `kind` with `count` clusters must stay in. A FAT32
/// made below 65525 clusters (mkfs.vfat -F 32 allows it) stays below it: no type change.
fn range(kind: FsKind, count: u64) -> (u64, u64) {
    match kind {
        FsKind::Fat16 => (FAT16_MIN, FAT16_MAX),
        _ if count < FAT32_MIN => (FAT16_MIN, FAT16_MAX),
        _ => (FAT32_MIN, FAT32_MAX),
    }
}

/// Plan-time ability; `estimate` is used + headroom. Without the boot sector the FAT's room is
/// unknown, so growing is not offered.
pub(super) fn ability(fs: &FsSummary, estimate: u64, boot: Option<&[u8]>) -> Ability {
    let tool = "wraith (FAT)";
    let Some(p) = boot.and_then(|b| parse_bpb(b, u64::MAX).ok().flatten()) else {
        let min = estimate.min(fs.size);
        return Ability {
            tool,
            min_size: Some(min),
            no_shrink: (estimate >= fs.size).then(|| "its data and headroom fill it".into()),
            no_grow: Some(
                "how far a FAT volume can grow depends on its table's size: the boot sector is needed"
                    .into(),
            ),
            max_size: Some(fs.size),
        };
    };
    let (lo, hi) = limits(&p);
    let min = estimate.max(lo).min(fs.size);
    Ability {
        tool,
        min_size: Some(min),
        no_shrink: (min >= fs.size).then(|| {
            format!(
                "its data and headroom, or the least clusters of {}, need all of its {}",
                p.kind.name(),
                crate::human_bytes(fs.size)
            )
        }),
        no_grow: (hi <= fs.size).then(|| {
            "its allocation table describes no more clusters than it has (growing further would need a larger FAT)".into()
        }),
        max_size: Some(hi.max(fs.size)),
    }
}

/// Byte sizes (whole MiB, inside) between which the volume keeps its FAT type and fits its FAT.
fn limits(p: &Bpb) -> (u64, u64) {
    let (lo_c, hi_c) = range(p.kind, p.clusters);
    let hi_c = hi_c.min(fat_capacity(p));
    let meta = p.data_start();
    let lo = (meta + lo_c * p.cluster_size).div_ceil(super::MIB) * super::MIB;
    let hi = (meta + hi_c * p.cluster_size) / super::MIB * super::MIB;
    (lo, hi.min(u64::from(u32::MAX) * p.bytes_per_sector))
}

/// Data clusters the FAT's entries can describe (entries 0 and 1 are reserved).
fn fat_capacity(p: &Bpb) -> u64 {
    let width = if p.kind == FsKind::Fat16 { 2 } else { 4 };
    (p.fat_sectors * p.bytes_per_sector / width).saturating_sub(2)
}

/// The FAT in memory, as 32-bit values (FAT32's reserved top bits kept).
struct Table {
    kind: FsKind,
    entries: Vec<u32>,
}

impl Table {
    fn eoc_or_bad(&self, v: u32) -> bool {
        match self.kind {
            FsKind::Fat16 => v >= 0xFFF7,
            _ => v & 0x0FFF_FFFF >= 0x0FFF_FFF7,
        }
    }
    fn next(&self, v: u32) -> u32 {
        if self.kind == FsKind::Fat16 {
            v
        } else {
            v & 0x0FFF_FFFF
        }
    }
    fn is_bad(&self, v: u32) -> bool {
        match self.kind {
            FsKind::Fat16 => v == 0xFFF7,
            _ => v & 0x0FFF_FFFF == 0x0FFF_FFF7,
        }
    }
}

/// Resizes the FAT16/32 volume at offset 0 of `dev` to `new_size` bytes, rounded down to whole
/// sectors (the sector count may end inside a cluster: the partial cluster is simply unused).
pub fn resize(dev: &Path, new_size: u64, log: &mut dyn FnMut(&str)) -> Result<()> {
    let d = Device::open_write(dev)?;
    let boot = d.read_vec(0, 512)?;
    let p = parse_bpb(&boot, d.size())?
        .ok_or_else(|| Error::Invalid(format!("{}: not a FAT volume", dev.display())))?;
    if p.kind == FsKind::Fat12 {
        return Err(Error::Unsupported("resizing FAT12".into()));
    }
    let bps = p.bytes_per_sector;
    let spc = p.cluster_size / bps;
    let meta_sectors = p.data_start() / bps;
    let new_total = new_size / bps;
    if new_total > u64::from(u32::MAX) {
        return Err(Error::Invalid(format!(
            "{new_size} bytes is more sectors than a FAT boot sector can count"
        )));
    }
    let new_count = new_total.saturating_sub(meta_sectors) / spc;
    let (lo, hi) = range(p.kind, p.clusters);
    if new_count < lo || new_count > hi {
        return Err(Error::Invalid(format!(
            "{} bytes would give {new_count} clusters; {} with {} clusters must keep {lo}..={hi} \
             or its FAT type would change",
            new_size,
            p.kind.name(),
            p.clusters
        )));
    }
    if new_count > fat_capacity(&p) {
        return Err(Error::Invalid(format!(
            "{new_size} bytes would give {new_count} clusters; the FAT describes at most {}",
            fat_capacity(&p)
        )));
    }
    log(&format!(
        "FAT: {} clusters of {} bytes -> {new_count}",
        p.clusters, p.cluster_size
    ));
    let mut t = read_fat(&d, &p)?;
    let old_count = p.clusters;
    let end = new_count + 2;

    // Shrink: plan every move before writing anything.
    let mut remap: HashMap<u32, u32> = HashMap::new();
    if new_count < old_count {
        let mut free = (2..end).filter(|&c| t.entries[c as usize] == 0);
        for c in end..old_count + 2 {
            let v = t.entries[c as usize];
            // A bad-cluster mark beyond the new end simply leaves the volume with it.
            if v == 0 || t.is_bad(v) {
                continue;
            }
            let to = free.next().ok_or_else(|| {
                Error::Invalid(format!(
                    "the files do not fit in {new_count} clusters ({new_size} bytes)"
                ))
            })?;
            remap.insert(c as u32, to as u32);
        }
        log(&format!("FAT: moving {} clusters", remap.len()));
        let cs = p.cluster_size as usize;
        let mut buf = vec![0u8; cs];
        let at = |c: u32| p.data_start() + (u64::from(c) - 2) * p.cluster_size;
        let mut moves: Vec<(u32, u32)> = remap.iter().map(|(&a, &b)| (a, b)).collect();
        moves.sort_unstable();
        for (from, to) in moves {
            d.read_exact_at(&mut buf, at(from))?;
            d.write_all_at(&buf, at(to))?;
        }
        // The new table: every entry at its new place, every pointer to a moved cluster
        // redirected.
        let mut entries = vec![0u32; t.entries.len()];
        entries[0] = t.entries[0];
        entries[1] = t.entries[1];
        for c in 2..old_count + 2 {
            let v = t.entries[c as usize];
            if v == 0 || (c >= end && t.is_bad(v)) {
                continue;
            }
            let dest = remap.get(&(c as u32)).copied().unwrap_or(c as u32);
            let nv = if t.eoc_or_bad(v) {
                v
            } else {
                let n = t.next(v);
                let m = remap.get(&n).copied().unwrap_or(n);
                // FAT32's top four bits are reserved: kept as they were.
                if t.kind == FsKind::Fat16 {
                    m
                } else {
                    (v & 0xF000_0000) | m
                }
            };
            entries[dest as usize] = nv;
        }
        t.entries = entries;
    }
    // Entries past the new end (after a shrink, or garbage a grow would bring in) are free.
    for e in t.entries.iter_mut().skip(end as usize) {
        *e = 0;
    }
    let free = (2..end).filter(|&c| t.entries[c as usize] == 0).count() as u32;
    write_fat(&d, &p, &t)?;
    if !remap.is_empty() {
        fix_directories(&d, &p, &t, &remap)?;
    }
    write_boot(&d, &p, new_total, free, &remap)?;
    d.sync()?;
    log(&format!("FAT: {new_total} sectors, {free} clusters free"));
    Ok(())
}

fn read_fat(d: &Device, p: &Bpb) -> Result<Table> {
    let off = (p.reserved_sectors + p.active_fat * p.fat_sectors) * p.bytes_per_sector;
    let width = if p.kind == FsKind::Fat16 { 2 } else { 4 };
    // The whole table (every entry the FAT has room for), bounded by the FAT's size: at most
    // 4 bytes per cluster of the volume, e.g. 8 MiB for a 64 GiB FAT32 of 32 KiB clusters.
    let n = fat_capacity(p) + 2;
    let raw = d.read_vec(off, (n * width) as usize)?;
    let entries = raw
        .chunks_exact(width as usize)
        .map(|c| {
            if width == 2 {
                u32::from(u16::from_le_bytes([c[0], c[1]]))
            } else {
                u32::from_le_bytes([c[0], c[1], c[2], c[3]])
            }
        })
        .collect();
    Ok(Table {
        kind: p.kind,
        entries,
    })
}

/// Writes the table to every FAT copy (a FAT32 with mirroring off gets them all equal too).
fn write_fat(d: &Device, p: &Bpb, t: &Table) -> Result<()> {
    let mut raw = Vec::with_capacity(t.entries.len() * 4);
    for &e in &t.entries {
        if p.kind == FsKind::Fat16 {
            raw.extend_from_slice(&(e as u16).to_le_bytes());
        } else {
            raw.extend_from_slice(&e.to_le_bytes());
        }
    }
    for i in 0..p.fats {
        let off = (p.reserved_sectors + i * p.fat_sectors) * p.bytes_per_sector;
        d.write_all_at(&raw, off)?;
    }
    Ok(())
}

/// Rewrites the start cluster of every directory entry that names a moved cluster, reading
/// directories through the new table (their clusters are already at their new places).
fn fix_directories(d: &Device, p: &Bpb, t: &Table, remap: &HashMap<u32, u32>) -> Result<()> {
    let map = |c: u32| remap.get(&c).copied().unwrap_or(c);
    // Directory regions to visit: byte ranges (one per cluster, or the fixed FAT16 root).
    let mut todo: Vec<Vec<(u64, u64)>> = Vec::new();
    if p.kind == FsKind::Fat16 {
        let root = (p.reserved_sectors + p.fats * p.fat_sectors) * p.bytes_per_sector;
        todo.push(vec![(root, p.root_dir_sectors * p.bytes_per_sector)]);
    } else {
        let root = map(crate::fs::le32(&d.read_vec(0, 512)?, 0x2C));
        todo.push(chain(p, t, root)?);
    }
    let mut seen: HashSet<u32> = HashSet::new();
    while let Some(ranges) = todo.pop() {
        for (off, len) in ranges {
            let mut buf = d.read_vec(off, len as usize)?;
            let mut changed = false;
            let mut end = false;
            for e in buf.chunks_exact_mut(32) {
                if e[0] == 0 {
                    end = true;
                    break;
                }
                // Deleted entries and long-name pieces hold no live cluster number.
                if e[0] == 0xE5 || e[11] & 0x3F == 0x0F {
                    continue;
                }
                let hi = if p.kind == FsKind::Fat32 {
                    u32::from(u16::from_le_bytes([e[20], e[21]]))
                } else {
                    0
                };
                let start = (hi << 16) | u32::from(u16::from_le_bytes([e[26], e[27]]));
                let new = map(start);
                if new != start {
                    e[26..28].copy_from_slice(&(new as u16).to_le_bytes());
                    if p.kind == FsKind::Fat32 {
                        e[20..22].copy_from_slice(&((new >> 16) as u16).to_le_bytes());
                    }
                    changed = true;
                }
                let dot = e[0] == b'.' && (e[1] == b' ' || (e[1] == b'.' && e[2] == b' '));
                if e[11] & 0x10 != 0 && !dot && new >= 2 && seen.insert(new) {
                    todo.push(chain(p, t, new)?);
                }
            }
            if changed {
                d.write_all_at(&buf, off)?;
            }
            if end {
                break;
            }
        }
    }
    Ok(())
}

/// The byte ranges of the cluster chain starting at `first`, through the (new) table.
fn chain(p: &Bpb, t: &Table, first: u32) -> Result<Vec<(u64, u64)>> {
    let mut out = Vec::new();
    let mut c = first;
    let limit = t.entries.len();
    while c >= 2 && (c as usize) < limit {
        if out.len() > limit {
            return Err(Error::corrupt("FAT", u64::from(c), "cluster chain loops"));
        }
        out.push((
            p.data_start() + (u64::from(c) - 2) * p.cluster_size,
            p.cluster_size,
        ));
        let v = t.entries[c as usize];
        if v == 0 || t.eoc_or_bad(v) {
            break;
        }
        c = t.next(v);
    }
    Ok(out)
}

/// New total sectors (and FAT32 root cluster, FSInfo free count) in the boot sector and, on
/// FAT32, its backup and the backup's FSInfo.
fn write_boot(d: &Device, p: &Bpb, total: u64, free: u32, remap: &HashMap<u32, u32>) -> Result<()> {
    let bps = p.bytes_per_sector;
    let mut sectors = vec![0u64];
    if p.kind == FsKind::Fat32 {
        let b = d.read_vec(0, 512)?;
        let backup = u64::from(u16::from_le_bytes([b[0x32], b[0x33]]));
        if backup != 0 && backup != 0xFFFF && backup < p.reserved_sectors {
            sectors.push(backup);
        }
    }
    for s in sectors {
        let mut b = d.read_vec(s * bps, 512)?;
        if p.kind == FsKind::Fat16 && total < 0x10000 {
            b[0x13..0x15].copy_from_slice(&(total as u16).to_le_bytes());
            b[0x20..0x24].copy_from_slice(&0u32.to_le_bytes());
        } else {
            b[0x13..0x15].copy_from_slice(&0u16.to_le_bytes());
            b[0x20..0x24].copy_from_slice(&(total as u32).to_le_bytes());
        }
        if p.kind == FsKind::Fat32 {
            let root = u32::from_le_bytes([b[0x2C], b[0x2D], b[0x2E], b[0x2F]]);
            if let Some(&r) = remap.get(&root) {
                b[0x2C..0x30].copy_from_slice(&r.to_le_bytes());
            }
            let info = u64::from(u16::from_le_bytes([b[0x30], b[0x31]]));
            if info != 0 && info != 0xFFFF && s + info < p.reserved_sectors {
                let at = (s + info) * bps;
                let mut f = d.read_vec(at, 512)?;
                if f[0..4] == *b"RRaA" && f[484..488] == *b"rrAa" {
                    f[488..492].copy_from_slice(&free.to_le_bytes());
                    // "Unknown": the old hint may point past the new end.
                    f[492..496].copy_from_slice(&u32::MAX.to_le_bytes());
                    d.write_all_at(&f, at)?;
                }
            }
        }
        d.write_all_at(&b, s * bps)?;
    }
    Ok(())
}

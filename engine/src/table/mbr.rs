//! DOS/MBR partition table with extended and logical partitions (EBR chains).
//!
//! Owns: the MBR entry format (with the CHS values sfdisk writes), telling a real partition table
//! from a filesystem boot sector that merely ends in 0x55AA (a "superfloppy"), walking EBR chains,
//! and writing a fresh chain for a new layout (`rewrite`).
//!
//! Must not: write to a device, trust an LBA or a chain link read from the disk (every one is
//! bounds-checked, chains are bounded in length and checked for loops), or read disks that carry
//! a GPT protective entry (the GPT reader owns those).

use super::{check_sector_size, le_u32, Partition, PartitionTable, TableKind};
use crate::device::ReadAt;
use crate::error::{Error, Result};
use crate::extent::ExtentList;

/// Longest EBR chain we follow. Linux stops at a similar bound; real disks have a handful.
pub const MAX_LOGICAL: usize = 128;

const ENTRIES_AT: usize = 446;
const DISK_SIGNATURE_AT: usize = 440;

/// One 16-byte MBR/EBR entry, LBAs as stored (relative to whatever the format says).
#[derive(Clone, Copy, Debug)]
struct Entry {
    boot: u8,
    kind: u8,
    start: u32,
    len: u32,
}

impl Entry {
    fn is_empty(&self) -> bool {
        self.kind == 0 || self.len == 0
    }
}

fn entries(sector: &[u8]) -> Option<[Entry; 4]> {
    let mut out = [Entry {
        boot: 0,
        kind: 0,
        start: 0,
        len: 0,
    }; 4];
    for (i, e) in out.iter_mut().enumerate() {
        let at = ENTRIES_AT + 16 * i;
        *e = Entry {
            boot: *sector.get(at)?,
            kind: *sector.get(at + 4)?,
            start: le_u32(sector, at + 8)?,
            len: le_u32(sector, at + 12)?,
        };
    }
    Some(out)
}

fn has_signature(sector: &[u8]) -> bool {
    sector.get(510..512) == Some(&[0x55, 0xAA][..])
}

/// Extended container types: CHS (0x05), LBA (0x0F) and Linux (0x85).
pub fn is_extended(kind: u8) -> bool {
    matches!(kind, 0x05 | 0x0F | 0x85)
}

/// Human name of an MBR partition type; `"Unknown"` otherwise.
pub fn type_name(kind: u8) -> &'static str {
    match kind {
        0x01 => "FAT12",
        0x04 => "FAT16 <32M",
        0x05 | 0x0F | 0x85 => "Extended",
        0x06 => "FAT16",
        0x07 => "NTFS/exFAT",
        0x0b => "FAT32",
        0x0c => "FAT32 (LBA)",
        0x0e => "FAT16 (LBA)",
        0x11 => "Hidden FAT12",
        0x14 => "Hidden FAT16 <32M",
        0x16 => "Hidden FAT16",
        0x17 => "Hidden NTFS/exFAT",
        0x1b => "Hidden FAT32",
        0x1c => "Hidden FAT32 (LBA)",
        0x1e => "Hidden FAT16 (LBA)",
        0x27 => "Windows recovery",
        0x42 => "Windows dynamic disk",
        0x82 => "Linux swap",
        0x83 => "Linux",
        0x8e => "Linux LVM",
        0xa5 => "FreeBSD",
        0xa6 => "OpenBSD",
        0xa8 => "Darwin UFS",
        0xa9 => "NetBSD",
        0xaf => "HFS/HFS+",
        0xee => "GPT protective",
        0xef => "EFI System",
        0xfd => "Linux RAID",
        _ => "Unknown",
    }
}

fn partition(number: u32, e: &Entry, start_lba: u64, ss: u64, logical: bool) -> Partition {
    Partition {
        number,
        start: start_lba * ss,
        len: u64::from(e.len) * ss,
        type_id: format!("0x{:02x}", e.kind),
        type_name: type_name(e.kind).to_string(),
        name: String::new(),
        guid: None,
        bootable: e.boot == 0x80,
        logical,
    }
}

/// Checks the four primary entries as a partition table. `false` means "this is not a table"
/// (most likely a filesystem boot sector), not "a damaged table".
fn primaries_valid(es: &[Entry; 4], disk_sectors: u64) -> bool {
    let mut used: Vec<(u64, u64)> = Vec::new();
    for e in es {
        if e.boot != 0x00 && e.boot != 0x80 {
            return false;
        }
        if e.kind == 0 {
            continue;
        }
        let (start, end) = (u64::from(e.start), u64::from(e.start) + u64::from(e.len));
        if e.len == 0 || start == 0 || end > disk_sectors {
            return false;
        }
        used.push((start, end));
    }
    used.sort_unstable();
    !used.is_empty() && used.windows(2).all(|w| w[0].1 <= w[1].0)
}

/// Reads an MBR table; `Ok(None)` without the 0x55AA signature or with a GPT protective entry.
///
/// Primary entries that do not form a plausible table (boot flag other than 0x00/0x80, zero
/// start or length, past the end of the disk, overlapping, or all empty) also give `Ok(None)`:
/// such a sector is a filesystem boot sector of an unpartitioned disk, to be probed whole.
/// Once the primaries are valid the table is real, and a broken EBR chain (loop, link outside
/// the extended partition, missing signature, logical partition outside its container,
/// overlaps, more than [`MAX_LOGICAL`] links) is `Error::Corrupt` at the EBR's byte offset.
pub fn read(dev: &dyn ReadAt, sector_size: u64) -> Result<Option<PartitionTable>> {
    check_sector_size(sector_size)?;
    let ss = sector_size;
    let disk_sectors = dev.size() / ss;
    if disk_sectors == 0 {
        return Ok(None);
    }
    let mbr = dev.read_vec(0, 512)?;
    if !has_signature(&mbr) {
        return Ok(None);
    }
    let Some(primaries) = entries(&mbr) else {
        return Ok(None);
    };
    if primaries.iter().any(|e| e.kind == 0xEE) {
        return Ok(None);
    }
    if !primaries_valid(&primaries, disk_sectors) {
        return Ok(None);
    }

    let mut metadata = ExtentList::new();
    metadata.push(0, ss);
    let mut partitions = Vec::new();
    let mut min_end = 1u64;
    let mut next_logical = 5u32;
    for (i, e) in primaries.iter().enumerate() {
        if e.is_empty() {
            continue;
        }
        let start = u64::from(e.start);
        min_end = min_end.max(start + u64::from(e.len));
        if is_extended(e.kind) {
            let logicals = walk_chain(dev, ss, e, &mut metadata, &mut next_logical)?;
            partitions.extend(logicals);
        } else {
            partitions.push(partition(i as u32 + 1, e, start, ss, false));
        }
    }
    // Logical partitions are checked against their container and each other in walk_chain;
    // primaries were checked in primaries_valid. Sort primaries before logicals by number.
    partitions.sort_by_key(|p| p.number);
    let disk_id = le_u32(&mbr, DISK_SIGNATURE_AT).map(|s| format!("0x{s:08x}"));
    Ok(Some(PartitionTable {
        kind: TableKind::Mbr,
        sector_size: ss,
        disk_id,
        partitions,
        metadata,
        min_disk_size: min_end * ss,
    }))
}

/// Follows the EBR chain of the extended partition `ext`, adding each EBR sector to `metadata`
/// and returning its logical partitions numbered from `*next`.
fn walk_chain(
    dev: &dyn ReadAt,
    ss: u64,
    ext: &Entry,
    metadata: &mut ExtentList,
    next: &mut u32,
) -> Result<Vec<Partition>> {
    let ext_start = u64::from(ext.start);
    let ext_end = ext_start + u64::from(ext.len);
    let mut out: Vec<Partition> = Vec::new();
    let mut used: Vec<(u64, u64)> = Vec::new();
    let mut visited: Vec<u64> = Vec::new();
    let mut ebr = ext_start;
    loop {
        let offset = ebr * ss;
        if visited.contains(&ebr) {
            return Err(Error::corrupt(
                "EBR chain",
                offset,
                format!("link back to the EBR at LBA {ebr}: a loop"),
            ));
        }
        if visited.len() >= MAX_LOGICAL {
            return Err(Error::corrupt(
                "EBR chain",
                offset,
                format!("more than {MAX_LOGICAL} EBRs"),
            ));
        }
        let first = visited.is_empty();
        visited.push(ebr);
        // primaries_valid keeps the container inside the disk, and ebr is inside the container.
        let sector = dev.read_vec(offset, 512)?;
        if !has_signature(&sector) {
            if first {
                // An extended partition with no logical partitions yet: some tools leave its
                // first EBR blank. Nothing to list.
                metadata.push(offset, ss);
                return Ok(out);
            }
            return Err(Error::corrupt("EBR", offset + 510, "no 0x55AA signature"));
        }
        metadata.push(offset, ss);
        let Some([data, link, ..]) = entries(&sector) else {
            return Err(Error::corrupt("EBR", offset, "sector too short"));
        };
        if !data.is_empty() {
            // The logical partition's start is relative to its own EBR.
            let start = ebr + u64::from(data.start);
            let end = start + u64::from(data.len);
            if data.start == 0 || end > ext_end {
                return Err(Error::corrupt(
                    "EBR",
                    offset + ENTRIES_AT as u64,
                    format!(
                        "logical partition at LBAs {start}..{end} is not inside the extended partition {ext_start}..{ext_end}"
                    ),
                ));
            }
            if let Some(other) = used.iter().position(|&(s, e)| start < e && s < end) {
                return Err(Error::corrupt(
                    "EBR",
                    offset + ENTRIES_AT as u64,
                    format!(
                        "logical partition {} overlaps partition {}",
                        *next, out[other].number
                    ),
                ));
            }
            if visited.iter().any(|&v| start <= v && v < end) {
                return Err(Error::corrupt(
                    "EBR",
                    offset + ENTRIES_AT as u64,
                    format!("logical partition at LBAs {start}..{end} covers an EBR"),
                ));
            }
            used.push((start, end));
            out.push(partition(*next, &data, start, ss, true));
            *next += 1;
        }
        if link.is_empty() {
            return Ok(out);
        }
        if !is_extended(link.kind) {
            return Err(Error::corrupt(
                "EBR",
                offset + ENTRIES_AT as u64 + 16,
                format!(
                    "second entry has type {:#04x}, expected a link to the next EBR",
                    link.kind
                ),
            ));
        }
        // Links are relative to the start of the extended partition, not to this EBR.
        let next_ebr = ext_start + u64::from(link.start);
        if next_ebr >= ext_end {
            return Err(Error::corrupt(
                "EBR",
                offset + ENTRIES_AT as u64 + 16,
                format!("link to LBA {next_ebr} is outside the extended partition {ext_start}..{ext_end}"),
            ));
        }
        // A later EBR inside an earlier logical partition would overwrite its data.
        if used.iter().any(|&(s, e)| s <= next_ebr && next_ebr < e) {
            return Err(Error::corrupt(
                "EBR",
                offset + ENTRIES_AT as u64 + 16,
                format!("link to LBA {next_ebr} points inside a logical partition"),
            ));
        }
        ebr = next_ebr;
    }
}

/// Heads and sectors per track of the geometry util-linux's sfdisk/fdisk assume for a disk that
/// reports none (every modern disk): CHS fields are written for it.
const HEADS: u64 = 255;
const SECTORS: u64 = 63;

/// The 3 CHS bytes (head, sector with the cylinder's top two bits, cylinder's low byte) of
/// `lba`, as sfdisk writes them; past cylinder 1023 the conventional maximum 1023/254/63
/// (`fe ff ff`), which tells every reader to use the LBA fields instead.
fn chs(lba: u64) -> [u8; 3] {
    let per_cyl = HEADS * SECTORS;
    let lba = if lba / per_cyl > 1023 {
        per_cyl * 1024 - 1
    } else {
        lba
    };
    let (c, h, s) = (lba / per_cyl, lba % per_cyl / SECTORS, lba % SECTORS + 1);
    [h as u8, (s as u8 & 0x3f) | ((c >> 2) as u8 & 0xc0), c as u8]
}

/// Writes entry `slot` of an MBR/EBR sector: `rel_start` as stored (relative to whatever the
/// format says), CHS from the absolute `abs_start`.
fn put(
    sector: &mut [u8],
    slot: usize,
    boot: u8,
    kind: u8,
    rel_start: u32,
    abs_start: u64,
    len: u32,
) {
    let at = ENTRIES_AT + 16 * slot;
    let e = &mut sector[at..at + 16];
    e[0] = boot;
    e[1..4].copy_from_slice(&chs(abs_start));
    e[4] = kind;
    e[5..8].copy_from_slice(&chs(abs_start + u64::from(len).max(1) - 1));
    e[8..12].copy_from_slice(&rel_start.to_le_bytes());
    e[12..16].copy_from_slice(&len.to_le_bytes());
}

/// A partition's place on the target, in sectors.
struct Span<'a> {
    part: &'a Partition,
    start: u64,
    len: u64,
    changed: bool,
}

impl Span<'_> {
    fn end(&self) -> u64 {
        self.start + self.len
    }
}

/// The MBR table of a target after a layout: returns `(byte offset, bytes)` writes in
/// ascending order: LBA 0 (one sector), then one fresh EBR sector per logical partition.
///
/// `lba0` is the source's LBA 0 (boot code, disk signature and any bytes past the table are
/// kept), `table` what [`read`] made of the source, `parts` the layout (partitions not named
/// keep their place). Primary entries get their new start and size, and CHS values computed as
/// sfdisk does, only where they changed; type and boot flag stay. The extended container keeps
/// its type and is recomputed to span the first EBR to the last logical partition's end. Each
/// logical partition gets an EBR 1 MiB before it, or right after the previous partition when
/// less than 1 MiB is free there (a logical partition the layout left in place on an old
/// cylinder-aligned disk): entry 1 the partition relative to its EBR, entry 2 the link to the
/// next EBR relative to the container's start (type 0x05), then 0x55AA. The old EBR sectors are
/// not cleared: nothing points at them any more.
///
/// A layout that does not match `table` or `lba0`, overlaps, or leaves no room for an EBR is
/// `Error::Invalid`; a partition ending past 2^32 sectors (what an MBR can address) is
/// `Error::Unsupported`.
pub fn rewrite(
    lba0: &[u8],
    sector_size: u64,
    table: &PartitionTable,
    parts: &[crate::layout::Placed],
) -> Result<Vec<(u64, Vec<u8>)>> {
    check_sector_size(sector_size)?;
    let ss = sector_size;
    let invalid = |m: String| Error::Invalid(m);
    let primaries = (has_signature(lba0))
        .then(|| entries(lba0))
        .flatten()
        .ok_or_else(|| invalid("the saved LBA 0 holds no MBR table".into()))?;
    for p in parts {
        if !table.partitions.iter().any(|q| q.number == p.number) {
            return Err(invalid(format!(
                "partition {} is not in the MBR table",
                p.number
            )));
        }
    }
    let mut spans = Vec::new();
    for q in &table.partitions {
        let placed = parts.iter().find(|p| p.number == q.number);
        let (start, len) = match placed {
            Some(p) if (p.old_start, p.old_len) != (q.start, q.len) => {
                return Err(invalid(format!(
                    "partition {} is {} bytes at {} in the table, the layout says {} at {}",
                    q.number, q.len, q.start, p.old_len, p.old_start
                )));
            }
            Some(p) => (p.new_start, p.new_len),
            None => (q.start, q.len),
        };
        if len == 0 || start % ss != 0 || len % ss != 0 {
            return Err(invalid(format!(
                "partition {}: {len} bytes at {start} is not a whole number of {ss}-byte sectors",
                q.number
            )));
        }
        let (s, l) = (start / ss, len / ss);
        if s.checked_add(l).is_none_or(|end| end > 1 << 32) {
            return Err(Error::Unsupported(format!(
                "partition {} would end at sector {}, past the 2^32 sectors an MBR can address ({}); use GPT for this disk",
                q.number,
                s.saturating_add(l),
                crate::human_bytes((1u64 << 32) * ss)
            )));
        }
        spans.push(Span {
            part: q,
            start: s,
            len: l,
            changed: (start, len) != (q.start, q.len),
        });
    }
    let mut by_start: Vec<&Span> = spans.iter().collect();
    by_start.sort_by_key(|s| s.start);
    for w in by_start.windows(2) {
        if w[1].start < w[0].end() {
            return Err(invalid(format!(
                "partitions {} and {} overlap after the layout",
                w[0].part.number, w[1].part.number
            )));
        }
    }

    let mut out = vec![0u8; (ss as usize).max(512)];
    let n = lba0.len().min(out.len());
    out[..n].copy_from_slice(&lba0[..n]);
    for s in spans.iter().filter(|s| !s.part.logical) {
        let slot = s
            .part
            .number
            .checked_sub(1)
            .map(|i| i as usize)
            .filter(|&i| i < 4);
        let e = slot.map(|i| (i, primaries[i]));
        let Some((slot, e)) = e.filter(|(_, e)| {
            (u64::from(e.start) * ss, u64::from(e.len) * ss) == (s.part.start, s.part.len)
        }) else {
            return Err(invalid(format!(
                "primary partition {} does not match the saved LBA 0",
                s.part.number
            )));
        };
        if s.changed {
            // Both fit in 32 bits: checked against 2^32 above, and start >= 1.
            put(
                &mut out,
                slot,
                e.boot,
                e.kind,
                s.start as u32,
                s.start,
                s.len as u32,
            );
        }
    }

    let logicals: Vec<&Span> = spans.iter().filter(|s| s.part.logical).collect();
    // The chain is rebuilt in number order, which Linux numbers them by: it must also be disk
    // order, or a link would point backwards past the container's start.
    if logicals.windows(2).any(|w| w[1].start < w[0].start) {
        return Err(Error::Unsupported(
            "logical partitions out of disk order in their EBR chain".into(),
        ));
    }
    let ext_slot = primaries.iter().position(|e| is_extended(e.kind));
    let mut writes = Vec::new();
    match (ext_slot, logicals.is_empty()) {
        (None, false) => {
            return Err(invalid(
                "logical partitions without an extended partition in LBA 0".into(),
            ))
        }
        (None, true) => {}
        (Some(slot), true) => {
            // An empty container stays where it is, unless partitions moved into it.
            let e = primaries[slot];
            let (s, end) = (u64::from(e.start), u64::from(e.start) + u64::from(e.len));
            if let Some(o) = spans.iter().find(|p| p.start < end && s < p.end()) {
                return Err(Error::Unsupported(format!(
                    "partition {} would overlap the empty extended partition at sectors {s}..{end}",
                    o.part.number
                )));
            }
        }
        (Some(slot), false) => {
            let mut ebrs = Vec::with_capacity(logicals.len());
            for l in &logicals {
                let floor = by_start
                    .iter()
                    .filter(|p| p.end() <= l.start)
                    .map(|p| p.end())
                    .max()
                    .unwrap_or(1)
                    .max(1);
                let ebr = l.start.saturating_sub((1 << 20) / ss).max(floor);
                if ebr >= l.start {
                    return Err(invalid(format!(
                        "no room for the EBR of logical partition {} before sector {}",
                        l.part.number, l.start
                    )));
                }
                ebrs.push(ebr);
            }
            let ext_start = ebrs[0];
            let ext_end = logicals.iter().map(|l| l.end()).max().unwrap_or(ext_start);
            if let Some(p) = spans
                .iter()
                .find(|p| !p.part.logical && p.start < ext_end && ext_start < p.end())
            {
                return Err(invalid(format!(
                    "primary partition {} lies among the logical partitions after the layout",
                    p.part.number
                )));
            }
            let e = primaries[slot];
            let len = ext_end - ext_start;
            put(
                &mut out,
                slot,
                e.boot,
                e.kind,
                ext_start as u32,
                ext_start,
                len as u32,
            );
            for (k, l) in logicals.iter().enumerate() {
                let mut sector = vec![0u8; (ss as usize).max(512)];
                let kind = u8::from_str_radix(l.part.type_id.trim_start_matches("0x"), 16)
                    .map_err(|_| {
                        invalid(format!(
                            "partition {} has type {:?}",
                            l.part.number, l.part.type_id
                        ))
                    })?;
                let boot = if l.part.bootable { 0x80 } else { 0 };
                put(
                    &mut sector,
                    0,
                    boot,
                    kind,
                    (l.start - ebrs[k]) as u32,
                    l.start,
                    l.len as u32,
                );
                if let (Some(next), Some(&next_ebr)) = (logicals.get(k + 1), ebrs.get(k + 1)) {
                    let link_len = (next.end() - next_ebr) as u32;
                    put(
                        &mut sector,
                        1,
                        0,
                        0x05,
                        (next_ebr - ext_start) as u32,
                        next_ebr,
                        link_len,
                    );
                }
                sector[510] = 0x55;
                sector[511] = 0xAA;
                writes.push((ebrs[k] * ss, sector));
            }
        }
    }
    out[510] = 0x55;
    out[511] = 0xAA;
    writes.insert(0, (0, out));
    Ok(writes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    const SS: u64 = 512;

    fn put_entry(
        d: &mut [u8],
        sector_off: usize,
        slot: usize,
        boot: u8,
        kind: u8,
        start: u32,
        len: u32,
    ) {
        let at = sector_off + ENTRIES_AT + 16 * slot;
        d[at] = boot;
        d[at + 4] = kind;
        d[at + 8..at + 12].copy_from_slice(&start.to_le_bytes());
        d[at + 12..at + 16].copy_from_slice(&len.to_le_bytes());
        d[sector_off + 510] = 0x55;
        d[sector_off + 511] = 0xAA;
    }

    /// 4 MiB disk (8192 sectors): primary 1 at 64..1088 (bootable FAT32), primary 2 extended
    /// 2048..8192 with logicals at EBR+64 of 512 sectors, EBRs at 2048, 3072, 4096.
    fn disk_with_logicals(ss: u64) -> Vec<u8> {
        let mut d = vec![0u8; (8192 * ss) as usize];
        d[DISK_SIGNATURE_AT..DISK_SIGNATURE_AT + 4].copy_from_slice(&0xdead_beefu32.to_le_bytes());
        put_entry(&mut d, 0, 0, 0x80, 0x0c, 64, 1024);
        put_entry(&mut d, 0, 1, 0, 0x0f, 2048, 6144);
        let ebrs = [2048u32, 3072, 4096];
        for (i, &ebr) in ebrs.iter().enumerate() {
            let off = (u64::from(ebr) * ss) as usize;
            put_entry(&mut d, off, 0, 0, [0x83, 0x82, 0x07][i], 64, 512);
            if let Some(&next) = ebrs.get(i + 1) {
                put_entry(&mut d, off, 1, 0, 0x05, next - 2048, 1024);
            }
        }
        d
    }

    fn corrupt(r: Result<Option<PartitionTable>>) -> (u64, String) {
        match r {
            Err(Error::Corrupt { offset, detail, .. }) => (offset, detail),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn primaries_and_logicals_are_listed_with_ebrs_as_metadata() {
        for ss in [512u64, 4096] {
            let d = disk_with_logicals(ss);
            let t = read(&d, ss).unwrap().unwrap();
            assert_eq!(t.kind, TableKind::Mbr);
            assert_eq!(t.disk_id.as_deref(), Some("0xdeadbeef"));
            let got: Vec<(u32, u64, u64, &str, bool, bool)> = t
                .partitions
                .iter()
                .map(|p| {
                    (
                        p.number,
                        p.start / ss,
                        p.len / ss,
                        p.type_id.as_str(),
                        p.bootable,
                        p.logical,
                    )
                })
                .collect();
            assert_eq!(
                got,
                [
                    (1, 64, 1024, "0x0c", true, false),
                    (5, 2112, 512, "0x83", false, true),
                    (6, 3136, 512, "0x82", false, true),
                    (7, 4160, 512, "0x07", false, true),
                ]
            );
            assert_eq!(t.partitions[0].type_name, "FAT32 (LBA)");
            assert_eq!(t.partitions[3].type_name, "NTFS/exFAT");
            let meta: Vec<(u64, u64)> = t
                .metadata
                .iter()
                .map(|e| (e.start / ss, e.len / ss))
                .collect();
            assert_eq!(meta, [(0, 1), (2048, 1), (3072, 1), (4096, 1)]);
            assert_eq!(t.min_disk_size, 8192 * ss);
        }
    }

    #[test]
    fn boot_sectors_and_nonsense_entries_are_not_a_table() {
        // No signature; or a signature with no entries (mkfs.fat's superfloppy).
        let mut d = vec![0u8; 1 << 20];
        assert!(read(&d, SS).unwrap().is_none());
        d[510] = 0x55;
        d[511] = 0xAA;
        assert!(read(&d, SS).unwrap().is_none());
        // Boot code text where the entries would be (a Windows-formatted FAT32 volume).
        let text =
            b"Remove disks or other media.\xff\r\nDisk error\xff\r\nPress any key to restart";
        d[446..510].copy_from_slice(&text[..64]);
        assert!(read(&d, SS).unwrap().is_none());
        let cases: [&[(u8, u8, u32, u32)]; 5] = [
            &[(0x12, 0x83, 1, 10)],                    // boot flag neither 0 nor 0x80
            &[(0, 0x83, 0, 10)],                       // starts on the MBR itself
            &[(0, 0x83, 10, 0)],                       // empty length with a type
            &[(0, 0x83, 100, 2048)],                   // past the end of a 2048-sector disk
            &[(0, 0x83, 10, 100), (0, 0x07, 50, 100)], // overlapping
        ];
        for entries in cases {
            let mut d = vec![0u8; 1 << 20];
            for (i, &(boot, kind, start, len)) in entries.iter().enumerate() {
                put_entry(&mut d, 0, i, boot, kind, start, len);
            }
            assert!(read(&d, SS).unwrap().is_none(), "{entries:?}");
        }
    }

    #[test]
    fn gpt_protective_entries_are_left_to_the_gpt_reader() {
        let mut d = vec![0u8; 1 << 20];
        put_entry(&mut d, 0, 0, 0, 0xEE, 1, 2047);
        assert!(read(&d, SS).unwrap().is_none());
        // A hybrid MBR too.
        put_entry(&mut d, 0, 1, 0, 0x0c, 100, 200);
        assert!(read(&d, SS).unwrap().is_none());
    }

    #[test]
    fn an_empty_extended_partition_has_no_logicals() {
        let mut d = vec![0u8; 1 << 20];
        put_entry(&mut d, 0, 0, 0, 0x83, 64, 100);
        put_entry(&mut d, 0, 1, 0, 0x05, 1024, 1024);
        let t = read(&d, SS).unwrap().unwrap();
        assert_eq!(t.partitions.len(), 1);
        assert_eq!(t.min_disk_size, 2048 * 512);
        assert_eq!(t.metadata.len(), 2);
    }

    #[test]
    fn broken_ebr_chains_are_corrupt() {
        // Loop: the last EBR links back to the second.
        let mut d = disk_with_logicals(SS);
        put_entry(&mut d, 4096 * 512, 1, 0, 0x05, 1024, 1024);
        let (off, detail) = corrupt(read(&d, SS));
        assert_eq!(off, 3072 * 512);
        assert!(detail.contains("loop"), "{detail}");

        // Link outside the extended partition.
        let mut d = disk_with_logicals(SS);
        put_entry(&mut d, 4096 * 512, 1, 0, 0x05, 9000, 10);
        assert!(corrupt(read(&d, SS)).1.contains("outside the extended"));

        // Logical partition running past the extended partition.
        let mut d = disk_with_logicals(SS);
        put_entry(&mut d, 4096 * 512, 0, 0, 0x83, 64, 5000);
        assert!(corrupt(read(&d, SS)).1.contains("not inside"));

        // A link that lands inside an earlier logical partition.
        let mut d = disk_with_logicals(SS);
        put_entry(&mut d, 3072 * 512, 1, 0, 0x05, 100, 1024);
        assert!(corrupt(read(&d, SS)).1.contains("inside a logical"));

        // A later EBR without signature.
        let mut d = disk_with_logicals(SS);
        d[3072 * 512 + 510] = 0;
        assert_eq!(corrupt(read(&d, SS)).0, 3072 * 512 + 510);

        // Link entry with a data type.
        let mut d = disk_with_logicals(SS);
        d[2048 * 512 + ENTRIES_AT + 16 + 4] = 0x83;
        assert!(corrupt(read(&d, SS)).1.contains("expected a link"));
    }

    #[test]
    fn chains_longer_than_the_bound_stop() {
        // 200 EBRs of one logical sector each, all inside one extended partition.
        let mut d = vec![0u8; 1 << 20];
        put_entry(&mut d, 0, 0, 0, 0x05, 64, 1900);
        for i in 0..200u32 {
            let off = ((64 + 2 * i) * 512) as usize;
            put_entry(&mut d, off, 0, 0, 0x83, 1, 1);
            put_entry(&mut d, off, 1, 0, 0x05, 2 * (i + 1), 2);
        }
        let (_, detail) = corrupt(read(&d, SS));
        assert!(detail.contains("more than 128"), "{detail}");
    }

    #[test]
    fn chs_values_are_those_sfdisk_writes() {
        // Read from a disk partitioned by sfdisk 2.38: LBA 2048..4095, 6144, 8191, 8192.
        assert_eq!(chs(2048), [0x20, 0x21, 0x00]);
        assert_eq!(chs(4095), [0x41, 0x01, 0x00]);
        assert_eq!(chs(6144), [0x61, 0x22, 0x00]);
        assert_eq!(chs(8191), [0x82, 0x02, 0x00]);
        assert_eq!(chs(8192), [0x82, 0x03, 0x00]);
        assert_eq!(chs(40_000_000), [0xfe, 0xff, 0xff]);
    }

    fn placed(number: u32, old: (u64, u64), new: (u64, u64)) -> crate::layout::Placed {
        crate::layout::Placed {
            number,
            old_start: old.0 * SS,
            old_len: old.1 * SS,
            new_start: new.0 * SS,
            new_len: new.1 * SS,
        }
    }

    #[test]
    fn rewrite_rebuilds_the_chain_and_reads_back() {
        let d = disk_with_logicals(SS);
        let t = read(&d, SS).unwrap().unwrap();
        // Target of 16384 sectors: p1 grows, p5 moves right, p7 grows to the end.
        let parts = [
            placed(1, (64, 1024), (64, 2048)),
            placed(5, (2112, 512), (8192, 512)),
            placed(6, (3136, 512), (10752, 512)),
            placed(7, (4160, 512), (12288, 4096)),
        ];
        let writes = rewrite(&d[..512], SS, &t, &parts).unwrap();
        let offsets: Vec<u64> = writes.iter().map(|w| w.0 / SS).collect();
        // EBRs 1 MiB (2048 sectors) before each, or right after the previous partition.
        assert_eq!(offsets, [0, 6144, 8704, 11264]);
        let mut n = vec![0u8; 16384 * 512];
        n[..d.len()].copy_from_slice(&d);
        for (off, bytes) in &writes {
            n[*off as usize..*off as usize + bytes.len()].copy_from_slice(bytes);
        }
        let got = read(&n, SS).unwrap().unwrap();
        let spans: Vec<(u32, u64, u64, &str, bool)> = got
            .partitions
            .iter()
            .map(|p| {
                (
                    p.number,
                    p.start / SS,
                    p.len / SS,
                    p.type_id.as_str(),
                    p.bootable,
                )
            })
            .collect();
        assert_eq!(
            spans,
            [
                (1, 64, 2048, "0x0c", true),
                (5, 8192, 512, "0x83", false),
                (6, 10752, 512, "0x82", false),
                (7, 12288, 4096, "0x07", false),
            ]
        );
        assert_eq!(got.disk_id.as_deref(), Some("0xdeadbeef"));
        let ext = entries(&n[..512]).unwrap()[1];
        assert_eq!((ext.kind, ext.start, ext.len), (0x0f, 6144, 16384 - 6144));
    }

    #[test]
    fn rewrite_refuses_mismatches_and_the_2_tib_limit() {
        let d = disk_with_logicals(SS);
        let t = read(&d, SS).unwrap().unwrap();
        let invalid = |parts: &[crate::layout::Placed]| {
            matches!(rewrite(&d[..512], SS, &t, parts), Err(Error::Invalid(_)))
        };
        assert!(
            invalid(&[placed(2, (2048, 6144), (2048, 10))]),
            "the container"
        );
        assert!(
            invalid(&[placed(1, (65, 1024), (64, 10))]),
            "other old start"
        );
        assert!(invalid(&[placed(1, (64, 1024), (64, 3000))]), "overlap");
        assert!(
            invalid(&[placed(5, (2112, 512), (1088, 512))]),
            "no room for its EBR"
        );
        let mut other = d.clone();
        put_entry(&mut other, 0, 0, 0x80, 0x0c, 64, 1000);
        assert!(matches!(
            rewrite(&other[..512], SS, &t, &[]),
            Err(Error::Invalid(_))
        ));
        let big = [placed(7, (4160, 512), (4160, (1 << 32) - 4000))];
        assert!(matches!(
            rewrite(&d[..512], SS, &t, &big),
            Err(Error::Unsupported(_))
        ));
    }

    #[test]
    fn random_bytes_never_panic() {
        let good = disk_with_logicals(SS);
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..3000 {
            let mut d = good.clone();
            for _ in 0..1 + next() % 4 {
                let sector = [0usize, 2048, 3072, 4096][(next() % 4) as usize];
                let pos = sector * 512 + ENTRIES_AT + (next() % 66) as usize;
                d[pos] = next() as u8;
            }
            let _ = read(&d, SS);
        }
    }
}

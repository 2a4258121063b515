//! DOS/MBR partition table with extended and logical partitions (EBR chains).
//!
//! Owns: the MBR entry format, telling a real partition table from a filesystem boot sector that
//! merely ends in 0x55AA (a "superfloppy"), and walking EBR chains.
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

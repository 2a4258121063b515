//! GUID Partition Table (UEFI spec, chapter 5): reading a GPT from untrusted disk bytes, and laying
//! a saved GPT out again on a target of another size (primary header rewritten, backup entry array
//! and header moved to the target's end, protective MBR resized), with entries moved and resized
//! for a new layout (`rewrite`).
//!
//! Owns: the GPT header and entry formats, their CRC32 checks, the fallback from a damaged
//! primary header to the backup, and the size field of the protective MBR.
//!
//! Must not: write to a device (it returns offsets and bytes for the caller to write), trust any
//! LBA, count or size read from a disk without bounds checks and checked arithmetic, or allocate
//! more than [`MAX_ENTRY_ARRAY`] bytes for an entry array whatever a header claims.

use super::{check_sector_size, le_u32, le_u64, Partition, PartitionTable, TableKind};
use crate::device::ReadAt;
use crate::error::{Error, Result};
use crate::extent::ExtentList;

/// Largest entry array we accept (`num_entries * entry_size`). Real tables use 16 KiB
/// (128 entries of 128 bytes); anything near this bound is corrupt or hostile.
pub const MAX_ENTRY_ARRAY: u64 = 1 << 20;

const SIGNATURE: &[u8; 8] = b"EFI PART";
/// The fields defined by the spec end at byte 92; a header may declare more, up to a sector.
const MIN_HEADER_SIZE: usize = 92;
/// The part of an entry we interpret; `entry_size` may be larger (128 * 2^n).
const ENTRY_MIN: usize = 128;

// Header field offsets (UEFI spec table 5-5).
const H_HEADER_SIZE: usize = 12;
const H_CRC: usize = 16;
const H_MY_LBA: usize = 24;
const H_ALTERNATE_LBA: usize = 32;
const H_FIRST_USABLE: usize = 40;
const H_LAST_USABLE: usize = 48;
const H_DISK_GUID: usize = 56;
const H_ENTRY_LBA: usize = 72;
const H_NUM_ENTRIES: usize = 80;
const H_ENTRY_SIZE: usize = 84;
const H_ENTRIES_CRC: usize = 88;

/// A GPT header that passed its own checks (signature, size, CRC, sane entry geometry).
#[derive(Clone, Debug)]
struct Header {
    /// The whole header sector as read, so rewrites keep any bytes we do not interpret.
    raw: Vec<u8>,
    my_lba: u64,
    alternate_lba: u64,
    first_usable: u64,
    last_usable: u64,
    disk_guid: [u8; 16],
    entry_lba: u64,
    num_entries: u32,
    entry_size: u32,
    entries_crc: u32,
}

impl Header {
    /// Bytes of the entry array; bounded by [`MAX_ENTRY_ARRAY`] in `parse_header`.
    fn entry_bytes(&self) -> u64 {
        u64::from(self.num_entries) * u64::from(self.entry_size)
    }

    fn entry_sectors(&self, sector_size: u64) -> u64 {
        self.entry_bytes().div_ceil(sector_size)
    }
}

/// Why a header was not usable. `NoSignature` is kept apart: it means "no GPT here" rather than
/// "a damaged GPT".
#[derive(Debug)]
enum HeaderError {
    NoSignature,
    Bad(String),
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::NoSignature => write!(f, "no \"EFI PART\" signature"),
            HeaderError::Bad(s) => write!(f, "{s}"),
        }
    }
}

fn bad(s: impl Into<String>) -> HeaderError {
    HeaderError::Bad(s.into())
}

fn header_crc(raw: &[u8], header_size: usize) -> Option<u32> {
    let mut h = crc32fast::Hasher::new();
    h.update(raw.get(..H_CRC)?);
    h.update(&[0u8; 4]);
    h.update(raw.get(H_CRC + 4..header_size)?);
    Some(h.finalize())
}

/// Checks a header sector on its own: signature, declared size, CRC, and entry geometry.
/// Where it sits on the disk is checked by the caller, which knows where it read it.
fn parse_header(sector: &[u8]) -> std::result::Result<Header, HeaderError> {
    if sector.get(..8) != Some(&SIGNATURE[..]) {
        return Err(HeaderError::NoSignature);
    }
    let field32 = |off| le_u32(sector, off).ok_or_else(|| bad("header sector too short"));
    let field64 = |off| le_u64(sector, off).ok_or_else(|| bad("header sector too short"));
    let header_size = field32(H_HEADER_SIZE)? as usize;
    if header_size < MIN_HEADER_SIZE || header_size > sector.len() {
        return Err(bad(format!(
            "header size {header_size} outside {MIN_HEADER_SIZE}..={}",
            sector.len()
        )));
    }
    let stored_crc = field32(H_CRC)?;
    let crc = header_crc(sector, header_size).ok_or_else(|| bad("header sector too short"))?;
    if crc != stored_crc {
        return Err(bad(format!(
            "header CRC32 {stored_crc:#010x} does not match the computed {crc:#010x}"
        )));
    }
    let num_entries = field32(H_NUM_ENTRIES)?;
    let entry_size = field32(H_ENTRY_SIZE)?;
    // The spec allows 128 * 2^n; we accept any multiple of 128 within the array bound.
    if (entry_size as usize) < ENTRY_MIN || entry_size as usize & (ENTRY_MIN - 1) != 0 {
        return Err(bad(format!(
            "partition entry size {entry_size} is not a multiple of 128"
        )));
    }
    let array = u64::from(num_entries) * u64::from(entry_size);
    if array > MAX_ENTRY_ARRAY {
        return Err(bad(format!(
            "entry array of {num_entries} x {entry_size} bytes exceeds the {MAX_ENTRY_ARRAY}-byte bound"
        )));
    }
    let first_usable = field64(H_FIRST_USABLE)?;
    let last_usable = field64(H_LAST_USABLE)?;
    if first_usable > last_usable {
        return Err(bad(format!(
            "first usable LBA {first_usable} is after the last usable LBA {last_usable}"
        )));
    }
    let mut disk_guid = [0u8; 16];
    disk_guid.copy_from_slice(
        sector
            .get(H_DISK_GUID..H_DISK_GUID + 16)
            .ok_or_else(|| bad("header too short"))?,
    );
    Ok(Header {
        raw: sector.to_vec(),
        my_lba: field64(H_MY_LBA)?,
        alternate_lba: field64(H_ALTERNATE_LBA)?,
        first_usable,
        last_usable,
        disk_guid,
        entry_lba: field64(H_ENTRY_LBA)?,
        num_entries,
        entry_size,
        entries_crc: field32(H_ENTRIES_CRC)?,
    })
}

/// Checks that a header read at `lba` says it is there and that its entry array lies outside
/// the usable area, after LBA 0, and does not cover the header itself: otherwise partitions
/// and table would overwrite each other.
fn check_layout(h: &Header, lba: u64, sector_size: u64) -> std::result::Result<(), HeaderError> {
    if h.my_lba != lba {
        return Err(bad(format!(
            "header read at LBA {lba} claims to be at LBA {}",
            h.my_lba
        )));
    }
    let start = h.entry_lba;
    let end = start
        .checked_add(h.entry_sectors(sector_size))
        .ok_or_else(|| bad(format!("entry array LBA {start} overflows")))?;
    let before_usable = end <= h.first_usable;
    let after_usable = start > h.last_usable;
    let covers_header = start <= lba && lba < end;
    if start == 0 || covers_header || !(before_usable || after_usable) {
        return Err(bad(format!(
            "entry array at LBAs {start}..{end} overlaps LBA 0, the header or the usable area {}..={}",
            h.first_usable, h.last_usable
        )));
    }
    Ok(())
}

/// A header with its verified entry array.
struct Loaded {
    header: Header,
    entries: Vec<u8>,
}

/// Reads and checks the header at `lba` and its entry array. The outer `Result` carries device
/// errors (which must not be mistaken for "no GPT"), the inner one what is wrong with the table.
fn load(
    dev: &dyn ReadAt,
    sector_size: u64,
    lba: u64,
) -> Result<std::result::Result<Loaded, HeaderError>> {
    let sectors = dev.size() / sector_size;
    if lba >= sectors {
        return Ok(Err(bad(format!(
            "LBA {lba} is past the end of the disk ({sectors} sectors)"
        ))));
    }
    let sector = dev.read_vec(lba * sector_size, sector_size as usize)?;
    let header = match parse_header(&sector) {
        Ok(h) => h,
        Err(e) => return Ok(Err(e)),
    };
    if let Err(e) = check_layout(&header, lba, sector_size) {
        return Ok(Err(e));
    }
    let entry_bytes = header.entry_bytes();
    let in_disk = header.entry_lba.checked_mul(sector_size).and_then(|off| {
        off.checked_add(entry_bytes)
            .filter(|&end| end <= dev.size())
            .map(|_| off)
    });
    let Some(offset) = in_disk else {
        return Ok(Err(bad(format!(
            "entry array at LBA {} is past the end of the disk",
            header.entry_lba
        ))));
    };
    // entry_bytes <= MAX_ENTRY_ARRAY, so this allocation is bounded.
    let entries = dev.read_vec(offset, entry_bytes as usize)?;
    let crc = crc32fast::hash(&entries);
    if crc != header.entries_crc {
        return Ok(Err(bad(format!(
            "entry array CRC32 {:#010x} does not match the computed {crc:#010x}",
            header.entries_crc
        ))));
    }
    Ok(Ok(Loaded { header, entries }))
}

/// Formats a GUID stored in the on-disk mixed-endian layout (first three fields little-endian,
/// the last two big-endian) as canonical lower-case text.
pub fn guid_text(b: &[u8; 16]) -> String {
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
    )
}

/// Parses canonical GUID text ("c12a7328-f81f-11d2-ba4b-00a0c93ec93b", any case) into the
/// on-disk mixed-endian layout; `None` if it is not a GUID.
pub fn guid_bytes(text: &str) -> Option<[u8; 16]> {
    let hex: String = text.chars().filter(|&c| c != '-').collect();
    let dashes_ok = text.len() == 36
        && [8, 13, 18, 23]
            .iter()
            .all(|&i| text.as_bytes().get(i) == Some(&b'-'));
    if hex.len() != 32 || !dashes_ok {
        return None;
    }
    let mut big = [0u8; 16];
    for (i, b) in big.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    let mut out = big;
    out[..4].copy_from_slice(&[big[3], big[2], big[1], big[0]]);
    out[4..6].copy_from_slice(&[big[5], big[4]]);
    out[6..8].copy_from_slice(&[big[7], big[6]]);
    Some(out)
}

/// Human name of a GPT partition type GUID (lower-case canonical text); `"Unknown"` otherwise.
pub fn type_name(type_guid: &str) -> &'static str {
    match type_guid {
        "c12a7328-f81f-11d2-ba4b-00a0c93ec93b" => "EFI System",
        "21686148-6449-6e6f-744e-656564454649" => "BIOS boot",
        "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7" => "Microsoft basic data",
        "e3c9e316-0b5c-4db8-817d-f92df00215ae" => "Microsoft reserved",
        "de94bba4-06d1-4d40-a16a-bfd50179d6ac" => "Windows recovery environment",
        "5808c8aa-7e8f-42e0-85d2-e1e90434cfb3" => "Microsoft LDM metadata",
        "af9b60a0-1431-4f62-bc68-3311714a69ad" => "Microsoft LDM data",
        "0fc63daf-8483-4772-8e79-3d69d8477de4" => "Linux filesystem",
        "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f" => "Linux swap",
        "e6d6d379-f507-44c2-a23c-238f2a3df928" => "Linux LVM",
        "a19d880f-05fc-4d3b-a006-743f0f84911e" => "Linux RAID",
        "4f68bce3-e8cd-4db1-96e7-fbcaf984b709" => "Linux root (x86-64)",
        "44479540-f297-41b2-9af7-d131d5f0458a" => "Linux root (x86)",
        "b921b045-1df0-41c3-af44-4c6f280d3fae" => "Linux root (ARM-64)",
        "933ac7e1-2eb4-4f13-b844-0e14e2aef915" => "Linux home",
        "3b8f8425-20e0-4f3b-907f-1a25a76f98e8" => "Linux server data",
        "bc13c2ff-59e6-4262-a352-b275fd6f7172" => "Linux extended boot",
        "8da63339-0007-60c0-c436-083ac8230908" => "Linux reserved",
        "ca7d7ccb-63ed-4c53-861c-1742536059cc" => "Linux LUKS",
        "48465300-0000-11aa-aa11-00306543ecac" => "Apple HFS/HFS+",
        "7c3457ef-0000-11aa-aa11-00306543ecac" => "Apple APFS",
        _ => "Unknown",
    }
}

/// A partition entry as stored, before conversion to bytes.
struct RawEntry {
    index: u32,
    first: u64,
    last: u64,
    type_guid: [u8; 16],
    unique_guid: [u8; 16],
    name: String,
}

/// Decodes a UTF-16LE name field up to its first NUL; unpaired surrogates become U+FFFD.
fn utf16_name(b: &[u8]) -> String {
    let units = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0);
    char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// The used entries of an array (non-zero type GUID), each checked for `first <= last`, for
/// lying inside the header's usable area and for not overlapping another. Errors carry the
/// entry index.
fn parse_entries(h: &Header, entries: &[u8]) -> std::result::Result<Vec<RawEntry>, (u32, String)> {
    let mut out = Vec::new();
    let size = h.entry_size as usize;
    for (i, e) in entries
        .chunks_exact(size)
        .take(h.num_entries as usize)
        .enumerate()
    {
        let index = i as u32;
        let mut type_guid = [0u8; 16];
        type_guid.copy_from_slice(&e[..16]);
        if type_guid == [0u8; 16] {
            continue;
        }
        let mut unique_guid = [0u8; 16];
        unique_guid.copy_from_slice(&e[16..32]);
        let field = |off| le_u64(e, off).ok_or((index, "entry too short".to_string()));
        let (first, last) = (field(32)?, field(40)?);
        if first > last {
            return Err((index, format!("first LBA {first} is after last LBA {last}")));
        }
        if first < h.first_usable || last > h.last_usable {
            return Err((
                index,
                format!(
                    "LBAs {first}..={last} are outside the usable area {}..={}",
                    h.first_usable, h.last_usable
                ),
            ));
        }
        out.push(RawEntry {
            index,
            first,
            last,
            type_guid,
            unique_guid,
            name: utf16_name(&e[56..128]),
        });
    }
    let mut by_first: Vec<&RawEntry> = out.iter().collect();
    by_first.sort_by_key(|e| e.first);
    for w in by_first.windows(2) {
        if w[1].first <= w[0].last {
            return Err((
                w[1].index,
                format!(
                    "partition {} overlaps partition {}",
                    w[1].index + 1,
                    w[0].index + 1
                ),
            ));
        }
    }
    Ok(out)
}

/// The smallest disk (bytes) that holds every partition plus the backup entry array and header,
/// with at least one usable sector. `None` on overflow.
fn min_size(h: &Header, max_last: Option<u64>, sector_size: u64) -> Option<u64> {
    let end_lba = max_last
        .map_or(h.first_usable, |l| l.max(h.first_usable))
        .checked_add(1)?;
    end_lba
        .checked_add(h.entry_sectors(sector_size))?
        .checked_add(1)?
        .checked_mul(sector_size)
}

/// What `locate` found: the header we trust and whether it is the backup one.
struct Found {
    loaded: Loaded,
    from_backup: bool,
}

/// True if LBA 0 holds an MBR with the 0x55AA signature and no 0xEE (GPT protective) entry:
/// a disk repartitioned as MBR whose stale backup GPT still sits at the end.
fn is_plain_mbr(lba0: &[u8]) -> bool {
    lba0.get(510..512) == Some(&[0x55, 0xAA][..])
        && (0..4).all(|i| lba0.get(446 + 16 * i + 4).is_some_and(|&t| t != 0xEE))
}

fn locate(dev: &dyn ReadAt, sector_size: u64) -> Result<Option<Found>> {
    check_sector_size(sector_size)?;
    let sectors = dev.size() / sector_size;
    // LBA 0, a header and at least one more sector: anything smaller cannot hold a GPT.
    if sectors < 3 {
        return Ok(None);
    }
    let last_lba = sectors - 1;
    let primary_err = match load(dev, sector_size, 1)? {
        Ok(loaded) => {
            return Ok(Some(Found {
                loaded,
                from_backup: false,
            }))
        }
        Err(e) => e,
    };
    let primary_missing = matches!(primary_err, HeaderError::NoSignature);
    if primary_missing {
        // Without a primary header, a backup alone only counts if LBA 0 is not a real MBR:
        // repartitioning tools often leave the old backup GPT behind.
        let lba0 = dev.read_vec(0, 512)?;
        if is_plain_mbr(&lba0) {
            return Ok(None);
        }
    }
    match load(dev, sector_size, last_lba)? {
        Ok(loaded) => Ok(Some(Found { loaded, from_backup: true })),
        // A damaged tail with no primary signature is not a GPT, just old bytes.
        Err(_) if primary_missing => Ok(None),
        Err(backup_err) => Err(Error::corrupt(
            "GPT",
            sector_size,
            format!("primary header at LBA 1: {primary_err}; backup header at LBA {last_lba}: {backup_err}"),
        )),
    }
}

/// Reads a GPT; `Ok(None)` if the disk has no GPT signature in either header.
///
/// The primary header (LBA 1) is used when its signature, size, CRC, location and entry array
/// CRC check out; otherwise the backup header at the disk's last LBA. A backup without a primary
/// signature is ignored when LBA 0 holds a plain MBR (no 0xEE entry): it is a leftover. Both
/// headers damaged, or entries past the end of the disk, outside the usable area, reversed or
/// overlapping, give `Error::Corrupt` with the offending byte offset.
pub fn read(dev: &dyn ReadAt, sector_size: u64) -> Result<Option<PartitionTable>> {
    let Some(found) = locate(dev, sector_size)? else {
        return Ok(None);
    };
    let h = &found.loaded.header;
    let ss = sector_size;
    let disk_sectors = dev.size() / ss;
    let last_lba = disk_sectors - 1;
    let entry_offset = |index: u32| {
        h.entry_lba
            .saturating_mul(ss)
            .saturating_add(u64::from(index) * u64::from(h.entry_size))
    };
    let raw = parse_entries(h, &found.loaded.entries)
        .map_err(|(i, detail)| Error::corrupt("GPT partition entry", entry_offset(i), detail))?;

    let mut parts = Vec::with_capacity(raw.len());
    for e in &raw {
        if e.last > last_lba {
            return Err(Error::corrupt(
                "GPT partition entry",
                entry_offset(e.index),
                format!(
                    "partition {} ends at LBA {} past the last LBA {last_lba} of the disk",
                    e.index + 1,
                    e.last
                ),
            ));
        }
        // last <= last_lba < size / ss, so these products cannot overflow.
        let type_id = guid_text(&e.type_guid);
        parts.push((
            e.index,
            Partition {
                number: e.index + 1,
                start: e.first * ss,
                len: (e.last - e.first + 1) * ss,
                type_name: type_name(&type_id).to_string(),
                type_id,
                name: e.name.clone(),
                guid: Some(guid_text(&e.unique_guid)),
                bootable: false,
                logical: false,
            },
        ));
    }
    // Where the four table areas are. A damaged primary is assumed at the standard place
    // (header at LBA 1, entries from LBA 2); a backup is taken from the header that points to it.
    let entry_sectors = h.entry_sectors(ss);
    let (primary_entries, backup_header, backup_entries) = if found.from_backup {
        (2, h.my_lba, h.entry_lba)
    } else {
        let backup_entries = match load(dev, ss, h.alternate_lba)? {
            Ok(b) => b.header.entry_lba,
            Err(_) => h.alternate_lba.saturating_sub(entry_sectors),
        };
        (h.entry_lba, h.alternate_lba, backup_entries)
    };
    let mut metadata = ExtentList::new();
    let mut add = |lba: u64, count: u64| {
        // Clipped to the disk: a primary copied onto a smaller disk may point past its end.
        let end = lba.saturating_add(count).min(disk_sectors);
        if lba < end {
            metadata.push(lba * ss, (end - lba) * ss);
        }
    };
    add(0, 1);
    add(1, 1);
    add(primary_entries, entry_sectors);
    add(backup_entries, entry_sectors);
    add(backup_header, 1);

    let max_last = raw.iter().map(|e| e.last).max();
    let min_disk_size = min_size(h, max_last, ss).ok_or_else(|| {
        Error::corrupt(
            "GPT header",
            h.my_lba.saturating_mul(ss),
            "minimum disk size overflows",
        )
    })?;

    parts.sort_by_key(|(i, _)| *i);
    Ok(Some(PartitionTable {
        kind: TableKind::Gpt,
        sector_size: ss,
        disk_id: Some(guid_text(&h.disk_guid)),
        partitions: parts.into_iter().map(|(_, p)| p).collect(),
        metadata,
        min_disk_size,
    }))
}

/// Writes the CRC of a header sector after its fields were changed.
fn reseal(raw: &mut [u8]) -> Result<()> {
    let size = le_u32(raw, H_HEADER_SIZE)
        .map(|s| s as usize)
        .filter(|&s| s >= MIN_HEADER_SIZE && s <= raw.len());
    let crc = size.and_then(|s| header_crc(raw, s));
    match crc {
        Some(crc) => {
            raw[H_CRC..H_CRC + 4].copy_from_slice(&crc.to_le_bytes());
            Ok(())
        }
        None => Err(Error::corrupt(
            "GPT header",
            0,
            "header size field out of range",
        )),
    }
}

fn put_u64(raw: &mut [u8], off: usize, v: u64) {
    if let Some(b) = raw.get_mut(off..off + 8) {
        b.copy_from_slice(&v.to_le_bytes());
    }
}

/// The primary GPT area to save for a later [`relocate`]: the bytes of LBA 1 through the end of
/// the primary entry array. When the on-disk primary is damaged it is rebuilt from the backup
/// (header moved to LBA 1, entries to LBA 2, CRC recomputed), so the saved copy is always valid.
/// `Ok(None)` when the disk has no GPT.
pub fn primary_area(dev: &dyn ReadAt, sector_size: u64) -> Result<Option<Vec<u8>>> {
    let Some(found) = locate(dev, sector_size)? else {
        return Ok(None);
    };
    let h = &found.loaded.header;
    let ss = sector_size;
    let entry_sectors = h.entry_sectors(ss);
    if !found.from_backup {
        // check_layout put the primary array before the usable area, so this is bounded by it.
        let end = h
            .entry_lba
            .checked_add(entry_sectors)
            .and_then(|e| e.checked_mul(ss))
            .filter(|&e| e <= dev.size() && e - ss <= MAX_ENTRY_ARRAY + 64 * ss)
            .ok_or_else(|| Error::corrupt("GPT header", ss, "primary entry array out of range"))?;
        return Ok(Some(dev.read_vec(ss, (end - ss) as usize)?));
    }
    let mut header = h.raw.clone();
    put_u64(&mut header, H_MY_LBA, 1);
    put_u64(&mut header, H_ALTERNATE_LBA, h.my_lba);
    put_u64(&mut header, H_ENTRY_LBA, 2);
    reseal(&mut header)?;
    let mut out = header;
    out.extend_from_slice(&found.loaded.entries);
    out.resize(((1 + entry_sectors) * ss) as usize, 0);
    Ok(Some(out))
}

/// Lays a saved GPT out on a target of `target_size` bytes.
///
/// `primary` is the source's LBA 1 through the end of its primary entry array (see
/// [`primary_area`]). Returns `(byte offset, bytes)` writes, in ascending offset order:
/// the primary header (alternate LBA = the target's last LBA, last usable LBA = the sector
/// before the backup entry array, CRC recomputed), the primary entry array, the backup entry
/// array right before the last LBA, and the backup header at the last LBA (my/alternate LBA
/// swapped, entry LBA pointing at the backup array). The entry array and its CRC are unchanged.
///
/// LBA 0 is *not* part of the output: write [`protective_mbr_for`] there to resize the
/// protective MBR. A target on which some partition (or the usable area's first sector) would
/// end after the new last usable LBA is `Error::Refused`, naming both sizes.
pub fn relocate(primary: &[u8], sector_size: u64, target_size: u64) -> Result<Vec<(u64, Vec<u8>)>> {
    let saved = parse_saved(primary, sector_size)?;
    let raw = saved.entries()?;
    lay_out_area(&saved.header, saved.array, &raw, sector_size, target_size)
}

/// Like [`relocate`], and also moves and resizes partitions: each entry named in `parts`
/// (GPT entry index = number - 1, as [`read`] numbers them) gets its first and last LBA from
/// `new_start` and `new_len`; types, GUIDs, names and attributes stay. The entry array's CRC
/// and both headers are recomputed for a target of `target_size` bytes.
///
/// A `Placed` that does not match the saved table (no such entry, other old start or length),
/// is not sector-aligned, or makes partitions overlap or start before the first usable LBA is
/// `Error::Invalid`: the layout was made for another table. A partition that would pass the
/// target's last usable LBA is `Error::Refused` (`TargetTooSmall`). LBA 0 stays the caller's:
/// [`protective_mbr_for`].
pub fn rewrite(
    primary: &[u8],
    sector_size: u64,
    target_size: u64,
    parts: &[crate::layout::Placed],
) -> Result<Vec<(u64, Vec<u8>)>> {
    let ss = sector_size;
    let saved = parse_saved(primary, ss)?;
    let raw = saved.entries()?;
    let h = &saved.header;
    let mut array = saved.array.to_vec();
    let esize = h.entry_size as usize;
    for p in parts {
        let e = p
            .number
            .checked_sub(1)
            .and_then(|i| raw.iter().find(|e| e.index == i))
            .ok_or_else(|| {
                Error::Invalid(format!("partition {} is not in the saved GPT", p.number))
            })?;
        let old = (e.first * ss, (e.last - e.first + 1) * ss);
        if old != (p.old_start, p.old_len) {
            return Err(Error::Invalid(format!(
                "partition {} is {} bytes at {} in the saved GPT, the layout says {} at {}",
                p.number, old.1, old.0, p.old_len, p.old_start
            )));
        }
        if p.new_len == 0 || p.new_start % ss != 0 || p.new_len % ss != 0 {
            return Err(Error::Invalid(format!(
                "partition {}: {} bytes at {} is not a whole number of {ss}-byte sectors",
                p.number, p.new_len, p.new_start
            )));
        }
        let first = p.new_start / ss;
        let last = first + p.new_len / ss - 1;
        // entry index < num_entries and the array holds num_entries * entry_size bytes.
        let at = e.index as usize * esize;
        put_u64(&mut array[at..at + esize], 32, first);
        put_u64(&mut array[at..at + esize], 40, last);
    }
    // Overlaps and starts before the first usable LBA are checked here; the end against the
    // target's last usable LBA in lay_out_area, which knows the target.
    let mut unbounded = h.clone();
    unbounded.last_usable = u64::MAX;
    let raw = parse_entries(&unbounded, &array).map_err(|(i, detail)| {
        Error::Invalid(format!("after the layout, partition {}: {detail}", i + 1))
    })?;
    lay_out_area(h, &array, &raw, ss, target_size)
}

/// A saved primary area whose header and entry array passed their checks.
struct Saved<'a> {
    header: Header,
    /// The entry array: `num_entries * entry_size` bytes.
    array: &'a [u8],
    /// Where the array starts in the saved area, for error offsets.
    array_off: usize,
}

impl Saved<'_> {
    fn entries(&self) -> Result<Vec<RawEntry>> {
        parse_entries(&self.header, self.array).map_err(|(i, detail)| {
            Error::corrupt(
                "GPT partition entry",
                (self.array_off + i as usize * self.header.entry_size as usize) as u64,
                detail,
            )
        })
    }
}

/// Checks a saved primary area (header at LBA 1, then its entry array) as [`relocate`] and
/// [`rewrite`] need it.
fn parse_saved(primary: &[u8], sector_size: u64) -> Result<Saved<'_>> {
    check_sector_size(sector_size)?;
    let ss = sector_size;
    let what = "saved GPT primary area";
    let sector = primary.get(..ss as usize).ok_or_else(|| {
        Error::corrupt(
            what,
            0,
            format!("{} bytes is shorter than a sector", primary.len()),
        )
    })?;
    let h = parse_header(sector).map_err(|e| Error::corrupt(what, 0, e.to_string()))?;
    check_layout(&h, 1, ss).map_err(|e| Error::corrupt(what, 0, e.to_string()))?;
    let entry_bytes = h.entry_bytes() as usize;
    let entry_off = (h.entry_lba - 1)
        .checked_mul(ss)
        .and_then(|o| usize::try_from(o).ok())
        .ok_or_else(|| Error::corrupt(what, H_ENTRY_LBA as u64, "entry array offset overflows"))?;
    let array = entry_off
        .checked_add(entry_bytes)
        .and_then(|end| primary.get(entry_off..end))
        .ok_or_else(|| {
            Error::corrupt(
                what,
                entry_off as u64,
                format!("entry array goes past the {} saved bytes", primary.len()),
            )
        })?;
    if crc32fast::hash(array) != h.entries_crc {
        return Err(Error::corrupt(
            what,
            entry_off as u64,
            "entry array CRC32 mismatch",
        ));
    }
    Ok(Saved {
        header: h,
        array,
        array_off: entry_off,
    })
}

/// Both headers and both copies of `array` (whose used entries are `raw`) for a target of
/// `target_size` bytes: the writes [`relocate`] and [`rewrite`] return. The entry array CRC is
/// computed from `array`, so a rewritten array gets its own.
fn lay_out_area(
    h: &Header,
    array: &[u8],
    raw: &[RawEntry],
    ss: u64,
    target_size: u64,
) -> Result<Vec<(u64, Vec<u8>)>> {
    let what = "saved GPT primary area";
    let max_last = raw.iter().map(|e| e.last).max();
    let needed = min_size(h, max_last, ss)
        .ok_or_else(|| Error::corrupt(what, 0, "required size overflows"))?;
    let refuse = || {
        Error::refused(crate::error::Interlock::TargetTooSmall, format!(
            "the GPT needs a target of at least {needed} bytes ({}), the target has {target_size} bytes ({})",
            crate::human_bytes(needed),
            crate::human_bytes(target_size)
        ))
    };
    let entry_sectors = h.entry_sectors(ss);
    let last = (target_size / ss).checked_sub(1).ok_or_else(refuse)?;
    let backup_entries = last.checked_sub(entry_sectors).ok_or_else(refuse)?;
    let last_usable = backup_entries.checked_sub(1).ok_or_else(refuse)?;
    let need_last_usable = max_last.map_or(h.first_usable, |l| l.max(h.first_usable));
    if last_usable < need_last_usable {
        return Err(refuse());
    }

    let mut primary_header = h.raw.clone();
    put_u64(&mut primary_header, H_ALTERNATE_LBA, last);
    put_u64(&mut primary_header, H_LAST_USABLE, last_usable);
    if let Some(b) = primary_header.get_mut(H_ENTRIES_CRC..H_ENTRIES_CRC + 4) {
        b.copy_from_slice(&crc32fast::hash(array).to_le_bytes());
    }
    reseal(&mut primary_header)?;
    let mut backup_header = primary_header.clone();
    put_u64(&mut backup_header, H_MY_LBA, last);
    put_u64(&mut backup_header, H_ALTERNATE_LBA, 1);
    put_u64(&mut backup_header, H_ENTRY_LBA, backup_entries);
    reseal(&mut backup_header)?;
    let mut array = array.to_vec();
    array.resize((entry_sectors * ss) as usize, 0);

    // All LBAs are <= last < target_size / ss, so the byte offsets cannot overflow.
    Ok(vec![
        (ss, primary_header),
        (h.entry_lba * ss, array.clone()),
        (backup_entries * ss, array),
        (last * ss, backup_header),
    ])
}

/// LBA 0 for a GPT target of `target_size` bytes, from the source's LBA 0 (`lba0`, padded or
/// cut to one sector).
///
/// A pure protective MBR (one 0xEE entry, no others) gets that entry's start set to LBA 1 and
/// its size to `min(target sectors - 1, 0xFFFFFFFF)`; boot code and disk signature are kept.
/// A hybrid MBR (0xEE plus other entries) is returned unchanged: its entries describe specific
/// partitions, not the disk size. Without a 0x55AA signature or any 0xEE entry a fresh
/// protective entry replaces the four entries, so the target never carries a stale MBR table.
pub fn protective_mbr_for(lba0: &[u8], sector_size: u64, target_size: u64) -> Vec<u8> {
    let len = (sector_size as usize).max(512);
    let mut out = vec![0u8; len];
    let n = lba0.len().min(len);
    out[..n].copy_from_slice(&lba0[..n]);
    let size = ((target_size / sector_size.max(1)).saturating_sub(1)).min(0xFFFF_FFFF) as u32;
    let slot = |i: usize| 446 + 16 * i;
    let protective: Vec<usize> = (0..4).filter(|&i| out[slot(i) + 4] == 0xEE).collect();
    let others = (0..4).any(|i| out[slot(i) + 4] != 0xEE && out[slot(i) + 4] != 0);
    let signed = out[510] == 0x55 && out[511] == 0xAA;
    if signed && protective.len() == 1 && !others {
        let s = slot(protective[0]);
        out[s + 8..s + 12].copy_from_slice(&1u32.to_le_bytes());
        out[s + 12..s + 16].copy_from_slice(&size.to_le_bytes());
    } else if !signed || protective.is_empty() {
        out[446..510].fill(0);
        let s = slot(0);
        // Start CHS 0/0/2 and end CHS "not representable", as the UEFI spec's protective MBR.
        out[s + 1..s + 4].copy_from_slice(&[0x00, 0x02, 0x00]);
        out[s + 4] = 0xEE;
        out[s + 5..s + 8].copy_from_slice(&[0xFF, 0xFF, 0xFF]);
        out[s + 8..s + 12].copy_from_slice(&1u32.to_le_bytes());
        out[s + 12..s + 16].copy_from_slice(&size.to_le_bytes());
        out[510] = 0x55;
        out[511] = 0xAA;
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    const SS: u64 = 512;
    const LINUX: &str = "0fc63daf-8483-4772-8e79-3d69d8477de4";

    /// A primary area (header at LBA 1, entries from LBA 2) for a disk of `disk` bytes, with
    /// `(entry index, first LBA, last LBA, name)` partitions of the Linux type.
    fn primary_area_for(ss: u64, disk: u64, parts: &[(usize, u64, u64, &str)]) -> Vec<u8> {
        let (num, size) = (128u32, 128u32);
        let entry_sectors = (u64::from(num) * u64::from(size)).div_ceil(ss);
        let last = disk / ss - 1;
        let mut area = vec![0u8; ((1 + entry_sectors) * ss) as usize];
        let h = &mut area[..ss as usize];
        h[..8].copy_from_slice(SIGNATURE);
        h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        put_u64(h, H_MY_LBA, 1);
        put_u64(h, H_ALTERNATE_LBA, last);
        put_u64(h, H_FIRST_USABLE, 2 + entry_sectors);
        put_u64(h, H_LAST_USABLE, last - entry_sectors - 1);
        h[H_DISK_GUID..H_DISK_GUID + 16]
            .copy_from_slice(&guid_bytes("01234567-89ab-cdef-0011-223344556677").unwrap());
        put_u64(h, H_ENTRY_LBA, 2);
        h[H_NUM_ENTRIES..H_NUM_ENTRIES + 4].copy_from_slice(&num.to_le_bytes());
        h[H_ENTRY_SIZE..H_ENTRY_SIZE + 4].copy_from_slice(&size.to_le_bytes());
        let entries = &mut area[ss as usize..];
        for &(i, first, last, name) in parts {
            let e = &mut entries[i * 128..(i + 1) * 128];
            e[..16].copy_from_slice(&guid_bytes(LINUX).unwrap());
            e[16..32].copy_from_slice(&[i as u8 + 1; 16]);
            put_u64(e, 32, first);
            put_u64(e, 40, last);
            for (k, u) in name.encode_utf16().enumerate() {
                e[56 + 2 * k..58 + 2 * k].copy_from_slice(&u.to_le_bytes());
            }
        }
        let crc = crc32fast::hash(&area[ss as usize..ss as usize + 16384]);
        area[H_ENTRIES_CRC..H_ENTRIES_CRC + 4].copy_from_slice(&crc.to_le_bytes());
        reseal(&mut area[..ss as usize]).unwrap();
        area
    }

    /// A whole disk image with that table, laid out by `relocate` itself.
    fn disk(ss: u64, size: u64, parts: &[(usize, u64, u64, &str)]) -> Vec<u8> {
        let area = primary_area_for(ss, size, parts);
        let mut d = vec![0u8; size as usize];
        d[..ss as usize].copy_from_slice(&protective_mbr_for(&[], ss, size));
        for (off, bytes) in relocate(&area, ss, size).unwrap() {
            d[off as usize..off as usize + bytes.len()].copy_from_slice(&bytes);
        }
        d
    }

    /// Rewrites entry `index` in both entry arrays of a disk built by `disk`, fixing the CRCs.
    fn patch_entry(d: &mut [u8], index: usize, first: u64, last: u64) {
        let last_lba = d.len() as u64 / SS - 1;
        for (hdr, arr) in [(1, 2), (last_lba, last_lba - 32)] {
            let a = (arr * SS) as usize;
            let e = a + index * 128;
            if d[e..e + 16] == [0u8; 16] {
                d[e..e + 16].copy_from_slice(&guid_bytes(LINUX).unwrap());
            }
            put_u64(&mut d[e..], 32, first);
            put_u64(&mut d[e..], 40, last);
            let crc = crc32fast::hash(&d[a..a + 16384]);
            let h = (hdr * SS) as usize;
            d[h + H_ENTRIES_CRC..h + H_ENTRIES_CRC + 4].copy_from_slice(&crc.to_le_bytes());
            reseal(&mut d[h..h + SS as usize]).unwrap();
        }
    }

    fn corrupt_offset(r: Result<Option<PartitionTable>>) -> (u64, String) {
        match r {
            Err(Error::Corrupt { offset, detail, .. }) => (offset, detail),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    /// Rewrites a header field on both headers of a disk built by `disk` and reseals them.
    fn patch_headers(d: &mut [u8], ss: u64, f: impl Fn(&mut [u8])) {
        let last = d.len() as u64 / ss - 1;
        for lba in [1, last] {
            let h = &mut d[(lba * ss) as usize..((lba + 1) * ss) as usize];
            f(h);
            // Deliberately broken sizes cannot be resealed; the parser rejects them first.
            let _ = reseal(h);
        }
    }

    #[test]
    fn guids_use_the_mixed_endian_layout() {
        let efi = [
            0x28, 0x73, 0x2A, 0xC1, 0x1F, 0xF8, 0xD2, 0x11, 0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E,
            0xC9, 0x3B,
        ];
        assert_eq!(guid_text(&efi), "c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
        assert_eq!(
            guid_bytes("C12A7328-F81F-11D2-BA4B-00A0C93EC93B"),
            Some(efi)
        );
        assert_eq!(type_name(&guid_text(&efi)), "EFI System");
        assert_eq!(guid_bytes("c12a7328f81f11d2ba4b00a0c93ec93b"), None);
        assert_eq!(guid_bytes("c12a7328-f81f-11d2-ba4b-00a0c93ec93g"), None);
    }

    #[test]
    fn hand_built_table_reads_back_with_names_and_gaps() {
        let d = disk(
            SS,
            1 << 20,
            &[(0, 34, 100, "boot"), (2, 200, 1000, "café ☃")],
        );
        let t = read(&d, SS).unwrap().unwrap();
        assert_eq!(
            t.disk_id.as_deref(),
            Some("01234567-89ab-cdef-0011-223344556677")
        );
        assert_eq!(t.partitions.len(), 2);
        let (a, b) = (&t.partitions[0], &t.partitions[1]);
        assert_eq!(
            (a.number, a.start, a.len, a.name.as_str()),
            (1, 34 * 512, 67 * 512, "boot")
        );
        assert_eq!(
            (b.number, b.start, b.len, b.name.as_str()),
            (3, 200 * 512, 801 * 512, "café ☃")
        );
        assert_eq!(b.type_name, "Linux filesystem");
        assert_eq!(
            b.guid.as_deref(),
            Some("03030303-0303-0303-0303-030303030303")
        );
        assert_eq!(t.min_disk_size, (1001 + 32 + 1) * 512);
    }

    #[test]
    fn empty_gpt_needs_one_usable_sector() {
        let d = disk(SS, 1 << 20, &[]);
        let t = read(&d, SS).unwrap().unwrap();
        assert!(t.partitions.is_empty());
        assert_eq!(t.min_disk_size, (35 + 32 + 1) * 512);
        let area = primary_area(&d, SS).unwrap().unwrap();
        assert!(relocate(&area, SS, t.min_disk_size).is_ok());
        assert!(matches!(
            relocate(&area, SS, t.min_disk_size - 512),
            Err(Error::Refused { .. })
        ));
    }

    #[test]
    fn overlapping_reversed_and_outside_partitions_are_corrupt() {
        let mut d = disk(SS, 1 << 20, &[(0, 100, 300, "a")]);
        patch_entry(&mut d, 1, 300, 400);
        let (off, detail) = corrupt_offset(read(&d, SS));
        assert_eq!(off, 2 * 512 + 128);
        assert!(detail.contains("overlaps"), "{detail}");

        let mut d = disk(SS, 1 << 20, &[(0, 100, 300, "a")]);
        patch_entry(&mut d, 5, 400, 399);
        let (off, detail) = corrupt_offset(read(&d, SS));
        assert_eq!(off, 2 * 512 + 5 * 128);
        assert!(detail.contains("after last"), "{detail}");

        // Inside the entry array.
        let mut d = disk(SS, 1 << 20, &[(0, 34, 300, "a")]);
        patch_entry(&mut d, 0, 10, 300);
        assert!(corrupt_offset(read(&d, SS)).1.contains("usable"));
    }

    #[test]
    fn partition_past_the_end_of_a_truncated_disk_is_corrupt() {
        let mut d = disk(SS, 1 << 20, &[(0, 34, 100, "a"), (1, 1000, 2000, "b")]);
        d.truncate(512 * 1024);
        let (off, detail) = corrupt_offset(read(&d, SS));
        assert_eq!(off, 2 * 512 + 128);
        assert!(detail.contains("past the last LBA"), "{detail}");
    }

    #[test]
    fn absurd_entry_geometry_is_refused_without_allocating() {
        for (num, size) in [
            (u32::MAX, 128u32),
            (1 << 20, 128),
            (128, 100),
            (128, u32::MAX - 127),
            (128, 0),
        ] {
            let mut d = disk(SS, 1 << 20, &[(0, 34, 100, "a")]);
            patch_headers(&mut d, SS, |h| {
                h[H_NUM_ENTRIES..H_NUM_ENTRIES + 4].copy_from_slice(&num.to_le_bytes());
                h[H_ENTRY_SIZE..H_ENTRY_SIZE + 4].copy_from_slice(&size.to_le_bytes());
            });
            let (off, detail) = corrupt_offset(read(&d, SS));
            assert_eq!(off, 512);
            assert!(detail.contains("entry"), "{num} x {size}: {detail}");
        }
    }

    #[test]
    fn absurd_header_size_and_entry_lba_are_refused() {
        let mut d = disk(SS, 1 << 20, &[(0, 34, 100, "a")]);
        patch_headers(&mut d, SS, |h| {
            h[H_HEADER_SIZE..H_HEADER_SIZE + 4].copy_from_slice(&600u32.to_le_bytes())
        });
        assert!(corrupt_offset(read(&d, SS)).1.contains("header size"));

        let mut d = disk(SS, 1 << 20, &[(0, 34, 100, "a")]);
        patch_headers(&mut d, SS, |h| put_u64(h, H_ENTRY_LBA, u64::MAX - 1));
        assert!(corrupt_offset(read(&d, SS)).1.contains("entry array"));
    }

    #[test]
    fn stale_backup_behind_a_plain_mbr_is_ignored() {
        let mut d = disk(SS, 1 << 20, &[(0, 34, 100, "a")]);
        d[512..1024].fill(0);
        // No primary, no MBR at all: the backup is the table.
        d[..512].fill(0);
        assert_eq!(read(&d, SS).unwrap().unwrap().partitions.len(), 1);
        // A real MBR in LBA 0 (one Linux partition): the GPT backup is a leftover.
        d[446 + 4] = 0x83;
        d[446 + 8..446 + 12].copy_from_slice(&2048u32.to_le_bytes());
        d[446 + 12..446 + 16].copy_from_slice(&100u32.to_le_bytes());
        d[510] = 0x55;
        d[511] = 0xAA;
        assert!(read(&d, SS).unwrap().is_none());
        // A damaged backup with no primary signature is just old bytes, not an error.
        d[..512].fill(0);
        let last = d.len() - 512;
        d[last + 60] ^= 1;
        assert!(read(&d, SS).unwrap().is_none());
    }

    #[test]
    fn small_or_blank_buffers_are_not_a_gpt() {
        for len in [0usize, 1, 511, 512, 1024, 1536, 4096] {
            assert!(read(&vec![0u8; len], SS).unwrap().is_none(), "{len}");
        }
        assert!(matches!(
            read(&vec![0u8; 4096], 1000),
            Err(Error::Invalid(_))
        ));
        assert!(matches!(
            relocate(&[0u8; 512], 100, 1 << 20),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn corrupted_bytes_never_panic() {
        let good = disk(SS, 256 * 1024, &[(0, 34, 100, "a"), (1, 101, 300, "b")]);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..3000 {
            let mut d = good.clone();
            for _ in 0..1 + next() % 4 {
                // Mostly the headers and the first entries, sometimes anywhere.
                let pos = match next() % 3 {
                    0 => 512 + next() % 512,
                    1 => 1024 + next() % 512,
                    _ => next() % d.len() as u64,
                } as usize;
                d[pos] = next() as u8;
            }
            // Reseal the primary sometimes, so the parser gets past the CRC check.
            if next() % 2 == 0 {
                let _ = reseal(&mut d[512..1024]);
            }
            let _ = read(&d, SS);
            if let Ok(Some(area)) = primary_area(&d, SS) {
                let _ = relocate(&area, SS, next() % (1 << 20));
            }
        }
    }

    #[test]
    fn relocate_rejects_damaged_saved_areas() {
        let area = primary_area_for(SS, 1 << 20, &[(0, 34, 100, "a")]);
        assert!(matches!(
            relocate(&area[..600], SS, 1 << 20),
            Err(Error::Corrupt { .. })
        ));
        assert!(matches!(
            relocate(&area[..100], SS, 1 << 20),
            Err(Error::Corrupt { .. })
        ));
        let mut bad = area.clone();
        bad[600] ^= 1;
        assert!(matches!(
            relocate(&bad, SS, 1 << 20),
            Err(Error::Corrupt { .. })
        ));
        let mut bad = area;
        bad[0] = b'X';
        assert!(matches!(
            relocate(&bad, SS, 1 << 20),
            Err(Error::Corrupt { .. })
        ));
        assert!(matches!(relocate(&bad, SS, 0), Err(Error::Corrupt { .. })));
    }

    #[test]
    fn relocate_writes_backup_at_the_target_end_with_4096_byte_sectors() {
        let ss = 4096;
        let d = disk(ss, 4 << 20, &[(0, 6, 500, "a")]);
        let t = read(&d, ss).unwrap().unwrap();
        assert_eq!(t.min_disk_size, (501 + 4 + 1) * 4096);
        let area = primary_area(&d, ss).unwrap().unwrap();
        assert_eq!(area.len(), 5 * 4096);
        let writes = relocate(&area, ss, 8 << 20).unwrap();
        let offsets: Vec<u64> = writes.iter().map(|w| w.0).collect();
        let last = (8 << 20) / 4096 - 1;
        assert_eq!(offsets, [4096, 2 * 4096, (last - 4) * 4096, last * 4096]);
        let backup = &writes[3].1;
        assert_eq!(le_u64(backup, H_MY_LBA), Some(last));
        assert_eq!(le_u64(backup, H_ALTERNATE_LBA), Some(1));
        assert_eq!(le_u64(backup, H_ENTRY_LBA), Some(last - 4));
        assert_eq!(le_u64(backup, H_LAST_USABLE), Some(last - 5));
        assert_eq!(le_u64(&writes[0].1, H_ALTERNATE_LBA), Some(last));
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
    fn rewrite_moves_and_resizes_entries_and_reads_back() {
        let d = disk(SS, 1 << 20, &[(0, 34, 100, "a"), (2, 200, 1000, "c")]);
        let area = primary_area(&d, SS).unwrap().unwrap();
        let target = 2 << 20;
        let parts = [placed(3, (200, 801), (2048, 2000))];
        let writes = rewrite(&area, SS, target, &parts).unwrap();
        let mut t = vec![0u8; target as usize];
        t[..512].copy_from_slice(&protective_mbr_for(&d[..512], SS, target));
        for (off, bytes) in &writes {
            t[*off as usize..*off as usize + bytes.len()].copy_from_slice(bytes);
        }
        let got = read(&t, SS).unwrap().unwrap();
        let spans: Vec<(u32, u64, u64, &str)> = got
            .partitions
            .iter()
            .map(|p| (p.number, p.start / SS, p.len / SS, p.name.as_str()))
            .collect();
        assert_eq!(spans, [(1, 34, 67, "a"), (3, 2048, 2000, "c")]);
        assert_eq!(
            got.partitions[1].guid.as_deref(),
            Some("03030303-0303-0303-0303-030303030303")
        );
        // Both headers agree: with the primary header gone the backup gives the same table.
        t[512..1024].fill(0);
        t[..512].fill(0);
        assert_eq!(read(&t, SS).unwrap().unwrap().partitions, got.partitions);
        // An empty layout is relocate.
        assert_eq!(
            rewrite(&area, SS, target, &[]).unwrap(),
            relocate(&area, SS, target).unwrap()
        );
    }

    #[test]
    fn rewrite_refuses_what_does_not_fit_or_does_not_match() {
        let d = disk(SS, 1 << 20, &[(0, 34, 100, "a"), (2, 200, 1000, "c")]);
        let area = primary_area(&d, SS).unwrap().unwrap();
        let target = 1 << 20; // 2048 sectors: last usable LBA 2014.
        let r = rewrite(&area, SS, target, &[placed(3, (200, 801), (200, 1816))]);
        assert!(matches!(
            r,
            Err(Error::Refused {
                interlock: crate::error::Interlock::TargetTooSmall,
                ..
            })
        ));
        assert!(rewrite(&area, SS, target, &[placed(3, (200, 801), (200, 1815))]).is_ok());
        let invalid = |parts: &[crate::layout::Placed]| {
            matches!(rewrite(&area, SS, target, parts), Err(Error::Invalid(_)))
        };
        assert!(invalid(&[placed(2, (200, 801), (200, 100))]), "no entry 2");
        assert!(invalid(&[placed(0, (200, 801), (200, 100))]), "number 0");
        assert!(
            invalid(&[placed(3, (201, 801), (200, 100))]),
            "other old start"
        );
        assert!(invalid(&[placed(3, (200, 801), (50, 100))]), "overlap");
        assert!(
            invalid(&[placed(1, (34, 67), (2, 10))]),
            "before first usable"
        );
        let mut odd = placed(3, (200, 801), (200, 100));
        odd.new_len += 1;
        assert!(invalid(&[odd]), "not whole sectors");
    }

    #[test]
    fn protective_mbr_is_resized_created_or_left_alone() {
        // Fresh, from nothing.
        let m = protective_mbr_for(&[], 512, 1 << 30);
        assert_eq!(m.len(), 512);
        assert_eq!((m[446 + 4], m[510], m[511]), (0xEE, 0x55, 0xAA));
        assert_eq!(le_u32(&m, 446 + 8), Some(1));
        assert_eq!(le_u32(&m, 446 + 12), Some((1 << 21) - 1));
        // Resized, boot code kept; clamped to 32 bits on a 4 TiB target.
        let mut src = m.clone();
        src[..4].copy_from_slice(b"BOOT");
        let r = protective_mbr_for(&src, 512, 4 << 40);
        assert_eq!(&r[..4], b"BOOT");
        assert_eq!(le_u32(&r, 446 + 12), Some(u32::MAX));
        // 4096-byte sectors: a whole sector, size in 4 KiB units.
        let r = protective_mbr_for(&src, 4096, 1 << 30);
        assert_eq!(r.len(), 4096);
        assert_eq!(le_u32(&r, 446 + 12), Some((1 << 18) - 1));
        // Hybrid: untouched.
        let mut hybrid = m.clone();
        hybrid[446 + 12..446 + 16].copy_from_slice(&100u32.to_le_bytes());
        hybrid[446 + 16 + 4] = 0x0c;
        assert_eq!(protective_mbr_for(&hybrid, 512, 1 << 40), hybrid);
    }
}

//! Used-block map of FAT12/16/32, read from the (active) allocation table: the reserved area
//! (boot sector, FSInfo, backup boot sector), every FAT copy, the fixed root directory of
//! FAT12/16, and each cluster whose entry is non-zero and not the bad-cluster marker.
//!
//! Must not: write, read a bad cluster, trust any BPB field without a bounds check, or
//! allocate by on-disk sizes (the FAT is streamed in bounded chunks). It must reject NTFS and
//! exFAT boot sectors, which share the jump/BPB shape, as "not FAT".

use super::{label_from, le16, le32, Filesystem, FsInfo, FsKind};
use crate::device::ReadAt;
use crate::error::{Error, Result};
use crate::extent::ExtentList;

pub struct Fat;

/// The boot sector fields the used map depends on, validated.
#[derive(Debug, Clone)]
pub struct Bpb {
    pub kind: FsKind,
    pub bytes_per_sector: u64,
    pub cluster_size: u64,
    pub reserved_sectors: u64,
    pub fats: u64,
    /// Sectors per FAT.
    pub fat_sectors: u64,
    pub root_dir_sectors: u64,
    pub total_sectors: u64,
    /// Data clusters (numbered 2..clusters+2), limited to what the FAT can describe.
    pub clusters: u64,
    /// The FAT to read (FAT32 with mirroring disabled names one; otherwise the first).
    pub active_fat: u64,
    pub label: Option<String>,
    pub serial: Option<u32>,
}

impl Bpb {
    pub fn data_start(&self) -> u64 {
        (self.reserved_sectors + self.fats * self.fat_sectors + self.root_dir_sectors)
            * self.bytes_per_sector
    }
}

/// Parses and validates a boot sector. `Ok(None)` when it is not a FAT boot sector at all.
pub fn parse_bpb(b: &[u8], dev_size: u64) -> Result<Option<Bpb>> {
    if b.len() < 512 {
        return Ok(None);
    }
    if !(b[0] == 0xEB || b[0] == 0xE9) || b[510] != 0x55 || b[511] != 0xAA {
        return Ok(None);
    }
    // NTFS and exFAT share the jump and signature; their BPBs zero the FAT fields, which the
    // checks below reject too, but the OEM id says it outright.
    let oem = &b[3..11];
    if oem == b"NTFS    " || oem == b"EXFAT   " {
        return Ok(None);
    }
    let bps = u64::from(le16(b, 0x0B));
    let spc = u64::from(b[0x0D]);
    let reserved = u64::from(le16(b, 0x0E));
    let fats = u64::from(b[0x10]);
    let root_entries = u64::from(le16(b, 0x11));
    let media = b[0x15];
    if !(512..=4096).contains(&bps) || !bps.is_power_of_two() {
        return Ok(None);
    }
    if spc == 0 || !spc.is_power_of_two() || reserved == 0 || !(1..=4).contains(&fats) {
        return Ok(None);
    }
    if !(media == 0xF0 || media >= 0xF8) {
        return Ok(None);
    }
    let tot16 = u64::from(le16(b, 0x13));
    let total_sectors = if tot16 != 0 {
        tot16
    } else {
        u64::from(le32(b, 0x20))
    };
    let fat16_size = u64::from(le16(b, 0x16));
    let fat_sectors = if fat16_size != 0 {
        fat16_size
    } else {
        u64::from(le32(b, 0x24))
    };
    if total_sectors == 0 || fat_sectors == 0 {
        return Ok(None);
    }

    // From here on it is a FAT boot sector; inconsistencies are corruption.
    let root_dir_sectors = (root_entries * 32).div_ceil(bps);
    let meta_sectors = reserved + fats * fat_sectors + root_dir_sectors;
    if meta_sectors >= total_sectors {
        return Err(Error::corrupt(
            "FAT boot sector",
            0x13,
            format!("{meta_sectors} metadata sectors in a {total_sectors}-sector volume"),
        ));
    }
    let size = total_sectors * bps;
    if size > dev_size {
        return Err(Error::corrupt(
            "FAT boot sector total sectors",
            0x13,
            format!("volume of {size} bytes on a {dev_size}-byte device"),
        ));
    }
    let count = (total_sectors - meta_sectors) / spc;
    // FAT12 vs FAT16 by Microsoft's cluster-count rule. FAT32 is told by the BPB's shape (no
    // 16-bit FAT size), as Linux and dosfstools do: `mkfs.vfat -F 32` makes FAT32 volumes with
    // fewer than 65525 clusters, which the count rule alone would misread as FAT16.
    let kind = if fat16_size == 0 {
        FsKind::Fat32
    } else if count < 4085 {
        FsKind::Fat12
    } else {
        FsKind::Fat16
    };
    if kind == FsKind::Fat32 && root_entries != 0 {
        return Err(Error::corrupt(
            "FAT32 boot sector",
            0x11,
            "root entry count set",
        ));
    }
    if kind != FsKind::Fat32 && root_entries == 0 {
        return Err(Error::corrupt(
            "FAT12/16 boot sector",
            0x11,
            "no root directory entries",
        ));
    }
    // Clusters the FAT can describe (entries 0 and 1 are reserved).
    let fat_bytes = fat_sectors * bps;
    let fat_entries = match kind {
        FsKind::Fat12 => fat_bytes * 2 / 3,
        FsKind::Fat16 => fat_bytes / 2,
        _ => fat_bytes / 4,
    };
    let clusters = count.min(fat_entries.saturating_sub(2));

    let (ext_sig_off, serial_off, label_off) = if kind == FsKind::Fat32 {
        (0x42, 0x43, 0x47)
    } else {
        (0x26, 0x27, 0x2B)
    };
    let has_ext = b[ext_sig_off] == 0x29;
    let label = if has_ext {
        label_from(&b[label_off..label_off + 11]).filter(|l| l != "NO NAME")
    } else {
        None
    };
    let serial = if has_ext {
        Some(le32(b, serial_off))
    } else {
        None
    };

    let mut active_fat = 0;
    if kind == FsKind::Fat32 {
        let ext_flags = le16(b, 0x28);
        if ext_flags & 0x80 != 0 {
            active_fat = u64::from(ext_flags & 0x0F);
            if active_fat >= fats {
                return Err(Error::corrupt(
                    "FAT32 boot sector active FAT",
                    0x28,
                    format!("{active_fat} of {fats}"),
                ));
            }
        }
    }
    Ok(Some(Bpb {
        kind,
        bytes_per_sector: bps,
        cluster_size: spc * bps,
        reserved_sectors: reserved,
        fats,
        fat_sectors,
        root_dir_sectors,
        total_sectors,
        clusters,
        active_fat,
        label,
        serial,
    }))
}

/// Reads the active FAT and returns the used map.
fn used_map(dev: &dyn ReadAt, p: &Bpb) -> Result<ExtentList> {
    let mut used = ExtentList::new();
    let data_start = p.data_start();
    // Reserved area, all FATs and the fixed root directory are contiguous from 0.
    used.push(0, data_start);

    let fat_off = (p.reserved_sectors + p.active_fat * p.fat_sectors) * p.bytes_per_sector;
    let entries = p.clusters + 2;
    let cs = p.cluster_size;
    let mut mark = |cluster: u64, value: u32| {
        let bad = match p.kind {
            FsKind::Fat12 => 0xFF7,
            FsKind::Fat16 => 0xFFF7,
            _ => 0x0FFF_FFF7,
        };
        if value != 0 && value != bad {
            used.push(data_start + (cluster - 2) * cs, cs);
        }
    };
    match p.kind {
        FsKind::Fat12 => {
            // At most 4086 entries (6 KiB): read it whole.
            let len = (entries * 3).div_ceil(2);
            let fat = dev.read_vec(fat_off, len as usize)?;
            for n in 2..entries {
                let i = (n * 3 / 2) as usize;
                let pair = le16(&fat, i);
                let v = if n % 2 == 0 { pair & 0x0FFF } else { pair >> 4 };
                mark(n, u32::from(v));
            }
        }
        _ => {
            let width: u64 = if p.kind == FsKind::Fat16 { 2 } else { 4 };
            // Stream the table in 1 MiB pieces (a whole multiple of the entry width).
            const CHUNK: u64 = 1 << 20;
            let total = entries * width;
            let mut pos = 0u64;
            while pos < total {
                let n = (total - pos).min(CHUNK);
                let buf = dev.read_vec(fat_off + pos, n as usize)?;
                let first = pos / width;
                for k in 0..n / width {
                    let cluster = first + k;
                    if cluster < 2 {
                        continue;
                    }
                    let off = (k * width) as usize;
                    let v = if width == 2 {
                        u32::from(le16(&buf, off))
                    } else {
                        le32(&buf, off) & 0x0FFF_FFFF
                    };
                    mark(cluster, v);
                }
                pos += n;
            }
        }
    }
    Ok(used)
}

impl Filesystem for Fat {
    fn name(&self) -> &'static str {
        "fat"
    }

    fn probe(&self, dev: &dyn ReadAt) -> Result<Option<FsInfo>> {
        if dev.size() < 512 {
            return Ok(None);
        }
        let boot = dev.read_vec(0, 512)?;
        let Some(p) = parse_bpb(&boot, dev.size())? else {
            return Ok(None);
        };
        let used = used_map(dev, &p)?;
        Ok(Some(FsInfo {
            kind: p.kind,
            label: p.label.clone(),
            uuid: p
                .serial
                .map(|s| format!("{:04X}-{:04X}", s >> 16, s & 0xFFFF)),
            block_size: p.cluster_size,
            size: p.total_sectors * p.bytes_per_sector,
            used,
        }))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fat16_boot() -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[0] = 0xEB;
        b[1] = 0x3C;
        b[2] = 0x90;
        b[3..11].copy_from_slice(b"mkfs.fat");
        b[0x0B..0x0D].copy_from_slice(&512u16.to_le_bytes());
        b[0x0D] = 4;
        b[0x0E] = 4;
        b[0x10] = 2;
        b[0x11..0x13].copy_from_slice(&512u16.to_le_bytes());
        b[0x15] = 0xF8;
        b[0x16..0x18].copy_from_slice(&64u16.to_le_bytes());
        b[0x20..0x24].copy_from_slice(&(65536u32).to_le_bytes());
        b[0x26] = 0x29;
        b[0x27..0x2B].copy_from_slice(&0x1234_ABCDu32.to_le_bytes());
        b[0x2B..0x36].copy_from_slice(b"NO NAME    ");
        b[510] = 0x55;
        b[511] = 0xAA;
        b
    }

    #[test]
    fn fat16_type_and_serial() {
        let p = parse_bpb(&fat16_boot(), 1 << 30).unwrap().unwrap();
        assert_eq!(p.kind, FsKind::Fat16);
        assert_eq!(p.label, None);
        assert_eq!(p.serial, Some(0x1234_ABCD));
    }

    #[test]
    fn ntfs_and_garbage_are_not_fat() {
        let mut b = fat16_boot();
        b[3..11].copy_from_slice(b"NTFS    ");
        assert!(parse_bpb(&b, 1 << 30).unwrap().is_none());
        let mut b = fat16_boot();
        b[0x10] = 0; // no FATs, as in an NTFS BPB
        assert!(parse_bpb(&b, 1 << 30).unwrap().is_none());
        assert!(parse_bpb(&[0xAA; 512], 1 << 30).unwrap().is_none());
    }

    #[test]
    fn volume_beyond_device_is_corrupt() {
        assert!(matches!(
            parse_bpb(&fat16_boot(), 1 << 20),
            Err(Error::Corrupt { .. })
        ));
    }
}

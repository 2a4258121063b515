//! The copy plan: which byte ranges of a source disk are copied and how, decided from its
//! partition table and filesystems before anything is read in bulk or written. Clone, save and
//! `info` all use the same plan, so what the user is shown is what happens.

use crate::device::{DiskIdentity, ReadAt, Slice};
use crate::error::Result;
use crate::extent::ExtentList;
use crate::fs::{self, FsInfo};
use crate::table::{self, PartitionTable, TableKind};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RegionKind {
    /// Everything before the first partition: the MBR/protective MBR, the primary GPT, and the
    /// gap where boot loaders (GRUB core.img, vendor tools) hide.
    Boot,
    /// A data partition.
    Partition { number: u32 },
    /// Table structures outside partitions and the boot area: MBR extended-chain EBRs, the GPT
    /// backup. The GPT backup is regenerated for the target rather than copied.
    TableExtra,
    /// A disk without a partition table we can read.
    WholeDisk,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Method {
    /// Only the blocks the filesystem uses.
    UsedBlocks,
    /// Every byte, with all-zero chunks recorded instead of stored; `reason` says why.
    Raw { reason: String },
}

/// Filesystem facts worth keeping in the image (the used map lives in `Region::used`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsSummary {
    pub kind: fs::FsKind,
    pub label: Option<String>,
    pub uuid: Option<String>,
    pub block_size: u64,
    pub size: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    #[serde(flatten)]
    pub kind: RegionKind,
    pub start: u64,
    pub len: u64,
    #[serde(flatten)]
    pub method: Method,
    pub fs: Option<FsSummary>,
    /// Absolute disk byte ranges to copy.
    pub used: ExtentList,
}

impl Region {
    pub fn end(&self) -> u64 {
        self.start + self.len
    }
    /// "partition 2" / "boot area" for messages.
    pub fn describe(&self) -> String {
        match &self.kind {
            RegionKind::Boot => "boot area".into(),
            RegionKind::Partition { number } => format!("partition {number}"),
            RegionKind::TableExtra => "partition table".into(),
            RegionKind::WholeDisk => "whole disk".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub disk: DiskIdentity,
    pub table: PartitionTable,
    pub regions: Vec<Region>,
}

impl Plan {
    /// Bytes that will be read and copied (raw regions count in full: zero elision happens
    /// while reading).
    pub fn copy_bytes(&self) -> u64 {
        self.regions.iter().map(|r| r.used.total()).sum()
    }
    /// Bytes copied raw because no used-block map was available.
    pub fn raw_bytes(&self) -> u64 {
        self.regions
            .iter()
            .filter(|r| matches!(r.method, Method::Raw { .. }))
            .map(|r| r.used.total())
            .sum()
    }
    /// Forensic acquisition: every sector of the disk, free space and unallocated areas
    /// included, as one raw region (still deduplicated and compressed, all-zero windows
    /// recorded, not stored). The table is kept for what `info` shows; the image restores only
    /// onto a disk at least as large, byte for byte.
    pub fn all_sectors(mut self) -> Plan {
        let size = self.disk.size;
        let mut used = ExtentList::new();
        used.push(0, size);
        self.regions = vec![Region {
            kind: RegionKind::WholeDisk,
            start: 0,
            len: size,
            method: Method::Raw {
                reason: "every sector (forensic acquisition)".into(),
            },
            fs: None,
            used,
        }];
        self.table.min_disk_size = size;
        self
    }
    /// Whether this is an all-sectors plan (one raw region over the whole disk).
    pub fn is_all_sectors(&self) -> bool {
        matches!(self.regions.as_slice(), [r] if r.kind == RegionKind::WholeDisk
            && r.start == 0 && r.len == self.disk.size && r.used.total() == r.len)
    }
    /// The smallest target that can hold this disk.
    pub fn min_target_size(&self) -> u64 {
        self.table.min_disk_size
    }
    /// Human-readable warnings about raw copies, for the plan shown before a job.
    pub fn warnings(&self) -> Vec<String> {
        self.regions
            .iter()
            .filter_map(|r| match &r.method {
                Method::Raw { reason }
                    if !matches!(r.kind, RegionKind::Boot | RegionKind::TableExtra) =>
                {
                    Some(format!(
                        "{}: {reason}; copying all {} raw (all-zero blocks skipped)",
                        r.describe(),
                        crate::human_bytes(r.used.total())
                    ))
                }
                _ => None,
            })
            .collect()
    }
}

/// Reads the table and every filesystem's used map. Never writes.
pub fn plan(dev: &dyn ReadAt, identity: DiskIdentity) -> Result<Plan> {
    let size = dev.size();
    let sector = identity.logical_sector_size.max(512);
    let (table, table_error) = match table::read(dev, sector) {
        Ok(t) => (t, None),
        // A table we cannot trust is not fatal: the disk is copied whole, said aloud.
        Err(e) => (
            PartitionTable {
                kind: TableKind::None,
                sector_size: sector,
                disk_id: None,
                partitions: Vec::new(),
                metadata: ExtentList::new(),
                min_disk_size: size,
            },
            Some(format!("partition table unreadable ({e})")),
        ),
    };
    let mut regions = Vec::new();
    if table.kind == TableKind::None {
        regions.push(fs_region(dev, RegionKind::WholeDisk, 0, size, table_error));
        return Ok(Plan {
            disk: identity,
            table,
            regions,
        });
    }
    let first = table
        .partitions
        .iter()
        .map(|p| p.start)
        .min()
        .unwrap_or(size)
        .min(size);
    let mut boot = ExtentList::new();
    boot.push(0, first);
    regions.push(Region {
        kind: RegionKind::Boot,
        start: 0,
        len: first,
        method: Method::Raw {
            reason: "boot area and partition table".into(),
        },
        fs: None,
        used: boot,
    });
    let mut parts = table.partitions.clone();
    parts.sort_by_key(|p| p.start);
    for p in &parts {
        regions.push(fs_region(
            dev,
            RegionKind::Partition { number: p.number },
            p.start,
            p.len,
            None,
        ));
    }
    // Table structures not already inside the boot area or a partition (EBRs, GPT backup).
    regions.extend(table_extra(
        &table,
        first,
        parts.iter().map(|p| (p.start, p.len)),
    ));
    Ok(Plan {
        disk: identity,
        table,
        regions,
    })
}

fn fs_region(
    dev: &dyn ReadAt,
    kind: RegionKind,
    start: u64,
    len: u64,
    why_raw: Option<String>,
) -> Region {
    let slice = Slice {
        dev,
        offset: start,
        len,
    };
    let (fs, method, used) = match fs::probe(&slice) {
        Ok(Some(info)) => region_from_fs(start, len, info),
        Ok(None) => {
            let reason = why_raw.unwrap_or_else(|| {
                if let Some(name) = fs::foreign::identify(&slice) {
                    fs::foreign::reason(name)
                } else if matches!(kind, RegionKind::WholeDisk) {
                    "no partition table and no known filesystem".into()
                } else {
                    "filesystem not recognised".into()
                }
            });
            (None, Method::Raw { reason }, full(start, len))
        }
        Err(e) => (
            None,
            Method::Raw {
                reason: format!("filesystem unreadable ({e})"),
            },
            full(start, len),
        ),
    };
    Region {
        kind,
        start,
        len,
        method,
        fs,
        used,
    }
}

fn full(start: u64, len: u64) -> ExtentList {
    let mut l = ExtentList::new();
    l.push(start, len);
    l
}

fn region_from_fs(start: u64, len: u64, info: FsInfo) -> (Option<FsSummary>, Method, ExtentList) {
    // The used map is clipped to the partition: a filesystem claiming to be larger than its
    // partition must not make us read or write a neighbour.
    let used = info.used.shifted(start).clipped(start, start + len);
    let summary = FsSummary {
        kind: info.kind,
        label: info.label,
        uuid: info.uuid,
        block_size: info.block_size,
        size: info.size,
    };
    (Some(summary), Method::UsedBlocks, used)
}

/// The table structures not already inside the boot area (`[0, first)`) or a partition (EBRs,
/// a GPT's backup), as one raw region; None when there are none.
pub(crate) fn table_extra(
    table: &PartitionTable,
    first: u64,
    parts: impl Iterator<Item = (u64, u64)> + Clone,
) -> Option<Region> {
    let mut extra = ExtentList::new();
    for e in table.metadata.iter() {
        let inside = e.end() <= first
            || parts
                .clone()
                .any(|(start, len)| e.start >= start && e.end() <= start + len);
        if !inside {
            extra.push(e.start, e.len);
        }
    }
    let start = extra.as_slice().first()?.start;
    let end = extra.as_slice().last()?.end();
    Some(Region {
        kind: RegionKind::TableExtra,
        start,
        len: end - start,
        method: Method::Raw {
            reason: "partition table structures".into(),
        },
        fs: None,
        used: extra,
    })
}

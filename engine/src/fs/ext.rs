//! Used-block map of ext2/3/4: the per-group block bitmaps, plus what the kernel and e2fsprogs
//! consider allocated in groups whose bitmap was never written (BLOCK_UNINIT): superblock and
//! descriptor backups and the bitmaps/inode tables of any group (flex_bg) placed there.
//! Handles 32- and 64-bit descriptors, flex_bg, sparse_super/sparse_super2 and meta_bg.
//!
//! Must not: write, trust any on-disk number without a bounds check, or allocate by on-disk
//! sizes (reads are one block at a time). bigalloc (cluster bitmaps) is reported Unsupported
//! rather than guessed at.

use super::{label_from, le16, le32, union, Filesystem, FsInfo, FsKind};
use crate::device::ReadAt;
use crate::error::{Error, Result};
use crate::extent::ExtentList;

pub struct Ext;

const SB_OFFSET: u64 = 1024;
const SB_LEN: usize = 1024;
const MAGIC: u16 = 0xEF53;

const COMPAT_HAS_JOURNAL: u32 = 0x4;
const COMPAT_SPARSE_SUPER2: u32 = 0x200;

const INCOMPAT_FILETYPE: u32 = 0x2;
const INCOMPAT_RECOVER: u32 = 0x4;
const INCOMPAT_JOURNAL_DEV: u32 = 0x8;
const INCOMPAT_META_BG: u32 = 0x10;
const INCOMPAT_64BIT: u32 = 0x80;
const INCOMPAT_CSUM_SEED: u32 = 0x2000;

const RO_COMPAT_SPARSE_SUPER: u32 = 0x1;
const RO_COMPAT_LARGE_FILE: u32 = 0x2;
const RO_COMPAT_BTREE_DIR: u32 = 0x4;
const RO_COMPAT_GDT_CSUM: u32 = 0x10;
const RO_COMPAT_BIGALLOC: u32 = 0x200;
const RO_COMPAT_METADATA_CSUM: u32 = 0x400;

const BG_INODE_UNINIT: u16 = 0x1;
const BG_BLOCK_UNINIT: u16 = 0x2;
const BG_INODE_ZEROED: u16 = 0x4;

/// What ext3 knew; any feature beyond these makes the filesystem ext4 (blkid's rule).
const EXT3_INCOMPAT: u32 = INCOMPAT_FILETYPE | INCOMPAT_RECOVER | INCOMPAT_META_BG;
const EXT3_RO_COMPAT: u32 = RO_COMPAT_SPARSE_SUPER | RO_COMPAT_LARGE_FILE | RO_COMPAT_BTREE_DIR;

/// Where one block group's bitmaps and inode table are (block numbers, unchecked).
pub(super) struct GroupDesc {
    pub(super) block_bitmap: u64,
    pub(super) inode_bitmap: u64,
    pub(super) inode_table: u64,
    pub(super) flags: u16,
}

/// The superblock fields the used map depends on, validated.
#[derive(Debug)]
pub(super) struct Super {
    pub(super) block_size: u64,
    pub(super) blocks: u64,
    pub(super) first_data_block: u64,
    pub(super) blocks_per_group: u64,
    pub(super) groups: u64,
    pub(super) desc_size: u64,
    pub(super) desc_per_block: u64,
    /// Descriptor blocks for all groups.
    pub(super) desc_blocks: u64,
    pub(super) reserved_gdt: u64,
    pub(super) inode_table_blocks: u64,
    pub(super) inodes_per_group: u64,
    pub(super) inode_size: u64,
    pub(super) compat: u32,
    pub(super) incompat: u32,
    pub(super) ro_compat: u32,
    pub(super) first_meta_bg: u64,
    pub(super) backup_bgs: [u64; 2],
    pub(super) uuid: [u8; 16],
    /// Seed of metadata_csum checksums (`s_checksum_seed`, or derived from the UUID).
    pub(super) csum_seed: u32,
}

impl Super {
    pub(super) fn has_csum(&self) -> bool {
        self.ro_compat & (RO_COMPAT_GDT_CSUM | RO_COMPAT_METADATA_CSUM) != 0
    }
    pub(super) fn meta_bg(&self) -> bool {
        self.incompat & INCOMPAT_META_BG != 0
    }

    pub(super) fn group_first_block(&self, g: u64) -> u64 {
        // g < groups, and groups * blocks_per_group was checked not to overflow.
        self.first_data_block + g * self.blocks_per_group
    }

    /// Blocks in group `g`; the last group may be short.
    pub(super) fn group_len(&self, g: u64) -> u64 {
        let start = self.group_first_block(g);
        self.blocks.saturating_sub(start).min(self.blocks_per_group)
    }

    /// Whether group `g` holds a superblock backup (sparse_super / sparse_super2 rules).
    pub(super) fn has_super(&self, g: u64) -> bool {
        if g == 0 {
            return true;
        }
        if self.compat & COMPAT_SPARSE_SUPER2 != 0 {
            return g == self.backup_bgs[0] || g == self.backup_bgs[1];
        }
        if g <= 1 || self.ro_compat & RO_COMPAT_SPARSE_SUPER == 0 {
            return true;
        }
        if g.is_multiple_of(2) {
            return false;
        }
        is_power_of(g, 3) || is_power_of(g, 5) || is_power_of(g, 7)
    }

    /// Block holding descriptor block `i` (the primary copy).
    pub(super) fn desc_block_location(&self, i: u64) -> u64 {
        // The superblock is in block 1 with 1 KiB blocks, in block 0 otherwise.
        let sb_block = SB_OFFSET / self.block_size;
        if !self.meta_bg() || i < self.first_meta_bg {
            sb_block + 1 + i
        } else {
            let g = i * self.desc_per_block;
            self.group_first_block(g) + u64::from(self.has_super(g))
        }
    }

    /// Whether group `g`'s descriptor carries a valid checksum (`ext4_group_desc_csum`):
    /// only then are its lazy-init fields trusted to drop blocks from the copy.
    fn desc_csum_ok(&self, g: u64, desc: &[u8]) -> bool {
        const CSUM_AT: usize = 0x1E;
        let Ok(len) = usize::try_from(self.desc_size) else {
            return false;
        };
        if desc.len() < len || len < CSUM_AT + 2 {
            return false;
        }
        let group = u32::try_from(g).unwrap_or(u32::MAX).to_le_bytes();
        let tail = &desc[CSUM_AT + 2..len];
        let want = le16(desc, CSUM_AT);
        let got = if self.ro_compat & RO_COMPAT_METADATA_CSUM != 0 {
            let mut c = crc32c_raw(self.csum_seed, &group);
            c = crc32c_raw(c, &desc[..CSUM_AT]);
            c = crc32c_raw(c, &[0, 0]);
            (crc32c_raw(c, tail) & 0xFFFF) as u16
        } else if self.ro_compat & RO_COMPAT_GDT_CSUM != 0 {
            let mut c = crc16(0xFFFF, &self.uuid);
            c = crc16(c, &group);
            c = crc16(c, &desc[..CSUM_AT]);
            if self.incompat & INCOMPAT_64BIT != 0 {
                c = crc16(c, tail);
            }
            c
        } else {
            return false;
        };
        got == want
    }

    /// How many inodes at the start of group `g`'s table may be in use: all of them, unless
    /// a descriptor with a valid checksum says the rest were never handed out
    /// (`bg_itable_unused`, or INODE_UNINIT for the whole group) — the kernel and e2fsck read
    /// no inode past that count.
    pub(super) fn itable_used_inodes(&self, g: u64, desc: &[u8]) -> u64 {
        if !self.has_csum() || !self.desc_csum_ok(g, desc) {
            return self.inodes_per_group;
        }
        if le16(desc, 0x12) & BG_INODE_UNINIT != 0 {
            return 0;
        }
        let hi = if self.desc_size >= 64 {
            u64::from(le16(desc, 0x32)) << 16
        } else {
            0
        };
        let unused = (u64::from(le16(desc, 0x1C)) | hi).min(self.inodes_per_group);
        self.inodes_per_group - unused
    }

    /// The tail of group `g`'s inode table that holds no inode yet and was never zeroed
    /// (lazy init): as (first block, blocks). Nothing reads an inode there (see
    /// [`Self::itable_used_inodes`]), and the kernel's lazyinit thread zeroes it after mount,
    /// so its old bytes need no copy — e2image skips it the same way. A fresh 64 GiB ext4
    /// has about 1 GiB of such tables.
    fn never_used_itable(&self, g: u64, desc: &[u8], inode_table: u64) -> Option<(u64, u64)> {
        if le16(desc, 0x12) & BG_INODE_ZEROED != 0 {
            return None;
        }
        let used = self.itable_used_inodes(g, desc);
        let keep = (used * self.inode_size).div_ceil(self.block_size);
        let skip = self.inode_table_blocks.saturating_sub(keep);
        (skip > 0).then_some((inode_table + keep, skip))
    }

    /// The block numbers a group descriptor (`desc`, `desc_size` bytes) points at.
    pub(super) fn group_desc(&self, desc: &[u8]) -> GroupDesc {
        let wide = self.desc_size >= 64;
        let field = |lo: usize, hi: usize| {
            let high = if wide {
                u64::from(le32(desc, hi)) << 32
            } else {
                0
            };
            u64::from(le32(desc, lo)) | high
        };
        GroupDesc {
            block_bitmap: field(0x0, 0x20),
            inode_bitmap: field(0x4, 0x24),
            inode_table: field(0x8, 0x28),
            flags: le16(desc, 0x12),
        }
    }

    /// Whether a group has no block bitmap on disk (BLOCK_UNINIT, trusted with checksums).
    pub(super) fn block_uninit(&self, flags: u16) -> bool {
        self.has_csum() && flags & BG_BLOCK_UNINIT != 0
    }

    /// Superblock backup and descriptor blocks (old-style and meta_bg) in group `g`, as
    /// `ext2fs_reserve_super_and_bgd` counts them: what a BLOCK_UNINIT group holds.
    pub(super) fn base_meta(&self, g: u64, out: &mut Vec<(u64, u64)>) {
        let mut first = self.group_first_block(g);
        if first == 0 && self.block_size == 1024 {
            first = 1;
        }
        let has_super = self.has_super(g);
        if has_super {
            out.push((first, 1));
        }
        let old_desc_blocks = if self.meta_bg() {
            self.first_meta_bg
        } else {
            self.desc_blocks.saturating_add(self.reserved_gdt)
        };
        let meta_group = g / self.desc_per_block;
        if !self.meta_bg() || meta_group < self.first_meta_bg {
            if has_super {
                out.push((first + 1, old_desc_blocks));
            }
        } else {
            let r = g % self.desc_per_block;
            if r == 0 || r == 1 || r == self.desc_per_block - 1 {
                out.push((first + u64::from(has_super), 1));
            }
        }
    }
}

/// CRC-32C (Castagnoli), reflected, without the usual pre/post inversion: Linux's
/// `crc32c(seed, …)` as ext4 uses it.
fn crc32c_raw(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0x82F6_3B78 & 0u32.wrapping_sub(crc & 1));
        }
    }
    crc
}

/// CRC-16 (polynomial 0x8005, reflected), Linux's `crc16` used by ext4's gdt_csum.
fn crc16(mut crc: u16, data: &[u8]) -> u16 {
    for &b in data {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xA001 & 0u16.wrapping_sub(crc & 1));
        }
    }
    crc
}

fn is_power_of(mut n: u64, base: u64) -> bool {
    // Bounded: n shrinks by a factor of base >= 3 each step.
    while n > 1 && n.is_multiple_of(base) {
        n /= base;
    }
    n == 1
}

fn corrupt(what: impl Into<String>, offset: u64, detail: impl Into<String>) -> Error {
    Error::corrupt(what, offset, detail)
}

fn parse_super(sb: &[u8], dev_size: u64) -> Result<Super> {
    let at = |field: u64| SB_OFFSET + field;
    let log = le32(sb, 0x18);
    if log > 6 {
        return Err(corrupt(
            "ext superblock block size",
            at(0x18),
            format!("log_block_size {log} (max 6 = 64 KiB)"),
        ));
    }
    let block_size = 1024u64 << log;
    let incompat = le32(sb, 0x60);
    let ro_compat = le32(sb, 0x64);
    let compat = le32(sb, 0x5C);
    if incompat & INCOMPAT_RECOVER != 0 {
        // Committed journal transactions not yet written home may allocate blocks the on-disk
        // bitmaps still call free: a map from them could drop live data.
        return Err(Error::Unsupported(
            "ext journal needs recovery (mounted, or not cleanly unmounted); run e2fsck first"
                .into(),
        ));
    }
    if incompat & INCOMPAT_JOURNAL_DEV != 0 {
        return Err(Error::Unsupported(
            "ext external journal device (no filesystem to map)".into(),
        ));
    }
    if ro_compat & RO_COMPAT_BIGALLOC != 0 {
        return Err(Error::Unsupported(
            "ext4 bigalloc (cluster allocation)".into(),
        ));
    }
    let mut blocks = u64::from(le32(sb, 0x4));
    let mut desc_size = 32u64;
    if incompat & INCOMPAT_64BIT != 0 {
        blocks |= u64::from(le32(sb, 0x150)) << 32;
        desc_size = u64::from(le16(sb, 0xFE));
        if !(32..=1024).contains(&desc_size) || !desc_size.is_power_of_two() {
            return Err(corrupt(
                "ext superblock descriptor size",
                at(0xFE),
                format!("{desc_size}"),
            ));
        }
    }
    let fs_bytes = blocks
        .checked_mul(block_size)
        .filter(|&b| b > SB_OFFSET + SB_LEN as u64);
    let Some(fs_bytes) = fs_bytes else {
        return Err(corrupt(
            "ext superblock block count",
            at(0x4),
            format!("{blocks} blocks of {block_size}"),
        ));
    };
    if fs_bytes > dev_size {
        return Err(corrupt(
            "ext superblock block count",
            at(0x4),
            format!("filesystem of {fs_bytes} bytes on a {dev_size}-byte device"),
        ));
    }
    let first_data_block = u64::from(le32(sb, 0x14));
    let expected_first = if block_size == 1024 { 1 } else { 0 };
    if first_data_block != expected_first {
        return Err(corrupt(
            "ext superblock first data block",
            at(0x14),
            format!("{first_data_block}"),
        ));
    }
    let blocks_per_group = u64::from(le32(sb, 0x20));
    if blocks_per_group == 0 || blocks_per_group > block_size * 8 {
        return Err(corrupt(
            "ext superblock blocks per group",
            at(0x20),
            format!("{blocks_per_group}"),
        ));
    }
    let groups = (blocks - first_data_block).div_ceil(blocks_per_group);
    let desc_per_block = block_size / desc_size;
    let desc_blocks = groups.div_ceil(desc_per_block);
    let inodes_per_group = u64::from(le32(sb, 0x28));
    let rev = le32(sb, 0x4C);
    let inode_size = if rev == 0 {
        128
    } else {
        u64::from(le16(sb, 0x58))
    };
    if inode_size < 128 || inode_size > block_size || !inode_size.is_power_of_two() {
        return Err(corrupt(
            "ext superblock inode size",
            at(0x58),
            format!("{inode_size}"),
        ));
    }
    if inodes_per_group == 0 || inodes_per_group > block_size * 8 {
        return Err(corrupt(
            "ext superblock inodes per group",
            at(0x28),
            format!("{inodes_per_group}"),
        ));
    }
    let inode_table_blocks = (inodes_per_group * inode_size).div_ceil(block_size);
    let reserved_gdt = u64::from(le16(sb, 0xCE));
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&sb[0x68..0x78]);
    let csum_seed = if incompat & INCOMPAT_CSUM_SEED != 0 {
        le32(sb, 0x270)
    } else {
        crc32c_raw(!0, &uuid)
    };
    let first_meta_bg = u64::from(le32(sb, 0x104));
    if incompat & INCOMPAT_META_BG != 0 && first_meta_bg > desc_blocks {
        return Err(corrupt(
            "ext superblock first meta_bg",
            at(0x104),
            format!("{first_meta_bg}"),
        ));
    }
    Ok(Super {
        block_size,
        blocks,
        first_data_block,
        blocks_per_group,
        groups,
        desc_size,
        desc_per_block,
        desc_blocks,
        reserved_gdt,
        inode_table_blocks,
        inodes_per_group,
        inode_size,
        compat,
        incompat,
        ro_compat,
        first_meta_bg,
        backup_bgs: [u64::from(le32(sb, 0x24C)), u64::from(le32(sb, 0x250))],
        uuid,
        csum_seed,
    })
}

/// The superblock (parsed, and its raw bytes) when `dev` holds an ext filesystem.
pub(super) fn read_super(dev: &dyn ReadAt) -> Result<Option<(Super, Vec<u8>)>> {
    if dev.size() < SB_OFFSET + SB_LEN as u64 {
        return Ok(None);
    }
    let sb = dev.read_vec(SB_OFFSET, SB_LEN)?;
    if le16(&sb, 0x38) != MAGIC {
        return Ok(None);
    }
    let s = parse_super(&sb, dev.size())?;
    Ok(Some((s, sb)))
}

pub(super) fn kind_of(s: &Super) -> FsKind {
    if s.incompat & !EXT3_INCOMPAT != 0 || s.ro_compat & !EXT3_RO_COMPAT != 0 {
        FsKind::Ext4
    } else if s.compat & COMPAT_HAS_JOURNAL != 0 {
        FsKind::Ext3
    } else {
        FsKind::Ext2
    }
}

fn uuid_text(u: &[u8]) -> Option<String> {
    if u.len() != 16 || u.iter().all(|&b| b == 0) {
        return None;
    }
    let hex: Vec<String> = u.iter().map(|b| format!("{b:02x}")).collect();
    Some(format!(
        "{}-{}-{}-{}-{}",
        hex[0..4].concat(),
        hex[4..6].concat(),
        hex[6..8].concat(),
        hex[8..10].concat(),
        hex[10..16].concat()
    ))
}

/// Checks that `[start, start+len)` (blocks) lies inside the filesystem.
fn check_range(s: &Super, what: &str, start: u64, len: u64, offset: u64) -> Result<()> {
    match start.checked_add(len) {
        Some(end) if start >= s.first_data_block && end <= s.blocks => Ok(()),
        _ => Err(corrupt(
            what,
            offset,
            format!("blocks {start}+{len} outside 0..{}", s.blocks),
        )),
    }
}

impl Filesystem for Ext {
    fn name(&self) -> &'static str {
        "ext"
    }

    fn probe(&self, dev: &dyn ReadAt) -> Result<Option<FsInfo>> {
        let Some((s, sb)) = read_super(dev)? else {
            return Ok(None);
        };
        let bs = s.block_size;
        let bs_usize = usize::try_from(bs).map_err(|_| Error::Unsupported("block size".into()))?;

        // Bitmap-derived ranges come in ascending order; metadata of uninitialised groups and
        // of every group (which may live in another group under flex_bg) is collected apart,
        // then sorted and merged once.
        let mut from_bitmaps = ExtentList::new();
        let mut meta: Vec<(u64, u64)> = Vec::new();
        let mut never_used: Vec<(u64, u64)> = Vec::new();
        // Whatever precedes the first group (the boot block with 1 KiB blocks) is kept: boot
        // loaders live there and it costs one block.
        meta.push((0, s.first_data_block.max(1)));

        let mut desc_buf: Vec<u8> = Vec::new();
        let mut desc_buf_index = u64::MAX;
        let mut bitmap = vec![0u8; bs_usize];
        for g in 0..s.groups {
            let desc_index = g / s.desc_per_block;
            if desc_index != desc_buf_index {
                let blk = s.desc_block_location(desc_index);
                check_range(
                    &s,
                    &format!("ext4 group {g} descriptor block"),
                    blk,
                    1,
                    SB_OFFSET,
                )?;
                desc_buf = dev.read_vec(blk * bs, bs_usize)?;
                desc_buf_index = desc_index;
                meta.push((blk, 1));
            }
            let d_off = ((g % s.desc_per_block) * s.desc_size) as usize;
            let d_abs = s.desc_block_location(desc_index) * bs + d_off as u64;
            let desc = &desc_buf[d_off..(d_off + s.desc_size as usize).min(desc_buf.len())];
            let GroupDesc {
                block_bitmap,
                inode_bitmap,
                inode_table,
                flags,
            } = s.group_desc(desc);

            check_range(
                &s,
                &format!("ext4 group {g} block bitmap"),
                block_bitmap,
                1,
                d_abs,
            )?;
            check_range(
                &s,
                &format!("ext4 group {g} inode bitmap"),
                inode_bitmap,
                1,
                d_abs + 4,
            )?;
            check_range(
                &s,
                &format!("ext4 group {g} inode table"),
                inode_table,
                s.inode_table_blocks,
                d_abs + 8,
            )?;
            meta.push((block_bitmap, 1));
            meta.push((inode_bitmap, 1));
            meta.push((inode_table, s.inode_table_blocks));
            if let Some(r) = s.never_used_itable(g, desc, inode_table) {
                never_used.push(r);
            }

            let first = s.group_first_block(g);
            let len = s.group_len(g);
            if s.block_uninit(flags) {
                // No bitmap on disk: only the fixed metadata is allocated here.
                s.base_meta(g, &mut meta);
            } else {
                dev.read_exact_at(&mut bitmap, block_bitmap * bs)?;
                crate::extent::push_bitmap_lsb(&mut from_bitmaps, &bitmap, first, len, bs, 0);
            }
        }

        meta.sort_unstable();
        let mut meta_list = ExtentList::new();
        for (start, len) in meta {
            // Clamp to the filesystem: a backup descriptor run may be cut by the last block.
            let end = start.saturating_add(len).min(s.blocks);
            if end > start {
                meta_list.push(start * bs, (end - start) * bs);
            }
        }
        never_used.sort_unstable();
        let skip: ExtentList = never_used
            .into_iter()
            .map(|(start, len)| crate::extent::Extent::new(start * bs, len * bs))
            .collect();
        let used = union(&from_bitmaps, &meta_list).minus(&skip);

        Ok(Some(FsInfo {
            kind: kind_of(&s),
            label: label_from(&sb[0x78..0x88]),
            uuid: uuid_text(&sb[0x68..0x78]),
            block_size: bs,
            size: s.blocks * bs,
            used,
        }))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sparse_super_groups() {
        let s = Super {
            block_size: 4096,
            blocks: 1 << 20,
            first_data_block: 0,
            blocks_per_group: 32768,
            groups: 32,
            desc_size: 64,
            desc_per_block: 64,
            desc_blocks: 1,
            reserved_gdt: 0,
            inode_table_blocks: 512,
            inodes_per_group: 8192,
            inode_size: 256,
            compat: 0,
            incompat: 0,
            ro_compat: RO_COMPAT_SPARSE_SUPER,
            first_meta_bg: 0,
            backup_bgs: [0, 0],
            uuid: [0; 16],
            csum_seed: 0,
        };
        let with: Vec<u64> = (0..32).filter(|&g| s.has_super(g)).collect();
        assert_eq!(with, vec![0, 1, 3, 5, 7, 9, 25, 27]);
    }

    #[test]
    fn garbage_is_not_ext_and_bad_counts_are_corrupt() {
        let mut img = vec![0u8; 8192];
        assert!(Ext.probe(&img).unwrap().is_none());
        img[1024 + 0x38] = 0x53;
        img[1024 + 0x39] = 0xEF;
        img[1024 + 0x4] = 0xff; // 255 blocks of 1 KiB on an 8 KiB device
        img[1024 + 0x14] = 1;
        assert!(matches!(Ext.probe(&img), Err(Error::Corrupt { .. })));
    }
}

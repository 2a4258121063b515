//! qcow2 (QEMU copy-on-write, version 3): export of a saved image and reading of qcow2 files
//! as their virtual disk. Export writes 64 KiB clusters, no compression, only clusters that
//! hold a non-zero byte, and refcounts of exactly 1 for every cluster of the file, so
//! `qemu-img check` finds neither errors nor leaks. The reader reads the active L1/L2
//! tables only (snapshots are ignored); it refuses backing files, encryption, external data
//! files and extended L2 entries with an error naming the file, and reads deflate- or
//! zstd-compressed clusters. Every offset read from the file is bounds-checked before use.

use super::{be32, be64, check_range, data_blocks, read_in, Out};
use crate::device::ReadAt;
use crate::error::{Error, Result};
use crate::events::Ctx;
use crate::extent::ExtentList;
use std::collections::BTreeMap;
use std::sync::Mutex;

pub const MAGIC: [u8; 4] = *b"QFI\xfb";

const CLUSTER_BITS: u32 = 16;
const CLUSTER: u64 = 1 << CLUSTER_BITS;
const L2_ENTRIES: u64 = CLUSTER / 8;
/// "Refcount is exactly one": set on every L1/L2 entry we write.
const COPIED: u64 = 1 << 63;
const COMPRESSED: u64 = 1 << 62;
/// Host offsets in L1 and standard L2 entries: bits 9..=55.
const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
/// qemu's own limit on the L1 table (QCOW_MAX_L1_SIZE): a larger one is refused unread.
const MAX_L1_BYTES: u64 = 32 << 20;
const HEADER_LEN: u32 = 104;

fn put_be64(b: &mut [u8], o: usize, v: u64) {
    b[o..o + 8].copy_from_slice(&v.to_be_bytes());
}
fn put_be32(b: &mut [u8], o: usize, v: u32) {
    b[o..o + 4].copy_from_slice(&v.to_be_bytes());
}

/// Writes `src` as qcow2. Layout: the header cluster, the data clusters in disk order as
/// they are found, then the L2 tables, the L1 table, the refcount blocks and the refcount
/// table (qcow2 lets every structure live anywhere, so nothing has to be known ahead).
pub fn write(src: &dyn ReadAt, stored: &ExtentList, out: &Out, ctx: &Ctx) -> Result<()> {
    let vsize = src.size().div_ceil(512) * 512;
    let l1_size = vsize.div_ceil(CLUSTER * L2_ENTRIES).max(1);
    if l1_size * 8 > MAX_L1_BYTES {
        return Err(Error::Unsupported(format!(
            "a {vsize}-byte disk is too large for a qcow2 file with 64 KiB clusters"
        )));
    }
    // Only the L2 tables that map data are kept: memory grows with the data, not the disk.
    let mut l2: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut next = 1u64;
    data_blocks(src, stored, CLUSTER, ctx, |at, b| {
        out.write_at(b, next * CLUSTER)?;
        let idx = at / CLUSTER;
        let t = l2
            .entry(idx / L2_ENTRIES)
            .or_insert_with(|| vec![0; L2_ENTRIES as usize]);
        t[(idx % L2_ENTRIES) as usize] = (next * CLUSTER) | COPIED;
        next += 1;
        Ok(())
    })?;
    let mut l1 = vec![0u64; l1_size as usize];
    let mut table = vec![0u8; CLUSTER as usize];
    for (i, t) in &l2 {
        for (j, e) in t.iter().enumerate() {
            put_be64(&mut table, j * 8, *e);
        }
        out.write_at(&table, next * CLUSTER)?;
        l1[*i as usize] = (next * CLUSTER) | COPIED;
        next += 1;
    }
    let l1_offset = next * CLUSTER;
    let mut l1_bytes = vec![0u8; (l1_size * 8).div_ceil(CLUSTER) as usize * CLUSTER as usize];
    for (j, e) in l1.iter().enumerate() {
        put_be64(&mut l1_bytes, j * 8, *e);
    }
    out.write_at(&l1_bytes, l1_offset)?;
    next += l1_bytes.len() as u64 / CLUSTER;

    // The refcount structures count themselves: grow them until they cover every cluster.
    let per_block = CLUSTER / 2; // 16-bit refcounts
    let (mut blocks, mut table_clusters) = (0u64, 0u64);
    loop {
        let total = next + blocks + table_clusters;
        let b = total.div_ceil(per_block);
        let t = (b * 8).div_ceil(CLUSTER);
        if (b, t) == (blocks, table_clusters) {
            break;
        }
        (blocks, table_clusters) = (b, t);
    }
    let total = next + blocks + table_clusters;
    let blocks_at = next;
    let mut rb = vec![0u8; CLUSTER as usize];
    for j in 0..blocks {
        rb.fill(0);
        let first = j * per_block;
        for c in first..total.min(first + per_block) {
            let o = ((c - first) * 2) as usize;
            rb[o..o + 2].copy_from_slice(&1u16.to_be_bytes());
        }
        out.write_at(&rb, (blocks_at + j) * CLUSTER)?;
    }
    let table_at = blocks_at + blocks;
    let mut rt = vec![0u8; (table_clusters * CLUSTER) as usize];
    for j in 0..blocks {
        put_be64(&mut rt, (j * 8) as usize, (blocks_at + j) * CLUSTER);
    }
    out.write_at(&rt, table_at * CLUSTER)?;
    out.set_len(total * CLUSTER)?;

    let mut h = vec![0u8; CLUSTER as usize];
    h[..4].copy_from_slice(&MAGIC);
    put_be32(&mut h, 4, 3);
    put_be32(&mut h, 20, CLUSTER_BITS);
    put_be64(&mut h, 24, vsize);
    put_be32(&mut h, 36, l1_size as u32);
    put_be64(&mut h, 40, l1_offset);
    put_be64(&mut h, 48, table_at * CLUSTER);
    put_be32(&mut h, 56, table_clusters as u32);
    put_be32(&mut h, 96, 4); // refcount_order: 16-bit refcounts
    put_be32(&mut h, 100, HEADER_LEN);
    // Header extensions end at once: the end marker (type 0) is the zeros after the header.
    out.write_at(&h, 0)
}

/// What a guest cluster maps to.
enum Cluster {
    Zero,
    Data(u64),
    Compressed(u64),
}

/// A qcow2 file read as its virtual disk.
pub struct Reader<R> {
    inner: R,
    what: String,
    size: u64,
    cluster_bits: u32,
    version: u32,
    zstd: bool,
    l1: Vec<u64>,
    /// The last decompressed cluster: reads smaller than a cluster decompress it once.
    last: Mutex<Option<(u64, Vec<u8>)>>,
}

impl<R: ReadAt> Reader<R> {
    pub fn new(inner: R, what: &str) -> Result<Self> {
        let bad = |off: u64, d: String| Error::corrupt(format!("qcow2 file {what}"), off, d);
        let unsupported = |d: &str| {
            Error::Unsupported(format!(
                "{what}: {d}; convert it first (qemu-img convert -O qcow2 {what} plain.qcow2)"
            ))
        };
        let mut h = [0u8; 112];
        read_in(&inner, what, &mut h[..72], 0, "the qcow2 header")?;
        if h[..4] != MAGIC {
            return Err(bad(0, "no qcow2 magic".into()));
        }
        let version = be32(&h, 4);
        if version != 2 && version != 3 {
            return Err(bad(4, format!("qcow2 version {version} is not 2 or 3")));
        }
        if version == 3 {
            read_in(&inner, what, &mut h[72..104], 72, "the qcow2 header")?;
            let header_len = be32(&h, 100);
            if header_len < 104 {
                return Err(bad(100, format!("header length {header_len} < 104")));
            }
            if header_len >= 105 {
                read_in(&inner, what, &mut h[104..105], 104, "the qcow2 header")?;
            }
        }
        if be64(&h, 8) != 0 {
            return Err(unsupported(
                "a qcow2 with a backing file (an overlay on another image) is not supported",
            ));
        }
        let cluster_bits = be32(&h, 20);
        if !(9..=21).contains(&cluster_bits) {
            return Err(bad(
                20,
                format!("cluster_bits {cluster_bits} not in 9..=21"),
            ));
        }
        let size = be64(&h, 24);
        if size > 1 << 56 {
            return Err(bad(24, format!("virtual size {size} is implausible")));
        }
        if be32(&h, 32) != 0 {
            return Err(unsupported("an encrypted qcow2 is not supported"));
        }
        let mut zstd = false;
        if version == 3 {
            let inc = be64(&h, 72);
            if inc & 2 != 0 {
                return Err(unsupported("the qcow2 is marked corrupt by QEMU"));
            }
            if inc & 4 != 0 {
                return Err(unsupported(
                    "a qcow2 with an external data file is not supported",
                ));
            }
            if inc & 16 != 0 {
                return Err(unsupported(
                    "a qcow2 with extended L2 entries is not supported",
                ));
            }
            if inc & !0x1f != 0 {
                return Err(unsupported(&format!(
                    "unknown qcow2 incompatible features {inc:#x}"
                )));
            }
            if inc & 8 != 0 {
                match h[104] {
                    0 => {}
                    1 => zstd = true,
                    t => return Err(unsupported(&format!("qcow2 compression type {t}"))),
                }
            }
        }
        let cluster = 1u64 << cluster_bits;
        let per_l2 = cluster / 8;
        let needed = size.div_ceil(cluster * per_l2);
        let l1_size = u64::from(be32(&h, 36));
        if l1_size < needed {
            return Err(bad(
                36,
                format!("L1 table of {l1_size} entries maps less than the {size}-byte disk"),
            ));
        }
        if needed * 8 > MAX_L1_BYTES {
            return Err(bad(
                36,
                format!("L1 table of {needed} entries is too large"),
            ));
        }
        let l1_offset = be64(&h, 40);
        let mut raw = vec![0u8; (needed * 8) as usize];
        read_in(&inner, what, &mut raw, l1_offset, "the L1 table")?;
        let l1 = raw.chunks_exact(8).map(|c| be64(c, 0)).collect();
        Ok(Reader {
            inner,
            what: what.to_string(),
            size,
            cluster_bits,
            version,
            zstd,
            l1,
            last: Mutex::new(None),
        })
    }

    fn cluster(&self, index: u64) -> Result<Cluster> {
        let per_l2 = 1u64 << (self.cluster_bits - 3);
        let l1e = self.l1.get((index / per_l2) as usize).copied().unwrap_or(0);
        let l2_at = l1e & OFFSET_MASK;
        if l2_at == 0 {
            return Ok(Cluster::Zero);
        }
        let mut e = [0u8; 8];
        let at = l2_at + (index % per_l2) * 8;
        read_in(&self.inner, &self.what, &mut e, at, "an L2 table entry")?;
        let e = u64::from_be_bytes(e);
        if e & COMPRESSED != 0 {
            return Ok(Cluster::Compressed(e));
        }
        if self.version == 3 && e & 1 != 0 {
            return Ok(Cluster::Zero);
        }
        match e & OFFSET_MASK {
            0 => Ok(Cluster::Zero),
            o => Ok(Cluster::Data(o)),
        }
    }

    /// A compressed cluster, decompressed (and kept as the last one).
    fn compressed(&self, index: u64, e: u64, out: &mut [u8], within: usize) -> Result<()> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((i, data)) = last.as_ref() {
            if *i == index {
                out.copy_from_slice(&data[within..within + out.len()]);
                return Ok(());
            }
        }
        let cluster = 1usize << self.cluster_bits;
        let x = 62 - (self.cluster_bits - 8);
        let host = e & ((1u64 << x) - 1);
        let sectors = ((e >> x) & ((1u64 << (62 - x)) - 1)) + 1;
        // At most 2^(cluster_bits - 8) sectors: a bounded read whatever the entry says.
        let len = (sectors * 512 - (host & 511)).min(self.inner.size().saturating_sub(host));
        let mut input = vec![0u8; len as usize];
        read_in(
            &self.inner,
            &self.what,
            &mut input,
            host,
            "a compressed cluster",
        )?;
        let mut data = vec![0u8; cluster];
        let ok = if self.zstd {
            let mut d = zstd::bulk::Decompressor::new().map_err(|e| Error::io(&self.what, e))?;
            matches!(d.decompress_to_buffer(&input, &mut data), Ok(n) if n == cluster)
        } else {
            let mut d = flate2::Decompress::new(false);
            d.decompress(&input, &mut data, flate2::FlushDecompress::Finish)
                .is_ok()
                && d.total_out() == cluster as u64
        };
        if !ok {
            return Err(Error::corrupt(
                format!("qcow2 file {}", self.what),
                host,
                format!(
                    "compressed cluster for disk offset {} does not decompress",
                    index << self.cluster_bits
                ),
            ));
        }
        out.copy_from_slice(&data[within..within + out.len()]);
        *last = Some((index, data));
        Ok(())
    }
}

impl<R: ReadAt> ReadAt for Reader<R> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        check_range(&self.what, self.size, buf.len(), offset)?;
        let cluster = 1u64 << self.cluster_bits;
        let mut done = 0usize;
        while done < buf.len() {
            let at = offset + done as u64;
            let within = at & (cluster - 1);
            let n = ((cluster - within) as usize).min(buf.len() - done);
            let part = &mut buf[done..done + n];
            match self.cluster(at >> self.cluster_bits)? {
                Cluster::Zero => part.fill(0),
                Cluster::Data(o) => {
                    read_in(&self.inner, &self.what, part, o + within, "a data cluster")?
                }
                Cluster::Compressed(e) => {
                    self.compressed(at >> self.cluster_bits, e, part, within as usize)?
                }
            }
            done += n;
        }
        Ok(())
    }
    fn size(&self) -> u64 {
        self.size
    }
    fn is_hole(&self, offset: u64, len: u64) -> bool {
        let Some(end) = offset.checked_add(len).filter(|&e| e <= self.size) else {
            return false;
        };
        // A hint only: ranges of more than MAX_HOLE_UNITS table entries answer "unknown".
        if len / (1u64 << self.cluster_bits) > super::MAX_HOLE_UNITS {
            return false;
        }
        let cluster = 1u64 << self.cluster_bits;
        let mut c = offset >> self.cluster_bits;
        while c * cluster < end {
            if !matches!(self.cluster(c), Ok(Cluster::Zero)) {
                return false;
            }
            c += 1;
        }
        true
    }
}

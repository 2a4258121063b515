//! The pipelines: clone (disk to disk), save (disk to repository), restore (repository to disk)
//! and verify. Each overlaps reading, hashing/compressing and writing on separate threads
//! through one bounded, ordered worker pipeline (`ordered.rs`), so all cores work and memory
//! stays fixed whatever the disk size. Each takes an [`crate::events::Ctx`]: where events go,
//! the cancel token, how many threads.

pub mod acquire;
pub mod cdc;
pub mod clone;
pub(crate) mod ordered;
pub mod rescue;
pub mod reshape;
pub mod restore;
pub mod save;
pub mod verify;

use crate::device::{Device, ReadAt};
use crate::error::Result;
use crate::events::Ctx;
use crate::extent::ExtentList;
use crate::plan::Region;
use crate::table::{self, TableKind};

/// Work items in flight per worker thread: bounds memory to a few chunks per core.
pub(crate) const QUEUE_PER_WORKER: usize = 4;

/// Reads through free gaps smaller than this instead of issuing two reads: one larger read is
/// cheaper than two small ones on every kind of disk (the gap is zeroed afterwards).
const BRIDGE_GAP: u64 = 256 << 10;

/// Runs `f` while the repository's location tells the job's sink, as it happens, what the
/// user should know (a server being retried; see [`crate::events::Notices`]).
pub(crate) fn with_notices<T>(
    repo: &crate::repo::Repository,
    ctx: &Ctx<'_>,
    f: impl FnOnce() -> T,
) -> T {
    match repo.store().notices() {
        Some(n) => n.during(ctx.sink, f),
        None => f(),
    }
}

pub fn worker_count() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// A chunk-sized window of one region: aligned to `chunk_size` in absolute disk offsets (so
/// the same disk always cuts into the same chunks, which is what makes incremental images
/// store only what changed) and clipped to the region.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    pub region: usize,
    pub offset: u64,
    pub len: u64,
    /// Bytes of the region's used map inside the window.
    pub used: u64,
}

/// Every window of the regions that holds used bytes, in disk-offset order within each region.
pub(crate) fn windows(regions: &[Region], chunk_size: u64) -> impl Iterator<Item = Window> + '_ {
    regions.iter().enumerate().flat_map(move |(ri, r)| {
        let mut out = Vec::new();
        let mut pos = r.start;
        let end = r.end();
        // Skip straight to used data: a sparse region must cost time in its used bytes only.
        let mut ext = r.used.iter().peekable();
        while pos < end {
            while let Some(e) = ext.peek() {
                if e.end() <= pos {
                    ext.next();
                } else {
                    break;
                }
            }
            let Some(next) = ext.peek() else { break };
            if next.start > pos {
                pos = next.start - next.start % chunk_size;
                pos = pos.max(r.start);
            }
            let wend = ((pos / chunk_size + 1) * chunk_size).min(end);
            let used = r.used.covered(pos, wend);
            if used > 0 {
                out.push(Window {
                    region: ri,
                    offset: pos,
                    len: wend - pos,
                    used,
                });
            }
            pos = wend;
        }
        out.into_iter()
    })
}

/// Reads a window's used bytes into `buf` (resized to the window); free bytes read as zero.
pub(crate) fn read_window(
    dev: &dyn ReadAt,
    used: &ExtentList,
    w: &Window,
    buf: &mut Vec<u8>,
) -> Result<()> {
    // Keep the old bytes rather than zeroing the whole buffer first: every byte that is not
    // read below is zeroed explicitly, and most of a window is usually read.
    let len = w.len as usize;
    buf.truncate(len);
    buf.resize(len, 0);
    let parts = used.clipped(w.offset, w.offset + w.len);
    let exts = parts.as_slice();
    // Bytes before this (relative to the window) are read or zeroed.
    let mut done = 0;
    let mut i = 0;
    while i < exts.len() {
        // Merge neighbours separated by small gaps into one read.
        let mut j = i;
        while j + 1 < exts.len() && exts[j + 1].start - exts[j].end() <= BRIDGE_GAP {
            j += 1;
        }
        let start = exts[i].start;
        let end = exts[j].end();
        let rel = (start - w.offset) as usize;
        buf[done..rel].fill(0);
        let rel_end = rel + (end - start) as usize;
        if dev.is_hole(start, end - start) {
            buf[rel..rel_end].fill(0);
        } else {
            dev.read_exact_at(&mut buf[rel..rel_end], start)?;
        }
        for k in i..j {
            let gs = (exts[k].end() - w.offset) as usize;
            let ge = (exts[k + 1].start - w.offset) as usize;
            buf[gs..ge].fill(0);
        }
        done = rel_end;
        i = j + 1;
    }
    buf[done..].fill(0);
    Ok(())
}

/// Writes the used parts of a window from `data` (the whole window), or zeroes them when the
/// chunk is all zeros (`data` is None). Free bytes of the window are left alone, except a
/// small free gap between two used extents whose bytes in `data` are zeros (as every window
/// read by [`read_window`] has them): it is written with its neighbours, because one large
/// write is much cheaper than many small ones, above all when writes bypass the page cache.
/// Zeros in a filesystem's free space change nothing it can see.
pub(crate) fn write_window(
    target: &reshape::Dest<'_>,
    used: &ExtentList,
    w_offset: u64,
    w_len: u64,
    data: Option<&[u8]>,
) -> Result<()> {
    let parts = used.clipped(w_offset, w_offset + w_len);
    let exts = parts.as_slice();
    let Some(d) = data else {
        for e in exts {
            target.dev.zero_range(target.at(e.start), e.len)?;
        }
        return Ok(());
    };
    let rel = |off: u64| (off - w_offset) as usize;
    let mut i = 0;
    while i < exts.len() {
        let mut j = i;
        while j + 1 < exts.len()
            && exts[j + 1].start - exts[j].end() <= BRIDGE_GAP
            && is_zero(&d[rel(exts[j].end())..rel(exts[j + 1].start)])
        {
            j += 1;
        }
        let (start, end) = (exts[i].start, exts[j].end());
        target
            .dev
            .write_all_at(&d[rel(start)..rel(end)], target.at(start))?;
        i = j + 1;
    }
    Ok(())
}

pub(crate) fn is_zero(data: &[u8]) -> bool {
    // Compare in u64 words: this runs over every byte read, so it must be cheap.
    // SAFETY: every bit pattern is a valid u64; align_to only reinterprets aligned middle bytes.
    let (head, body, tail) = unsafe { data.align_to::<u64>() };
    head.iter().all(|&b| b == 0) && body.iter().all(|&w| w == 0) && tail.iter().all(|&b| b == 0)
}

/// After the disk's bytes are written: lay the GPT out for the target's size (primary header
/// updated, backup entries and header at the target's end). MBR disks need nothing more.
pub(crate) fn finish_table(target: &Device, kind: TableKind, sector_size: u64) -> Result<()> {
    if kind != TableKind::Gpt {
        return Ok(());
    }
    // The primary area (LBA 1 through the entry array) as just written from the image.
    let primary = table::gpt::primary_area(target, sector_size)?.ok_or_else(|| {
        crate::Error::corrupt(
            "GPT written from the image",
            sector_size,
            "no GPT header after writing",
        )
    })?;
    let lba0 = target.read_vec(0, sector_size as usize)?;
    target.write_all_at(
        &table::gpt::protective_mbr_for(&lba0, sector_size, target.size()),
        0,
    )?;
    for (offset, bytes) in table::gpt::relocate(&primary, sector_size, target.size())? {
        target.write_all_at(&bytes, offset)?;
    }
    Ok(())
}

/// Regions written to a target: a GPT backup is regenerated for the target, never copied.
pub(crate) fn region_is_written(kind: TableKind, r: &Region) -> bool {
    !(kind == TableKind::Gpt && matches!(r.kind, crate::plan::RegionKind::TableExtra))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Method, RegionKind};

    fn region(start: u64, len: u64, used: &[(u64, u64)]) -> Region {
        Region {
            kind: RegionKind::Partition { number: 1 },
            start,
            len,
            method: Method::UsedBlocks,
            fs: None,
            used: used
                .iter()
                .map(|&(s, l)| crate::extent::Extent::new(s, l))
                .collect(),
        }
    }

    #[test]
    fn windows_align_to_disk_offsets_and_skip_free_space() {
        let mb = 1u64 << 20;
        let r = region(
            mb / 2,
            10 * mb,
            &[(mb / 2, 4096), (5 * mb + 10, 100), (10 * mb, mb / 2)],
        );
        let w: Vec<(u64, u64, u64)> = windows(std::slice::from_ref(&r), mb)
            .map(|w| (w.offset, w.len, w.used))
            .collect();
        assert_eq!(
            w,
            vec![
                (mb / 2, mb / 2, 4096),
                (5 * mb, mb, 100),
                (10 * mb, mb / 2, mb / 2)
            ]
        );
    }

    #[test]
    fn a_window_reads_used_bytes_and_zeroes_free_ones() {
        let disk: Vec<u8> = (0..4096u32).map(|i| (i % 251 + 1) as u8).collect();
        let r = region(0, 4096, &[(0, 10), (100, 10), (3000, 1096)]);
        let w = windows(std::slice::from_ref(&r), 4096)
            .next()
            .expect("one window");
        let mut buf = Vec::new();
        read_window(&disk, &r.used, &w, &mut buf).expect("read");
        for (i, b) in buf.iter().enumerate() {
            let used = i < 10 || (100..110).contains(&i) || i >= 3000;
            assert_eq!(*b, if used { disk[i] } else { 0 }, "byte {i}");
        }
    }

    #[test]
    fn a_reused_buffer_keeps_nothing_of_its_last_window() {
        let disk: Vec<u8> = (0..8192u32).map(|i| (i % 251 + 1) as u8).collect();
        let r = region(0, 8192, &[(100, 10), (5000, 100)]);
        let w = windows(std::slice::from_ref(&r), 8192)
            .next()
            .expect("one window");
        let mut buf = vec![0xaa; 10000];
        read_window(&disk, &r.used, &w, &mut buf).expect("read");
        assert_eq!(buf.len(), 8192);
        for (i, b) in buf.iter().enumerate() {
            let used = (100..110).contains(&i) || (5000..5100).contains(&i);
            assert_eq!(*b, if used { disk[i] } else { 0 }, "byte {i}");
        }
    }

    #[test]
    fn a_written_window_changes_used_bytes_and_only_zero_gaps_between_them() {
        let path = std::env::temp_dir().join(format!("wraith-ww-{}.img", std::process::id()));
        let size = 4usize << 20;
        std::fs::write(&path, vec![0xeeu8; size]).expect("target");
        let target = Device::open_write(&path).expect("open");
        let mut data: Vec<u8> = (0..size).map(|i| (i % 249 + 1) as u8).collect();
        let mb = 1usize << 20;
        // Used: [0, 1 MiB), [1 MiB + 4 KiB, 2 MiB), [2 MiB + 8 KiB, 3 MiB), [3.5 MiB, 4 MiB).
        let used: ExtentList = [
            (0, mb),
            (mb + 4096, mb - 4096),
            (2 * mb + 8192, mb - 8192),
            (3 * mb + mb / 2, mb / 2),
        ]
        .iter()
        .map(|&(s, l)| crate::extent::Extent::new(s as u64, l as u64))
        .collect();
        // Free bytes as read_window leaves them (zeros), except one gap that holds data:
        // that one must not be written; nor must a zero gap larger than BRIDGE_GAP.
        data[mb..mb + 4096].fill(0);
        data[3 * mb..3 * mb + mb / 2].fill(0);
        let dest = reshape::Dest::same(&target);
        write_window(&dest, &used, 0, size as u64, Some(&data)).expect("write");
        target.sync().expect("sync");
        drop(target);
        let got = std::fs::read(&path).expect("read back");
        std::fs::remove_file(&path).ok();
        for (i, &b) in got.iter().enumerate() {
            // Left alone: a gap whose bytes are not zeros, and a zero gap too large to bridge.
            let untouched =
                (2 * mb..2 * mb + 8192).contains(&i) || (3 * mb..3 * mb + mb / 2).contains(&i);
            let want = if untouched {
                0xee
            } else {
                data[i] // used bytes, and zero gaps bridged by one write
            };
            assert_eq!(b, want, "byte {i}");
        }
    }

    #[test]
    fn zero_detection_handles_unaligned_edges() {
        let mut v = vec![0u8; 1001];
        assert!(is_zero(&v[1..]));
        v[1000] = 1;
        assert!(!is_zero(&v[1..]));
    }
}

//! Content-defined chunk boundaries for saves. A save reads a region's used data in disk
//! order; where one chunk ends and the next begins is decided by the bytes themselves (a gear
//! hash of the 64 bytes before each 4 KiB block end, with FastCDC's normalized chunking), not
//! by disk offsets. So two machines installed separately from the same media, whose files sit at
//! different offsets, still cut the same files into the same chunks, and a repository holding
//! one stores little of the other. It owns the boundary rule and the assembly of read windows
//! into chunks; it must not read disks, hash or compress.
//!
//! The rule is part of the repository format (docs/FORMAT.md, "Content-defined chunks"):
//! changing the
//! table, the masks or the sizes changes every boundary, and with them every chunk id, so an
//! existing repository would deduplicate nothing against its earlier images.
//!
//! Sizes: at least [`MIN`], at most [`MAX`], about [`AVG`] on average. Chosen by measurement
//! (ui/tests/cli.rs `independently_installed_disks_share_their_files_chunks`: two ext4 disks
//! made by mkfs.ext4 -d from the same 48 files of 64-964 KiB, each after another first file;
//! what the second stores, as a share of the first): fixed 1 MiB windows
//! 0.947; content-defined (cut at any byte) with a 1 MiB average 0.305, 512 KiB 0.139, 256
//! KiB 0.075; at block ends only, 512 KiB, 0.147 (and 64 of every 4096 bytes hashed). The first
//! disk's stored bytes hardly move (13.56, 13.57, 13.61 MB: zstd loses little on smaller
//! chunks), but the chunk count, and with it the repository's index in memory and the
//! manifest, doubles with each halving: 512 KiB is the balance (twice the chunks of fixed
//! 1 MiB windows).

use super::Window;

/// No boundary before this many bytes: the hash is not even looked at (FastCDC's skip).
pub const MIN: usize = 128 << 10;
/// The average the masks aim at.
pub const AVG: usize = 512 << 10;
/// A chunk ends here whatever its content (memory per chunk stays bounded).
pub const MAX: usize = 2048 << 10;

/// Boundaries fall only where a 4 KiB block of the region ends. Filesystems place files on
/// block boundaries, so two disks holding a file at different offsets still see the same
/// candidate positions inside it; and a restore's writes stay block-aligned.
pub const ALIGN: usize = 4096;

/// At a candidate position, a boundary needs the top 8 bits of the hash zero while the chunk
/// is shorter than [`AVG`] (1 in 256 candidates), the top 6 bits after it (1 in 64): sizes
/// bunch around the average (FastCDC's normalization).
const BITS_BEFORE_AVG: u32 = 8;
const BITS_AFTER_AVG: u32 = 6;

/// 256 pseudo-random 64-bit values, one per byte value, from splitmix64 seeded with
/// "wraith-c" (fixed forever: see the module docs).
const GEAR: [u64; 256] = gear_table();

const fn gear_table() -> [u64; 256] {
    let mut t = [0u64; 256];
    let mut x: u64 = u64::from_le_bytes(*b"wraith-c");
    let mut i = 0;
    while i < 256 {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        t[i] = z ^ (z >> 31);
        i += 1;
    }
    t
}

/// The gear hash of the 64 bytes before a candidate position: `h = (h << 1) + GEAR[b]` from 0
/// over them (a byte further back would have shifted out), so only 64 bytes of every 4 KiB
/// are hashed.
fn gear64(bytes: &[u8; 64]) -> u64 {
    bytes
        .iter()
        .fold(0u64, |h, &b| (h << 1).wrapping_add(GEAR[b as usize]))
}

/// Where the chunk holding `done` (≥ 64) bytes so far, whose last 64 are `tail`, ends within
/// `data`, the next bytes, which begin `rel` bytes into their region: the index just past its
/// last byte, or None when it goes on past `data`.
fn cut(done: usize, tail: &[u8], rel: u64, data: &[u8]) -> Option<usize> {
    let max_at = MAX.saturating_sub(done);
    let limit = data.len().min(max_at);
    // The first candidate: the next block end after `rel` (or at it, past the first byte).
    let mut p = (ALIGN - (rel % ALIGN as u64) as usize) % ALIGN;
    if p == 0 {
        p = ALIGN;
    }
    let mut window = [0u8; 64];
    while p <= limit {
        let len = done + p;
        if len >= MIN {
            if p >= 64 {
                window.copy_from_slice(&data[p - 64..p]);
            } else {
                let from_tail = 64 - p;
                window[..from_tail].copy_from_slice(&tail[tail.len() - from_tail..]);
                window[from_tail..].copy_from_slice(&data[..p]);
            }
            let bits = if len < AVG {
                BITS_BEFORE_AVG
            } else {
                BITS_AFTER_AVG
            };
            if gear64(&window) >> (64 - bits) == 0 {
                return Some(p);
            }
        }
        p += ALIGN;
    }
    // No boundary by the largest size: cut there (aligned when the chunk began aligned).
    (max_at <= data.len()).then_some(max_at)
}

/// Assembles the read windows of a save into content-defined chunks. Windows come in disk
/// order with their bytes (free bytes already zeroed); a chunk never spans two regions nor a
/// jump in disk offset (skipped free space), so each chunk is one contiguous disk range.
#[derive(Default)]
pub(crate) struct Assembler {
    /// The chunk being assembled: its region, first disk offset, and bytes so far.
    pending: Option<(usize, u64, Vec<u8>)>,
}

impl Assembler {
    /// Whether `w` goes on the chunk being assembled (same region, no gap before it). When
    /// not, the caller starts it at its first used byte: a chunk that began with the free
    /// bytes before a file would hold them, as many as the file's offset in its window
    /// happens to leave, and be another machine's chunk no more.
    pub(crate) fn continues(&self, w: &Window) -> bool {
        matches!(&self.pending,
            Some((r, start, buf)) if *r == w.region && start + buf.len() as u64 == w.offset)
    }

    /// Adds a window's bytes; every chunk completed by them is passed to `out` as a window
    /// (its `used` is left 0 for the caller to fill) with its bytes.
    pub(crate) fn push(
        &mut self,
        w: &Window,
        region_start: u64,
        mut data: &[u8],
        take: &mut dyn FnMut() -> Vec<u8>,
        out: &mut dyn FnMut(Window, Vec<u8>) -> crate::error::Result<()>,
    ) -> crate::error::Result<()> {
        if !self.continues(w) {
            self.flush(out)?;
        }
        let mut offset = w.offset;
        while !data.is_empty() {
            let (_, _, buf) = self.pending.get_or_insert_with(|| {
                let mut b = take();
                b.clear();
                (w.region, offset, b)
            });
            // Too short for a boundary (under MIN, so under 64 bytes too): no tail needed.
            let found = if buf.len() + data.len() < MIN {
                None
            } else if buf.len() < 64 {
                // Take bytes until the chunk holds 64, then look from there.
                let n = (64 - buf.len()).min(data.len());
                buf.extend_from_slice(&data[..n]);
                data = &data[n..];
                offset += n as u64;
                if data.is_empty() {
                    break;
                }
                cut(
                    buf.len(),
                    &buf[buf.len() - 64..],
                    offset - region_start,
                    data,
                )
            } else {
                cut(
                    buf.len(),
                    &buf[buf.len() - 64..],
                    offset - region_start,
                    data,
                )
            };
            match found {
                Some(n) => {
                    buf.extend_from_slice(&data[..n]);
                    data = &data[n..];
                    offset += n as u64;
                    self.flush(out)?;
                }
                None => {
                    buf.extend_from_slice(data);
                    break;
                }
            }
        }
        Ok(())
    }

    /// Ends the chunk being assembled (at a region's end, a gap, a failed read, the end).
    pub(crate) fn flush(
        &mut self,
        out: &mut dyn FnMut(Window, Vec<u8>) -> crate::error::Result<()>,
    ) -> crate::error::Result<()> {
        match self.pending.take() {
            Some((region, offset, buf)) if !buf.is_empty() => out(
                Window {
                    region,
                    offset,
                    len: buf.len() as u64,
                    used: 0,
                },
                buf,
            ),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn chunks_of(data: &[u8], piece: usize) -> Vec<(u64, u64)> {
        let mut a = Assembler::default();
        let mut out = Vec::new();
        let mut pos = 0;
        for p in data.chunks(piece) {
            let w = Window {
                region: 0,
                offset: pos,
                len: p.len() as u64,
                used: p.len() as u64,
            };
            a.push(&w, 0, p, &mut Vec::new, &mut |w, b| {
                assert_eq!(b.len() as u64, w.len);
                out.push((w.offset, w.len));
                Ok(())
            })
            .unwrap();
            pos += p.len() as u64;
        }
        a.flush(&mut |w, _| {
            out.push((w.offset, w.len));
            Ok(())
        })
        .unwrap();
        out
    }

    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn boundaries_follow_content_not_offsets_nor_read_sizes() {
        let data = noise(24 << 20, 7);
        let a = chunks_of(&data, 1 << 20);
        // Read in other pieces: the same chunks.
        assert_eq!(a, chunks_of(&data, 333_333));
        let total: u64 = a.iter().map(|c| c.1).sum();
        assert_eq!(total, data.len() as u64);
        for (i, c) in a.iter().enumerate() {
            assert!(c.1 <= MAX as u64);
            assert_eq!(c.0 % ALIGN as u64, 0, "cuts fall on block ends: {c:?}");
            if i + 1 < a.len() {
                assert!(c.1 >= MIN as u64, "{c:?}");
            }
        }
        let avg = total / a.len() as u64;
        assert!(
            (AVG as u64 / 2..AVG as u64 * 2).contains(&avg),
            "average {avg} near {AVG}"
        );
        // The same bytes after 25 blocks of others (a file elsewhere on another disk): after
        // the first chunk or two, the same cuts.
        let mut shifted = noise(100 * 1024, 99);
        shifted.extend_from_slice(&data);
        let b = chunks_of(&shifted, 1 << 20);
        let lens_a: std::collections::HashSet<(u64, u64)> =
            a.iter().map(|&(o, l)| (o + 100 * 1024, l)).collect();
        let same = b.iter().filter(|c| lens_a.contains(c)).count();
        assert!(
            same + 3 >= a.len(),
            "only {same} of {} chunks resynchronised",
            a.len()
        );
    }
}

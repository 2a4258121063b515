//! A writable overlay over a read-only disk (a saved image): writes land in a sparse file of
//! the disk's size, at the disk's own offsets, and a bitmap of written 4 KiB blocks says which
//! blocks read from that file instead of the disk. The bitmap lives beside the file as
//! `FILE.map`, which also names the image the overlay was made for, so an overlay is never
//! laid over another image. Reads merge overlay blocks over the disk.
//!
//! Why a sidecar bitmap rather than the file's own holes: a block written with zeros must
//! still read as zeros over an image holding data there, and a sparse file cannot tell "written
//! zeros" from "never written" (filesystems may also keep or drop zero blocks as they like).
//! Why persisted (rather than in memory only): so a technician can stop the server and serve
//! the same overlay again with the writes still there. The map is replaced atomically (a
//! temporary file renamed over it) and only after the data file is synced, so a bit on disk
//! always refers to synced data; writes not yet flushed may be lost by a crash, as on a disk.
//!
//! Must not: write the disk it lies over or anything but FILE and FILE.map (the repository is
//! never written); trust FILE.map's sizes or counts beyond what the disk's size allows; hold
//! more bitmap than the written parts of the disk need (pages are made on first write).

use crate::device::ReadAt;
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// The unit of the bitmap: a partial write reads the rest of its block first.
pub const BLOCK: u64 = 4096;
/// 64-bit words per bitmap page: one page covers 32768 blocks (128 MiB of disk) in 4 KiB.
const WORDS: usize = 512;
const PAGE_BLOCKS: u64 = (WORDS * 64) as u64;
const MAGIC: &[u8; 8] = b"WROVMAP1";
/// The longest image name we store (names are far shorter; this bounds what we read).
const MAX_IMAGE_TEXT: usize = 1024;
/// magic, version, block size, disk size, image text length.
const HEADER: usize = 8 + 4 + 4 + 8 + 2;
const PAGE_BYTES: usize = 8 + WORDS * 8;

type Page = Box<[u64; WORDS]>;

struct Bits {
    pages: BTreeMap<u64, Page>,
    /// Set by a write, cleared when the map is persisted.
    dirty: bool,
}

impl Bits {
    fn get(&self, block: u64) -> bool {
        self.pages
            .get(&(block / PAGE_BLOCKS))
            .is_some_and(|p| bit(p, block % PAGE_BLOCKS))
    }
    fn set_range(&mut self, first: u64, count: u64) {
        for b in first..first + count {
            let page = self
                .pages
                .entry(b / PAGE_BLOCKS)
                .or_insert_with(|| Box::new([0u64; WORDS]));
            let i = (b % PAGE_BLOCKS) as usize;
            page[i / 64] |= 1 << (i % 64);
        }
        if count > 0 {
            self.dirty = true;
        }
    }
    /// Whether any block in `[first, first + count)` is written.
    fn any(&self, first: u64, count: u64) -> bool {
        let last = first + count; // exclusive
        for (&pi, page) in self
            .pages
            .range(first / PAGE_BLOCKS..last.div_ceil(PAGE_BLOCKS))
        {
            let base = pi * PAGE_BLOCKS;
            let lo = first.max(base) - base;
            let hi = last.min(base + PAGE_BLOCKS) - base;
            if (lo..hi).any(|i| bit(page, i)) {
                return true;
            }
        }
        false
    }
}

fn bit(page: &[u64; WORDS], i: u64) -> bool {
    let i = i as usize;
    page[i / 64] & (1 << (i % 64)) != 0
}

/// An overlay file opened for one image.
pub struct Overlay {
    path: PathBuf,
    map_path: PathBuf,
    file: File,
    size: u64,
    image: String,
    bits: Mutex<Bits>,
    /// Writes and flushes one at a time: a partial-block write reads, patches and rewrites its
    /// block, and two of those at once on one block would lose one of them.
    writing: Mutex<()>,
}

impl Overlay {
    /// Opens the overlay at `path` for the image named `image` (its `NAME@ID`) of `size`
    /// bytes, creating it (and its map) when neither exists. An existing overlay made for
    /// another image or size, or a file that is not an overlay, is refused.
    pub fn open(path: &Path, image: &str, size: u64) -> Result<Overlay> {
        let map_path = map_path(path);
        if image.len() > MAX_IMAGE_TEXT {
            return Err(Error::Invalid(format!("image name {image:?} is too long")));
        }
        let (file, bits) = if map_path.exists() {
            let bits = read_map(&map_path, image, size)?;
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .map_err(|e| {
                    Error::io(
                        path,
                        std::io::Error::new(
                            e.kind(),
                            format!("{e} (its map {} is there)", map_path.display()),
                        ),
                    )
                })?;
            let meta = file.metadata().map_err(|e| Error::io(path, e))?;
            if !meta.is_file() || meta.len() != size {
                return Err(Error::Invalid(format!(
                    "{}: the overlay file is {} bytes, its map says the disk is {size}; \
                     it was changed by something else — use a new overlay file",
                    path.display(),
                    meta.len()
                )));
            }
            (file, bits)
        } else {
            if path.exists() {
                return Err(Error::Invalid(format!(
                    "{} exists but is not a wraith overlay (there is no {} beside it); \
                     name a new file for the overlay",
                    path.display(),
                    map_path.display()
                )));
            }
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(path)
                .map_err(|e| Error::io(path, e))?;
            // Sparse: only written blocks take space.
            file.set_len(size).map_err(|e| Error::io(path, e))?;
            let bits = Bits {
                pages: BTreeMap::new(),
                dirty: true,
            };
            (file, bits)
        };
        let o = Overlay {
            path: path.to_path_buf(),
            map_path,
            file,
            size,
            image: image.to_string(),
            bits: Mutex::new(bits),
            writing: Mutex::new(()),
        };
        // A new overlay gets its map at once, so the image it belongs to is on record even
        // before the first write.
        o.flush()?;
        Ok(o)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many 4 KiB blocks hold overlay data.
    pub fn blocks_written(&self) -> u64 {
        self.lock_bits()
            .pages
            .values()
            .map(|p| p.iter().map(|w| u64::from(w.count_ones())).sum::<u64>())
            .sum()
    }

    fn lock_bits(&self) -> MutexGuard<'_, Bits> {
        // A panicking writer leaves at worst a bit unset for data already written: keep going.
        self.bits.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_writing(&self) -> MutexGuard<'_, ()> {
        self.writing.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether any byte of `[offset, offset + len)` reads from the overlay.
    pub fn any_written(&self, offset: u64, len: u64) -> bool {
        if len == 0 {
            return false;
        }
        let first = offset / BLOCK;
        let last = (offset + len).div_ceil(BLOCK);
        self.lock_bits().any(first, last - first)
    }

    fn check_range(&self, offset: u64, len: u64) -> Result<u64> {
        offset
            .checked_add(len)
            .filter(|e| *e <= self.size)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "{} bytes at offset {offset} lie past the end of the {}-byte disk",
                    len, self.size
                ))
            })
    }

    /// Fills `buf` from `offset`: written blocks from the overlay file, the rest from `disk`.
    pub fn read_merged(&self, disk: &dyn ReadAt, buf: &mut [u8], offset: u64) -> Result<()> {
        let end = self.check_range(offset, buf.len() as u64)?;
        // Which blocks are written, taken once so a long read of the disk does not hold the
        // lock: at most one entry per block of the request (requests are bounded).
        let mut runs: Vec<(u64, u64, bool)> = Vec::new();
        {
            let bits = self.lock_bits();
            let mut pos = offset;
            while pos < end {
                let b = pos / BLOCK;
                let stop = ((b + 1) * BLOCK).min(end);
                let w = bits.get(b);
                match runs.last_mut() {
                    Some((_, len, kind)) if *kind == w => *len += stop - pos,
                    _ => runs.push((pos, stop - pos, w)),
                }
                pos = stop;
            }
        }
        for (at, len, written) in runs {
            let out = &mut buf[(at - offset) as usize..(at - offset + len) as usize];
            if written {
                self.file
                    .read_exact_at(out, at)
                    .map_err(|e| Error::io(&self.path, e))?;
            } else {
                disk.read_exact_at(out, at)?;
            }
        }
        Ok(())
    }

    /// Writes `data` at `offset`. Partial blocks at either end are completed from what they
    /// read now (overlay or disk), so a block in the overlay is always whole.
    pub fn write(&self, disk: &dyn ReadAt, data: &[u8], offset: u64) -> Result<()> {
        let end = self.check_range(offset, data.len() as u64)?;
        let _w = self.lock_writing();
        let mut pos = offset;
        while pos < end {
            let b = pos / BLOCK;
            let bstart = b * BLOCK;
            let bend = (bstart + BLOCK).min(self.size);
            let src = &data[(pos - offset) as usize..];
            if pos == bstart && end >= bend {
                // Whole blocks from here: one write for all of them.
                let whole_end = if end == self.size {
                    end
                } else {
                    end / BLOCK * BLOCK
                };
                let n = whole_end - pos;
                self.file
                    .write_all_at(&src[..n as usize], pos)
                    .map_err(|e| Error::io(&self.path, e))?;
                self.lock_bits().set_range(b, n.div_ceil(BLOCK));
                pos = whole_end;
            } else {
                let mut block = vec![0u8; (bend - bstart) as usize];
                self.read_merged(disk, &mut block, bstart)?;
                let n = (end.min(bend) - pos) as usize;
                let at = (pos - bstart) as usize;
                block[at..at + n].copy_from_slice(&src[..n]);
                self.file
                    .write_all_at(&block, bstart)
                    .map_err(|e| Error::io(&self.path, e))?;
                self.lock_bits().set_range(b, 1);
                pos += n as u64;
            }
        }
        Ok(())
    }

    /// Makes `[offset, offset + len)` read as zeros, without a buffer of `len` bytes: whole
    /// blocks become holes of the overlay file (marked written, so they read as its zeros and
    /// not as the image), partial blocks at the ends are written.
    pub fn write_zeroes(&self, disk: &dyn ReadAt, offset: u64, len: u64) -> Result<()> {
        let end = self.check_range(offset, len)?;
        let first_whole = offset.next_multiple_of(BLOCK);
        let last_whole = if end == self.size {
            end
        } else {
            end / BLOCK * BLOCK
        };
        if first_whole >= last_whole {
            return self.write(disk, &vec![0u8; len as usize], offset);
        }
        if offset < first_whole {
            self.write(disk, &vec![0u8; (first_whole - offset) as usize], offset)?;
        }
        if last_whole < end {
            self.write(disk, &vec![0u8; (end - last_whole) as usize], last_whole)?;
        }
        let _w = self.lock_writing();
        self.zero_file(first_whole, last_whole - first_whole)?;
        self.lock_bits().set_range(
            first_whole / BLOCK,
            (last_whole - first_whole).div_ceil(BLOCK),
        );
        Ok(())
    }

    /// Zeros in the overlay file: a punched hole, or zeros written where the filesystem
    /// cannot punch.
    fn zero_file(&self, offset: u64, len: u64) -> Result<()> {
        use nix::fcntl::{fallocate, FallocateFlags};
        use std::os::fd::AsRawFd;
        let punched = i64::try_from(offset)
            .ok()
            .zip(i64::try_from(len).ok())
            .is_some_and(|(o, l)| {
                fallocate(
                    self.file.as_raw_fd(),
                    FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE,
                    o,
                    l,
                )
                .is_ok()
            });
        if punched {
            return Ok(());
        }
        const PIECE: u64 = 1 << 20;
        let zeros = vec![0u8; PIECE.min(len) as usize];
        let mut pos = offset;
        while pos < offset + len {
            let n = (offset + len - pos).min(PIECE);
            self.file
                .write_all_at(&zeros[..n as usize], pos)
                .map_err(|e| Error::io(&self.path, e))?;
            pos += n;
        }
        Ok(())
    }

    /// Syncs the written data, then persists the map (atomically) if it changed.
    pub fn flush(&self) -> Result<()> {
        let _w = self.lock_writing();
        let bytes = {
            let bits = self.lock_bits();
            if !bits.dirty {
                return Ok(());
            }
            encode_map(&self.image, self.size, &bits)
        };
        self.file
            .sync_data()
            .map_err(|e| Error::io(&self.path, e))?;
        let tmp = self.map_path.with_extension("map.tmp");
        let mut f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f.write_all(&bytes)
            .and_then(|()| f.sync_all())
            .map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &self.map_path).map_err(|e| Error::io(&self.map_path, e))?;
        if let Some(d) = self.map_path.parent().filter(|p| !p.as_os_str().is_empty()) {
            if let Ok(d) = File::open(d) {
                let _ = d.sync_all();
            }
        }
        // Only what was encoded is on disk; a write since then set `dirty` again after us,
        // or is still waiting for `writing`, which we hold.
        self.lock_bits().dirty = false;
        Ok(())
    }
}

/// `FILE.map` for an overlay `FILE`.
pub fn map_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".map");
    PathBuf::from(s)
}

/// The map's layout (all little-endian): magic `WROVMAP1`, u32 version (1), u32 block size
/// (4096), u64 disk size, u16 length + the image's `NAME@ID`, u64 page count, then each page
/// as u64 page index + 512 u64 words (bit i of a page = block index*32768 + i written), and
/// a CRC-32 of everything before it.
fn encode_map(image: &str, size: u64, bits: &Bits) -> Vec<u8> {
    let mut b = Vec::with_capacity(HEADER + image.len() + 12 + bits.pages.len() * PAGE_BYTES);
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&(BLOCK as u32).to_le_bytes());
    b.extend_from_slice(&size.to_le_bytes());
    b.extend_from_slice(&(image.len() as u16).to_le_bytes());
    b.extend_from_slice(image.as_bytes());
    let pages: Vec<_> = bits
        .pages
        .iter()
        .filter(|(_, p)| p.iter().any(|w| *w != 0))
        .collect();
    b.extend_from_slice(&(pages.len() as u64).to_le_bytes());
    for (i, p) in pages {
        b.extend_from_slice(&i.to_le_bytes());
        for w in p.iter() {
            b.extend_from_slice(&w.to_le_bytes());
        }
    }
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

fn read_map(path: &Path, image: &str, size: u64) -> Result<Bits> {
    let what = path.display().to_string();
    let pages_max = size.div_ceil(BLOCK).div_ceil(PAGE_BLOCKS);
    let limit = (HEADER + MAX_IMAGE_TEXT + 8 + 4) as u64 + pages_max * PAGE_BYTES as u64;
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    if len > limit {
        return Err(Error::corrupt(
            &what,
            0,
            format!("{len} bytes, more than a map of a {size}-byte disk can hold ({limit})"),
        ));
    }
    let b = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if b.len() < HEADER || &b[..8] != MAGIC {
        return Err(Error::corrupt(
            &what,
            0,
            "not a wraith overlay map (no WROVMAP1 header)",
        ));
    }
    let body = b.len() - 4;
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&b[body..]);
    if crc32fast::hash(&b[..body]) != u32::from_le_bytes(crc) {
        return Err(Error::corrupt(
            &what,
            body as u64,
            "checksum mismatch: the map is damaged",
        ));
    }
    let mut r = Cursor {
        b: &b[..body],
        at: 8,
    };
    let version = r.u32(&what)?;
    let block = r.u32(&what)?;
    if version != 1 || u64::from(block) != BLOCK {
        return Err(Error::corrupt(
            &what,
            8,
            format!(
                "version {version} with {block}-byte blocks; this wraith reads version 1 with 4096"
            ),
        ));
    }
    let saved_size = r.u64(&what)?;
    let n = r.u16(&what)? as usize;
    let saved_image = String::from_utf8_lossy(r.take(n, &what)?).into_owned();
    if saved_image != image || saved_size != size {
        return Err(Error::Invalid(format!(
            "{}: this overlay was made for image {saved_image} ({saved_size} bytes), not {image} \
             ({size} bytes); use a new overlay file for this image",
            what
        )));
    }
    let count = r.u64(&what)?;
    if count > pages_max {
        return Err(Error::corrupt(
            &what,
            r.at as u64 - 8,
            format!("{count} pages for a disk that has {pages_max}"),
        ));
    }
    let mut pages = BTreeMap::new();
    for _ in 0..count {
        let at = r.at as u64;
        let index = r.u64(&what)?;
        if index >= pages_max || pages.contains_key(&index) {
            return Err(Error::corrupt(
                &what,
                at,
                format!("page {index} is out of range or repeated"),
            ));
        }
        let mut page: Page = Box::new([0u64; WORDS]);
        for w in page.iter_mut() {
            *w = r.u64(&what)?;
        }
        pages.insert(index, page);
    }
    if r.at != body {
        return Err(Error::corrupt(
            &what,
            r.at as u64,
            "bytes after the last page",
        ));
    }
    // Bits past the disk's last block would make reads go to the overlay for nothing: refuse.
    let blocks = size.div_ceil(BLOCK);
    let bits = Bits {
        pages,
        dirty: false,
    };
    if !blocks.is_multiple_of(PAGE_BLOCKS) && bits.any(blocks, PAGE_BLOCKS - blocks % PAGE_BLOCKS) {
        return Err(Error::corrupt(
            &what,
            0,
            "a block past the end of the disk is marked written",
        ));
    }
    Ok(bits)
}

/// Reads little-endian fields, every read bounds-checked against the map's bytes.
struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let s = self
            .b
            .get(self.at..self.at.saturating_add(n))
            .ok_or_else(|| Error::corrupt(what, self.at as u64, "the map ends early"))?;
        self.at += n;
        Ok(s)
    }
    fn u16(&mut self, what: &str) -> Result<u16> {
        let s = self.take(2, what)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4, what)?);
        Ok(u32::from_le_bytes(a))
    }
    fn u64(&mut self, what: &str) -> Result<u64> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8, what)?);
        Ok(u64::from_le_bytes(a))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn disk(size: usize) -> Vec<u8> {
        (0..size).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn writes_merge_over_the_disk_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ov");
        let size = 10 * BLOCK as usize + 100; // a partial last block
        let d = disk(size);
        let o = Overlay::open(&path, "pc@1", size as u64).unwrap();
        let mut want = d.clone();
        // Unaligned, across a block edge; whole blocks; the partial last block; zeros.
        for (at, data) in [
            (4000usize, vec![0xabu8; 300]),
            (2 * BLOCK as usize, vec![0x11; 2 * BLOCK as usize]),
            (size - 150, vec![0x22; 150]),
        ] {
            o.write(&d, &data, at as u64).unwrap();
            want[at..at + data.len()].copy_from_slice(&data);
        }
        o.write_zeroes(&d, 7 * BLOCK + 5, 10).unwrap();
        want[7 * BLOCK as usize + 5..7 * BLOCK as usize + 15].fill(0);
        // Whole blocks (one of them written before) and partial ends: punched or written.
        o.write_zeroes(&d, 2 * BLOCK + 100, 3 * BLOCK).unwrap();
        want[2 * BLOCK as usize + 100..5 * BLOCK as usize + 100].fill(0);
        let mut got = vec![0u8; size];
        o.read_merged(&d, &mut got, 0).unwrap();
        assert_eq!(got, want);
        assert!(o.any_written(4000, 1));
        assert!(!o.any_written(6 * BLOCK, BLOCK));
        o.flush().unwrap();
        drop(o);
        let o = Overlay::open(&path, "pc@1", size as u64).unwrap();
        let mut again = vec![0u8; size];
        o.read_merged(&d, &mut again, 0).unwrap();
        assert_eq!(again, want);
        assert!(o.write(&d, &[1], size as u64).is_err(), "past the end");
    }

    #[test]
    fn an_overlay_of_another_image_or_a_damaged_map_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ov");
        let o = Overlay::open(&path, "pc@1", 1 << 20).unwrap();
        o.write(&disk(1 << 20), &[9; 10], 0).unwrap();
        o.flush().unwrap();
        drop(o);
        let e = Overlay::open(&path, "pc@2", 1 << 20).err().unwrap();
        assert!(e.to_string().contains("made for image pc@1"), "{e}");
        let mut m = std::fs::read(map_path(&path)).unwrap();
        let at = m.len() - 100;
        m[at] ^= 1;
        std::fs::write(map_path(&path), &m).unwrap();
        let e = Overlay::open(&path, "pc@1", 1 << 20).err().unwrap();
        assert!(e.to_string().contains("checksum"), "{e}");
        // A plain file is not taken for an overlay.
        let plain = dir.path().join("plain");
        std::fs::write(&plain, b"x").unwrap();
        let e = Overlay::open(&plain, "pc@1", 1 << 20).err().unwrap();
        assert!(e.to_string().contains("not a wraith overlay"), "{e}");
    }
}

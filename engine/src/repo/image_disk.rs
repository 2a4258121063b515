//! A saved image seen as the disk it was saved from, read lazily: every byte the image holds
//! (the used data of each region, the boot area, the partition table) reads back as on the
//! source; every byte it does not hold (free space, areas no region covers) reads as zero.
//! Chunks are fetched from the repository only when a read needs them, verified against
//! their ids, and kept in a cache bounded in bytes. It is what block access (NBD), mounting,
//! file extraction and exports read through, so each of them works on every repository kind.
//!
//! Must not: write anything (the repository is only read), trust the manifest's windows to be
//! sorted or disjoint without checking, or hold more than its cache bound of chunk data.

use super::manifest::{ChunkRef, Manifest};
use super::{ChunkId, ImageRef, Repository};
use crate::device::ReadAt;
use crate::error::{Error, Result};
use crate::extent::ExtentList;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Chunk bytes kept by default: enough for a filesystem walker's locality (inode tables,
/// directories) and a few readers at once, small enough for the live system's RAM floor.
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

/// One stored window of the image, in disk order.
#[derive(Clone, Copy, Debug)]
struct Window {
    offset: u64,
    len: u64,
    id: ChunkId,
}

/// A least-recently-used set of chunks, bounded by the bytes they hold.
struct Cache {
    limit: usize,
    bytes: usize,
    map: HashMap<ChunkId, Arc<Vec<u8>>>,
    order: VecDeque<ChunkId>,
}

impl Cache {
    fn get(&mut self, id: &ChunkId) -> Option<Arc<Vec<u8>>> {
        let hit = self.map.get(id).cloned()?;
        if let Some(at) = self.order.iter().position(|x| x == id) {
            self.order.remove(at);
        }
        self.order.push_back(*id);
        Some(hit)
    }

    fn put(&mut self, id: ChunkId, data: Arc<Vec<u8>>) {
        if self.map.contains_key(&id) {
            return;
        }
        self.bytes += data.len();
        self.map.insert(id, data);
        self.order.push_back(id);
        while self.bytes > self.limit {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(d) = self.map.remove(&old) {
                self.bytes -= d.len();
            }
        }
    }
}

/// An image of `repository`, readable at any offset like the source disk.
pub struct ImageDisk {
    repo: Arc<Repository>,
    image: ImageRef,
    manifest: Manifest,
    windows: Vec<Window>,
    cache: Mutex<Cache>,
}

impl ImageDisk {
    /// Opens `image` (its manifest is read now; chunks when read).
    pub fn open(repo: Arc<Repository>, image: &ImageRef) -> Result<ImageDisk> {
        let manifest = repo.load_manifest(image)?;
        Self::new(repo, image.clone(), manifest, DEFAULT_CACHE_BYTES)
    }

    /// Over a manifest already read, with a cache of `cache_bytes` (at least one chunk).
    pub fn new(
        repo: Arc<Repository>,
        image: ImageRef,
        manifest: Manifest,
        cache_bytes: usize,
    ) -> Result<ImageDisk> {
        let what = format!("manifest of {image}");
        let size = manifest.source.size;
        let mut windows: Vec<Window> = manifest
            .chunks()
            .filter_map(|(_, c): (_, &ChunkRef)| {
                c.id.map(|id| Window {
                    offset: c.offset,
                    len: u64::from(c.len),
                    id,
                })
            })
            .collect();
        windows.sort_by_key(|w| w.offset);
        let mut end = 0u64;
        for w in &windows {
            if w.offset < end {
                return Err(Error::corrupt(
                    &what,
                    w.offset,
                    "two chunks of the image cover the same disk bytes",
                ));
            }
            end = w
                .offset
                .checked_add(w.len)
                .filter(|e| *e <= size)
                .ok_or_else(|| {
                    Error::corrupt(&what, w.offset, "a chunk lies past the end of the disk")
                })?;
        }
        let limit = cache_bytes.max(manifest.chunk_size as usize);
        Ok(ImageDisk {
            repo,
            image,
            manifest,
            windows,
            cache: Mutex::new(Cache {
                limit,
                bytes: 0,
                map: HashMap::new(),
                order: VecDeque::new(),
            }),
        })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn image(&self) -> &ImageRef {
        &self.image
    }

    pub fn repository(&self) -> &Arc<Repository> {
        &self.repo
    }

    /// The disk ranges that hold stored data, in order: everything else reads as zero, so a
    /// sparse copy writes only these.
    pub fn stored(&self) -> ExtentList {
        let mut out = ExtentList::new();
        for w in &self.windows {
            out.push(w.offset, w.len);
        }
        out
    }

    /// The chunk of window `i`, from the cache or the repository (verified there).
    fn chunk(&self, w: &Window) -> Result<Arc<Vec<u8>>> {
        if let Some(hit) = self.lock().get(&w.id) {
            return Ok(hit);
        }
        // Fetched outside the lock, so readers of other chunks are not held up by a slow share.
        let data = self.repo.read_chunk(&w.id).map_err(|e| {
            Error::Invalid(format!(
                "image {} at disk offset {}: {e}",
                self.image, w.offset
            ))
        })?;
        if data.len() as u64 != w.len {
            return Err(Error::corrupt(
                format!("image {}", self.image),
                w.offset,
                format!(
                    "chunk {} holds {} bytes, the manifest says {}",
                    w.id.short(),
                    data.len(),
                    w.len
                ),
            ));
        }
        let data = Arc::new(data);
        self.lock().put(w.id, data.clone());
        Ok(data)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        // A reader that panicked mid-update leaves at worst a stale entry count: keep going.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The first window that ends after `pos`.
    fn first_after(&self, pos: u64) -> usize {
        self.windows.partition_point(|w| w.offset + w.len <= pos)
    }
}

impl ReadAt for ImageDisk {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|e| *e <= self.size())
            .ok_or_else(|| {
                Error::corrupt(
                    format!("image {}", self.image),
                    offset,
                    format!(
                        "read of {} bytes past the end of the disk ({} bytes)",
                        buf.len(),
                        self.size()
                    ),
                )
            })?;
        let mut pos = offset;
        let mut i = self.first_after(pos);
        while pos < end {
            let out = &mut buf[(pos - offset) as usize..];
            match self.windows.get(i) {
                Some(w) if w.offset <= pos => {
                    let data = self.chunk(w)?;
                    let from = (pos - w.offset) as usize;
                    let n = (data.len() - from).min(out.len());
                    out[..n].copy_from_slice(&data[from..from + n]);
                    pos += n as u64;
                    i += 1;
                }
                next => {
                    let stop = next.map_or(end, |w| w.offset.min(end));
                    let n = (stop - pos) as usize;
                    out[..n].fill(0);
                    pos = stop;
                }
            }
        }
        Ok(())
    }

    fn size(&self) -> u64 {
        self.manifest.source.size
    }

    fn sector_size(&self) -> u64 {
        self.manifest.source.logical_sector_size.max(512)
    }

    fn is_hole(&self, offset: u64, len: u64) -> bool {
        let i = self.first_after(offset);
        self.windows
            .get(i)
            .is_none_or(|w| w.offset >= offset.saturating_add(len))
    }
}

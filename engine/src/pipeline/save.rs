//! Save: a disk's plan becomes an image in a repository. Reader thread → hashing and
//! compressing workers → the calling thread appends new chunks to packs, in disk order
//! (`ordered.rs`).
//! A chunk already in the repository is hashed but never compressed or written again.

use super::ordered::{self, Pool};
use super::{read_window, rescue, windows, QUEUE_PER_WORKER};
use crate::device::ReadAt;
use crate::error::Result;
use crate::events::{Ctx, Progress};
use crate::extent::ExtentList;
use crate::plan::Plan;
use crate::repo::manifest::{ChunkRef, ImageRegion, ImageStats, Manifest, FORMAT_VERSION};
use crate::repo::{check_image_name, pack, ChunkId, ImageRef, Repository};

pub struct SaveOptions {
    pub name: String,
    /// The machine the source disk is inside, recorded in the manifest.
    pub machine: Option<crate::machine::MachineIdentity>,
    /// Forensic acquisition: the plan covers every sector (see [`crate::plan::Plan::all_sectors`])
    /// and the whole disk's SHA-256 and MD5 are computed while reading and kept in the manifest.
    pub all_sectors: bool,
    /// The zstd level for the chunks this save stores; None: the repository's.
    pub zstd_level: Option<i32>,
}

#[derive(Debug, Clone)]
pub struct SaveReport {
    pub image: ImageRef,
    pub stats: ImageStats,
    /// Source bytes that stayed unreadable (zeros in the image), absolute disk offsets.
    pub unreadable: ExtentList,
    /// The files of each ext2/3/4 and NTFS partition in those ranges (also in the manifest).
    pub unreadable_files: Vec<rescue::DamagedFiles>,
}

enum Hashed {
    /// The window's read failed; it is re-read sector by sector after the rest.
    Deferred,
    Zero,
    Known {
        id: ChunkId,
        stored_len: u64,
    },
    New {
        id: ChunkId,
        stored: Vec<u8>,
        flags: u32,
        raw_len: u32,
    },
}

pub fn save(
    dev: &dyn ReadAt,
    plan: &Plan,
    repo: &Repository,
    opts: &SaveOptions,
    ctx: &Ctx<'_>,
) -> Result<SaveReport> {
    super::with_notices(repo, ctx, || save_inner(dev, plan, repo, opts, ctx))
}

fn save_inner(
    dev: &dyn ReadAt,
    plan: &Plan,
    repo: &Repository,
    opts: &SaveOptions,
    ctx: &Ctx<'_>,
) -> Result<SaveReport> {
    let (sink, cancel) = (ctx.sink, ctx.cancel);
    check_image_name(&opts.name)?;
    let chunk_size = repo.config.chunk_size;
    // Content-defined chunks, unless the repository keeps fixed windows or every sector is
    // acquired (a forensic image is of one disk; its windows stay the disk's own).
    let cdc = repo.config.chunking == crate::repo::Chunking::Cdc && !opts.all_sectors;
    let level = opts.zstd_level.unwrap_or(repo.config.zstd_level);
    let threads = ctx.threads.max(1);
    let total: u64 = windows(&plan.regions, chunk_size).map(|w| w.used).sum();
    let mut regions: Vec<ImageRegion> = plan
        .regions
        .iter()
        .map(|r| ImageRegion {
            region: r.clone(),
            chunks: Vec::new(),
        })
        .collect();
    let mut stats = ImageStats::default();
    let mut writer = repo.writer();
    // Windows whose read failed: (index in their region's chunk list, window).
    let mut deferred: Vec<(usize, super::Window)> = Vec::new();
    let mut progress = Progress::start(sink, "save", total);

    // Digests need the bytes in disk order: an all-sectors save retries a failing window in
    // place (the unreadable ranges found are kept here) instead of after the rest.
    let mut hasher = opts.all_sectors.then(super::acquire::Hasher::start);
    let unreadable_inline = std::sync::Mutex::new(ExtentList::new());
    let in_flight = threads * QUEUE_PER_WORKER * 2;
    // Chunk and compression buffers go round reader → worker → pack writer → reader.
    let pool = Pool::new(threads * QUEUE_PER_WORKER * 3);
    let pool = &pool;
    let result = ordered::run(
        cancel,
        threads,
        in_flight,
        |feed| {
            let mut chunks = super::cdc::Assembler::default();
            // A chunk the assembler completed goes to the workers with its used bytes.
            let used_in = |mut w: super::Window| {
                w.used = plan.regions[w.region]
                    .used
                    .covered(w.offset, w.offset + w.len);
                w
            };
            for w in windows(&plan.regions, chunk_size) {
                let mut buf = pool.take();
                let used = &plan.regions[w.region].used;
                match read_window(dev, used, &w, &mut buf) {
                    Ok(()) if cdc => {
                        let skip = if chunks.continues(&w) {
                            0
                        } else {
                            used.clipped(w.offset, w.offset + w.len)
                                .iter()
                                .next()
                                .map_or(0, |e| e.start - w.offset)
                        };
                        let from = super::Window {
                            offset: w.offset + skip,
                            len: w.len - skip,
                            ..w
                        };
                        chunks.push(
                            &from,
                            plan.regions[w.region].start,
                            &buf[skip as usize..],
                            &mut || pool.take(),
                            &mut |c, b| feed.work((used_in(c), b)),
                        )?;
                        pool.give(buf);
                    }
                    Ok(()) => {
                        if let Some(h) = &mut hasher {
                            h.feed(&buf);
                        }
                        feed.work((w, buf))?
                    }
                    Err(e) if rescue::is_media_error(&e) && hasher.is_some() => {
                        let bad = rescue::reread_window(dev, used, &w, &mut buf, cancel)?;
                        let mut list = unreadable_inline.lock().unwrap_or_else(|p| p.into_inner());
                        for e in bad.iter() {
                            list.push(e.start, e.len);
                        }
                        if let Some(h) = &mut hasher {
                            h.feed(&buf);
                        }
                        feed.work((w, buf))?
                    }
                    Err(e) if rescue::is_media_error(&e) => {
                        // The chunk before the failed window ends there; the window is read
                        // again on its own after the rest.
                        chunks.flush(&mut |c, b| feed.work((used_in(c), b)))?;
                        rescue::deferred(sink, &w, &e);
                        feed.done((w, Hashed::Deferred))?;
                    }
                    Err(e) => return Err(e),
                }
            }
            chunks.flush(&mut |c, b| feed.work((used_in(c), b)))
        },
        || {
            let mut codec = pack::Codec::new(level);
            let (mut out, mut scratch) = (Vec::new(), Vec::new());
            move |(w, data): (super::Window, Vec<u8>)| {
                let (res, spare) =
                    hash_and_compress(repo, data, &mut out, &mut codec, &mut scratch);
                if let Some(b) = spare {
                    pool.give(b);
                }
                res.map(|hashed| (w, hashed))
            }
        },
        |(w, hashed)| {
            let is_deferred = matches!(hashed, Hashed::Deferred);
            if is_deferred {
                deferred.push((regions[w.region].chunks.len(), w));
            }
            let (id, spare) = store(&mut writer, &mut stats, hashed)?;
            if let Some(b) = spare {
                pool.give(b);
            }
            stats.chunks += 1;
            stats.image_bytes += w.used;
            regions[w.region].chunks.push(ChunkRef {
                offset: w.offset,
                len: w.len as u32,
                id,
            });
            if !is_deferred {
                progress.add(w.used);
            }
            Ok(())
        },
    );
    // Second pass over what failed, now that the healthy rest is safe in the repository.
    let mut unreadable = unreadable_inline
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    let acquisition = hasher.map(super::acquire::Hasher::finish);
    let result = result.and_then(|()| {
        let mut codec = pack::Codec::new(level);
        let (mut buf, mut out, mut scratch) = (Vec::new(), Vec::new(), Vec::new());
        for (ci, w) in std::mem::take(&mut deferred) {
            let used = &plan.regions[w.region].used;
            let bad = rescue::reread_window(dev, used, &w, &mut buf, cancel)?;
            for e in bad.iter() {
                unreadable.push(e.start, e.len);
            }
            let (hashed, spare) = hash_and_compress(
                repo,
                std::mem::take(&mut buf),
                &mut out,
                &mut codec,
                &mut scratch,
            );
            buf = spare.unwrap_or_default();
            let (id, _) = store(&mut writer, &mut stats, hashed?)?;
            regions[w.region].chunks[ci].id = id;
            progress.add(w.used);
        }
        Ok(())
    });
    if let Err(e) = result {
        // Keep what is already packed: a re-run then reuses it instead of reading it again.
        let _ = writer.finish();
        return Err(e);
    }
    progress.finish("save");
    // Named before the manifest is written, so the image keeps them for restore and verify.
    let unreadable_files = rescue::damaged_files(
        dev,
        &plan.regions,
        &unreadable,
        rescue::FILES_LISTED,
        cancel,
    )?;
    let manifest = Manifest {
        format_version: if cdc { FORMAT_VERSION } else { 1 },
        name: opts.name.clone(),
        created: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        tool: concat!("wraith ", env!("CARGO_PKG_VERSION")).to_string(),
        source: plan.disk.clone(),
        machine: opts.machine.clone(),
        table: plan.table.clone(),
        // The largest chunk (readers size their caches by it).
        chunk_size: if cdc {
            super::cdc::MAX as u64
        } else {
            chunk_size
        },
        regions,
        stats: stats.clone(),
        unreadable: unreadable.clone(),
        unreadable_files: unreadable_files.clone(),
        acquisition: acquisition.clone(),
        zstd_level: Some(level),
    };
    rescue::report(sink, &unreadable, &unreadable_files);
    let image = writer.commit(&manifest)?;
    if !unreadable.is_empty() {
        // Beside the manifest, for ddrescue or a later retry; the manifest has the same ranges.
        let tried: ExtentList = plan
            .regions
            .iter()
            .flat_map(|r| r.used.iter().copied())
            .collect();
        let map = rescue::ddrescue_mapfile(plan.disk.size, &tried, &unreadable, &manifest.tool);
        repo.store().put_new(
            &image.path().replace(".manifest", ".mapfile"),
            map.as_bytes(),
        )?;
    }
    Ok(SaveReport {
        image,
        stats,
        unreadable,
        unreadable_files,
    })
}

/// Records a hashed window in the image's statistics (and a new chunk in the pack being
/// built); the chunk id, or None for an all-zero or not yet read window, and the buffer that
/// held a new chunk's bytes, free for reuse.
fn store(
    writer: &mut crate::repo::Writer<'_>,
    stats: &mut ImageStats,
    hashed: Hashed,
) -> Result<(Option<ChunkId>, Option<Vec<u8>>)> {
    Ok(match hashed {
        Hashed::Deferred => (None, None),
        Hashed::Zero => {
            stats.zero_chunks += 1;
            (None, None)
        }
        Hashed::Known { id, stored_len } => {
            stats.stored_bytes += stored_len;
            (Some(id), None)
        }
        Hashed::New {
            id,
            stored,
            flags,
            raw_len,
        } => {
            stats.stored_bytes += stored.len() as u64;
            if writer.add(id, &stored, raw_len, flags)? {
                stats.new_chunks += 1;
                stats.new_stored_bytes += stored.len() as u64;
            }
            (Some(id), Some(stored))
        }
    })
}

/// Chunks whose id's first byte is below this are decoded again before being stored: 1 in 32,
/// spread over the save by the hash.
const SELF_CHECK_BELOW: u8 = 8;

/// Hashes a window's bytes and compresses them if the repository lacks them. The bytes to
/// store travel on in whichever buffer holds them (the window's own when stored raw), so
/// nothing is copied; a buffer left free is handed back for reuse (`out` keeps one).
fn hash_and_compress(
    repo: &Repository,
    data: Vec<u8>,
    out: &mut Vec<u8>,
    codec: &mut pack::Codec,
    scratch: &mut Vec<u8>,
) -> (Result<Hashed>, Option<Vec<u8>>) {
    if super::is_zero(&data) {
        return (Ok(Hashed::Zero), Some(data));
    }
    let id = ChunkId::of(&data);
    if let Some(loc) = repo.locate(&id) {
        let known = Hashed::Known {
            id,
            stored_len: loc.stored_len as u64,
        };
        return (Ok(known), Some(data));
    }
    let raw_len = data.len() as u32;
    let flags = match codec.encode_into(&data, out) {
        Ok(f) => f,
        Err(e) => return (Err(e), Some(data)),
    };
    // Decode a sample of what will be stored before it becomes permanent: a compressor that
    // is broken (a bad build, a CPU feature misdetected) fails on the first chunks, not at
    // restore time. Checking every chunk cost a quarter of the save's CPU (a second
    // decompression and BLAKE3 pass); a verify after the save checks everything.
    if flags != 0 && id.0[0] < SELF_CHECK_BELOW {
        let what = "chunk being saved";
        if let Err(e) = codec.decode_into(&id, out, raw_len, flags, what, scratch) {
            return (Err(e), Some(data));
        }
    }
    let stored = if flags == 0 {
        data
    } else {
        // The compressed bytes leave; the window's buffer becomes the next output buffer.
        std::mem::replace(out, data)
    };
    let new = Hashed::New {
        id,
        stored,
        flags,
        raw_len,
    };
    (Ok(new), None)
}

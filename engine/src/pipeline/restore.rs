//! Restore: an image back onto a disk. Everything that can be checked without reading every
//! chunk is checked before the first write (manifest checksum, every chunk indexed, every pack
//! present and long enough, the target big enough); then chunks are fetched (several at once
//! from a network location), decompressed and verified on all cores, and written in
//! disk-offset order. Only the image's
//! used bytes are written; chunks that are all zeros become zeroed ranges, not zero writes.

use super::{finish_table, region_is_written, write_window, QUEUE_PER_WORKER};
use crate::device::{Device, ReadAt};
use crate::error::{Error, Result};
use crate::events::{Cancel, Progress, Sink};
use crate::repo::manifest::{ChunkRef, Manifest};
use crate::repo::{pack, ImageRef, Repository};
use crossbeam_channel::{bounded, Receiver};
use std::collections::HashMap;

#[derive(Debug, Clone, Default)]
pub struct RestoreReport {
    /// Used bytes of the image put on the target (written or zeroed).
    pub bytes: u64,
    pub chunks: u64,
}

/// Describes where a chunk sits, for error messages: image, region, disk offset.
pub(crate) fn place(image: &ImageRef, region: &str, c: &ChunkRef) -> String {
    format!("image {image}, {region}, disk offset {}", c.offset)
}

/// The checks that need no chunk data: every chunk indexed, every pack present and long enough.
pub fn precheck(repo: &Repository, image: &ImageRef, m: &Manifest) -> Result<()> {
    let mut pack_sizes: HashMap<String, u64> = HashMap::new();
    for (r, c) in m.chunks() {
        let Some(id) = c.id else { continue };
        let Some(loc) = repo.locate(&id) else {
            return Err(Error::corrupt(
                place(image, &r.region.describe(), c),
                c.offset,
                format!("chunk {} is missing from the repository", id.short()),
            ));
        };
        let path = Repository::pack_path(&loc.pack);
        let size = match pack_sizes.get(&path) {
            Some(s) => *s,
            None => {
                let s = repo.store().size(&path).map_err(|e| {
                    Error::corrupt(
                        place(image, &r.region.describe(), c),
                        c.offset,
                        format!("pack {path} unreadable: {e}"),
                    )
                })?;
                pack_sizes.insert(path.clone(), s);
                s
            }
        };
        if loc.offset + loc.stored_len as u64 > size {
            return Err(Error::corrupt(
                place(image, &r.region.describe(), c),
                c.offset,
                format!("pack {path} is truncated ({size} bytes)"),
            ));
        }
    }
    Ok(())
}

/// How many chunks ahead of the one being dispatched are announced to the repository.
const PREFETCH_CHUNKS: usize = 32;

/// A chunk to fetch and decode: region, chunk, id, and where its bytes go back in order.
type Job = (
    usize,
    usize,
    crate::repo::ChunkId,
    crossbeam_channel::Sender<Result<Vec<u8>>>,
);

pub fn restore(
    repo: &Repository,
    image: &ImageRef,
    m: &Manifest,
    target: &Device,
    threads: usize,
    sink: &dyn Sink,
    cancel: &Cancel,
) -> Result<RestoreReport> {
    super::with_notices(repo, sink, || {
        restore_inner(repo, image, m, target, threads, sink, cancel)
    })
}

fn restore_inner(
    repo: &Repository,
    image: &ImageRef,
    m: &Manifest,
    target: &Device,
    threads: usize,
    sink: &dyn Sink,
    cancel: &Cancel,
) -> Result<RestoreReport> {
    let needed = m
        .table
        .min_disk_size
        .max(if m.table.kind == crate::table::TableKind::None {
            m.source.size
        } else {
            0
        });
    if target.size() < needed {
        return Err(Error::refused(
            crate::error::Interlock::TargetTooSmall,
            format!(
                "target {} is {} but image {image} needs at least {}",
                target.identity.describe(),
                crate::human_bytes(target.size()),
                crate::human_bytes(needed)
            ),
        ));
    }
    precheck(repo, image, m)?;
    let threads = threads.max(1);
    let kind = m.table.kind;
    let total: u64 = m
        .regions
        .iter()
        .filter(|r| region_is_written(kind, &r.region))
        .map(|r| {
            r.chunks
                .iter()
                .map(|c| r.region.used.covered(c.offset, c.offset + c.len as u64))
                .sum::<u64>()
        })
        .sum();
    super::rescue::warn_image(sink, image, m);
    let mut progress = Progress::start(sink, "restore", total);
    let mut report = RestoreReport::default();

    let workers = threads.max(repo.store().parallel_reads());
    // Chunks held at once (fetched or decoded, waiting for their turn) are bounded by the
    // ordering queue: a few per worker.
    let (work_tx, work_rx) = bounded::<Job>(workers * QUEUE_PER_WORKER / 2);
    let (order_tx, order_rx) =
        bounded::<(usize, usize, Option<Receiver<Result<Vec<u8>>>>)>(workers * QUEUE_PER_WORKER);

    // Chunk buffers go round worker → writer → pool rather than being allocated per chunk.
    let (pool_tx, pool_rx) = bounded::<Vec<u8>>(workers * QUEUE_PER_WORKER * 2);

    std::thread::scope(|s| -> Result<()> {
        s.spawn(move || {
            // Chunks are announced to the location this far ahead of their turn, so reading
            // from the repository's drive overlaps decoding and writing.
            let mut ahead = m
                .regions
                .iter()
                .filter(|r| region_is_written(kind, &r.region))
                .flat_map(|r| r.chunks.iter().filter_map(|c| c.id));
            for id in ahead.by_ref().take(PREFETCH_CHUNKS) {
                repo.prefetch_chunk(&id);
            }
            for (ri, r) in m.regions.iter().enumerate() {
                if !region_is_written(kind, &r.region) {
                    continue;
                }
                for (ci, c) in r.chunks.iter().enumerate() {
                    if cancel.is_cancelled() {
                        return;
                    }
                    if let Some(id) = ahead.next() {
                        repo.prefetch_chunk(&id);
                    }
                    let Some(id) = c.id else {
                        if order_tx.send((ri, ci, None)).is_err() {
                            return;
                        }
                        continue;
                    };
                    let (tx, rx) = bounded(1);
                    if order_tx.send((ri, ci, Some(rx))).is_err()
                        || work_tx.send((ri, ci, id, tx)).is_err()
                    {
                        return;
                    }
                }
            }
        });
        // Workers fetch as well as decode, so a network location has several requests in
        // flight while chunks are still written in order.
        for _ in 0..workers {
            let work_rx = work_rx.clone();
            let pool_rx = pool_rx.clone();
            s.spawn(move || {
                let mut codec = pack::Codec::new(0);
                let mut stored = Vec::new();
                for (ri, ci, id, tx) in work_rx {
                    let r = &m.regions[ri];
                    let c = &r.chunks[ci];
                    let res = repo.read_stored_into(&id, &mut stored).and_then(|loc| {
                        let what = || {
                            format!(
                                "{} (pack {})",
                                place(image, &r.region.describe(), c),
                                loc.pack.short()
                            )
                        };
                        let fresh = pool_rx.try_recv().unwrap_or_default();
                        if loc.flags & pack::FLAG_ZSTD == 0 {
                            // Stored as is: checked and passed on in the buffer it was read
                            // into, no copy.
                            pack::check(&id, &stored, loc.raw_len, &what())?;
                            Ok(std::mem::replace(&mut stored, fresh))
                        } else {
                            let mut out = fresh;
                            codec.decode_into(
                                &id,
                                &stored,
                                loc.raw_len,
                                loc.flags,
                                &what(),
                                &mut out,
                            )?;
                            Ok(out)
                        }
                    });
                    let _ = tx.send(res);
                }
            });
        }
        drop(work_rx);
        for (ri, ci, rx) in order_rx {
            cancel.check()?;
            let r = &m.regions[ri];
            let c = &r.chunks[ci];
            let data = match rx {
                Some(rx) => Some(rx.recv().map_err(|_| Error::Cancelled)??),
                None => None,
            };
            if let Some(d) = &data {
                if d.len() != c.len as usize {
                    return Err(Error::corrupt(
                        place(image, &r.region.describe(), c),
                        c.offset,
                        "chunk length differs from the manifest",
                    ));
                }
            }
            write_window(
                target,
                &r.region.used,
                c.offset,
                c.len as u64,
                data.as_deref(),
            )?;
            if let Some(d) = data {
                let _ = pool_tx.try_send(d);
            }
            let n = r.region.used.covered(c.offset, c.offset + c.len as u64);
            report.bytes += n;
            report.chunks += 1;
            progress.add(n);
        }
        Ok(())
    })?;
    finish_table(target, kind, m.table.sector_size)?;
    target.sync()?;
    progress.finish("restore");
    Ok(report)
}

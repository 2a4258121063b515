//! Restore: an image back onto a disk. Everything that can be checked without reading every
//! chunk is checked before the first write (manifest checksum, every chunk indexed, every pack
//! present and long enough, the target big enough); then chunks are fetched (several at once
//! from a network location), decompressed and verified on all cores, and written in
//! disk-offset order. Only the image's
//! used bytes are written; chunks that are all zeros become zeroed ranges, not zero writes.

use super::ordered::{self, Pool};
use super::reshape::{Dest, Reshape};
use super::{finish_table, region_is_written, write_window, QUEUE_PER_WORKER};
use crate::device::{Device, ReadAt};
use crate::error::{Error, Result};
use crate::events::{Ctx, Progress};
use crate::repo::manifest::{ChunkRef, Manifest};
use crate::repo::{pack, ImageRef, Repository};
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

pub fn restore(
    repo: &Repository,
    image: &ImageRef,
    m: &Manifest,
    target: &Device,
    reshape: Option<&Reshape>,
    ctx: &Ctx<'_>,
) -> Result<RestoreReport> {
    let run = || {
        super::with_notices(repo, ctx, || {
            restore_inner(repo, image, m, target, reshape, ctx)
        })
    };
    // A feed (a multicast stream) tells what it sees while the restore runs (multicast that
    // does not arrive, a sender gone), and at the end where the chunks came from.
    let result = match repo.feed().and_then(|f| f.notices()) {
        Some(n) => n.during(ctx.sink, run),
        None => run(),
    };
    if let Some(message) = repo.feed().and_then(|f| f.summary()) {
        ctx.sink.event(crate::events::Event::Warning { message });
    }
    result
}

/// A chunk's stored bytes decoded and checked against its id. Bytes stored as they are pass
/// on in the buffer they were read into (`stored` gets `fresh` instead): no copy.
fn decode_chunk(
    codec: &mut pack::Codec,
    id: &crate::repo::ChunkId,
    stored: &mut Vec<u8>,
    loc: &crate::repo::index::Location,
    what: &str,
    fresh: Vec<u8>,
) -> Result<Vec<u8>> {
    if loc.flags & pack::FLAG_ZSTD == 0 {
        pack::check(id, stored, loc.raw_len, what)?;
        Ok(std::mem::replace(stored, fresh))
    } else {
        let mut out = fresh;
        codec.decode_into(id, stored, loc.raw_len, loc.flags, what, &mut out)?;
        Ok(out)
    }
}

fn restore_inner(
    repo: &Repository,
    image: &ImageRef,
    m: &Manifest,
    target: &Device,
    reshape: Option<&Reshape>,
    ctx: &Ctx<'_>,
) -> Result<RestoreReport> {
    let sink = ctx.sink;
    let kind = m.table.kind;
    // With a reshape the layout decided what fits (checked when the plan was made).
    if reshape.is_none() {
        let needed = m
            .table
            .min_disk_size
            .max(if kind == crate::table::TableKind::None {
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
    }
    precheck(repo, image, m)?;
    let written: Vec<usize> = (0..m.regions.len())
        .filter(|&ri| region_is_written(kind, &m.regions[ri].region))
        .collect();
    let total: u64 = written
        .iter()
        .map(|&ri| {
            let r = &m.regions[ri];
            r.chunks
                .iter()
                .map(|c| r.region.used.covered(c.offset, c.offset + c.len as u64))
                .sum::<u64>()
        })
        .sum();
    super::rescue::warn_image(sink, image, m);
    let mut progress = Progress::start(sink, "restore", total);
    let mut report = RestoreReport::default();
    match reshape {
        None => {
            let same = |_| Dest::same(target);
            copy_regions(
                repo,
                image,
                m,
                &written,
                &same,
                ctx,
                &mut progress,
                &mut report,
            )?;
            finish_table(target, kind, m.table.sector_size)?;
        }
        Some(shape) => {
            let regions: Vec<_> = m.regions.iter().map(|r| r.region.clone()).collect();
            super::reshape::run(
                target,
                &m.table,
                &regions,
                shape,
                sink,
                &mut |batch, dest| {
                    copy_regions(repo, image, m, batch, dest, ctx, &mut progress, &mut report)
                },
            )?;
        }
    }
    target.sync()?;
    progress.finish("restore");
    Ok(report)
}

/// Restores the regions `which` (indices into the manifest's regions, in disk order), each
/// region's bytes going where `dest` says.
#[allow(clippy::too_many_arguments)]
fn copy_regions<'d>(
    repo: &Repository,
    image: &ImageRef,
    m: &Manifest,
    which: &[usize],
    dest: &'d (dyn Fn(usize) -> Dest<'d> + Sync),
    ctx: &Ctx<'_>,
    progress: &mut Progress<'_>,
    report: &mut RestoreReport,
) -> Result<()> {
    let cancel = ctx.cancel;
    // Workers fetch as well as decode, so a network location has several requests in flight
    // while chunks are still written in order.
    let workers = ctx.threads.max(repo.store().parallel_reads()).max(1);
    // Chunks held at once (fetched or decoded, waiting for their turn): a few per worker.
    let in_flight = workers * QUEUE_PER_WORKER;
    // Chunk buffers go round worker → writer → worker rather than being allocated per chunk.
    let pool = Pool::new(workers * QUEUE_PER_WORKER * 2);
    let pool = &pool;
    ordered::run(
        cancel,
        workers,
        in_flight,
        |feed| {
            // Chunks are announced to the location this far ahead of their turn, so reading
            // from the repository's drive overlaps decoding and writing.
            let mut ahead = which
                .iter()
                .flat_map(|&ri| m.regions[ri].chunks.iter().filter_map(|c| c.id));
            for id in ahead.by_ref().take(PREFETCH_CHUNKS) {
                repo.prefetch_chunk(&id);
            }
            for &ri in which {
                let r = &m.regions[ri];
                for (ci, c) in r.chunks.iter().enumerate() {
                    if let Some(id) = ahead.next() {
                        repo.prefetch_chunk(&id);
                    }
                    match c.id {
                        Some(id) => feed.work((ri, ci, id))?,
                        // All zeros: nothing to fetch.
                        None => feed.done((ri, ci, None))?,
                    }
                }
            }
            Ok(())
        },
        || {
            let mut codec = pack::Codec::new(0);
            let mut stored = Vec::new();
            let feed = repo.feed();
            move |(ri, ci, id): (usize, usize, crate::repo::ChunkId)| {
                let r = &m.regions[ri];
                let c = &r.chunks[ci];
                // The feed first (a multicast stream); its bytes are checked like a read's,
                // and bytes that fail are counted and read from the store instead.
                if let Some(bytes) = feed.and_then(|f| f.take(&id, cancel)) {
                    if let Some(loc) = repo.locate(&id) {
                        stored = bytes;
                        let what = format!(
                            "{} (from the multicast stream)",
                            place(image, &r.region.describe(), c)
                        );
                        match decode_chunk(&mut codec, &id, &mut stored, &loc, &what, pool.take()) {
                            Ok(data) => return Ok((ri, ci, Some(data))),
                            Err(_) => {
                                if let Some(f) = feed {
                                    f.rejected(&id);
                                }
                            }
                        }
                    }
                }
                let loc = repo.read_stored_into(&id, &mut stored)?;
                let what = format!(
                    "{} (pack {})",
                    place(image, &r.region.describe(), c),
                    loc.pack.short()
                );
                let data = decode_chunk(&mut codec, &id, &mut stored, &loc, &what, pool.take())?;
                Ok((ri, ci, Some(data)))
            }
        },
        |(ri, ci, data)| {
            let r = &m.regions[ri];
            let c = &r.chunks[ci];
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
                &dest(ri),
                &r.region.used,
                c.offset,
                c.len as u64,
                data.as_deref(),
            )?;
            if let Some(d) = data {
                pool.give(d);
            }
            let n = r.region.used.covered(c.offset, c.offset + c.len as u64);
            report.bytes += n;
            report.chunks += 1;
            progress.add(n);
            Ok(())
        },
    )
}

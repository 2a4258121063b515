//! Verify: re-read and re-hash what a repository holds, or compare a disk with an image.
//! Problems are collected, not fatal, so one run reports every damaged image, region and offset.

use super::ordered::{self, Pool};
use super::{read_window, Window, QUEUE_PER_WORKER};
use crate::device::ReadAt;
use crate::error::{Error, Result};
use crate::events::{Ctx, Progress};
use crate::repo::index::Location;
use crate::repo::manifest::Manifest;
use crate::repo::{pack, ChunkId, ImageRef, Repository};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// "name@id", or the file when no image can be named.
    pub image: String,
    /// "partition 2", "boot area", … or empty.
    pub region: String,
    /// Disk offset of the affected chunk, where known.
    pub offset: Option<u64>,
    pub detail: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct VerifyReport {
    pub images: usize,
    pub chunks: u64,
    /// Uncompressed bytes checked.
    pub bytes: u64,
    pub problems: Vec<Problem>,
}

/// Checks the given images: each manifest, then every chunk they reference, read from its
/// pack, decompressed and re-hashed. Packs are read whole and checked on all cores.
pub fn verify_repo(repo: &Repository, images: &[ImageRef], ctx: &Ctx<'_>) -> Result<VerifyReport> {
    super::with_notices(repo, ctx, || verify_repo_inner(repo, images, ctx))
}

/// What a worker found in one pack.
struct PackChecked {
    /// Chunks that failed, and why.
    bad: Vec<(ChunkId, String)>,
    /// Chunks that passed, and their uncompressed bytes.
    chunks: u64,
    bytes: u64,
    /// The pack's stored bytes the image uses, for progress.
    stored: u64,
}

fn verify_repo_inner(
    repo: &Repository,
    images: &[ImageRef],
    ctx: &Ctx<'_>,
) -> Result<VerifyReport> {
    let sink = ctx.sink;
    let mut report = VerifyReport {
        images: images.len(),
        ..Default::default()
    };
    for e in &repo.damaged_indexes {
        report.problems.push(Problem {
            image: String::new(),
            region: String::new(),
            offset: None,
            detail: e.to_string(),
        });
    }
    // Which images use each chunk, and where, so a bad chunk can be reported everywhere it hurts.
    let mut users: HashMap<ChunkId, Vec<(String, String, u64)>> = HashMap::new();
    for image in images {
        match repo.load_manifest(image) {
            Ok(m) => {
                super::rescue::warn_image(sink, image, &m);
                for (r, c) in m.chunks() {
                    if let Some(id) = c.id {
                        users.entry(id).or_default().push((
                            image.to_string(),
                            r.region.describe(),
                            c.offset,
                        ));
                    }
                }
            }
            Err(e) => report.problems.push(Problem {
                image: image.to_string(),
                region: String::new(),
                offset: None,
                detail: e.to_string(),
            }),
        }
    }
    let mut by_pack: BTreeMap<String, Vec<(ChunkId, Location)>> = BTreeMap::new();
    let mut bad = Vec::new();
    for id in users.keys() {
        match repo.locate(id) {
            Some(loc) => by_pack
                .entry(Repository::pack_path(&loc.pack))
                .or_default()
                .push((*id, loc)),
            None => bad.push((
                *id,
                "chunk is missing from the repository index".to_string(),
            )),
        }
    }
    let total: u64 = by_pack
        .values()
        .flatten()
        .map(|(_, l)| l.stored_len as u64)
        .sum();
    let mut progress = Progress::start(sink, "verify", total);
    // Each worker holds one whole pack (up to PACK_TARGET bytes): one more worker than cores,
    // so the cores still have work while a worker waits for the drive; a network location
    // gets a few more, but not many, so memory stays bounded.
    let workers = (ctx.threads + 1)
        .max(repo.store().parallel_reads().min(4))
        .max(1);
    ordered::run(
        ctx.cancel,
        workers,
        workers * QUEUE_PER_WORKER,
        |feed| {
            for (path, chunks) in &by_pack {
                // Fetching starts as the pack is queued, so a share reads ahead of the workers
                // (a local directory reads whole packs directly and ignores the hint).
                repo.store().prefetch(path, 0, 0);
                feed.work((path, chunks))?;
            }
            Ok(())
        },
        || {
            let mut codec = pack::Codec::new(0);
            // One pack buffer per worker, reused: a fresh 32 MiB buffer per pack costs 8192
            // page faults.
            let (mut scratch, mut file) = (Vec::new(), Vec::new());
            move |(path, chunks): (&String, &Vec<(ChunkId, Location)>)| {
                Ok(check_pack(
                    repo,
                    path,
                    chunks,
                    &mut codec,
                    &mut file,
                    &mut scratch,
                ))
            }
        },
        |checked| {
            bad.extend(checked.bad);
            report.chunks += checked.chunks;
            report.bytes += checked.bytes;
            progress.add(checked.stored);
            Ok(())
        },
    )?;
    progress.finish("verify");
    bad.sort_by_key(|(id, _)| *id);
    bad.dedup_by_key(|(id, _)| *id);
    for (id, detail) in bad {
        for (image, region, offset) in users.get(&id).into_iter().flatten() {
            report.problems.push(Problem {
                image: image.clone(),
                region: region.clone(),
                offset: Some(*offset),
                detail: detail.clone(),
            });
        }
    }
    report
        .problems
        .sort_by(|a, b| (&a.image, a.offset).cmp(&(&b.image, b.offset)));
    Ok(report)
}

/// Reads one pack whole and checks the given chunks in it; problems are found, not failed.
fn check_pack(
    repo: &Repository,
    path: &str,
    chunks: &[(ChunkId, Location)],
    codec: &mut pack::Codec,
    file: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) -> PackChecked {
    let mut out = PackChecked {
        bad: Vec::new(),
        chunks: 0,
        bytes: 0,
        stored: chunks.iter().map(|(_, l)| l.stored_len as u64).sum(),
    };
    if let Err(e) = repo.store().read_into(path, file) {
        out.bad.extend(
            chunks
                .iter()
                .map(|(id, _)| (*id, format!("pack {path}: {e}"))),
        );
        return out;
    }
    if let Err(e) = pack::read_entries(path, file) {
        if let Some((id, _)) = chunks.first() {
            out.bad.push((*id, e.to_string()));
        }
    }
    for (id, loc) in chunks {
        let range =
            loc.offset as usize..(loc.offset as usize).saturating_add(loc.stored_len as usize);
        let res = match file.get(range) {
            // A chunk stored raw is hashed where it lies.
            Some(stored) if loc.flags & pack::FLAG_ZSTD == 0 => {
                pack::check(id, stored, loc.raw_len, &format!("pack {path}"))
            }
            Some(stored) => codec.decode_into(
                id,
                stored,
                loc.raw_len,
                loc.flags,
                &format!("pack {path}"),
                scratch,
            ),
            None => Err(Error::corrupt(
                format!("pack {path}"),
                loc.offset,
                "chunk lies past the end (truncated)",
            )),
        };
        match res {
            Ok(()) => {
                out.chunks += 1;
                out.bytes += loc.raw_len as u64;
            }
            Err(e) => out.bad.push((*id, e.to_string())),
        }
    }
    out
}

/// One chunk or window compared: what differs, if anything, and the used bytes compared
/// (None when it could not be compared at all).
struct Compared {
    problem: Option<Problem>,
    used: Option<u64>,
}

/// Compares a disk with an image: every used byte the image holds must be on the disk.
/// One thread reads and hashes: BLAKE3 runs several times faster than a disk is read, and
/// hashing on other cores (tried) only added memory and thread hand-offs.
pub fn verify_against(
    dev: &dyn ReadAt,
    repo: &Repository,
    image: &ImageRef,
    m: &Manifest,
    ctx: &Ctx<'_>,
) -> Result<VerifyReport> {
    let (sink, cancel) = (ctx.sink, ctx.cancel);
    let kind = m.table.kind;
    let mut report = VerifyReport {
        images: 1,
        ..Default::default()
    };
    let total: u64 = m
        .regions
        .iter()
        .filter(|r| super::region_is_written(kind, &r.region))
        .map(|r| r.region.used.total())
        .sum();
    super::rescue::warn_image(sink, image, m);
    let mut progress = Progress::start(sink, "verify", total);
    let mut buf = Vec::new();
    for (ri, r) in m.regions.iter().enumerate() {
        if !super::region_is_written(kind, &r.region) {
            continue;
        }
        for c in &r.chunks {
            cancel.check()?;
            let w = Window {
                region: ri,
                offset: c.offset,
                len: c.len as u64,
                used: r.region.used.covered(c.offset, c.offset + c.len as u64),
            };
            if w.offset + w.len > dev.size() {
                report.problems.push(Problem {
                    image: image.to_string(),
                    region: r.region.describe(),
                    offset: Some(c.offset),
                    detail: "disk is too small".into(),
                });
                continue;
            }
            read_window(dev, &r.region.used, &w, &mut buf)?;
            let matches = match c.id {
                Some(id) => ChunkId::of(&buf) == id,
                None => super::is_zero(&buf),
            };
            // A GPT disk of another size legitimately differs in LBA 0 (the protective entry's
            // size) and LBA 1 (the header points at the moved backup): compare the rest of
            // that chunk with the image, and the partition table as read from the disk.
            let gpt_head = kind == crate::table::TableKind::Gpt
                && matches!(r.region.kind, crate::plan::RegionKind::Boot)
                && c.offset == 0;
            let matches = matches
                || (gpt_head && {
                    let ss = m.table.sector_size as usize;
                    let stored = match c.id {
                        Some(id) => repo.read_chunk(&id)?,
                        None => vec![0; buf.len()],
                    };
                    stored.len() == buf.len()
                        && stored.get(2 * ss..) == buf.get(2 * ss..)
                        && crate::table::read(dev, m.table.sector_size)
                            .is_ok_and(|t| t.partitions == m.table.partitions)
                });
            if !matches {
                report.problems.push(Problem {
                    image: image.to_string(),
                    region: r.region.describe(),
                    offset: Some(c.offset),
                    detail: "disk content differs from the image".into(),
                });
            }
            report.chunks += 1;
            report.bytes += w.used;
            progress.add(w.used);
        }
    }
    progress.finish("verify");
    Ok(report)
}

/// Compares a cloned target with its source: the used bytes of every partition (or of the
/// whole disk) must be equal. The boot area and table structures are left out: the clone
/// rewrites the GPT headers and backup for the target's size, so they differ by design.
/// The source is read by one thread while a worker reads the same window of the target, so
/// the two reads overlap.
pub fn verify_clone(
    source: &dyn ReadAt,
    plan: &crate::plan::Plan,
    target: &dyn ReadAt,
    ctx: &Ctx<'_>,
) -> Result<VerifyReport> {
    use crate::plan::RegionKind;
    let regions: Vec<_> = plan
        .regions
        .iter()
        .filter(|r| matches!(r.kind, RegionKind::Partition { .. } | RegionKind::WholeDisk))
        .cloned()
        .collect();
    let regions = &regions;
    let total: u64 = regions.iter().map(|r| r.used.total()).sum();
    let mut progress = Progress::start(ctx.sink, "verify", total);
    let mut report = VerifyReport {
        images: 0,
        ..Default::default()
    };
    // Windows are large: a few in flight are enough to keep both reads going.
    let pool = Pool::new(QUEUE_PER_WORKER + 2);
    let pool = &pool;
    ordered::run(
        ctx.cancel,
        1,
        QUEUE_PER_WORKER,
        |feed| {
            for w in super::windows(regions, CLONE_VERIFY_WINDOW) {
                let mut a = pool.take();
                read_window(source, &regions[w.region].used, &w, &mut a)?;
                feed.work((w, a))?;
            }
            Ok(())
        },
        || {
            let mut b = Vec::new();
            move |(w, a): (Window, Vec<u8>)| {
                read_window(target, &regions[w.region].used, &w, &mut b)?;
                let problem = (a != b).then(|| {
                    let first = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(0);
                    Problem {
                        image: String::new(),
                        region: regions[w.region].describe(),
                        offset: Some(w.offset + first as u64),
                        detail: "target differs from the source".into(),
                    }
                });
                pool.give(a);
                Ok(Compared {
                    problem,
                    used: Some(w.used),
                })
            }
        },
        |compared| {
            report.problems.extend(compared.problem);
            if let Some(used) = compared.used {
                report.chunks += 1;
                report.bytes += used;
                progress.add(used);
            }
            Ok(())
        },
    )?;
    progress.finish("verify");
    Ok(report)
}

/// Windows compared at once by [`verify_clone`]: large reads, as the clone writes them.
const CLONE_VERIFY_WINDOW: u64 = 4 << 20;

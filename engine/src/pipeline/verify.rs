//! Verify: re-read and re-hash what a repository holds, or compare a disk with an image.
//! Problems are collected, not fatal, so one run reports every damaged image, region and offset.

use super::{read_window, Window, QUEUE_PER_WORKER};
use crate::device::ReadAt;
use crate::error::{Error, Result};
use crate::events::{Cancel, Progress, Sink};
use crate::repo::manifest::Manifest;
use crate::repo::{pack, ChunkId, ImageRef, Repository};
use crossbeam_channel::bounded;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

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
pub fn verify_repo(
    repo: &Repository,
    images: &[ImageRef],
    threads: usize,
    sink: &dyn Sink,
    cancel: &Cancel,
) -> Result<VerifyReport> {
    super::with_notices(repo, sink, || {
        verify_repo_inner(repo, images, threads, sink, cancel)
    })
}

fn verify_repo_inner(
    repo: &Repository,
    images: &[ImageRef],
    threads: usize,
    sink: &dyn Sink,
    cancel: &Cancel,
) -> Result<VerifyReport> {
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
    let mut by_pack: BTreeMap<String, Vec<(ChunkId, crate::repo::index::Location)>> =
        BTreeMap::new();
    let mut missing = Vec::new();
    for id in users.keys() {
        match repo.locate(id) {
            Some(loc) => by_pack
                .entry(Repository::pack_path(&loc.pack))
                .or_default()
                .push((*id, loc)),
            None => missing.push((
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
    let progress = Mutex::new(Progress::start(sink, "verify", total));
    let bad = Mutex::new(missing);
    let counted = Mutex::new((0u64, 0u64));
    // Each worker holds one whole pack (up to PACK_TARGET bytes): one more worker than cores,
    // so the cores still have work while a worker waits for the drive; a network location
    // gets a few more, but not many, so memory stays bounded.
    let workers = (threads + 1)
        .max(repo.store().parallel_reads().min(4))
        .max(1);
    let (tx, rx) = bounded::<(&String, &Vec<(ChunkId, crate::repo::index::Location)>)>(
        workers * QUEUE_PER_WORKER,
    );
    std::thread::scope(|s| {
        for _ in 0..workers {
            let rx = rx.clone();
            let (bad, progress, counted) = (&bad, &progress, &counted);
            s.spawn(move || {
                let mut codec = pack::Codec::new(0);
                // One pack buffer per worker, reused: a fresh 32 MiB buffer per pack costs
                // 8192 page faults.
                let (mut scratch, mut file) = (Vec::new(), Vec::new());
                for (path, chunks) in rx {
                    let stored_total: u64 = chunks.iter().map(|(_, l)| l.stored_len as u64).sum();
                    let mut found = Vec::new();
                    match repo.store().read_into(path, &mut file).map(|()| &file) {
                        Err(e) => found.extend(
                            chunks
                                .iter()
                                .map(|(id, _)| (*id, format!("pack {path}: {e}"))),
                        ),
                        Ok(file) => {
                            if let Err(e) = pack::read_entries(path, file) {
                                found.push((chunks[0].0, e.to_string()));
                            }
                            for (id, loc) in chunks {
                                let range = loc.offset as usize
                                    ..(loc.offset as usize).saturating_add(loc.stored_len as usize);
                                let res = match file.get(range) {
                                    // A chunk stored raw is hashed where it lies.
                                    Some(stored) if loc.flags & pack::FLAG_ZSTD == 0 => {
                                        pack::check(
                                            id,
                                            stored,
                                            loc.raw_len,
                                            &format!("pack {path}"),
                                        )
                                    }
                                    Some(stored) => codec.decode_into(
                                        id,
                                        stored,
                                        loc.raw_len,
                                        loc.flags,
                                        &format!("pack {path}"),
                                        &mut scratch,
                                    ),
                                    None => Err(Error::corrupt(
                                        format!("pack {path}"),
                                        loc.offset,
                                        "chunk lies past the end (truncated)",
                                    )),
                                };
                                match res {
                                    Ok(()) => {
                                        let mut c =
                                            counted.lock().unwrap_or_else(|p| p.into_inner());
                                        c.0 += 1;
                                        c.1 += loc.raw_len as u64;
                                    }
                                    Err(e) => found.push((*id, e.to_string())),
                                }
                            }
                        }
                    }
                    bad.lock().unwrap_or_else(|p| p.into_inner()).extend(found);
                    progress
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .add(stored_total);
                }
            });
        }
        drop(rx);
        for (path, chunks) in &by_pack {
            // Fetching starts as the pack is queued, so a share reads ahead of the workers
            // (a local directory reads whole packs directly and ignores the hint).
            repo.store().prefetch(path, 0, 0);
            if cancel.is_cancelled() || tx.send((path, chunks)).is_err() {
                break;
            }
        }
        drop(tx);
    });
    cancel.check()?;
    progress
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .finish("verify");
    let (chunks, bytes) = counted.into_inner().unwrap_or_else(|p| p.into_inner());
    report.chunks = chunks;
    report.bytes = bytes;
    let mut bad = bad.into_inner().unwrap_or_else(|p| p.into_inner());
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

/// Compares a disk with an image: every used byte the image holds must be on the disk.
pub fn verify_against(
    dev: &dyn ReadAt,
    repo: &Repository,
    image: &ImageRef,
    m: &Manifest,
    sink: &dyn Sink,
    cancel: &Cancel,
) -> Result<VerifyReport> {
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
pub fn verify_clone(
    source: &dyn ReadAt,
    plan: &crate::plan::Plan,
    target: &dyn ReadAt,
    sink: &dyn Sink,
    cancel: &Cancel,
) -> Result<VerifyReport> {
    use crate::plan::RegionKind;
    let regions: Vec<_> = plan
        .regions
        .iter()
        .filter(|r| matches!(r.kind, RegionKind::Partition { .. } | RegionKind::WholeDisk))
        .cloned()
        .collect();
    let total: u64 = regions.iter().map(|r| r.used.total()).sum();
    let mut progress = Progress::start(sink, "verify", total);
    let mut report = VerifyReport {
        images: 0,
        ..Default::default()
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for w in super::windows(&regions, 4 << 20) {
        cancel.check()?;
        let used = &regions[w.region].used;
        read_window(source, used, &w, &mut a)?;
        read_window(target, used, &w, &mut b)?;
        report.chunks += 1;
        report.bytes += w.used;
        if a != b {
            let first = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(0);
            report.problems.push(Problem {
                image: String::new(),
                region: regions[w.region].describe(),
                offset: Some(w.offset + first as u64),
                detail: "target differs from the source".into(),
            });
        }
        progress.add(w.used);
    }
    progress.finish("verify");
    Ok(report)
}

//! Clone: disk to disk, used blocks only, through a reader thread and a writer (the caller's
//! thread) so reading the source and writing the target overlap (`ordered.rs`).

use super::ordered::{self, Pool};
use super::reshape::{Dest, Reshape};
use super::{
    finish_table, read_window, region_is_written, rescue, windows, write_window, Window,
    QUEUE_PER_WORKER,
};
use crate::device::{Device, ReadAt};
use crate::error::Result;
use crate::events::{Ctx, Progress};
use crate::extent::ExtentList;
use crate::plan::Plan;

#[derive(Debug, Clone, Default)]
pub struct CloneReport {
    pub bytes: u64,
    pub zero_bytes: u64,
    /// Source bytes that stayed unreadable (zeros on the target), absolute disk offsets.
    pub unreadable: ExtentList,
    /// The files of each ext2/3/4 and NTFS partition in those ranges.
    pub unreadable_files: Vec<rescue::DamagedFiles>,
}

/// What reaches the writer for each window, in disk order.
enum Read {
    /// The window's bytes, and whether they are all zero (then the target is zeroed cheaply).
    Data(Window, Vec<u8>, bool),
    /// Copied by the kernel already; how many of its used bytes were holes (zeroed).
    Copied(Window, u64),
    /// The read failed; the window waits for the rescue pass.
    Deferred(Window),
}

/// Copy windows this large in one write when the used map allows: fewer, larger writes.
const CLONE_CHUNK: u64 = 4 << 20;

pub fn clone(
    source: &dyn ReadAt,
    plan: &Plan,
    target: &Device,
    reshape: Option<&Reshape>,
    ctx: &Ctx<'_>,
) -> Result<CloneReport> {
    let sink = ctx.sink;
    let kind = plan.table.kind;
    let regions = &plan.regions;
    let written: Vec<usize> = (0..regions.len())
        .filter(|&ri| region_is_written(kind, &regions[ri]))
        .collect();
    let total: u64 = written.iter().map(|&ri| regions[ri].used.total()).sum();
    let mut progress = Progress::start(sink, "clone", total);
    let mut report = CloneReport::default();
    match reshape {
        None => {
            let same = |_| Dest::same(target);
            copy_regions(
                source,
                plan,
                &written,
                &same,
                ctx,
                &mut progress,
                &mut report,
            )?;
        }
        Some(shape) => {
            super::reshape::run(
                target,
                &plan.table,
                regions,
                shape,
                sink,
                &mut |batch, dest| {
                    copy_regions(source, plan, batch, dest, ctx, &mut progress, &mut report)
                },
            )?;
        }
    }
    report.unreadable_files = rescue::damaged_files(
        source,
        &plan.regions,
        &report.unreadable,
        rescue::FILES_LISTED,
        ctx.cancel,
    )?;
    rescue::report(sink, &report.unreadable, &report.unreadable_files);
    if reshape.is_none() {
        finish_table(target, kind, plan.table.sector_size)?;
    }
    target.sync()?;
    progress.finish("clone");
    Ok(report)
}

/// Copies the regions `which` (indices into the plan's regions, in disk order), each region's
/// bytes going where `dest` says; windows that fail to read get a second, careful pass.
fn copy_regions<'d>(
    source: &dyn ReadAt,
    plan: &Plan,
    which: &[usize],
    dest: &'d (dyn Fn(usize) -> Dest<'d> + Sync),
    ctx: &Ctx<'_>,
    progress: &mut Progress<'_>,
    report: &mut CloneReport,
) -> Result<()> {
    let (sink, cancel) = (ctx.sink, ctx.cancel);
    let regions: Vec<_> = which.iter().map(|&ri| plan.regions[ri].clone()).collect();
    let mut deferred: Vec<Window> = Vec::new();
    let regions_ref = &regions;
    // Windows index `regions` (the batch); where they go is decided by the plan's index.
    let dest_of = |w: &Window| dest(which[w.region]);
    let dest_of = &dest_of;
    // Windows are large (CLONE_CHUNK): a few in flight keep the reader and the writer busy.
    let in_flight = QUEUE_PER_WORKER * 2;
    // Buffers return to the reader after writing, so memory is reused rather than faulted in.
    let pool = Pool::new(QUEUE_PER_WORKER * 3);
    let pool = &pool;
    ordered::run(
        cancel,
        // One worker looks for all-zero windows, off the writer's thread: that is quick next
        // to reading and writing them.
        1,
        in_flight,
        |feed| {
            // Image file to image file where the target cannot be written directly: the kernel
            // copies, with no trip through our memory. A direct write is preferred: the kernel
            // copy goes through the page cache and pays its write-back at the end.
            let mut kernel = source.as_device();
            for w in windows(regions_ref, CLONE_CHUNK) {
                if let Some(src) = kernel {
                    let d = dest_of(&w);
                    if d.dev.writes_directly() {
                        kernel = None;
                    } else {
                        match copy_window(src, &d, &regions_ref[w.region].used, &w) {
                            Ok(Some(zero)) => {
                                feed.done(Read::Copied(w, zero))?;
                                continue;
                            }
                            Ok(None) => kernel = None,
                            // Copied through memory instead, where a read error is rescued.
                            Err(_) => {}
                        }
                    }
                }
                let mut buf = pool.take();
                match read_window(source, &regions_ref[w.region].used, &w, &mut buf) {
                    Ok(()) => feed.work((w, buf))?,
                    Err(e) if rescue::is_media_error(&e) => {
                        rescue::deferred(sink, &w, &e);
                        feed.done(Read::Deferred(w))?;
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        },
        || {
            |(w, buf): (Window, Vec<u8>)| {
                let zero = super::is_zero(&buf);
                Ok(Read::Data(w, buf, zero))
            }
        },
        |read| {
            match read {
                Read::Data(w, buf, zero) => {
                    put(
                        &dest_of(&w),
                        &regions_ref[w.region].used,
                        &w,
                        &buf,
                        zero,
                        report,
                    )?;
                    progress.add(w.used);
                    pool.give(buf);
                }
                Read::Copied(w, zero) => {
                    report.bytes += w.used;
                    report.zero_bytes += zero;
                    progress.add(w.used);
                }
                Read::Deferred(w) => deferred.push(w),
            }
            Ok(())
        },
    )?;
    // Second pass over what failed, now that the healthy rest is on the target.
    let mut buf = Vec::new();
    for w in deferred {
        let used = &regions[w.region].used;
        let bad = rescue::reread_window(source, used, &w, &mut buf, cancel)?;
        for e in bad.iter() {
            report.unreadable.push(e.start, e.len);
        }
        let zero = super::is_zero(&buf);
        put(&dest_of(&w), used, &w, &buf, zero, report)?;
        progress.add(w.used);
    }
    Ok(())
}

/// Copies a window's used bytes from file to file in the kernel; holes of the source become
/// holes of the target. The bytes that were holes, or None when the kernel cannot copy between
/// these two (block devices): the window is then copied through memory.
fn copy_window(
    source: &Device,
    target: &Dest<'_>,
    used: &ExtentList,
    w: &Window,
) -> Result<Option<u64>> {
    let mut zero = 0;
    for e in used.clipped(w.offset, w.offset + w.len).iter() {
        if source.is_hole(e.start, e.len) {
            target.dev.zero_range(target.at(e.start), e.len)?;
            zero += e.len;
        } else if !target
            .dev
            .copy_in_kernel(source, e.start, target.at(e.start), e.len)?
        {
            return Ok(None);
        }
    }
    Ok(Some(zero))
}

/// Writes one window's used bytes (or zeroes them cheaply when all zero).
fn put(
    target: &Dest<'_>,
    used: &ExtentList,
    w: &Window,
    buf: &[u8],
    zero: bool,
    report: &mut CloneReport,
) -> Result<()> {
    write_window(
        target,
        used,
        w.offset,
        w.len,
        if zero { None } else { Some(buf) },
    )?;
    if zero {
        report.zero_bytes += w.used;
    }
    report.bytes += w.used;
    Ok(())
}

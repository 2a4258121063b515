//! Writing a disk's partitions onto a target at other positions and sizes: the execution of a
//! [`Reshape`] that `ops` decided and showed in the plan (which partition moves, grows or
//! shrinks, with which tool, and how much scratch space a shrink needs).
//!
//! A shrinking filesystem whose used blocks lie beyond its new end cannot simply be written
//! and then shrunk: the partition is too small to receive it. The real resize tool must see the
//! filesystem whole at its old size while it moves those blocks inside the new end. Two ways,
//! chosen per partition when the plan is made:
//! - in place: partitions are written in disk order, so while partition N is being written
//!   everything after its new start is still free target space. When its old size fits there,
//!   it is written at full size from its new start, shrunk on a loop device over that range,
//!   and only then is partition N+1 written over what it let go. No extra space at all.
//! - staged: otherwise (the last partition of a much smaller disk) the filesystem is written
//!   into a sparse scratch file of its old size (only its used bytes take space), shrunk there,
//!   and its used blocks are copied to the target. The plan shows that peak space and refuses
//!   when the scratch directory cannot hold it.
//!
//! Growing is the easy direction: the filesystem is written, then grown in its partition.
//!
//! Crash safety: the source and the image are only read. The target's partition table is
//! wiped before the first write and the new one written last (merged into the saved boot area
//! off the target, so the saved table never lands there), so a target cut off half way shows
//! no table that points at half-written or misplaced filesystems, and a rerun starts from
//! nothing.
//! Scratch files are named after the target and partition, so a rerun replaces a killed run's.
//!
//! Must not: copy bytes itself (the restore and clone pipelines do, through [`Dest`]), or decide
//! a layout (`crate::layout` does, `ops` checks it).

use crate::device::{Device, ReadAt};
use crate::error::{Error, Result};
use crate::events::{Event, Sink};
use crate::plan::{FsSummary, Region, RegionKind};
use crate::table::{PartitionTable, TableKind};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What happens to one partition's filesystem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "how")]
pub enum How {
    /// Same size (it may move): copied, nothing resized.
    Copy,
    /// Copied, then grown to fill its larger partition.
    Grow,
    /// Copied at its old size into target space not written yet, then shrunk there.
    ShrinkInPlace,
    /// Copied into a sparse scratch file in `dir`, shrunk there, then copied to the target.
    ShrinkStaged { dir: PathBuf },
}

/// One partition's old and new place, as the plan shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub number: u32,
    pub old_start: u64,
    pub old_len: u64,
    pub new_start: u64,
    pub new_len: u64,
    /// Bytes its filesystem uses (all of it for a raw copy).
    pub used: u64,
    /// The filesystem tool that resizes it, when it is resized.
    pub tool: Option<String>,
    #[serde(flatten)]
    pub how: How,
}

/// A layout change for the whole disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reshape {
    /// The policy that made it ("grow", "fit", "proportional"; "keep" never makes one).
    pub policy: String,
    pub steps: Vec<Step>,
    /// The most scratch space any staged shrink needs at once.
    pub scratch_bytes: u64,
}

impl Reshape {
    fn step(&self, number: u32) -> Option<&Step> {
        self.steps.iter().find(|s| s.number == number)
    }

    /// Human lines for the plan, in ASCII (serial consoles show them): "partition 3: 400 GiB
    /// -> 180 GiB (used 80 GiB), shrunk by ntfsresize on the target".
    pub fn describe(&self) -> Vec<String> {
        self.steps
            .iter()
            .map(|s| {
                let h = crate::human_bytes;
                let size = if s.old_len == s.new_len {
                    h(s.old_len)
                } else {
                    format!("{} -> {}", h(s.old_len), h(s.new_len))
                };
                let moved = if s.old_start != s.new_start {
                    format!(", moved to {}", h(s.new_start))
                } else {
                    String::new()
                };
                let tool = s.tool.as_deref().unwrap_or("-");
                let how = match &s.how {
                    How::Copy => "kept".to_string(),
                    How::Grow => format!("grown by {tool}"),
                    How::ShrinkInPlace => format!("shrunk by {tool} on the target"),
                    How::ShrinkStaged { dir } => format!(
                        "shrunk by {tool} in a scratch file in {} (up to {})",
                        dir.display(),
                        h(s.used)
                    ),
                };
                format!(
                    "partition {}: {size} (used {}){moved}, {how}",
                    s.number,
                    h(s.used)
                )
            })
            .collect()
    }
}

/// Where a region's bytes go: disk offset `o` of the source lands at `o - from + to` of `dev`.
pub(crate) struct Dest<'a> {
    pub dev: &'a Device,
    pub from: u64,
    pub to: u64,
}

impl<'a> Dest<'a> {
    /// Every byte where the source had it.
    pub fn same(dev: &'a Device) -> Dest<'a> {
        Dest {
            dev,
            from: 0,
            to: 0,
        }
    }
    pub fn at(&self, offset: u64) -> u64 {
        offset - self.from + self.to
    }
}

/// Where each region's bytes go, by region index.
pub(crate) type DestFn<'d> = dyn Fn(usize) -> Dest<'d> + Sync + 'd;
/// Copies the named regions, each where the `DestFn` says.
pub(crate) type CopyFn<'c> = dyn for<'d> FnMut(&[usize], &'d DestFn<'d>) -> Result<()> + 'c;

/// The scratch file of a staged shrink: named after the target and partition, so a rerun
/// after a kill replaces it instead of adding another.
fn scratch_path(dir: &Path, target: &Device, number: u32) -> PathBuf {
    let key = blake3::hash(target.path().as_os_str().as_encoded_bytes());
    dir.join(format!(
        "wraith-resize-{}-p{number}.img",
        &key.to_hex().as_str()[..12]
    ))
}

/// A staged partition's scratch file, removed when dropped (also on errors).
struct Scratch {
    path: PathBuf,
    dev: Device,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn say(sink: &dyn Sink, message: String) {
    sink.event(Event::Warning { message });
}

/// Runs a layout change. `copy(regions, dest)` copies the named regions (indices into
/// `regions`) with each region's bytes going where `dest` says; it is called once per batch
/// of regions that can be written before the next in-place shrink.
pub(crate) fn run(
    target: &Device,
    table: &PartitionTable,
    regions: &[Region],
    reshape: &Reshape,
    sink: &dyn Sink,
    copy: &mut CopyFn<'_>,
) -> Result<()> {
    wipe_table(target, table.sector_size)?;
    // Scratch files of staged partitions, by step number.
    let mut scratch: Vec<(u32, Scratch)> = Vec::new();
    for s in &reshape.steps {
        if let How::ShrinkStaged { dir } = &s.how {
            let path = scratch_path(dir, target, s.number);
            let _ = std::fs::remove_file(&path);
            let f = std::fs::File::create_new(&path).map_err(|e| Error::io(&path, e))?;
            // Sparse: only what is written takes space.
            f.set_len(s.old_len).map_err(|e| Error::io(&path, e))?;
            drop(f);
            let made = Scratch {
                dev: Device::open_write(&path)?,
                path,
            };
            scratch.push((s.number, made));
        }
    }
    let number_of = |r: &Region| match r.kind {
        RegionKind::Partition { number } => Some(number),
        _ => None,
    };
    let dest = |ri: usize| -> Dest<'_> {
        let r = &regions[ri];
        let step = number_of(r).and_then(|n| reshape.step(n));
        match step {
            Some(s) => match scratch.iter().find(|(n, _)| *n == s.number) {
                Some((_, sc)) => Dest {
                    dev: &sc.dev,
                    from: s.old_start,
                    to: 0,
                },
                None => Dest {
                    dev: target,
                    from: s.old_start,
                    to: s.new_start,
                },
            },
            None => Dest::same(target),
        }
    };
    // Batches: partitions in disk order, cut after each in-place shrink. The boot area and
    // old table structures are not copied: the new table is written at the end.
    let mut batch: Vec<usize> = Vec::new();
    for (ri, r) in regions.iter().enumerate() {
        let Some(n) = number_of(r) else { continue };
        batch.push(ri);
        if let Some(s) = reshape.step(n).filter(|s| s.how == How::ShrinkInPlace) {
            copy(&batch, &dest)?;
            batch.clear();
            target.sync()?;
            let lo = crate::loopdev::LoopDev::attach(target.path(), s.new_start, s.old_len)?;
            resize(lo.path(), r, s, "shrinking", "on the target", sink)?;
        }
    }
    if !batch.is_empty() {
        copy(&batch, &dest)?;
    }
    target.sync()?;
    // Staged shrinks: shrink in the scratch file, then copy the smaller filesystem's used
    // blocks to its place. Each works on its own scratch file and its own part of the target,
    // so they run side by side: the resize tools are single-threaded, and with two staged
    // partitions (a PC's Linux and Windows data) this halves the wait.
    let staged: Vec<(&Scratch, &Step, &Region)> = scratch
        .iter()
        .filter_map(|(n, sc)| {
            let s = reshape.step(*n)?;
            let r = regions.iter().find(|r| number_of(r) == Some(*n))?;
            Some((sc, s, r))
        })
        .collect();
    std::thread::scope(|scope| {
        let jobs: Vec<_> = staged
            .iter()
            .map(|&(sc, s, r)| {
                scope.spawn(move || -> Result<()> {
                    sc.dev.sync()?;
                    let place = format!("in {}", sc.path.display());
                    resize(&sc.path, r, s, "shrinking", &place, sink)?;
                    copy_used(&sc.dev, target, s)
                })
            })
            .collect();
        // Every one finishes before the first error is returned: a scratch file is never
        // removed under a tool still running on it.
        let results: Vec<Result<()>> = jobs
            .into_iter()
            .map(|j| {
                j.join()
                    .unwrap_or_else(|_| Err(Error::Invalid("a staged shrink panicked".into())))
            })
            .collect();
        results.into_iter().collect::<Result<Vec<()>>>()
    })?;
    // Growing last: each grows only inside its own new partition.
    for s in reshape.steps.iter().filter(|s| s.how == How::Grow) {
        let Some(r) = regions.iter().find(|r| number_of(r) == Some(s.number)) else {
            continue;
        };
        target.sync()?;
        let lo = crate::loopdev::LoopDev::attach(target.path(), s.new_start, s.new_len)?;
        resize(lo.path(), r, s, "growing", "on the target", sink)?;
    }
    // Last, the boot area as saved (boot code, the post-MBR gap) with the new table in it:
    // until now the target had no table at all. The two are put together in a sparse scratch
    // file the target's size first, so the target never holds the saved table (whose entries
    // point where the partitions no longer are), not even for a moment.
    let boot: Vec<usize> = regions
        .iter()
        .enumerate()
        .filter(|(_, r)| r.kind == RegionKind::Boot)
        .map(|(i, _)| i)
        .collect();
    let path = scratch_path(&std::env::temp_dir(), target, 0);
    let _ = std::fs::remove_file(&path);
    let f = std::fs::File::create_new(&path).map_err(|e| Error::io(&path, e))?;
    f.set_len(target.size()).map_err(|e| Error::io(&path, e))?;
    drop(f);
    let staged = Scratch {
        dev: Device::open_write(&path)?,
        path,
    };
    copy(&boot, &|_| Dest::same(&staged.dev))?;
    let mut ranges = write_table(&staged.dev, table, reshape)?;
    ranges.extend(boot.iter().map(|&i| (regions[i].start, regions[i].len)));
    // What lies outside the first sectors first (a GPT's backup, MBR extended boot records:
    // nothing points at them yet), the start of the disk last.
    ranges.sort_by_key(|&(off, _)| std::cmp::Reverse(off));
    let mut buf = Vec::new();
    for (off, len) in ranges {
        let mut at = off;
        while at < off + len {
            let n = (off + len - at).min(1 << 20) as usize;
            buf.resize(n, 0);
            staged.dev.read_exact_at(&mut buf, at)?;
            target.write_all_at(&buf, at)?;
            at += n as u64;
        }
    }
    target.sync()
}

/// Resizes region `r`'s filesystem on `dev` to its new size, saying so first ("partition 3:
/// shrinking ext4 with resize2fs on the target").
fn resize(
    dev: &Path,
    r: &Region,
    s: &Step,
    doing: &str,
    place: &str,
    sink: &dyn Sink,
) -> Result<()> {
    let fs: &FsSummary = r.fs.as_ref().ok_or_else(|| {
        Error::Invalid(format!(
            "partition {}: no filesystem to resize (the plan should have kept its size)",
            s.number
        ))
    })?;
    say(
        sink,
        format!(
            "partition {}: {doing} {} with {} {place}",
            s.number,
            fs.kind.name(),
            s.tool.as_deref().unwrap_or("?")
        ),
    );
    let mut log = |line: &str| {
        if !line.trim().is_empty() {
            sink.event(Event::Warning {
                message: format!("partition {}: {}", s.number, line.trim()),
            })
        }
    };
    crate::resize::resize(dev, fs, s.new_len, &mut log)
}

/// Copies the filesystem now in `scratch` (shrunk to `s.new_len`) to its place on the target:
/// its used blocks when our own map can read it, else every byte of the new size (ntfsresize
/// leaves the volume marked for chkdsk, which our NTFS reader refuses to map). Holes of the
/// scratch file are zeros the filesystem may rely on (zeroed metadata became holes), so they
/// are zeroed on the target, where an earlier partition's shrink may have left bytes.
fn copy_used(scratch: &Device, target: &Device, s: &Step) -> Result<()> {
    let ranges = match crate::fs::probe(scratch) {
        Ok(Some(info)) => {
            if info.size > s.new_len {
                return Err(Error::Invalid(format!(
                    "partition {}: the filesystem is still {} after shrinking, the partition is {}",
                    s.number,
                    crate::human_bytes(info.size),
                    crate::human_bytes(s.new_len)
                )));
            }
            info.used.clipped(0, s.new_len)
        }
        _ => {
            let mut all = crate::extent::ExtentList::new();
            all.push(0, s.new_len);
            all
        }
    };
    let mut buf = vec![0u8; 4 << 20];
    for e in ranges.iter() {
        let mut off = e.start;
        while off < e.end() {
            let n = (e.end() - off).min(buf.len() as u64);
            if scratch.is_hole(off, n) {
                target.zero_range(s.new_start + off, n)?;
            } else {
                scratch.read_exact_at(&mut buf[..n as usize], off)?;
                target.write_all_at(&buf[..n as usize], s.new_start + off)?;
            }
            off += n;
        }
    }
    Ok(())
}

/// Zeroes the places a partition table lives (the first MiB: MBR, GPT primary; the last 64 KiB:
/// a GPT backup), so a target cut off during a reshape shows no table at all rather than one
/// pointing at half-written filesystems.
fn wipe_table(target: &Device, sector_size: u64) -> Result<()> {
    let size = target.size();
    let head = (1u64 << 20).min(size);
    target.zero_range(0, head)?;
    let tail = (64u64 << 10).max(33 * sector_size).min(size - head);
    target.zero_range(size - tail, tail)?;
    target.sync()
}

/// The new table, over the saved one the boot area brought back (boot code and the disk's
/// identifiers are kept; the entries and the GPT backup are made for the target's size,
/// which `target` has). Returns the byte ranges written, as (offset, length).
fn write_table(
    target: &Device,
    table: &PartitionTable,
    reshape: &Reshape,
) -> Result<Vec<(u64, u64)>> {
    let mut written = Vec::new();
    let ss = table.sector_size;
    let placed: Vec<crate::layout::Placed> = reshape
        .steps
        .iter()
        .map(|s| crate::layout::Placed {
            number: s.number,
            old_start: s.old_start,
            old_len: s.old_len,
            new_start: s.new_start,
            new_len: s.new_len,
        })
        .collect();
    match table.kind {
        TableKind::Gpt => {
            let primary = crate::table::gpt::primary_area(target, ss)?.ok_or_else(|| {
                Error::corrupt("GPT from the image", ss, "no GPT header in the boot area")
            })?;
            let lba0 = target.read_vec(0, ss as usize)?;
            target.write_all_at(
                &crate::table::gpt::protective_mbr_for(&lba0, ss, target.size()),
                0,
            )?;
            written.push((0, ss));
            for (off, bytes) in crate::table::gpt::rewrite(&primary, ss, target.size(), &placed)? {
                target.write_all_at(&bytes, off)?;
                written.push((off, bytes.len() as u64));
            }
        }
        TableKind::Mbr => {
            let lba0 = target.read_vec(0, ss as usize)?;
            for (off, bytes) in crate::table::mbr::rewrite(&lba0, ss, table, &placed)? {
                target.write_all_at(&bytes, off)?;
                written.push((off, bytes.len() as u64));
            }
        }
        TableKind::None => {}
    }
    Ok(written)
}

/// Reads `dev` as if its bytes were where the source had them: disk offset `o` of the source
/// is `o - from + to` of `dev` (a partition that moved).
struct Shifted<'a> {
    dev: &'a Device,
    from: u64,
    to: u64,
    len: u64,
}

impl ReadAt for Shifted<'_> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.dev.read_exact_at(buf, offset - self.from + self.to)
    }
    fn size(&self) -> u64 {
        self.len
    }
}

/// Verifies a target restored with a layout change against its image. Partitions copied at
/// their size (moved or not) are compared with the image byte for byte where they now are;
/// the boot area is compared outside the table sectors (the table is new); a resized
/// filesystem differs from the image by design, so its own checker judges it (read-only), and
/// the table read back must place every partition where the layout said.
pub fn verify_restored(
    target: &Device,
    repo: &crate::repo::Repository,
    image: &crate::repo::ImageRef,
    m: &crate::repo::manifest::Manifest,
    shape: &Reshape,
    ctx: &crate::events::Ctx<'_>,
) -> Result<super::verify::VerifyReport> {
    use super::verify::{Problem, VerifyReport};
    let mut report = VerifyReport {
        images: 1,
        ..Default::default()
    };
    let problem = |region: String, offset: Option<u64>, detail: String| Problem {
        image: image.to_string(),
        region,
        offset,
        detail,
    };
    let total: u64 = m.regions.iter().map(|r| r.region.used.total()).sum();
    let mut progress = crate::events::Progress::start(ctx.sink, "verify", total);
    let mut buf = Vec::new();
    for (ri, r) in m.regions.iter().enumerate() {
        let region = &r.region;
        let step = match region.kind {
            RegionKind::Partition { number } => shape.step(number),
            RegionKind::Boot => None,
            // Old table structures were not written: the new table is checked below.
            _ => continue,
        };
        if let Some(s) = step.filter(|s| s.old_len != s.new_len) {
            ctx.cancel.check()?;
            if let Err(e) = check_resized(target, region, s) {
                report
                    .problems
                    .push(problem(region.describe(), Some(s.new_start), e));
            }
            report.bytes += region.used.total();
            progress.add(region.used.total());
            continue;
        }
        let view = Shifted {
            dev: target,
            from: step.map_or(0, |s| s.old_start),
            to: step.map_or(0, |s| s.new_start),
            len: u64::MAX,
        };
        for c in &r.chunks {
            ctx.cancel.check()?;
            let w = super::Window {
                region: ri,
                offset: c.offset,
                len: c.len as u64,
                used: region.used.covered(c.offset, c.offset + c.len as u64),
            };
            if view.at_end(&w, target) {
                report.problems.push(problem(
                    region.describe(),
                    Some(c.offset),
                    "disk is too small".into(),
                ));
                continue;
            }
            super::read_window(&view, &region.used, &w, &mut buf)?;
            let mut want = match c.id {
                Some(id) => repo.read_chunk(&id)?,
                None => vec![0; buf.len()],
            };
            if region.kind == RegionKind::Boot {
                // The table sectors are new on the target: compare everything else.
                for e in m.table.metadata.clipped(w.offset, w.offset + w.len).iter() {
                    let (a, b) = ((e.start - w.offset) as usize, (e.end() - w.offset) as usize);
                    buf[a..b].fill(0);
                    if let Some(x) = want.get_mut(a..b) {
                        x.fill(0);
                    }
                }
            }
            if want != buf {
                report.problems.push(problem(
                    region.describe(),
                    Some(c.offset),
                    "disk content differs from the image".into(),
                ));
            }
            report.chunks += 1;
            report.bytes += w.used;
            progress.add(w.used);
        }
    }
    for (region, offset, detail) in check_table(target, m.table.sector_size, shape) {
        report.problems.push(problem(region, Some(offset), detail));
    }
    progress.finish("verify");
    Ok(report)
}

/// The layout change a restore made, read back from the target's own table: each partition of
/// the image found on the target under the same number and type but at another place or
/// size. None when the target holds the image's layout unchanged (or no comparable table:
/// then a byte-for-byte verification says what differs). What lets `verify --against` check
/// a disk restored with `--layout grow|fit` as the restore's own verification did.
pub fn found_layout(target: &dyn ReadAt, image: &PartitionTable) -> Option<Reshape> {
    if image.kind == TableKind::None {
        return None;
    }
    let now = crate::table::read(target, image.sector_size).ok()?;
    if now.kind != image.kind || now.partitions.len() != image.partitions.len() {
        return None;
    }
    let mut steps = Vec::new();
    for old in &image.partitions {
        let new = now
            .partitions
            .iter()
            .find(|p| p.number == old.number && p.type_id == old.type_id)?;
        steps.push(Step {
            number: old.number,
            old_start: old.start,
            old_len: old.len,
            new_start: new.start,
            new_len: new.len,
            used: 0,
            tool: None,
            how: match new.len.cmp(&old.len) {
                std::cmp::Ordering::Equal => How::Copy,
                std::cmp::Ordering::Greater => How::Grow,
                std::cmp::Ordering::Less => How::ShrinkInPlace,
            },
        });
    }
    let changed = steps
        .iter()
        .any(|s| s.old_start != s.new_start || s.old_len != s.new_len);
    changed.then(|| Reshape {
        policy: "found".into(),
        steps,
        scratch_bytes: 0,
    })
}

/// Verifies a target cloned with a layout change against its source: the partitions copied at
/// their size are compared byte for byte where they now are (as [`super::verify::verify_clone`]
/// compares an unchanged clone), each resized filesystem by its own checker, and the table
/// read back must place every partition where the layout said.
pub fn verify_cloned(
    source: &dyn ReadAt,
    plan: &crate::plan::Plan,
    target: &Device,
    shape: &Reshape,
    ctx: &crate::events::Ctx<'_>,
) -> Result<super::verify::VerifyReport> {
    use super::verify::Problem;
    let resized = |r: &Region| match r.kind {
        RegionKind::Partition { number } => shape.step(number).filter(|s| s.old_len != s.new_len),
        _ => None,
    };
    let copied = crate::plan::Plan {
        regions: plan
            .regions
            .iter()
            .filter(|r| resized(r).is_none())
            .cloned()
            .collect(),
        ..plan.clone()
    };
    let view = Relocated {
        dev: target,
        steps: &shape.steps,
    };
    let mut report = super::verify::verify_clone(source, &copied, &view, ctx)?;
    let problem = |region: String, offset: u64, detail: String| Problem {
        image: String::new(),
        region,
        offset: Some(offset),
        detail,
    };
    for r in &plan.regions {
        if let Some(s) = resized(r) {
            ctx.cancel.check()?;
            if let Err(e) = check_resized(target, r, s) {
                report.problems.push(problem(r.describe(), s.new_start, e));
            }
        }
    }
    for (region, offset, detail) in check_table(target, plan.table.sector_size, shape) {
        report.problems.push(problem(region, offset, detail));
    }
    Ok(report)
}

/// A resized filesystem differs from its source by design: its own checker judges it,
/// read-only, on a loop device over its new place.
fn check_resized(target: &Device, region: &Region, s: &Step) -> std::result::Result<(), String> {
    let checked = match &region.fs {
        Some(fs) => crate::loopdev::LoopDev::attach(target.path(), s.new_start, s.new_len)
            .and_then(|lo| crate::resize::check(lo.path(), fs)),
        None => Err(Error::Invalid("no filesystem to check".into())),
    };
    checked.map_err(|e| format!("the resized filesystem does not check clean: {e}"))
}

/// The table read back from the target places every partition where the layout said; each
/// problem as (what, disk offset, detail).
fn check_table(target: &Device, sector_size: u64, shape: &Reshape) -> Vec<(String, u64, String)> {
    let t = match crate::table::read(target, sector_size) {
        Ok(t) => t,
        Err(e) => {
            return vec![(
                "partition table".into(),
                0,
                format!("unreadable on the target: {e}"),
            )]
        }
    };
    shape
        .steps
        .iter()
        .filter(|s| {
            !t.partitions
                .iter()
                .any(|p| p.number == s.number && p.start == s.new_start && p.len == s.new_len)
        })
        .map(|s| {
            (
                format!("partition {}", s.number),
                s.new_start,
                "the partition table does not place it where the layout said".into(),
            )
        })
        .collect()
}

/// The target read at the source's offsets: a byte of a partition that moved is read where
/// the layout put it; anything else where it was.
struct Relocated<'a> {
    dev: &'a Device,
    steps: &'a [Step],
}

impl ReadAt for Relocated<'_> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let at = self
            .steps
            .iter()
            .find(|s| offset >= s.old_start && offset < s.old_start + s.old_len)
            .map_or(offset, |s| offset - s.old_start + s.new_start);
        self.dev.read_exact_at(buf, at)
    }
    fn size(&self) -> u64 {
        self.dev.size()
    }
}

impl Shifted<'_> {
    fn at_end(&self, w: &super::Window, target: &Device) -> bool {
        w.offset - self.from + self.to + w.len > target.size()
    }
}

//! Rescue reading of failing sources, shared by clone and save. The first pass reads with
//! large reads and only defers a window whose read fails, so the healthy bulk of a dying disk
//! is copied before it gets worse. Deferred windows are then narrowed down: pieces of 64 KiB,
//! then single sectors of the failing pieces, each retried a bounded number of times, past
//! the page cache. Only bytes the filesystem uses are ever read. What stays unreadable is
//! zero in the copy and recorded as byte ranges (manifest, GNU ddrescue mapfile, report).

use super::Window;
use crate::device::ReadAt;
use crate::device::Slice;
use crate::error::{Error, Result};
use crate::events::{Cancel, Event, Sink};
use crate::extent::ExtentList;
use crate::fs::{FsKind, Touch, TouchKind};
use crate::plan::Region;
use serde::{Deserialize, Serialize};

/// First narrowing step: a failing window is re-read in pieces this large.
const PIECE: u64 = 64 << 10;
/// Attempts per sector in the last step (a weak sector sometimes reads on a second try;
/// more attempts mostly wear a dying disk).
pub const SECTOR_ATTEMPTS: u32 = 2;

/// Whether an error is the medium failing (worth deferring and narrowing down) rather than a
/// vanished device, a bug or a full target, which stop the job as before.
pub fn is_media_error(e: &Error) -> bool {
    match e {
        Error::Io { err, .. } => matches!(
            err.raw_os_error(),
            Some(libc::EIO | libc::ENODATA | libc::EILSEQ | libc::EBADMSG | libc::EREMOTEIO)
        ),
        _ => false,
    }
}

/// Re-reads a window whose large read failed. `buf` becomes the window's bytes with zeros
/// where the used map is free or the disk could not be read; returns the unreadable ranges
/// (absolute disk offsets, whole sectors, inside the used map).
pub(crate) fn reread_window(
    dev: &dyn ReadAt,
    used: &ExtentList,
    w: &Window,
    buf: &mut Vec<u8>,
    cancel: &Cancel,
) -> Result<ExtentList> {
    buf.clear();
    buf.resize(w.len as usize, 0);
    let sector = dev.sector_size().max(512);
    let mut bad = ExtentList::new();
    for e in used.clipped(w.offset, w.offset + w.len).iter() {
        // Sector-aligned cover of the used extent (maps are block-aligned, so usually exact).
        let start = e.start - e.start % sector;
        let end = e.end().div_ceil(sector) * sector;
        let mut pos = start;
        while pos < end {
            cancel.check()?;
            let piece_end = ((pos / PIECE + 1) * PIECE).min(end);
            let mut piece = vec![0u8; (piece_end - pos) as usize];
            match dev.read_uncached_at(&mut piece, pos) {
                Ok(()) => place(buf, w, pos, &piece),
                Err(err) if is_media_error(&err) => {
                    let mut s = pos;
                    while s < piece_end {
                        cancel.check()?;
                        let mut one = vec![0u8; sector as usize];
                        if read_sector(dev, &mut one, s)? {
                            place(buf, w, s, &one);
                        } else {
                            bad.push(s, sector);
                        }
                        s += sector;
                    }
                }
                Err(err) => return Err(err),
            }
            pos = piece_end;
        }
    }
    // Keep free bytes zero even where a whole sector was read around a partial block.
    let free = ExtentList::from_iter([crate::extent::Extent::new(w.offset, w.len)])
        .minus(&used.clipped(w.offset, w.offset + w.len));
    for f in free.iter() {
        let rel = (f.start - w.offset) as usize;
        buf[rel..rel + f.len as usize].fill(0);
    }
    Ok(bad)
}

/// One sector with bounded retries: Ok(false) when it stays unreadable.
fn read_sector(dev: &dyn ReadAt, one: &mut [u8], at: u64) -> Result<bool> {
    for _ in 0..SECTOR_ATTEMPTS {
        match dev.read_uncached_at(one, at) {
            Ok(()) => return Ok(true),
            Err(e) if is_media_error(&e) => continue,
            Err(e) => return Err(e),
        }
    }
    one.fill(0);
    Ok(false)
}

/// Copies bytes read at absolute offset `at` into the window buffer, clipped to the window.
fn place(buf: &mut [u8], w: &Window, at: u64, data: &[u8]) {
    let s = at.max(w.offset);
    let e = (at + data.len() as u64).min(w.offset + w.len);
    if e > s {
        let src = (s - at) as usize;
        let dst = (s - w.offset) as usize;
        let n = (e - s) as usize;
        buf[dst..dst + n].copy_from_slice(&data[src..src + n]);
    }
}

/// Tells the user a window failed and will be retried at the end.
pub(crate) fn deferred(sink: &dyn Sink, w: &Window, err: &Error) {
    sink.event(Event::Warning {
        message: format!(
            "read error in {} bytes at disk offset {} ({err}); continuing, it will be retried \
             sector by sector after the rest of the disk",
            w.len, w.offset
        ),
    });
}

/// Tells the user what stayed unreadable after the retries, and which files it hit.
pub(crate) fn report(sink: &dyn Sink, bad: &ExtentList, files: &[DamagedFiles]) {
    if bad.is_empty() {
        return;
    }
    sink.event(Event::Warning {
        message: format!(
            "{} bytes in {} ranges could not be read after {SECTOR_ATTEMPTS} attempts per \
             sector; they are zeros in the copy",
            bad.total(),
            bad.len()
        ),
    });
    for d in files {
        sink.event(Event::Warning {
            message: d.summary(WARNING_NAMES),
        });
    }
}

/// File names listed per partition in a job's result and an image's manifest; the rest are
/// counted. Enough to act on, bounded however many files a dead region holds.
pub const FILES_LISTED: usize = 50;
/// File names in the one-line warning per partition (a job's log and the TUI's summary).
const WARNING_NAMES: usize = 8;
/// Skip messages of the file walk kept per partition: they say why a list may be incomplete.
const NOTES_KEPT: usize = 4;

/// The files of one partition's filesystem (ext2/3/4 or NTFS) with bytes in unreadable ranges.
/// Kept in a job's result and, for a save, in the manifest (`unreadable_files`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DamagedFiles {
    /// The region's first byte on the disk: identifies it among the plan's or the manifest's
    /// regions.
    pub region_start: u64,
    /// The region as messages name it: "partition 2".
    pub region: String,
    pub fs: FsKind,
    /// Sorted by path, at most [`FILES_LISTED`].
    pub files: Vec<Touch>,
    /// How many more files were found beyond the list.
    #[serde(default)]
    pub more: usize,
    /// Unreadable bytes of the partition that nothing found claims: blocks the used map counts
    /// but no file or structure walked owns, or whose owner could not be read (see `notes`).
    #[serde(default)]
    pub unclaimed: u64,
    /// Why the list may miss files (parts of the filesystem that could not be read), or why
    /// there is no list at all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl DamagedFiles {
    /// One line: "partition 2 (ext4): unreadable bytes in /a, /b (metadata), … and 3 more".
    pub fn summary(&self, names: usize) -> String {
        if self.files.is_empty() {
            let why = self
                .notes
                .first()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            return format!(
                "{} ({}): no file holds the unreadable bytes{why}",
                self.region,
                self.fs.name()
            );
        }
        let shown: Vec<String> = self.files.iter().take(names).map(Touch::label).collect();
        let rest = self.files.len().saturating_sub(names) + self.more;
        let rest = if rest > 0 {
            format!(" and {rest} more")
        } else {
            String::new()
        };
        format!(
            "{} ({}): unreadable bytes in {}{rest}",
            self.region,
            self.fs.name(),
            shown.join(", ")
        )
    }
}

impl Touch {
    /// The path, marked when only the filesystem's records of the file were hit.
    pub fn label(&self) -> String {
        match self.kind {
            TouchKind::Data => self.path.clone(),
            TouchKind::Metadata => format!("{} (metadata)", self.path),
        }
    }
}

/// Names, per ext2/3/4 and NTFS partition, the files whose data or metadata lie in `bad`
/// (absolute disk offsets, what rescue reading could not read) by walking each filesystem on
/// `dev`. Never reads a byte inside `bad`. A filesystem that cannot be walked gets an entry
/// saying why instead of a list; only cancelling is an error.
pub fn damaged_files(
    dev: &dyn ReadAt,
    regions: &[Region],
    bad: &ExtentList,
    limit: usize,
    cancel: &Cancel,
) -> Result<Vec<DamagedFiles>> {
    let mut out = Vec::new();
    for r in regions {
        let Some(kind) = r.fs.as_ref().map(|f| f.kind) else {
            continue;
        };
        if !matches!(
            kind,
            FsKind::Ext2 | FsKind::Ext3 | FsKind::Ext4 | FsKind::Ntfs
        ) {
            continue;
        }
        let hit = bad.clipped(r.start, r.end());
        if hit.is_empty() {
            continue;
        }
        // The walk sees the filesystem from its first byte, as the used-block maps do.
        let rel: ExtentList = hit
            .iter()
            .map(|e| crate::extent::Extent::new(e.start - r.start, e.len))
            .collect();
        let part = Slice {
            dev,
            offset: r.start,
            len: r.len,
        };
        let mut d = DamagedFiles {
            region_start: r.start,
            region: r.describe(),
            fs: kind,
            files: Vec::new(),
            more: 0,
            unclaimed: 0,
            notes: Vec::new(),
        };
        match crate::fs::files_touching(&part, kind, &rel, limit, cancel) {
            Ok(t) => {
                d.files = t.touches;
                d.more = t.more;
                d.unclaimed = t.unclaimed;
                d.notes = t.skipped.into_iter().take(NOTES_KEPT).collect();
                if t.skipped_total > d.notes.len() {
                    d.notes.push(format!(
                        "{} more parts of the filesystem could not be read",
                        t.skipped_total - d.notes.len()
                    ));
                }
            }
            Err(Error::Cancelled) => return Err(Error::Cancelled),
            Err(e) => {
                d.unclaimed = hit.total();
                d.notes.push(format!("the files could not be named: {e}"));
            }
        }
        out.push(d);
    }
    Ok(out)
}

/// Where unreadable ranges lie, by region: "partition 2 (ext4 \"root\"): 1024 bytes in 2 ranges".
pub fn by_region(regions: &[Region], bad: &ExtentList) -> Vec<String> {
    regions
        .iter()
        .filter_map(|r| {
            let hit = bad.clipped(r.start, r.end());
            (!hit.is_empty()).then(|| {
                format!(
                    "{}: {} bytes in {} range{}, first at disk offset {}",
                    r.describe(),
                    hit.total(),
                    hit.len(),
                    if hit.len() == 1 { "" } else { "s" },
                    hit.as_slice()[0].start
                )
            })
        })
        .collect()
}

/// Restore and verify say when an image holds zeros for bytes its source could not read.
pub(crate) fn warn_image(
    sink: &dyn Sink,
    image: &crate::repo::ImageRef,
    m: &crate::repo::manifest::Manifest,
) {
    if m.unreadable.is_empty() {
        return;
    }
    let regions: Vec<Region> = m.regions.iter().map(|r| r.region.clone()).collect();
    sink.event(Event::Warning {
        message: format!(
            "image {image} holds zeros for {} bytes its source disk could not read: {}",
            m.unreadable.total(),
            by_region(&regions, &m.unreadable).join("; ")
        ),
    });
    for d in &m.unreadable_files {
        sink.event(Event::Warning {
            message: d.summary(WARNING_NAMES),
        });
    }
}

/// A GNU ddrescue mapfile for the whole disk: `+` read, `-` unreadable sectors, `?` never
/// tried (free space, which a used-blocks copy does not read). ddrescue can continue from it
/// (`ddrescue -r3 disk out mapfile` retries only the `-` areas).
pub fn ddrescue_mapfile(
    disk_size: u64,
    tried: &ExtentList,
    bad: &ExtentList,
    tool: &str,
) -> String {
    let mut out = format!(
        "# Mapfile. Created by {tool}\n# current_pos  current_status  current_pass\n\
         0x{:08X}     +               1\n#      pos        size  status\n",
        0
    );
    let good = tried.minus(bad);
    // Merge the three kinds into one ordered, gap-free list.
    let mut marks: Vec<(u64, u64, char)> = good
        .iter()
        .map(|e| (e.start, e.len, '+'))
        .chain(bad.iter().map(|e| (e.start, e.len, '-')))
        .collect();
    marks.sort_unstable();
    let mut pos = 0u64;
    let mut line = |start: u64, len: u64, c: char| {
        if len > 0 {
            out.push_str(&format!("0x{start:08X}  0x{len:08X}  {c}\n"));
        }
    };
    for (start, len, c) in marks {
        let start = start.min(disk_size);
        let end = (start + len).min(disk_size);
        if start > pos {
            line(pos, start - pos, '?');
        }
        if end > start.max(pos) {
            line(start.max(pos), end - start.max(pos), c);
            pos = end;
        }
    }
    if disk_size > pos {
        line(pos, disk_size - pos, '?');
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::extent::Extent;

    /// A disk image in memory whose chosen sectors fail like a dying disk (EIO), always or
    /// only on the first attempt. Stands in for QEMU's blkdebug, which the VM test uses.
    struct Failing {
        data: Vec<u8>,
        bad: Vec<u64>,
        weak: std::sync::Mutex<Vec<u64>>,
    }
    impl Failing {
        fn hit(&self, offset: u64, len: usize) -> bool {
            let end = offset + len as u64;
            let mut weak = self.weak.lock().unwrap();
            let weak_hit = weak.iter().position(|&s| s >= offset && s < end);
            if let Some(i) = weak_hit {
                weak.remove(i);
                return true;
            }
            self.bad.iter().any(|&s| s >= offset && s < end)
        }
    }
    impl ReadAt for Failing {
        fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
            if self.hit(offset - offset % 512, buf.len() + (offset % 512) as usize) {
                return Err(Error::io(
                    "failing",
                    std::io::Error::from_raw_os_error(libc::EIO),
                ));
            }
            self.data.as_slice().read_exact_at(buf, offset)
        }
        fn size(&self) -> u64 {
            self.data.len() as u64
        }
    }

    #[test]
    fn narrows_failures_to_the_failing_used_sectors() {
        let data: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 249 + 1) as u8).collect();
        let dev = Failing {
            data: data.clone(),
            bad: vec![70 * 512, 300_000 - 300_000 % 512, 900 * 1024],
            weak: std::sync::Mutex::new(vec![5 * 512]),
        };
        // Used: two runs; the third bad sector (900 KiB) lies in free space and is never read.
        let used: ExtentList = [
            Extent::new(0, 400_000 - 400_000 % 512),
            Extent::new(950 << 10, 4096),
        ]
        .into_iter()
        .collect();
        let w = Window {
            region: 0,
            offset: 0,
            len: 1 << 20,
            used: used.total(),
        };
        let mut buf = Vec::new();
        assert!(super::super::read_window(&dev, &used, &w, &mut buf).is_err());
        let bad = reread_window(&dev, &used, &w, &mut buf, &Cancel::new()).unwrap();
        let got: Vec<(u64, u64)> = bad.iter().map(|e| (e.start, e.len)).collect();
        assert_eq!(got, vec![(70 * 512, 512), (300_000 - 300_000 % 512, 512)]);
        for (i, (&b, &d)) in buf.iter().zip(&data).enumerate() {
            let i = i as u64;
            let expect = if bad.covered(i, i + 1) == 1 || used.covered(i, i + 1) == 0 {
                0
            } else {
                d
            };
            assert_eq!(b, expect, "byte {i}");
        }
    }

    #[test]
    fn only_media_errors_are_rescued() {
        let eio = Error::io("d", std::io::Error::from_raw_os_error(libc::EIO));
        let gone = Error::io("d", std::io::Error::from_raw_os_error(libc::ENODEV));
        assert!(is_media_error(&eio));
        assert!(!is_media_error(&gone));
        assert!(!is_media_error(&Error::Cancelled));
    }

    #[test]
    fn mapfile_covers_the_disk_in_order() {
        let tried: ExtentList = [Extent::new(0, 4096), Extent::new(8192, 8192)]
            .into_iter()
            .collect();
        let bad: ExtentList = [Extent::new(9216, 512)].into_iter().collect();
        let m = ddrescue_mapfile(20480, &tried, &bad, "wraith test");
        let rows: Vec<&str> = m.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            rows,
            vec![
                "0x00000000     +               1",
                "0x00000000  0x00001000  +",
                "0x00001000  0x00001000  ?",
                "0x00002000  0x00000400  +",
                "0x00002400  0x00000200  -",
                "0x00002600  0x00001A00  +",
                "0x00004000  0x00001000  ?",
            ]
        );
    }
}

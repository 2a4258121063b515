//! VM disk files: a saved image exported as a raw, qcow2, VHDX or VMDK file a hypervisor
//! boots, and such files read back as the disk they hold (so `wraith save disk.qcow2 REPO`
//! saves the virtual disk, not the container). This module owns the format choice (by file
//! extension for writing, by magic for reading), the shared walk over the blocks that hold
//! data, and the "write to OUT.partial, rename at the end" rule; each format lives in its own
//! file. It must never write anywhere but the output file it was given, and its readers parse
//! untrusted files: every size and offset from a header is checked against bounds before it
//! is used, and nothing is allocated by a size read from the file without a cap.

pub mod qcow2;
pub mod raw;
pub mod vhdx;
pub mod vmdk;

use crate::device::{Device, ReadAt};
use crate::error::{Error, Result};
use crate::events::{Ctx, Event};
use crate::extent::ExtentList;
use std::path::{Path, PathBuf};

/// A VM disk file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Raw,
    Qcow2,
    Vhdx,
    Vmdk,
}

impl Format {
    /// The format a file name asks for: `.raw`/`.img`, `.qcow2`, `.vhdx`, `.vmdk`.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "raw" | "img" => Some(Format::Raw),
            "qcow2" => Some(Format::Qcow2),
            "vhdx" => Some(Format::Vhdx),
            "vmdk" => Some(Format::Vmdk),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Qcow2 => "qcow2",
            Format::Vhdx => "vhdx",
            Format::Vmdk => "vmdk",
        }
    }

    /// The container format a file's first bytes announce; None for anything else (a raw
    /// disk image has no magic). A VMDK text descriptor counts as VMDK, so that it is
    /// refused by name rather than read as a tiny raw disk.
    pub fn detect(dev: &dyn ReadAt) -> Option<Format> {
        let mut head = [0u8; 8];
        dev.read_exact_at(&mut head, 0).ok()?;
        if head[..4] == qcow2::MAGIC {
            Some(Format::Qcow2)
        } else if head == vhdx::FILE_SIGNATURE {
            Some(Format::Vhdx)
        } else if head[..4] == vmdk::MAGIC || head == *vmdk::DESCRIPTOR {
            Some(Format::Vmdk)
        } else {
            None
        }
    }
}

/// A reader of a VM disk file, as the disk it holds.
pub type DiskReader = Box<dyn ReadAt + Send>;

/// Reads the disk inside a qcow2, VHDX or VMDK container held by `inner` (a file, or a
/// buffer for the fuzzer); `what` names it in errors. None: not one of these formats.
pub fn open_inner<'a, R: ReadAt + Send + 'a>(
    inner: R,
    what: &str,
) -> Result<Option<Box<dyn ReadAt + Send + 'a>>> {
    Ok(match Format::detect(&inner) {
        Some(Format::Qcow2) => Some(Box::new(qcow2::Reader::new(inner, what)?)),
        Some(Format::Vhdx) => Some(Box::new(vhdx::Reader::new(inner, what)?)),
        Some(Format::Vmdk) => Some(Box::new(vmdk::Reader::new(inner, what)?)),
        _ => None,
    })
}

/// The virtual disk of the qcow2/VHDX/VMDK file at `path`; None when the file is none of
/// these (a raw image or a disk, read as it is).
pub fn open_image(path: &Path) -> Result<Option<DiskReader>> {
    let md = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !md.is_file() {
        return Ok(None);
    }
    let dev = Device::open_read(path)?;
    open_inner(dev, &path.display().to_string())
}

/// Any disk file: a qcow2/VHDX/VMDK as its virtual disk, anything else as it is.
pub fn open(path: &Path) -> Result<DiskReader> {
    match open_image(path)? {
        Some(r) => Ok(r),
        None => Ok(Box::new(Device::open_read(path)?)),
    }
}

/// Where an export writes until it is complete.
pub fn partial_path(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}

/// Writes the disk `src` as a `format` file at `out`: only `stored` ranges are read, and only
/// blocks holding a non-zero byte are written (everything else is a hole, or unallocated in
/// the container). The file is written as `OUT.partial` and renamed when complete, so a
/// failed or cancelled export leaves no half file under the name asked for. An existing `out`
/// is refused unless `overwrite`.
pub fn export(
    src: &dyn ReadAt,
    stored: &ExtentList,
    out: &Path,
    format: Format,
    overwrite: bool,
    ctx: &Ctx,
) -> Result<()> {
    if !overwrite && std::fs::symlink_metadata(out).is_ok() {
        return Err(Error::Invalid(format!(
            "{} already exists; pass --force to overwrite it",
            out.display()
        )));
    }
    // A mistyped disk name must never become a file in /dev (a RAM disk on most systems);
    // writing onto a disk is `restore`'s job, with its interlocks.
    if out.starts_with("/dev") {
        return Err(Error::Invalid(format!(
            "{}: export writes a file; to write an image onto a disk, use restore",
            out.display()
        )));
    }
    if out.is_dir() {
        return Err(Error::Invalid(format!("{} is a directory", out.display())));
    }
    let tmp = partial_path(out);
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let w = Out { file, path: &tmp };
    let r = match format {
        Format::Raw => raw::write(src, stored, &w, ctx),
        Format::Qcow2 => qcow2::write(src, stored, &w, ctx),
        Format::Vhdx => vhdx::write(src, stored, &w, ctx),
        Format::Vmdk => vmdk::write(src, stored, &w, &name, ctx),
    }
    .and_then(|()| w.file.sync_all().map_err(|e| Error::io(&tmp, e)));
    drop(w);
    if let Err(e) = r {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, out).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(out, e)
    })
}

/// The output file being written, with its name for errors.
pub struct Out<'a> {
    pub file: std::fs::File,
    pub path: &'a Path,
}

impl Out<'_> {
    pub fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        use std::os::unix::fs::FileExt;
        self.file
            .write_all_at(buf, offset)
            .map_err(|e| Error::io(self.path, e))
    }
    pub fn set_len(&self, len: u64) -> Result<()> {
        self.file.set_len(len).map_err(|e| Error::io(self.path, e))
    }
}

/// The most table entries a reader's `is_hole` looks up: the pipelines ask per chunk, so a
/// bigger range is only a fuzzer's or a mistake's, and answering "unknown" is always allowed.
pub(crate) const MAX_HOLE_UNITS: u64 = 1 << 14;

/// How much is read at once when walking the data: large enough that the image's chunk
/// reads are efficient, small enough to be a bounded buffer.
const PIECE: u64 = 4 << 20;

/// Calls `f(offset, block)` in increasing offset order for every `block`-sized, aligned block
/// of `src` that overlaps `stored` and holds a non-zero byte. A block reaching past the end
/// of the disk is padded with zeros. Reports progress over the stored bytes and stops when
/// cancelled.
pub fn data_blocks(
    src: &dyn ReadAt,
    stored: &ExtentList,
    block: u64,
    ctx: &Ctx,
    mut f: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<()> {
    let size = src.size();
    let stored = stored.clipped(0, size);
    let total = stored.total();
    ctx.sink.event(Event::Started {
        step: "export".into(),
        total,
    });
    // The aligned windows covering the stored ranges, merged.
    let mut windows: Vec<(u64, u64)> = Vec::new();
    for e in stored.iter() {
        let s = e.start / block * block;
        let end = e.end().div_ceil(block) * block;
        match windows.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(end),
            _ => windows.push((s, end)),
        }
    }
    let piece = PIECE.div_ceil(block) * block;
    let mut buf = vec![0u8; piece as usize];
    let mut done = 0u64;
    for (ws, we) in windows {
        let mut at = ws;
        while at < we {
            ctx.cancel.check()?;
            let len = piece.min(we - at);
            let b = &mut buf[..len as usize];
            b.fill(0);
            for e in stored.clipped(at, at + len).iter() {
                let o = (e.start - at) as usize;
                src.read_exact_at(&mut b[o..o + e.len as usize], e.start)?;
                done += e.len;
            }
            for (i, chunk) in b.chunks(block as usize).enumerate() {
                if chunk.iter().any(|&x| x != 0) {
                    f(at + i as u64 * block, chunk)?;
                }
            }
            ctx.sink.event(Event::Progress { done, total });
            at += len;
        }
    }
    ctx.sink.event(Event::Finished {
        step: "export".into(),
    });
    Ok(())
}

/// An identifier that differs between exports (VHDX GUIDs, VMDK CID): not secret, only
/// unique, so a hash of the time, the process and what is written is enough.
pub(crate) fn unique_bytes(seed: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.update(&now.to_le_bytes());
    h.update(&std::process::id().to_le_bytes());
    h.update(seed);
    *h.finalize().as_bytes()
}

/// Little- and big-endian field access on a header buffer; a short buffer reads as zero
/// (callers read fixed-size headers, so this never happens on checked input).
pub(crate) fn le16(b: &[u8], o: usize) -> u16 {
    b.get(o..o + 2)
        .and_then(|s| s.try_into().ok())
        .map(u16::from_le_bytes)
        .unwrap_or(0)
}
pub(crate) fn le32(b: &[u8], o: usize) -> u32 {
    b.get(o..o + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
        .unwrap_or(0)
}
pub(crate) fn le64(b: &[u8], o: usize) -> u64 {
    b.get(o..o + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
        .unwrap_or(0)
}
pub(crate) fn be32(b: &[u8], o: usize) -> u32 {
    b.get(o..o + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_be_bytes)
        .unwrap_or(0)
}
pub(crate) fn be64(b: &[u8], o: usize) -> u64 {
    b.get(o..o + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

/// Reads `buf` at `offset` of `inner`, naming the container file on failure (a header that
/// points past the end of the file).
pub(crate) fn read_in(
    inner: &dyn ReadAt,
    what: &str,
    buf: &mut [u8],
    offset: u64,
    part: &str,
) -> Result<()> {
    let end = offset.checked_add(buf.len() as u64);
    if end.is_none_or(|e| e > inner.size()) {
        return Err(Error::corrupt(
            what,
            offset,
            format!(
                "{part} ({} bytes) lies past the end of the file ({} bytes)",
                buf.len(),
                inner.size()
            ),
        ));
    }
    inner.read_exact_at(buf, offset)
}

/// Checks a read of `buf.len()` bytes at `offset` against a virtual disk of `size` bytes.
pub(crate) fn check_range(what: &str, size: u64, len: usize, offset: u64) -> Result<()> {
    if offset.checked_add(len as u64).is_none_or(|e| e > size) {
        return Err(Error::corrupt(
            what,
            offset,
            format!("read of {len} bytes past the end of the {size}-byte virtual disk"),
        ));
    }
    Ok(())
}

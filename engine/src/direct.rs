//! Writes that bypass the page cache (O_DIRECT), for the big sequential writes of imaging: a
//! restore or clone target and a repository's pack files.
//!
//! Why: through the page cache every byte is copied once more by the CPU and then waits for
//! write-back, so a job's progress reaches 100 % and then hangs in the final flush (the
//! "sync takes minutes" of copying to a USB stick). Written directly, bytes go from our buffer
//! to the device, the CPU is free for compression, and progress is true. On this project's
//! 2-core VM a buffered write of 1.6 GB ran at 0.42 GB/s plus its flush; O_DIRECT at 1.7-2.4.
//!
//! O_DIRECT wants the buffer, offset and length aligned to the device's logical block size.
//! Everything here aligns to 4 KiB, which covers 512-byte and 4Kn disks: the aligned middle of
//! a write goes directly (through an aligned bounce buffer), the unaligned head and tail and
//! small writes go through an ordinary descriptor of the same file. The kernel keeps the two
//! coherent (a direct write flushes and drops cached pages of its range). A filesystem that
//! refuses O_DIRECT (tmpfs, some FUSE or network filesystems) is written through the cache.
//!
//! This module never decides policy (which files deserve direct writes): callers do.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};

/// Alignment of direct transfers: the largest logical block size of common disks.
pub const ALIGN: usize = 4096;
/// Writes smaller than this go through the page cache: a direct write waits for the device,
/// which is only worth it for large transfers.
pub const MIN_DIRECT: usize = 64 << 10;
/// Size of one direct transfer (and of the bounce buffer): large enough to keep the device
/// busy, small enough to stay in the CPU cache between the copy and the write.
const BOUNCE: usize = 4 << 20;

/// A zeroed heap buffer whose start is aligned to [`ALIGN`].
pub struct AlignedBuf {
    ptr: std::ptr::NonNull<u8>,
    layout: std::alloc::Layout,
}

// SAFETY: the buffer is plain owned memory, like a Vec<u8>.
unsafe impl Send for AlignedBuf {}

impl AlignedBuf {
    pub fn new(len: usize) -> AlignedBuf {
        let layout = std::alloc::Layout::from_size_align(len.max(1), ALIGN)
            .unwrap_or_else(|_| std::alloc::Layout::new::<[u8; ALIGN]>());
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr =
            std::ptr::NonNull::new(raw).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        AlignedBuf { ptr, layout }
    }
    pub fn len(&self) -> usize {
        self.layout.size()
    }
    pub fn is_empty(&self) -> bool {
        false
    }
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: ptr is a live allocation of layout.size() initialised (zeroed) bytes.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.layout.size()) }
    }
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and &mut self makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.layout.size()) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// Whether an I/O error means "this file or filesystem does not do direct I/O here" rather
/// than a real failure: the write is then retried through the cache.
fn refused(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EOPNOTSUPP))
}

/// The part of `[offset, offset + len)` that can go directly: `(start, end)` aligned inward,
/// or None when too little of it is aligned to be worth a direct write.
pub fn aligned_middle(offset: u64, len: usize) -> Option<(u64, u64)> {
    let a = ALIGN as u64;
    let start = offset.div_ceil(a) * a;
    let end = (offset + len as u64) / a * a;
    (end > start && (end - start) as usize >= MIN_DIRECT).then_some((start, end))
}

thread_local! {
    /// The bounce buffer of this thread's direct transfers: a fresh 4 MiB buffer per write
    /// or file would cost a page fault per 4 KiB.
    static BOUNCE_BUF: std::cell::RefCell<Option<AlignedBuf>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs `f` with this thread's bounce buffer ([`BOUNCE`] bytes). Never nested.
fn with_bounce<T>(f: impl FnOnce(&mut AlignedBuf) -> T) -> T {
    BOUNCE_BUF.with(|cell| {
        let mut cell = cell.borrow_mut();
        f(cell.get_or_insert_with(|| AlignedBuf::new(BOUNCE)))
    })
}

/// Writes `data` at `offset` of a file opened with O_DIRECT, copying through the bounce
/// buffer. `offset` and `data.len()` must be multiples of [`ALIGN`].
fn write_aligned(direct: &File, data: &[u8], offset: u64) -> std::io::Result<()> {
    debug_assert!(offset.is_multiple_of(ALIGN as u64) && data.len().is_multiple_of(ALIGN));
    with_bounce(|bounce| {
        let mut done = 0;
        while done < data.len() {
            let n = (data.len() - done).min(bounce.len());
            let b = &mut bounce.as_mut_slice()[..n];
            b.copy_from_slice(&data[done..done + n]);
            direct.write_all_at(b, offset + done as u64)?;
            done += n;
        }
        Ok(())
    })
}

/// A second, O_DIRECT descriptor of a file that is also open normally.
pub struct DirectWriter {
    file: File,
    /// Cleared when the filesystem refuses a direct write: everything then goes buffered.
    working: AtomicBool,
}

impl DirectWriter {
    /// Opens `path` for direct writing, or None when its filesystem refuses O_DIRECT.
    pub fn open(path: &std::path::Path) -> Option<DirectWriter> {
        use std::os::unix::fs::OpenOptionsExt;
        // Never O_EXCL: a block device target is already held exclusively by the main
        // descriptor, and a second exclusive open of it would fail with EBUSY.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)
            .ok()?;
        Some(DirectWriter {
            file,
            working: AtomicBool::new(true),
        })
    }

    /// Writes `data` at `offset` of the file: the aligned middle directly, the rest (or all of
    /// it, when small or refused) through `buffered`.
    pub fn write_all_at(&self, buffered: &File, data: &[u8], offset: u64) -> std::io::Result<()> {
        let middle = if self.working.load(Ordering::Relaxed) {
            aligned_middle(offset, data.len())
        } else {
            None
        };
        let Some((start, end)) = middle else {
            return buffered.write_all_at(data, offset);
        };
        let (a, b) = ((start - offset) as usize, (end - offset) as usize);
        match write_aligned(&self.file, &data[a..b], start) {
            Ok(()) => {}
            Err(e) if refused(&e) => {
                self.working.store(false, Ordering::Relaxed);
                buffered.write_all_at(&data[a..b], start)?;
            }
            Err(e) => return Err(e),
        }
        buffered.write_all_at(&data[..a], offset)?;
        buffered.write_all_at(&data[b..], end)
    }
}

/// Writes a whole new file: `file` was opened with O_DIRECT (and is empty). The aligned
/// prefix goes directly, then O_DIRECT is switched off for the short tail. On a refusal the
/// rest is written through the cache; the caller still flushes the file.
pub fn write_new_file(file: &File, data: &[u8]) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let body = data.len() / ALIGN * ALIGN;
    let mut done = 0;
    if body >= MIN_DIRECT {
        match write_aligned(file, &data[..body], 0) {
            Ok(()) => done = body,
            Err(e) if refused(&e) => {}
            Err(e) => return Err(e),
        }
    }
    let fd = file.as_raw_fd();
    // SAFETY: F_GETFL/F_SETFL on an open descriptor, no pointers involved.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_DIRECT) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    file.write_all_at(&data[done..], done as u64)
}

/// Reads a whole file into `buf` with O_DIRECT. `Ok(false)` when the file is small or its
/// filesystem refuses direct reads: the caller then reads it normally.
pub fn read_file(path: &std::path::Path, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    let size = std::fs::metadata(path)?.len();
    if size < MIN_DIRECT as u64 {
        return Ok(false);
    }
    let Some(file) = open_direct_read(path)? else {
        return Ok(false);
    };
    with_bounce(|bounce| {
        buf.clear();
        let mut pos = 0u64;
        loop {
            // Aligned offset and length; the last read is short at the end of the file.
            let n = match file.read_at(bounce.as_mut_slice(), pos) {
                Ok(n) => n,
                Err(e) if refused(&e) && pos == 0 => return Ok(false),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            buf.extend_from_slice(&bounce.as_slice()[..n]);
            pos += n as u64;
            if n < bounce.len() {
                break;
            }
        }
        if pos != size {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("read {pos} of {size} bytes (the file changed while read?)"),
            ));
        }
        Ok(true)
    })
}

/// Creates `path` (it must not exist) for direct writing with [`write_new_file`]; None when
/// its filesystem refuses O_DIRECT (nothing is created then).
pub fn create_new(path: &std::path::Path) -> std::io::Result<Option<File>> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
    {
        Ok(f) => Ok(Some(f)),
        Err(e) if refused(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Opens `path` for direct reading; None when its filesystem refuses O_DIRECT.
fn open_direct_read(path: &std::path::Path) -> std::io::Result<Option<File>> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
    {
        Ok(f) => Ok(Some(f)),
        Err(e) if refused(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads `len` bytes at `offset` of `path` with O_DIRECT (the aligned span around them, then
/// the wanted part copied out). `Ok(false)` when the range is small or larger than the bounce
/// buffer, or the filesystem refuses: the caller then reads normally. The caller has checked
/// that the range lies inside the file.
pub fn read_range(
    path: &std::path::Path,
    offset: u64,
    len: usize,
    buf: &mut Vec<u8>,
) -> std::io::Result<bool> {
    let a = ALIGN as u64;
    let (start, end) = (offset / a * a, (offset + len as u64).div_ceil(a) * a);
    let span = (end - start) as usize;
    if len < MIN_DIRECT || span > BOUNCE {
        return Ok(false);
    }
    let Some(file) = open_direct_read(path)? else {
        return Ok(false);
    };
    with_bounce(|bounce| {
        let want = (offset - start) as usize + len;
        let mut got = 0;
        while got < want {
            // Short only at the end of the file (the span's last block is partly past it).
            match file.read_at(&mut bounce.as_mut_slice()[got..span], start + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if refused(&e) => return Ok(false),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            // A partial read leaves `got` unaligned; continuing from there would break the
            // alignment rule, so only a read that ends the file may be short.
            if got < want && got % ALIGN != 0 {
                break;
            }
        }
        if got < want {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("{len} bytes at offset {offset}: the file ended early"),
            ));
        }
        let rel = (offset - start) as usize;
        buf.clear();
        buf.extend_from_slice(&bounce.as_slice()[rel..rel + len]);
        Ok(true)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_large_aligned_middle_goes_directly() {
        assert_eq!(aligned_middle(0, 4096), None, "too small");
        assert_eq!(aligned_middle(0, 1 << 20), Some((0, 1 << 20)));
        assert_eq!(
            aligned_middle(512, (1 << 20) + 100),
            Some((4096, 1 << 20)),
            "head and tail left to the cache"
        );
        assert_eq!(
            aligned_middle(100, MIN_DIRECT),
            None,
            "middle below the minimum"
        );
    }

    #[test]
    fn mixed_direct_and_cached_writes_give_the_exact_bytes() {
        let dir = std::env::temp_dir().join(format!("wraith-direct-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("target.img");
        let size = 12u64 << 20;
        let buffered = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        buffered.set_len(size).unwrap();
        // Wherever the test runs (tmpfs refuses O_DIRECT on older kernels), the bytes must be
        // the same: direct or not is invisible except in speed.
        let w = DirectWriter::open(&path);
        let mut expect = vec![0u8; size as usize];
        let writes: [(u64, usize); 5] = [
            (0, 512),
            (512, (5 << 20) + 777),
            (7 << 20, 1 << 20),
            ((9 << 20) + 3, 2 << 20),
            ((5 << 20) + 1289, 4000),
        ];
        for (k, &(off, len)) in writes.iter().enumerate() {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + k * 13 + 1) as u8).collect();
            match &w {
                Some(w) => w.write_all_at(&buffered, &data, off).unwrap(),
                None => buffered.write_all_at(&data, off).unwrap(),
            }
            expect[off as usize..off as usize + len].copy_from_slice(&data);
        }
        buffered.sync_all().unwrap();
        drop(w);
        assert!(std::fs::read(&path).unwrap() == expect, "bytes differ");

        let newf = dir.join("new.pack");
        let data: Vec<u8> = (0..(3 << 20) + 1234).map(|i| (i % 253) as u8).collect();
        let f = match create_new(&newf).unwrap() {
            Some(f) => f,
            None => std::fs::File::create(&newf).unwrap(),
        };
        write_new_file(&f, &data).unwrap();
        f.sync_all().unwrap();
        assert!(std::fs::read(&newf).unwrap() == data, "new file differs");
        let mut back = vec![1, 2, 3];
        if read_file(&newf, &mut back).unwrap() {
            assert!(back == data, "direct read differs");
        }
        // Ranges: unaligned start, unaligned end, up to the file's last byte.
        for (off, len) in [
            (5000usize, 200_000usize),
            (0, 1 << 20),
            (data.len() - 70_000, 70_000),
        ] {
            if read_range(&newf, off as u64, len, &mut back).unwrap() {
                assert!(back == data[off..off + len], "range {off}+{len} differs");
            }
        }
        assert!(
            !read_range(&newf, 0, 100, &mut back).unwrap(),
            "small reads go cached"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

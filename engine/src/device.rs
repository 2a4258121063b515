//! Devices: anything with a length that can be read (and, for targets, written) at offsets.
//! Linux block devices, regular image files, and in-memory buffers for tests.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Random-access reading of untrusted bytes. Parsers take `&dyn ReadAt` so they can run on a
/// real disk, a partition slice or a byte buffer alike.
pub trait ReadAt: Sync {
    /// Fills `buf` from `offset`; reading past the end is an error.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()>;
    fn size(&self) -> u64;

    /// The smallest unit the device reads: what rescue reading narrows a failure down to.
    fn sector_size(&self) -> u64 {
        512
    }

    /// Reads for rescue: past the page cache where the device allows it, so one failing
    /// sector fails alone rather than with the whole cached page around it. `offset` and
    /// `buf.len()` are multiples of [`ReadAt::sector_size`].
    fn read_uncached_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.read_exact_at(buf, offset)
    }

    /// Whether `[offset, offset + len)` is known to read as zeros without being read: a hole
    /// of a sparse image file. False when unknown (block devices, buffers).
    fn is_hole(&self, _offset: u64, _len: u64) -> bool {
        false
    }

    /// The opened disk or file behind this reader, when it is one (not a slice or a buffer).
    fn as_device(&self) -> Option<&Device> {
        None
    }

    /// Convenience: `len` bytes at `offset` as a new buffer (bounded by the device size).
    fn read_vec(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let end = offset.checked_add(len as u64);
        if end.is_none_or(|e| e > self.size()) {
            return Err(Error::corrupt(
                "device",
                offset,
                format!("read of {len} bytes past the end ({} bytes)", self.size()),
            ));
        }
        let mut v = vec![0u8; len];
        self.read_exact_at(&mut v, offset)?;
        Ok(v)
    }
}

impl ReadAt for [u8] {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let start = usize::try_from(offset).ok().filter(|&s| s <= self.len());
        match start.and_then(|s| {
            s.checked_add(buf.len())
                .filter(|&e| e <= self.len())
                .map(|e| (s, e))
        }) {
            Some((s, e)) => {
                buf.copy_from_slice(&self[s..e]);
                Ok(())
            }
            None => Err(Error::corrupt("buffer", offset, "read past the end")),
        }
    }
    fn size(&self) -> u64 {
        self.len() as u64
    }
}

impl ReadAt for Vec<u8> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.as_slice().read_exact_at(buf, offset)
    }
    fn size(&self) -> u64 {
        self.len() as u64
    }
}

/// A window `[offset, offset + len)` of another device: a partition seen as a filesystem.
pub struct Slice<'a> {
    pub dev: &'a dyn ReadAt,
    pub offset: u64,
    pub len: u64,
}

impl ReadAt for Slice<'_> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let end = offset.checked_add(buf.len() as u64);
        if end.is_none_or(|e| e > self.len) {
            return Err(Error::corrupt(
                "partition",
                offset,
                format!(
                    "read of {} bytes past the end of the {}-byte partition",
                    buf.len(),
                    self.len
                ),
            ));
        }
        self.dev.read_exact_at(buf, self.offset + offset)
    }
    fn size(&self) -> u64 {
        self.len
    }
    fn is_hole(&self, offset: u64, len: u64) -> bool {
        offset.checked_add(len).is_some_and(|e| e <= self.len)
            && self.dev.is_hole(self.offset + offset, len)
    }
}

/// What a disk is, independent of the name the kernel gave it this boot.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DiskIdentity {
    pub model: Option<String>,
    pub serial: Option<String>,
    pub size: u64,
    pub logical_sector_size: u64,
    pub physical_sector_size: u64,
    /// The path it was opened by, for messages only.
    pub path: String,
}

impl DiskIdentity {
    /// "Samsung SSD 860 (S3Z9NB0K123456, 500.1 GB)" or the path when the model is unknown.
    pub fn describe(&self) -> String {
        let name = self.model.clone().unwrap_or_else(|| self.path.clone());
        match &self.serial {
            Some(s) => format!("{name} ({s}, {})", crate::human_bytes(self.size)),
            None => format!("{name} ({})", crate::human_bytes(self.size)),
        }
    }
}

/// An opened disk or disk image file.
pub struct Device {
    file: File,
    path: PathBuf,
    size: u64,
    is_block: bool,
    writable: bool,
    pub identity: DiskIdentity,
    /// `st_rdev` for block devices, `(st_dev, st_ino)` for files: equal keys mean the same disk.
    pub key: (u64, u64),
    /// A second, O_DIRECT descriptor, opened on the first rescue read (None inside when the
    /// filesystem refuses O_DIRECT, e.g. tmpfs: rescue then reads through the cache).
    direct: std::sync::OnceLock<Option<File>>,
    /// Targets only: the O_DIRECT descriptor large writes go through (None when the
    /// filesystem refuses O_DIRECT). See [`crate::direct`].
    direct_out: Option<crate::direct::DirectWriter>,
}

nix::ioctl_read!(blk_getsize64, 0x12, 114, u64);
nix::ioctl_read_bad!(blk_sszget, 0x1268, libc::c_int);
nix::ioctl_read_bad!(blk_pbszget, 0x127B, libc::c_uint);
nix::ioctl_write_ptr_bad!(blk_zeroout, 0x127F, [u64; 2]);
nix::ioctl_none!(blk_rrpart, 0x12, 95);

impl Device {
    /// Opens a source: read-only, always. Nothing in the engine can write through it.
    pub fn open_read(path: &Path) -> Result<Device> {
        Self::open(path, false)
    }

    /// Opens a target for writing. Regular files are not created here: the caller decides.
    pub fn open_write(path: &Path) -> Result<Device> {
        Self::open(path, true)
    }

    fn open(path: &Path, write: bool) -> Result<Device> {
        let canonical = std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
        let mut opts = OpenOptions::new();
        opts.read(true).write(write);
        if write {
            // Exclusive open of a block device fails if it is mounted or in use by the kernel.
            let md = std::fs::metadata(&canonical).map_err(|e| Error::io(path, e))?;
            if md.file_type().is_block_device() {
                opts.custom_flags(libc::O_EXCL);
            }
        }
        let file = opts.open(&canonical).map_err(|e| {
            if e.raw_os_error() == Some(libc::EBUSY) {
                Error::refused(
                    crate::error::Interlock::InUse,
                    format!(
                        "{} is in use (mounted or held by the kernel)",
                        path.display()
                    ),
                )
            } else {
                Error::io(path, e)
            }
        })?;
        let md = file.metadata().map_err(|e| Error::io(path, e))?;
        let is_block = md.file_type().is_block_device();
        let (size, lss, pss, key) = if is_block {
            use std::os::fd::AsRawFd;
            let fd = file.as_raw_fd();
            let mut size = 0u64;
            let mut lss: libc::c_int = 512;
            let mut pss: libc::c_uint = 512;
            // SAFETY: the fd is open and the out-pointers are valid for the ioctls' sizes.
            unsafe {
                blk_getsize64(fd, &mut size).map_err(|e| Error::io(path, e.into()))?;
                blk_sszget(fd, &mut lss).map_err(|e| Error::io(path, e.into()))?;
                blk_pbszget(fd, &mut pss).map_err(|e| Error::io(path, e.into()))?;
            }
            (size, lss as u64, pss as u64, (md.rdev(), 0))
        } else if md.file_type().is_file() {
            (md.len(), 512, 512, (md.dev(), md.ino()))
        } else {
            return Err(Error::Invalid(format!(
                "{} is neither a block device nor a regular file",
                path.display()
            )));
        };
        let (model, serial) = if is_block {
            crate::disks::model_serial(md.rdev())
        } else {
            (None, None)
        };
        let direct_out = if write {
            crate::direct::DirectWriter::open(&canonical)
        } else {
            None
        };
        Ok(Device {
            file,
            identity: DiskIdentity {
                model,
                serial,
                size,
                logical_sector_size: lss,
                physical_sector_size: pss,
                path: path.display().to_string(),
            },
            path: canonical,
            size,
            is_block,
            writable: write,
            key,
            direct: std::sync::OnceLock::new(),
            direct_out,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn is_block_device(&self) -> bool {
        self.is_block
    }

    /// Asks the kernel to read a written disk's partition table again, so its new partitions
    /// appear (udev's own re-read on close can run while a loop device the job used over the
    /// disk is still being torn down, and then the old partitions stay). A few tries while the
    /// kernel says busy; an image file has nothing to do.
    pub fn reread_partitions(&self) -> Result<()> {
        if !self.is_block {
            return Ok(());
        }
        use std::os::fd::AsRawFd;
        let mut waits = [100u64, 200, 400, 800, 1500].into_iter();
        loop {
            // SAFETY: the fd is open; BLKRRPART takes no argument.
            match unsafe { blk_rrpart(self.file.as_raw_fd()) } {
                Ok(_) => return Ok(()),
                Err(nix::errno::Errno::EBUSY) => match waits.next() {
                    Some(ms) => std::thread::sleep(std::time::Duration::from_millis(ms)),
                    None => {
                        return Err(Error::io(
                            &self.path,
                            std::io::Error::from_raw_os_error(libc::EBUSY),
                        ))
                    }
                },
                Err(e) => return Err(Error::io(&self.path, std::io::Error::from(e))),
            }
        }
    }
    pub fn sector_size(&self) -> u64 {
        self.identity.logical_sector_size
    }

    /// Whether large writes bypass the page cache (see [`crate::direct`]).
    pub fn writes_directly(&self) -> bool {
        self.direct_out.is_some()
    }

    pub fn write_all_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        if !self.writable {
            return Err(Error::refused(
                crate::error::Interlock::ReadOnly,
                format!("{} was opened read-only", self.path.display()),
            ));
        }
        if offset
            .checked_add(buf.len() as u64)
            .is_none_or(|e| e > self.size)
        {
            return Err(Error::Invalid(format!(
                "write of {} bytes at {offset} past the end of {} ({} bytes)",
                buf.len(),
                self.path.display(),
                self.size
            )));
        }
        match &self.direct_out {
            Some(d) => d.write_all_at(&self.file, buf, offset),
            None => self.file.write_all_at(buf, offset),
        }
        .map_err(|e| Error::io(&self.path, e))
    }

    /// Makes `[offset, offset+len)` read as zeros without sending zeros over the bus where the
    /// device can do it itself: BLKZEROOUT on block devices, a punched hole in files.
    pub fn zero_range(&self, offset: u64, len: u64) -> Result<()> {
        if len == 0 {
            return Ok(());
        }
        if !self.writable {
            return Err(Error::refused(
                crate::error::Interlock::ReadOnly,
                format!("{} was opened read-only", self.path.display()),
            ));
        }
        use std::os::fd::AsRawFd;
        let fd = self.file.as_raw_fd();
        let done = if self.is_block {
            let range = [offset, len];
            // SAFETY: fd is open; the range array lives across the call.
            unsafe { blk_zeroout(fd, &range) }.is_ok()
        } else {
            nix::fcntl::fallocate(
                fd,
                nix::fcntl::FallocateFlags::FALLOC_FL_PUNCH_HOLE
                    | nix::fcntl::FallocateFlags::FALLOC_FL_KEEP_SIZE,
                offset as i64,
                len as i64,
            )
            .is_ok()
        };
        if !done {
            // Fallback for devices and filesystems that cannot: plain zero writes.
            let zeros = vec![0u8; (len.min(1 << 20)) as usize];
            let mut pos = offset;
            while pos < offset + len {
                let n = (offset + len - pos).min(zeros.len() as u64) as usize;
                self.write_all_at(&zeros[..n], pos)?;
                pos += n as u64;
            }
        }
        Ok(())
    }

    /// Copies `len` bytes at `src_offset` of `src` to `offset` of this file inside the kernel
    /// (copy_file_range): one page-cache copy instead of a read and a write through user
    /// memory, and no copy at all where the filesystem shares extents (XFS, btrfs).
    /// `Ok(false)` when the kernel cannot do it for these two files (block devices, two
    /// filesystems): the caller copies through memory instead.
    pub fn copy_in_kernel(
        &self,
        src: &Device,
        src_offset: u64,
        offset: u64,
        len: u64,
    ) -> Result<bool> {
        if self.is_block || src.is_block || !self.writable {
            return Ok(false);
        }
        if offset.checked_add(len).is_none_or(|e| e > self.size)
            || src_offset.checked_add(len).is_none_or(|e| e > src.size)
        {
            return Err(Error::Invalid(format!(
                "copy of {len} bytes from {src_offset} of {} to {offset} of {} is out of bounds",
                src.path.display(),
                self.path.display()
            )));
        }
        use std::os::fd::AsRawFd;
        let (mut from, mut to, mut left) = (src_offset as i64, offset as i64, len as usize);
        while left > 0 {
            // SAFETY: both descriptors are open; the offset pointers live across the call.
            let n = unsafe {
                libc::copy_file_range(
                    src.file.as_raw_fd(),
                    &mut from,
                    self.file.as_raw_fd(),
                    &mut to,
                    left,
                    0,
                )
            };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                return match e.raw_os_error() {
                    Some(
                        libc::EXDEV | libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP | libc::EBADF,
                    ) => Ok(false),
                    _ => Err(Error::io(&src.path, e)),
                };
            }
            if n == 0 {
                return Err(Error::io(
                    &src.path,
                    std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "source ended early"),
                ));
            }
            left -= n as usize;
        }
        Ok(true)
    }

    /// Flushes everything written to stable storage.
    pub fn sync(&self) -> Result<()> {
        self.file.sync_all().map_err(|e| Error::io(&self.path, e))
    }
}

impl ReadAt for Device {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| Error::io(&self.path, e))
    }
    fn size(&self) -> u64 {
        self.size
    }
    fn sector_size(&self) -> u64 {
        self.identity.logical_sector_size.max(512)
    }
    fn as_device(&self) -> Option<&Device> {
        Some(self)
    }
    fn is_hole(&self, offset: u64, len: u64) -> bool {
        // A sparse image file (a 64 GiB disk with 1 GiB used) can have gigabytes of holes that
        // its filesystem counts as used (never-initialised inode tables): asking where the
        // data is costs one lseek, reading a hole costs zero-filling every page of it.
        if self.is_block || len == 0 || offset >= self.size {
            return false;
        }
        use std::os::fd::AsRawFd;
        let Ok(start) = libc::off_t::try_from(offset) else {
            return false;
        };
        // SAFETY: lseek on an open descriptor. It moves the file position, which nothing here
        // uses: every read and write is positioned (pread/pwrite).
        let data = unsafe { libc::lseek(self.file.as_raw_fd(), start, libc::SEEK_DATA) };
        if data < 0 {
            // ENXIO: no data from `offset` to the end of the file. Anything else (a filesystem
            // without SEEK_DATA): unknown.
            return std::io::Error::last_os_error().raw_os_error() == Some(libc::ENXIO);
        }
        data as u64 >= offset.saturating_add(len)
    }
    fn read_uncached_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let direct = self.direct.get_or_init(|| {
            OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECT)
                .open(&self.path)
                .ok()
        });
        let Some(direct) = direct else {
            return self.read_exact_at(buf, offset);
        };
        // O_DIRECT needs a buffer aligned to the logical block size; 4 KiB covers all disks.
        let mut bounce = crate::direct::AlignedBuf::new(buf.len());
        direct
            .read_exact_at(bounce.as_mut_slice(), offset)
            .map_err(|e| Error::io(&self.path, e))?;
        buf.copy_from_slice(bounce.as_mut_slice());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_never_taken_for_a_hole() {
        let f = tempfile::NamedTempFile::new().expect("temp file");
        f.as_file().set_len(8 << 20).expect("size");
        f.as_file()
            .write_all_at(&[7u8; 4096], 4 << 20)
            .expect("write");
        let dev = Device::open_read(f.path()).expect("open");
        assert!(!dev.is_hole(4 << 20, 4096));
        assert!(!dev.is_hole(0, 8 << 20), "the range holds data");
        assert!(!dev.is_hole(8 << 20, 1), "past the end is not known");
        // Where the filesystem reports holes (ext4, tmpfs, xfs, btrfs do), they are found.
        if dev.is_hole(0, 1 << 20) {
            assert!(dev.is_hole(5 << 20, 3 << 20));
            let part = Slice {
                dev: &dev,
                offset: 1 << 20,
                len: 4 << 20,
            };
            assert!(part.is_hole(0, 3 << 20));
            assert!(!part.is_hole(0, 4 << 20));
            assert!(!part.is_hole(4 << 20, 1 << 20), "outside the slice");
        }
    }
}

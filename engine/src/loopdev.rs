//! Loop devices over a byte range of a file or a block device, made by the engine itself with
//! the kernel's loop ioctls (no losetup: busybox's cannot limit the size). A filesystem resize
//! tool needs the filesystem alone as a device starting at its first byte; a partition of a
//! target that may be an image file, or whose kernel partition table is not re-read yet, is
//! given to it this way.
//!
//! Must not: leave a device attached (detached when dropped, and marked autoclear so a killed
//! job leaves nothing behind once the last opener is gone), or attach over anything the caller
//! did not pass the interlocks for.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;
const LOOP_CONFIGURE: libc::c_ulong = 0x4C0A;
const LOOP_CLR_FD: libc::c_ulong = 0x4C01;
/// Detached by the kernel when the last opener closes it.
const LO_FLAGS_AUTOCLEAR: u32 = 4;
const LO_FLAGS_READ_ONLY: u32 = 1;
const LOOP_MAJOR: u64 = 7;

/// `struct loop_info64` of <linux/loop.h>.
#[repr(C)]
struct LoopInfo64 {
    device: u64,
    inode: u64,
    rdevice: u64,
    offset: u64,
    sizelimit: u64,
    number: u32,
    encrypt_type: u32,
    encrypt_key_size: u32,
    flags: u32,
    file_name: [u8; 64],
    crypt_name: [u8; 64],
    encrypt_key: [u8; 32],
    init: [u64; 2],
}

/// `struct loop_config` of <linux/loop.h> (LOOP_CONFIGURE, Linux 5.8+).
#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

/// An attached loop device; detached when dropped.
#[derive(Debug)]
pub struct LoopDev {
    path: PathBuf,
    file: File,
}

impl LoopDev {
    /// `len` bytes at `offset` of `backing`, read-write.
    pub fn attach(backing: &Path, offset: u64, len: u64) -> Result<LoopDev> {
        Self::attach_with(backing, offset, len, true)
    }

    /// `len` bytes at `offset` of `backing`, read-only: the backing is opened for reading
    /// only (a read-only file, a FUSE file serving an image) and the device refuses writes.
    pub fn attach_readonly(backing: &Path, offset: u64, len: u64) -> Result<LoopDev> {
        Self::attach_with(backing, offset, len, false)
    }

    fn attach_with(backing: &Path, offset: u64, len: u64, writable: bool) -> Result<LoopDev> {
        let what =
            |e: std::io::Error| Error::io(format!("loop device over {}", backing.display()), e);
        let flags = if writable {
            LO_FLAGS_AUTOCLEAR
        } else {
            LO_FLAGS_AUTOCLEAR | LO_FLAGS_READ_ONLY
        };
        let back = OpenOptions::new()
            .read(true)
            .write(writable)
            .open(backing)
            .map_err(what)?;
        let ctl = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/loop-control")
            .map_err(what)?;
        // Another process may take the free device between asking and configuring: ask again.
        for _ in 0..16 {
            // SAFETY: LOOP_CTL_GET_FREE takes no argument and returns a device number.
            let n = unsafe { libc::ioctl(ctl.as_raw_fd(), LOOP_CTL_GET_FREE) };
            if n < 0 {
                return Err(what(std::io::Error::last_os_error()));
            }
            let path = PathBuf::from(format!("/dev/loop{n}"));
            ensure_node(&path, n as u64).map_err(what)?;
            let dev = OpenOptions::new()
                .read(true)
                .write(writable)
                .open(&path)
                .map_err(what)?;
            let mut cfg = LoopConfig {
                fd: back.as_raw_fd() as u32,
                block_size: 0,
                info: LoopInfo64 {
                    device: 0,
                    inode: 0,
                    rdevice: 0,
                    offset,
                    sizelimit: len,
                    number: 0,
                    encrypt_type: 0,
                    encrypt_key_size: 0,
                    flags,
                    file_name: [0; 64],
                    crypt_name: [0; 64],
                    encrypt_key: [0; 32],
                    init: [0; 2],
                },
                reserved: [0; 8],
            };
            let name = backing.as_os_str().as_encoded_bytes();
            let n_copy = name.len().min(63);
            cfg.info.file_name[..n_copy].copy_from_slice(&name[..n_copy]);
            // SAFETY: `cfg` is a valid loop_config that outlives the call.
            let rc = unsafe { libc::ioctl(dev.as_raw_fd(), LOOP_CONFIGURE, &mut cfg) };
            if rc == 0 {
                return Ok(LoopDev { path, file: dev });
            }
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EBUSY) {
                return Err(what(err));
            }
        }
        Err(Error::io(
            format!("loop device over {}", backing.display()),
            std::io::Error::other("every free loop device was taken by others"),
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LoopDev {
    fn drop(&mut self) {
        // SAFETY: LOOP_CLR_FD takes no argument. Autoclear would also detach on close.
        unsafe { libc::ioctl(self.file.as_raw_fd(), LOOP_CLR_FD, 0) };
    }
}

/// Containers and minimal systems may lack the node of a freshly allocated loop device.
fn ensure_node(path: &Path, n: u64) -> std::io::Result<()> {
    if path.exists() {
        return Ok(());
    }
    let dev = libc::makedev(LOOP_MAJOR as u32, n as u32);
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(std::io::Error::other)?;
    // SAFETY: a valid C string path; mknod only creates a node.
    if unsafe { libc::mknod(c.as_ptr(), libc::S_IFBLK | 0o600, dev) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            return Err(e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::FileExt;

    #[test]
    fn a_range_of_a_file_is_its_own_device() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: loop devices need root");
            return;
        }
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("disk");
        let mut f = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("{e}"));
        f.write_all(&vec![0u8; 3 << 20])
            .unwrap_or_else(|e| panic!("{e}"));
        f.write_all_at(b"inside", 1 << 20)
            .unwrap_or_else(|e| panic!("{e}"));
        let l = LoopDev::attach(&path, 1 << 20, 1 << 20).unwrap_or_else(|e| panic!("{e}"));
        let dev = File::options()
            .read(true)
            .write(true)
            .open(l.path())
            .unwrap_or_else(|e| panic!("{e}"));
        let mut buf = [0u8; 6];
        dev.read_exact_at(&mut buf, 0)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&buf, b"inside");
        let size = crate::device::Device::open_read(l.path())
            .map(|d| crate::device::ReadAt::size(&d))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(size, 1 << 20, "the device ends where the range ends");
        dev.write_all_at(b"written", 10)
            .unwrap_or_else(|e| panic!("{e}"));
        dev.sync_all().unwrap_or_else(|e| panic!("{e}"));
        drop(dev);
        drop(l);
        let mut back = [0u8; 7];
        f.read_exact_at(&mut back, (1 << 20) + 10)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&back, b"written");
    }
}

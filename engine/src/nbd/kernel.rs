//! An export given to the kernel's own NBD driver, so a saved image appears as a block device
//! (`/dev/nbdN`) that the kernel can mount from. We are both ends: one end of a socket pair goes
//! to the driver through its ioctl interface (what nbd-client does after its handshake), the
//! other is served in transmission mode by our server. No handshake is needed, and no
//! nbd-client binary.
//!
//! Must not: take a device another process uses (a device counts as free only while the kernel
//! shows no size and no serving pid, and the driver itself refuses a second socket), or leave
//! the device connected when dropped. A killed process needs nothing undone: the driver
//! notices the closed socket, and the device frees itself once the last opener has gone.

use super::{serve_transmission, Export, Notice};
use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

// <linux/nbd.h>: _IO(0xab, n).
const NBD_SET_SOCK: libc::c_ulong = 0xab00;
const NBD_SET_BLKSIZE: libc::c_ulong = 0xab01;
const NBD_DO_IT: libc::c_ulong = 0xab03;
const NBD_CLEAR_SOCK: libc::c_ulong = 0xab04;
const NBD_SET_SIZE_BLOCKS: libc::c_ulong = 0xab07;
const NBD_DISCONNECT: libc::c_ulong = 0xab08;
const NBD_SET_FLAGS: libc::c_ulong = 0xab0a;

const BLOCK: u64 = 512;
/// How long the driver may take to show the started device.
const START_WAIT: Duration = Duration::from_secs(10);

/// An export attached to `/dev/nbdN`; disconnected when dropped.
pub struct KernelNbd {
    path: PathBuf,
    dev: Arc<File>,
    doit: Option<JoinHandle<()>>,
    server: Option<JoinHandle<()>>,
}

/// Whether this kernel has the NBD driver (built in, or loadable: it is asked for).
pub fn available() -> bool {
    if Path::new("/sys/block/nbd0").exists() {
        return true;
    }
    // Debian's kernels build it as a module; the live system's tiny kernel has it built in.
    let _ = std::process::Command::new("modprobe")
        .arg("nbd")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    Path::new("/sys/block/nbd0").exists()
}

/// Devices the kernel offers, in number order.
fn devices() -> Vec<u32> {
    let mut found: Vec<u32> = std::fs::read_dir("/sys/block")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("nbd")?.parse().ok())
        .collect();
    found.sort_unstable();
    found
}

fn sys(n: u32, what: &str) -> Option<String> {
    std::fs::read_to_string(format!("/sys/block/nbd{n}/{what}"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// Whether the driver shows device `n` in use: a size, or a serving process.
fn busy(n: u32) -> bool {
    sys(n, "pid").is_some() || sys(n, "size").is_some_and(|s| s != "0")
}

/// A minimal system may lack the node: make it from the number the kernel gives.
fn ensure_node(n: u32) -> std::io::Result<PathBuf> {
    let path = PathBuf::from(format!("/dev/nbd{n}"));
    if path.exists() {
        return Ok(path);
    }
    let dev = sys(n, "dev").ok_or_else(|| std::io::Error::other("no device number"))?;
    let (major, minor) = dev
        .split_once(':')
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
        .ok_or_else(|| std::io::Error::other(format!("device number {dev:?}")))?;
    nix::sys::stat::mknod(
        &path,
        nix::sys::stat::SFlag::S_IFBLK,
        nix::sys::stat::Mode::from_bits_truncate(0o600),
        nix::sys::stat::makedev(major, minor),
    )?;
    Ok(path)
}

fn ioctl(dev: &File, request: libc::c_ulong, arg: libc::c_ulong) -> std::io::Result<()> {
    // SAFETY: every NBD ioctl used here takes an integer argument (or none), no pointer.
    let rc = unsafe { libc::ioctl(dev.as_raw_fd(), request, arg) };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl KernelNbd {
    /// Gives `export` to the first free NBD device and returns once the kernel shows it.
    pub fn attach(
        export: Arc<Export>,
        notify: Arc<dyn Fn(Notice) + Send + Sync>,
    ) -> Result<KernelNbd> {
        let what = |e: std::io::Error| Error::io("kernel NBD device", e);
        if export.size() < BLOCK {
            return Err(what(std::io::Error::other(
                "the disk is smaller than a sector",
            )));
        }
        let all = devices();
        if all.is_empty() {
            return Err(what(std::io::Error::other(
                "this kernel has no NBD driver (no nbd module to load)",
            )));
        }
        let mut last = None;
        for n in all {
            if busy(n) {
                continue;
            }
            match Self::try_attach(n, &export, &notify) {
                Ok(k) => return Ok(k),
                // Taken by another process between the look and the ioctl: try the next one.
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => last = Some(e),
                Err(e) => return Err(Error::io(format!("/dev/nbd{n}"), e)),
            }
        }
        Err(what(last.unwrap_or_else(|| {
            std::io::Error::other("every NBD device is in use (the driver's nbds_max)")
        })))
    }

    fn try_attach(
        n: u32,
        export: &Arc<Export>,
        notify: &Arc<dyn Fn(Notice) + Send + Sync>,
    ) -> std::io::Result<KernelNbd> {
        let path = ensure_node(n)?;
        let dev = Arc::new(OpenOptions::new().read(true).write(true).open(&path)?);
        let (ours, theirs) = UnixStream::pair()?;
        ioctl(&dev, NBD_SET_BLKSIZE, BLOCK as libc::c_ulong)?;
        ioctl(
            &dev,
            NBD_SET_SIZE_BLOCKS,
            (export.size() / BLOCK) as libc::c_ulong,
        )?;
        ioctl(&dev, NBD_SET_FLAGS, libc::c_ulong::from(export.flags()))?;
        ioctl(&dev, NBD_SET_SOCK, theirs.as_raw_fd() as libc::c_ulong)?;
        // The driver holds its own reference to the socket now.
        drop(theirs);

        let server = {
            let export = export.clone();
            let notify = notify.clone();
            let client = format!("kernel /dev/nbd{n}");
            std::thread::spawn(move || {
                let Ok(r) = ours.try_clone() else { return };
                let r = std::io::BufReader::with_capacity(64 << 10, r);
                let w = std::io::BufWriter::with_capacity(64 << 10, &ours);
                let why = serve_transmission(r, w, &export, &client, &|x| notify(x));
                notify(Notice::Disconnected {
                    client,
                    reason: why,
                });
            })
        };
        // NBD_DO_IT starts the device and blocks until it is disconnected.
        let doit = {
            let dev = dev.clone();
            std::thread::spawn(move || {
                let _ = ioctl(&dev, NBD_DO_IT, 0);
            })
        };
        let k = KernelNbd {
            path,
            dev,
            doit: Some(doit),
            server: Some(server),
        };
        let start = Instant::now();
        while !busy(n) {
            if k.doit.as_ref().is_some_and(|t| t.is_finished()) || start.elapsed() > START_WAIT {
                return Err(std::io::Error::other("the kernel did not start the device"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(k)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for KernelNbd {
    fn drop(&mut self) {
        // The driver sends NBD_CMD_DISC, our server ends, the closed socket ends NBD_DO_IT.
        let _ = ioctl(&self.dev, NBD_DISCONNECT, 0);
        if let Some(t) = self.server.take() {
            let _ = t.join();
        }
        if let Some(t) = self.doit.take() {
            let _ = t.join();
        }
        let _ = ioctl(&self.dev, NBD_CLEAR_SOCK, 0);
    }
}

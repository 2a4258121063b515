//! A saved image shown as a directory: `DIR` becomes a small read-only tmpfs holding `disk`
//! (the whole disk, read-only) and one sub-directory per partition (`p1`, `p2`, …) where the
//! kernel mounts that partition read-only, or, where it cannot (no driver, a filesystem too
//! damaged for it), ntfs-3g / fuse2fs, else Wraith's own filesystem readers through FUSE. The disk comes from the kernel's NBD driver when the kernel has one (the live
//! system), else from our FUSE server as one file; read-only loop devices cut the partitions
//! out of it at the offsets the image records, so no partition table is re-read.
//!
//! Must not: write the image, the repository or anything under `DIR` but our own tmpfs; mount
//! anything read-write (ext journals are not replayed: `noload`); leave anything mounted when
//! dropped; or leave behind, when the serving process is killed, anything that
//! [`unmount_dir`] cannot remove (everything lives under `DIR`, and loop devices clear
//! themselves once unmounted).

use crate::device::ReadAt;
use crate::device::Slice;
use crate::error::{Error, Result};
use crate::fs::FsKind;
use crate::fuse::{FuseFile, FuseNotice, FuseTree};
use crate::loopdev::LoopDev;
use crate::nbd::kernel::KernelNbd;
use crate::nbd::{Export, Notice};
use crate::plan::{Region, RegionKind};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The file in `DIR` saying who serves it, for [`unmount_dir`].
pub const STATE_FILE: &str = ".wraith-mount";
/// Where the FUSE server shows the disk, inside `DIR`.
const FUSE_DIR: &str = ".wraith-disk";

/// How the whole disk reaches the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// NBD where the kernel has it, else FUSE.
    Auto,
    Nbd,
    Fuse,
}

/// Something the serving side tells the user interface while the image is mounted.
#[derive(Clone, Debug)]
pub enum MountNotice {
    /// A read of the disk failed (a damaged or missing chunk): the reader got EIO.
    ReadFailed {
        offset: u64,
        len: u64,
        error: String,
    },
    /// A file of a partition served by Wraith's own reader could not be read (`path` from
    /// that partition's root).
    FileUnreadable { path: String, error: String },
    /// An entry left out of a listing: its name is one the kernel cannot take.
    Skipped { path: String, why: String },
}

/// One partition's sub-directory and what became of it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PartMount {
    /// 0 for a disk without a partition table (the filesystem fills the disk).
    pub number: u32,
    pub dir: PathBuf,
    pub start: u64,
    pub len: u64,
    /// The filesystem the image recorded, when it knew it.
    pub fs: Option<String>,
    pub label: Option<String>,
    /// What mounted it ("ext4", "fuse2fs", …), when it is mounted.
    pub mounted_by: Option<String>,
    /// Why it is not mounted.
    pub error: Option<String>,
}

enum Backing {
    Nbd(KernelNbd),
    Fuse(FuseFile),
}

impl Backing {
    fn path(&self) -> PathBuf {
        match self {
            Backing::Nbd(k) => k.path().to_path_buf(),
            Backing::Fuse(f) => f.file(),
        }
    }
    fn via(&self) -> &'static str {
        match self {
            Backing::Nbd(_) => "NBD",
            Backing::Fuse(_) => "FUSE",
        }
    }
}

/// A mounted image; everything is unmounted when dropped.
pub struct ImageMount {
    dir: PathBuf,
    disk_path: PathBuf,
    parts: Vec<PartMount>,
    loops: Vec<LoopDev>,
    /// Partitions served by Wraith's own readers.
    trees: Vec<FuseTree>,
    backing: Option<Backing>,
    tmpfs: bool,
}

impl ImageMount {
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// The whole disk: `/dev/nbdN`, or the FUSE file.
    pub fn disk(&self) -> &Path {
        &self.disk_path
    }
    /// "NBD" or "FUSE".
    pub fn via(&self) -> &'static str {
        self.backing.as_ref().map_or("", Backing::via)
    }
    pub fn parts(&self) -> &[PartMount] {
        &self.parts
    }
}

/// Mounts `disk` (a saved image read lazily) at `dir`, an existing empty directory, with one
/// sub-directory per partition of `regions`. `image` is recorded in the state file for people.
pub fn mount_image(
    disk: Arc<dyn ReadAt + Send + Sync>,
    regions: &[Region],
    dir: &Path,
    image: &str,
    via: Via,
    notify: Arc<dyn Fn(MountNotice) + Send + Sync>,
) -> Result<ImageMount> {
    let dir = check_dir(dir)?;
    mount(
        Some("wraith"),
        &dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=0755,size=1m"),
    )
    .map_err(|e| mount_err(&dir, "a small tmpfs", e))?;
    let mut m = ImageMount {
        dir: dir.clone(),
        disk_path: PathBuf::new(),
        parts: Vec::new(),
        loops: Vec::new(),
        trees: Vec::new(),
        backing: None,
        tmpfs: true,
    };
    // Written first, so that `umount` finds whose it is even if what follows fails halfway.
    write_state(&dir, image, None)?;
    attach_disk(&mut m, disk.clone(), via, notify.clone())?;
    m.disk_path = m.backing.as_ref().map(Backing::path).unwrap_or_default();
    std::os::unix::fs::symlink(&m.disk_path, dir.join("disk"))
        .map_err(|e| Error::io(dir.join("disk"), e))?;
    write_state(&dir, image, Some(&m.disk_path))?;

    for r in regions {
        let number = match r.kind {
            RegionKind::Partition { number } => number,
            RegionKind::WholeDisk if r.fs.is_some() => 0,
            _ => continue,
        };
        let sub = dir.join(if number == 0 {
            "fs".to_string()
        } else {
            format!("p{number}")
        });
        std::fs::create_dir(&sub).map_err(|e| Error::io(&sub, e))?;
        let mut part = PartMount {
            number,
            dir: sub,
            start: r.start,
            len: r.len,
            fs: r.fs.as_ref().map(|f| f.kind.name().to_string()),
            label: r.fs.as_ref().and_then(|f| f.label.clone()),
            mounted_by: None,
            error: None,
        };
        let kind = r.fs.as_ref().map(|f| f.kind);
        let tried = LoopDev::attach_readonly(&m.disk_path, r.start, r.len)
            .map_err(|e| e.to_string())
            .and_then(|lo| {
                let by = mount_part(lo.path(), &part.dir, kind)?;
                m.loops.push(lo);
                Ok(by)
            });
        match tried {
            Ok(by) => part.mounted_by = Some(by),
            // Where neither the kernel nor a helper could (no driver, or a filesystem too
            // damaged for them), Wraith's own readers may still show the files.
            Err(e) if kind.is_some() => {
                let bytes = Arc::new(PartBytes {
                    disk: disk.clone(),
                    start: r.start,
                    len: r.len,
                });
                match FuseTree::mount(&part.dir, bytes, fuse_notice(&notify)) {
                    Ok(t) => {
                        part.mounted_by = Some("wraith".into());
                        m.trees.push(t);
                    }
                    Err(ours) => part.error = Some(format!("{e}; Wraith's own reader: {ours}")),
                }
            }
            Err(e) => part.error = Some(e),
        }
        m.parts.push(part);
    }
    // Nothing more is made in DIR: people browse it, they do not write into it.
    let _ = mount(
        None::<&str>,
        &dir,
        None::<&str>,
        MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV
            | MsFlags::MS_NOEXEC,
        None::<&str>,
    );
    Ok(m)
}

fn mount_err(what: &Path, how: &str, e: nix::errno::Errno) -> Error {
    Error::io(
        what,
        std::io::Error::other(format!("mounting {how}: {}", e.desc())),
    )
}

/// `dir` made absolute, refused unless it is an empty directory that nothing is mounted on.
fn check_dir(dir: &Path) -> Result<PathBuf> {
    let abs = std::fs::canonicalize(dir).map_err(|e| Error::io(dir, e))?;
    if !abs.is_dir() {
        return Err(Error::io(dir, std::io::Error::other("not a directory")));
    }
    if is_mount_point(&abs) {
        return Err(Error::io(
            dir,
            std::io::Error::other(
                "something is mounted there already (an image? `wraith umount` it first)",
            ),
        ));
    }
    let mut entries = std::fs::read_dir(&abs).map_err(|e| Error::io(dir, e))?;
    if entries.next().is_some() {
        return Err(Error::io(
            dir,
            std::io::Error::other("not empty: mount an image on an empty directory"),
        ));
    }
    Ok(abs)
}

fn write_state(dir: &Path, image: &str, disk: Option<&Path>) -> Result<()> {
    let state = serde_json::json!({
        "pid": std::process::id(),
        "image": image,
        "disk": disk,
    });
    let path = dir.join(STATE_FILE);
    std::fs::write(&path, format!("{state}\n")).map_err(|e| Error::io(&path, e))
}

fn attach_disk(
    m: &mut ImageMount,
    disk: Arc<dyn ReadAt + Send + Sync>,
    via: Via,
    notify: Arc<dyn Fn(MountNotice) + Send + Sync>,
) -> Result<()> {
    let use_nbd = match via {
        Via::Nbd => true,
        Via::Fuse => false,
        Via::Auto => crate::nbd::kernel::available(),
    };
    if use_nbd {
        let export = Arc::new(Export {
            name: "wraith".into(),
            description: String::new(),
            disk,
            overlay: None,
        });
        let n = notify.clone();
        let nbd = KernelNbd::attach(
            export,
            Arc::new(move |x| {
                if let Notice::ReadFailed {
                    offset, len, error, ..
                } = x
                {
                    n(MountNotice::ReadFailed { offset, len, error })
                }
            }),
        )?;
        m.backing = Some(Backing::Nbd(nbd));
    } else {
        let point = m.dir.join(FUSE_DIR);
        std::fs::create_dir(&point).map_err(|e| Error::io(&point, e))?;
        let fuse = FuseFile::mount(&point, "disk", disk, fuse_notice(&notify)).map_err(|e| {
            Error::Unsupported(format!(
                "this kernel has no NBD driver, and FUSE did not work either: {e}"
            ))
        })?;
        m.backing = Some(Backing::Fuse(fuse));
    }
    Ok(())
}

/// The FUSE servers' notices, as ours.
fn fuse_notice(
    notify: &Arc<dyn Fn(MountNotice) + Send + Sync>,
) -> Arc<dyn Fn(FuseNotice) + Send + Sync> {
    let n = notify.clone();
    Arc::new(move |x| {
        n(match x {
            FuseNotice::ReadFailed { offset, len, error } => {
                MountNotice::ReadFailed { offset, len, error }
            }
            FuseNotice::FileUnreadable { path, error } => {
                MountNotice::FileUnreadable { path, error }
            }
            FuseNotice::Skipped { path, why } => MountNotice::Skipped { path, why },
        })
    })
}

/// One partition's bytes of a shared disk, owned, for a server thread.
struct PartBytes {
    disk: Arc<dyn ReadAt + Send + Sync>,
    start: u64,
    len: u64,
}

impl PartBytes {
    fn slice(&self) -> Slice<'_> {
        Slice {
            dev: self.disk.as_ref(),
            offset: self.start,
            len: self.len,
        }
    }
}

impl ReadAt for PartBytes {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.slice().read_exact_at(buf, offset)
    }
    fn size(&self) -> u64 {
        self.len
    }
    fn is_hole(&self, offset: u64, len: u64) -> bool {
        self.slice().is_hole(offset, len)
    }
}

/// The kernel's filesystem types to try, with their read-only options, for what the image
/// recorded; for a partition it copied raw (a filesystem it does not read), every type the
/// kernel may know, so that XFS or btrfs still open on a kernel that has them.
fn candidates(kind: Option<FsKind>) -> &'static [(&'static str, &'static str)] {
    match kind {
        // noload: a journal needing replay is not replayed (it could not be: read-only).
        Some(FsKind::Ext2 | FsKind::Ext3 | FsKind::Ext4) => &[("ext4", "noload")],
        Some(FsKind::Fat12 | FsKind::Fat16 | FsKind::Fat32) => &[("vfat", "utf8")],
        Some(FsKind::Ntfs) => &[("ntfs3", "")],
        None => &[
            ("ext4", "noload"),
            ("xfs", "norecovery"),
            ("btrfs", "nologreplay"),
            ("exfat", ""),
            ("vfat", "utf8"),
            ("ntfs3", ""),
            ("iso9660", ""),
            ("udf", ""),
        ],
    }
}

/// Mounts the partition on `dev` read-only at `point`; says what mounted it, or why nothing
/// could.
fn mount_part(
    dev: &Path,
    point: &Path,
    kind: Option<FsKind>,
) -> std::result::Result<String, String> {
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let mut no_driver = Vec::new();
    let mut last = None;
    for &(fstype, options) in candidates(kind) {
        match mount(Some(dev), point, Some(fstype), flags, Some(options)) {
            Ok(()) => return Ok(fstype.to_string()),
            Err(nix::errno::Errno::ENODEV) => no_driver.push(fstype),
            Err(e) => last = Some(format!("{fstype}: {}", e.desc())),
        }
    }
    // A kernel without the filesystem: a FUSE helper, where one is installed.
    let helper = match kind {
        Some(FsKind::Ext2 | FsKind::Ext3 | FsKind::Ext4) => Some(("fuse2fs", "ro,norecovery")),
        Some(FsKind::Ntfs) => Some(("ntfs-3g", "ro")),
        _ => None,
    };
    if let Some((tool, options)) = helper.filter(|_| !no_driver.is_empty()) {
        let out = std::process::Command::new(tool)
            .arg(dev)
            .arg(point)
            .args(["-o", options])
            .stdin(std::process::Stdio::null())
            .output();
        return match out {
            Ok(o) if o.status.success() => Ok(tool.to_string()),
            Ok(o) => Err(format!(
                "{tool}: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(_) => Err(format!(
                "this kernel has no {} driver and {tool} is not installed",
                no_driver.join("/")
            )),
        };
    }
    Err(match (kind, last) {
        (Some(_), Some(e)) => e,
        (None, _) => "no filesystem this kernel can mount (the image copied it raw)".into(),
        (Some(_), None) => format!("this kernel has no {} driver", no_driver.join("/")),
    })
}

impl Drop for ImageMount {
    fn drop(&mut self) {
        nix::unistd::sync();
        for p in self.parts.iter().rev() {
            if p.mounted_by.is_some() {
                unmount_one(&p.dir, true);
            }
        }
        // Loops go before the disk under them, the disk before the tmpfs it shows in.
        self.trees.clear();
        self.loops.clear();
        self.backing = None;
        if self.tmpfs {
            unmount_one(&self.dir, true);
        }
    }
}

/// Unmounts `point`; busy, it is detached from the tree when `lazy` (its users keep what they
/// have open, and nothing new reaches it). Returns whether it is gone from the tree.
fn unmount_one(point: &Path, lazy: bool) -> bool {
    match umount2(point, MntFlags::empty()) {
        Ok(()) => true,
        Err(nix::errno::Errno::EBUSY) if lazy => umount2(point, MntFlags::MNT_DETACH).is_ok(),
        Err(_) => false,
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> PathBuf {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(out))
}

/// Whether something is mounted on `dir` (an absolute path).
pub fn is_mount_point(dir: &Path) -> bool {
    mounts_at_or_under(dir).iter().any(|p| p == dir)
}

/// Mount points at `dir` or below it, deepest (latest mounted) first.
fn mounts_at_or_under(dir: &Path) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape)
        .filter(|p| p.starts_with(dir))
        .collect();
    out.reverse();
    out
}

/// What [`unmount_dir`] did.
#[derive(Debug, Default, serde::Serialize)]
pub struct Unmounted {
    /// Mounts removed.
    pub mounts: usize,
    /// The serving process, when it was still running and has now stopped.
    pub stopped_pid: Option<u32>,
}

/// Removes an image mounted at `dir` by [`mount_image`], whether its serving process still
/// runs or was killed: every mount at or below `dir` (partitions, the FUSE disk, the tmpfs),
/// then the serving process is asked to stop. A partition in use is refused unless `lazy`.
pub fn unmount_dir(dir: &Path, lazy: bool) -> Result<Unmounted> {
    let abs = std::fs::canonicalize(dir).map_err(|e| Error::io(dir, e))?;
    let state = std::fs::read_to_string(abs.join(STATE_FILE)).ok();
    let mounts = mounts_at_or_under(&abs);
    if state.is_none() || !mounts.iter().any(|p| p == &abs) {
        return Err(Error::io(
            dir,
            std::io::Error::other("no image is mounted here (by `wraith mount`)"),
        ));
    }
    let pid = state
        .as_deref()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
        .and_then(|v| v["pid"].as_u64())
        .map(|p| p as u32);
    nix::unistd::sync();
    let mut done = Unmounted::default();
    let ours = |p: &Path| p == abs || p == abs.join(FUSE_DIR);
    // Partitions first: one that a program still uses is refused (or detached with `lazy`)
    // before anything else is undone.
    for p in mounts.iter().filter(|p| !ours(p)) {
        match umount2(p.as_path(), MntFlags::empty()) {
            Ok(()) => {}
            Err(nix::errno::Errno::EBUSY) if lazy => {
                umount2(p.as_path(), MntFlags::MNT_DETACH)
                    .map_err(|e| Error::io(p, std::io::Error::from(e)))?;
            }
            Err(nix::errno::Errno::EBUSY) => {
                return Err(Error::io(
                    p,
                    std::io::Error::other(
                        "in use by a program (close it or leave the directory), or unmount \
                         with --lazy",
                    ),
                ))
            }
            // Gone meanwhile (a parent's unmount took it along): nothing to do.
            Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOENT) => {}
            Err(e) => return Err(Error::io(p, std::io::Error::from(e))),
        }
    }
    // A running server holds the loop devices, and so the disk: it undoes the rest itself.
    if let Some(pid) = pid.filter(|&p| is_wraith(p) && p != std::process::id()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let start = Instant::now();
        while is_wraith(pid) && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        done.stopped_pid = Some(pid);
    }
    // What a killed server left: its disk and the tmpfs. The loop devices over the disk clear
    // themselves once their partitions are unmounted and a FUSE helper on one (ntfs-3g) has
    // exited, which it does on its own time: wait a little, then detach what is still held.
    for p in mounts_at_or_under(&abs) {
        let start = Instant::now();
        loop {
            match umount2(p.as_path(), MntFlags::empty()) {
                Ok(()) => {}
                Err(nix::errno::Errno::EBUSY) if start.elapsed() < Duration::from_secs(5) => {
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
                Err(nix::errno::Errno::EBUSY) => {
                    umount2(p.as_path(), MntFlags::MNT_DETACH)
                        .map_err(|e| Error::io(&p, std::io::Error::from(e)))?;
                }
                Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOENT) => {}
                Err(e) => return Err(Error::io(&p, std::io::Error::from(e))),
            }
            break;
        }
    }
    done.mounts = mounts.len() - mounts_at_or_under(&abs).len().min(mounts.len());
    Ok(done)
}

/// Whether process `pid` runs and is a wraith (a pid reused by another program is left alone).
fn is_wraith(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .is_some_and(|s| s.contains("(wraith)") && !s.contains(") Z "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape("/mnt/a\\040b"), PathBuf::from("/mnt/a b"));
        assert_eq!(unescape("/x\\134y"), PathBuf::from("/x\\y"));
        assert_eq!(unescape("/plain"), PathBuf::from("/plain"));
        assert_eq!(unescape("/end\\04"), PathBuf::from("/end\\04"));
    }
}

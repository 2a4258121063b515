//! Mounting a local filesystem that holds a repository (a USB drive, a data partition) through
//! the kernel, without shell helpers. Network shares plug in here later.

use crate::error::{Error, Result};
use crate::fs::FsKind;
use std::path::{Path, PathBuf};

/// A filesystem mounted by us; unmounted (lazily, after a sync) when dropped.
pub struct Mounted {
    pub point: PathBuf,
}

impl Drop for Mounted {
    fn drop(&mut self) {
        nix::unistd::sync();
        let _ = nix::mount::umount2(&self.point, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.point);
    }
}

/// The kernel's name for a filesystem we recognise.
pub fn kernel_fstype(kind: FsKind) -> &'static str {
    match kind {
        FsKind::Ext2 | FsKind::Ext3 | FsKind::Ext4 => "ext4",
        FsKind::Fat12 | FsKind::Fat16 | FsKind::Fat32 => "vfat",
        FsKind::Ntfs => "ntfs3",
    }
}

/// Mounts the filesystem on `device` read-write under /run/wraith/mnt/<name>. If it is already
/// mounted somewhere, that mount point is used instead and nothing is unmounted later.
pub fn mount_device(device: &Path, name: &str) -> Result<(PathBuf, Option<Mounted>)> {
    let dev = crate::device::Device::open_read(device)?;
    if let Some(existing) = crate::safety::mounts_of(&dev).into_iter().next() {
        return Ok((PathBuf::from(existing), None));
    }
    let info = crate::fs::probe(&dev)?.ok_or_else(|| {
        Error::Unsupported(format!(
            "{}: no filesystem Wraith can store images on",
            device.display()
        ))
    })?;
    drop(dev);
    let point = PathBuf::from(wraith_live::paths::MOUNT_DIR).join(name);
    std::fs::create_dir_all(&point).map_err(|e| Error::io(&point, e))?;
    nix::mount::mount(
        Some(device),
        &point,
        Some(kernel_fstype(info.kind)),
        nix::mount::MsFlags::MS_NOATIME,
        None::<&str>,
    )
    .map_err(|e| {
        Error::io(
            device,
            std::io::Error::other(format!(
                "mounting {} at {}: {e}",
                info.kind.name(),
                point.display()
            )),
        )
    })?;
    Ok((point.clone(), Some(Mounted { point })))
}

/// Mounts whatever filesystem `device` holds, read-only, trying the kernel's types in turn
/// (for reading job files from a USB stick or the boot CD).
pub fn mount_any_readonly(device: &Path, name: &str) -> Result<Mounted> {
    let point = PathBuf::from(wraith_live::paths::MOUNT_DIR).join(name);
    std::fs::create_dir_all(&point).map_err(|e| Error::io(&point, e))?;
    let mut last = None;
    for fstype in ["vfat", "ext4", "iso9660", "ntfs3"] {
        match nix::mount::mount(
            Some(device),
            &point,
            Some(fstype),
            nix::mount::MsFlags::MS_RDONLY,
            None::<&str>,
        ) {
            Ok(()) => return Ok(Mounted { point }),
            Err(e) => last = Some(e),
        }
    }
    let _ = std::fs::remove_dir(&point);
    Err(Error::io(
        device,
        std::io::Error::other(format!(
            "no readable filesystem ({})",
            last.map(|e| e.to_string()).unwrap_or_default()
        )),
    ))
}

//! Mounting a local filesystem that holds a repository (a USB drive, a data partition) through
//! the kernel, without shell helpers. Network shares plug in here later.

use crate::error::{Error, Result};
use crate::fs::FsKind;
use std::path::{Path, PathBuf};

/// A filesystem mounted by us; unmounted (lazily, after a sync) when dropped.
pub struct Mounted {
    pub point: PathBuf,
}

impl Mounted {
    /// Unmounts now, waiting until the filesystem is written out (a FUSE block filesystem
    /// such as ntfs-3g finishes before its unmount returns), so the machine may power off
    /// right after. Busy for a moment after a tool closed its files: tried for a few seconds.
    pub fn unmount(mut self) -> Result<()> {
        nix::unistd::sync();
        let mut tries = 0;
        loop {
            match nix::mount::umount2(&self.point, nix::mount::MntFlags::empty()) {
                Ok(()) => break,
                Err(nix::errno::Errno::EBUSY) if tries < 50 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(e) => {
                    return Err(Error::io(
                        &self.point,
                        std::io::Error::other(format!("unmounting: {e}")),
                    ))
                }
            }
        }
        let _ = std::fs::remove_dir(&self.point);
        // Done: nothing left for Drop.
        self.point = PathBuf::new();
        Ok(())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if self.point.as_os_str().is_empty() {
            return; // unmounted already
        }
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

/// An exFAT boot sector: its OEM name field reads "EXFAT   ".
fn is_exfat(dev: &dyn crate::device::ReadAt) -> bool {
    dev.read_vec(3, 8).is_ok_and(|b| b == b"EXFAT   ")
}

/// Mounts the filesystem on `device` read-write under /run/wraith/mnt/<name>. If it is already
/// mounted somewhere, that mount point is used instead and nothing is unmounted later.
pub fn mount_device(device: &Path, name: &str) -> Result<(PathBuf, Option<Mounted>)> {
    let dev = crate::device::Device::open_read(device)?;
    if let Some(existing) = crate::safety::mounts_of(&dev).into_iter().next() {
        return Ok((PathBuf::from(existing), None));
    }
    let (fstype, fs_name) = match crate::fs::probe(&dev)? {
        Some(info) => (kernel_fstype(info.kind), info.kind.name()),
        // exFAT holds no image Wraith copies by used blocks (yet), but it is what most large
        // USB drives come formatted with: a repository may well live on one.
        None if is_exfat(&dev) => ("exfat", "exFAT"),
        None => {
            return Err(Error::Unsupported(format!(
                "{}: no filesystem Wraith can store images on",
                device.display()
            )))
        }
    };
    drop(dev);
    let point = PathBuf::from(wraith_live::paths::MOUNT_DIR).join(name);
    std::fs::create_dir_all(&point).map_err(|e| Error::io(&point, e))?;
    let mounted = nix::mount::mount(
        Some(device),
        &point,
        Some(fstype),
        nix::mount::MsFlags::MS_NOATIME,
        None::<&str>,
    );
    let mounted = match mounted {
        Err(nix::errno::Errno::ENODEV) if fstype == "ntfs3" => mount_ntfs_3g(device, &point, false),
        other => other,
    };
    mounted.map_err(|e| {
        Error::io(
            device,
            std::io::Error::other(format!("mounting {} at {}: {e}", fs_name, point.display())),
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
            Err(nix::errno::Errno::ENODEV) if fstype == "ntfs3" => {
                match mount_ntfs_3g(device, &point, true) {
                    Ok(()) => return Ok(Mounted { point }),
                    Err(e) => last = Some(e),
                }
            }
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

/// NTFS through FUSE, for a kernel without ntfs3 (Debian's signed kernel, which the live
/// system runs under Secure Boot, has none). ntfs-3g returns once the filesystem is mounted;
/// unmounting it ends the helper. ENODEV stays the answer where ntfs-3g is missing too.
fn mount_ntfs_3g(device: &Path, point: &Path, readonly: bool) -> nix::Result<()> {
    let options = if readonly { "ro,noatime" } else { "noatime" };
    let out = std::process::Command::new("ntfs-3g")
        .arg("-o")
        .arg(options)
        .arg(device)
        .arg(point)
        .stdin(std::process::Stdio::null())
        .output()
        // Not installed: the kernel's "no such filesystem" stands.
        .map_err(|_| nix::errno::Errno::ENODEV)?;
    if out.status.success() {
        Ok(())
    } else {
        // ntfs-3g explains on stderr (an unclean volume, a hibernated Windows): keep the errno
        // generic, the caller names device and filesystem.
        Err(nix::errno::Errno::EIO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::Device;

    #[test]
    fn an_exfat_drive_is_known_for_what_it_is() {
        let Some(_) = wraith_testkit::find_tool("mkfs.exfat") else {
            return wraith_testkit::skip_missing_tool("mkfs.exfat", "the exFAT signature test");
        };
        let disk = wraith_testkit::blank_disk(16 << 20);
        let made =
            std::process::Command::new(wraith_testkit::find_tool("mkfs.exfat").expect("found"))
                .args(["-L", "STICK"])
                .arg(&disk.path)
                .output()
                .expect("mkfs.exfat");
        assert!(made.status.success(), "{made:?}");
        let dev = Device::open_read(&disk.path).expect("open");
        assert!(is_exfat(&dev));
        // Not one of the filesystems Wraith copies by used blocks: mount_device needs the
        // signature to mount it at all.
        assert!(crate::fs::probe(&dev).expect("probe").is_none());
        let ext = wraith_testkit::images_drive(16 << 20, "IMAGES");
        assert!(!is_exfat(&Device::open_read(&ext.path).expect("open")));
    }
}

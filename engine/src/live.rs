//! Knowing the live system: whether we run from a Wraith boot medium, and which disk holds it,
//! so that disk is never offered or accepted as a target.

use crate::device::{Device, ReadAt};
use std::path::{Path, PathBuf};

/// ISO 9660 volume identifiers of Wraith media start with this (set when the ISO is built).
pub const VOLUME_PREFIX: &[u8] = b"WRAITH";
/// Present in the live system's root filesystem (the initramfs), never on a host.
pub const LIVE_MARKER: &str = "/etc/wraith-live";

/// Whether this process runs inside the Wraith live system.
pub fn running_live() -> bool {
    Path::new(LIVE_MARKER).exists()
}

/// Whether a device holds a Wraith ISO image (a CD, or a USB stick the hybrid ISO was written
/// to): the ISO 9660 primary volume descriptor at 32 KiB carries our volume identifier.
pub fn is_wraith_medium(dev: &dyn ReadAt) -> bool {
    let Ok(pvd) = dev.read_vec(32768, 72) else {
        return false;
    };
    pvd[0] == 1 && &pvd[1..6] == b"CD001" && pvd[40..].starts_with(VOLUME_PREFIX)
}

/// Every whole disk (from /sys/block) holding a Wraith medium, as /dev paths.
pub fn wraith_media() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/sys/block") else {
        return out;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with("loop") || name.starts_with("ram") || name.starts_with("zram") {
            continue;
        }
        let path = PathBuf::from(format!("/dev/{name}"));
        if let Ok(dev) = Device::open_read(&path) {
            if is_wraith_medium(&dev) {
                out.push(path);
            }
        }
    }
    out
}

/// Refuses a target that holds the running live medium. On a host (not live) a Wraith stick is
/// an ordinary disk and may be overwritten.
pub fn check_not_boot_medium(target: &Device) -> crate::Result<()> {
    if running_live() && is_wraith_medium(target) {
        return Err(crate::Error::refused(
            crate::error::Interlock::BootMedium,
            format!(
                "target {} holds the running Wraith live medium",
                target.identity.describe()
            ),
        ));
    }
    Ok(())
}

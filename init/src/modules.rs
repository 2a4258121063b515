//! Kernel modules, for a kernel that has its drivers as modules (Debian's signed kernel, booted
//! under Secure Boot; the tiny kernel has everything built in and no /lib/modules). Hardware
//! drivers are loaded by udev from each device's modalias, filesystems by the kernel asking
//! /sbin/modprobe; what is left are the drivers reached only through a device node that does
//! not exist until they are loaded: loop devices (the engine resizes filesystems on them) and
//! FUSE (NTFS through ntfs-3g, as that kernel has no ntfs3).

use std::path::Path;
use std::time::Duration;

use crate::log::warning;
use crate::supervise::{run_sync, Status};

const PRELOAD: &[&str] = &["loop", "fuse"];

/// True when the running kernel has a module tree in the initramfs (Debian's signed kernel).
pub fn kernel_has_modules() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    Path::new("/lib/modules").join(release.trim()).is_dir()
}

/// Loads [`PRELOAD`] when the running kernel has a module tree; otherwise does nothing.
pub fn preload() {
    if !kernel_has_modules() {
        return;
    }
    let mut argv = vec!["/sbin/modprobe", "-a"];
    argv.extend_from_slice(PRELOAD);
    match run_sync(&argv, Duration::from_secs(10)) {
        Some(Status::Exited(0)) => {}
        Some(other) => warning!("modprobe {} failed ({other})", PRELOAD.join(" ")),
        None => warning!("cannot run /sbin/modprobe"),
    }
}

//! Starts systemd-udevd so disks get ID_MODEL/ID_SERIAL and /dev/disk/by-id links, which the
//! engine uses to name disks and a job uses to pick them by serial. Optional: without udevd
//! the disks still work, they only lack those properties, so every failure is a warning.

use std::path::Path;
use std::time::Duration;

use crate::log::{info, warning};
use crate::supervise::{run_sync, Status};

const UDEVD_PATHS: &[&str] = &[
    "/lib/systemd/systemd-udevd",
    "/usr/lib/systemd/systemd-udevd",
    "/sbin/udevd",
];
const UDEVADM_PATHS: &[&str] = &[
    "/bin/udevadm",
    "/usr/bin/udevadm",
    "/sbin/udevadm",
    "/usr/sbin/udevadm",
];

/// Under TCG the first trigger+settle took 2.1 s; 10 s leaves room without hanging the boot.
const SETTLE_TIMEOUT_SECS: u64 = 10;

/// A running udev: udevadm, to settle again after late disks appear.
pub struct Udev {
    udevadm: &'static str,
}

fn first_existing(paths: &[&'static str]) -> Option<&'static str> {
    paths.iter().copied().find(|p| Path::new(p).exists())
}

/// Starts udevd and replays the coldplug events; [`Udev::settle`] waits for them.
pub fn start() -> Option<Udev> {
    let Some(udevd) = first_existing(UDEVD_PATHS) else {
        warning!(
            "no udevd found (looked for {}); disks will lack udev model/serial and /dev/disk/by-id",
            UDEVD_PATHS.join(", ")
        );
        return None;
    };
    let Some(udevadm) = first_existing(UDEVADM_PATHS) else {
        warning!("udevd found but no udevadm; udev not started");
        return None;
    };
    // --daemon: the foreground process exits once the daemon listens, so events triggered
    // next are not lost.
    info!("udev: starting {udevd}");
    if !succeeded(
        udevd,
        run_sync(&[udevd, "--daemon"], Duration::from_secs(10)),
    ) {
        return None;
    }
    info!("udev: udevd listening");
    let udev = Udev { udevadm };
    // The tiny kernel has every driver built in and the live system's rules only name disks
    // (rootfs/rootfs.toml), so only block devices need replaying: every other event costs
    // udevd a worker and a rules pass for nothing (under TCG the full coldplug took 1.4 s
    // before the UI could start, block alone a fraction). A kernel with modules (Secure Boot)
    // needs every device's event, so udev loads its driver by modalias.
    let triggers: &[&[&str]] = if crate::modules::kernel_has_modules() {
        // Subsystems first so buses exist before their devices are announced.
        &[&["--type=subsystems"], &["--type=devices"]]
    } else {
        &[&["--type=devices", "--subsystem-match=block"]]
    };
    for which in triggers {
        let mut argv = vec![udevadm, "trigger", "--action=add"];
        argv.extend_from_slice(which);
        succeeded("udevadm trigger", run_sync(&argv, Duration::from_secs(10)));
    }
    info!("udev: coldplug events queued");
    Some(udev)
}

impl Udev {
    /// Waits until udevd has handled every queued event.
    pub fn settle(&self) {
        let timeout = format!("--timeout={SETTLE_TIMEOUT_SECS}");
        let argv = [self.udevadm, "settle", timeout.as_str()];
        if succeeded(
            "udevadm settle",
            run_sync(&argv, Duration::from_secs(SETTLE_TIMEOUT_SECS + 5)),
        ) {
            info!("udev settled");
        }
    }
}

fn succeeded(what: &str, status: Option<Status>) -> bool {
    match status {
        Some(Status::Exited(0)) => true,
        Some(other) => {
            warning!("{what} failed ({other}); continuing without it");
            false
        }
        None => false,
    }
}

//! Waiting for late disks. USB storage shows up about 1.2 s after init starts (usb-storage's
//! `delay_use` of 1 s), NVMe and AHCI a little earlier; a UI or job that lists disks before
//! then would miss the target or the stick holding the job. So /sys/block is polled until its
//! set of disks has been stable for [`STABLE_FOR`] and at least `wraith.wait` has passed since
//! init started, with a hard cap so a flapping device cannot hold the boot hostage.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::log::{debug, info};

pub const POLL_EVERY: Duration = Duration::from_millis(100);
pub const STABLE_FOR: Duration = Duration::from_secs(1);
/// How long past `wraith.wait` a still-changing set may delay the boot.
pub const MAX_EXTRA: Duration = Duration::from_secs(10);

/// True when waiting can stop: `since_start` is time since init started, `since_change` time
/// since the set of disks last changed. `wait` zero means "do not wait at all".
pub fn settled(since_start: Duration, since_change: Duration, wait: Duration) -> bool {
    if wait.is_zero() {
        return true;
    }
    (since_start >= wait && since_change >= STABLE_FOR) || since_start >= wait + MAX_EXTRA
}

/// Block devices that are not disks a user would image: loop, RAM and network block devices
/// exist in numbers whether or not anything is behind them.
pub fn is_disk_name(name: &str) -> bool {
    !["loop", "ram", "zram", "nbd", "fd"].iter().any(|p| {
        name.strip_prefix(p)
            .is_some_and(|r| r.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Disk names under /sys/block, sorted so two scans compare equal.
pub fn scan(sys_block: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(sys_block)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| is_disk_name(n))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The set of disks and when it last changed. Started before udev, so a set that did not
/// change while udev settled counts as stable from then on, rather than making the boot wait
/// one more [`STABLE_FOR`] after a slow udev start.
pub struct Watch {
    names: Vec<String>,
    changed_at: Instant,
}

impl Watch {
    pub fn start() -> Watch {
        Watch {
            names: scan(Path::new("/sys/block")),
            changed_at: Instant::now(),
        }
    }
}

/// Polls until [`settled`]; returns the disks found.
pub fn wait_for_disks(watch: Watch, init_started: Instant, wait: Duration) -> Vec<String> {
    let sys_block = Path::new("/sys/block");
    let Watch {
        names: mut current,
        mut changed_at,
    } = watch;
    let now = scan(sys_block);
    if now != current {
        current = now;
        changed_at = Instant::now();
    }
    while !settled(init_started.elapsed(), changed_at.elapsed(), wait) {
        std::thread::sleep(POLL_EVERY);
        let now = scan(sys_block);
        if now != current {
            debug!("block devices now: {}", now.join(" "));
            current = now;
            changed_at = Instant::now();
        }
    }
    current
}

/// Logs one line per disk: size, vendor/model, serial, removable — from sysfs, which works
/// with or without udev.
pub fn log_disks(names: &[String]) {
    for name in names {
        let dir = Path::new("/sys/block").join(name);
        let read = |rel: &str| {
            std::fs::read_to_string(dir.join(rel))
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        };
        let sectors: u64 = read("size").and_then(|s| s.parse().ok()).unwrap_or(0);
        // virtio's device/vendor is a PCI vendor id ("0x1af4"), not a name.
        let vendor = read("device/vendor").filter(|v| !v.starts_with("0x"));
        let model = [vendor, read("device/model")]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        // virtio-blk has the serial on the disk, NVMe on the controller.
        let serial = read("serial").or_else(|| read("device/serial"));
        let removable = read("removable").as_deref() == Some("1");
        info!(
            "disk {name}: {}{}{}{}",
            human_size(sectors.saturating_mul(512)),
            if model.is_empty() {
                String::new()
            } else {
                format!(", {model}")
            },
            serial.map(|s| format!(", serial {s}")).unwrap_or_default(),
            if removable { ", removable" } else { "" }
        );
    }
}

pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{bytes} B"),
        _ => format!("{value:.1} {}", UNITS.get(unit).unwrap_or(&"?")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn waits_at_least_wraith_wait_even_when_stable() {
        assert!(!settled(ms(2000), ms(2000), ms(3000)));
        assert!(settled(ms(3000), ms(2000), ms(3000)));
    }

    #[test]
    fn a_disk_that_just_appeared_extends_the_wait_by_a_second() {
        // A USB stick at 2.9 s: not done at 3.0 s, done at 3.9 s.
        assert!(!settled(ms(3000), ms(100), ms(3000)));
        assert!(settled(ms(3900), ms(1000), ms(3000)));
    }

    #[test]
    fn flapping_devices_cannot_hold_the_boot_forever() {
        assert!(!settled(ms(12_900), ms(0), ms(3000)));
        assert!(settled(ms(13_000), ms(0), ms(3000)));
    }

    #[test]
    fn wait_zero_does_not_wait() {
        assert!(settled(ms(0), ms(0), ms(0)));
    }

    #[test]
    fn virtual_block_devices_are_not_disks() {
        for n in ["loop0", "loop12", "ram0", "zram0", "nbd3", "fd0"] {
            assert!(!is_disk_name(n), "{n}");
        }
        for n in [
            "sda", "vda", "nvme0n1", "sr0", "mmcblk0", "fdisk", "ramdisk", "dm-0", "md0",
        ] {
            assert!(is_disk_name(n), "{n}");
        }
    }

    #[test]
    fn sizes_are_human_readable() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(64 * 1024 * 1024), "64.0 MiB");
        assert_eq!(human_size(1_000_204_886_016), "931.5 GiB");
    }

    #[test]
    fn scan_lists_sorted_disks_only() {
        let dir = std::env::temp_dir().join(format!("wraith-init-scan-{}", std::process::id()));
        for n in ["sdb", "loop0", "sda", "nvme0n1"] {
            std::fs::create_dir_all(dir.join(n)).unwrap();
        }
        assert_eq!(scan(&dir), vec!["nvme0n1", "sda", "sdb"]);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(scan(&dir).is_empty());
    }
}

//! The boot namespace as data: a table of mounts, directories and symlinks applied in order.
//! A failure is logged and the next entry is tried, because a half-mounted system with a
//! shell is better than a kernel panic. Each entry prints as the shell command it stands for.

use std::fmt;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::log::{debug, info, warning};

pub enum Entry {
    Mount {
        fstype: &'static str,
        target: &'static str,
        flags: MsFlags,
        data: &'static str,
    },
    Symlink {
        target: &'static str,
        link: &'static str,
    },
    Dir {
        path: &'static str,
        mode: u32,
    },
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::Mount {
                fstype,
                target,
                flags,
                data,
            } => {
                write!(f, "mount -t {fstype} {fstype} {target}")?;
                if !data.is_empty() {
                    write!(f, " -o {data}")?;
                }
                if !flags.is_empty() {
                    write!(f, " (flags {:#x})", flags.bits())?;
                }
                Ok(())
            }
            Entry::Symlink { target, link } => write!(f, "ln -s {target} {link}"),
            Entry::Dir { path, mode } => write!(f, "mkdir -p -m {mode:o} {path}"),
        }
    }
}

const NOSUID_NODEV: MsFlags = MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV);
const NOSUID_NODEV_NOEXEC: MsFlags = NOSUID_NODEV.union(MsFlags::MS_NOEXEC);

/// Mounted before anything else: /dev/kmsg and /dev/console live there, and logging needs
/// them. Needs CONFIG_DEVTMPFS (the kernel does not auto-mount it on an initramfs).
pub const EARLY: &[Entry] = &[
    Entry::Dir {
        path: "/dev",
        mode: 0o755,
    },
    Entry::Mount {
        fstype: "devtmpfs",
        target: "/dev",
        flags: MsFlags::MS_NOSUID,
        data: "mode=0755",
    },
];

pub const NAMESPACE: &[Entry] = &[
    Entry::Dir {
        path: "/proc",
        mode: 0o555,
    },
    Entry::Mount {
        fstype: "proc",
        target: "/proc",
        flags: NOSUID_NODEV_NOEXEC,
        data: "",
    },
    Entry::Dir {
        path: "/sys",
        mode: 0o555,
    },
    Entry::Mount {
        fstype: "sysfs",
        target: "/sys",
        flags: NOSUID_NODEV_NOEXEC,
        data: "",
    },
    Entry::Dir {
        path: "/dev/pts",
        mode: 0o755,
    },
    // ptmxmode=666: devtmpfs's /dev/ptmx finds this instance, so no ptmx symlink is needed.
    Entry::Mount {
        fstype: "devpts",
        target: "/dev/pts",
        flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NOEXEC),
        data: "mode=620,ptmxmode=666",
    },
    Entry::Dir {
        path: "/dev/shm",
        mode: 0o1777,
    },
    Entry::Mount {
        fstype: "tmpfs",
        target: "/dev/shm",
        flags: NOSUID_NODEV,
        data: "mode=1777",
    },
    // udevd keeps its database in /run/udev.
    Entry::Dir {
        path: "/run",
        mode: 0o755,
    },
    Entry::Mount {
        fstype: "tmpfs",
        target: "/run",
        flags: NOSUID_NODEV,
        data: "mode=0755",
    },
    Entry::Dir {
        path: "/tmp",
        mode: 0o1777,
    },
    Entry::Mount {
        fstype: "tmpfs",
        target: "/tmp",
        flags: NOSUID_NODEV,
        data: "mode=1777",
    },
    Entry::Symlink {
        target: "/proc/self/fd",
        link: "/dev/fd",
    },
    Entry::Symlink {
        target: "/proc/self/fd/0",
        link: "/dev/stdin",
    },
    Entry::Symlink {
        target: "/proc/self/fd/1",
        link: "/dev/stdout",
    },
    Entry::Symlink {
        target: "/proc/self/fd/2",
        link: "/dev/stderr",
    },
    // HOME for the UI and the shell; /mnt for repositories and job sticks.
    Entry::Dir {
        path: "/root",
        mode: 0o700,
    },
    Entry::Dir {
        path: "/mnt",
        mode: 0o755,
    },
];

/// Applies the entries in order, logging each; never stops early.
pub fn create(entries: &[Entry]) {
    for entry in entries {
        match apply(entry) {
            Ok(Outcome::Done) => debug!("{entry}"),
            Ok(Outcome::AlreadyThere) => debug!("{entry}: already there"),
            Err(e) => warning!("{entry}: {e}"),
        }
    }
}

enum Outcome {
    Done,
    AlreadyThere,
}

fn apply(entry: &Entry) -> Result<Outcome, String> {
    match entry {
        Entry::Mount {
            fstype,
            target,
            flags,
            data,
        } => {
            let data = (!data.is_empty()).then_some(*data);
            match mount(Some(*fstype), *target, Some(*fstype), *flags, data) {
                Ok(()) => Ok(Outcome::Done),
                // Already mounted (by a previous init, or the kernel): fine.
                Err(Errno::EBUSY) => Ok(Outcome::AlreadyThere),
                Err(e) => Err(e.desc().to_string()),
            }
        }
        Entry::Symlink { target, link } => {
            if Path::new(link).symlink_metadata().is_ok() {
                return Ok(Outcome::AlreadyThere);
            }
            std::os::unix::fs::symlink(target, link)
                .map(|()| Outcome::Done)
                .map_err(|e| e.to_string())
        }
        Entry::Dir { path, mode } => {
            if Path::new(path).is_dir() {
                return Ok(Outcome::AlreadyThere);
            }
            std::fs::create_dir_all(path).map_err(|e| e.to_string())?;
            // create_dir_all applies the umask; set the exact mode (sticky bit for /tmp).
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode))
                .map_err(|e| e.to_string())?;
            Ok(Outcome::Done)
        }
    }
}

/// Mount points from /proc/mounts in mount order, with the kernel's octal escapes (`\040`
/// for a space) decoded.
pub fn parse_mounts(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .map(unescape_octal)
        .collect()
}

fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if let Some(oct) = b.get(i + 1..i + 4) {
                if oct.iter().all(|d| (b'0'..=b'7').contains(d)) {
                    let v = oct
                        .iter()
                        .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                    if let Ok(byte) = u8::try_from(v) {
                        out.push(byte);
                        i += 4;
                        continue;
                    }
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What to unmount at shutdown: everything but the root (the initramfs rootfs cannot be
/// unmounted), children before parents — the reverse of mount order.
pub fn unmount_order(mount_points: &[String]) -> Vec<String> {
    mount_points
        .iter()
        .rev()
        .filter(|m| m.as_str() != "/")
        .cloned()
        .collect()
}

/// Unmounts everything listed in /proc/mounts. A busy file system is detached lazily: the
/// kernel finishes it when the last user goes, and all processes are dead by now anyway.
pub fn unmount_all() {
    let text = match std::fs::read_to_string("/proc/mounts") {
        Ok(t) => t,
        Err(e) => {
            warning!("cannot read /proc/mounts ({e}); nothing unmounted");
            return;
        }
    };
    for target in unmount_order(&parse_mounts(&text)) {
        match umount2(target.as_str(), MntFlags::empty()) {
            Ok(()) => debug!("unmounted {target}"),
            // Already gone with a parent that was detached lazily.
            Err(Errno::EINVAL | Errno::ENOENT) => {}
            Err(Errno::EBUSY) => match umount2(target.as_str(), MntFlags::MNT_DETACH) {
                Ok(()) => info!("{target} busy: detached lazily"),
                Err(e) => warning!("cannot unmount {target}: {}", e.desc()),
            },
            Err(e) => warning!("cannot unmount {target}: {}", e.desc()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROC_MOUNTS: &str = "rootfs / rootfs rw 0 0
devtmpfs /dev devtmpfs rw,nosuid,mode=755 0 0
proc /proc proc rw,nosuid,nodev,noexec 0 0
sysfs /sys sysfs rw 0 0
/dev/sdb1 /mnt/my\\040stick vfat rw 0 0
/dev/sda2 /mnt/repo ext4 rw 0 0
";

    #[test]
    fn parses_mount_points_and_decodes_spaces() {
        assert_eq!(
            parse_mounts(PROC_MOUNTS),
            vec!["/", "/dev", "/proc", "/sys", "/mnt/my stick", "/mnt/repo"]
        );
    }

    #[test]
    fn unmounts_in_reverse_order_and_never_the_root() {
        assert_eq!(
            unmount_order(&parse_mounts(PROC_MOUNTS)),
            vec!["/mnt/repo", "/mnt/my stick", "/sys", "/proc", "/dev"]
        );
    }

    #[test]
    fn malformed_escapes_stay_literal() {
        assert_eq!(unescape_octal("a\\9b\\04"), "a\\9b\\04");
        assert_eq!(unescape_octal("tab\\011x"), "tab\tx");
    }

    #[test]
    fn entries_print_as_shell_commands() {
        assert_eq!(
            EARLY[1].to_string(),
            "mount -t devtmpfs devtmpfs /dev -o mode=0755 (flags 0x2)"
        );
        assert_eq!(
            Entry::Symlink {
                target: "/proc/self/fd",
                link: "/dev/fd"
            }
            .to_string(),
            "ln -s /proc/self/fd /dev/fd"
        );
    }
}

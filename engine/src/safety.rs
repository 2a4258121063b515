//! Safety interlocks for every destructive path. They live here, not in a UI, so no front end
//! can forget them: a target may not be the source (by any path), be mounted or in use, be too
//! small, or hold the repository being restored from.

use crate::device::{Device, ReadAt};
use crate::error::{Error, Interlock, Result};
use std::path::Path;

/// The sysfs directory of a block device number, e.g. /sys/dev/block/8:0 → …/block/sda.
fn sys_dir(rdev: u64) -> Option<std::path::PathBuf> {
    let p = format!(
        "/sys/dev/block/{}:{}",
        nix::sys::stat::major(rdev),
        nix::sys::stat::minor(rdev)
    );
    std::fs::canonicalize(p).ok()
}

/// The whole disk a block device belongs to (itself when it is a whole disk).
fn whole_disk(rdev: u64) -> Option<std::path::PathBuf> {
    let dir = sys_dir(rdev)?;
    if dir.join("partition").exists() {
        dir.parent().map(|p| p.to_path_buf())
    } else {
        Some(dir)
    }
}

/// Two devices that share storage: the same file, the same block device, or a disk and one of
/// its partitions.
pub fn same_storage(a: &Device, b: &Device) -> bool {
    if a.key == b.key {
        return true;
    }
    if a.is_block_device() && b.is_block_device() {
        if let (Some(x), Some(y)) = (whole_disk(a.key.0), whole_disk(b.key.0)) {
            return x == y;
        }
    }
    // A loop device and the file behind it are the same storage.
    let backs = |dev: &Device, file: &Device| {
        dev.is_block_device()
            && !file.is_block_device()
            && loop_backing(dev.key.0).is_some_and(|b| b == file.path())
    };
    if backs(a, b) || backs(b, a) {
        return true;
    }
    // A file target on a filesystem inside the source disk is fine to write: the source is
    // only read. The reverse (an image file whose filesystem lives on the target) is caught by
    // `check_not_holding` for repositories.
    false
}

/// The file behind a loop device, if `rdev` is one.
fn loop_backing(rdev: u64) -> Option<std::path::PathBuf> {
    let dir = whole_disk(rdev)?;
    let backing = std::fs::read_to_string(dir.join("loop/backing_file")).ok()?;
    std::fs::canonicalize(backing.trim()).ok()
}

/// Refuses a target that is the source.
pub fn check_not_source(source: &Device, target: &Device) -> Result<()> {
    if same_storage(source, target) {
        return Err(Error::refused(
            Interlock::SameDisk,
            format!(
                "target {} is the same disk as source {}",
                target.identity.describe(),
                source.identity.describe()
            ),
        ));
    }
    Ok(())
}

/// Refuses a target smaller than `needed` bytes; `what` names what needs the space.
pub fn check_size(target: &Device, needed: u64, what: &str) -> Result<()> {
    if target.size() < needed {
        return Err(Error::refused(
            Interlock::TargetTooSmall,
            format!(
                "target {} is {} ({} bytes) but {what} needs at least {} ({needed} bytes)",
                target.identity.describe(),
                crate::human_bytes(target.size()),
                target.size(),
                crate::human_bytes(needed)
            ),
        ));
    }
    Ok(())
}

/// Mount points of the target or any of its partitions, from /proc/self/mountinfo. For image
/// files, loop devices backed by the file count too.
pub fn mounts_of(target: &Device) -> Vec<String> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut devs: Vec<String> = Vec::new();
    if target.is_block_device() {
        devs.extend(block_and_partitions(target.key.0));
    } else {
        devs.extend(loops_backed_by(target.path()));
    }
    let mut out = Vec::new();
    for line in info.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        if f.len() > 4 && devs.iter().any(|d| d == f[2]) {
            out.push(f[4].to_string());
        }
    }
    out
}

fn block_and_partitions(rdev: u64) -> Vec<String> {
    let mut out = vec![format!(
        "{}:{}",
        nix::sys::stat::major(rdev),
        nix::sys::stat::minor(rdev)
    )];
    if let Some(dir) = sys_dir(rdev) {
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.join("partition").exists() {
                    if let Ok(dev) = std::fs::read_to_string(p.join("dev")) {
                        out.push(dev.trim().to_string());
                    }
                }
            }
        }
    }
    out
}

fn loops_backed_by(path: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/sys/block") else {
        return out;
    };
    for e in rd.flatten() {
        let dir = e.path();
        if let Ok(backing) = std::fs::read_to_string(dir.join("loop/backing_file")) {
            if Path::new(backing.trim()) == path {
                if let Ok(dev) = std::fs::read_to_string(dir.join("dev")) {
                    out.push(dev.trim().to_string());
                    out.extend(block_and_partitions_from_dir(&dir));
                }
            }
        }
    }
    out
}

fn block_and_partitions_from_dir(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.path().join("partition").exists() {
                if let Ok(dev) = std::fs::read_to_string(e.path().join("dev")) {
                    out.push(dev.trim().to_string());
                }
            }
        }
    }
    out
}

/// Refuses a target that is mounted (itself, a partition, or a loop device over the file).
pub fn check_not_mounted(target: &Device) -> Result<()> {
    let m = mounts_of(target);
    if !m.is_empty() {
        return Err(Error::refused(
            Interlock::TargetMounted,
            format!(
                "target {} is mounted at {}; unmount it first",
                target.identity.describe(),
                m.join(", ")
            ),
        ));
    }
    Ok(())
}

/// Refuses to overwrite the disk that holds `path` (the repository being read from).
pub fn check_not_holding(target: &Device, path: &Path, what: &str) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let Ok(md) = std::fs::metadata(path) else {
        return Ok(());
    };
    let holds = if target.is_block_device() {
        match (whole_disk(md.dev()), whole_disk(target.key.0)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    } else {
        // An image file target inside the repository directory itself.
        target
            .path()
            .starts_with(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()))
    };
    if holds {
        return Err(Error::refused(
            Interlock::RepositoryOnTarget,
            format!(
                "target {} holds {what} {}",
                target.identity.describe(),
                path.display()
            ),
        ));
    }
    Ok(())
}

/// Refuses to save into a repository that lives on the disk being saved (a filesystem of it, or
/// of a loop device over the image file): the save would write to its own source, which must
/// never be written, and would read back what it is writing. A repository that does not exist
/// yet counts where it will be created (its nearest existing parent).
pub fn check_repository_not_on(source: &Device, repo: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let Some(md) = repo.ancestors().find_map(|p| std::fs::metadata(p).ok()) else {
        return Ok(());
    };
    let on_source = if source.is_block_device() {
        matches!(
            (whole_disk(md.dev()), whole_disk(source.key.0)),
            (Some(a), Some(b)) if a == b
        )
    } else {
        loop_backing(md.dev()).is_some_and(|b| b == source.path())
    };
    if on_source {
        return Err(Error::refused(
            Interlock::RepositoryOnSource,
            format!(
                "repository {} is on the source disk {}: save it to another disk",
                repo.display(),
                source.identity.describe()
            ),
        ));
    }
    Ok(())
}

/// Refuses a target whose logical sector size differs: partition tables count in sectors.
pub fn check_sector_size(source_sector: u64, target: &Device) -> Result<()> {
    if source_sector != target.sector_size() {
        return Err(Error::Unsupported(format!(
            "source has {source_sector}-byte sectors but target {} has {}-byte sectors",
            target.identity.describe(),
            target.sector_size()
        )));
    }
    Ok(())
}

/// A target whose drive reports itself failing is refused unless the technician accepted it
/// (a second typed word in the TUI, `--accept-failing-target`, `accept_failing_target = true`
/// in a job): what is restored onto a dying disk may not be there tomorrow.
pub fn check_target_health(
    target: &Device,
    health: Option<&crate::health::Health>,
    accepted: bool,
) -> Result<()> {
    match health {
        Some(h) if h.is_failing() && !accepted => Err(Error::refused(
            Interlock::FailingTarget,
            format!(
                "target {} is failing ({}): what is written onto it may not last. Choose \
                 another disk, or accept it knowingly (TUI: type \"failing\" after its name; \
                 CLI: --accept-failing-target; job: accept_failing_target = true)",
                target.identity.describe(),
                h.problems.join("; ")
            ),
        )),
        _ => Ok(()),
    }
}

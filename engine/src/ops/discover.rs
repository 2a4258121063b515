//! Finding repositories without typing: every filesystem attached to the machine (USB drives,
//! internal partitions, the boot stick's data partition) is looked at for a Wraith repository
//! at its root or one directory down, and measured (size, free space) so a save can be offered
//! "a new repository on…" a drive with room for it.
//!
//! Looking must never change a disk: a filesystem that is not mounted yet is mounted read-only
//! with the options that stop a journal replay (ext3/4 `noload`), looked at, and unmounted; a
//! filesystem already mounted (a host's) is looked at where it is. Disks the caller excludes
//! (the disk about to be written, a save's source) are not touched at all, nor filesystem
//! types we do not know how to mount without writing. This module only looks; opening a found
//! repository for a job goes through [`super::repository::resolve`] with the place's spec.

use crate::disks::DiskInfo;
use crate::repo::{self, manifest::Manifest};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The label a technician gives a partition on the boot stick to keep repositories and the
/// remembered shares on it (the rest of a Wraith stick is the read-only ISO).
pub const DATA_LABEL: &str = "WRAITH-DATA";

/// The directory a new repository gets at the root of a filesystem chosen for a save.
pub const NEW_REPOSITORY_DIR: &str = "wraith-images";

/// One filesystem looked at.
#[derive(Clone, Debug, Serialize)]
pub struct Place {
    /// The block device holding it (/dev/sdb1, or /dev/sdb for a disk without a table).
    pub device: String,
    /// Its whole disk.
    pub disk: String,
    pub label: Option<String>,
    pub uuid: Option<String>,
    /// udev's name for the type: ext4, vfat, ntfs, exfat …
    pub fs: String,
    /// Filesystem size and space free for a new image, in bytes (0 when it could not be
    /// looked at: see `error`).
    pub size: u64,
    pub free: u64,
    /// Whether a save can write here: a type Wraith writes, not a read-only device.
    pub writable: bool,
    /// On the disk Wraith booted from (its data partition).
    pub boot_medium: bool,
    /// USB, SATA, NVMe … of its disk, and the disk's model, for the list.
    pub transport: String,
    pub model: Option<String>,
    /// How to name this filesystem's root in a repository location: `label:NAME` when the
    /// label is unique among the places found, else `uuid:UUID`, else the device path.
    pub spec: String,
    pub repositories: Vec<FoundRepo>,
    /// Why it could not be looked at (a mount refused: dirty, damaged, unsupported).
    pub error: Option<String>,
}

/// A repository found on a [`Place`].
#[derive(Clone, Debug, Serialize)]
pub struct FoundRepo {
    /// Relative to the filesystem's root: "" for the root itself, else one directory name.
    pub dir: String,
    /// The location to open: the place's spec and the directory (`label:USB/images`).
    pub at: String,
    pub images: usize,
    /// The newest image: its name, when it was saved (seconds since the epoch, UTC) and
    /// the disk it was saved from.
    pub newest: Option<NewestImage>,
    /// The repository's config or newest manifest could not be read.
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct NewestImage {
    pub name: String,
    pub id: String,
    pub created: u64,
    pub source: String,
}

impl Place {
    /// What a list shows first: "IMAGES (USB SanDisk, /dev/sdb1)".
    pub fn describe(&self) -> String {
        let name = self.label.clone().unwrap_or_else(|| self.device.clone());
        let what = match &self.model {
            Some(m) => format!("{} {m}", self.transport.to_uppercase()),
            None => self.transport.to_uppercase(),
        };
        format!("{name} ({what}, {})", self.device)
    }

    /// Where a save would create a new repository on this filesystem.
    pub fn new_repository_at(&self) -> String {
        format!("{}/{NEW_REPOSITORY_DIR}", self.spec)
    }
}

/// Every filesystem on `disks` except those on `exclude` (whole-disk paths), looked at in
/// parallel (each mount waits on its own device). Swap, RAID members, encrypted volumes,
/// ISO 9660 and types without a read-only mount that is sure not to write are skipped; on the
/// boot medium only its data partition ([`DATA_LABEL`]) is looked at.
pub fn local(disks: &[DiskInfo], exclude: &[String], boot: &[String]) -> Vec<Place> {
    let mut todo = Vec::new();
    for d in disks {
        if exclude.contains(&d.path) {
            continue;
        }
        let on_boot = boot.contains(&d.path);
        let mut add = |device: &str, fs: &Option<String>, label: &Option<String>, uuid| {
            if on_boot && label.as_deref() != Some(DATA_LABEL) {
                return;
            }
            todo.push(Candidate {
                device: device.to_string(),
                disk: d,
                fs: fs.clone(),
                label: label.clone(),
                uuid,
                boot_medium: on_boot,
            });
        };
        if d.partitions.is_empty() {
            add(&d.path, &d.fs, &d.label, d.uuid.clone());
        }
        for p in &d.partitions {
            add(&p.path, &p.fs, &p.label, p.uuid.clone());
        }
    }
    let mut places: Vec<Place> = std::thread::scope(|s| {
        let handles: Vec<_> = todo.into_iter().map(|c| s.spawn(move || look(c))).collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().ok().flatten())
            .collect()
    });
    name_places(&mut places);
    places
}

/// Gives each place its spec and its repositories their locations, once all labels are known.
fn name_places(places: &mut [Place]) {
    let labels: Vec<Option<String>> = places.iter().map(|p| p.label.clone()).collect();
    for p in places.iter_mut() {
        let unique = p.label.as_ref().is_some_and(|l| {
            !l.contains('/') && labels.iter().filter(|x| x.as_ref() == Some(l)).count() == 1
        });
        p.spec = match (&p.label, &p.uuid) {
            (Some(l), _) if unique => format!("label:{l}"),
            (_, Some(u)) => format!("uuid:{u}"),
            _ => p.device.clone(),
        };
        for r in &mut p.repositories {
            r.at = if r.dir.is_empty() {
                p.spec.clone()
            } else {
                format!("{}/{}", p.spec, r.dir)
            };
        }
    }
}

struct Candidate<'a> {
    device: String,
    disk: &'a DiskInfo,
    fs: Option<String>,
    label: Option<String>,
    uuid: Option<String>,
    boot_medium: bool,
}

/// The kernel type and the read-only mount options that keep a filesystem unchanged, for the
/// types a repository can live on; None for everything else (never mounted).
fn readonly_mount(fs: &str) -> Option<(&'static str, &'static str)> {
    Some(match fs {
        // A read-only ext3/4 mount still replays a dirty journal unless told not to.
        "ext2" | "ext3" | "ext4" => ("ext4", "noload"),
        "vfat" | "fat12" | "fat16" | "fat32" => ("vfat", ""),
        "ntfs" | "ntfs3" => ("ntfs3", ""),
        "exfat" => ("exfat", ""),
        _ => return None,
    })
}

/// Whether a save may create a repository on this type.
fn writable_type(fs: &str) -> bool {
    readonly_mount(fs).is_some()
}

fn look(c: Candidate<'_>) -> Option<Place> {
    // udev knows the type when it ran; a host or an early boot may not have it: our readers.
    let (fs, label, uuid) = match c.fs.clone() {
        Some(fs) => (fs, c.label.clone(), c.uuid.clone()),
        None => {
            let dev = crate::device::Device::open_read(Path::new(&c.device)).ok()?;
            let info = crate::fs::probe(&dev).ok()??;
            (info.kind.name().to_string(), info.label, info.uuid)
        }
    };
    let (kernel_type, options) = readonly_mount(&fs)?;
    let mut place = Place {
        device: c.device.clone(),
        disk: c.disk.path.clone(),
        label: label.filter(|l| !l.is_empty()),
        uuid,
        writable: writable_type(&fs) && !c.disk.read_only,
        fs,
        size: 0,
        free: 0,
        boot_medium: c.boot_medium,
        transport: c.disk.transport.clone(),
        model: c.disk.model.clone(),
        spec: String::new(),
        repositories: Vec::new(),
        error: None,
    };
    match existing_mount(&c.device) {
        Some(point) => fill(&mut place, &point),
        None => match ReadOnlyMount::new(&c.device, kernel_type, options) {
            Ok(m) => fill(&mut place, &m.point),
            Err(e) => place.error = Some(e),
        },
    }
    Some(place)
}

/// Where the device is mounted already, if anywhere (then it is looked at there, and left
/// mounted).
fn existing_mount(device: &str) -> Option<PathBuf> {
    let dev = crate::device::Device::open_read(Path::new(device)).ok()?;
    crate::safety::mounts_of(&dev)
        .into_iter()
        .next()
        .map(PathBuf::from)
}

/// Size, free space and repositories of a mounted filesystem.
fn fill(place: &mut Place, root: &Path) {
    if let Ok(st) = nix::sys::statvfs::statvfs(root) {
        let frag = st.fragment_size();
        place.size = st.blocks() * frag;
        place.free = st.blocks_available() * frag;
    }
    if let Some(r) = peek(root, "") {
        place.repositories.push(r);
    }
    let Ok(rd) = std::fs::read_dir(root) else {
        return;
    };
    let mut dirs: Vec<String> = rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    dirs.sort();
    for d in dirs {
        if let Some(r) = peek(&root.join(&d), &d) {
            place.repositories.push(r);
        }
    }
}

/// The repository at `dir`, if one is there: its config file marks it. Reads the image list
/// and only the newest manifest (a repository may hold hundreds of images).
fn peek(dir: &Path, rel: &str) -> Option<FoundRepo> {
    let config = std::fs::read(dir.join(repo::CONFIG_FILE)).ok()?;
    let mut found = FoundRepo {
        dir: rel.to_string(),
        at: String::new(),
        images: 0,
        newest: None,
        error: None,
    };
    if let Err(e) = serde_json::from_slice::<repo::RepoConfig>(&config) {
        found.error = Some(format!("{}: {e}", repo::CONFIG_FILE));
        return Some(found);
    }
    let mut images = Vec::new();
    if let Ok(names) = std::fs::read_dir(dir.join("images")) {
        for n in names.flatten() {
            let name = n.file_name().to_string_lossy().to_string();
            let Ok(files) = std::fs::read_dir(n.path()) else {
                continue;
            };
            for f in files.flatten() {
                if let Some(id) = f.file_name().to_string_lossy().strip_suffix(".manifest") {
                    images.push(repo::ImageRef {
                        name: name.clone(),
                        id: id.to_string(),
                    });
                }
            }
        }
    }
    found.images = images.len();
    // Ids start with the save's time (UTC, fixed width): the largest is the newest.
    if let Some(newest) = images.iter().max_by(|a, b| a.id.cmp(&b.id)) {
        let path = dir.join(newest.path());
        let read = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| {
                Manifest::decode(&path.display().to_string(), &b).map_err(|e| e.to_string())
            });
        match read {
            Ok(m) => {
                found.newest = Some(NewestImage {
                    name: newest.name.clone(),
                    id: newest.id.clone(),
                    created: m.created,
                    source: m.source.describe(),
                })
            }
            Err(e) => found.error = Some(e),
        }
    }
    Some(found)
}

/// A filesystem mounted read-only just to look at it; unmounted when dropped.
struct ReadOnlyMount {
    point: PathBuf,
}

impl ReadOnlyMount {
    fn new(device: &str, kernel_type: &str, options: &str) -> Result<Self, String> {
        let name = Path::new(device)
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "dev".into());
        let point = PathBuf::from(wraith_live::paths::MOUNT_DIR).join(format!("look-{name}"));
        std::fs::create_dir_all(&point).map_err(|e| format!("{}: {e}", point.display()))?;
        let flags = nix::mount::MsFlags::MS_RDONLY
            | nix::mount::MsFlags::MS_NOATIME
            | nix::mount::MsFlags::MS_NODEV
            | nix::mount::MsFlags::MS_NOSUID
            | nix::mount::MsFlags::MS_NOEXEC;
        let data = (!options.is_empty()).then_some(options);
        match nix::mount::mount(Some(device), &point, Some(kernel_type), flags, data) {
            Ok(()) => Ok(ReadOnlyMount { point }),
            Err(e) => {
                let _ = std::fs::remove_dir(&point);
                Err(format!(
                    "could not mount {device} ({kernel_type}) read-only: {e}"
                ))
            }
        }
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        // Nothing was written: no sync needed, and a detach never blocks on a busy mount.
        let _ = nix::mount::umount2(&self.point, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.point);
    }
}

/// The filesystems a save of `need` bytes could create a new repository on: writable, with
/// that much free (and some room to spare: 5 %), largest free space first.
pub fn room_for(places: &[Place], need: u64) -> Vec<&Place> {
    let want = need.saturating_add(need / 20);
    let mut out: Vec<&Place> = places
        .iter()
        .filter(|p| p.writable && p.error.is_none() && p.free >= want)
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.free));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(label: Option<&str>, uuid: Option<&str>) -> Place {
        Place {
            device: "/dev/sdz1".into(),
            disk: "/dev/sdz".into(),
            label: label.map(String::from),
            uuid: uuid.map(String::from),
            fs: "ext4".into(),
            size: 100,
            free: 50,
            writable: true,
            boot_medium: false,
            transport: "usb".into(),
            model: None,
            spec: String::new(),
            repositories: vec![FoundRepo {
                dir: "lab".into(),
                at: String::new(),
                images: 1,
                newest: None,
                error: None,
            }],
            error: None,
        }
    }

    #[test]
    fn a_place_is_named_by_a_unique_label_else_by_uuid_else_by_device() {
        let mut p = vec![
            place(Some("IMAGES"), Some("A-1")),
            place(Some("USB"), Some("B-2")),
            place(Some("USB"), Some("C-3")),
            place(None, None),
            place(Some("a/b"), Some("D-4")),
        ];
        name_places(&mut p);
        let specs: Vec<&str> = p.iter().map(|p| p.spec.as_str()).collect();
        assert_eq!(
            specs,
            [
                "label:IMAGES",
                "uuid:B-2",
                "uuid:C-3",
                "/dev/sdz1",
                "uuid:D-4"
            ]
        );
        assert_eq!(p[0].repositories[0].at, "label:IMAGES/lab");
    }

    #[test]
    fn room_for_a_save_counts_a_margin_and_skips_what_cannot_be_written() {
        let mut a = place(Some("A"), None);
        a.free = 104;
        let mut b = place(Some("B"), None);
        b.free = 106;
        let mut c = place(Some("C"), None);
        c.free = 1000;
        c.writable = false;
        let places = [a, b, c];
        let fits: Vec<_> = room_for(&places, 100)
            .iter()
            .map(|p| p.spec.clone())
            .collect();
        assert_eq!(fits.len(), 1);
        assert_eq!(room_for(&places, 100)[0].free, 106);
    }

    #[test]
    fn only_types_with_a_sure_read_only_mount_are_looked_at() {
        assert_eq!(readonly_mount("ext4"), Some(("ext4", "noload")));
        assert_eq!(readonly_mount("ext3"), Some(("ext4", "noload")));
        for t in [
            "swap",
            "iso9660",
            "crypto_LUKS",
            "linux_raid_member",
            "LVM2_member",
            "xfs",
        ] {
            assert_eq!(readonly_mount(t), None, "{t}");
        }
    }
}

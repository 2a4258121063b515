//! Finding the machine's disks and what they are (model, serial, transport) through udev and
//! sysfs, so that a disk is known by what it is rather than by the name it got this boot.

/// Model and serial of the block device with device number `rdev`, from udev's database.
pub fn model_serial(rdev: u64) -> (Option<String>, Option<String>) {
    let major = nix::sys::stat::major(rdev);
    let minor = nix::sys::stat::minor(rdev);
    let syspath = format!("/sys/dev/block/{major}:{minor}");
    let Ok(dev) = udev::Device::from_syspath(std::path::Path::new(&syspath)) else {
        return (None, None);
    };
    let prop = |k: &str| {
        dev.property_value(k)
            .map(|v| v.to_string_lossy().replace('_', " ").trim().to_string())
    };
    let model = prop("ID_MODEL").or_else(|| sysfs_attr(&syspath, "device/model"));
    let serial = prop("ID_SERIAL_SHORT").or_else(|| {
        sysfs_attr(&syspath, "serial").or_else(|| sysfs_attr(&syspath, "device/serial"))
    });
    (
        model.filter(|s| !s.is_empty()),
        serial.filter(|s| !s.is_empty()),
    )
}

fn sysfs_attr(syspath: &str, attr: &str) -> Option<String> {
    std::fs::read_to_string(format!("{syspath}/{attr}"))
        .ok()
        .map(|s| s.trim().to_string())
}

use serde::Serialize;

/// One disk of this machine, as a technician wants to see it.
#[derive(Clone, Debug, Serialize)]
pub struct DiskInfo {
    /// /dev/sda, /dev/nvme0n1 …
    pub path: String,
    /// A stable name: /dev/disk/by-id/… when udev made one.
    pub by_id: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub size: u64,
    /// SATA, NVMe, USB, virtio, MMC, SCSI, loop …
    pub transport: String,
    pub removable: bool,
    pub rotational: bool,
    pub read_only: bool,
    pub partitions: Vec<PartInfo>,
    /// A filesystem on the whole disk (a USB stick formatted without a partition table).
    pub fs: Option<String>,
    pub label: Option<String>,
    pub uuid: Option<String>,
    /// What the drive says of its own health (SMART, the NVMe health log); None for an image
    /// file's loop device, where it means nothing.
    pub health: Option<crate::health::Health>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PartInfo {
    pub path: String,
    pub size: u64,
    pub fs: Option<String>,
    pub label: Option<String>,
    pub uuid: Option<String>,
}

/// Every whole disk udev knows, skipping empty loop/ram devices. Needs no root: it reads only
/// udev's database and sysfs.
pub fn list() -> crate::Result<Vec<DiskInfo>> {
    let err = |e: std::io::Error| crate::Error::io("udev", e);
    let mut en = udev::Enumerator::new().map_err(err)?;
    en.match_subsystem("block").map_err(err)?;
    let mut disks = Vec::new();
    let mut parts: Vec<(std::path::PathBuf, PartInfo)> = Vec::new();
    for dev in en.scan_devices().map_err(err)? {
        let Some(node) = dev.devnode().map(|p| p.display().to_string()) else {
            continue;
        };
        let sys = dev.syspath().to_path_buf();
        let size = attr(&sys, "size")
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0)
            * 512;
        let prop = |k: &str| {
            dev.property_value(k)
                .map(|v| v.to_string_lossy().trim().to_string())
                .filter(|s| !s.is_empty())
        };
        match dev.devtype().and_then(|t| t.to_str()) {
            Some("disk") => {
                let name = dev.sysname().to_string_lossy().to_string();
                if size == 0 || name.starts_with("ram") || name.starts_with("zram") {
                    continue;
                }
                let by_id = prop("DEVLINKS").and_then(|l| {
                    let mut ids: Vec<&str> = l
                        .split(' ')
                        .filter(|p| p.starts_with("/dev/disk/by-id/"))
                        .collect();
                    ids.sort_by_key(|p| p.len());
                    ids.first().map(|s| s.to_string())
                });
                let serial = prop("ID_SERIAL_SHORT").or_else(|| attr(&sys, "serial"));
                let transport = transport(&name, &sys, prop("ID_BUS"));
                let health = crate::health::of(&node, &transport, serial.as_deref().unwrap_or(""));
                disks.push(DiskInfo {
                    path: node,
                    by_id,
                    model: prop("ID_MODEL")
                        .map(|s| s.replace('_', " "))
                        .or_else(|| attr(&sys, "device/model")),
                    serial,
                    size,
                    transport,
                    health,
                    removable: attr(&sys, "removable").as_deref() == Some("1"),
                    rotational: attr(&sys, "queue/rotational").as_deref() == Some("1"),
                    read_only: attr(&sys, "ro").as_deref() == Some("1"),
                    partitions: Vec::new(),
                    fs: prop("ID_FS_TYPE"),
                    label: prop("ID_FS_LABEL"),
                    uuid: prop("ID_FS_UUID"),
                });
            }
            Some("partition") => {
                if let Some(parent) = sys.parent() {
                    parts.push((
                        parent.to_path_buf(),
                        PartInfo {
                            path: node,
                            size,
                            fs: prop("ID_FS_TYPE"),
                            label: prop("ID_FS_LABEL"),
                            uuid: prop("ID_FS_UUID"),
                        },
                    ));
                }
            }
            _ => {}
        }
    }
    for (parent, p) in parts {
        let pname = parent
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if let Some(d) = disks
            .iter_mut()
            .find(|d| d.path.ends_with(&format!("/{pname}")))
        {
            d.partitions.push(p);
        }
    }
    for d in &mut disks {
        d.partitions.sort_by(|a, b| a.path.cmp(&b.path));
    }
    disks.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(disks)
}

fn attr(sys: &std::path::Path, name: &str) -> Option<String> {
    std::fs::read_to_string(sys.join(name))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

pub(crate) fn transport(name: &str, sys: &std::path::Path, bus: Option<String>) -> String {
    let real = std::fs::canonicalize(sys)
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    if name.starts_with("nvme") {
        "NVMe".into()
    } else if name.starts_with("mmcblk") {
        "MMC".into()
    } else if name.starts_with("loop") {
        "loop".into()
    } else if real.contains("/usb") {
        "USB".into()
    } else if name.starts_with("vd") || real.contains("/virtio") {
        "virtio".into()
    } else if bus.as_deref() == Some("ata") || real.contains("/ata") {
        "SATA".into()
    } else {
        bus.unwrap_or_else(|| "unknown".into())
    }
}

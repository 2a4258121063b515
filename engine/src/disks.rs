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

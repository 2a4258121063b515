//! Shared by the QEMU tests that boot with last month's images on a USB drive: the
//! repository is saved on the host, by the engine, before the boot.
#![allow(dead_code)] // each test file uses what it needs
#![allow(clippy::panic)]

use std::time::Duration;
use wraith_testkit::{self as kit, MIB};

/// A repository directory `lab/` (inside the returned temporary directory) with one image per
/// `(name, disk, serial)`, saved on the host in that order as if from a machine's disk with
/// that serial (the model QEMU gives its SATA disks): the field case of last month's images.
pub fn repository_dir(images: &[(&str, &kit::Disk, &str)]) -> tempfile::TempDir {
    use wraith_engine::device::{Device, DiskIdentity};
    use wraith_engine::pipeline::save::{save, SaveOptions};
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = wraith_engine::repo::Repository::open_or_create(&dir.path().join("lab"))
        .expect("repository");
    for (name, disk, serial) in images {
        let dev = Device::open_read(&disk.path).expect("open fixture");
        let identity = DiskIdentity {
            model: Some("QEMU HARDDISK".into()),
            serial: Some(serial.to_string()),
            path: "/dev/sda".into(),
            ..dev.identity.clone()
        };
        let plan = wraith_engine::plan::plan(&dev, identity).expect("plan");
        let opts = SaveOptions {
            name: name.to_string(),
            machine: None,
            all_sectors: false,
            zstd_level: None,
        };
        save(
            &dev,
            &plan,
            &repo,
            &opts,
            &wraith_engine::events::Ctx::quiet(),
        )
        .expect("save");
        // Ids are the save's time in milliseconds: the next image is newer.
        std::thread::sleep(Duration::from_millis(5));
    }
    dir
}

/// A USB drive (ext4, label IMAGES) holding [`repository_dir`]'s repository.
pub fn repository_drive(images: &[(&str, &kit::Disk, &str)]) -> kit::Disk {
    let dir = repository_dir(images);
    let usb = kit::blank_disk(96 * MIB);
    let made = std::process::Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "IMAGES", "-d"])
        .arg(dir.path())
        .arg(&usb.path)
        .status()
        .expect("mkfs.ext4");
    assert!(made.success(), "mkfs.ext4 -d of the images drive");
    usb
}

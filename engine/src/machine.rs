//! The machine a disk belongs to, as its firmware names it (DMI/SMBIOS): vendor, product and
//! serial number. A save of an internal disk records it, so a restore can pick "this
//! machine's image" even after the disk itself was replaced (its serial then differs).
//! Only read here; nothing in this module decides what to do with a match.

use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineIdentity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
}

impl MachineIdentity {
    /// "LENOVO 20L8S02D00 (PF1ABCDE)".
    pub fn describe(&self) -> String {
        let name: Vec<&str> = [self.vendor.as_deref(), self.product.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        let name = if name.is_empty() {
            "unknown machine".to_string()
        } else {
            name.join(" ")
        };
        match &self.serial {
            Some(s) => format!("{name} ({s})"),
            None => name,
        }
    }

    /// Whether two identities name the same machine: both serials known and equal, with the
    /// same product (serials are only unique within a vendor's products).
    pub fn same_machine(&self, other: &MachineIdentity) -> bool {
        self.serial.is_some() && self.serial == other.serial && self.product == other.product
    }
}

/// Strings firmware vendors leave in place of a real value.
fn placeholder(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    l.is_empty()
        || l.chars()
            .all(|c| c == '0' || c == ' ' || c == '.' || c == 'x')
        || [
            "to be filled",
            "default string",
            "system serial number",
            "system product name",
            "system manufacturer",
            "not specified",
            "not applicable",
            "none",
            "n/a",
            "123456789",
            "invalid",
            "oem",
        ]
        .iter()
        .any(|p| l.starts_with(p))
}

/// This machine, from /sys/class/dmi/id (the serial is readable by root only). None when the
/// firmware names nothing useful.
pub fn this() -> Option<MachineIdentity> {
    from_dir(Path::new("/sys/class/dmi/id"))
}

fn from_dir(dir: &Path) -> Option<MachineIdentity> {
    let read = |f: &str| {
        std::fs::read_to_string(dir.join(f))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !placeholder(s))
    };
    let id = MachineIdentity {
        vendor: read("sys_vendor"),
        product: read("product_name"),
        serial: read("product_serial"),
    };
    (id != MachineIdentity::default()).then_some(id)
}

/// Whether the block device at `path` is part of this machine: a disk inside it, not a USB
/// drive, a loop device over a file, or an image file on a host.
pub fn is_internal_disk(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if !meta.file_type().is_block_device() {
        return false;
    }
    use std::os::unix::fs::MetadataExt;
    let rdev = meta.rdev();
    let sys = format!(
        "/sys/dev/block/{}:{}",
        nix::sys::stat::major(rdev),
        nix::sys::stat::minor(rdev)
    );
    let Ok(real) = std::fs::canonicalize(&sys) else {
        return false;
    };
    let real = real.display().to_string();
    !(real.contains("/usb")
        || real.contains("/virtual/")
        || std::fs::read_to_string(format!("{sys}/removable")).is_ok_and(|r| r.trim() == "1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firmware_placeholders_are_not_identities() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("sys_vendor"), "To Be Filled By O.E.M.\n").expect("w");
        std::fs::write(dir.path().join("product_name"), "Default string\n").expect("w");
        std::fs::write(dir.path().join("product_serial"), "0000000\n").expect("w");
        assert_eq!(from_dir(dir.path()), None);
        std::fs::write(dir.path().join("sys_vendor"), "LENOVO\n").expect("w");
        std::fs::write(dir.path().join("product_name"), "20L8S02D00\n").expect("w");
        std::fs::write(dir.path().join("product_serial"), "PF1ABCDE\n").expect("w");
        let id = from_dir(dir.path()).expect("identity");
        assert_eq!(id.describe(), "LENOVO 20L8S02D00 (PF1ABCDE)");
        let mut other = id.clone();
        assert!(id.same_machine(&other));
        other.product = Some("20L9".into());
        assert!(!id.same_machine(&other));
        other.product = id.product.clone();
        other.serial = None;
        assert!(!id.same_machine(&other) && !other.same_machine(&other));
    }

    #[test]
    fn an_image_file_is_not_a_disk_of_this_machine() {
        let f = tempfile::NamedTempFile::new().expect("tempfile");
        assert!(!is_internal_disk(f.path()));
    }
}

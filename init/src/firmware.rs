//! How the machine booted: BIOS, UEFI, or UEFI with Secure Boot on. Reported on the
//! WRAITH-READY line and in the log, so a technician (and the tests) can see that a Secure
//! Boot machine really booted with it on, through the signed chain, without switching it off.

use std::path::Path;

use nix::mount::{mount, MsFlags};

use crate::log::{info, warning};

const EFI: &str = "/sys/firmware/efi";
const EFIVARS: &str = "/sys/firmware/efi/efivars";
/// The global variable the firmware sets to 1 when it verifies what it starts (UEFI spec,
/// EFI_GLOBAL_VARIABLE GUID). efivarfs shows it as 4 bytes of attributes, then the value.
const SECURE_BOOT_VAR: &str = "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Boot {
    Bios,
    Uefi,
    UefiSecureBoot,
}

impl Boot {
    /// The word on the WRAITH-READY line.
    pub fn name(self) -> &'static str {
        match self {
            Boot::Bios => "bios",
            Boot::Uefi => "uefi",
            Boot::UefiSecureBoot => "uefi-secureboot",
        }
    }
}

/// Mounts efivarfs (read by the firmware check here, and by anyone who later looks at boot
/// entries) and tells how the machine booted. On Debian's kernel efivarfs is a module: the
/// mount makes the kernel ask /sbin/modprobe for it.
pub fn detect() -> Boot {
    if !Path::new(EFI).is_dir() {
        return Boot::Bios;
    }
    let var = Path::new(EFIVARS).join(SECURE_BOOT_VAR);
    if !var.exists() {
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        if let Err(e) = mount(
            Some("efivarfs"),
            EFIVARS,
            Some("efivarfs"),
            flags,
            None::<&str>,
        ) {
            warning!("cannot mount efivarfs on {EFIVARS}: {}", e.desc());
        }
    }
    let boot = match std::fs::read(&var) {
        Ok(bytes) if bytes.get(4) == Some(&1) => Boot::UefiSecureBoot,
        _ => Boot::Uefi,
    };
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|r| r.trim().to_string())
        .unwrap_or_default();
    let modules = Path::new("/lib/modules").join(&kernel).is_dir();
    info!(
        "boot: {}, kernel {kernel}{}",
        match boot {
            Boot::Bios => "BIOS",
            Boot::Uefi => "UEFI, Secure Boot off",
            Boot::UefiSecureBoot => "UEFI, Secure Boot on",
        },
        if modules { " with its modules" } else { "" }
    );
    boot
}

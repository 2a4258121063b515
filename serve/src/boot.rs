//! Network boot over HTTP: the live system's kernel and initramfs from a boot directory, and
//! the iPXE script, generated for this server's own URL.
//!
//! iPXE first fetches `/boot/wraith.ipxe`, which chains to `/boot/wraith.ipxe?mac=${mac}` (so
//! the server learns which machine is booting, and the room view shows it), and that script
//! boots the kernel with `wraith.job=http://SERVER/jobs/<MAC>.toml` only when a job exists for
//! that machine (its own file or `default.toml`): a machine without one boots to the
//! interactive UI instead of failing to fetch a job.

use std::path::{Path, PathBuf};

/// The files network boot needs, as built by `./build.sh pxe` (out/pxe/) or found on the boot
/// medium of the live system (/boot/).
pub const KERNEL: &str = "vmlinuz";
pub const INITRAMFS: &str = "initramfs.zst";

/// Kernel parameters every network-booted machine gets: both consoles, as the ISO's default
/// entry, so a serial console (or a test) sees the result lines too.
pub const KERNEL_ARGS: &str = "console=ttyS0,115200 console=tty0";

/// A directory holding the kernel and the initramfs.
#[derive(Clone, Debug)]
pub struct BootDir {
    pub dir: PathBuf,
}

impl BootDir {
    /// Checks that `dir` holds both files; the error names what is missing where.
    pub fn open(dir: &Path) -> Result<BootDir, String> {
        let missing: Vec<&str> = [KERNEL, INITRAMFS]
            .into_iter()
            .filter(|f| !dir.join(f).is_file())
            .collect();
        if missing.is_empty() {
            Ok(BootDir {
                dir: dir.to_path_buf(),
            })
        } else {
            Err(format!(
                "{}: no {} there (build them with `./build.sh pxe`, which writes out/pxe/)",
                dir.display(),
                missing.join(" nor ")
            ))
        }
    }

    pub fn file(&self, name: &str) -> Option<PathBuf> {
        matches!(name, KERNEL | INITRAMFS).then(|| self.dir.join(name))
    }
}

/// The first script: asks iPXE to come back with its MAC address.
pub fn chain_script(base: &str) -> String {
    format!(
        "#!ipxe\n\
         # wraith serve: network boot of Wraith. Chains to the same script with this machine's\n\
         # MAC address, so the server can give the machine its own job.\n\
         chain {base}/boot/wraith.ipxe?mac=${{mac:hexhyp}}\n"
    )
}

/// The script that boots Wraith on one machine; `job` is whether it has a job file.
pub fn machine_script(base: &str, mac: Option<&str>, job: bool, extra_args: &str) -> String {
    let mut args = KERNEL_ARGS.to_string();
    // pxelinux's convention: the card the machine booted from, which a job's hostnames
    // table is keyed by (the machine may have other cards).
    if let Some(mac) = mac {
        args.push_str(&format!(
            " BOOTIF=01-{}",
            mac.replace(':', "-").to_lowercase()
        ));
    }
    if let (Some(mac), true) = (mac, job) {
        args.push_str(&format!(
            " wraith.job={base}/jobs/{}.toml",
            mac.replace(':', "-")
        ));
    }
    if !extra_args.is_empty() {
        args.push(' ');
        args.push_str(extra_args);
    }
    format!(
        "#!ipxe\n\
         # wraith serve: network boot of Wraith{for_mac}.\n\
         {job_note}\
         kernel {base}/boot/{KERNEL} initrd={INITRAMFS} {args}\n\
         initrd {base}/boot/{INITRAMFS}\n\
         boot\n",
        for_mac = mac.map(|m| format!(" for {m}")).unwrap_or_default(),
        job_note = if job {
            "# Its job comes from wraith.job= below; it runs unattended.\n"
        } else {
            "# No job file for this machine: it boots to the interactive UI.\n"
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_script_names_its_job_only_when_there_is_one() {
        let with = machine_script("http://10.0.0.1:8080", Some("52:54:00:ab:cd:ef"), true, "");
        assert!(with.starts_with("#!ipxe\n"));
        assert!(with.contains(
            "kernel http://10.0.0.1:8080/boot/vmlinuz initrd=initramfs.zst console=ttyS0,115200 console=tty0 BOOTIF=01-52-54-00-ab-cd-ef wraith.job=http://10.0.0.1:8080/jobs/52-54-00-ab-cd-ef.toml\n"
        ));
        assert!(with.contains("initrd http://10.0.0.1:8080/boot/initramfs.zst\nboot\n"));
        let without = machine_script("http://h:1", Some("52:54:00:ab:cd:ef"), false, "");
        assert!(!without.contains("wraith.job"));
        assert!(chain_script("http://h:1")
            .contains("chain http://h:1/boot/wraith.ipxe?mac=${mac:hexhyp}\n"));
    }
}

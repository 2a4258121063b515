//! The VGA console's keyboard layout on the live system: `wraith.keymap=NAME` on the kernel
//! command line (applied when the terminal UI starts), or the UI's keyboard picker (`k` on the
//! home screen). Loads one of the keymaps compiled into the initramfs (rootfs/keymaps.sh) with
//! busybox's `loadkmap`; the kernel has one keymap for every virtual terminal, so the rescue
//! shell types the same.
//!
//! Must not: touch a host's keyboard (on a host the desktop owns it: nothing here runs unless
//! the live system is running), or load anything but a shipped keymap by its name.

use std::path::{Path, PathBuf};

/// Where the live system keeps its compiled keymaps (`NAME.bmap`).
pub const DIR: &str = "/usr/share/wraith/keymaps";

/// The keymap names shipped in `dir`, `us` (the kernel's own) first, the rest sorted.
pub fn available(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".bmap")
                .map(str::to_string)
        })
        .collect();
    names.sort_by_key(|n| (n != "us", n.clone()));
    names
}

/// `wraith.keymap=NAME` from a kernel command line.
pub fn from_cmdline(cmdline: &str) -> Option<String> {
    cmdline
        .split_ascii_whitespace()
        .find_map(|w| w.strip_prefix("wraith.keymap="))
        .map(|v| v.trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

/// The compiled keymap file of `name`, if it is one of those in `dir` (a name is never a path).
fn file(dir: &Path, name: &str) -> Result<PathBuf, String> {
    let known = available(dir);
    if !known.iter().any(|k| k == name) {
        return Err(format!(
            "no keymap {name:?}: the live system has {}",
            known.join(", ")
        ));
    }
    Ok(dir.join(format!("{name}.bmap")))
}

/// Loads keymap `name` for the console (live system only).
pub fn load(name: &str) -> Result<(), String> {
    if !wraith_engine::live::running_live() {
        return Err("the keyboard layout is changed on the live system only".into());
    }
    let path = file(Path::new(DIR), name)?;
    let input = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let out = std::process::Command::new("/bin/busybox")
        .arg("loadkmap")
        .stdin(input)
        .output()
        .map_err(|e| format!("busybox loadkmap: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "loadkmap {name}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// The keymap the kernel command line asks for, loaded; None when it asks for none. Called
/// when the terminal UI starts on the live system.
pub fn apply_boot_choice() -> Option<Result<String, String>> {
    let cmdline = std::fs::read_to_string("/proc/cmdline").ok()?;
    let name = from_cmdline(&cmdline)?;
    Some(load(&name).map(|()| name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_comes_from_the_command_line_and_must_be_shipped() {
        assert_eq!(
            from_cmdline("console=tty0 wraith.keymap=de quiet"),
            Some("de".into())
        );
        assert_eq!(from_cmdline("wraith.keymap=\"fr\""), Some("fr".into()));
        assert_eq!(from_cmdline("wraith.keymap= quiet"), None);
        assert_eq!(from_cmdline("console=tty0"), None);

        let dir = tempfile::tempdir().expect("tempdir");
        for n in ["de", "us", "fr"] {
            std::fs::write(dir.path().join(format!("{n}.bmap")), b"bkeymap").expect("write");
        }
        assert_eq!(available(dir.path()), ["us", "de", "fr"]);
        assert!(file(dir.path(), "de").is_ok());
        let err = file(dir.path(), "../../etc/passwd").expect_err("not a keymap name");
        assert!(err.contains("the live system has us, de, fr"), "{err}");
    }
}

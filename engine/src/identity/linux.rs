//! Naming a restored Linux system, mounted at a root: its host name (/etc/hostname and the
//! lines of /etc/hosts that carried the old one), a new machine id at first boot (an empty
//! /etc/machine-id is systemd's "make one"), and new SSH host keys (the golden machine's are
//! removed; a one-shot unit runs `ssh-keygen -A` before sshd, since not every distribution's
//! sshd makes missing keys itself).
//!
//! Must not follow the restored system's symbolic links (absolute ones point into this
//! machine's own /etc) nor change anything but those files.

use super::inside;
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The unit that makes SSH host keys on the first boot after a restore.
const KEYGEN_UNIT: &str = "wraith-ssh-host-keys.service";

/// What was found and done: None when `root` holds no Linux system.
pub type Outcome = Option<(String, Vec<String>, Vec<String>)>;

pub fn name(root: &Path, name: &str) -> std::io::Result<Outcome> {
    let Some(etc) = inside(root, "etc").filter(|p| p.is_dir()) else {
        return Ok(None);
    };
    let os = os_release(root);
    if os.is_none() && !etc.join("hostname").exists() && !etc.join("fstab").exists() {
        return Ok(None);
    }
    let system = os.unwrap_or_else(|| "Linux".to_string());
    let mut changes = Vec::new();
    let mut warnings = Vec::new();

    let old = match inside(root, "etc/hostname") {
        Some(p) => match fs::read_to_string(&p) {
            Ok(s) => s.trim().to_string(),
            Err(e) if e.kind() == ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        },
        None => String::new(),
    };
    match inside(root, "etc/hostname") {
        Some(p) => {
            write_keeping_mode(&p, format!("{name}\n").as_bytes(), 0o644)?;
            changes.push(if old.is_empty() {
                format!("/etc/hostname: {name}")
            } else {
                format!("/etc/hostname: {old} → {name}")
            });
        }
        None => warnings.push(
            "/etc/hostname is a symbolic link: left alone, the host name is not set".to_string(),
        ),
    }

    if let Some(p) = inside(root, "etc/hosts").filter(|p| p.is_file()) {
        let text = fs::read_to_string(&p)?;
        let (new, n) = hosts_renamed(&text, &old, name);
        if new != text {
            write_keeping_mode(&p, new.as_bytes(), 0o644)?;
            changes.push(match n {
                0 => format!("/etc/hosts: 127.0.1.1 {name} added"),
                n => format!("/etc/hosts: {name} on {n} line(s) that named the old name"),
            });
        }
    }

    if let Some(p) = inside(root, "etc/machine-id").filter(|p| p.is_file()) {
        if fs::metadata(&p)?.len() > 0 {
            write_keeping_mode(&p, b"", 0o444)?;
            changes
                .push("/etc/machine-id emptied: systemd makes a new one at first boot".to_string());
        }
    }
    // D-Bus's own copy, where it is a file of its own rather than a link to the one above.
    if let Some(p) = inside(root, "var/lib/dbus/machine-id").filter(|p| p.is_file()) {
        fs::remove_file(&p)?;
        changes.push("/var/lib/dbus/machine-id removed".to_string());
    }

    let mut removed = 0;
    if let Some(ssh) = inside(root, "etc/ssh").filter(|p| p.is_dir()) {
        for ent in fs::read_dir(&ssh)? {
            let ent = ent?;
            let n = ent.file_name().to_string_lossy().into_owned();
            let key = n.starts_with("ssh_host_")
                && (n.ends_with("_key") || n.ends_with("_key.pub"))
                && ent.file_type()?.is_file();
            if key {
                fs::remove_file(ent.path())?;
                removed += 1;
            }
        }
    }
    if removed > 0 {
        changes.push(format!(
            "{removed} SSH host key file(s) of the golden machine removed"
        ));
        if uses_systemd(root) {
            add_keygen_unit(root)?;
            changes.push(format!(
                "/etc/systemd/system/{KEYGEN_UNIT}: makes new SSH host keys before sshd starts"
            ));
        } else {
            warnings.push(
                "no systemd found: the SSH host keys were removed and sshd's start script must \
                 make new ones (run ssh-keygen -A if it does not)"
                    .to_string(),
            );
        }
    }
    Ok(Some((system, changes, warnings)))
}

/// PRETTY_NAME from os-release (/etc's, else /usr/lib's, the file /etc's usually links to).
fn os_release(root: &Path) -> Option<String> {
    let text = ["etc/os-release", "usr/lib/os-release"]
        .iter()
        .filter_map(|rel| inside(root, rel))
        .find_map(|p| fs::read_to_string(p).ok())?;
    text.lines().find_map(|l| {
        l.strip_prefix("PRETTY_NAME=")
            .map(|v| v.trim().trim_matches('"').trim_matches('\'').to_string())
    })
}

/// /etc/hosts with the old name (and `old.domain` forms) replaced by the new one on every
/// line, and how many lines changed; when no line names the machine afterwards, Debian's
/// `127.0.1.1 name` line is added so the name resolves.
fn hosts_renamed(text: &str, old: &str, new: &str) -> (String, usize) {
    let mut changed = 0;
    let mut named = false;
    let mut out = String::new();
    for line in text.lines() {
        let (body, comment) = match line.find('#') {
            Some(i) => line.split_at(i),
            None => (line, ""),
        };
        let mut words = body.split_whitespace();
        let addr = words.next();
        let names: Vec<&str> = words.collect();
        let renamed: Vec<String> = names
            .iter()
            .map(|w| {
                if !old.is_empty() && *w == old {
                    new.to_string()
                } else if let Some(rest) = w
                    .strip_prefix(old)
                    .filter(|r| !old.is_empty() && r.starts_with('.') && r.len() > 1)
                {
                    format!("{new}{rest}")
                } else {
                    w.to_string()
                }
            })
            .collect();
        if renamed
            .iter()
            .any(|w| w == new || w.starts_with(&format!("{new}.")))
        {
            named = true;
        }
        match addr {
            Some(addr) if renamed.iter().zip(&names).any(|(a, b)| a != b) => {
                changed += 1;
                out.push_str(&format!("{addr}\t{}", renamed.join(" ")));
                if !comment.is_empty() {
                    out.push(' ');
                    out.push_str(comment);
                }
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    if !named {
        out.push_str(&format!("127.0.1.1\t{new}\n"));
    }
    (out, changed)
}

fn uses_systemd(root: &Path) -> bool {
    ["usr/lib/systemd/systemd", "lib/systemd/systemd"]
        .iter()
        .any(|rel| root.join(rel).exists())
        || inside(root, "etc/systemd/system").is_some_and(|p| p.is_dir())
}

fn add_keygen_unit(root: &Path) -> std::io::Result<()> {
    let dir = inside(root, "etc/systemd/system")
        .ok_or_else(|| std::io::Error::other("/etc/systemd/system is a symbolic link"))?;
    fs::create_dir_all(&dir)?;
    let unit = "[Unit]\n\
                Description=Make the SSH host keys this machine was deployed without (Wraith)\n\
                Before=ssh.service sshd.service ssh.socket sshd.socket\n\
                \n\
                [Service]\n\
                Type=oneshot\n\
                ExecStart=/usr/bin/ssh-keygen -A\n\
                \n\
                [Install]\n\
                WantedBy=multi-user.target\n";
    write_keeping_mode(&dir.join(KEYGEN_UNIT), unit.as_bytes(), 0o644)?;
    let wants = dir.join("multi-user.target.wants");
    fs::create_dir_all(&wants)?;
    let link = wants.join(KEYGEN_UNIT);
    if fs::symlink_metadata(&link).is_err() {
        std::os::unix::fs::symlink(format!("/etc/systemd/system/{KEYGEN_UNIT}"), &link)?;
    }
    Ok(())
}

/// Replaces a file's contents through a temporary file and a rename (a power cut leaves the
/// old file or the new one), keeping its mode, owner and group (`mode` for a new file).
fn write_keeping_mode(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let old = fs::metadata(path).ok();
    let tmp = path.with_extension("wraith-new");
    fs::write(&tmp, data)?;
    let perm = old.as_ref().map(|m| m.mode() & 0o7777).unwrap_or(mode);
    fs::set_permissions(&tmp, fs::Permissions::from_mode(perm))?;
    if let Some(m) = &old {
        std::os::unix::fs::chown(&tmp, Some(m.uid()), Some(m.gid()))?;
    }
    fs::File::open(&tmp)?.sync_all()?;
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lines_follow_the_name() {
        let text = "127.0.0.1\tlocalhost\n127.0.1.1\tgolden.lab.example golden\n\
                    # golden is the template\n::1 localhost ip6-localhost\n";
        let (out, n) = hosts_renamed(text, "golden", "lab-07");
        assert_eq!(n, 1);
        assert!(
            out.contains("127.0.1.1\tlab-07.lab.example lab-07\n"),
            "{out}"
        );
        assert!(
            out.contains("# golden is the template"),
            "comments stay: {out}"
        );
        assert!(
            !out.contains("127.0.1.1\tlab-07\n"),
            "no second line: {out}"
        );
        // Nothing named the machine: Debian's line is added.
        let (out, n) = hosts_renamed("127.0.0.1 localhost\n", "", "lab-07");
        assert_eq!(n, 0);
        assert_eq!(out, "127.0.0.1 localhost\n127.0.1.1\tlab-07\n");
        // A name that merely starts like the old one is not it.
        let (out, _) = hosts_renamed("10.0.0.5 goldenrod\n", "golden", "lab-07");
        assert!(out.starts_with("10.0.0.5 goldenrod\n"), "{out}");
    }

    #[test]
    fn a_tree_without_etc_is_not_linux() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(name(d.path(), "x").unwrap(), None);
    }
}

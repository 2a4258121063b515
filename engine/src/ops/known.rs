//! Repositories the technician does not type again: named on the kernel command line
//! (`wraith.repo=`, any number of times), listed in `repositories.toml` on the boot stick's data
//! partition (written by hand or by a lab's admin), or remembered there by the UI after they
//! were opened successfully. On a host the same file lives in `~/.config/wraith/`.
//!
//! The list file never holds a password. A password is kept only when the technician asks, in
//! a separate file ([`PASSWORDS_FILE`]) created readable by its owner only (root on the live
//! system) — on a FAT stick, which has no permissions, anyone holding the stick can read it,
//! and the UI says so before keeping one. Files are replaced atomically (written beside, then
//! renamed), so a stick pulled mid-write keeps the previous list. This module reads and writes
//! those files and parses the command line; finding and mounting the data partition is the
//! caller's (see [`super::discover::DATA_LABEL`]).

use crate::error::{Error, Result};
use crate::repo::location::{self, Location, Password};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The list of repositories, at the root of the data partition.
pub const LIST_FILE: &str = "repositories.toml";
/// Kept passwords, beside the list: owner-only.
pub const PASSWORDS_FILE: &str = "repository-passwords.toml";

/// Where a known repository was learnt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// `wraith.repo=` on the kernel command line.
    KernelCommandLine,
    /// `repositories.toml`: written by hand or remembered by the UI.
    ListFile,
}

/// A repository offered without typing.
#[derive(Clone, Serialize)]
pub struct Known {
    /// A location as a user types it: a URL (without password), `label:…/dir` or a directory.
    pub at: String,
    /// A name given in the list file ("Lab share").
    pub name: Option<String>,
    pub origin: Origin,
    /// A password kept on the stick for this location's user; never serialised.
    #[serde(skip)]
    pub password: Option<Password>,
}

impl std::fmt::Debug for Known {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Known")
            .field("at", &self.at)
            .field("name", &self.name)
            .field("origin", &self.origin)
            .field("password", &self.password.as_ref().map(|_| "(kept)"))
            .finish()
    }
}

impl Known {
    /// The location for lists: a URL as the engine shows it.
    pub fn shown(&self) -> String {
        Location::parse(&self.at).map_or_else(|_| self.at.clone(), |l| l.display())
    }
}

#[derive(Default, Serialize, Deserialize)]
struct ListFile {
    #[serde(default, rename = "repository")]
    repositories: Vec<ListEntry>,
}

#[derive(Clone, Serialize, Deserialize)]
struct ListEntry {
    at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

#[derive(Default, Serialize, Deserialize)]
struct PasswordsFile {
    #[serde(default, rename = "password")]
    passwords: Vec<PasswordEntry>,
}

#[derive(Serialize, Deserialize)]
struct PasswordEntry {
    at: String,
    password: String,
}

/// Every `wraith.repo=` value of a kernel command line, in order.
pub fn from_cmdline(line: &str) -> Vec<Known> {
    wraith_live::cmdline::split_params(line)
        .into_iter()
        .filter(|(k, _)| k == "wraith.repo")
        .filter_map(|(_, v)| v.map(|v| v.trim().to_string()))
        .filter(|v| !v.is_empty())
        .map(|at| Known {
            at,
            name: None,
            origin: Origin::KernelCommandLine,
            password: None,
        })
        .collect()
}

/// The repositories listed in `dir` (the data partition's root, or ~/.config/wraith), with
/// their kept passwords. No file: an empty list. A file that does not parse is an error naming
/// it and the line (the technician wrote it by hand and must know what is wrong).
pub fn read(dir: &Path) -> Result<Vec<Known>> {
    let list: ListFile = match read_toml(&dir.join(LIST_FILE))? {
        Some(l) => l,
        None => return Ok(Vec::new()),
    };
    let passwords: PasswordsFile = read_toml(&dir.join(PASSWORDS_FILE))?.unwrap_or_default();
    Ok(list
        .repositories
        .into_iter()
        .map(|e| Known {
            password: passwords
                .passwords
                .iter()
                .find(|p| p.at == e.at)
                .map(|p| Password::new(p.password.clone())),
            at: e.at,
            name: e.name,
            origin: Origin::ListFile,
        })
        .collect())
}

fn read_toml<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    toml::from_str(&text)
        .map(Some)
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
}

/// What [`remember`] did, for the UI to say.
#[derive(Debug, PartialEq, Eq)]
pub struct Remembered {
    pub list: PathBuf,
    /// Where the password went, when one was kept.
    pub passwords: Option<PathBuf>,
    /// The location was in the list already (its password, if given, is updated).
    pub already: bool,
}

/// Adds `at` to the list in `dir` (creating the file), and its password to the owner-only
/// passwords file when one is given. A location holding a password is refused: passwords
/// never go into the list.
pub fn remember(dir: &Path, at: &str, password: Option<&Password>) -> Result<Remembered> {
    if location::is_url(at) {
        // Refuses a password in the URL, so it cannot land in the list by the back door.
        Location::parse(at)?;
    }
    let list_path = dir.join(LIST_FILE);
    let mut list: ListFile = read_toml(&list_path)?.unwrap_or_default();
    let already = list.repositories.iter().any(|e| e.at == at);
    if !already {
        list.repositories.push(ListEntry {
            at: at.to_string(),
            name: None,
        });
        write_atomic(&list_path, &to_toml(&list)?, 0o644)?;
    }
    let passwords = match password {
        None => None,
        Some(p) => {
            let path = dir.join(PASSWORDS_FILE);
            let mut file: PasswordsFile = read_toml(&path)?.unwrap_or_default();
            file.passwords.retain(|e| e.at != at);
            file.passwords.push(PasswordEntry {
                at: at.to_string(),
                password: p.expose().to_string(),
            });
            write_atomic(&path, &to_toml(&file)?, 0o600)?;
            Some(path)
        }
    };
    Ok(Remembered {
        list: list_path,
        passwords,
        already,
    })
}

/// Takes `at` out of the list and its password out of the passwords file.
pub fn forget(dir: &Path, at: &str) -> Result<bool> {
    let list_path = dir.join(LIST_FILE);
    let Some(mut list) = read_toml::<ListFile>(&list_path)? else {
        return Ok(false);
    };
    let before = list.repositories.len();
    list.repositories.retain(|e| e.at != at);
    let removed = list.repositories.len() != before;
    if removed {
        write_atomic(&list_path, &to_toml(&list)?, 0o644)?;
    }
    let pw_path = dir.join(PASSWORDS_FILE);
    if let Some(mut pw) = read_toml::<PasswordsFile>(&pw_path)? {
        let n = pw.passwords.len();
        pw.passwords.retain(|e| e.at != at);
        if pw.passwords.len() != n {
            write_atomic(&pw_path, &to_toml(&pw)?, 0o600)?;
        }
    }
    Ok(removed)
}

fn to_toml<T: Serialize>(v: &T) -> Result<String> {
    toml::to_string(v).map_err(|e| Error::Invalid(format!("writing the repository list: {e}")))
}

/// Writes beside `path` and renames into place, created with `mode` (before any byte is
/// written, so a password is never readable by others even for a moment).
fn write_atomic(path: &Path, text: &str, mode: u32) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("toml.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| Error::io(&tmp, e))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Where a host keeps its list: `$XDG_CONFIG_HOME/wraith`, else `~/.config/wraith`.
pub fn host_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("wraith"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".config/wraith"))
}

/// The directory holding the list on this system, kept reachable while this lives.
pub struct ListDir {
    pub path: PathBuf,
    _mounted: Option<crate::mount::Mounted>,
}

/// Where the list is: on the live system the boot stick's data partition (a partition labelled
/// [`super::discover::DATA_LABEL`] on a boot disk in `boot`), mounted read-write for as long
/// as the result lives — None when the stick has none (a CD, or a stick without one); on a
/// host `~/.config/wraith` (created).
pub fn list_dir(disks: &[crate::disks::DiskInfo], boot: &[String]) -> Result<Option<ListDir>> {
    if !crate::live::running_live() {
        let Some(path) = host_dir() else {
            return Ok(None);
        };
        std::fs::create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
        return Ok(Some(ListDir {
            path,
            _mounted: None,
        }));
    }
    let on_stick: Vec<_> = disks
        .iter()
        .filter(|d| boot.contains(&d.path))
        .cloned()
        .collect();
    let label = super::discover::DATA_LABEL;
    let Some(dev) = super::repository::find_fs(&on_stick, label, false) else {
        return Ok(None);
    };
    let (path, mounted) = crate::mount::mount_device(Path::new(&dev), label)?;
    Ok(Some(ListDir {
        path,
        _mounted: mounted,
    }))
}

/// Every repository known without typing: the command line's, then the list's. A list that
/// cannot be read gives a warning, not an empty screen with no word why.
pub fn all(cmdline: &str, dir: Option<&Path>) -> (Vec<Known>, Vec<String>) {
    let mut warnings = Vec::new();
    let listed = match dir.map(read) {
        Some(Ok(k)) => k,
        Some(Err(e)) => {
            warnings.push(e.to_string());
            Vec::new()
        }
        None => Vec::new(),
    };
    (merge(vec![from_cmdline(cmdline), listed]), warnings)
}

/// Merges lists, the first naming of a location winning (the command line first: it is what
/// the technician chose at boot); a password from a later list fills in.
pub fn merge(lists: Vec<Vec<Known>>) -> Vec<Known> {
    let mut out: Vec<Known> = Vec::new();
    for k in lists.into_iter().flatten() {
        match out.iter_mut().find(|o| o.at == k.at) {
            Some(o) => {
                if o.password.is_none() {
                    o.password = k.password;
                }
                if o.name.is_none() {
                    o.name = k.name;
                }
            }
            None => out.push(k),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_command_line_names_repositories_with_the_kernels_quoting() {
        let k = from_cmdline(
            r#"console=ttyS0 wraith.repo=smb://tech@10.0.2.2/images "wraith.repo=label:MY DRIVE/lab" wraith.repo= quiet"#,
        );
        let at: Vec<&str> = k.iter().map(|k| k.at.as_str()).collect();
        assert_eq!(at, ["smb://tech@10.0.2.2/images", "label:MY DRIVE/lab"]);
        assert!(k.iter().all(|k| k.origin == Origin::KernelCommandLine));
    }

    #[test]
    fn remembering_keeps_the_password_apart_and_owner_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = remember(dir.path(), "smb://tech@10.0.2.2/images", None).expect("remember");
        assert!(!r.already && r.passwords.is_none());
        let r = remember(
            dir.path(),
            "smb://tech@10.0.2.2/images",
            Some(&Password::new("s3cret")),
        )
        .expect("remember with password");
        assert!(r.already);
        let pw = r.passwords.expect("password file");
        let mode = std::fs::metadata(&pw).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let list = std::fs::read_to_string(dir.path().join(LIST_FILE)).expect("list");
        assert!(!list.contains("s3cret"), "{list}");
        remember(dir.path(), "nfs://10.0.2.2/export/images", None).expect("second");
        let known = read(dir.path()).expect("read");
        assert_eq!(known.len(), 2);
        assert_eq!(
            known[0].password.as_ref().map(|p| p.expose()),
            Some("s3cret")
        );
        assert!(known[1].password.is_none());
        assert!(!format!("{known:?}").contains("s3cret"));
        // Forgetting takes the password too.
        assert!(forget(dir.path(), "smb://tech@10.0.2.2/images").expect("forget"));
        let text = std::fs::read_to_string(pw).expect("passwords");
        assert!(!text.contains("s3cret"), "{text}");
        assert_eq!(read(dir.path()).expect("read").len(), 1);
    }

    #[test]
    fn a_password_in_a_url_is_never_written_to_the_list() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = remember(dir.path(), "smb://tech:pw@10.0.2.2/images", None);
        assert!(e.is_err());
        assert!(!dir.path().join(LIST_FILE).exists());
    }

    #[test]
    fn a_hand_written_list_that_does_not_parse_names_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(LIST_FILE), "[[repository]]\nat = \n").expect("write");
        let e = read(dir.path()).expect_err("bad toml").to_string();
        assert!(e.contains(LIST_FILE), "{e}");
        std::fs::write(
            dir.path().join(LIST_FILE),
            "[[repository]]\nat = \"http://10.0.2.2:8080/images\"\nname = \"Lab\"\n",
        )
        .expect("write");
        let k = read(dir.path()).expect("read");
        assert_eq!(k[0].name.as_deref(), Some("Lab"));
    }

    #[test]
    fn the_command_line_wins_and_a_kept_password_fills_in() {
        let mut cmd = from_cmdline("wraith.repo=smb://u@h/s");
        cmd.push(Known {
            at: "x".into(),
            name: None,
            origin: Origin::KernelCommandLine,
            password: None,
        });
        let file = vec![Known {
            at: "smb://u@h/s".into(),
            name: Some("Lab".into()),
            origin: Origin::ListFile,
            password: Some(Password::new("p")),
        }];
        let m = merge(vec![cmd, file]);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].origin, Origin::KernelCommandLine);
        assert_eq!(m[0].name.as_deref(), Some("Lab"));
        assert!(m[0].password.is_some());
    }
}

//! Per-machine job files: `GET /jobs/<MAC>.toml` answers the job file of that machine, else
//! `default.toml`, else nothing. A MAC is written in any of its usual forms, in the request
//! and in file names alike (`52:54:00:ab:cd:ef`, `52-54-00-AB-CD-EF`, `525400abcdef`), so a
//! technician may name files on a FAT stick, where ':' is not allowed. `{server}` in a served
//! job becomes the address the machine reached this server at, so one job file works wherever
//! the server runs: `repository = "http://{server}/repo"`.

use std::path::{Path, PathBuf};

/// A MAC address in canonical form: six lowercase hex pairs joined by ':'.
pub fn normalise_mac(s: &str) -> Option<String> {
    // Six pairs split by ':' or '-', three groups of four split by '.', or twelve digits.
    let groups: Vec<&str> = s.split([':', '-', '.']).collect();
    let shape_ok = match groups.len() {
        1 => true,
        6 => groups.iter().all(|g| g.len() == 2) && !s.contains('.'),
        3 => groups.iter().all(|g| g.len() == 4) && !s.contains([':', '-']),
        _ => false,
    };
    let hex: String = groups.concat();
    if !shape_ok || hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let lower = hex.to_ascii_lowercase();
    Some(
        (0..6)
            .map(|i| &lower[i * 2..i * 2 + 2])
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// Which job file a machine gets.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// Its own file.
    Machine(PathBuf),
    /// `default.toml`.
    Default(PathBuf),
}

impl Found {
    pub fn path(&self) -> &Path {
        match self {
            Found::Machine(p) | Found::Default(p) => p,
        }
    }
}

/// The job file for `mac` (canonical) in `dir`: a file whose stem is that MAC in any form,
/// else `default.toml`.
pub fn find(dir: &Path, mac: &str) -> Option<Found> {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let Some(stem) = name.strip_suffix(".toml") else {
                continue;
            };
            if normalise_mac(stem).as_deref() == Some(mac) && e.path().is_file() {
                return Some(Found::Machine(e.path()));
            }
        }
    }
    let d = dir.join("default.toml");
    d.is_file().then_some(Found::Default(d))
}

/// What the jobs directory holds: (machines with their own file, whether a default exists).
pub fn inventory(dir: &Path) -> (Vec<String>, bool) {
    let mut macs = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(m) = name.strip_suffix(".toml").and_then(normalise_mac) {
                macs.push(m);
            }
        }
    }
    macs.sort();
    (macs, dir.join("default.toml").is_file())
}

/// The job text as served: `{server}` replaced by `host:port`.
pub fn substitute(text: &str, server: &str) -> String {
    text.replace("{server}", server)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_forms_normalise_to_one() {
        for f in [
            "52:54:00:AB:cd:ef",
            "52-54-00-ab-cd-ef",
            "525400abcdef",
            "5254.00ab.cdef",
        ] {
            assert_eq!(
                normalise_mac(f).as_deref(),
                Some("52:54:00:ab:cd:ef"),
                "{f}"
            );
        }
        for bad in [
            "default",
            "52:54:00:ab:cd",
            "52:54:00:ab:cd:eg",
            "5:2:5:4:0:0abcdef",
        ] {
            assert_eq!(normalise_mac(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_machine_file_wins_over_the_default() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(find(d.path(), "52:54:00:ab:cd:ef"), None);
        std::fs::write(d.path().join("default.toml"), "d").unwrap();
        std::fs::write(d.path().join("52-54-00-AB-CD-EF.toml"), "m").unwrap();
        assert!(matches!(
            find(d.path(), "52:54:00:ab:cd:ef"),
            Some(Found::Machine(_))
        ));
        assert!(matches!(
            find(d.path(), "52:54:00:ab:cd:00"),
            Some(Found::Default(_))
        ));
        assert_eq!(
            inventory(d.path()),
            (vec!["52:54:00:ab:cd:ef".to_string()], true)
        );
    }
}

//! The set of archive entries, keyed by absolute path, with conflict detection.
//!
//! Everything a build adds lands here first, so duplicates can be judged before any byte is
//! written: the same content twice is harmless (libc is needed by every binary), different
//! content at one path is a mistake in the config and must name both sources.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

pub const S_IFREG: u32 = 0o100_000;
pub const S_IFDIR: u32 = 0o040_000;
pub const S_IFLNK: u32 = 0o120_000;
pub const S_IFCHR: u32 = 0o020_000;
pub const S_IFBLK: u32 = 0o060_000;

/// What one archive path holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File {
        data: Vec<u8>,
        mode: u32,
    },
    /// `soft` directories (implied parents, directories inside a copied tree) give way to an
    /// explicit `[[dir]]` with another mode instead of conflicting with it.
    Dir {
        mode: u32,
        soft: bool,
    },
    Symlink {
        target: String,
    },
    CharDev {
        major: u32,
        minor: u32,
        mode: u32,
    },
    BlockDev {
        major: u32,
        minor: u32,
        mode: u32,
    },
}

impl Kind {
    /// The full st_mode (type and permission bits) as cpio stores it.
    pub fn st_mode(&self) -> u32 {
        match self {
            Kind::File { mode, .. } => S_IFREG | mode,
            Kind::Dir { mode, .. } => S_IFDIR | mode,
            Kind::Symlink { .. } => S_IFLNK | 0o777,
            Kind::CharDev { mode, .. } => S_IFCHR | mode,
            Kind::BlockDev { mode, .. } => S_IFBLK | mode,
        }
    }

    fn describe(&self) -> String {
        match self {
            Kind::File { data, mode } => format!("file of {} bytes, mode {mode:#o}", data.len()),
            Kind::Dir { mode, .. } => format!("directory, mode {mode:#o}"),
            Kind::Symlink { target } => format!("symlink to {target}"),
            Kind::CharDev { major, minor, mode } => {
                format!("char device {major}:{minor}, mode {mode:#o}")
            }
            Kind::BlockDev { major, minor, mode } => {
                format!("block device {major}:{minor}, mode {mode:#o}")
            }
        }
    }
}

/// One archive path: what it holds and which config entry put it there (for error messages).
#[derive(Debug, Clone)]
pub struct Entry {
    pub kind: Kind,
    pub origin: String,
}

/// All entries of the archive-to-be, sorted by path. Byte order of absolute paths puts every
/// directory before its children (a prefix sorts first), which the kernel's unpacker needs.
#[derive(Debug, Default, Clone)]
pub struct Image {
    entries: BTreeMap<String, Entry>,
}

impl Image {
    pub fn new() -> Image {
        Image::default()
    }

    /// Adds `kind` at `path` (absolute, normalised by [`normalize`]).
    pub fn add(&mut self, path: &str, kind: Kind, origin: &str) -> Result<()> {
        let path =
            normalize(path).ok_or_else(|| Error::Config(format!("{origin}: bad path {path:?}")))?;
        if path == "/" {
            // The root exists before the archive is unpacked; an entry for it would be noise.
            return Ok(());
        }
        match self.entries.get_mut(&path) {
            None => {
                self.entries.insert(
                    path,
                    Entry {
                        kind,
                        origin: origin.to_string(),
                    },
                );
            }
            Some(existing) => match (&existing.kind, &kind) {
                (a, b) if a == b => {}
                (Kind::Dir { soft: true, .. }, Kind::Dir { .. }) => {
                    *existing = Entry {
                        kind,
                        origin: origin.to_string(),
                    };
                }
                (Kind::Dir { .. }, Kind::Dir { soft: true, .. }) => {}
                (a, b) => {
                    return Err(Error::Conflict {
                        path,
                        first: format!("{} ({})", existing.origin, a.describe()),
                        second: format!("{origin} ({})", b.describe()),
                    })
                }
            },
        }
        Ok(())
    }

    /// Adds implied parent directories (mode 0755) and checks no entry sits below a
    /// non-directory, which the kernel would refuse to unpack.
    pub fn fill_parents(&mut self) -> Result<()> {
        let paths: Vec<String> = self.entries.keys().cloned().collect();
        for path in paths {
            let mut parent = path.as_str();
            while let Some(cut) = parent.rfind('/') {
                parent = &parent[..cut];
                if parent.is_empty() {
                    break;
                }
                match self.entries.get(parent) {
                    Some(Entry {
                        kind: Kind::Dir { .. },
                        ..
                    }) => {}
                    Some(other) => {
                        let child = &self.entries[&path];
                        return Err(Error::Conflict {
                            path: parent.to_string(),
                            first: format!("{} ({})", other.origin, other.kind.describe()),
                            second: format!(
                                "{} (needs it to be a directory for {path})",
                                child.origin
                            ),
                        });
                    }
                    None => {
                        let origin = format!("parent of {path}");
                        self.entries.insert(
                            parent.to_string(),
                            Entry {
                                kind: Kind::Dir {
                                    mode: 0o755,
                                    soft: true,
                                },
                                origin,
                            },
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// Entries in archive order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sum of file and symlink-target bytes: what the archive holds before compression.
    pub fn payload_bytes(&self) -> u64 {
        self.entries
            .values()
            .map(|e| match &e.kind {
                Kind::File { data, .. } => data.len() as u64,
                Kind::Symlink { target } => target.len() as u64,
                _ => 0,
            })
            .sum()
    }
}

/// Makes an absolute path canonical without touching the disk: no empty or `.` components,
/// `..` removes the previous component. Returns None for relative paths.
pub fn normalize(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(data: &[u8]) -> Kind {
        Kind::File {
            data: data.to_vec(),
            mode: 0o644,
        }
    }

    #[test]
    fn identical_duplicates_are_fine_and_differences_name_both_sources() {
        let mut img = Image::new();
        img.add("/etc/a", file(b"x"), "first entry").unwrap();
        img.add("/etc//a", file(b"x"), "second entry").unwrap();
        let err = img.add("/etc/a", file(b"y"), "third entry").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("/etc/a") && msg.contains("first entry") && msg.contains("third entry"),
            "{msg}"
        );
    }

    #[test]
    fn explicit_dir_mode_wins_over_soft_dirs_but_two_explicit_modes_conflict() {
        let mut img = Image::new();
        img.add(
            "/tmp",
            Kind::Dir {
                mode: 0o755,
                soft: true,
            },
            "tree",
        )
        .unwrap();
        img.add(
            "/tmp",
            Kind::Dir {
                mode: 0o1777,
                soft: false,
            },
            "dir",
        )
        .unwrap();
        img.add(
            "/tmp",
            Kind::Dir {
                mode: 0o755,
                soft: true,
            },
            "tree2",
        )
        .unwrap();
        assert_eq!(
            img.get("/tmp").unwrap().kind,
            Kind::Dir {
                mode: 0o1777,
                soft: false
            }
        );
        assert!(img
            .add(
                "/tmp",
                Kind::Dir {
                    mode: 0o700,
                    soft: false
                },
                "dir2"
            )
            .is_err());
    }

    #[test]
    fn parents_are_implied_and_must_be_directories() {
        let mut img = Image::new();
        img.add("/a/b/c", file(b"x"), "e").unwrap();
        img.fill_parents().unwrap();
        let paths: Vec<&str> = img.entries().map(|(p, _)| p).collect();
        assert_eq!(paths, ["/a", "/a/b", "/a/b/c"]);

        let mut img = Image::new();
        img.add(
            "/lib",
            Kind::Symlink {
                target: "usr/lib".into(),
            },
            "link",
        )
        .unwrap();
        img.add("/lib/x", file(b"x"), "lib file").unwrap();
        let msg = img.fill_parents().unwrap_err().to_string();
        assert!(msg.contains("link") && msg.contains("lib file"), "{msg}");
    }

    #[test]
    fn normalize_is_lexical() {
        assert_eq!(normalize("/a/./b/../c/").as_deref(), Some("/a/c"));
        assert_eq!(normalize("/..").as_deref(), Some("/"));
        assert_eq!(normalize("a/b"), None);
    }
}

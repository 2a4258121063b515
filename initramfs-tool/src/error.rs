//! The library's error type: a few kinds a caller can act on, each naming what failed.

use std::path::PathBuf;

/// Everything that can go wrong while building or reading an initramfs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// rootfs.toml could not be parsed or says something inconsistent.
    #[error("config: {0}")]
    Config(String),

    /// A `${NAME}` in the config has no value from `--var` or `[vars]`.
    #[error("{entry}: variable ${{{name}}} is not set (pass --var {name}=VALUE)")]
    UnsetVar { entry: String, name: String },

    /// A required host file is missing.
    #[error("{entry}: {} does not exist on this host", path.display())]
    NotFound { entry: String, path: PathBuf },

    /// A shared library an ELF object needs is not in any directory ld.so would search.
    #[error("library {name} needed by {} not found in: {}", needed_by.display(), searched.join(", "))]
    LibraryNotFound {
        name: String,
        needed_by: PathBuf,
        searched: Vec<String>,
    },

    /// Reading a host file failed for a reason other than its absence.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    /// Two entries want the same archive path with different content or type.
    #[error("conflict at {path}: {first} and {second} differ")]
    Conflict {
        path: String,
        first: String,
        second: String,
    },

    /// An ELF file we cannot handle (not ELF, 32-bit, damaged headers).
    #[error("{}: {what}", path.display())]
    Unsupported { path: PathBuf, what: String },

    /// An archive (or its compression) is malformed.
    #[error("corrupt archive: {what} at byte {offset}")]
    Corrupt { what: String, offset: u64 },

    /// Writing the archive failed.
    #[error("writing archive: {0}")]
    Write(std::io::Error),
}

impl Error {
    /// True for damage in an archive being read (as opposed to a build problem).
    pub fn is_corrupt(&self) -> bool {
        matches!(self, Error::Corrupt { .. })
    }

    /// Turns an io error on `path` into NotFound (naming `entry`) or Io.
    pub(crate) fn from_io(entry: &str, path: &std::path::Path, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::NotFound {
                entry: entry.to_string(),
                path: path.to_path_buf(),
            }
        } else {
            Error::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

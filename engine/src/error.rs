//! The engine's error type: a few kinds a caller can act on, each naming what and where.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: not found")]
    NotFound { what: String },
    /// Bytes on a disk or in a repository that fail a check; `offset` is where, in `what`.
    #[error("{what} is corrupt at offset {offset}: {detail}")]
    Corrupt {
        what: String,
        offset: u64,
        detail: String,
    },
    #[error("unsupported: {0}")]
    Unsupported(String),
    // The io error is part of the message, not a `source`, so "path: reason" is printed once
    // rather than repeated by error-chain printers.
    #[error("{path}: {err}")]
    Io { path: PathBuf, err: std::io::Error },
    /// A safety interlock refused the operation; the message names the disks and sizes.
    #[error("refused: {0}")]
    Refused(String),
    /// A network location failed: `location` is its URL (never with a password), `detail`
    /// says what happened and what to try.
    #[error("{location}: {detail}")]
    Network { location: String, detail: String },
    #[error("invalid argument: {0}")]
    Invalid(String),
    #[error("cancelled")]
    Cancelled,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            err: source,
        }
    }
    pub fn network(location: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Network {
            location: location.into(),
            detail: detail.into(),
        }
    }
    pub fn corrupt(what: impl Into<String>, offset: u64, detail: impl Into<String>) -> Self {
        Error::Corrupt {
            what: what.into(),
            offset,
            detail: detail.into(),
        }
    }
}

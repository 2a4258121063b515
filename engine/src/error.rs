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
    /// A safety interlock refused the operation; the message names the disks and sizes, and
    /// `interlock` says which rule, so a front end or a test can tell refusals apart without
    /// reading the words.
    #[error("refused: {message}")]
    Refused {
        interlock: Interlock,
        message: String,
    },
    /// A network location failed: `location` is its URL (never with a password), `detail`
    /// says what happened and what to try, `cause` what kind of failure it was (so a front end
    /// can offer the next step without reading the words).
    #[error("{location}: {detail}")]
    Network {
        location: String,
        detail: String,
        cause: NetCause,
    },
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// The disk being written disappeared in the middle of the job (unplugged, its cable or
    /// bridge failed): said as that, with the state it is left in, not as a write error.
    #[error(
        "the target {target} went away during the {action} ({cause}): it holds a partial \
         copy that will neither boot nor mount as it is. Plug it back in and run the {action} \
         again (it starts over); the source and the images are untouched"
    )]
    TargetGone {
        target: String,
        action: String,
        cause: String,
    },
    #[error("cancelled")]
    Cancelled,
}

/// What kind of failure an [`Error::Network`] was.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NetCause {
    /// The server refused the login: a wrong password, no user given where one is needed, or
    /// a user (or this machine) the share does not let in.
    Denied,
    /// The server could not be reached: a name not resolved, no route, no answer, nothing
    /// listening.
    Unreachable,
    /// Anything else: the server answered, but not as wanted.
    #[default]
    Other,
}

/// The safety rules a destructive operation can be refused by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interlock {
    /// The target is the source, by any path (a link, a loop device over it, a partition).
    SameDisk,
    /// The target, one of its partitions or a loop device over it is mounted.
    TargetMounted,
    /// The target is (or holds) something the kernel holds open exclusively.
    InUse,
    /// The target holds the running Wraith live medium.
    BootMedium,
    /// The repository read from lives on the target.
    RepositoryOnTarget,
    /// The repository saved into lives on the disk being saved.
    RepositoryOnSource,
    /// The target is smaller than what must be written.
    TargetTooSmall,
    /// Source and target count in sectors of different sizes.
    SectorSize,
    /// A directory that is neither empty nor a repository would be written into.
    NotARepository,
    /// A device opened read-only was about to be written.
    ReadOnly,
    /// The target drive says it is failing (SMART, NVMe critical warning) and the technician
    /// has not accepted it.
    FailingTarget,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            err: source,
        }
    }
    pub fn refused(interlock: Interlock, message: impl Into<String>) -> Self {
        Error::Refused {
            interlock,
            message: message.into(),
        }
    }
    /// Which interlock refused, if this is a refusal.
    pub fn interlock(&self) -> Option<Interlock> {
        match self {
            Error::Refused { interlock, .. } => Some(*interlock),
            _ => None,
        }
    }
    pub fn network(location: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::network_because(NetCause::Other, location, detail)
    }
    pub fn network_because(
        cause: NetCause,
        location: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Error::Network {
            location: location.into(),
            detail: detail.into(),
            cause,
        }
    }
    /// What kind of network failure this is, if it is one.
    pub fn net_cause(&self) -> Option<NetCause> {
        match self {
            Error::Network { cause, .. } => Some(*cause),
            _ => None,
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

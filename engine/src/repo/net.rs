//! What the network locations share: resolving a server's name (the kernel's SMB and NFS
//! clients take addresses, not names), private mount points, and a store that is a directory
//! of a share Wraith mounted itself and unmounts when the repository is dropped.

use super::local::LocalDir;
use super::store::Store;
use crate::error::{Error, NetCause, Result};
use crate::mount::Mounted;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The addresses of `host`, IPv4 first (home and office NASes are reached that way most
/// reliably). `shown` is the location for the message.
pub fn resolve(host: &str, port: u16, shown: &str) -> Result<Vec<SocketAddr>> {
    let mut addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| {
            Error::network_because(
                NetCause::Unreachable,
                shown,
                format!(
                    "the name {host:?} is not resolved ({e}): check its spelling, that the \
                     network is up and a DNS server is set, or give the server's IP address"
                ),
            )
        })?
        .collect();
    addrs.sort_by_key(|a| !a.is_ipv4());
    if addrs.is_empty() {
        return Err(Error::network_because(
            NetCause::Unreachable,
            shown,
            format!("the name {host:?} has no address"),
        ));
    }
    Ok(addrs)
}

/// The local address this machine would use to reach `server` (NFSv4.0 gives it to the server
/// for callbacks). No packet is sent: connecting a UDP socket only picks a route.
pub fn local_addr_towards(server: IpAddr) -> Option<IpAddr> {
    let bind = if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let sock = std::net::UdpSocket::bind(bind).ok()?;
    sock.connect((server, 2049)).ok()?;
    sock.local_addr().ok().map(|a| a.ip())
}

static MOUNT_SEQ: AtomicU64 = AtomicU64::new(0);

/// A fresh private directory to mount a share on, under /run/wraith/mnt. Mounting needs
/// root; without it the kernel's EPERM would read like a wrong password, so say so first.
pub fn mount_point(kind: &str, shown: &str) -> Result<PathBuf> {
    if !nix::unistd::geteuid().is_root() {
        return Err(Error::network(
            shown,
            "mounting a share needs root: run wraith as root (the live system does), or mount \
             the share yourself and give its directory",
        ));
    }
    let p = PathBuf::from(wraith_live::paths::MOUNT_DIR).join(format!(
        "{kind}-{}-{}",
        std::process::id(),
        MOUNT_SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&p).map_err(|e| Error::io(&p, e))?;
    Ok(p)
}

/// A directory inside a share mounted by Wraith. Messages name the URL; dropping the store
/// unmounts the share.
pub struct MountedDir {
    inner: LocalDir,
    shown: String,
    connection: String,
    // Declared last: dropped after `inner`, so nothing uses the directory once it is unmounted.
    _mount: Mounted,
}

impl MountedDir {
    pub fn new(mount: Mounted, sub: &str, shown: &str, connection: String) -> MountedDir {
        let root: PathBuf = if sub.is_empty() {
            mount.point.clone()
        } else {
            mount.point.join(sub)
        };
        MountedDir {
            inner: LocalDir::cached(&root),
            shown: shown.to_string(),
            connection,
            _mount: mount,
        }
    }
    pub fn point(&self) -> &Path {
        &self._mount.point
    }
}

impl MountedDir {
    /// An I/O error inside the mount names the mount point, which means nothing to the user:
    /// say which file of which URL, and what a failing share usually means.
    fn named<T>(&self, path: &str, r: Result<T>) -> Result<T> {
        r.map_err(|e| match e {
            Error::Io { err, .. } => {
                let full = err.kind() == std::io::ErrorKind::StorageFull
                    || err.raw_os_error() == Some(libc::EDQUOT);
                let hint = match err.raw_os_error() {
                    _ if full => {
                        "the share is full (or over its quota): free space on the server or \
                         use another share; images saved before are intact"
                    }
                    Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS) => {
                        "the share does not let this user write there: check its permissions"
                    }
                    _ => {
                        "the server stopped answering or the network went down: check both, \
                         then run the same command again to continue where it stopped"
                    }
                };
                Error::network(&self.shown, format!("{path}: {err}; {hint}"))
            }
            Error::NotFound { .. } => Error::NotFound {
                what: format!("{}/{path}", self.shown),
            },
            other => other,
        })
    }
}

impl Store for MountedDir {
    fn local_dir(&self) -> Option<std::path::PathBuf> {
        self.inner.local_dir()
    }
    fn location(&self) -> String {
        self.shown.clone()
    }
    fn read(&self, path: &str) -> Result<Vec<u8>> {
        self.named(path, self.inner.read(path))
    }
    fn read_at(&self, path: &str, offset: u64, len: usize) -> Result<Vec<u8>> {
        self.named(path, self.inner.read_at(path, offset, len))
    }
    fn prefetch(&self, path: &str, offset: u64, len: u64) {
        self.inner.prefetch(path, offset, len)
    }
    fn size(&self, path: &str) -> Result<u64> {
        self.named(path, self.inner.size(path))
    }
    fn exists(&self, path: &str) -> Result<bool> {
        self.named(path, self.inner.exists(path))
    }
    fn list(&self, dir: &str) -> Result<Vec<String>> {
        self.named(dir, self.inner.list(dir))
    }
    fn put_new(&self, path: &str, data: &[u8]) -> Result<bool> {
        self.named(path, self.inner.put_new(path, data))
    }
    fn remove(&self, path: &str) -> Result<()> {
        self.named(path, self.inner.remove(path))
    }
    fn remote(&self) -> bool {
        true
    }
    fn parallel_reads(&self) -> usize {
        // The kernel client pipelines requests from several threads over one connection.
        4
    }
    fn connection(&self) -> Option<String> {
        Some(self.connection.clone())
    }
}

/// One mount(2) call, returning the errno for the caller's own mapping.
/// What one failed mount attempt means. `Retry`: another protocol version may work.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    Retry(String),
    Fatal(String),
}

/// One way to mount a share: a label for messages (a dialect or version), the filesystem type
/// and the option string.
pub struct Attempt {
    pub label: String,
    pub fstype: &'static str,
    pub options: String,
}

/// Mounts `source` on a fresh private mount point, trying `attempts` in order until one works
/// (returned with its label). A fatal failure stops at once; when every attempt was refused,
/// `none_worked` turns the list of "label: why" into the message. The mount point is removed
/// on failure. `kind` names the point (smb, nfs); `shown` is the location for messages.
pub fn try_mounts(
    kind: &str,
    shown: &str,
    source: &str,
    attempts: impl IntoIterator<Item = Attempt>,
    explain: impl Fn(nix::errno::Errno) -> Failure,
    none_worked: impl FnOnce(&str) -> String,
) -> Result<(Mounted, String)> {
    let point = mount_point(kind, shown)?;
    let mut tried = Vec::new();
    for a in attempts {
        match mount_retrying(source, &point, a.fstype, &a.options) {
            Ok(()) => return Ok((Mounted { point }, a.label)),
            Err(errno) => match explain(errno) {
                Failure::Retry(why) => tried.push(format!("{}: {why}", a.label)),
                Failure::Fatal(why) => {
                    let _ = std::fs::remove_dir(&point);
                    return Err(Error::network_because(cause_of(errno), shown, why));
                }
            },
        }
    }
    let _ = std::fs::remove_dir(&point);
    Err(Error::network(shown, none_worked(&tried.join("; "))))
}

/// The kind of a mount's failure, from the errno the kernel's SMB and NFS clients give.
fn cause_of(errno: nix::errno::Errno) -> NetCause {
    use nix::errno::Errno;
    match errno {
        Errno::EACCES | Errno::EPERM | Errno::EKEYREJECTED => NetCause::Denied,
        Errno::EHOSTUNREACH
        | Errno::ENETUNREACH
        | Errno::EHOSTDOWN
        | Errno::ECONNREFUSED
        | Errno::ETIMEDOUT => NetCause::Unreachable,
        _ => NetCause::Other,
    }
}

/// [`mount_once`], tried again for a while when the kernel says the host is down: its SMB
/// client answers EHOSTDOWN while its session to that server from a job cut off moments ago
/// is still being torn down (seen: a share re-run 0.7 s after the server came back). A server
/// that is really down costs a few seconds more before the same error.
fn mount_retrying(
    source: &str,
    point: &Path,
    fstype: &str,
    options: &str,
) -> std::result::Result<(), nix::errno::Errno> {
    let mut waits = [500u64, 1000, 2000, 3000, 4000].into_iter();
    loop {
        match mount_once(source, point, fstype, options) {
            Err(nix::errno::Errno::EHOSTDOWN) => match waits.next() {
                Some(ms) => std::thread::sleep(std::time::Duration::from_millis(ms)),
                None => return Err(nix::errno::Errno::EHOSTDOWN),
            },
            other => return other,
        }
    }
}

pub fn mount_once(
    source: &str,
    point: &Path,
    fstype: &str,
    options: &str,
) -> std::result::Result<(), nix::errno::Errno> {
    use nix::mount::MsFlags;
    nix::mount::mount(
        Some(source),
        point,
        Some(fstype),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_NOATIME,
        Some(options),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::errno::Errno;

    #[test]
    fn a_refused_login_and_an_unreachable_server_are_told_apart() {
        assert_eq!(cause_of(Errno::EACCES), NetCause::Denied);
        assert_eq!(cause_of(Errno::EKEYREJECTED), NetCause::Denied);
        assert_eq!(cause_of(Errno::EHOSTUNREACH), NetCause::Unreachable);
        assert_eq!(cause_of(Errno::ECONNREFUSED), NetCause::Unreachable);
        assert_eq!(cause_of(Errno::ENOENT), NetCause::Other);
        let e = resolve("no-such-host.invalid", 445, "smb://no-such-host.invalid/s");
        assert_eq!(
            e.err().and_then(|e| e.net_cause()),
            Some(NetCause::Unreachable)
        );
    }
}

//! A multicast restore as a front end asks for it: `mcast://SERVER[:HTTPPORT][/PATH]/IMAGE[@ID]`
//! (or a job's `multicast = true` with an `http://` repository) becomes the repository over
//! HTTP with a joined session's receiver as its chunk feed. It owns that translation only;
//! the restore itself is the normal one (`ops::prepare_restore`).

use super::receiver::{self, Receiver, ReceiverConfig};
use crate::error::{Error, Result};
use crate::repo::{Credentials, ImageRef, Repository};
use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;

/// Where `wraith serve` puts the repository when the address names no port or path: its
/// default port and `/repo`, so `mcast://SERVER/IMAGE` is all a technician types.
pub const SERVE_HTTP_PORT: u16 = 8080;
pub const SERVE_PATH: &str = "repo";

/// What an `mcast://` address names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct McastUrl {
    pub host: String,
    /// The HTTP port of the repository ([`SERVE_HTTP_PORT`] when absent).
    pub http_port: Option<u16>,
    /// The repository's path on the server ([`SERVE_PATH`] when absent), without slashes at
    /// the ends.
    pub path: String,
    pub image: String,
    pub id: Option<String>,
}

impl McastUrl {
    pub fn parse(s: &str) -> Result<McastUrl> {
        let bad = |why: &str| {
            Error::Invalid(format!(
                "{s}: {why} (expected mcast://SERVER[:HTTPPORT][/PATH]/IMAGE[@ID])"
            ))
        };
        let rest = s
            .strip_prefix("mcast://")
            .ok_or_else(|| bad("not an mcast:// address"))?;
        let (authority, path) = rest.split_once('/').ok_or_else(|| bad("no image named"))?;
        let (host, http_port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.contains(']') || h.ends_with(']') => (
                h,
                Some(
                    p.parse::<u16>()
                        .map_err(|_| bad("the port is not a number"))?,
                ),
            ),
            _ => (authority, None),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("no server named"));
        }
        let path = path.trim_end_matches('/');
        let (dir, last) = match path.rsplit_once('/') {
            Some((d, l)) => (d.trim_matches('/'), l),
            None => ("", path),
        };
        if last.is_empty() {
            return Err(bad("no image named"));
        }
        let (image, id) = match last.split_once('@') {
            Some((n, i)) if !i.is_empty() => (n, Some(i.to_string())),
            Some(_) => return Err(bad("an empty image id after @")),
            None => (last, None),
        };
        crate::repo::check_image_name(image)?;
        Ok(McastUrl {
            host: host.to_string(),
            http_port,
            path: if dir.is_empty() { SERVE_PATH } else { dir }.to_string(),
            image: image.to_string(),
            id,
        })
    }

    /// The repository the session's chunks are filled in from.
    pub fn repository_url(&self) -> String {
        let port = format!(":{}", self.http_port.unwrap_or(SERVE_HTTP_PORT));
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.path.is_empty() {
            format!("http://{host}{port}/")
        } else {
            format!("http://{host}{port}/{}/", self.path)
        }
    }
}

impl McastUrl {
    /// The shortest address that names the same session: `wraith serve`'s port and path left
    /// out.
    pub fn shown(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let port = match self.http_port {
            Some(p) if p != SERVE_HTTP_PORT => format!(":{p}"),
            _ => String::new(),
        };
        let path = if self.path == SERVE_PATH {
            String::new()
        } else {
            format!("/{}", self.path)
        };
        let id = self
            .id
            .as_ref()
            .map(|i| format!("@{i}"))
            .unwrap_or_default();
        format!("mcast://{host}{port}{path}/{}{id}", self.image)
    }
}

/// How a receiver reaches the session, beyond the server's name.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// The sender's UDP control port.
    pub port: u16,
    /// Listen to this group instead of the sender's (a site that remaps groups).
    pub group: Option<Ipv4Addr>,
    /// Address of the interface to receive on (unspecified: the kernel's choice).
    pub interface: Ipv4Addr,
    pub mac: Option<String>,
    pub hostname: Option<String>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            port: super::DEFAULT_PORT,
            group: None,
            interface: Ipv4Addr::UNSPECIFIED,
            mac: None,
            hostname: None,
        }
    }
}

/// A joined session, ready for a restore: the repository (HTTP, with the receiver as its
/// feed), the session's image, and the receiver (for its statistics; stop it when done).
pub struct Session {
    pub repository: Arc<Repository>,
    pub image: ImageRef,
    pub receiver: Arc<Receiver>,
}

/// Joins the session at `host` and opens `repository_url` with it as the chunk feed. `image`
/// (and `id` when given) must be what the session sends.
pub fn open(
    host: &str,
    repository_url: &str,
    image: &str,
    id: Option<&str>,
    opts: &ClientOptions,
    creds: &Credentials,
) -> Result<Session> {
    let server = (host, opts.port)
        .to_socket_addrs()
        .map_err(|e| {
            Error::network_because(
                crate::NetCause::Unreachable,
                format!("udp://{host}:{}", opts.port),
                format!("cannot resolve the server: {e}"),
            )
        })?
        .find(SocketAddr::is_ipv4)
        .ok_or_else(|| {
            Error::network_because(
                crate::NetCause::Unreachable,
                format!("udp://{host}:{}", opts.port),
                "the server has no IPv4 address (multicast sessions are IPv4)",
            )
        })?;
    let mut cfg = ReceiverConfig::new(server);
    cfg.group = opts.group;
    cfg.interface = opts.interface;
    cfg.mac = opts.mac.clone();
    cfg.hostname = opts.hostname.clone();
    let asked = match id {
        Some(i) => format!("{image}@{i}"),
        None => image.to_string(),
    };
    let joined = receiver::join(&cfg, Some(&asked))?;
    let sent = joined.image();
    if sent.name != image || id.is_some_and(|i| i != sent.id) {
        return Err(Error::Invalid(format!(
            "the multicast session at {server} sends image {sent}, not {asked}"
        )));
    }
    if !repository_url.starts_with("http://") && !repository_url.starts_with("https://") {
        return Err(Error::Invalid(format!(
            "{repository_url}: a multicast restore fills in over HTTP; give the server's \
             http:// repository"
        )));
    }
    let mut repo = Repository::open_url(repository_url, creds, false)?;
    let m = repo.load_manifest(&sent)?;
    let rx = Arc::new(joined.start(&repo, &sent, &m)?);
    repo.set_feed(rx.clone());
    Ok(Session {
        repository: Arc::new(repo),
        image: sent,
        receiver: rx,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn mcast_addresses_name_the_http_repository_and_the_image() {
        let u = McastUrl::parse("mcast://deploy.lab/win11@20260101-1").unwrap();
        // wraith serve's port and path unless told otherwise.
        assert_eq!(u.repository_url(), "http://deploy.lab:8080/repo/");
        assert_eq!(
            (u.image.as_str(), u.id.as_deref()),
            ("win11", Some("20260101-1"))
        );
        assert_eq!(u.shown(), "mcast://deploy.lab/win11@20260101-1");
        let u = McastUrl::parse("mcast://10.0.0.5:8080/static/images/lab").unwrap();
        assert_eq!(u.repository_url(), "http://10.0.0.5:8080/static/images/");
        assert_eq!((u.image.as_str(), u.id.as_deref()), ("lab", None));
        assert_eq!(u.shown(), "mcast://10.0.0.5/static/images/lab");
        for bad in [
            "http://x/a",
            "mcast://x",
            "mcast://x/",
            "mcast:///a",
            "mcast://x:port/a",
            "mcast://x/a@",
        ] {
            assert!(McastUrl::parse(bad).is_err(), "{bad} accepted");
        }
    }
}

//! Where a repository is, as the user writes it: a directory (or `file://`), or a URL naming a
//! network share — `smb://[domain;][user@]host[:port]/share/path`,
//! `nfs://host[:port]/export/path`, `http(s)://[user@]host[:port]/path` — and the credentials
//! that go with it. A location prints without any password, so it can be shown and logged;
//! the password lives only in [`Credentials`], whose Debug output hides it.

use crate::error::{Error, Result};
use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    Dir(PathBuf),
    Smb {
        host: String,
        port: Option<u16>,
        share: String,
        /// Directory inside the share, without leading '/' (may be empty).
        path: String,
        user: Option<String>,
        domain: Option<String>,
    },
    Nfs {
        host: String,
        port: Option<u16>,
        /// The whole path as exported and below; which part is the export is up to the
        /// server (NFSv4 walks into it, NFSv3 mounts it whole).
        path: String,
        /// NFSv3's mount daemon port, for servers without rpcbind (`?mountport=N`).
        mountport: Option<u16>,
    },
    Http {
        tls: bool,
        host: String,
        port: Option<u16>,
        /// Path on the server, starting with '/', without a trailing '/'.
        path: String,
        user: Option<String>,
    },
}

/// Whether `s` is written as a URL rather than a directory.
pub fn is_url(s: &str) -> bool {
    [
        "file://", "smb://", "cifs://", "nfs://", "http://", "https://",
    ]
    .iter()
    // Compared as bytes: slicing the str at a scheme's length panics when that byte falls
    // inside a multi-byte character (found by the `job` fuzz target).
    .any(|p| {
        s.as_bytes()
            .get(..p.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(p.as_bytes()))
    })
}

impl Location {
    pub fn parse(s: &str) -> Result<Location> {
        let shown = redact(s);
        let bad = |why: &str| Error::Invalid(format!("repository {shown:?}: {why}"));
        let Some((scheme, rest)) = s.split_once("://").filter(|_| is_url(s)) else {
            if s.is_empty() {
                return Err(bad("empty location"));
            }
            return Ok(Location::Dir(PathBuf::from(s)));
        };
        let scheme = scheme.to_ascii_lowercase();
        if scheme == "file" {
            // file:///abs/path (the host part must be empty or localhost).
            let path = rest.strip_prefix("localhost").unwrap_or(rest);
            if !path.starts_with('/') {
                return Err(bad(
                    "a file:// URL needs an absolute path (file:///mnt/images)",
                ));
            }
            return Ok(Location::Dir(PathBuf::from(percent_decode(path))));
        }
        let (authority, path_query) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (path, query) = match path_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_query, None),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if userinfo.is_some_and(|u| u.contains(':')) {
            return Err(bad(
                "do not put a password in the URL (it would show in process lists and logs); \
                 give it with --password-file, WRAITH_PASSWORD or `password =` in a job file",
            ));
        }
        let (host, port) = split_host_port(hostport).map_err(|e| bad(&e))?;
        if host.is_empty() {
            return Err(bad("no host name"));
        }
        let user = userinfo.map(percent_decode).filter(|u| !u.is_empty());
        let segments: Vec<String> = path
            .split('/')
            .filter(|p| !p.is_empty())
            .map(percent_decode)
            .collect();
        if segments.iter().any(|p| p == ".." || p == ".") {
            return Err(bad("'.' and '..' are not allowed in the path"));
        }
        match scheme.as_str() {
            "smb" | "cifs" => {
                let (domain, user) = match user {
                    Some(u) => match u.split_once(';') {
                        Some((d, u)) => (Some(d.to_string()), Some(u.to_string())),
                        None => (None, Some(u)),
                    },
                    None => (None, None),
                };
                let share = segments
                    .first()
                    .cloned()
                    .ok_or_else(|| bad("name the share: smb://host/share/path"))?;
                Ok(Location::Smb {
                    host,
                    port,
                    share,
                    path: segments[1..].join("/"),
                    user,
                    domain,
                })
            }
            "nfs" => {
                if user.is_some() {
                    return Err(bad("NFS has no user names; give nfs://host/export/path"));
                }
                if segments.is_empty() {
                    return Err(bad("name the export: nfs://host/export/path"));
                }
                let mut mountport = None;
                for kv in query.into_iter().flat_map(|q| q.split('&')) {
                    match kv.split_once('=') {
                        Some(("mountport", v)) => {
                            mountport = Some(
                                v.parse()
                                    .map_err(|_| bad("mountport must be a port number"))?,
                            )
                        }
                        _ => {
                            return Err(bad(&format!(
                                "unknown NFS option {kv:?} (known: mountport=N)"
                            )))
                        }
                    }
                }
                Ok(Location::Nfs {
                    host,
                    port,
                    path: format!("/{}", segments.join("/")),
                    mountport,
                })
            }
            "http" | "https" => Ok(Location::Http {
                tls: scheme == "https",
                host,
                port,
                path: segments.iter().map(|s| format!("/{s}")).collect(),
                user,
            }),
            _ => Err(bad("unknown scheme")),
        }
    }

    /// The location for messages and results: a URL without password, or the directory.
    pub fn display(&self) -> String {
        let host_port = |host: &str, port: &Option<u16>| {
            let h = if host.contains(':') {
                format!("[{host}]")
            } else {
                host.to_string()
            };
            match port {
                Some(p) => format!("{h}:{p}"),
                None => h,
            }
        };
        match self {
            Location::Dir(p) => p.display().to_string(),
            Location::Smb {
                host,
                port,
                share,
                path,
                user,
                domain,
            } => {
                let who = match (domain, user) {
                    (Some(d), Some(u)) => format!("{d};{u}@"),
                    (None, Some(u)) => format!("{u}@"),
                    _ => String::new(),
                };
                let sub = if path.is_empty() {
                    String::new()
                } else {
                    format!("/{path}")
                };
                format!("smb://{who}{}/{share}{sub}", host_port(host, port))
            }
            Location::Nfs {
                host,
                port,
                path,
                mountport,
            } => format!(
                "nfs://{}{path}{}",
                host_port(host, port),
                mountport
                    .map(|m| format!("?mountport={m}"))
                    .unwrap_or_default()
            ),
            Location::Http {
                tls,
                host,
                port,
                path,
                user,
            } => format!(
                "{}://{}{}{path}",
                if *tls { "https" } else { "http" },
                user.as_deref().map(|u| format!("{u}@")).unwrap_or_default(),
                host_port(host, port)
            ),
        }
    }

    /// The user name written in the URL, if any.
    pub fn user(&self) -> Option<&str> {
        match self {
            Location::Smb { user, .. } | Location::Http { user, .. } => user.as_deref(),
            _ => None,
        }
    }

    /// Whether this location may need a password (so a front end knows to ask for one).
    pub fn wants_password(&self) -> bool {
        self.user().is_some()
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

/// `s` with any `user:password@` cut to `user:…@`, for messages about a mistyped URL.
pub fn redact(s: &str) -> String {
    let Some((scheme, rest)) = s.split_once("://") else {
        return s.to_string();
    };
    let auth_end = rest.find('/').unwrap_or(rest.len());
    match rest[..auth_end].rsplit_once('@') {
        Some((userinfo, _)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:…@{}", &rest[userinfo.len() + 1..])
        }
        _ => s.to_string(),
    }
}

fn split_host_port(s: &str) -> std::result::Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or("unclosed '[' in an IPv6 address")?;
        (h, after.strip_prefix(':'))
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| format!("port {p:?} is not a number from 1 to 65535"))
        })
        .transpose()?;
    Ok((host.to_ascii_lowercase(), port))
}

/// One decoder for URLs, inline jobs and the kernel command line.
pub(crate) use wraith_live::inline::percent_decode;

/// A password that never shows: Debug and Display print a placeholder. It can be read from a
/// job file, but not written back.
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Password(String);

impl Password {
    pub fn new(s: impl Into<String>) -> Password {
        Password(s.into())
    }
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<hidden>)")
    }
}
impl std::fmt::Display for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<hidden>")
    }
}

/// Who to log in as. The user normally comes from the URL; the password from a job file, a
/// password file, the environment or a hidden prompt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    pub user: Option<String>,
    pub password: Option<Password>,
}

impl Credentials {
    pub fn new(user: Option<String>, password: Option<Password>) -> Credentials {
        Credentials { user, password }
    }
    pub fn none() -> Credentials {
        Credentials::default()
    }
    /// These credentials with the URL's user where none was given here.
    pub fn for_location(&self, loc: &Location) -> Credentials {
        Credentials {
            user: self.user.clone().or_else(|| loc.user().map(str::to_string)),
            password: self.password.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_file_urls_are_directories() {
        assert_eq!(
            Location::parse("/mnt/images").unwrap(),
            Location::Dir("/mnt/images".into())
        );
        assert_eq!(
            Location::parse("rel/dir").unwrap(),
            Location::Dir("rel/dir".into())
        );
        assert_eq!(
            Location::parse("file:///mnt/my%20images").unwrap(),
            Location::Dir("/mnt/my images".into())
        );
        assert!(Location::parse("file://x").is_err());
    }

    #[test]
    fn smb_urls_split_into_host_share_path_user_and_domain() {
        let l = Location::parse("smb://LAB;tech@NAS.local:4450/images/pcs/2026").unwrap();
        assert_eq!(
            l,
            Location::Smb {
                host: "nas.local".into(),
                port: Some(4450),
                share: "images".into(),
                path: "pcs/2026".into(),
                user: Some("tech".into()),
                domain: Some("LAB".into()),
            }
        );
        assert_eq!(l.display(), "smb://LAB;tech@nas.local:4450/images/pcs/2026");
        assert!(Location::parse("smb://nas/").is_err());
        let l = Location::parse("smb://nas/share").unwrap();
        assert_eq!(l.display(), "smb://nas/share");
    }

    #[test]
    fn nfs_and_http_urls_parse_and_print_back() {
        for s in [
            "nfs://10.0.2.2:2049/export/images",
            "nfs://server/srv/nfs?mountport=20048",
            "http://127.0.0.1:8080/repo",
            "https://tech@[fd00::1]:8443/dav/images",
            "http://host",
        ] {
            assert_eq!(Location::parse(s).unwrap().display(), s);
        }
        match Location::parse("https://u@h/a%20b/").unwrap() {
            Location::Http {
                tls, path, user, ..
            } => {
                assert!(tls);
                assert_eq!(path, "/a b");
                assert_eq!(user.as_deref(), Some("u"));
            }
            other => panic!("{other:?}"),
        }
        assert!(Location::parse("nfs://server/").is_err());
        assert!(Location::parse("nfs://s/e?colour=red").is_err());
        assert!(Location::parse("http://h:99999/x").is_err());
        assert!(Location::parse("http://h/../etc").is_err());
    }

    #[test]
    fn a_password_in_a_url_is_refused_without_repeating_it() {
        let e = Location::parse("smb://tech:s3cret@nas/images")
            .unwrap_err()
            .to_string();
        assert!(e.contains("password") && e.contains("tech:…@nas"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
        let c = Credentials::new(Some("tech".into()), Some(Password::new("s3cret")));
        assert!(!format!("{c:?}").contains("s3cret"));
        assert!(!format!("{}", Password::new("s3cret")).contains("s3cret"));
        assert_eq!(c.password.as_ref().map(Password::expose), Some("s3cret"));
    }

    #[test]
    fn urls_are_told_from_paths() {
        assert!(is_url("HTTP://x/y"));
        assert!(is_url("smb://x/y"));
        assert!(!is_url("/mnt/http://"));
        assert!(!is_url("images"));
    }

    #[test]
    fn a_multibyte_character_where_a_scheme_would_end_is_not_a_url_and_does_not_panic() {
        // The `job` fuzz target's crash: text starting `acev/`, an invalid byte (read as
        // U+FFFD, three bytes) across byte 7, then a job line.
        let text = "acev/\u{FFFD}..\ntarget = \"rule:other-internal\"\n";
        assert!(!is_url(text));
        assert!(!is_url("smb:/é"));
        assert!(!is_url("ab€"));
        assert!(crate::ops::repository::check_job_location(text).is_err());
        assert_eq!(Location::parse(text).unwrap(), Location::Dir(text.into()));
        assert!(crate::job::Job::from_toml(text).is_err());
        assert!(crate::job::Job::from_inline(text).is_err());
    }
}

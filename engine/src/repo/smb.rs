//! A repository on an SMB share (Windows, Samba, most NASes), mounted through the kernel's
//! CIFS client by Wraith itself — no mount.cifs — at a private mount point, then used as a
//! directory. The server's name is resolved here because the kernel takes an address. SMB
//! dialects are tried newest first and the one that worked is reported.

use super::location::Credentials;
use super::net::{self, Attempt, Failure, MountedDir};
use crate::error::Result;
use nix::errno::Errno;
use std::net::IpAddr;

/// Tried in this order: the first the server and the kernel agree on wins.
pub const DIALECTS: [&str; 4] = ["3.1.1", "3.02", "3.0", "2.1"];

pub struct Share<'a> {
    pub host: &'a str,
    pub port: Option<u16>,
    pub share: &'a str,
    pub domain: Option<&'a str>,
}

/// The kernel's mount source: `//host/share`.
pub fn source(host: &str, share: &str) -> String {
    format!("//{host}/{share}")
}

/// The CIFS option string for one attempt. Commas in values are doubled, as the kernel's
/// option parser expects; without a user the login is anonymous (`sec=none`).
pub fn options(s: &Share, ip: IpAddr, creds: &Credentials, dialect: &str) -> String {
    let esc = |v: &str| v.replace(',', ",,");
    let mut o = vec![format!("ip={ip}")];
    if let Some(p) = s.port {
        o.push(format!("port={p}"));
    }
    match &creds.user {
        Some(u) => {
            o.push(format!("username={}", esc(u)));
            if let Some(p) = &creds.password {
                o.push(format!("password={}", esc(p.expose())));
            }
            if let Some(d) = s.domain {
                o.push(format!("domain={}", esc(d)));
            }
        }
        None => o.push("sec=none".into()),
    }
    o.push(format!("vers={dialect}"));
    // Files belong to root with private modes: the live system runs as root, and a host user
    // mounting a share should not expose images to other local users.
    o.extend(["uid=0", "gid=0", "file_mode=0600", "dir_mode=0700"].map(String::from));
    // A server that stops answering is given up after about three echo intervals: 15 s each
    // (the kernel's default is 60), so a job whose share vanished ends with an error in under
    // a minute rather than three.
    o.push("echo_interval=15".into());
    o.join(",")
}

/// Maps a mount(2) errno to words and a likely fix.
pub fn explain(errno: Errno, user: Option<&str>, share: &str) -> Failure {
    use Failure::{Fatal, Retry};
    match errno {
        Errno::EACCES | Errno::EPERM | Errno::EKEYREJECTED => Fatal(match user {
            Some(u) => format!(
                "access denied: wrong password for user {u:?}, or {u:?} may not use share \
                 {share:?}; check both on the server"
            ),
            None => format!(
                "access denied: share {share:?} does not allow anonymous access; give a user \
                 (smb://USER@host/{share}) and a password"
            ),
        }),
        Errno::ENOENT | Errno::ENXIO | Errno::ENOTDIR => Fatal(format!(
            "share {share:?} not found on the server: check its name (the first part of the path)"
        )),
        Errno::EHOSTUNREACH | Errno::ENETUNREACH | Errno::EHOSTDOWN => {
            Fatal("host unreachable: check the network connection and the server's address".into())
        }
        Errno::ECONNREFUSED => Fatal(
            "connection refused: no SMB server listens there (is it running? is the port right?)"
                .into(),
        ),
        Errno::ETIMEDOUT => Fatal("no answer from the server (timed out)".into()),
        Errno::ENODEV => Fatal(
            "this system's kernel has no SMB (CIFS) client; use the Wraith live system".into(),
        ),
        Errno::EOPNOTSUPP
        | Errno::EPROTONOSUPPORT
        | Errno::EINVAL
        | Errno::EPROTO
        | Errno::ECONNRESET
        | Errno::EIO => Retry(format!("dialect not accepted ({errno})")),
        other => Fatal(format!("mount failed: {other}")),
    }
}

/// Mounts the share, trying each dialect, and returns the store for `sub` inside it.
pub fn open(s: &Share, sub: &str, creds: &Credentials, shown: &str) -> Result<MountedDir> {
    let addrs = net::resolve(s.host, s.port.unwrap_or(445), shown)?;
    let ip = addrs[0].ip();
    let attempts = DIALECTS.map(|d| Attempt {
        label: d.to_string(),
        fstype: "cifs",
        options: options(s, ip, creds, d),
    });
    let (mount, dialect) = net::try_mounts(
        "smb",
        shown,
        &source(s.host, s.share),
        attempts,
        |errno| explain(errno, creds.user.as_deref(), s.share),
        |tried| {
            format!(
                "no SMB dialect worked (tried {tried}): the server may only speak SMB1, which \
                 Wraith does not use; enable SMB2 or later on the server"
            )
        },
    )?;
    Ok(MountedDir::new(mount, sub, shown, format!("SMB {dialect}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::location::Password;

    #[test]
    fn options_carry_address_user_domain_port_and_dialect() {
        let s = Share {
            host: "nas",
            port: Some(4450),
            share: "images",
            domain: Some("LAB"),
        };
        let c = Credentials::new(Some("tech".into()), Some(Password::new("a,b")));
        let o = options(&s, "10.0.2.2".parse().unwrap(), &c, "3.1.1");
        assert_eq!(
            o,
            "ip=10.0.2.2,port=4450,username=tech,password=a,,b,domain=LAB,vers=3.1.1,\
             uid=0,gid=0,file_mode=0600,dir_mode=0700,echo_interval=15"
        );
        assert_eq!(source("nas", "images"), "//nas/images");
        let anon = options(
            &Share {
                host: "nas",
                port: None,
                share: "pub",
                domain: None,
            },
            "fd00::1".parse().unwrap(),
            &Credentials::none(),
            "2.1",
        );
        assert!(anon.starts_with("ip=fd00::1,sec=none,vers=2.1"), "{anon}");
    }

    #[test]
    fn errnos_become_clear_causes_and_only_dialect_problems_are_retried() {
        let fatal = |e| match explain(e, Some("tech"), "images") {
            Failure::Fatal(m) => m,
            Failure::Retry(m) => panic!("{e} retried: {m}"),
        };
        assert!(fatal(Errno::EACCES).contains("wrong password for user \"tech\""));
        assert!(fatal(Errno::ENOENT).contains("share \"images\" not found"));
        assert!(fatal(Errno::EHOSTUNREACH).contains("unreachable"));
        assert!(fatal(Errno::ECONNREFUSED).contains("refused"));
        assert!(fatal(Errno::ENODEV).contains("no SMB (CIFS) client"));
        assert!(matches!(
            explain(Errno::EOPNOTSUPP, None, "x"),
            Failure::Retry(_)
        ));
        match explain(Errno::EACCES, None, "pub") {
            Failure::Fatal(m) => assert!(m.contains("anonymous"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}

//! A repository on an NFS export, mounted through the kernel's NFS client by Wraith itself —
//! no mount.nfs — with text options and the server's address (the kernel resolves no names).
//! NFSv4.2, 4.1 and 4.0 are tried first (one TCP port, no helpers), then v3 with `nolock`
//! since the live system runs no lock daemon. The version that worked is reported.

use super::net::{self, Attempt, Failure, MountedDir};
use crate::error::Result;
use nix::errno::Errno;
use std::net::IpAddr;

pub const VERSIONS: [&str; 4] = ["4.2", "4.1", "4.0", "3"];

pub struct Export<'a> {
    pub host: &'a str,
    pub port: Option<u16>,
    /// The path given in the URL; the whole of it is mounted.
    pub path: &'a str,
    pub mountport: Option<u16>,
}

/// The kernel's mount source: `addr:/path` (IPv6 in brackets).
pub fn source(ip: IpAddr, path: &str) -> String {
    match ip {
        IpAddr::V4(a) => format!("{a}:{path}"),
        IpAddr::V6(a) => format!("[{a}]:{path}"),
    }
}

/// The filesystem type and option string for one version. `client` is our own address,
/// which NFSv4.0 hands to the server for callbacks.
pub fn options(
    e: &Export,
    ip: IpAddr,
    client: Option<IpAddr>,
    version: &str,
) -> (&'static str, String) {
    // Soft with a bounded wait: a server that vanishes mid-save makes the save fail with a
    // message (and a re-run continue) instead of hanging the machine forever.
    let common = "soft,timeo=150,retrans=3,proto=tcp";
    let mut o = vec![format!("vers={version}"), format!("addr={ip}")];
    if let Some(p) = e.port {
        o.push(format!("port={p}"));
    }
    if version == "3" {
        o.push("nolock".into());
        o.push("mountproto=tcp".into());
        o.push(format!("mountaddr={ip}"));
        if let Some(mp) = e.mountport {
            o.push(format!("mountport={mp}"));
        }
        o.push(common.into());
        ("nfs", o.join(","))
    } else {
        if let Some(c) = client {
            o.push(format!("clientaddr={c}"));
        }
        o.push(common.into());
        ("nfs4", o.join(","))
    }
}

pub fn explain(errno: Errno, path: &str) -> Failure {
    use Failure::{Fatal, Retry};
    match errno {
        Errno::EACCES | Errno::EPERM => Fatal(format!(
            "permission denied for export {path:?}: the server does not export it to this \
             machine's address, or squashes root; check the server's export list"
        )),
        Errno::ENOENT | Errno::ENOTDIR => Fatal(format!(
            "export {path:?} not found on the server: check the path (NFSv4 servers may show \
             exports under a pseudo-root)"
        )),
        Errno::EHOSTUNREACH | Errno::ENETUNREACH | Errno::EHOSTDOWN => {
            Fatal("host unreachable: check the network connection and the server's address".into())
        }
        Errno::ETIMEDOUT => Fatal("no answer from the NFS server (timed out)".into()),
        Errno::ENODEV => {
            Fatal("this system's kernel has no NFS client; use the Wraith live system".into())
        }
        // Refused can mean "no NFSv4 here, try v3's ports", so it is retried too.
        Errno::EPROTONOSUPPORT
        | Errno::EINVAL
        | Errno::EOPNOTSUPP
        | Errno::ECONNREFUSED
        | Errno::EIO
        | Errno::EPROTO => Retry(format!("not accepted ({errno})")),
        other => Fatal(format!("mount failed: {other}")),
    }
}

pub fn open(e: &Export, shown: &str) -> Result<MountedDir> {
    let addrs = net::resolve(e.host, e.port.unwrap_or(2049), shown)?;
    let ip = addrs[0].ip();
    let client = net::local_addr_towards(ip);
    let attempts = VERSIONS.map(|v| {
        let (fstype, options) = options(e, ip, client, v);
        Attempt {
            label: format!("v{v}"),
            fstype,
            options,
        }
    });
    let (mount, version) = net::try_mounts(
        "nfs",
        shown,
        &source(ip, e.path),
        attempts,
        |errno| explain(errno, e.path),
        |tried| {
            format!(
                "no NFS version worked (tried {tried}): is an NFS server running there, and \
                 for NFSv3 without rpcbind, give ?mountport=N"
            )
        },
    )?;
    Ok(MountedDir::new(
        mount,
        "",
        shown,
        format!("NFS {}", &version[1..]),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_options_carry_address_port_and_client_v3_adds_nolock_and_mount_port() {
        let e = Export {
            host: "srv",
            port: Some(20490),
            path: "/export/images",
            mountport: Some(20048),
        };
        let ip: IpAddr = "10.0.2.2".parse().unwrap();
        let (t, o) = options(&e, ip, Some("10.0.2.15".parse().unwrap()), "4.2");
        assert_eq!(t, "nfs4");
        assert_eq!(
            o,
            "vers=4.2,addr=10.0.2.2,port=20490,clientaddr=10.0.2.15,soft,timeo=150,retrans=3,proto=tcp"
        );
        let (t, o) = options(&e, ip, None, "3");
        assert_eq!(t, "nfs");
        assert_eq!(
            o,
            "vers=3,addr=10.0.2.2,port=20490,nolock,mountproto=tcp,mountaddr=10.0.2.2,\
             mountport=20048,soft,timeo=150,retrans=3,proto=tcp"
        );
        assert_eq!(source(ip, "/export"), "10.0.2.2:/export");
        assert_eq!(source("fd00::2".parse().unwrap(), "/e"), "[fd00::2]:/e");
    }

    #[test]
    fn errnos_become_clear_causes() {
        let fatal = |errno| match explain(errno, "/export") {
            Failure::Fatal(m) => m,
            Failure::Retry(m) => panic!("{errno} retried: {m}"),
        };
        assert!(fatal(Errno::EACCES).contains("permission denied"));
        assert!(fatal(Errno::ENOENT).contains("not found"));
        assert!(fatal(Errno::EHOSTUNREACH).contains("unreachable"));
        assert!(fatal(Errno::ENODEV).contains("no NFS client"));
        assert!(matches!(
            explain(Errno::EPROTONOSUPPORT, "/e"),
            Failure::Retry(_)
        ));
    }
}

//! `wraith restore REPO:NAME[@ID] DISK`, `wraith restore CLONEZILLA_DIR DISK`, or
//! `wraith restore mcast://SERVER[:HTTPPORT][/PATH]/NAME[@ID] DISK` (a multicast session).

use super::{confirm_and_run, credentials_for, find_image, open_repo, Ctx};
use crate::cli::MulticastArgs;
use anyhow::{anyhow, bail, Result};
use std::net::Ipv4Addr;
use std::path::Path;
use wraith_engine::mcast::client::{self, ClientOptions, McastUrl, Session};
use wraith_engine::ops::{self, repository, Report, RestoreChoice};

/// What the command line chose besides the image and the target.
pub struct RestoreOptions<'a> {
    pub verify: bool,
    pub yes: bool,
    pub layout: ops::LayoutChoice,
    pub accept_failing_target: bool,
    pub naming: Option<wraith_engine::identity::Naming>,
    pub multicast: &'a MulticastArgs,
}

pub fn restore(ctx: &Ctx, image: &str, target: &Path, o: RestoreOptions<'_>) -> Result<Report> {
    let RestoreOptions {
        verify,
        yes,
        layout,
        accept_failing_target,
        naming,
        multicast,
    } = o;
    if image.starts_with("mcast://") {
        let url = McastUrl::parse(image)?;
        let session = multicast_session(
            ctx,
            &url.host,
            &url.repository_url(),
            &url.image,
            url.id.as_deref(),
            multicast,
        )?;
        let receiver = session.receiver.clone();
        let plan = ops::prepare_restore(&RestoreChoice {
            repository: session.repository,
            image: session.image,
            target: target.to_path_buf(),
            verify,
            layout,
            accept_failing_target,
            naming,
        });
        let report = plan
            .map_err(anyhow::Error::from)
            .and_then(|plan| confirm_and_run(ctx, plan, yes));
        // Tells the sender this machine is done (or left), whatever happened.
        receiver.stop();
        return report;
    }
    if multicast.group.is_some() || multicast.interface.is_some() {
        bail!("--group and --interface are for mcast:// restores only");
    }
    // A Clonezilla image directory is written directly, like a clone from it.
    let dir = Path::new(image);
    if wraith_engine::clonezilla::is_image_dir(dir) {
        if naming.is_some() {
            anyhow::bail!(
                "--hostname works with Wraith images: import the Clonezilla image first \
                 (wraith import clonezilla)"
            );
        }
        let plan = ops::prepare_clonezilla_restore(&ops::ClonezillaRestoreChoice {
            dir: dir.to_path_buf(),
            target: target.to_path_buf(),
            verify,
            layout,
            accept_failing_target,
        })?;
        return confirm_and_run(ctx, plan, yes);
    }
    let spec = repository::parse_image_spec(image)?;
    let (repo, _mounted) = open_repo(ctx, &spec.repository)?;
    let image = find_image(&repo, &spec)?;
    let plan = ops::prepare_restore(&RestoreChoice {
        repository: repo,
        image,
        target: target.to_path_buf(),
        verify,
        layout,
        accept_failing_target,
        naming,
    })?;
    confirm_and_run(ctx, plan, yes)
}

/// Joins the multicast session at `host` (this machine's MAC and hostname go along for the
/// server's room view) and opens `repository_url` with it as the chunk feed.
pub fn multicast_session(
    ctx: &Ctx,
    host: &str,
    repository_url: &str,
    image: &str,
    id: Option<&str>,
    args: &MulticastArgs,
) -> Result<Session> {
    let creds = credentials_for(ctx, repository_url)?;
    let (interface, ifname) = match &args.interface {
        None => (Ipv4Addr::UNSPECIFIED, None),
        Some(s) => match s.parse::<Ipv4Addr>() {
            Ok(a) => (a, interface_named_by(a)),
            Err(_) => (interface_address(s)?, Some(s.clone())),
        },
    };
    let opts = ClientOptions {
        port: args.port,
        group: args.group,
        interface,
        mac: mac_of(ifname.as_deref()),
        hostname: std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            // The kernel's "(none)": no name set (the live system before naming).
            .filter(|h| !h.is_empty() && h != "(none)"),
    };
    ctx.r.note(&format!(
        "joining the multicast session at {host} (UDP port {}); what the stream misses comes \
         from {repository_url}",
        args.port
    ));
    Ok(client::open(
        host,
        repository_url,
        image,
        id,
        &opts,
        &creds,
    )?)
}

/// The IPv4 address of interface `name`.
fn interface_address(name: &str) -> Result<Ipv4Addr> {
    nix::ifaddrs::getifaddrs()?
        .filter(|a| a.interface_name == name)
        .find_map(|a| a.address.and_then(|s| s.as_sockaddr_in().map(|i| i.ip())))
        .ok_or_else(|| anyhow!("interface {name} has no IPv4 address (or does not exist)"))
}

/// The interface that has address `a`.
fn interface_named_by(a: Ipv4Addr) -> Option<String> {
    nix::ifaddrs::getifaddrs().ok()?.find_map(|i| {
        let ip = i.address.and_then(|s| s.as_sockaddr_in().map(|x| x.ip()))?;
        (ip == a).then_some(i.interface_name)
    })
}

/// The MAC address of `name`, else of the first interface that is up and not loopback.
fn mac_of(name: Option<&str>) -> Option<String> {
    let read = |n: &str| {
        std::fs::read_to_string(format!("/sys/class/net/{n}/address"))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|m| !m.is_empty() && m != "00:00:00:00:00:00")
    };
    if let Some(n) = name {
        return read(n);
    }
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().to_string()))
        .filter(|n| n != "lo")
        .collect();
    names.sort();
    names.into_iter().find_map(|n| {
        let up = std::fs::read_to_string(format!("/sys/class/net/{n}/operstate"))
            .is_ok_and(|s| s.trim() == "up");
        if up {
            read(&n)
        } else {
            None
        }
    })
}

//! Networking of the live system: `lo`, then every Ethernet NIC. Each NIC gets a thread that
//! waits for a link and runs our DHCP client ([`client`]) for as long as the system runs, or
//! `wraith.net=static:...` configures one NIC once; `wraith.net=off` leaves it at `lo`.
//!
//! Nothing here blocks the boot: [`start`] returns at once with a [`Shared`] state that the
//! threads fill in and write to /run/wraith (net.json, resolv.conf, net-ready; see
//! [`state`]). A job that needs the network waits on it with a bounded timeout
//! ([`Shared::wait_ready`]). No shell helpers (udhcpc, ip): messages are ours, see [`dhcp`]
//! and [`netlink`].

pub mod client;
pub mod config;
pub mod dhcp;
pub mod lease;
pub mod netlink;
pub mod state;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use config::{NetMode, StaticConfig};
pub use state::Shared;

use crate::log::{info, warning};
use netlink::{Netlink, Route, RTPROT_STATIC};

/// Where the state files go in the live system.
pub const STATE_DIR: &str = "/run/wraith";
/// How long a static configuration without `if=` waits for some NIC to get a link.
const STATIC_LINK_WAIT: Duration = Duration::from_secs(10);

/// One network interface, as found in /sys/class/net.
#[derive(Debug, Clone)]
pub struct Iface {
    pub name: String,
    pub index: u32,
    pub mac: [u8; 6],
    sys: PathBuf,
}

impl Iface {
    pub fn mac_string(&self) -> String {
        self.mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    }

    /// The link is up (a cable, a QEMU NIC). Reading `carrier` of a down interface fails:
    /// no link either.
    pub fn carrier(&self) -> bool {
        std::fs::read_to_string(self.sys.join("carrier")).is_ok_and(|s| s.trim() == "1")
    }

    /// Route metric: the interface index keeps two NICs' default routes apart (with
    /// NLM_F_REPLACE and equal metrics, the second would replace the first).
    pub fn metric(&self) -> u32 {
        100 + self.index
    }
}

/// The Ethernet interfaces (ARPHRD_ETHER = 1) under `sys_class_net`, by name.
pub fn ethernet_interfaces(sys_class_net: &Path) -> Vec<Iface> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(sys_class_net) else {
        return out;
    };
    for entry in rd.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let dir = entry.path();
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).map(|s| s.trim().to_string());
        if name == "lo" || read("type").ok().as_deref() != Some("1") {
            continue;
        }
        let Some(index) = read("ifindex").ok().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let Some(mac) = read("address").ok().and_then(|s| parse_mac(&s)) else {
            continue;
        };
        out.push(Iface {
            name,
            index,
            mac,
            sys: dir,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in mac.iter_mut() {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// The name we give DHCP servers (option 12), so the machine shows up in their lease lists.
fn hostname() -> Option<String> {
    ["/etc/hostname", "/proc/sys/kernel/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty() && s != "(none)")
}

/// Brings `lo` and every Ethernet NIC up and starts configuring them in the background;
/// returns at once. `state_dir`: where net.json and friends go.
pub fn start(mode: &NetMode, state_dir: Option<PathBuf>) -> Shared {
    let shared = Shared::new(state_dir);
    match set_up("lo") {
        Ok(()) => info!("lo is up"),
        Err(e) => warning!("cannot bring lo up: {e}"),
    }
    let all = ethernet_interfaces(Path::new("/sys/class/net"));
    if all.is_empty() {
        info!("network interfaces: none besides lo");
        return shared;
    }
    info!(
        "network interfaces: {}",
        all.iter()
            .map(|i| format!("{} ({})", i.name, i.mac_string()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if *mode == NetMode::Off {
        info!("net: wraith.net=off: only lo is configured");
        return shared;
    }
    let wanted = match mode {
        NetMode::Dhcp { iface: Some(n) } | NetMode::Static(StaticConfig { iface: Some(n), .. }) => {
            Some(n.as_str())
        }
        _ => None,
    };
    let ifaces: Vec<Iface> = all
        .into_iter()
        .filter(|i| wanted.is_none_or(|w| w == i.name))
        .collect();
    if ifaces.is_empty() {
        warning!(
            "net: interface {} not found; no network",
            wanted.unwrap_or("?")
        );
        return shared;
    }
    // Up first, all together: carrier detection (auto-negotiation) needs the link up and
    // takes a second or two, which the NICs then spend in parallel.
    for i in &ifaces {
        if let Err(e) = set_up(&i.name) {
            warning!("net: cannot bring {} up: {e}", i.name);
        }
        let mac = i.mac_string();
        let method = if matches!(mode, NetMode::Static(_)) {
            "static"
        } else {
            "dhcp"
        };
        shared.update(&i.name, |s| {
            s.mac = mac;
            s.method = method;
            s.state = "no-link";
        });
    }
    match mode {
        NetMode::Static(cfg) => {
            let (cfg, shared2) = (cfg.clone(), shared.clone());
            spawn("net-static", move || static_config(&ifaces, &cfg, &shared2));
        }
        _ => {
            let host = hostname();
            for i in ifaces {
                let (shared2, host2) = (shared.clone(), host.clone());
                let name = i.name.clone();
                spawn(&format!("dhcp-{name}"), move || {
                    match client::Client::new(i, shared2.clone(), host2) {
                        Ok(c) => c.run(),
                        Err(e) => {
                            warning!("net: {name}: cannot start DHCP: {e}");
                            shared2.update(&name, |s| {
                                s.state = "failed";
                                s.error = Some(e.to_string());
                            });
                        }
                    }
                });
            }
        }
    }
    shared
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) {
    if let Err(e) = std::thread::Builder::new().name(name.into()).spawn(f) {
        warning!("net: cannot start thread {name}: {e}");
    }
}

/// `wraith.net=static:...`: the named NIC, or the first one to get a link.
fn static_config(ifaces: &[Iface], cfg: &StaticConfig, shared: &Shared) {
    let deadline = Instant::now() + STATIC_LINK_WAIT;
    let iface = loop {
        if let Some(i) = ifaces.iter().find(|i| i.carrier()) {
            break i;
        }
        if Instant::now() >= deadline {
            // No link anywhere: configure the first anyway; the cable may come later.
            match ifaces.first() {
                Some(i) => break i,
                None => return,
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let result = (|| -> std::io::Result<()> {
        let mut nl = Netlink::open()?;
        nl.add_address(iface.index, cfg.address, cfg.prefix)?;
        if let Some(gw) = cfg.gateway {
            nl.replace_route(&Route {
                ifindex: iface.index,
                dst: std::net::Ipv4Addr::UNSPECIFIED,
                dst_len: 0,
                gateway: Some(gw),
                metric: iface.metric(),
                protocol: RTPROT_STATIC,
            })?;
        }
        Ok(())
    })();
    let link = iface.carrier();
    match &result {
        Ok(()) => info!(
            "net: {}: {}/{} gateway {} dns {} (static)",
            iface.name,
            cfg.address,
            cfg.prefix,
            cfg.gateway.map_or("none".into(), |g| g.to_string()),
            cfg.dns
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(",")
        ),
        Err(e) => warning!("net: {}: static configuration failed: {e}", iface.name),
    }
    shared.update(&iface.name, |s| {
        s.link = link;
        match result {
            Ok(()) => {
                s.state = "configured";
                s.address = Some((cfg.address, cfg.prefix));
                s.gateway = cfg.gateway;
                s.dns = cfg.dns.clone();
                s.search = cfg.search.clone();
            }
            Err(e) => {
                s.state = "failed";
                s.error = Some(e.to_string());
            }
        }
    });
}

/// Sets IFF_UP on an interface with the classic SIOCGIFFLAGS/SIOCSIFFLAGS ioctls; no
/// netlink needed for one flag.
fn set_up(name: &str) -> std::io::Result<()> {
    // SAFETY: plain socket(2); the fd is wrapped in an OwnedFd right away so it is closed.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh, valid descriptor owned by nobody else.
    let sock = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let raw = std::os::fd::AsRawFd::as_raw_fd(&sock);

    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.as_bytes();
    if bytes.len() >= req.ifr_name.len() {
        return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
    }
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: valid socket and a properly initialised ifreq for these two requests. (`as _`:
    // libc types the request c_ulong on glibc but c_int on musl.)
    unsafe {
        if libc::ioctl(raw, libc::SIOCGIFFLAGS as _, &mut req) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(raw, libc::SIOCSIFFLAGS as _, &req) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Does this job need the network? A URL anywhere in an inline job, a job fetched by URL, or
/// a job file on a local medium that mentions a network repository. Errs on the side of
/// waiting: the wait is bounded and a local job that mentions `http://` in a comment only
/// starts a little later.
pub fn job_needs_network(job: &crate::cmdline::JobSource) -> bool {
    use crate::cmdline::JobSource;
    let mentions_url = |t: &str| {
        [
            "http://",
            "https://",
            "smb://",
            "nfs://",
            "cifs://",
            "webdav://",
            "ftp://",
        ]
        .iter()
        .any(|s| t.contains(s))
    };
    match job {
        JobSource::Inline(t) => mentions_url(t),
        JobSource::File(f) if mentions_url(f) => true,
        JobSource::File(f) => std::fs::read_to_string(f).is_ok_and(|t| mentions_url(&t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmdline::JobSource;

    #[test]
    fn mac_parsing() {
        assert_eq!(
            parse_mac("52:54:00:12:34:5f"),
            Some([0x52, 0x54, 0, 0x12, 0x34, 0x5f])
        );
        assert_eq!(parse_mac("52:54:00:12:34"), None);
        assert_eq!(parse_mac("52:54:00:12:34:56:78"), None);
        assert_eq!(parse_mac("zz:54:00:12:34:56"), None);
    }

    #[test]
    fn only_ethernet_interfaces_are_listed() {
        let dir = std::env::temp_dir().join(format!("wraith-sysnet-{}", std::process::id()));
        let mk = |name: &str, ty: &str, idx: &str, mac: &str| {
            let d = dir.join(name);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("type"), format!("{ty}\n")).unwrap();
            std::fs::write(d.join("ifindex"), format!("{idx}\n")).unwrap();
            std::fs::write(d.join("address"), format!("{mac}\n")).unwrap();
        };
        mk("lo", "772", "1", "00:00:00:00:00:00");
        mk("eth1", "1", "3", "52:54:00:00:00:02");
        mk("eth0", "1", "2", "52:54:00:00:00:01");
        mk("sit0", "776", "4", "00:00:00:00");
        std::fs::write(dir.join("eth0/carrier"), "1\n").unwrap();
        let found = ethernet_interfaces(&dir);
        let names: Vec<&str> = found.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["eth0", "eth1"]);
        assert_eq!(found[0].index, 2);
        assert_eq!(found[0].mac_string(), "52:54:00:00:00:01");
        assert!(found[0].carrier());
        assert!(!found[1].carrier());
        assert_eq!(found[1].metric(), 103);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn jobs_with_urls_wait_for_the_network() {
        assert!(job_needs_network(&JobSource::Inline(
            "action=save repo=smb://nas/images".into()
        )));
        assert!(job_needs_network(&JobSource::File(
            "http://10.0.2.2:8080/job.toml".into()
        )));
        assert!(!job_needs_network(&JobSource::Inline(
            "action=clone source=serial:A target=serial:B".into()
        )));
        let f = std::env::temp_dir().join(format!("wraith-job-{}.toml", std::process::id()));
        std::fs::write(
            &f,
            "action = \"restore\"\nrepo = \"nfs://srv/export/img\"\n",
        )
        .unwrap();
        assert!(job_needs_network(&JobSource::File(f.display().to_string())));
        std::fs::write(&f, "action = \"restore\"\nrepo = \"/mnt/usb/img\"\n").unwrap();
        assert!(!job_needs_network(&JobSource::File(
            f.display().to_string()
        )));
        let _ = std::fs::remove_file(&f);
    }
}

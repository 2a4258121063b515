//! Networking of the live system: `lo`, then every Ethernet NIC. Each NIC gets a thread that
//! waits for a link and runs our DHCP client ([`client`]) for as long as the system runs, or
//! `wraith.net=static:...` configures one NIC; `wraith.net=off` leaves it at `lo`. A manager
//! thread owns which of these runs where, and switches an interface when a UI asks with a
//! request file ([`request`]): the old worker is stopped (it removes its address) before
//! the new one starts.
//!
//! Nothing here blocks the boot: [`start`] returns at once with a [`Shared`] state that the
//! threads fill in and write to /run/wraith (net.json, resolv.conf, net-ready; see
//! [`state`]). A job that needs the network waits on it with a bounded timeout
//! ([`Shared::wait_ready`]). No shell helpers (udhcpc, ip): messages are ours, see [`dhcp`]
//! and [`netlink`].

pub mod client;
pub use wraith_live::net as config;
pub mod dhcp;
pub mod lease;
pub mod netlink;
pub mod request;
pub mod state;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use config::{NetMode, StaticConfig};
pub use state::Shared;

use crate::log::{info, warning};
use netlink::{Netlink, Route, RTPROT_STATIC};
use request::Want;
use state::{IfState, Method, RequestOutcome, RequestResult};
use wraith_live::state::NetRequest;

/// Where the state files go in the live system.
pub const STATE_DIR: &str = wraith_live::paths::STATE_DIR;
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

/// Brings `lo` up and starts configuring the Ethernet NICs as `mode` says, in the
/// background; returns at once. `state_dir`: where net.json and friends go, and where
/// requests to change the configuration arrive ([`request`]); None keeps it all in memory
/// and takes no requests.
pub fn start(mode: &NetMode, state_dir: Option<PathBuf>) -> Shared {
    let shared = Shared::new(state_dir.clone());
    match set_up("lo") {
        Ok(()) => info!("lo is up"),
        Err(e) => warning!("cannot bring lo up: {e}"),
    }
    let all = ethernet_interfaces(Path::new("/sys/class/net"));
    if all.is_empty() {
        info!("network interfaces: none besides lo");
    } else {
        info!(
            "network interfaces: {}",
            all.iter()
                .map(|i| format!("{} ({})", i.name, i.mac_string()))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    // Every NIC is listed, also those the mode leaves alone, so the network screen can
    // offer to switch them on.
    for i in &all {
        let mac = i.mac_string();
        shared.update(&i.name, |s| {
            s.mac = mac;
            s.method = Method::Off;
            s.state = IfState::Off;
        });
    }
    let mut manager = Manager {
        shared: shared.clone(),
        ifaces: all,
        hostname: hostname(),
        workers: BTreeMap::new(),
    };
    let mode = mode.clone();
    spawn("net", move || {
        manager.boot(&mode);
        if let Some(dir) = state_dir {
            manager.watch(&dir);
        }
    });
    shared
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Option<JoinHandle<()>> {
    match std::thread::Builder::new().name(name.into()).spawn(f) {
        Ok(h) => Some(h),
        Err(e) => {
            warning!("net: cannot start thread {name}: {e}");
            None
        }
    }
}

/// Tells an interface's worker (DHCP client or static configuration) to let go of it.
#[derive(Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    pub fn stopped(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Sleeps for `d` or until stopped, whichever comes first; false when stopped.
    pub fn sleep(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        loop {
            if self.stopped() {
                return false;
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            std::thread::sleep(left.min(Duration::from_millis(100)));
        }
    }
}

struct Worker {
    stop: Stop,
    thread: Option<JoinHandle<()>>,
}

/// Owns which worker runs on which interface: the boot configuration first, then whatever
/// request files ask for.
struct Manager {
    shared: Shared,
    ifaces: Vec<Iface>,
    hostname: Option<String>,
    workers: BTreeMap<String, Worker>,
}

/// How often the state directory is looked at for a request: a person pressing Enter on
/// the network screen should see the change start within a moment.
const REQUEST_POLL: Duration = Duration::from_millis(300);
/// How long a worker may take to let go of its interface before the next one starts anyway.
const STOP_WAIT: Duration = Duration::from_secs(5);

impl Manager {
    fn links(&self) -> Vec<(&str, bool)> {
        self.ifaces
            .iter()
            .map(|i| (i.name.as_str(), i.carrier()))
            .collect()
    }

    fn boot(&mut self, mode: &NetMode) {
        if self.ifaces.is_empty() {
            return;
        }
        if *mode == NetMode::Off {
            info!("net: wraith.net=off: only lo is configured");
            return;
        }
        if let NetMode::Static(StaticConfig { iface: None, .. }) = mode {
            // The first NIC to get a link: carrier detection takes a second or two after
            // the link goes up, so bring them all up and give them a moment.
            for i in &self.ifaces {
                let _ = set_up(&i.name);
            }
            let deadline = Instant::now() + STATIC_LINK_WAIT;
            while Instant::now() < deadline && !self.ifaces.iter().any(Iface::carrier) {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        if let Err(e) = self.apply(mode) {
            warning!("net: {e}; no network");
        }
    }

    /// Switches the interfaces `mode` names; the others keep what they run.
    fn apply(&mut self, mode: &NetMode) -> Result<(), String> {
        let plan = request::plan(mode, &self.links())?;
        // Up first, all together: carrier detection (auto-negotiation) needs the link up
        // and takes a second or two, which the NICs then spend in parallel.
        for (name, want) in &plan {
            if *want != Want::Off {
                if let Err(e) = set_up(name) {
                    warning!("net: cannot bring {name} up: {e}");
                }
            }
        }
        for (name, want) in plan {
            self.switch(&name, want);
        }
        Ok(())
    }

    fn switch(&mut self, name: &str, want: Want) {
        if let Some(mut old) = self.workers.remove(name) {
            old.stop.set();
            let deadline = Instant::now() + STOP_WAIT;
            if let Some(t) = old.thread.take() {
                while !t.is_finished() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                if t.is_finished() {
                    let _ = t.join();
                } else {
                    warning!("net: {name}: the old configuration did not stop in time");
                }
            }
        }
        let Some(iface) = self.ifaces.iter().find(|i| i.name == name).cloned() else {
            return;
        };
        let (shared, stop) = (self.shared.clone(), Stop::default());
        let method = match &want {
            Want::Dhcp => Method::Dhcp,
            Want::Static(_) => Method::Static,
            Want::Off => Method::Off,
        };
        shared.update(name, |s| {
            s.clear_config();
            s.method = method;
            s.state = if want == Want::Off {
                IfState::Off
            } else {
                IfState::NoLink
            };
        });
        let thread = match want {
            Want::Off => {
                info!("net: {name}: off");
                return;
            }
            Want::Dhcp => {
                let (host, stop2) = (self.hostname.clone(), stop.clone());
                spawn(&format!("dhcp-{name}"), move || {
                    let name = iface.name.clone();
                    match client::Client::new(iface, shared.clone(), host, stop2) {
                        Ok(c) => c.run(),
                        Err(e) => {
                            warning!("net: {name}: cannot start DHCP: {e}");
                            shared.update(&name, |s| {
                                s.state = IfState::Failed;
                                s.error = Some(e.to_string());
                            });
                        }
                    }
                })
            }
            Want::Static(cfg) => {
                let stop2 = stop.clone();
                spawn(&format!("static-{name}"), move || {
                    static_config(&iface, &cfg, &shared, &stop2)
                })
            }
        };
        self.workers
            .insert(name.to_string(), Worker { stop, thread });
    }

    /// Takes request files from `dir` for as long as the system runs.
    fn watch(&mut self, dir: &Path) {
        let path = dir.join(wraith_live::paths::NET_REQUEST);
        let taken = dir.join(format!(".{}.taken", wraith_live::paths::NET_REQUEST));
        loop {
            std::thread::sleep(REQUEST_POLL);
            // Renamed away before reading: a request written meanwhile lands in a new file
            // and is seen next time instead of being deleted unread.
            if std::fs::rename(&path, &taken).is_err() {
                continue;
            }
            let text = std::fs::read_to_string(&taken).unwrap_or_default();
            let _ = std::fs::remove_file(&taken);
            let outcome = answer_request(&text, |mode| self.apply(mode));
            self.shared.set_request(outcome);
        }
    }
}

/// Reads a request file's text, applies it with `apply` if it is one, and says how that went
/// in the form net.json carries.
pub fn answer_request(
    text: &str,
    apply: impl FnOnce(&NetMode) -> Result<(), String>,
) -> RequestOutcome {
    match NetRequest::parse(text) {
        Ok(r) => {
            info!("net: request {}: {}", r.id, r.net);
            let res = apply(&r.mode);
            if let Err(e) = &res {
                warning!("net: request {} refused: {e}", r.id);
            }
            RequestOutcome {
                id: r.id,
                net: r.net,
                result: if res.is_ok() {
                    RequestResult::Applied
                } else {
                    RequestResult::Refused
                },
                error: res.err(),
            }
        }
        Err(refusal) => {
            warning!("net: request {} refused: {}", refusal.id, refusal.error);
            RequestOutcome {
                id: refusal.id,
                net: String::new(),
                result: RequestResult::Refused,
                error: Some(refusal.error),
            }
        }
    }
}

/// A static address on one NIC, held until stopped: then the address and route go again.
fn static_config(iface: &Iface, cfg: &StaticConfig, shared: &Shared, stop: &Stop) {
    let route = cfg.gateway.map(|gw| Route {
        ifindex: iface.index,
        dst: std::net::Ipv4Addr::UNSPECIFIED,
        dst_len: 0,
        gateway: Some(gw),
        metric: iface.metric(),
        protocol: RTPROT_STATIC,
    });
    let mut nl = match Netlink::open() {
        Ok(nl) => nl,
        Err(e) => {
            warning!("net: {}: static configuration failed: {e}", iface.name);
            shared.update(&iface.name, |s| {
                s.state = IfState::Failed;
                s.error = Some(e.to_string());
            });
            return;
        }
    };
    let result = nl
        .add_address(iface.index, cfg.address, cfg.prefix)
        .and_then(|()| route.as_ref().map_or(Ok(()), |r| nl.replace_route(r)));
    let mut link = iface.carrier();
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
    let ok = result.is_ok();
    shared.update(&iface.name, |s| {
        s.link = link;
        match result {
            Ok(()) => {
                s.state = IfState::Configured;
                s.address = Some((cfg.address, cfg.prefix));
                s.gateway = cfg.gateway;
                s.dns = cfg.dns.clone();
                s.search = cfg.search.clone();
            }
            Err(e) => {
                s.state = IfState::Failed;
                s.error = Some(e.to_string());
            }
        }
    });
    // The link shown on the network screen follows the cable.
    while stop.sleep(Duration::from_secs(1)) {
        let now = iface.carrier();
        if now != link {
            link = now;
            shared.update(&iface.name, |s| s.link = now);
        }
    }
    if ok {
        if let Some(r) = &route {
            let _ = nl.del_route(r);
        }
        if let Err(e) = nl.del_address(iface.index, cfg.address, cfg.prefix) {
            warning!(
                "net: {}: removing {}/{}: {e}",
                iface.name,
                cfg.address,
                cfg.prefix
            );
        }
        info!(
            "net: {}: removed {}/{} (static)",
            iface.name, cfg.address, cfg.prefix
        );
    }
    shared.update(&iface.name, |s| s.clear_config());
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
        JobSource::Inline(t) => mentions_url(t) && !sets_network(t),
        JobSource::File(f) if mentions_url(f) => true,
        JobSource::File(f) => {
            std::fs::read_to_string(f).is_ok_and(|t| mentions_url(&t) && !sets_network(&t))
        }
    }
}

/// A job with a `net` key configures the network itself (through a request, then waiting
/// for its own configuration): waiting for boot's DHCP first would only delay it, by the
/// whole of `wraith.netwait` on a network without a DHCP server.
fn sets_network(text: &str) -> bool {
    text.split(|c: char| c.is_whitespace() || c == ';')
        .any(|w| w.starts_with("net="))
        || text.lines().any(|l| {
            l.trim_start()
                .strip_prefix("net")
                .is_some_and(|r| r.trim_start().starts_with('='))
        })
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
    fn a_stopped_worker_wakes_within_a_moment() {
        let stop = Stop::default();
        assert!(stop.sleep(Duration::from_millis(10)));
        let s2 = stop.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            s2.set();
        });
        let began = Instant::now();
        // An hour-long wait (a DHCP client between renewals) ends soon after the stop.
        assert!(!stop.sleep(Duration::from_secs(3600)));
        assert!(began.elapsed() < Duration::from_secs(2));
        assert!(stop.stopped());
        t.join().unwrap();
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
        std::fs::write(
            &f,
            "action = \"restore\"\nrepo = \"nfs://srv/export/img\"\nnet = \"static:10.0.0.5/24\"\n",
        )
        .unwrap();
        assert!(!job_needs_network(&JobSource::File(
            f.display().to_string()
        )));
        assert!(!job_needs_network(&JobSource::Inline(
            "action=save repo=smb://nas/images net=static:10.0.0.5/24".into()
        )));
        // "network" in a URL is not a net key.
        assert!(job_needs_network(&JobSource::Inline(
            "action=save repo=smb://nas/network=1".into()
        )));
        std::fs::write(&f, "action = \"restore\"\nrepo = \"/mnt/usb/img\"\n").unwrap();
        assert!(!job_needs_network(&JobSource::File(
            f.display().to_string()
        )));
        let _ = std::fs::remove_file(&f);
    }
}

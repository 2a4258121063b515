//! The network state every interface thread reports into, written out for the UIs.
//!
//! Files in the state directory (/run/wraith in the live system), each replaced atomically
//! (written beside, then renamed) so a reader never sees half a file:
//! - `net.json`: per interface name, MAC, link, method, state, address/prefix, gateway, DNS,
//!   search domains, DHCP server, lease length and expiry (as seconds of uptime, the clock of
//!   /proc/uptime, because the live system's wall clock may be wrong), and `ready`.
//! - `resolv.conf`: name servers and search domains of all interfaces (/etc/resolv.conf links
//!   here, so the read-only-or-not question of /etc never arises).
//! - `net-ready`: exists while at least one interface has an address; one line per such
//!   interface. The thing to wait for before touching a network repository.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub use wraith_live::state::{IfState, Method, RequestResult};
use wraith_live::{paths, state as wire};

use crate::log::{uptime_secs, warning};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct IfaceState {
    pub mac: String,
    pub link: bool,
    pub method: Method,
    pub state: IfState,
    pub address: Option<(Ipv4Addr, u8)>,
    pub gateway: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub search: Vec<String>,
    pub server: Option<Ipv4Addr>,
    pub lease_secs: Option<u64>,
    /// Uptime seconds.
    pub lease_obtained: Option<f64>,
    pub lease_expires: Option<f64>,
    /// ACKs to RENEW/REBIND requests so far.
    pub renewals: u32,
    pub error: Option<String>,
}

impl IfaceState {
    /// Forgets the address and everything that came with it (another method takes over).
    pub fn clear_config(&mut self) {
        self.address = None;
        self.gateway = None;
        self.dns.clear();
        self.search.clear();
        self.server = None;
        self.lease_secs = None;
        self.lease_obtained = None;
        self.lease_expires = None;
        self.renewals = 0;
        self.error = None;
    }
}

/// The answer to the last request file (see `request`), echoed in net.json.
pub type RequestOutcome = wire::RequestAnswer;

pub struct NetState {
    dir: Option<PathBuf>,
    ifaces: BTreeMap<String, IfaceState>,
    request: Option<RequestOutcome>,
}

/// Shared between the interface threads and whoever waits for the network.
#[derive(Clone)]
pub struct Shared(Arc<(Mutex<NetState>, Condvar)>);

/// Seconds of uptime at `t` (an `Instant` in the past or future).
pub fn uptime_at(t: Instant) -> f64 {
    let now = Instant::now();
    let up = uptime_secs();
    if t >= now {
        up + (t - now).as_secs_f64()
    } else {
        up - (now - t).as_secs_f64()
    }
}

impl Shared {
    /// `dir`: where the files go; None keeps the state in memory only.
    pub fn new(dir: Option<PathBuf>) -> Shared {
        if let Some(d) = &dir {
            if let Err(e) = std::fs::create_dir_all(d) {
                warning!("net: cannot create {}: {e}", d.display());
            }
        }
        let s = Shared(Arc::new((
            Mutex::new(NetState {
                dir,
                ifaces: BTreeMap::new(),
                request: None,
            }),
            Condvar::new(),
        )));
        s.write();
        s
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, NetState> {
        self.0 .0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes one interface's entry and rewrites the files.
    pub fn update(&self, name: &str, f: impl FnOnce(&mut IfaceState)) {
        self.update_all(|m| f(m.entry(name.to_string()).or_default()));
    }

    fn update_all(&self, f: impl FnOnce(&mut BTreeMap<String, IfaceState>)) {
        let mut st = self.lock();
        f(&mut st.ifaces);
        Self::written(&st);
        self.0 .1.notify_all();
    }

    fn write(&self) {
        Self::written(&self.lock());
    }

    fn written(st: &NetState) {
        if let Some(dir) = &st.dir {
            write_files(dir, &st.ifaces, st.request.as_ref());
        }
    }

    /// Records the answer to a request file.
    pub fn set_request(&self, outcome: RequestOutcome) {
        let mut st = self.lock();
        st.request = Some(outcome);
        Self::written(&st);
    }

    pub fn ready(&self) -> bool {
        self.lock().ifaces.values().any(|i| i.address.is_some())
    }

    /// Waits until an interface has an address; false after `timeout`.
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        loop {
            if st.ifaces.values().any(|i| i.address.is_some()) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = self
                .0
                 .1
                .wait_timeout(st, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }
}

fn write_files(dir: &Path, ifaces: &BTreeMap<String, IfaceState>, req: Option<&RequestOutcome>) {
    let st = to_wire(ifaces, req, uptime_secs());
    replace(dir, paths::NET_JSON, &st.to_json());
    replace(dir, paths::RESOLV_CONF, &resolv_conf(ifaces));
    match st.ready_marker() {
        Some(lines) => replace(dir, paths::NET_READY, &lines),
        None => {
            let _ = std::fs::remove_file(dir.join(paths::NET_READY));
        }
    }
}

fn replace(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    let res = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, dir.join(name)));
    if let Err(e) = res {
        warning!("net: cannot write {}/{name}: {e}", dir.display());
    }
}

/// Times to a tenth of a second: finer is noise for a lease and for a person reading.
fn tenths(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// What net.json says about `ifaces` at uptime `uptime`: the one definition the UI reads
/// ([`wraith_live::state::NetState`]).
pub fn to_wire(
    ifaces: &BTreeMap<String, IfaceState>,
    req: Option<&RequestOutcome>,
    uptime: f64,
) -> wire::NetState {
    let ip = |a: Option<Ipv4Addr>| a.map(|a| a.to_string());
    wire::NetState {
        ready: ifaces.values().any(|i| i.address.is_some()),
        uptime: tenths(uptime),
        request: req.cloned(),
        interfaces: ifaces
            .iter()
            .map(|(name, i)| wire::Iface {
                name: name.clone(),
                mac: i.mac.clone(),
                link: i.link,
                method: i.method.as_str().into(),
                state: i.state.as_str().into(),
                address: ip(i.address.map(|a| a.0)),
                prefix: i.address.map(|a| a.1),
                gateway: ip(i.gateway),
                dns: i.dns.iter().map(Ipv4Addr::to_string).collect(),
                search: i.search.clone(),
                server: ip(i.server),
                lease_secs: i.lease_secs,
                lease_obtained: i.lease_obtained.map(tenths),
                lease_expires: i.lease_expires.map(tenths),
                renewals: i.renewals,
                error: i.error.clone(),
            })
            .collect(),
    }
}

/// Name servers in interface order without duplicates; glibc reads at most 3.
pub fn resolv_conf(ifaces: &BTreeMap<String, IfaceState>) -> String {
    let mut o = String::from("# written by wraith-init from DHCP or wraith.net=static\n");
    let mut dns: Vec<Ipv4Addr> = Vec::new();
    let mut search: Vec<&str> = Vec::new();
    for i in ifaces.values().filter(|i| i.address.is_some()) {
        for d in &i.dns {
            if !dns.contains(d) {
                dns.push(*d);
            }
        }
        for s in &i.search {
            if !search.contains(&s.as_str()) {
                search.push(s);
            }
        }
    }
    for d in dns.iter().take(3) {
        let _ = writeln!(o, "nameserver {d}");
    }
    if !search.is_empty() {
        let _ = writeln!(o, "search {}", search.join(" "));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_follow_the_state() {
        let dir = std::env::temp_dir().join(format!("wraith-net-state-{}", std::process::id()));
        let s = Shared::new(Some(dir.clone()));
        assert!(!s.ready());
        assert!(!dir.join("net-ready").exists());
        s.update("eth0", |i| {
            i.mac = "52:54:00:12:34:56".into();
            i.method = Method::Dhcp;
            i.state = IfState::Discovering;
        });
        let json = std::fs::read_to_string(dir.join("net.json")).unwrap();
        assert!(json.contains("\"ready\": false"), "{json}");
        assert!(
            json.contains("\"state\": \"discovering\", \"address\": null"),
            "{json}"
        );

        s.update("eth0", |i| {
            i.state = IfState::Bound;
            i.address = Some((Ipv4Addr::new(10, 0, 2, 15), 24));
            i.dns = vec![Ipv4Addr::new(10, 0, 2, 3)];
            i.search = vec!["lab.example".into(), "x\"y".into()];
        });
        s.update("eth1", |i| {
            i.address = Some((Ipv4Addr::new(192, 168, 1, 9), 16));
            i.dns = vec![Ipv4Addr::new(10, 0, 2, 3), Ipv4Addr::new(1, 1, 1, 1)];
        });
        assert!(s.wait_ready(Duration::ZERO));
        let json = std::fs::read_to_string(dir.join("net.json")).unwrap();
        assert!(json.contains("\"ready\": true"), "{json}");
        assert!(
            json.contains("\"address\": \"10.0.2.15\", \"prefix\": 24"),
            "{json}"
        );
        assert!(
            json.contains(r#""search": ["lab.example", "x\"y"]"#),
            "{json}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("resolv.conf")).unwrap(),
            "# written by wraith-init from DHCP or wraith.net=static\n\
             nameserver 10.0.2.3\nnameserver 1.1.1.1\nsearch lab.example x\"y\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("net-ready")).unwrap(),
            "eth0 10.0.2.15/24\neth1 192.168.1.9/16\n"
        );
        s.set_request(RequestOutcome {
            id: "tui-1".into(),
            net: "dhcp,if=eth1".into(),
            result: RequestResult::Refused,
            error: Some("there is no \"eth1\"".into()),
        });
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("net.json")).unwrap()).unwrap();
        assert_eq!(v["request"]["id"], "tui-1");
        assert_eq!(v["request"]["error"], "there is no \"eth1\"");
        assert_eq!(v["interfaces"][1]["prefix"], 16);
        s.update("eth0", |i| i.address = None);
        s.update("eth1", |i| i.address = None);
        assert!(!dir.join("net-ready").exists());
        assert!(!s.wait_ready(Duration::from_millis(10)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

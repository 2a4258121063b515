//! The network as wraith-init runs it, seen from the `wraith` binary: reading the state it
//! writes (`net.json`, `net-ready` in /run/wraith), asking it for a change with a request
//! file, and waiting (bounded, cancellable) for an address before a network repository is
//! used. Init owns every address and route; nothing here configures an interface.
//!
//! On a host without wraith-init there is no net.json: then nothing is waited for or
//! requested, and the host's own network is used as it is.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wraith_netconf::NetMode;

/// Where init writes its state in the live system.
pub const STATE_DIR: &str = "/run/wraith";
/// The request file's name, as init's `net::request` reads it.
pub const REQUEST_FILE: &str = "net-request";
/// How long a network repository waits for an address by default: init's `wraith.netwait`.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(60);

/// The state directory: `WRAITH_NET_DIR` when set (tests, or a host running init's
/// networking elsewhere), else /run/wraith.
pub fn state_dir() -> PathBuf {
    std::env::var_os("WRAITH_NET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(STATE_DIR))
}

/// How long to wait for an address: `WRAITH_NET_WAIT_SECS` when set, else [`DEFAULT_WAIT`].
pub fn wait_limit() -> Duration {
    std::env::var("WRAITH_NET_WAIT_SECS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(DEFAULT_WAIT, Duration::from_secs)
}

/// net.json as init writes it (see init/README.md#networking).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct NetState {
    #[serde(default)]
    pub ready: bool,
    /// Seconds since boot when written; lease times are on the same clock.
    #[serde(default)]
    pub uptime: f64,
    #[serde(default)]
    pub interfaces: Vec<Iface>,
    #[serde(default)]
    pub request: Option<RequestAnswer>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Iface {
    pub name: String,
    #[serde(default)]
    pub mac: String,
    #[serde(default)]
    pub link: bool,
    #[serde(default)]
    pub method: String,
    #[serde(default)]
    pub state: String,
    pub address: Option<String>,
    pub prefix: Option<u8>,
    pub gateway: Option<String>,
    #[serde(default)]
    pub dns: Vec<String>,
    #[serde(default)]
    pub search: Vec<String>,
    pub server: Option<String>,
    pub lease_secs: Option<u64>,
    pub lease_obtained: Option<f64>,
    pub lease_expires: Option<f64>,
    #[serde(default)]
    pub renewals: u32,
    pub error: Option<String>,
}

impl Iface {
    /// `10.0.2.15/24`, if it has an address.
    pub fn cidr(&self) -> Option<String> {
        Some(format!("{}/{}", self.address.as_ref()?, self.prefix?))
    }

    /// Seconds the lease has left at uptime `now`; None for static or infinite leases.
    pub fn lease_left(&self, now: f64) -> Option<u64> {
        self.lease_expires.map(|e| (e - now).max(0.0) as u64)
    }
}

/// Init's answer to the last request file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct RequestAnswer {
    pub id: String,
    #[serde(default)]
    pub net: String,
    /// "applied" or "refused".
    pub result: String,
    pub error: Option<String>,
}

/// Reads net.json; None when there is none (no wraith-init here) or it cannot be read.
pub fn read_state(dir: &Path) -> Option<NetState> {
    let text = std::fs::read_to_string(dir.join("net.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Whether some interface has an address: init's `net-ready` marker.
pub fn ready(dir: &Path) -> bool {
    dir.join("net-ready").exists()
}

/// Seconds since boot (the clock of lease times in net.json).
pub fn uptime_now() -> Option<f64> {
    std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `3h 12m`, `4m 05s`, `12s`: how long a lease has left.
pub fn duration_short(secs: u64) -> String {
    match secs {
        s if s >= 86_400 => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
        s if s >= 3600 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m {:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

/// A fresh request id: this process and the time, so two requests never share one.
pub fn new_request_id(who: &str) -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{who}-{}-{ms}", std::process::id())
}

/// Asks init to apply `mode` (a `wraith.net=` value, already checked): writes the request
/// file beside, then renames it into place, so init never reads half of one.
pub fn write_request(dir: &Path, id: &str, mode: &NetMode) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{REQUEST_FILE}.{id}"));
    std::fs::write(&tmp, format!("id={id}\nnet={mode}\n"))?;
    std::fs::rename(&tmp, dir.join(REQUEST_FILE))
}

/// Init's answer to request `id`, once there is one.
pub fn answer(state: &NetState, id: &str) -> Option<Result<(), String>> {
    let a = state.request.as_ref().filter(|a| a.id == id)?;
    Some(match a.result.as_str() {
        "applied" => Ok(()),
        _ => Err(a.error.clone().unwrap_or_else(|| "refused".into())),
    })
}

/// Whether the interfaces run what `mode` asked for and have their address: a static
/// address configured, or a DHCP lease on the named interface (any, without `if=`).
pub fn reached(state: &NetState, mode: &NetMode) -> bool {
    let ifaces = &state.interfaces;
    match mode {
        NetMode::Off => ifaces.iter().all(|i| i.address.is_none()),
        NetMode::Dhcp { iface } => ifaces.iter().any(|i| {
            iface.as_ref().is_none_or(|n| *n == i.name) && i.method == "dhcp" && i.address.is_some()
        }),
        NetMode::Static(s) => ifaces.iter().any(|i| {
            s.iface.as_ref().is_none_or(|n| *n == i.name)
                && i.method == "static"
                && i.state == "configured"
                && i.address.as_deref() == Some(s.address.to_string().as_str())
                && i.prefix == Some(s.prefix)
        }),
    }
}

/// Why a wait ended without what it waited for.
#[derive(Debug, PartialEq)]
pub enum WaitError {
    Cancelled,
    TimedOut,
    /// Init refused the request: its message.
    Refused(String),
    /// There is no wraith-init network here (no net.json) to ask.
    NoInit,
    Io(String),
}

impl std::fmt::Display for WaitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WaitError::Cancelled => f.write_str("cancelled"),
            WaitError::TimedOut => f.write_str("timed out"),
            WaitError::Refused(e) => write!(f, "refused by init: {e}"),
            WaitError::NoInit => f.write_str(
                "there is no wraith-init network here (no net.json) to configure; \
                 the job's net key works on the live system only",
            ),
            WaitError::Io(e) => f.write_str(e),
        }
    }
}

const POLL: Duration = Duration::from_millis(200);

/// Polls `done` until it has an answer, `cancelled` says so, or `limit` has passed.
fn poll(
    limit: Duration,
    cancelled: &dyn Fn() -> bool,
    mut done: impl FnMut() -> Option<Result<(), WaitError>>,
) -> Result<(), WaitError> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(r) = done() {
            return r;
        }
        if cancelled() {
            return Err(WaitError::Cancelled);
        }
        if Instant::now() >= deadline {
            return Err(WaitError::TimedOut);
        }
        std::thread::sleep(POLL);
    }
}

/// Waits until some interface has an address, at most `limit`. Returns at once when the
/// network is ready or init does not run the network here (a host: its network is what it
/// is). `cancelled` is asked between polls.
pub fn wait_ready(
    dir: &Path,
    limit: Duration,
    cancelled: &dyn Fn() -> bool,
) -> Result<(), WaitError> {
    poll(limit, cancelled, || {
        (ready(dir) || !dir.join("net.json").exists()).then_some(Ok(()))
    })
}

/// Asks init for `mode` and waits, at most `limit`, until it is in place: the request
/// answered, then the address there ([`reached`]).
pub fn apply_and_wait(
    dir: &Path,
    mode: &NetMode,
    limit: Duration,
    cancelled: &dyn Fn() -> bool,
) -> Result<(), WaitError> {
    if read_state(dir).is_none() {
        return Err(WaitError::NoInit);
    }
    let id = new_request_id("job");
    write_request(dir, &id, mode)
        .map_err(|e| WaitError::Io(format!("writing {}: {e}", dir.join(REQUEST_FILE).display())))?;
    let mut answered = false;
    poll(limit, cancelled, || {
        let st = read_state(dir)?;
        if !answered {
            match answer(&st, &id)? {
                Err(e) => return Some(Err(WaitError::Refused(e))),
                Ok(()) => answered = true,
            }
        }
        reached(&st, mode).then_some(Ok(()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = r#"{
  "ready": true,
  "uptime": 1000.0,
  "request": {"id": "tui-1", "net": "dhcp,if=eth1", "result": "refused", "error": "there is no interface eth1"},
  "interfaces": [
    {"name": "eth0", "mac": "52:54:00:12:34:56", "link": true, "method": "dhcp", "state": "bound", "address": "10.0.2.15", "prefix": 24, "gateway": "10.0.2.2", "dns": ["10.0.2.3"], "search": [], "server": "10.0.2.2", "lease_secs": 86400, "lease_obtained": 10.0, "lease_expires": 86410.0, "renewals": 0, "error": null}
  ]
}"#;

    #[test]
    fn init_state_is_read_with_lease_times_on_the_uptime_clock() {
        let st: NetState = serde_json::from_str(FIXTURE).unwrap();
        let e = &st.interfaces[0];
        assert_eq!(e.cidr().as_deref(), Some("10.0.2.15/24"));
        assert_eq!(e.lease_left(st.uptime), Some(85_410));
        assert_eq!(duration_short(85_410), "23h 43m");
        assert_eq!(duration_short(3 * 86_400 + 7200), "3d 2h");
        assert_eq!(duration_short(65), "1m 05s");
        assert_eq!(
            answer(&st, "tui-1"),
            Some(Err("there is no interface eth1".into()))
        );
        assert_eq!(answer(&st, "tui-2"), None);
        assert!(reached(&st, &NetMode::Dhcp { iface: None }));
        assert!(!reached(
            &st,
            &NetMode::parse("static:10.0.2.15/24").unwrap()
        ));
    }

    #[test]
    fn a_request_is_written_whole_in_the_grammar_init_reads() {
        let dir = tempfile::tempdir().unwrap();
        let m =
            NetMode::parse("static:192.168.1.50/24,gw=192.168.1.1,dns=9.9.9.9,if=eth0").unwrap();
        write_request(dir.path(), "tui-7", &m).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(REQUEST_FILE)).unwrap(),
            "id=tui-7\nnet=static:192.168.1.50/24,gw=192.168.1.1,dns=9.9.9.9,if=eth0\n"
        );
        // Nothing left beside it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn waiting_ends_on_ready_on_a_host_without_init_on_cancel_or_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let never = || false;
        // No net.json: a host's own network, nothing to wait for.
        assert_eq!(wait_ready(dir.path(), Duration::ZERO, &never), Ok(()));
        std::fs::write(dir.path().join("net.json"), r#"{"ready": false}"#).unwrap();
        assert_eq!(
            wait_ready(dir.path(), Duration::from_millis(300), &never),
            Err(WaitError::TimedOut)
        );
        assert_eq!(
            wait_ready(dir.path(), Duration::from_secs(30), &|| true),
            Err(WaitError::Cancelled)
        );
        let marker = dir.path().join("net-ready");
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            std::fs::write(marker, "eth0 10.0.2.15/24\n").unwrap();
        });
        assert_eq!(
            wait_ready(dir.path(), Duration::from_secs(30), &never),
            Ok(())
        );
        t.join().unwrap();
        assert_eq!(
            apply_and_wait(
                tempfile::tempdir().unwrap().path(),
                &NetMode::Off,
                Duration::ZERO,
                &never
            ),
            Err(WaitError::NoInit)
        );
    }

    /// Init's side played by a thread: it takes the request, answers it in net.json, and
    /// then the address appears.
    #[test]
    fn a_job_request_waits_for_the_answer_and_the_address() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("net.json"), r#"{"ready": false}"#).unwrap();
        let d = dir.path().to_path_buf();
        let init = std::thread::spawn(move || {
            let req = d.join(REQUEST_FILE);
            let text = loop {
                if let Ok(t) = std::fs::read_to_string(&req) {
                    break t;
                }
                std::thread::sleep(Duration::from_millis(50));
            };
            let id = text
                .lines()
                .next()
                .unwrap()
                .strip_prefix("id=")
                .unwrap()
                .to_string();
            assert!(
                text.contains("net=static:10.0.2.50/24,gw=10.0.2.2\n"),
                "{text}"
            );
            std::fs::write(
                d.join("net.json"),
                format!(r#"{{"ready": false, "request": {{"id": "{id}", "result": "applied"}}}}"#),
            )
            .unwrap();
            std::thread::sleep(Duration::from_millis(300));
            std::fs::write(
                d.join("net.json"),
                format!(
                    r#"{{"ready": true, "request": {{"id": "{id}", "result": "applied"}},
                    "interfaces": [{{"name": "eth0", "method": "static", "state": "configured",
                    "address": "10.0.2.50", "prefix": 24}}]}}"#
                ),
            )
            .unwrap();
        });
        let m = NetMode::parse("static:10.0.2.50/24,gw=10.0.2.2").unwrap();
        assert_eq!(
            apply_and_wait(dir.path(), &m, Duration::from_secs(30), &|| false),
            Ok(())
        );
        init.join().unwrap();
    }
}

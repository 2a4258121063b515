//! The network as wraith-init runs it, seen from the `wraith` binary: reading the state it
//! writes (`net.json`, `net-ready` in /run/wraith), asking it for a change with a request
//! file, and waiting (bounded, cancellable) for an address before a network repository is
//! used. Init owns every address and route; nothing here configures an interface.
//!
//! On a host without wraith-init there is no net.json: then nothing is waited for or
//! requested, and the host's own network is used as it is.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wraith_live::paths;
use wraith_live::state::{IfState, Method, NetRequest, RequestResult};
use wraith_live::NetMode;

/// net.json and its parts: one definition, shared with wraith-init, which writes it.
pub use wraith_live::state::{Iface, NetState};

/// Where init writes its state in the live system.
pub const STATE_DIR: &str = paths::STATE_DIR;
/// The request file's name, as init reads it.
pub const REQUEST_FILE: &str = paths::NET_REQUEST;
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

/// Reads net.json; None when there is none (no wraith-init here) or it cannot be read.
pub fn read_state(dir: &Path) -> Option<NetState> {
    let text = std::fs::read_to_string(dir.join(paths::NET_JSON)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Whether some interface has an address: init's `net-ready` marker.
pub fn ready(dir: &Path) -> bool {
    dir.join(paths::NET_READY).exists()
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
    let req = NetRequest::new(id, mode).map_err(std::io::Error::other)?;
    let tmp = dir.join(format!(".{REQUEST_FILE}.{id}"));
    std::fs::write(&tmp, req.to_text())?;
    std::fs::rename(&tmp, dir.join(REQUEST_FILE))
}

/// Init's answer to request `id`, once there is one.
pub fn answer(state: &NetState, id: &str) -> Option<Result<(), String>> {
    let a = state.request.as_ref().filter(|a| a.id == id)?;
    Some(match a.result {
        RequestResult::Applied => Ok(()),
        RequestResult::Refused => Err(a.error.clone().unwrap_or_else(|| "refused".into())),
    })
}

/// Whether the interfaces run what `mode` asked for and have their address: a static
/// address configured, or a DHCP lease on the named interface (any, without `if=`).
pub fn reached(state: &NetState, mode: &NetMode) -> bool {
    let ifaces = &state.interfaces;
    match mode {
        NetMode::Off => ifaces.iter().all(|i| i.address.is_none()),
        NetMode::Dhcp { iface } => ifaces.iter().any(|i| {
            iface.as_ref().is_none_or(|n| *n == i.name)
                && i.method == Method::Dhcp.as_str()
                && i.address.is_some()
        }),
        NetMode::Static(s) => ifaces.iter().any(|i| {
            s.iface.as_ref().is_none_or(|n| *n == i.name)
                && i.method == Method::Static.as_str()
                && i.state == IfState::Configured.as_str()
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
        (ready(dir) || !dir.join(paths::NET_JSON).exists()).then_some(Ok(()))
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

    /// The live-system contract, both sides for real: init's state writer and request
    /// answerer (wraith-init's library) against this module's readers and request writer.
    #[test]
    fn what_init_writes_the_ui_reads_field_for_field_and_a_request_round_trips() {
        use std::collections::BTreeMap;
        use std::net::Ipv4Addr;
        use wraith_init::net::state::{IfState, IfaceState, Method, Shared};

        let dir = tempfile::tempdir().unwrap();
        let shared = Shared::new(Some(dir.path().to_path_buf()));
        assert_eq!(read_state(dir.path()).map(|s| s.interfaces.len()), Some(0));
        assert!(!ready(dir.path()));

        let ip = Ipv4Addr::new;
        let eth0 = IfaceState {
            mac: "52:54:00:12:34:56".into(),
            link: true,
            method: Method::Dhcp,
            state: IfState::Renewing,
            address: Some((ip(10, 0, 2, 15), 24)),
            gateway: Some(ip(10, 0, 2, 2)),
            dns: vec![ip(10, 0, 2, 3), ip(9, 9, 9, 9)],
            search: vec!["lab.example".into(), "odd \"name\"".into()],
            server: Some(ip(10, 0, 2, 2)),
            lease_secs: Some(86_400),
            lease_obtained: Some(12.5),
            lease_expires: Some(86_412.5),
            renewals: 3,
            error: None,
        };
        let eth1 = IfaceState {
            mac: "52:54:00:12:34:57".into(),
            method: Method::Static,
            state: IfState::Failed,
            error: Some("RTNETLINK: File exists".into()),
            ..IfaceState::default()
        };
        shared.update("eth0", |i| *i = eth0.clone());
        shared.update("eth1", |i| *i = eth1.clone());

        let st = read_state(dir.path()).expect("init's net.json reads");
        assert!(st.ready && ready(dir.path()));
        assert!(st.uptime > 0.0);
        let by_name: BTreeMap<&str, &Iface> =
            st.interfaces.iter().map(|i| (i.name.as_str(), i)).collect();
        assert_eq!(
            *by_name["eth0"],
            Iface {
                name: "eth0".into(),
                mac: "52:54:00:12:34:56".into(),
                link: true,
                method: "dhcp".into(),
                state: "renewing".into(),
                address: Some("10.0.2.15".into()),
                prefix: Some(24),
                gateway: Some("10.0.2.2".into()),
                dns: vec!["10.0.2.3".into(), "9.9.9.9".into()],
                search: vec!["lab.example".into(), "odd \"name\"".into()],
                server: Some("10.0.2.2".into()),
                lease_secs: Some(86_400),
                lease_obtained: Some(12.5),
                lease_expires: Some(86_412.5),
                renewals: 3,
                error: None,
            }
        );
        assert_eq!(
            *by_name["eth1"],
            Iface {
                name: "eth1".into(),
                mac: "52:54:00:12:34:57".into(),
                method: "static".into(),
                state: "failed".into(),
                error: Some("RTNETLINK: File exists".into()),
                ..Iface::default()
            }
        );
        assert!(reached(&st, &NetMode::Dhcp { iface: None }));

        // The UI asks; init takes the file as its manager does and answers in net.json.
        let mode = NetMode::parse("static:192.168.1.50/24,gw=192.168.1.1,if=eth1").unwrap();
        write_request(dir.path(), "tui-9", &mode).unwrap();
        let text = std::fs::read_to_string(dir.path().join(REQUEST_FILE)).unwrap();
        let mut applied = None;
        let outcome = wraith_init::net::answer_request(&text, |m| {
            applied = Some(m.clone());
            Ok(())
        });
        assert_eq!(applied.as_ref(), Some(&mode));
        shared.set_request(outcome);
        let st = read_state(dir.path()).unwrap();
        assert_eq!(answer(&st, "tui-9"), Some(Ok(())));
        assert_eq!(
            st.request.as_ref().map(|r| r.net.as_str()),
            Some(mode.to_string().as_str())
        );

        // A refusal reaches the UI with init's words.
        write_request(dir.path(), "tui-10", &NetMode::Off).unwrap();
        let text = std::fs::read_to_string(dir.path().join(REQUEST_FILE)).unwrap();
        let outcome = wraith_init::net::answer_request(&text, |_| Err("no, because".into()));
        shared.set_request(outcome);
        let st = read_state(dir.path()).unwrap();
        assert_eq!(answer(&st, "tui-10"), Some(Err("no, because".into())));
        assert_eq!(answer(&st, "tui-9"), None);

        shared.update("eth0", |i| i.address = None);
        assert!(!ready(dir.path()));
        assert!(!read_state(dir.path()).unwrap().ready);
    }

    /// One tokenizer: what init shows for `wraith.run=` and hands to `wraith job --inline`
    /// is what the engine's job parser reads.
    #[test]
    fn init_and_the_engine_read_an_inline_job_alike() {
        use wraith_engine::job::Job;
        use wraith_init::cmdline::{self, JobSource};

        let line = r#"quiet wraith.run="action=save;source=serial:A%20B repo=/mnt/my%20images%3Dx image=pc%2D1 verify=true net=dhcp,if=eth0""#;
        let cfg = cmdline::parse(line);
        let Some(JobSource::Inline(text)) = &cfg.job else {
            panic!("no inline job in {cfg:?}");
        };
        let argv = cmdline::ui_argv("/usr/bin/wraith", cfg.job.as_ref());
        assert_eq!(argv[1..3], ["job", "--inline"]);
        assert_eq!(&argv[3], text);
        let fields = cmdline::inline_job_fields(text).unwrap();
        let job = Job::from_inline(&argv[3]).unwrap();
        let get = |k: &str| {
            fields
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(job.source, get("source"));
        assert_eq!(job.source.as_deref(), Some("serial:A B"));
        assert_eq!(job.repository, get("repo"));
        assert_eq!(job.image, get("image"));
        assert_eq!(job.image.as_deref(), Some("pc-1"));
        assert_eq!(job.repository.as_deref(), Some("/mnt/my images=x"));
        assert_eq!(job.net, get("net"));
        assert_eq!(job.verify.to_string(), get("verify").unwrap());

        // A lone word: init warns at boot, the engine refuses, with the same words.
        let cfg = cmdline::parse("wraith.run=action=verify;repo=/x;image=a;verify");
        let Some(JobSource::Inline(text)) = &cfg.job else {
            panic!("no inline job");
        };
        let init_says = cmdline::inline_job_fields(text).unwrap_err().to_string();
        let engine_says = Job::from_inline(text).unwrap_err().to_string();
        assert!(
            engine_says.contains(&init_says),
            "{engine_says} / {init_says}"
        );
        assert!(cfg.warnings.iter().any(|w| w.contains(&init_says)));
    }
}

//! The room: every machine the server has seen, what it is doing and how far it got, from what
//! the server itself sees (DHCP/TFTP from dnsmasq's log, the iPXE script, boot files and its
//! job fetched, repository bytes read, a result moved into `results/`) and from the progress
//! a job runner posts while it works. Only what was seen is shown: a percentage appears only
//! when a client reported it.
//!
//! [`Row`] is the unit shown; [`table`] renders any rows, so other sources of rows (a multicast
//! session's receivers) can be shown in the same table.

use serde::Serialize;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How far a machine got, in the order it gets there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Got an address or a PXE answer from dnsmasq.
    Dhcp,
    /// Fetched a boot ROM over TFTP.
    Pxe,
    /// iPXE fetched its script.
    Ipxe,
    /// Fetching the kernel or initramfs.
    Booting,
    /// Fetched its job file.
    Job,
    /// Reading the repository (a restore or verify without progress reports).
    Reading,
    /// Working, with progress reported by the job runner.
    Working,
    Done,
    Failed,
}

impl State {
    pub fn word(self) -> &'static str {
        match self {
            State::Dhcp => "dhcp",
            State::Pxe => "pxe",
            State::Ipxe => "ipxe",
            State::Booting => "booting",
            State::Job => "job",
            State::Reading => "reading",
            State::Working => "working",
            State::Done => "done",
            State::Failed => "failed",
        }
    }
}

/// One line of the room table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    pub mac: Option<String>,
    pub ip: Option<IpAddr>,
    pub state: State,
    /// The step a job runner is in ("restore", "verify"), when reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Percent of the current step, when the client reported it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    /// Bytes per second: as the client reported, else what this server sent it lately.
    pub rate: f64,
    /// Bytes this server sent to it.
    pub served: u64,
    pub errors: u32,
    /// The last thing seen ("GET /repo/packs/..", "result ok", an error message).
    pub detail: String,
    /// Seconds since it was last seen.
    pub idle: f64,
}

struct Client {
    row: Row,
    last: Instant,
    /// (when, bytes) of recent transfers, for a server-side rate.
    recent: VecDeque<(Instant, u64)>,
    reported_rate: Option<f64>,
}

/// The shared room; cheap to clone.
#[derive(Clone, Default)]
pub struct Room {
    inner: Arc<Mutex<Vec<Client>>>,
}

const RATE_WINDOW: Duration = Duration::from_secs(5);

impl Room {
    pub fn new() -> Room {
        Room::default()
    }

    /// The row of the machine with this MAC or IP (a MAC learned for an IP joins the two).
    fn with<R>(
        &self,
        mac: Option<&str>,
        ip: Option<IpAddr>,
        f: impl FnOnce(&mut Client) -> R,
    ) -> R {
        let mut all = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let by_mac = mac.and_then(|m| all.iter().position(|c| c.row.mac.as_deref() == Some(m)));
        let by_ip = ip.and_then(|i| {
            all.iter()
                .position(|c| c.row.ip == Some(i) && (mac.is_none() || c.row.mac.is_none()))
        });
        let at = match (by_mac, by_ip) {
            (Some(a), Some(b)) if a != b => {
                // The same machine seen first by address, then by MAC: one row.
                let other = all.remove(b);
                let a = if b < a { a - 1 } else { a };
                let c = &mut all[a];
                c.row.state = c.row.state.max(other.row.state);
                c.row.served += other.row.served;
                c.row.errors += other.row.errors;
                a
            }
            (Some(a), _) => a,
            (None, Some(b)) => b,
            (None, None) => {
                all.push(Client {
                    row: Row {
                        mac: None,
                        ip: None,
                        state: State::Dhcp,
                        step: None,
                        percent: None,
                        rate: 0.0,
                        served: 0,
                        errors: 0,
                        detail: String::new(),
                        idle: 0.0,
                    },
                    last: Instant::now(),
                    recent: VecDeque::new(),
                    reported_rate: None,
                });
                all.len() - 1
            }
        };
        let c = &mut all[at];
        if let Some(m) = mac {
            c.row.mac = Some(m.to_string());
        }
        if let Some(i) = ip {
            c.row.ip = Some(i);
        }
        c.last = Instant::now();
        f(c)
    }

    /// A machine got further; a state never goes back, except that a new boot (DHCP, iPXE)
    /// after done or failed starts over.
    pub fn saw(&self, mac: Option<&str>, ip: Option<IpAddr>, state: State, detail: &str) {
        self.with(mac, ip, |c| {
            let restart =
                matches!(c.row.state, State::Done | State::Failed) && state <= State::Ipxe;
            if state > c.row.state || restart {
                c.row.state = state;
                if restart {
                    c.row.percent = None;
                    c.row.step = None;
                }
            }
            c.row.detail = detail.to_string();
        })
    }

    /// Bytes sent to a machine.
    pub fn sent(&self, ip: IpAddr, bytes: u64) {
        self.with(None, Some(ip), |c| {
            c.row.served += bytes;
            c.recent.push_back((Instant::now(), bytes));
        })
    }

    pub fn error(&self, ip: IpAddr, detail: &str) {
        self.with(None, Some(ip), |c| {
            c.row.errors += 1;
            c.row.detail = detail.to_string();
        })
    }

    /// A progress report from a job runner.
    pub fn progress(&self, ip: IpAddr, p: &Progress) {
        self.with(None, Some(ip), |c| {
            if let Some(step) = &p.step {
                c.row.step = Some(step.clone());
            }
            if let (Some(done), Some(total)) = (p.done, p.total) {
                if total > 0 {
                    c.row.percent = Some((done as f64 * 100.0 / total as f64).min(100.0));
                }
            }
            c.reported_rate = p.rate;
            match &p.result {
                Some(r) => finish(c, r),
                None => {
                    if c.row.state < State::Working {
                        c.row.state = State::Working;
                    }
                }
            }
            if let Some(w) = &p.warning {
                c.row.detail = format!("warning: {w}");
            }
        })
    }

    /// A job's result arrived (moved into `results/`, or posted).
    pub fn result(&self, ip: IpAddr, result: &serde_json::Value) {
        self.with(None, Some(ip), |c| finish(c, result))
    }

    /// The rows now, in the order first seen.
    pub fn rows(&self) -> Vec<Row> {
        let mut all = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        all.iter_mut()
            .map(|c| {
                while c
                    .recent
                    .front()
                    .is_some_and(|(t, _)| now.duration_since(*t) > RATE_WINDOW)
                {
                    c.recent.pop_front();
                }
                let mut row = c.row.clone();
                row.rate = match c.reported_rate {
                    Some(r) if row.state == State::Working => r,
                    _ => {
                        c.recent.iter().map(|(_, b)| *b).sum::<u64>() as f64
                            / RATE_WINDOW.as_secs_f64()
                    }
                };
                row.idle = (now.duration_since(c.last).as_secs_f64() * 10.0).round() / 10.0;
                row
            })
            .collect()
    }
}

fn finish(c: &mut Client, r: &serde_json::Value) {
    let word = r["result"].as_str().unwrap_or("error");
    c.row.state = if word == "ok" {
        State::Done
    } else {
        State::Failed
    };
    if word == "ok" {
        c.row.percent = Some(100.0);
    }
    c.row.detail = match r["error"].as_str() {
        Some(e) => format!("result {word}: {e}"),
        None => format!(
            "result {word}{}",
            r["action"]
                .as_str()
                .map(|a| format!(" ({a})"))
                .unwrap_or_default()
        ),
    };
}

/// What a job runner posts to `/room/progress` (JSON): its step and bytes, or its result.
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
pub struct Progress {
    #[serde(default)]
    pub step: Option<String>,
    #[serde(default)]
    pub done: Option<u64>,
    #[serde(default)]
    pub total: Option<u64>,
    /// Bytes per second.
    #[serde(default)]
    pub rate: Option<f64>,
    #[serde(default)]
    pub warning: Option<String>,
    /// The job's `WRAITH-RESULT` object, once it ended.
    #[serde(default)]
    pub result: Option<serde_json::Value>,
}

/// The rows as a fixed-width table for a terminal, header first.
pub fn table(rows: &[Row]) -> Vec<String> {
    let mut out = vec![format!(
        "{:<17} {:<15} {:<8} {:>6} {:>9} {:>9} {:>3}  {}",
        "MAC", "IP", "STATE", "%", "MB/s", "SENT MB", "ERR", "LAST"
    )];
    for r in rows {
        out.push(format!(
            "{:<17} {:<15} {:<8} {:>6} {:>9.1} {:>9.1} {:>3}  {}",
            r.mac.as_deref().unwrap_or("-"),
            r.ip.map(|i| i.to_string()).unwrap_or_else(|| "-".into()),
            r.state.word(),
            r.percent
                .map(|p| format!("{p:.0}"))
                .unwrap_or_else(|| "-".into()),
            r.rate / 1e6,
            r.served as f64 / 1e6,
            r.errors,
            truncate(&r.detail, 60),
        ));
    }
    out
}

/// One JSON line for a row (`--json`): the row and the time.
pub fn json_line(row: &Row) -> serde_json::Value {
    let mut v = serde_json::json!({ "event": "client" });
    if let (Some(o), Ok(serde_json::Value::Object(r))) =
        (v.as_object_mut(), serde_json::to_value(row))
    {
        o.extend(r);
    }
    v["time"] = serde_json::json!(SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0));
    v
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_machine_seen_by_address_then_by_mac_is_one_row_and_its_result_ends_it() {
        let room = Room::new();
        let ip: IpAddr = "10.0.0.50".parse().unwrap();
        room.saw(Some("52:54:00:00:00:01"), None, State::Pxe, "undionly.kpxe");
        room.sent(ip, 1000);
        room.saw(Some("52:54:00:00:00:01"), Some(ip), State::Ipxe, "script");
        let rows = room.rows();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].served, 1000);
        room.progress(
            ip,
            &Progress {
                step: Some("restore".into()),
                done: Some(50),
                total: Some(200),
                ..Default::default()
            },
        );
        assert_eq!(room.rows()[0].percent, Some(25.0));
        assert_eq!(room.rows()[0].state, State::Working);
        room.result(
            ip,
            &serde_json::json!({"result": "ok", "action": "restore"}),
        );
        assert_eq!(room.rows()[0].state, State::Done);
        assert_eq!(table(&room.rows()).len(), 2);
    }
}

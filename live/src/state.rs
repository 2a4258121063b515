//! The two files through which init and the UI talk about the network, each with one
//! definition here:
//!
//! - `net.json` ([`NetState`]): init writes it (replaced atomically on every change), the UI
//!   reads it. Per interface: name, MAC, link, method, state, address/prefix, gateway, DNS,
//!   search domains, DHCP server, lease length and times, renewals, error; plus `ready` and
//!   the answer to the last request. Times are seconds of uptime (the clock of
//!   /proc/uptime), because the live system's wall clock may be wrong. Addresses are
//!   dotted-quad strings.
//! - `net-request` ([`NetRequest`]): the UI asks init for a `wraith.net=` configuration.
//!   Plain `key=value` lines rather than JSON, so a shell (the rescue shell, a QEMU test)
//!   can write one with `printf`:
//!
//!   ```text
//!   id=4711-1733040000
//!   net=static:192.168.1.50/24,gw=192.168.1.1,dns=192.168.1.1,if=eth0
//!   ```
//!
//!   `id` is any short token the requester chooses; init echoes it in net.json's `request`
//!   with the result, so the requester can tell its own answer from an older one.

use serde::{Deserialize, Serialize};

use crate::net::NetMode;

/// `net.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NetState {
    /// Some interface has an address (as `net-ready` exists).
    #[serde(default)]
    pub ready: bool,
    /// Seconds since boot when written; lease times are on the same clock.
    #[serde(default)]
    pub uptime: f64,
    /// Init's answer to the last request file, once there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestAnswer>,
    /// Every Ethernet interface, by name.
    #[serde(default)]
    pub interfaces: Vec<Iface>,
}

/// One interface in `net.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Iface {
    pub name: String,
    #[serde(default)]
    pub mac: String,
    #[serde(default)]
    pub link: bool,
    /// A [`Method`] name: `dhcp`, `static` or `off`.
    #[serde(default)]
    pub method: String,
    /// An [`IfState`] name: `no-link`, `discovering`, `bound`, `configured`, ...
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub prefix: Option<u8>,
    #[serde(default)]
    pub gateway: Option<String>,
    #[serde(default)]
    pub dns: Vec<String>,
    #[serde(default)]
    pub search: Vec<String>,
    /// The DHCP server that gave the lease.
    #[serde(default)]
    pub server: Option<String>,
    /// The lease's length; None for a static address or an infinite lease.
    #[serde(default)]
    pub lease_secs: Option<u64>,
    /// Uptime seconds.
    #[serde(default)]
    pub lease_obtained: Option<f64>,
    #[serde(default)]
    pub lease_expires: Option<f64>,
    /// ACKs to RENEW/REBIND requests so far.
    #[serde(default)]
    pub renewals: u32,
    #[serde(default)]
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

/// How an interface gets its address: the `method` of an [`Iface`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Method {
    Dhcp,
    Static,
    #[default]
    Off,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Dhcp => "dhcp",
            Method::Static => "static",
            Method::Off => "off",
        }
    }
}

/// Where an interface is: the `state` of an [`Iface`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IfState {
    NoLink,
    Discovering,
    Requesting,
    Bound,
    Renewing,
    Rebinding,
    Expired,
    /// A static address is in place.
    Configured,
    #[default]
    Off,
    Failed,
}

impl IfState {
    pub const ALL: [IfState; 10] = [
        IfState::NoLink,
        IfState::Discovering,
        IfState::Requesting,
        IfState::Bound,
        IfState::Renewing,
        IfState::Rebinding,
        IfState::Expired,
        IfState::Configured,
        IfState::Off,
        IfState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IfState::NoLink => "no-link",
            IfState::Discovering => "discovering",
            IfState::Requesting => "requesting",
            IfState::Bound => "bound",
            IfState::Renewing => "renewing",
            IfState::Rebinding => "rebinding",
            IfState::Expired => "expired",
            IfState::Configured => "configured",
            IfState::Off => "off",
            IfState::Failed => "failed",
        }
    }
}

/// Init's answer to a request file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestAnswer {
    pub id: String,
    /// The request's `net=` value as written (empty if it had none).
    #[serde(default)]
    pub net: String,
    pub result: RequestResult,
    pub error: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestResult {
    /// The interfaces were switched; addresses follow as they come.
    Applied,
    #[default]
    Refused,
}

impl NetState {
    /// Whether some interface has an address.
    pub fn any_address(&self) -> bool {
        self.interfaces.iter().any(|i| i.address.is_some())
    }

    /// net.json's text (see [`crate::json`] for the layout).
    pub fn to_json(&self) -> String {
        // Plain strings, numbers and bools: serde_json cannot fail on them.
        crate::json::document(self).unwrap_or_default() + "\n"
    }

    /// The text of `net-ready`: `NAME ADDR/PREFIX` per interface with an address; None when
    /// no interface has one (then the file must not exist).
    pub fn ready_marker(&self) -> Option<String> {
        let lines: String = self
            .interfaces
            .iter()
            .filter_map(|i| Some(format!("{} {}\n", i.name, i.cidr()?)))
            .collect();
        (!lines.is_empty()).then_some(lines)
    }
}

/// Requests are a few hundred bytes; anything much larger is not one.
pub const MAX_REQUEST_LEN: usize = 4096;
/// The longest request id init takes.
pub const MAX_REQUEST_ID: usize = 64;

/// `net-request`: a `wraith.net=` configuration the UI asks init to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetRequest {
    pub id: String,
    /// The `net=` value as written, echoed in the answer.
    pub net: String,
    pub mode: NetMode,
}

/// A request init cannot take, with the id when one was readable so the refusal can still be
/// matched to its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRefusal {
    pub id: String,
    pub error: String,
}

impl NetRequest {
    /// A request for `mode`. The id must be what [`NetRequest::parse`] takes: letters,
    /// digits and `-_.:`, at most [`MAX_REQUEST_ID`] characters.
    pub fn new(id: &str, mode: &NetMode) -> Result<NetRequest, String> {
        check_id(id)?;
        Ok(NetRequest {
            id: id.to_string(),
            net: mode.to_string(),
            mode: mode.clone(),
        })
    }

    /// The file's text.
    pub fn to_text(&self) -> String {
        format!("id={}\nnet={}\n", self.id, self.net)
    }

    /// Reads a request file: `id=` and `net=` lines; blank lines and `#` comments are
    /// skipped; anything else refuses the request.
    pub fn parse(text: &str) -> Result<NetRequest, RequestRefusal> {
        let refuse = |id: &str, error: String| RequestRefusal {
            id: id.to_string(),
            error,
        };
        if text.len() > MAX_REQUEST_LEN {
            return Err(refuse(
                "",
                format!("request of {} bytes is too long", text.len()),
            ));
        }
        let mut id = None;
        let mut net = None;
        let mut bad = None;
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            match line.split_once('=') {
                Some(("id", v)) => id = Some(v.trim().to_string()),
                Some(("net", v)) => net = Some(v.trim().to_string()),
                _ => bad = bad.or(Some(format!("`{line}` is not id=... or net=..."))),
            }
        }
        let id = id.unwrap_or_default();
        check_id(&id).map_err(|e| refuse("", e))?;
        if let Some(b) = bad {
            return Err(refuse(&id, b));
        }
        let Some(net) = net else {
            return Err(refuse(&id, "the request has no net= line".into()));
        };
        match NetMode::parse(&net) {
            Ok(mode) => Ok(NetRequest { id, net, mode }),
            Err(e) => Err(refuse(&id, format!("net={net}: {e}"))),
        }
    }
}

fn check_id(id: &str) -> Result<(), String> {
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-_.:".contains(*c)))
    {
        return Err(format!("request id contains {c:?}"));
    }
    if id.len() > MAX_REQUEST_ID {
        return Err(format!(
            "request id is longer than {MAX_REQUEST_ID} characters"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> NetState {
        NetState {
            ready: true,
            uptime: 1000.5,
            request: Some(RequestAnswer {
                id: "tui-1".into(),
                net: "dhcp,if=eth1".into(),
                result: RequestResult::Refused,
                error: Some("there is no \"eth1\"".into()),
            }),
            interfaces: vec![
                Iface {
                    name: "eth0".into(),
                    mac: "52:54:00:12:34:56".into(),
                    link: true,
                    method: Method::Dhcp.as_str().into(),
                    state: IfState::Bound.as_str().into(),
                    address: Some("10.0.2.15".into()),
                    prefix: Some(24),
                    gateway: Some("10.0.2.2".into()),
                    dns: vec!["10.0.2.3".into(), "1.1.1.1".into()],
                    search: vec!["lab.example".into(), "x\"y".into()],
                    server: Some("10.0.2.2".into()),
                    lease_secs: Some(86_400),
                    lease_obtained: Some(10.0),
                    lease_expires: Some(86_410.0),
                    renewals: 2,
                    error: None,
                },
                Iface {
                    name: "eth1".into(),
                    state: IfState::NoLink.as_str().into(),
                    error: Some("cable?".into()),
                    ..Iface::default()
                },
            ],
        }
    }

    #[test]
    fn net_json_round_trips_every_field_and_keeps_one_interface_per_object() {
        let st = full();
        let text = st.to_json();
        assert_eq!(serde_json::from_str::<NetState>(&text).unwrap(), st);
        // Shell-level readers (the QEMU tests) match whole objects as substrings.
        assert!(text.contains("\"ready\": true,\n"), "{text}");
        assert!(
            text.contains(r#""request": {"id": "tui-1", "net": "dhcp,if=eth1", "result": "refused", "error": "there is no \"eth1\""}"#),
            "{text}"
        );
        assert!(
            text.contains(r#"{"name": "eth0", "mac": "52:54:00:12:34:56", "link": true, "method": "dhcp", "state": "bound", "address": "10.0.2.15", "prefix": 24, "gateway": "10.0.2.2", "dns": ["10.0.2.3", "1.1.1.1"]"#),
            "{text}"
        );
        assert_eq!(st.ready_marker().as_deref(), Some("eth0 10.0.2.15/24\n"));
        let none = NetState::default();
        assert_eq!(none.ready_marker(), None);
        assert!(!none.to_json().contains("request"));
    }

    #[test]
    fn a_sparse_net_json_reads_with_defaults() {
        let st: NetState = serde_json::from_str(
            r#"{"ready": true, "request": {"id": "x", "result": "applied"},
                "interfaces": [{"name": "eth0", "address": "10.0.2.50", "prefix": 24}]}"#,
        )
        .unwrap();
        assert_eq!(st.request.unwrap().result, RequestResult::Applied);
        assert_eq!(st.interfaces[0].cidr().as_deref(), Some("10.0.2.50/24"));
        assert_eq!(st.interfaces[0].lease_left(5.0), None);
    }

    #[test]
    fn state_names_are_distinct_kebab_case_words() {
        let names: Vec<&str> = IfState::ALL.iter().map(|s| s.as_str()).collect();
        for (i, n) in names.iter().enumerate() {
            assert!(
                n.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{n}"
            );
            assert!(!names[..i].contains(n), "{n} twice");
        }
    }

    #[test]
    fn a_request_is_written_in_the_grammar_it_is_read_in() {
        let m =
            NetMode::parse("static:192.168.1.50/24,gw=192.168.1.1,dns=9.9.9.9,if=eth0").unwrap();
        let r = NetRequest::new("tui-7", &m).unwrap();
        assert_eq!(
            r.to_text(),
            "id=tui-7\nnet=static:192.168.1.50/24,gw=192.168.1.1,dns=9.9.9.9,if=eth0\n"
        );
        assert_eq!(NetRequest::parse(&r.to_text()), Ok(r));
        assert!(NetRequest::new("a b", &m).is_err());
    }

    #[test]
    fn bad_requests_are_refused_with_their_id_and_a_reason() {
        let e = NetRequest::parse("id=7\nnet=static:10.0.0.5\n").unwrap_err();
        assert_eq!(e.id, "7");
        assert!(e.error.contains("/PREFIX"), "{e:?}");
        let e = NetRequest::parse("id=8\n").unwrap_err();
        assert_eq!((e.id.as_str(), e.error.contains("no net=")), ("8", true));
        let e = NetRequest::parse("id=9\nnet=dhcp\nrm -rf /\n").unwrap_err();
        assert!(e.error.contains("rm -rf"), "{e:?}");
        let e = NetRequest::parse("id=a b\nnet=dhcp\n").unwrap_err();
        assert!(e.id.is_empty() && e.error.contains("' '"), "{e:?}");
        let e = NetRequest::parse(&"x".repeat(5000)).unwrap_err();
        assert!(e.error.contains("too long"), "{e:?}");
        let ok = NetRequest::parse("# from the shell\n\nnet=dhcp,if=eth0\n").unwrap();
        assert_eq!(ok.id, "");
        assert_eq!(
            ok.mode,
            NetMode::Dhcp {
                iface: Some("eth0".into())
            }
        );
    }
}

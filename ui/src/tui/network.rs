//! The network screen: every NIC as wraith-init runs it (from net.json, re-read on every
//! tick), and a switch between DHCP and a static address. The UI only asks: it writes a
//! request file for init (see `crate::net`) and shows the answer and the result as they
//! appear in net.json.

use super::app::{App, Screen};
use super::confirm::TextInput;
use super::{strings as s, theme};
use crate::net::{self, Iface, NetState};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;
use std::net::Ipv4Addr;
use wraith_live::{NetMode, StaticConfig};

/// A request sent to init and not yet in place.
#[derive(Clone, Debug)]
pub struct Pending {
    pub id: String,
    pub mode: NetMode,
    pub answered: bool,
    pub sent: std::time::Instant,
}

/// Init looks for requests every 0.3 s: no answer after this means it is not listening
/// (an older init, or none), which the technician should be told rather than left waiting.
const ANSWER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Tone {
    Info,
    Good,
    Bad,
}

#[derive(Clone, Debug, Default)]
pub struct NetScreen {
    /// None: no net.json here (not the live system).
    pub state: Option<NetState>,
    /// Uptime seconds at the last refresh: the clock of the lease times.
    pub now: f64,
    pub sel: usize,
    pub form: Option<StaticForm>,
    pub pending: Option<Pending>,
    pub message: Option<(Tone, String)>,
}

/// The static-address form for one interface.
#[derive(Clone, Debug)]
pub struct StaticForm {
    pub iface: String,
    /// Address/prefix, gateway, DNS servers.
    pub fields: [TextInput; 3],
    pub focus: usize,
    /// The field at fault and what is wrong with it.
    pub error: Option<(usize, String)>,
}

/// What a key on the network screen asks the app to do.
#[derive(Debug, PartialEq)]
pub enum NetAction {
    None,
    Back,
    Request(NetMode),
}

impl NetScreen {
    pub fn selected(&self) -> Option<&Iface> {
        self.state.as_ref()?.interfaces.get(self.sel)
    }

    /// A fresh net.json: the list, then how far the pending request got.
    pub fn refresh(&mut self, state: Option<NetState>, now: f64) {
        self.now = now;
        self.state = state;
        let n = self.state.as_ref().map_or(0, |s| s.interfaces.len());
        self.sel = self.sel.min(n.saturating_sub(1));
        let (Some(p), Some(st)) = (&mut self.pending, &self.state) else {
            return;
        };
        match net::answer(st, &p.id) {
            Some(Err(e)) => {
                self.message = Some((Tone::Bad, format!("{}: {e}", s::NET_REFUSED)));
                self.pending = None;
            }
            Some(Ok(())) if net::reached(st, &p.mode) => {
                self.message = Some((Tone::Good, format!("{} {}", s::NET_IN_PLACE, p.mode)));
                self.pending = None;
            }
            Some(Ok(())) if !p.answered => {
                p.answered = true;
                self.message = Some((Tone::Info, format!("{} {}", s::NET_APPLIED, p.mode)));
            }
            None if p.sent.elapsed() > ANSWER_WAIT => {
                self.message = Some((Tone::Bad, s::NET_NO_ANSWER.into()));
                self.pending = None;
            }
            _ => {}
        }
    }

    pub fn key(&mut self, k: &KeyEvent) -> NetAction {
        if let Some(form) = &mut self.form {
            return match k.code {
                KeyCode::Esc => {
                    self.form = None;
                    NetAction::None
                }
                KeyCode::Tab | KeyCode::Down => {
                    form.focus = (form.focus + 1) % form.fields.len();
                    NetAction::None
                }
                KeyCode::BackTab | KeyCode::Up => {
                    form.focus = (form.focus + form.fields.len() - 1) % form.fields.len();
                    NetAction::None
                }
                KeyCode::Enter => match form.validate() {
                    Ok(mode) => {
                        self.form = None;
                        NetAction::Request(mode)
                    }
                    Err((field, e)) => {
                        form.focus = field;
                        form.error = Some((field, e));
                        NetAction::None
                    }
                },
                _ => {
                    if form.fields[form.focus].key(k) {
                        form.error = None;
                    }
                    NetAction::None
                }
            };
        }
        let n = self.state.as_ref().map_or(0, |s| s.interfaces.len());
        match k.code {
            KeyCode::Esc | KeyCode::Char('q') => NetAction::Back,
            KeyCode::Up | KeyCode::Char('k') => {
                self.sel = self.sel.saturating_sub(1);
                NetAction::None
            }
            KeyCode::Down | KeyCode::Char('j') => {
                if self.sel + 1 < n {
                    self.sel += 1;
                }
                NetAction::None
            }
            KeyCode::Char('d') => match self.selected() {
                Some(i) => NetAction::Request(NetMode::Dhcp {
                    iface: Some(i.name.clone()),
                }),
                None => NetAction::None,
            },
            KeyCode::Char('s') => {
                if let Some(i) = self.selected() {
                    self.form = Some(StaticForm::new(i));
                }
                NetAction::None
            }
            _ => NetAction::None,
        }
    }
}

impl App {
    /// Sends `mode` to init from the network screen.
    pub(super) fn net_request(&mut self, mode: NetMode) {
        let Screen::Network(n) = &mut self.screen else {
            return;
        };
        let Some(dir) = &self.net_dir else {
            return;
        };
        if net::read_state(dir).is_none() {
            n.message = Some((Tone::Bad, s::NET_NO_INIT.into()));
            return;
        }
        let id = net::new_request_id("tui");
        match net::write_request(dir, &id, &mode) {
            Ok(()) => {
                n.message = Some((Tone::Info, format!("{} {mode}", s::NET_SENT)));
                n.pending = Some(Pending {
                    id,
                    mode,
                    answered: false,
                    sent: std::time::Instant::now(),
                });
            }
            Err(e) => {
                n.message = Some((
                    Tone::Bad,
                    format!("{}: {e}", dir.join(net::REQUEST_FILE).display()),
                ))
            }
        }
    }
}

impl StaticForm {
    /// Filled with what the interface has now, so a DHCP lease becomes a static address with
    /// a few keys.
    pub fn new(i: &Iface) -> StaticForm {
        StaticForm {
            iface: i.name.clone(),
            fields: [
                TextInput::new(&i.cidr().unwrap_or_default()),
                TextInput::new(i.gateway.as_deref().unwrap_or("")),
                TextInput::new(&i.dns.join(", ")),
            ],
            focus: 0,
            error: None,
        }
    }

    /// The configuration the fields describe, or the first field at fault with a message
    /// that says what is expected.
    pub fn validate(&self) -> Result<NetMode, (usize, String)> {
        let ip = |field: usize, label: &str, v: &str| -> Result<Ipv4Addr, (usize, String)> {
            v.parse().map_err(|_| {
                (
                    field,
                    format!("{label}: `{v}` is not an IPv4 address (four numbers 0-255, e.g. 192.168.1.1)"),
                )
            })
        };
        let a = self.fields[0].value.trim();
        if a.is_empty() {
            return Err((0, s::NET_NEED_ADDRESS.into()));
        }
        let Some((addr, prefix)) = a.split_once('/') else {
            return Err((
                0,
                format!("{}: `{a}` {}", s::NET_ADDRESS, s::NET_NEED_PREFIX),
            ));
        };
        let address = ip(0, s::NET_ADDRESS, addr.trim())?;
        let prefix: u8 = prefix
            .trim()
            .parse()
            .ok()
            .filter(|p| (1..=32).contains(p))
            .ok_or_else(|| {
                (
                    0,
                    format!(
                        "{}: prefix /{} {}",
                        s::NET_ADDRESS,
                        prefix.trim(),
                        s::NET_PREFIX_RANGE
                    ),
                )
            })?;
        let g = self.fields[1].value.trim();
        let gateway = if g.is_empty() {
            None
        } else {
            Some(ip(1, s::NET_GATEWAY, g)?)
        };
        let dns = self.fields[2]
            .value
            .split([',', ' '])
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| ip(2, s::NET_DNS, d))
            .collect::<Result<Vec<_>, _>>()?;
        let cfg = StaticConfig {
            address,
            prefix,
            gateway,
            dns,
            search: Vec::new(),
            iface: Some(self.iface.clone()),
        };
        // The checks init's parser makes too (network or broadcast address, gateway outside
        // the subnet), shown at the field they are about.
        cfg.check()
            .map_err(|e| (usize::from(e.contains("gateway")), e))?;
        Ok(NetMode::Static(cfg))
    }
}

fn link_text(i: &Iface) -> &'static str {
    match (i.link, i.method.as_str()) {
        (_, "off") => "-",
        (true, _) => "up",
        (false, _) => "down",
    }
}

/// The second line of an interface: what came with the address, or why there is none.
fn detail_line(i: &Iface, now: f64) -> String {
    if let Some(e) = &i.error {
        return format!("    {}: {e}", s::NET_ERROR);
    }
    if i.address.is_none() {
        return format!(
            "    {}",
            match (i.method.as_str(), i.state.as_str(), i.link) {
                ("off", ..) => s::NET_IS_OFF,
                (_, "no-link", _) | (_, _, false) => s::NET_NO_LINK,
                ("dhcp", ..) => s::NET_ASKING_DHCP,
                _ => s::NET_NO_ADDRESS,
            }
        );
    }
    let mut parts = vec![format!(
        "{} {}",
        s::NET_GATEWAY_SHORT,
        i.gateway.as_deref().unwrap_or("none")
    )];
    parts.push(format!(
        "DNS {}",
        if i.dns.is_empty() {
            "none".into()
        } else {
            i.dns.join(",")
        }
    ));
    match (i.method.as_str(), i.lease_left(now), i.lease_secs) {
        ("dhcp", Some(left), Some(len)) => parts.push(format!(
            "lease {} left of {}{}",
            net::duration_short(left),
            net::duration_short(len),
            if i.renewals > 0 {
                format!(", renewed {}x", i.renewals)
            } else {
                String::new()
            }
        )),
        ("dhcp", None, _) => parts.push("lease infinite".into()),
        _ => {}
    }
    format!("    {}", parts.join("  "))
}

pub fn render(f: &mut Frame, area: Rect, n: &NetScreen) {
    let mut lines: Vec<Line> = Vec::new();
    match &n.state {
        None => {
            lines.push(Line::styled(s::NET_NO_INIT, theme::warn()));
        }
        Some(st) => {
            lines.push(Line::styled(s::NET_COLUMNS, theme::title_style()));
            if st.interfaces.is_empty() {
                lines.push(Line::styled(s::NET_NONE, theme::warn()));
            }
            for (k, i) in st.interfaces.iter().enumerate() {
                let style = if k == n.sel {
                    theme::selected()
                } else {
                    theme::normal()
                };
                lines.push(Line::styled(
                    format!(
                        "{:<10} {:<17} {:<4} {:<6} {:<11} {}",
                        super::home::trunc(&i.name, 10),
                        i.mac,
                        link_text(i),
                        i.method,
                        i.state,
                        i.cidr().unwrap_or_else(|| "-".into())
                    ),
                    style,
                ));
                let tone = if i.error.is_some() {
                    theme::danger()
                } else if i.address.is_none() {
                    theme::warn()
                } else {
                    theme::title_style()
                };
                lines.push(Line::styled(detail_line(i, n.now), tone));
            }
        }
    }
    if let Some((tone, m)) = &n.message {
        lines.push(Line::raw(""));
        let style = match tone {
            Tone::Info => theme::normal(),
            Tone::Good => theme::title_style(),
            Tone::Bad => theme::danger(),
        };
        lines.push(Line::styled(m.clone(), style));
    }
    if let Some(form) = &n.form {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            format!("{} {}", s::NET_FORM_TITLE, form.iface),
            theme::warn(),
        ));
        let labels = [
            s::NET_ADDRESS_PROMPT,
            s::NET_GATEWAY_PROMPT,
            s::NET_DNS_PROMPT,
        ];
        for (k, (label, field)) in labels.iter().zip(&form.fields).enumerate() {
            let style: Style = if k == form.focus {
                theme::selected()
            } else {
                theme::normal()
            };
            let cursor = if k == form.focus { "_" } else { " " };
            lines.push(Line::from(vec![
                Span::styled(format!("{label:<16}"), theme::normal()),
                Span::styled(format!("[{}{cursor}]", field.value), style),
            ]));
        }
        match &form.error {
            Some((_, e)) => lines.push(Line::styled(e.clone(), theme::danger())),
            None => lines.push(Line::styled(s::NET_FORM_HINT, theme::normal())),
        }
    }
    f.render_widget(
        Paragraph::new(lines)
            .block(theme::block(s::NETWORK))
            .wrap(Wrap { trim: false }),
        area,
    );
}

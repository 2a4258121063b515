//! The machine at a glance: disks with their partitions, then CPU, memory and network; the
//! keys that open the menu, start an action directly (`r` restore, `s` save, `c` clone: a
//! technician's first key), open the network screen, or leave.

use super::input::is_ctrl;
use super::machine::Machine;
use super::menu::Action;
use super::{strings as s, theme};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use wraith_engine::disks::DiskInfo;
use wraith_engine::human_bytes as hb;

/// What a key on the home screen asks for.
#[derive(Debug, PartialEq)]
pub enum HomeKey {
    None,
    Menu,
    /// An action straight from the home screen, without the menu.
    Start(Action),
    Network,
    /// The keyboard layout picker.
    Keyboard,
    Quit,
}

pub fn key(k: &KeyEvent) -> HomeKey {
    match k.code {
        KeyCode::Enter | KeyCode::Char('m') => HomeKey::Menu,
        KeyCode::Char('r') => HomeKey::Start(Action::Restore),
        KeyCode::Char('k') => HomeKey::Keyboard,
        KeyCode::Char('s') => HomeKey::Start(Action::Save),
        KeyCode::Char('c') if !k.modifiers.contains(KeyModifiers::CONTROL) => {
            HomeKey::Start(Action::Clone)
        }
        KeyCode::Char('v') => HomeKey::Start(Action::Verify),
        KeyCode::Char('b') => HomeKey::Start(Action::Browse),
        KeyCode::Char('n') => HomeKey::Network,
        KeyCode::Char('q') => HomeKey::Quit,
        _ if is_ctrl(k, 'c') => HomeKey::Quit,
        _ => HomeKey::None,
    }
}

/// "SSD"/"HDD" plus removable/read-only: what someone choosing a target needs to see.
pub fn kind(d: &DiskInfo) -> String {
    let mut k = vec![if d.rotational { "HDD" } else { "SSD" }];
    if d.removable {
        k.push("removable");
    }
    if d.read_only {
        k.push("ro");
    }
    k.join(",")
}

/// One line per disk, the same on the home and the pick screens.
pub fn disk_line(d: &DiskInfo) -> String {
    format!(
        "{:<13} {:>9} {:<6} {:<8} {} {}",
        d.path,
        hb(d.size),
        trunc(&d.transport, 6),
        kind(d),
        d.model.as_deref().unwrap_or(s::UNKNOWN_MODEL),
        d.serial.as_deref().unwrap_or("")
    )
}

/// The drive's own word on its health under its line (home and target lists), coloured by
/// state; None where health means nothing (an image file) or could not be read (a virtual
/// disk, a USB bridge: `wraith disks` says why), and with `only_bad` where it is fine.
pub fn health_line(d: &DiskInfo, only_bad: bool) -> Option<Line<'static>> {
    use wraith_engine::health::State;
    let h = d.health.as_ref()?;
    let style = match h.state {
        State::Failing => theme::danger(),
        State::Warning => theme::warn(),
        State::Good if only_bad => return None,
        State::Good => theme::ok(),
        State::Unknown => return None,
    };
    Some(Line::styled(
        trunc(&format!("  {} {}", s::PLAN_HEALTH, h.describe()), 78),
        style,
    ))
}

/// A disk's partitions in one line: "vfat ESP, ext4 root, ntfs DATA".
pub fn parts_summary(d: &DiskInfo) -> String {
    let parts: Vec<String> = d
        .partitions
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                p.fs.as_deref().unwrap_or("-"),
                p.label.as_deref().unwrap_or("")
            )
            .trim()
            .to_string()
        })
        .collect();
    parts.join(", ")
}

pub fn trunc(v: &str, n: usize) -> String {
    v.chars().take(n).collect()
}

/// The disk panel's lines, as detailed as `height` rows allow: every partition on its own line
/// and each drive's health; then each disk's partitions on one line; then health only where
/// it is not good. A machine with many disks still shows every disk.
fn disk_lines(m: &Machine, height: usize) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for detail in [Detail::Full, Detail::PartsInOneLine, Detail::BadHealthOnly] {
        lines = disk_lines_at(m, detail);
        if lines.len() <= height {
            break;
        }
    }
    lines
}

#[derive(Clone, Copy, PartialEq)]
enum Detail {
    Full,
    PartsInOneLine,
    BadHealthOnly,
}

fn disk_lines_at(m: &Machine, detail: Detail) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    if m.disks.is_empty() {
        out.push(Line::styled(s::NO_DISKS, theme::warn()));
    }
    for d in &m.disks {
        out.push(Line::from(Span::styled(disk_line(d), theme::normal())));
        out.extend(health_line(d, detail == Detail::BadHealthOnly));
        // On its own line: appended, it would fall off an 80-column console.
        if m.is_boot(d) {
            out.push(Line::styled(
                format!("  [{}]", s::BOOT_MEDIUM),
                theme::warn(),
            ));
        }
        if d.partitions.is_empty() && d.fs.is_some() {
            out.push(Line::styled(
                format!(
                    "  (whole disk)  {:<7} {}",
                    d.fs.as_deref().unwrap_or("-"),
                    d.label.as_deref().unwrap_or("")
                ),
                theme::title_style(),
            ));
        }
        if detail != Detail::Full && !d.partitions.is_empty() {
            out.push(Line::styled(
                trunc(&format!("  {}", parts_summary(d)), 78),
                theme::title_style(),
            ));
            continue;
        }
        for p in &d.partitions {
            out.push(Line::styled(
                format!(
                    "  {:<13} {:>9} {:<7} {}",
                    p.path,
                    hb(p.size),
                    p.fs.as_deref().unwrap_or("-"),
                    p.label.as_deref().unwrap_or("")
                ),
                theme::title_style(),
            ));
        }
    }
    out
}

fn system_lines(m: &Machine) -> Vec<Line<'static>> {
    let mut out = vec![Line::styled(
        format!(
            "CPU {} x {}   memory {}",
            m.cpus,
            if m.cpu.is_empty() { "?" } else { &m.cpu },
            hb(m.mem_bytes)
        ),
        theme::normal(),
    )];
    if let Some(k) = &m.keymap {
        out.push(Line::styled(
            format!("{} {k}   ({})", s::KEYBOARD_NOW, s::KEYBOARD_HOW),
            theme::normal(),
        ));
    }
    for n in &m.nets {
        let ip = if n.ipv4.is_empty() {
            "no IPv4".to_string()
        } else {
            n.ipv4.join(" ")
        };
        out.push(Line::styled(
            format!("{:<10} {:<8} {}  {}", n.name, n.state, n.mac, ip),
            theme::normal(),
        ));
    }
    out
}

pub fn render(f: &mut Frame, area: Rect, m: &Machine) {
    let sys = system_lines(m);
    let sys_h = (sys.len() as u16 + 2).min(area.height / 2);
    let [disks, system] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(sys_h)]).areas(area);
    f.render_widget(
        Paragraph::new(disk_lines(m, usize::from(disks.height.saturating_sub(2))))
            .block(theme::block(s::DISKS)),
        disks,
    );
    f.render_widget(Paragraph::new(sys).block(theme::block(s::SYSTEM)), system);
}

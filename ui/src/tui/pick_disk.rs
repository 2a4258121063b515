//! Choosing a disk: unusable ones stay visible, greyed, with the reason they cannot be chosen.
//! The source and target lists of each flow, and what picking a target leads to (the engine's
//! checks, then the plan to confirm). Greying a disk here is a hint from what the list knows
//! (the source's path, the boot medium, the repository's drive, sizes); the engine's checks
//! decide. A restore's target list starts on the disk the image came from (`preselect.rs`).

use super::app::{App, Screen};
use super::home::disk_line;
use super::menu::Action;
use super::{strings as s, theme};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use wraith_engine::disks::DiskInfo;
use wraith_engine::human_bytes as hb;
use wraith_engine::ops::reshape::smallest_target;
use wraith_engine::table::TableKind;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Role {
    Source,
    Target,
}

#[derive(Clone, Debug)]
pub struct Item {
    pub disk: DiskInfo,
    /// Why it cannot be picked, if it cannot.
    pub disabled: Option<String>,
}

/// What a key on a disk list asks for.
#[derive(Debug)]
pub enum PickKey {
    None,
    Back,
    Source(DiskInfo),
    Target(DiskInfo),
}

#[derive(Clone, Debug)]
pub struct PickDisk {
    pub role: Role,
    pub title: &'static str,
    pub items: Vec<Item>,
    pub sel: usize,
    /// Why the list started where it did, when it chose for the technician.
    pub why: Option<String>,
}

impl PickDisk {
    pub fn new(role: Role, title: &'static str, items: Vec<Item>) -> Self {
        // Start on something choosable, so Enter never lands on a refused disk by default.
        let sel = items.iter().position(|i| i.disabled.is_none()).unwrap_or(0);
        PickDisk {
            role,
            title,
            items,
            sel,
            why: None,
        }
    }

    /// Starts on item `sel`, saying why.
    pub fn preselect(mut self, pick: Option<(usize, String)>) -> Self {
        if let Some((sel, why)) = pick {
            self.sel = sel;
            self.why = Some(why);
        }
        self
    }
    pub fn up(&mut self) {
        self.sel = self.sel.saturating_sub(1);
    }
    pub fn down(&mut self) {
        if self.sel + 1 < self.items.len() {
            self.sel += 1;
        }
    }
    /// The selected disk when it may be chosen.
    pub fn chosen(&self) -> Option<&DiskInfo> {
        self.items
            .get(self.sel)
            .filter(|i| i.disabled.is_none())
            .map(|i| &i.disk)
    }

    pub fn key(&mut self, k: &KeyEvent) -> PickKey {
        match k.code {
            KeyCode::Up | KeyCode::Char('k') => {
                self.up();
                self.why = None;
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.down();
                self.why = None;
            }
            KeyCode::Esc => return PickKey::Back,
            KeyCode::Enter => {
                if let Some(d) = self.chosen().cloned() {
                    return match self.role {
                        Role::Source => PickKey::Source(d),
                        Role::Target => PickKey::Target(d),
                    };
                }
            }
            _ => {}
        }
        PickKey::None
    }
}

impl App {
    fn source_items(&self) -> Vec<Item> {
        self.machine
            .disks
            .iter()
            .map(|d| Item {
                disk: d.clone(),
                disabled: None,
            })
            .collect()
    }

    /// The target list for the current flow.
    fn target_items(&self) -> Vec<Item> {
        match self.flow.action {
            Some(Action::Restore) => {
                let needed = self
                    .flow
                    .image
                    .as_ref()
                    .map(|i| {
                        let m = &i.manifest;
                        let regions: Vec<_> = m.regions.iter().map(|r| r.region.clone()).collect();
                        match m.table.kind {
                            TableKind::None => wraith_engine::ops::restore_needs(m),
                            _ => smallest_target(&m.table, &regions),
                        }
                    })
                    .unwrap_or(0);
                let mut items = self.targets(needed, None);
                // The engine refuses it; greyed here, it is not "the only disk that fits".
                for it in &mut items {
                    if it.disabled.is_none() && Some(&it.disk.path) == self.flow.repo_disk.as_ref()
                    {
                        it.disabled = Some(s::REASON_REPOSITORY.to_string());
                    }
                }
                items
            }
            _ => {
                let needed = self
                    .flow
                    .source
                    .as_ref()
                    .map(|s| smallest_target(&s.plan.table, &s.plan.regions))
                    .unwrap_or(0);
                let src = self.flow.source.as_ref().map(|s| s.disk.path.as_str());
                self.targets(needed, src)
            }
        }
    }

    pub(super) fn pick_source(&mut self, title: &'static str) {
        self.flow.source = None;
        let items = self.source_items();
        self.screen = Screen::PickDisk(PickDisk::new(Role::Source, title, items));
    }

    /// Rebuilds an open disk list after hotplug, keeping the cursor on the same disk.
    pub(super) fn refresh_pick(&mut self) {
        let Screen::PickDisk(p) = &self.screen else {
            return;
        };
        let kept = p.items.get(p.sel).map(|i| i.disk.path.clone());
        let (role, title) = (p.role, p.title);
        let items = match role {
            Role::Source => self.source_items(),
            Role::Target => self.target_items(),
        };
        let why = p.why.is_some();
        let mut fresh = PickDisk::new(role, title, items);
        if role == Role::Target {
            let pick = self.target_preselection(&fresh.items);
            fresh = fresh.preselect(pick);
        }
        if let Some(i) = kept.and_then(|k| fresh.items.iter().position(|i| i.disk.path == k)) {
            // The cursor stays; the reason only while it stays on the disk it was given for.
            if !(why && fresh.sel == i) {
                fresh.why = None;
            }
            fresh.sel = i;
        }
        self.screen = Screen::PickDisk(fresh);
    }

    /// Targets with the reason each unusable one is refused.
    pub(crate) fn targets(&self, needed: u64, source: Option<&str>) -> Vec<Item> {
        self.machine
            .disks
            .iter()
            .map(|d| {
                let disabled = if Some(d.path.as_str()) == source {
                    Some(s::REASON_SOURCE.to_string())
                } else if self.machine.is_boot(d) {
                    Some(s::REASON_BOOT.to_string())
                } else if d.read_only {
                    Some(s::REASON_READ_ONLY.to_string())
                } else if d.size < needed {
                    Some(format!("{} {}", s::REASON_TOO_SMALL, hb(needed)))
                } else {
                    None
                };
                Item {
                    disk: d.clone(),
                    disabled,
                }
            })
            .collect()
    }

    pub(super) fn pick_target(&mut self) {
        let items = self.target_items();
        let pick = self.target_preselection(&items);
        self.screen =
            Screen::PickDisk(PickDisk::new(Role::Target, s::PICK_TARGET, items).preselect(pick));
    }

    /// A restore's target: the disk its image came from.
    fn target_preselection(&self, items: &[Item]) -> Option<(usize, String)> {
        match (self.flow.action, &self.flow.image) {
            (Some(Action::Restore), Some(img)) => super::preselect::target(items, &img.manifest),
            _ => None,
        }
    }

    /// A target picked: the engine checks it (on a worker) and the plan follows.
    pub(super) fn picked_target(&mut self, d: DiskInfo) {
        self.prepare_onto(d);
    }
}

pub fn render(f: &mut Frame, area: Rect, p: &PickDisk) {
    let mut lines = Vec::new();
    if let Some(why) = &p.why {
        lines.push(Line::styled(why.clone(), theme::ok()));
    }
    for (n, it) in p.items.iter().enumerate() {
        let base = if it.disabled.is_some() {
            theme::disabled()
        } else {
            theme::normal()
        };
        let style = if n == p.sel {
            base.patch(theme::selected())
        } else {
            base
        };
        lines.push(Line::from(Span::styled(disk_line(&it.disk), style)));
        lines.extend(super::home::health_line(&it.disk, true));
        if let Some(why) = &it.disabled {
            lines.push(Line::styled(
                format!("    not available: {why}"),
                theme::warn(),
            ));
        } else {
            if !it.disk.partitions.is_empty() {
                lines.push(Line::styled(
                    format!("    {}", super::home::parts_summary(&it.disk)),
                    theme::title_style(),
                ));
            }
        }
    }
    f.render_widget(Paragraph::new(lines).block(theme::block(p.title)), area);
}

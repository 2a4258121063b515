//! Choosing a disk: unusable ones stay visible, greyed, with the reason they cannot be chosen.

use super::home::disk_line;
use super::theme;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use wraith_engine::disks::DiskInfo;

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

#[derive(Clone, Debug)]
pub struct PickDisk {
    pub role: Role,
    pub title: &'static str,
    pub items: Vec<Item>,
    pub sel: usize,
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
        }
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
}

pub fn render(f: &mut Frame, area: Rect, p: &PickDisk) {
    let mut lines = Vec::new();
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
        if let Some(why) = &it.disabled {
            lines.push(Line::styled(
                format!("    not available: {why}"),
                theme::warn(),
            ));
        } else {
            let parts: Vec<String> = it
                .disk
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
            if !parts.is_empty() {
                lines.push(Line::styled(
                    format!("    {}", parts.join(", ")),
                    theme::title_style(),
                ));
            }
        }
    }
    f.render_widget(Paragraph::new(lines).block(theme::block(p.title)), area);
}

//! The actions menu: a popup over the home screen.

use super::popup::centered;
use super::{strings as s, theme};
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Action {
    Clone,
    Save,
    Restore,
    Verify,
    Browse,
    Shell,
    Reboot,
    PowerOff,
}

/// In the order of `strings::MENU_ITEMS`.
pub const ACTIONS: [Action; 8] = [
    Action::Clone,
    Action::Save,
    Action::Restore,
    Action::Verify,
    Action::Browse,
    Action::Shell,
    Action::Reboot,
    Action::PowerOff,
];

pub fn render(f: &mut Frame, area: Rect, sel: usize) {
    let r = centered(area, 34, ACTIONS.len() as u16 + 2);
    let lines: Vec<Line> = s::MENU_ITEMS
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let style = if i == sel {
                theme::selected()
            } else {
                theme::normal()
            };
            Line::styled(format!(" {:<30}", t), style)
        })
        .collect();
    f.render_widget(Clear, r);
    f.render_widget(Paragraph::new(lines).block(theme::block(s::ACTIONS)), r);
}

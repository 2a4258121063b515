//! The actions menu: a popup over the home screen, and where each action begins.

use super::app::{App, Exit, Flow};
use super::popup::centered;
use super::{strings as s, theme};
use crossterm::event::{KeyCode, KeyEvent};
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

/// What a key on the menu asks for.
#[derive(Debug, PartialEq)]
pub enum MenuKey {
    None,
    Close,
    Chose(Action),
}

/// Moves the selection `sel`, or closes the menu, or chooses.
pub fn key(sel: &mut usize, k: &KeyEvent) -> MenuKey {
    match k.code {
        KeyCode::Up | KeyCode::Char('k') => *sel = sel.saturating_sub(1),
        KeyCode::Down | KeyCode::Char('j') => *sel = (*sel + 1).min(ACTIONS.len() - 1),
        KeyCode::Esc => return MenuKey::Close,
        KeyCode::Enter => return MenuKey::Chose(ACTIONS[*sel]),
        _ => {}
    }
    MenuKey::None
}

impl App {
    /// A fresh flow for `a`, at its first screen.
    pub(super) fn choose(&mut self, a: Action) {
        self.flow = Flow {
            action: Some(a),
            ..Flow::default()
        };
        // A new flow looks at the drives afresh; the last look serves only coming back.
        self.found_cache = None;
        match a {
            Action::Clone => self.pick_source(s::PICK_SOURCE),
            Action::Save => self.pick_source(s::PICK_SAVE_SOURCE),
            Action::Restore | Action::Verify | Action::Browse => self.choose_repo(),
            Action::Shell => self.exit = Some(Exit::Shell),
            Action::Reboot => self.exit = Some(Exit::Reboot),
            Action::PowerOff => self.exit = Some(Exit::PowerOff),
        }
    }
}

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

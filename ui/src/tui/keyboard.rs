//! The keyboard layout picker: a popup over the home screen (`k`), listing the keymaps the
//! live system ships (crate::keymap); Enter loads the chosen one for the VGA console.

use super::app::{App, Popup};
use super::popup::centered;
use super::{strings as s, theme};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

pub struct KeymapPick {
    pub names: Vec<String>,
    pub sel: usize,
}

#[derive(Debug, PartialEq)]
pub enum PickKey {
    None,
    Close,
    Chose(String),
}

impl KeymapPick {
    pub fn key(&mut self, k: &KeyEvent) -> PickKey {
        match k.code {
            KeyCode::Up => self.sel = self.sel.saturating_sub(1),
            KeyCode::Down => self.sel = (self.sel + 1).min(self.names.len().saturating_sub(1)),
            KeyCode::Esc => return PickKey::Close,
            KeyCode::Enter => {
                if let Some(n) = self.names.get(self.sel) {
                    return PickKey::Chose(n.clone());
                }
            }
            _ => {}
        }
        PickKey::None
    }
}

/// The list in a popup, scrolled so the selection shows.
pub fn render(f: &mut Frame, area: Rect, p: &KeymapPick) {
    let rows = (p.names.len() as u16)
        .min(area.height.saturating_sub(4))
        .max(1);
    let r = centered(area, 30, rows + 2);
    let first = p.sel.saturating_sub(usize::from(rows) - 1);
    let lines: Vec<Line> = p
        .names
        .iter()
        .enumerate()
        .skip(first)
        .take(usize::from(rows))
        .map(|(i, n)| {
            let style = if i == p.sel {
                theme::selected()
            } else {
                theme::normal()
            };
            Line::styled(format!(" {n:<27}"), style)
        })
        .collect();
    f.render_widget(Clear, r);
    f.render_widget(Paragraph::new(lines).block(theme::block(s::KEYBOARD)), r);
}

impl App {
    /// `k` on the home screen: the shipped keymaps, the one in use selected.
    pub(super) fn pick_keymap(&mut self) {
        let names = crate::keymap::available(std::path::Path::new(crate::keymap::DIR));
        if names.is_empty() {
            return self.failed(
                s::ERR_KEYBOARD,
                wraith_engine::Error::Unsupported(
                    "no keymaps here: the layout is chosen on the live system".into(),
                ),
                None,
            );
        }
        let sel = self
            .machine
            .keymap
            .as_ref()
            .and_then(|k| names.iter().position(|n| n == k))
            .unwrap_or(0);
        self.popup = Some(Popup::Keymap(KeymapPick { names, sel }));
    }

    pub(super) fn keymap_key(&mut self, k: &KeyEvent) {
        let Some(Popup::Keymap(p)) = &mut self.popup else {
            return;
        };
        match p.key(k) {
            PickKey::None => {}
            PickKey::Close => self.popup = None,
            PickKey::Chose(name) => {
                self.popup = None;
                match crate::keymap::load(&name) {
                    Ok(()) => self.machine.keymap = Some(name),
                    Err(e) => {
                        self.failed(s::ERR_KEYBOARD, wraith_engine::Error::Unsupported(e), None)
                    }
                }
            }
        }
    }
}

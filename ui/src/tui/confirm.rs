//! A one-line text field: the typed confirmation of a destructive step, and the repository path.

use super::theme;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

#[derive(Clone, Debug, Default)]
pub struct TextInput {
    pub value: String,
}

impl TextInput {
    pub fn new(value: &str) -> Self {
        TextInput {
            value: value.to_string(),
        }
    }

    /// Edits the value; true when the key was an edit (so the caller ignores it otherwise).
    pub fn key(&mut self, k: &KeyEvent) -> bool {
        match k.code {
            KeyCode::Char('u') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                self.value.clear();
                true
            }
            KeyCode::Char(c) if !k.modifiers.contains(KeyModifiers::CONTROL) => {
                self.value.push(c);
                true
            }
            KeyCode::Backspace => {
                self.value.pop();
                true
            }
            _ => false,
        }
    }
}

/// `prompt: [value_]`, showing the end of a value too long for the line.
pub fn render(f: &mut Frame, area: Rect, prompt: &str, input: &TextInput) {
    let room = (area.width as usize).saturating_sub(prompt.chars().count() + 5);
    let shown: String = {
        let n = input.value.chars().count();
        input.value.chars().skip(n.saturating_sub(room)).collect()
    };
    let line = Line::from(vec![
        Span::styled(format!("{prompt}: "), theme::warn()),
        Span::styled(format!("[{shown}_]"), theme::selected()),
    ]);
    f.render_widget(Paragraph::new(line), area);
}

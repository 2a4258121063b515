//! The end of a job: success with what was done, or the exact error.

use super::{strings as s, theme};
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

#[derive(Clone, Debug, PartialEq)]
pub enum Result {
    Ok,
    Failed,
    Cancelled,
}

#[derive(Clone, Debug)]
pub struct Summary {
    pub title: String,
    pub result: Result,
    pub lines: Vec<String>,
}

pub fn render(f: &mut Frame, area: Rect, sm: &Summary) {
    let (head, style) = match sm.result {
        Result::Ok => (s::SUMMARY_OK, theme::ok()),
        Result::Failed => (s::SUMMARY_FAILED, theme::danger()),
        Result::Cancelled => (s::SUMMARY_CANCELLED, theme::warn()),
    };
    let mut lines = vec![Line::styled(head, style), Line::raw("")];
    lines.extend(
        sm.lines
            .iter()
            .map(|l| Line::styled(l.clone(), theme::normal())),
    );
    let p = Paragraph::new(lines)
        .block(theme::block(&sm.title))
        .wrap(Wrap { trim: false });
    f.render_widget(p, area);
}

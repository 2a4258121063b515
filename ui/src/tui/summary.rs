//! The end of a job: success with what was done, or the exact error, and where the log is.

use super::{strings as s, theme};
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Ok,
    /// Done, but part of the source could not be read: the copy holds zeros there.
    Partial,
    Failed,
    Cancelled,
}

#[derive(Clone, Debug)]
pub struct Summary {
    pub title: String,
    pub result: Outcome,
    pub lines: Vec<String>,
    /// The job's log file; Err: the directory it could not be created in.
    pub log: Result<std::path::PathBuf, std::path::PathBuf>,
}

pub fn render(f: &mut Frame, area: Rect, sm: &Summary) {
    let (head, style) = match sm.result {
        Outcome::Ok => (s::SUMMARY_OK, theme::ok()),
        Outcome::Partial => (s::SUMMARY_PARTIAL, theme::warn()),
        Outcome::Failed => (s::SUMMARY_FAILED, theme::danger()),
        Outcome::Cancelled => (s::SUMMARY_CANCELLED, theme::warn()),
    };
    let mut lines = vec![Line::styled(head, style), Line::raw("")];
    lines.extend(
        sm.lines
            .iter()
            .map(|l| Line::styled(l.clone(), theme::normal())),
    );
    lines.push(Line::raw(""));
    lines.push(match &sm.log {
        Ok(p) => Line::styled(
            format!("{} {}", s::SUMMARY_LOG, p.display()),
            theme::title_style(),
        ),
        Err(dir) => Line::styled(
            format!("{} {}", s::SUMMARY_NO_LOG, dir.display()),
            theme::warn(),
        ),
    });
    let p = Paragraph::new(lines)
        .block(theme::block(&sm.title))
        .wrap(Wrap { trim: false });
    f.render_widget(p, area);
}

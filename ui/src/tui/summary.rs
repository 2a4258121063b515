//! The end of a job: success with what was done, or the exact error, and where the log is.
//! Where the log would be lost at power-off, `l` offers to copy it to another disk
//! (`save_log.rs`), and the result of that copy is told here.

use super::app::{App, Flow, Outcome as JobOutcome, Screen};
use super::plan;
use super::{strings as s, theme};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;
use wraith_engine::ops::Outcome as ReportOutcome;

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
    /// The disks the job read or wrote: never a place for its log.
    pub disks: Vec<String>,
    /// Offer `l` to copy the log to another disk.
    pub offer_save: bool,
    /// How the last copy of the log went: where it is, or why it is not.
    pub saved: Option<Result<String, String>>,
}

/// What a key on the summary asks for.
#[derive(Debug, PartialEq)]
pub enum SummaryKey {
    None,
    Home,
    SaveLog,
}

impl Summary {
    pub fn key(&self, k: &KeyEvent) -> SummaryKey {
        match k.code {
            KeyCode::Enter | KeyCode::Esc => SummaryKey::Home,
            KeyCode::Char('l') if self.offers_save() => SummaryKey::SaveLog,
            _ => SummaryKey::None,
        }
    }

    /// Only a log that exists can be copied.
    pub fn offers_save(&self) -> bool {
        self.offer_save && self.log.is_ok()
    }
}

impl App {
    /// The job ended: its result, the warnings it gave, and the time, on the summary and at
    /// the end of its log.
    pub(super) fn finished(&mut self, o: JobOutcome) {
        let Screen::Running(r) = &self.screen else {
            return;
        };
        let title = r.title.clone();
        let log = match &r.log_file {
            Some(f) => Ok(f.path.clone()),
            None => Err(self.log_dir.clone()),
        };
        let took = format!("took {}", plan::duration_text(r.elapsed.as_secs()));
        let (result, mut lines) = match o {
            // The CLI's words for the report (a partial copy's damage and mapfile included).
            JobOutcome::Finished(report) => (
                match report.outcome {
                    ReportOutcome::Done => Outcome::Ok,
                    ReportOutcome::Partial => Outcome::Partial,
                    ReportOutcome::Mismatch => Outcome::Failed,
                },
                crate::commands::print::report(&report),
            ),
            JobOutcome::Failed(e) => (Outcome::Failed, e.lines().map(String::from).collect()),
            JobOutcome::Cancelled => (Outcome::Cancelled, Vec::new()),
        };
        lines.push(took);
        let warnings: Vec<String> = r
            .log
            .iter()
            .filter(|l| l.starts_with("warning"))
            .cloned()
            .collect();
        lines.extend(warnings);
        let disks = r.disks.clone();
        if let Screen::Running(r) = &mut self.screen {
            r.note(format!("{result:?}"));
            for l in &lines {
                r.note(l.clone());
            }
        }
        self.flow = Flow::default();
        self.screen = Screen::Summary(Summary {
            title,
            result,
            lines,
            log,
            disks,
            offer_save: self.offer_log_save,
            saved: None,
        });
    }
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
    match &sm.saved {
        Some(Ok(line)) => lines.push(Line::styled(line.clone(), theme::ok())),
        Some(Err(e)) => lines.push(Line::styled(e.clone(), theme::danger())),
        None if sm.offers_save() => lines.push(Line::styled(s::SUMMARY_SAVE_LOG, theme::warn())),
        None => {}
    }
    let p = Paragraph::new(lines)
        .block(theme::block(&sm.title))
        .wrap(Wrap { trim: false });
    f.render_widget(p, area);
}

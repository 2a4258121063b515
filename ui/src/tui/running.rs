//! The RUNNING screen: progress of the engine's current step, rate, times, and a log.

use super::plan::duration_text;
use super::{strings as s, theme};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use std::time::Duration;
use wraith_engine::events::{Cancel, Event};
use wraith_engine::human_bytes as hb;

#[derive(Clone, Debug)]
pub struct RunState {
    pub title: String,
    pub step: String,
    pub done: u64,
    pub total: u64,
    /// Since the job started; set by the app from its clock (tests set it directly).
    pub elapsed: Duration,
    /// When the current step started, on the same clock: the rate is per step.
    pub step_start: Duration,
    pub log: Vec<String>,
    pub cancel: Cancel,
    pub asking_cancel: bool,
}

impl RunState {
    pub fn new(title: String, cancel: Cancel) -> Self {
        RunState {
            title,
            step: String::new(),
            done: 0,
            total: 0,
            elapsed: Duration::ZERO,
            step_start: Duration::ZERO,
            log: Vec::new(),
            cancel,
            asking_cancel: false,
        }
    }

    pub fn apply(&mut self, ev: Event) {
        match ev {
            Event::Started { step, total } => {
                self.log.push(format!("{step}: started, {}", hb(total)));
                self.step = step;
                self.total = total;
                self.done = 0;
                self.step_start = self.elapsed;
            }
            Event::Progress { done, total } => {
                self.done = done;
                self.total = total;
            }
            Event::Warning { message } => self.log.push(format!("warning: {message}")),
            Event::Finished { step } => self.log.push(format!("{step}: finished")),
        }
    }

    /// Bytes per second in the current step, once there is something to measure.
    pub fn rate(&self) -> Option<u64> {
        let t = self.elapsed.saturating_sub(self.step_start).as_secs_f64();
        (t >= 0.5 && self.done > 0).then(|| (self.done as f64 / t) as u64)
    }

    pub fn eta(&self) -> Option<u64> {
        self.rate()
            .filter(|r| *r > 0)
            .map(|r| self.total.saturating_sub(self.done).div_ceil(r))
    }
}

/// `[#####.....]`: ASCII so serial terminals and the VGA console show the same thing.
pub fn bar(done: u64, total: u64, width: usize) -> String {
    let filled = if total == 0 {
        0
    } else {
        ((done.min(total) as u128 * width as u128) / total as u128) as usize
    };
    format!("[{}{}]", "#".repeat(filled), ".".repeat(width - filled))
}

pub fn render(f: &mut Frame, area: Rect, r: &RunState) {
    let [top, log] = Layout::vertical([Constraint::Length(7), Constraint::Min(3)]).areas(area);
    let pct = (r.done.min(r.total) * 100)
        .checked_div(r.total)
        .unwrap_or(0);
    let width = (top.width as usize).saturating_sub(10).min(66);
    let lines = vec![
        Line::styled(format!("step: {}", r.step), theme::title_style()),
        Line::styled(
            format!("{} {pct:>3}%", bar(r.done, r.total, width)),
            theme::title_style(),
        ),
        Line::styled(
            format!("{} of {}", hb(r.done), hb(r.total)),
            theme::normal(),
        ),
        Line::styled(
            format!(
                "{} {}/s   {} {}   {} {}",
                s::THROUGHPUT,
                r.rate().map(hb).unwrap_or_else(|| "-".into()),
                s::ELAPSED,
                duration_text(r.elapsed.as_secs()),
                s::ETA,
                r.eta().map(duration_text).unwrap_or_else(|| "-".into())
            ),
            theme::normal(),
        ),
        Line::styled(
            if r.cancel.is_cancelled() {
                s::CANCELLING
            } else {
                ""
            },
            theme::warn(),
        ),
    ];
    f.render_widget(Paragraph::new(lines).block(theme::block(&r.title)), top);
    // Show the newest lines that fit: the log scrolls by itself.
    let room = log.height.saturating_sub(2) as usize;
    let skip = r.log.len().saturating_sub(room);
    let lines: Vec<Line> = r.log[skip..]
        .iter()
        .map(|l| {
            let style = if l.starts_with("warning") {
                theme::warn()
            } else {
                theme::normal()
            };
            Line::styled(l.clone(), style)
        })
        .collect();
    f.render_widget(Paragraph::new(lines).block(theme::block(s::LOG)), log);
}

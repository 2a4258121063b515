//! The RUNNING screen: overall progress over every step of the job (a save and then its
//! verify, say), the current step's progress, rate, times, and a scrolling log that is also
//! written to a file the summary names.

use super::app::{App, Flow, Msg, Outcome, Screen};
use super::plan::{self, duration_text};
use super::{strings as s, theme};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use wraith_engine::events::{Cancel, Event};
use wraith_engine::human_bytes as hb;
use wraith_engine::job::Action as JobAction;
use wraith_engine::ops::{self, CheckedPlan, Summary};
use wraith_engine::repo;

/// One engine step of the job, in the order the job runs them.
#[derive(Clone, Debug, PartialEq)]
pub struct Phase {
    pub step: String,
    /// Bytes: the plan's estimate until the engine's `Started` says the real number.
    pub total: u64,
    pub done: u64,
    pub finished: bool,
}

impl Phase {
    pub fn new(step: &str, total: u64) -> Self {
        Phase {
            step: step.to_string(),
            total,
            done: 0,
            finished: false,
        }
    }
}

/// The job's log file: every log line, with the time since the start.
#[derive(Debug)]
pub struct LogFile {
    pub path: PathBuf,
    file: Option<std::fs::File>,
}

impl LogFile {
    /// Creates the file; None when it cannot be (read-only /tmp): the job runs anyway.
    pub fn create(path: PathBuf) -> Option<Self> {
        let file = std::fs::File::create(&path).ok()?;
        Some(LogFile {
            path,
            file: Some(file),
        })
    }

    pub fn write(&mut self, elapsed: Duration, line: &str) {
        let secs = elapsed.as_secs();
        if let Some(f) = &mut self.file {
            if writeln!(f, "[{:02}:{:02}] {line}", secs / 60, secs % 60).is_err() {
                // Full or gone: stop trying rather than fail the job over its log.
                self.file = None;
            }
        }
    }
}

#[derive(Debug)]
pub struct RunState {
    pub title: String,
    pub phases: Vec<Phase>,
    /// Index into `phases` of the step running now.
    pub current: usize,
    /// Since the job started; set by the app from its clock (tests set it directly).
    pub elapsed: Duration,
    /// When the current step started, on the same clock: the rate is per step.
    pub step_start: Duration,
    pub log: Vec<String>,
    pub log_file: Option<LogFile>,
    /// Lines scrolled back from the newest log line (0: follow the log).
    pub log_back: usize,
    pub cancel: Cancel,
    pub asking_cancel: bool,
    /// The disks the job reads or writes (whole-disk paths): its log is never saved there.
    pub disks: Vec<String>,
}

impl RunState {
    /// `phases`: the steps the job will run, with estimated bytes, for the overall bar.
    pub fn new(title: String, phases: Vec<Phase>, cancel: Cancel) -> Self {
        RunState {
            title,
            phases,
            current: 0,
            elapsed: Duration::ZERO,
            step_start: Duration::ZERO,
            log: Vec::new(),
            log_file: None,
            log_back: 0,
            cancel,
            asking_cancel: false,
            disks: Vec::new(),
        }
    }

    /// Esc (or Ctrl-C) asks before cancelling; arrows scroll the log.
    pub fn key(&mut self, k: &KeyEvent) {
        if self.asking_cancel {
            match k.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => {
                    self.cancel.cancel();
                    self.log.push(s::CANCELLING.to_string());
                    self.asking_cancel = false;
                }
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                    self.asking_cancel = false
                }
                _ => {}
            }
        } else if k.code == KeyCode::Esc || super::input::is_ctrl(k, 'c') {
            self.asking_cancel = true;
        } else {
            match k.code {
                KeyCode::Up => self.scroll_log(true, 1),
                KeyCode::Down => self.scroll_log(false, 1),
                KeyCode::PageUp => self.scroll_log(true, 10),
                KeyCode::PageDown => self.scroll_log(false, 10),
                _ => {}
            }
        }
    }

    /// Adds a line to the screen's log and the log file.
    pub fn note(&mut self, line: String) {
        if let Some(f) = &mut self.log_file {
            f.write(self.elapsed, &line);
        }
        self.log.push(line);
        // Someone reading back keeps their place while new lines arrive.
        if self.log_back > 0 {
            self.log_back += 1;
        }
    }

    pub fn apply(&mut self, ev: Event) {
        match ev {
            Event::Started { step, total } => {
                self.note(format!("{step}: started, {}", hb(total)));
                let from = self.current;
                match self
                    .phases
                    .iter()
                    .enumerate()
                    .skip(from)
                    .find(|(_, p)| p.step == step && !p.finished)
                    .map(|(i, _)| i)
                {
                    Some(i) => self.current = i,
                    None => {
                        // A step the job did not announce: it still counts.
                        self.phases.push(Phase::new(&step, total));
                        self.current = self.phases.len() - 1;
                    }
                }
                let p = &mut self.phases[self.current];
                p.total = total;
                p.done = 0;
                self.step_start = self.elapsed;
            }
            Event::Progress { done, total } => {
                if let Some(p) = self.phases.get_mut(self.current) {
                    p.done = done;
                    p.total = total;
                }
            }
            Event::Warning { message } => self.note(format!("warning: {message}")),
            Event::Finished { step } => {
                if let Some(p) = self.phases.get_mut(self.current) {
                    p.done = p.total;
                    p.finished = true;
                }
                self.note(format!("{step}: finished"));
            }
        }
    }

    pub fn phase(&self) -> Option<&Phase> {
        self.phases.get(self.current)
    }

    /// Bytes done and to do over all steps.
    pub fn overall(&self) -> (u64, u64) {
        let total = self.phases.iter().map(|p| p.total).sum();
        let done = self.phases.iter().map(|p| p.done.min(p.total)).sum();
        (done, total)
    }

    /// Bytes per second in the current step, once there is something to measure.
    pub fn rate(&self) -> Option<u64> {
        let t = self.elapsed.saturating_sub(self.step_start).as_secs_f64();
        let done = self.phase().map_or(0, |p| p.done);
        (t >= 0.5 && done > 0).then(|| (done as f64 / t) as u64)
    }

    /// Seconds until the whole job ends, at the current step's rate.
    pub fn eta(&self) -> Option<u64> {
        let (done, total) = self.overall();
        self.rate()
            .filter(|r| *r > 0)
            .map(|r| total.saturating_sub(done).div_ceil(r))
    }

    pub fn scroll_log(&mut self, up: bool, lines: usize) {
        self.log_back = if up {
            (self.log_back + lines).min(self.log.len().saturating_sub(1))
        } else {
            self.log_back.saturating_sub(lines)
        };
    }
}

/// The engine steps a plan runs, with the bytes each is expected to process: the running
/// screen's overall bar. The engine's own totals replace these as steps start.
pub fn phases(sm: &Summary) -> Vec<Phase> {
    let step = match sm.action {
        JobAction::Clone => "clone",
        JobAction::Save => "save",
        JobAction::Restore => "restore",
        JobAction::Verify => return vec![Phase::new("verify", 0)],
    };
    let mut p = vec![Phase::new(step, sm.bytes)];
    if sm.verify {
        p.push(Phase::new("verify", sm.bytes));
    }
    p
}

/// "Cloning sda -> sdb": the running screen's title, and the first line of the job's log.
pub fn title(sm: &Summary) -> String {
    let short = |d: &Option<wraith_engine::device::DiskIdentity>| {
        d.as_ref()
            .map(|d| plan::short_name(&d.path))
            .unwrap_or_default()
    };
    let image = sm.image.as_ref().map(|i| i.to_string()).unwrap_or_default();
    match sm.action {
        JobAction::Clone => format!(
            "{} {} -> {}",
            s::RUN_CLONE,
            short(&sm.source),
            short(&sm.target)
        ),
        JobAction::Save => format!(
            "{} {} -> {}",
            s::RUN_SAVE,
            short(&sm.source),
            sm.repository.as_deref().unwrap_or_default()
        ),
        JobAction::Restore => format!("{} {image} -> {}", s::RUN_RESTORE, short(&sm.target)),
        JobAction::Verify => format!("{} {image}", s::RUN_VERIFY),
    }
}

impl App {
    /// Starts the plan confirmed on the plan screen, with verify-afterwards as chosen there.
    pub(super) fn start(&mut self, verify: bool) {
        match self.flow.plan.take() {
            Some(plan) => self.run(plan.with_verify(verify)),
            None => {
                self.flow = Flow::default();
                self.screen = Screen::Home;
            }
        }
    }

    /// The running screen over a checked plan, run by the engine on a worker; its result and
    /// log are also kept in the repository's `results/` (the live system forgets /tmp).
    pub(super) fn run(&mut self, plan: CheckedPlan) {
        let sm = plan.summary();
        let title = title(sm);
        // The disks it reads or writes: never a place for its log.
        let disks = [&sm.source, &sm.target]
            .into_iter()
            .flatten()
            .map(|d| d.path.clone())
            .collect();
        let cancel = Cancel::new();
        self.started = Instant::now();
        let mut r = RunState::new(title.clone(), phases(sm), cancel.clone());
        r.log_file = LogFile::create(self.log_dir.join(log_name()));
        r.disks = disks;
        r.note(title);
        self.screen = Screen::Running(r);
        // The drive the repository is on stays mounted until the job is done with it.
        let mount = self.flow.repo.as_mut().and_then(|r| r.mount.take());
        self.flow = Flow::default();
        let tx = self.tx.clone();
        std::thread::spawn(move || {
            let events = tx.clone();
            let sink = move |e: Event| {
                // The UI may be gone (quit during a job); the job still ends through Cancel.
                let _ = events.send(Msg::Engine(e));
            };
            let ctx = wraith_engine::events::Ctx::new(
                &sink,
                &cancel,
                wraith_engine::pipeline::worker_count(),
            );
            let outcome = match ops::run(plan.keep_results(true), &ctx) {
                Ok(report) => Outcome::Finished(Box::new(report)),
                Err(wraith_engine::Error::Cancelled) => Outcome::Cancelled,
                Err(e) => Outcome::Failed(e.to_string()),
            };
            drop(mount);
            let _ = tx.send(Msg::Done(outcome));
        });
    }
}

/// `wraith-2026-11-22-051500.log`: sorts by time, and says which job it was with the date.
fn log_name() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let stamp: String = repo::timestamp_text(secs)
        .trim_end_matches(" UTC")
        .chars()
        .filter(|c| *c != ':')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect();
    format!("wraith-{stamp}.log")
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

fn pct(done: u64, total: u64) -> u64 {
    (done.min(total) * 100).checked_div(total).unwrap_or(0)
}

pub fn render(f: &mut Frame, area: Rect, r: &RunState) {
    let [top, log] = Layout::vertical([Constraint::Length(9), Constraint::Min(3)]).areas(area);
    let width = (top.width as usize).saturating_sub(32).min(56);
    let (odone, ototal) = r.overall();
    let (step, done, total) = r
        .phase()
        .map_or(("", 0, 0), |p| (p.step.as_str(), p.done, p.total));
    let lines = vec![
        Line::styled(
            format!(
                "{:<8} {} {:>3}%  {} {} {} {}",
                s::OVERALL,
                bar(odone, ototal, width),
                pct(odone, ototal),
                s::STEP,
                (r.current + 1).min(r.phases.len()),
                s::OF,
                r.phases.len()
            ),
            theme::title_style(),
        ),
        Line::styled(
            format!(
                "{:<8} {} {:>3}%",
                step,
                bar(done, total, width),
                pct(done, total)
            ),
            theme::normal(),
        ),
        Line::raw(""),
        Line::styled(
            format!(
                "{} {} {} {}   {} {} {} {}",
                step,
                hb(done),
                s::OF,
                hb(total),
                s::OVERALL,
                hb(odone),
                s::OF,
                hb(ototal)
            ),
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
        Line::raw(""),
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
    // The newest lines that fit, unless the user scrolled back.
    let room = log.height.saturating_sub(2) as usize;
    let end = r.log.len().saturating_sub(r.log_back);
    let start = end.saturating_sub(room);
    let lines: Vec<Line> = r.log[start..end]
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
    let title = if r.log_back > 0 {
        format!("{} ({} {})", s::LOG, r.log_back, s::LOG_BACK)
    } else {
        s::LOG.to_string()
    };
    f.render_widget(Paragraph::new(lines).block(theme::block(&title)), log);
}

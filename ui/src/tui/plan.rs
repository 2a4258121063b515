//! The PLAN screen: what will be read, what will be destroyed, how each part is copied,
//! whether it fits and roughly how long it takes. Built as text once, when the screen opens;
//! a long plan scrolls. The confirmation is typed here, and Enter asks for the job to start.

use super::app::{App, Screen};
use super::confirm::{self, TextInput};
use super::home::trunc;
use super::{strings as s, theme};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;
use wraith_engine::disks::DiskInfo;
use wraith_engine::human_bytes as hb;
use wraith_engine::job::Action;
use wraith_engine::layout::Policy;
use wraith_engine::ops::{self, CheckedPlan};
use wraith_engine::pipeline::reshape::Reshape;
use wraith_engine::plan::{Method, Plan, Region};
use wraith_engine::repo::{self, manifest::Manifest, ImageRef};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Tone {
    Normal,
    Head,
    Warn,
    Danger,
}

/// What a key on the plan asks for.
#[derive(Debug, PartialEq)]
pub enum PlanKey {
    None,
    Back,
    /// The job as planned, with a verify after it or not.
    Start {
        verify: bool,
    },
    /// Plan it again with the next layout policy.
    Layout,
    /// Plan the restore again, naming the machine afterwards (None: no name).
    Name(Option<String>),
    /// Plan the save again with the next compression choice.
    Compression,
}

#[derive(Clone, Debug)]
pub struct PlanScreen {
    pub lines: Vec<(Tone, String)>,
    /// The name to type before a destructive job may start; None: Enter starts.
    pub confirm: Option<String>,
    pub input: TextInput,
    /// First plan line shown.
    pub scroll: usize,
    /// Verify after the job: None when the job offers no verify step.
    pub verify: Option<bool>,
    /// The layout policy this plan was asked with: None when the job has no layout to choose
    /// (a save), else F2 plans it again with the next one.
    pub layout: Option<Policy>,
    /// A restore: F3 names the machine afterwards; this plan's name, if it has one.
    pub naming: Option<Option<String>>,
    /// The name being typed after F3.
    pub name_input: Option<TextInput>,
    /// A save: F2 plans it again with the next compression choice.
    pub compression: bool,
}

impl PlanScreen {
    pub fn new(lines: Vec<(Tone, String)>, confirm: Option<String>, verify: Option<bool>) -> Self {
        PlanScreen {
            lines,
            confirm,
            input: TextInput::default(),
            scroll: 0,
            verify,
            layout: None,
            naming: None,
            name_input: None,
            compression: false,
        }
    }

    /// Offers F2 to plan the save again with the next compression choice.
    pub fn with_compression(mut self) -> Self {
        self.compression = true;
        self
    }

    /// Offers F3 to name the restored machine; `current` is this plan's name.
    pub fn with_naming(mut self, current: Option<String>) -> Self {
        self.naming = Some(current);
        self
    }

    /// Offers F2 to plan the job again with another layout policy; `asked` is this plan's.
    pub fn with_layout(mut self, asked: Policy) -> Self {
        self.layout = Some(asked);
        self
    }

    /// Scrolls, toggles verify-after, edits the confirmation; Enter starts only when the
    /// confirmation matches.
    pub fn key(&mut self, k: &KeyEvent) -> PlanKey {
        if let Some(input) = &mut self.name_input {
            match k.code {
                KeyCode::Esc => self.name_input = None,
                KeyCode::Enter => {
                    let name = input.value.trim().to_string();
                    self.name_input = None;
                    return PlanKey::Name((!name.is_empty()).then_some(name));
                }
                _ => {
                    input.key(k);
                }
            }
            return PlanKey::None;
        }
        match k.code {
            KeyCode::Esc => return PlanKey::Back,
            KeyCode::Up => self.scroll_by(-1),
            KeyCode::Down => self.scroll_by(1),
            KeyCode::PageUp => self.scroll_by(-10),
            KeyCode::PageDown => self.scroll_by(10),
            KeyCode::Tab => {
                if let Some(v) = &mut self.verify {
                    *v = !*v;
                }
            }
            KeyCode::F(2) if self.layout.is_some() => return PlanKey::Layout,
            KeyCode::F(2) if self.compression => return PlanKey::Compression,
            KeyCode::F(3) => {
                if let Some(current) = &self.naming {
                    self.name_input = Some(TextInput::new(current.as_deref().unwrap_or("")));
                }
            }
            KeyCode::Enter => {
                let confirmed = match &self.confirm {
                    Some(name) => self.input.value == *name,
                    None => true,
                };
                if confirmed {
                    return PlanKey::Start {
                        verify: self.verify == Some(true),
                    };
                }
            }
            _ => {
                self.input.key(k);
            }
        }
        PlanKey::None
    }

    /// Moves by `by` lines; the renderer stops at the end.
    pub fn scroll_by(&mut self, by: isize) {
        self.scroll = self
            .scroll
            .saturating_add_signed(by)
            .min(self.lines.len().saturating_sub(1));
    }
}

/// The rough time for `bytes`: the issue asks for a plain, admitted estimate.
pub fn estimate(bytes: u64) -> String {
    const RATE: u64 = 150_000_000;
    let secs = bytes.div_ceil(RATE);
    format!("about {} ({})", duration_text(secs), s::PLAN_ESTIMATE)
}

pub fn duration_text(secs: u64) -> String {
    if secs >= 3600 {
        format!("{}h {:02}m", secs / 3600, (secs % 3600) / 60)
    } else if secs >= 60 {
        format!("{}m {:02}s", secs / 60, secs % 60)
    } else {
        format!("{secs}s")
    }
}

/// "sdb" for /dev/sdb: what the user types to confirm, as the CLI asks.
pub fn short_name(path: &str) -> String {
    std::path::Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| path.to_string())
}

pub fn disk_text(d: &DiskInfo) -> String {
    format!(
        "{}  {}  {}  {}",
        short_name(&d.path),
        d.model.as_deref().unwrap_or(s::UNKNOWN_MODEL),
        d.serial.as_deref().unwrap_or("-"),
        hb(d.size)
    )
}

/// The partitions (or whole-disk filesystem) a target loses.
pub fn destroyed(t: &DiskInfo) -> Vec<(Tone, String)> {
    let mut out = vec![(Tone::Danger, s::PLAN_DESTROYED.to_string())];
    for p in &t.partitions {
        out.push((
            Tone::Danger,
            format!(
                "  {:<10} {:>9} {:<7} {}",
                short_name(&p.path),
                hb(p.size),
                p.fs.as_deref().unwrap_or("-"),
                p.label.as_deref().unwrap_or("")
            ),
        ));
    }
    if t.partitions.is_empty() {
        match &t.fs {
            Some(fs) => out.push((
                Tone::Danger,
                format!("  whole disk {fs} {}", t.label.as_deref().unwrap_or("")),
            )),
            None => out.push((Tone::Warn, format!("  {}", s::PLAN_NOTHING_DESTROYED))),
        }
    }
    out
}

pub fn region_lines(regions: &[Region]) -> Vec<(Tone, String)> {
    let mut out = vec![(Tone::Head, s::PLAN_COLUMNS.to_string())];
    for r in regions {
        let (fs, label) = match &r.fs {
            Some(f) => (
                f.kind.name().to_string(),
                f.label.clone().unwrap_or_default(),
            ),
            None => ("-".to_string(), String::new()),
        };
        let how = match &r.method {
            Method::UsedBlocks => "used blocks".to_string(),
            Method::Raw { .. } => "raw".to_string(),
        };
        out.push((
            Tone::Normal,
            format!(
                "  {:<15} {:>9}  {:<6} {:<12} {:<11} {:>9}",
                trunc(&r.describe(), 15),
                hb(r.len),
                trunc(&fs, 6),
                trunc(&label, 12),
                how,
                hb(r.used.total())
            ),
        ));
    }
    out
}

/// "fits: target X, needs Y" in the right tone.
pub fn fit_line(target_size: u64, needed: u64) -> (Tone, String) {
    if target_size >= needed {
        (
            Tone::Normal,
            format!(
                "{}: target {} >= needed {}",
                s::PLAN_FITS,
                hb(target_size),
                hb(needed)
            ),
        )
    } else {
        (
            Tone::Danger,
            format!(
                "{}: target {} < needed {}",
                s::PLAN_NOT_FIT,
                hb(target_size),
                hb(needed)
            ),
        )
    }
}

/// What a layout change does, partition by partition: the engine's own wording of each step.
pub fn layout_lines(shape: &Reshape, target_size: u64) -> Vec<(Tone, String)> {
    let mut lines = vec![(
        Tone::Warn,
        format!(
            "{} {}: {} {}",
            s::PLAN_LAYOUT,
            shape.policy,
            s::PLAN_LAYOUT_FOR,
            hb(target_size)
        ),
    )];
    lines.extend(
        shape
            .describe()
            .into_iter()
            .map(|l| (Tone::Normal, format!("  {l}"))),
    );
    if shape.scratch_bytes > 0 {
        lines.push((
            Tone::Normal,
            format!("  {} {}", s::PLAN_SCRATCH, hb(shape.scratch_bytes)),
        ));
    }
    lines
}

/// The layout policy asked for, what `auto` chose, and the key that asks for another.
pub fn policy_line(asked: Policy, shape: Option<&Reshape>) -> (Tone, String) {
    let chosen = shape.map_or("keep".to_string(), |r| r.policy.clone());
    let policy = if asked == Policy::Auto {
        format!("{asked} ({chosen})")
    } else {
        asked.to_string()
    };
    (
        Tone::Normal,
        format!(
            "{} {policy}   {} {}",
            s::PLAN_POLICY,
            s::PLAN_POLICY_KEY,
            asked.next()
        ),
    )
}

/// A warning for each place the source is mounted: the copy is of a filesystem that may
/// change while it is read.
pub fn mounted_lines(mounts: &[String]) -> Vec<(Tone, String)> {
    if mounts.is_empty() {
        return Vec::new();
    }
    vec![
        (
            Tone::Warn,
            format!("{} {}", s::PLAN_SOURCE_MOUNTED, mounts.join(", ")),
        ),
        (Tone::Warn, s::PLAN_SOURCE_MOUNTED_WHY.to_string()),
    ]
}

/// The restore plan: the image, the target and what it loses, each region, fit, time.
pub fn restore_lines(
    image: &ImageRef,
    m: &Manifest,
    td: &DiskInfo,
    target_size: u64,
    needs: u64,
) -> Vec<(Tone, String)> {
    let mut lines = vec![
        (Tone::Head, format!("{} {image}", s::PLAN_IMAGE)),
        (
            Tone::Head,
            format!("        {} {}", s::SAVED, repo::timestamp_text(m.created)),
        ),
        (
            Tone::Head,
            format!("        {} {}", s::FROM, m.source.describe()),
        ),
        (
            Tone::Danger,
            format!("{}  {}", s::PLAN_TARGET, disk_text(td)),
        ),
    ];
    lines.extend(destroyed(td));
    let regions: Vec<_> = m.regions.iter().map(|r| r.region.clone()).collect();
    lines.extend(region_lines(&regions));
    lines.push(fit_line(target_size, needs));
    lines.push((
        Tone::Normal,
        format!(
            "writes {}, {}",
            hb(m.stats.image_bytes),
            estimate(m.stats.image_bytes)
        ),
    ));
    lines
}

/// The clone plan: both disks, what the target loses, how each region is copied, fit, time.
pub fn clone_lines(
    sd: &DiskInfo,
    td: &DiskInfo,
    plan: &Plan,
    target_size: u64,
) -> Vec<(Tone, String)> {
    let mut lines = vec![
        (Tone::Head, format!("{}  {}", s::PLAN_SOURCE, disk_text(sd))),
        (
            Tone::Danger,
            format!("{}  {}", s::PLAN_TARGET, disk_text(td)),
        ),
    ];
    lines.extend(destroyed(td));
    lines.extend(region_lines(&plan.regions));
    lines.push(fit_line(target_size, plan.min_target_size()));
    lines.push((
        Tone::Normal,
        format!(
            "copies {} of {}, {}",
            hb(plan.copy_bytes()),
            hb(plan.disk.size),
            estimate(plan.copy_bytes())
        ),
    ));
    lines.extend(plan.warnings().into_iter().map(|w| (Tone::Warn, w)));
    lines
}

fn style(t: Tone) -> Style {
    match t {
        Tone::Normal => theme::normal(),
        Tone::Head => theme::title_style(),
        Tone::Warn => theme::warn(),
        Tone::Danger => theme::danger(),
    }
}

/// Screen rows `lines` take when wrapped at `width` columns.
fn rows(lines: &[(Tone, String)], width: usize) -> usize {
    lines
        .iter()
        .map(|(_, l)| l.chars().count().div_ceil(width.max(1)).max(1))
        .sum()
}

pub fn render(f: &mut Frame, area: Rect, p: &PlanScreen) {
    let block = theme::block(s::PLAN_TITLE);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [body, more, option, field] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    // Never scroll past the point where the last line is at the bottom.
    let width = body.width as usize;
    let mut first = p.scroll;
    while first > 0 && rows(&p.lines[first..], width) < body.height as usize {
        first -= 1;
    }
    let first = first.min(p.lines.len());
    let lines: Vec<Line> = p.lines[first..]
        .iter()
        .map(|(t, l)| Line::styled(l.clone(), style(*t)))
        .collect();
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), body);
    let below = rows(&p.lines[first..], width) > body.height as usize;
    let hint = match (first > 0, below) {
        (false, false) => "",
        (true, false) => s::PLAN_MORE_ABOVE,
        (false, true) => s::PLAN_MORE_BELOW,
        (true, true) => s::PLAN_MORE_BOTH,
    };
    f.render_widget(
        Paragraph::new(Line::styled(hint, theme::title_style())),
        more,
    );
    if let Some(v) = p.verify {
        f.render_widget(
            Paragraph::new(Line::styled(
                format!("[{}] {}", if v { "x" } else { " " }, s::VERIFY_AFTER),
                theme::normal(),
            )),
            option,
        );
    }
    if let Some(input) = &p.name_input {
        confirm::render(f, field, s::NAME_PROMPT, input);
        return;
    }
    match &p.confirm {
        Some(name) => confirm::render(
            f,
            field,
            &format!("{} ('{name}')", s::TYPE_TO_CONFIRM),
            &p.input,
        ),
        None => f.render_widget(
            Paragraph::new(Line::styled(s::ENTER_TO_START, theme::warn())),
            field,
        ),
    }
}

/// The save plan: the disk read, where it goes and under which name, each region, time.
pub fn save_lines(sd: &DiskInfo, repository: &str, name: &str, plan: &Plan) -> Vec<(Tone, String)> {
    let mut lines = vec![
        (Tone::Head, format!("{}  {}", s::PLAN_SOURCE, disk_text(sd))),
        (Tone::Head, format!("{}  {repository}", s::PLAN_REPO)),
        (Tone::Head, format!("{}  {name}", s::PLAN_IMAGE)),
    ];
    lines.extend(region_lines(&plan.regions));
    lines.push((
        Tone::Normal,
        format!(
            "reads {} of {}, {}",
            hb(plan.copy_bytes()),
            hb(plan.disk.size),
            estimate(plan.copy_bytes())
        ),
    ));
    lines.extend(plan.warnings().into_iter().map(|w| (Tone::Warn, w)));
    lines
}

/// The plan screen's lines for the engine's summary of a checked plan, with the repository as
/// chosen (when it says more than the engine's location) and the disks as the lists showed
/// them (their partitions are what the target loses). Warnings the engine adds beyond the
/// layout's (an image of a failing disk, say) come last, each once.
pub fn summary_lines(
    sm: &ops::Summary,
    repository: Option<&str>,
    source: Option<&DiskInfo>,
    target: Option<&DiskInfo>,
    image: Option<&Manifest>,
) -> Vec<(Tone, String)> {
    let mut lines = mounted_lines(&sm.source_mounts);
    let target_size = sm.target.as_ref().map_or(0, |t| t.size);
    match (sm.action, &sm.layout) {
        (Action::Clone, Some(layout)) => {
            if let (Some(sd), Some(td)) = (source, target) {
                lines.extend(clone_lines(sd, td, layout, target_size));
            }
        }
        (Action::Save, Some(layout)) => {
            if let Some(sd) = source {
                lines.extend(save_lines(
                    sd,
                    repository.or(sm.repository.as_deref()).unwrap_or_default(),
                    sm.name.as_deref().unwrap_or_default(),
                    layout,
                ));
            }
        }
        (Action::Restore, _) => {
            if let (Some(i), Some(m), Some(td)) = (&sm.image, image, target) {
                lines.extend(restore_lines(i, m, td, target_size, sm.min_target_size));
            }
        }
        _ => {}
    }
    if let Some(shape) = &sm.reshape {
        // The partitions change size: the layout replaces the "fits" line.
        let fit = lines
            .iter()
            .position(|(_, l)| l.starts_with(s::PLAN_FITS) || l.starts_with(s::PLAN_NOT_FIT));
        let at = match fit {
            Some(i) => i..i + 1,
            None => lines.len()..lines.len(),
        };
        lines.splice(at, layout_lines(shape, target_size));
    }
    lines.extend(health_lines(sm));
    for w in &sm.warnings {
        if !lines.iter().any(|(_, l)| l == w) {
            let tone = if w.contains("FAILING") {
                Tone::Danger
            } else {
                Tone::Warn
            };
            lines.push((tone, w.clone()));
        }
    }
    lines
}

/// Whether the restored machine is named afterwards, and how to change it.
/// The save's compression and what F2 changes it to.
pub fn compression_line(level: Option<i32>) -> (Tone, String) {
    let level = level.unwrap_or_else(|| repo::Compression::default().zstd_level());
    let next = repo::Compression::of_level(level)
        .unwrap_or_default()
        .next();
    (
        Tone::Normal,
        format!(
            "{} {}   {} {}",
            s::PLAN_COMPRESSION,
            repo::describe_level(level),
            s::PLAN_COMPRESSION_KEY,
            next.name()
        ),
    )
}

pub fn name_line(name: Option<&str>) -> (Tone, String) {
    match name {
        Some(n) => (
            Tone::Head,
            format!("{} {n}   ({})", s::PLAN_NAME, s::PLAN_NAME_KEY),
        ),
        None => (
            Tone::Normal,
            format!(
                "{} {}   ({})",
                s::PLAN_NAME,
                s::PLAN_NAME_NONE,
                s::PLAN_NAME_KEY
            ),
        ),
    }
}

/// What must be typed before the plan starts: the target's name when it destroys one, and a
/// second word when its drive reports itself failing (nobody restores onto it by habit).
pub fn confirm_text(sm: &ops::Summary) -> Option<String> {
    let failing = sm.target_health.as_ref().is_some_and(|h| h.is_failing());
    match (&sm.target, sm.destroys()) {
        (Some(t), Some(_)) if failing => {
            Some(format!("{} {}", short_name(&t.path), s::FAILING_WORD))
        }
        (Some(t), Some(_)) => Some(short_name(&t.path)),
        _ => None,
    }
}

/// The drives' health as they report it: one line each for the source and the target.
fn health_lines(sm: &ops::Summary) -> Vec<(Tone, String)> {
    use wraith_engine::health::State;
    [
        (s::PLAN_SOURCE, &sm.source, &sm.source_health),
        (s::PLAN_TARGET, &sm.target, &sm.target_health),
    ]
    .into_iter()
    .filter_map(|(role, disk, health)| {
        let (d, h) = (disk.as_ref()?, health.as_ref()?);
        let tone = match h.state {
            State::Good | State::Unknown => Tone::Normal,
            State::Warning => Tone::Warn,
            State::Failing => Tone::Danger,
        };
        Some((
            tone,
            format!(
                "{} {} {}: {}",
                s::PLAN_HEALTH,
                role.to_lowercase(),
                short_name(&d.path),
                h.describe()
            ),
        ))
    })
    .collect()
}

impl App {
    /// The plan screen for a checked plan: the typed name of the target when it destroys
    /// one, and verify-afterwards on as the engine was asked.
    pub(super) fn show_plan(&mut self, plan: CheckedPlan) {
        let sm = plan.summary();
        // A drive chosen by its label reads better than where it was mounted: both.
        let chosen = self.flow.repo_at();
        let repository = match &sm.repository {
            Some(r) if chosen.starts_with("label:") || chosen.starts_with("uuid:") => {
                Some(format!("{chosen} ({r})"))
            }
            _ => None,
        };
        let mut lines = summary_lines(
            sm,
            repository.as_deref(),
            self.flow.source.as_ref().map(|s| &s.disk),
            self.flow.target.as_ref(),
            self.flow.image.as_ref().map(|i| &i.manifest),
        );
        let confirm = confirm_text(sm);
        let mut screen = PlanScreen::new(Vec::new(), confirm, Some(sm.verify));
        if matches!(sm.action, Action::Clone | Action::Restore) {
            lines.push(policy_line(self.flow.layout, sm.reshape.as_ref()));
            screen = screen.with_layout(self.flow.layout);
        }
        if sm.action == Action::Restore {
            lines.push(name_line(sm.hostname.as_deref()));
            screen = screen.with_naming(sm.hostname.clone());
        }
        if sm.action == Action::Save {
            lines.push(compression_line(sm.zstd_level));
            screen = screen.with_compression();
        }
        screen.lines = lines;
        self.screen = Screen::Plan(screen);
        self.flow.plan = Some(plan);
    }
}

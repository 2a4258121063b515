//! The repository list: where a save, restore, verify or browse finds its repository without
//! typing. Repositories found on the attached filesystems come first (the engine's
//! `ops::discover`, on a worker: it mounts read-only and waits on devices), then the known
//! ones (`wraith.repo=` boot parameters and `repositories.toml` on the stick, `ops::known`),
//! then for a save "new repository on" each drive with room, then typing a location.
//!
//! The screen shows at once and fills when the look answers; a disk plugged in meanwhile starts
//! a new look. One look runs at a time (two would mount the same filesystem twice): a look
//! asked for while one runs is started when it answers, and that answer is dropped as stale.
//! What the look needs from the system is injected ([`Finder`]), so tests use their own.

use super::app::{App, Msg, Screen};
use super::confirm::TextInput;
use super::menu::Action;
use super::{strings as s, theme};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;
use std::path::PathBuf;
use std::sync::Arc;
use wraith_engine::disks::DiskInfo;
use wraith_engine::human_bytes as hb;
use wraith_engine::ops::discover::{self, Place};
use wraith_engine::ops::known::{self, Known, ListDir, Origin};
use wraith_engine::repo::{Credentials, Password};

pub type LookFn = dyn Fn(&[DiskInfo], &[String], &[String]) -> Vec<Place> + Send + Sync;
pub type ListDirFn =
    dyn Fn(&[DiskInfo], &[String]) -> Result<Option<StickDir>, String> + Send + Sync;
pub type CmdlineFn = dyn Fn() -> String + Send + Sync;

/// How the list learns what is there: the engine's discovery, the kernel command line and the
/// directory of the remembered list. The product uses [`Finder::system`]; a test injects its
/// own (discovery needs root and real devices).
#[derive(Clone)]
pub struct Finder {
    pub local: Arc<LookFn>,
    pub cmdline: Arc<CmdlineFn>,
    pub list_dir: Arc<ListDirFn>,
}

impl Finder {
    pub fn system() -> Finder {
        Finder {
            local: Arc::new(discover::local),
            cmdline: Arc::new(|| std::fs::read_to_string("/proc/cmdline").unwrap_or_default()),
            list_dir: Arc::new(StickDir::find),
        }
    }

    /// Finds nothing and touches nothing: until a front end asks for the system's.
    pub fn nothing() -> Finder {
        Finder {
            local: Arc::new(|_, _, _| Vec::new()),
            cmdline: Arc::new(String::new),
            list_dir: Arc::new(|_, _| Ok(None)),
        }
    }

    /// The blocking part, for the worker. The list's directory comes first: on the live system
    /// it mounts the stick's data partition, which the look then sees where it is mounted.
    fn find(
        &self,
        disks: &[DiskInfo],
        exclude: &[String],
        boot: &[String],
        stick: Option<PathBuf>,
    ) -> Found {
        let mut warnings = Vec::new();
        let mut new_stick = None;
        let dir = match stick {
            Some(p) => Some(p),
            None => match (self.list_dir)(disks, boot) {
                Ok(Some(st)) => {
                    let p = st.path.clone();
                    new_stick = Some(st);
                    Some(p)
                }
                Ok(None) => None,
                Err(e) => {
                    warnings.push(e);
                    None
                }
            },
        };
        let places = (self.local)(disks, exclude, boot);
        let (known, w) = known::all(&(self.cmdline)(), dir.as_deref());
        warnings.extend(w);
        Found {
            places,
            known,
            warnings,
            stick: new_stick,
        }
    }
}

/// Where remembered shares are kept: the stick's data partition (kept mounted while this
/// lives) or a host's ~/.config/wraith.
pub struct StickDir {
    pub path: PathBuf,
    /// On the boot stick (the live system), not a host's own directory.
    pub on_stick: bool,
    /// A FAT filesystem: no permissions, a kept password is readable by anyone with the stick.
    pub fat: bool,
    _kept: Option<ListDir>,
}

impl StickDir {
    pub fn at(path: PathBuf, on_stick: bool, fat: bool) -> StickDir {
        StickDir {
            path,
            on_stick,
            fat,
            _kept: None,
        }
    }

    fn find(disks: &[DiskInfo], boot: &[String]) -> Result<Option<StickDir>, String> {
        let dir = known::list_dir(disks, boot).map_err(|e| e.to_string())?;
        let fat = disks
            .iter()
            .filter(|d| boot.contains(&d.path))
            .flat_map(|d| &d.partitions)
            .find(|p| p.label.as_deref() == Some(discover::DATA_LABEL))
            .and_then(|p| p.fs.as_deref())
            .is_some_and(|fs| fs.starts_with("fat") || fs == "vfat");
        Ok(dir.map(|d| StickDir {
            path: d.path.clone(),
            on_stick: wraith_engine::live::running_live(),
            fat,
            _kept: Some(d),
        }))
    }
}

/// What a look found.
pub struct Found {
    pub places: Vec<Place>,
    pub known: Vec<Known>,
    /// A list file that does not parse, a data partition that does not mount.
    pub warnings: Vec<String>,
    /// The list's directory, when this look was asked to find it.
    pub stick: Option<StickDir>,
}

/// A look running on a worker.
pub struct Finding {
    pub seq: u64,
    /// Another look was asked for meanwhile: this one's answer is stale.
    pub again: bool,
}

/// The last look's answer, to show again when the technician comes back to the list.
pub struct FoundCache {
    pub exclude: Vec<String>,
    pub disks_key: String,
    pub places: Vec<Place>,
    pub known: Vec<Known>,
    pub warnings: Vec<String>,
}

/// One line that can be chosen.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    /// `places[place].repositories[repo]`.
    Found {
        place: usize,
        repo: usize,
    },
    Known(usize),
    /// A new repository on `places[place]` (a save).
    New(usize),
    Type,
}

/// What Enter (or `t`) on the list asks for. No Debug: it may carry a kept password.
pub enum Pick {
    /// A repository found on a drive: its location and the drive's whole disk.
    Found {
        at: String,
        disk: String,
    },
    Known {
        at: String,
        password: Option<Password>,
    },
    New {
        at: String,
        disk: String,
    },
    Type,
}

/// What a key on the list asks for.
pub enum ReposKey {
    None,
    Back,
    Pick(Pick),
    LookAgain,
    Forget(String),
}

pub struct RepoList {
    pub action: Action,
    pub places: Vec<Place>,
    pub known: Vec<Known>,
    pub warnings: Vec<String>,
    /// A save's planned bytes: offers "new repository on" drives with room for them.
    pub save_need: Option<u64>,
    pub entries: Vec<Entry>,
    pub sel: usize,
    /// The technician moved the cursor: a refill keeps it where it is.
    moved: bool,
    /// Some(filesystems) while a look runs.
    pub looking: Option<usize>,
    /// A look has answered.
    pub looked: bool,
    /// The known entry (index into `known`) asked about with `d`.
    pub forget: Option<usize>,
    /// Enter on a found drive while a look runs: taken when it answers.
    pub enter_pending: bool,
    pub message: Option<String>,
    /// The disks as they were when the look started: hotplug compares with it.
    pub disks_key: String,
}

impl RepoList {
    pub fn new(action: Action, save_need: Option<u64>) -> RepoList {
        let mut l = RepoList {
            action,
            places: Vec::new(),
            known: Vec::new(),
            warnings: Vec::new(),
            save_need,
            entries: Vec::new(),
            sel: 0,
            moved: false,
            looking: None,
            looked: false,
            forget: None,
            enter_pending: false,
            message: None,
            disks_key: String::new(),
        };
        l.rebuild(None);
        l
    }

    /// The list for what a look found: found repositories first (the first preselected), known
    /// ones not found already, then new-repository drives for a save, then typing.
    pub fn fill(&mut self, places: Vec<Place>, known: Vec<Known>, warnings: Vec<String>) {
        // Named before the entries' indexes change meaning.
        let kept = self.entries.get(self.sel).map(|e| self.key_of(e));
        self.places = places;
        let found: Vec<String> = self
            .places
            .iter()
            .flat_map(|p| p.repositories.iter().map(|r| r.at.clone()))
            .collect();
        self.known = known
            .into_iter()
            .filter(|k| !found.contains(&k.at))
            .collect();
        self.warnings = warnings;
        self.looking = None;
        self.looked = true;
        self.rebuild(kept);
    }

    fn key_of(&self, e: &Entry) -> String {
        match e {
            Entry::Found { place, repo } => self.places[*place].repositories[*repo].at.clone(),
            Entry::Known(k) => format!("known {}", self.known[*k].at),
            Entry::New(p) => format!("new {}", self.places[*p].spec),
            Entry::Type => "type".into(),
        }
    }

    /// The entries for the places and known repositories held now; the cursor on the entry
    /// named `kept` when the technician had moved it there, else on the first.
    fn rebuild(&mut self, kept: Option<String>) {
        let mut entries = Vec::new();
        for (pi, p) in self.places.iter().enumerate() {
            for ri in 0..p.repositories.len() {
                entries.push(Entry::Found {
                    place: pi,
                    repo: ri,
                });
            }
        }
        entries.extend((0..self.known.len()).map(Entry::Known));
        if let Some(need) = self.save_need {
            for room in discover::room_for(&self.places, need) {
                if let Some(pi) = self.places.iter().position(|p| std::ptr::eq(p, room)) {
                    entries.push(Entry::New(pi));
                }
            }
        }
        entries.push(Entry::Type);
        self.entries = entries;
        self.sel = match kept {
            Some(k) if self.moved => self
                .entries
                .iter()
                .position(|e| self.key_of(e) == k)
                .unwrap_or(0),
            _ => 0,
        };
    }

    /// Puts the cursor on the entry for the location `at` (coming back to the list).
    pub fn select_at(&mut self, at: &str) {
        if let Some(i) = self.entries.iter().position(|e| match e {
            Entry::Found { place, repo } => self.places[*place].repositories[*repo].at == at,
            Entry::Known(k) => self.known[*k].at == at,
            Entry::New(p) => self.places[*p].new_repository_at() == at,
            Entry::Type => false,
        }) {
            self.sel = i;
            self.moved = true;
        }
    }

    pub fn title(&self) -> &'static str {
        match self.action {
            Action::Save => s::REPOS_SAVE,
            Action::Verify => s::REPOS_VERIFY,
            Action::Browse => s::REPOS_BROWSE,
            _ => s::REPOS_RESTORE,
        }
    }

    /// Whether the selected entry is a remembered one (`d` forgets it).
    pub fn on_remembered(&self) -> bool {
        matches!(self.entries.get(self.sel), Some(Entry::Known(k))
            if self.known[*k].origin == Origin::ListFile)
    }

    /// What the selected entry leads to.
    pub fn pick(&self) -> Option<Pick> {
        Some(match self.entries.get(self.sel)? {
            Entry::Found { place, repo } => Pick::Found {
                at: self.places[*place].repositories[*repo].at.clone(),
                disk: self.places[*place].disk.clone(),
            },
            Entry::Known(k) => Pick::Known {
                at: self.known[*k].at.clone(),
                password: self.known[*k].password.clone(),
            },
            Entry::New(p) => Pick::New {
                at: self.places[*p].new_repository_at(),
                disk: self.places[*p].disk.clone(),
            },
            Entry::Type => Pick::Type,
        })
    }

    pub fn key(&mut self, k: &KeyEvent) -> ReposKey {
        if let Some(i) = self.forget {
            match k.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => {
                    self.forget = None;
                    return ReposKey::Forget(self.known[i].at.clone());
                }
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => self.forget = None,
                _ => {}
            }
            return ReposKey::None;
        }
        self.message = None;
        match k.code {
            KeyCode::Up | KeyCode::Char('k') => {
                self.sel = self.sel.saturating_sub(1);
                self.moved = true;
                self.enter_pending = false;
            }
            KeyCode::Down | KeyCode::Char('j') => {
                if self.sel + 1 < self.entries.len() {
                    self.sel += 1;
                }
                self.moved = true;
                self.enter_pending = false;
            }
            KeyCode::Esc => return ReposKey::Back,
            KeyCode::Char('t') => return ReposKey::Pick(Pick::Type),
            KeyCode::Char('r') => return ReposKey::LookAgain,
            KeyCode::Char('d') => match self.entries.get(self.sel) {
                Some(Entry::Known(i)) if self.known[*i].origin == Origin::ListFile => {
                    self.forget = Some(*i)
                }
                Some(Entry::Known(_)) => self.message = Some(s::REPOS_CANNOT_FORGET.into()),
                _ => {}
            },
            KeyCode::Enter => {
                // Before the first answer there is nothing to choose yet: Enter takes what the
                // look preselects. A drive about to be looked at again may be mounted read-only
                // by that look right now: opening it waits for the answer rather than race it.
                let on_drive = matches!(
                    self.entries.get(self.sel),
                    Some(Entry::Found { .. } | Entry::New(_))
                );
                if self.looking.is_some() && (on_drive || !self.looked) {
                    self.enter_pending = true;
                    self.message = Some(s::REPOS_STILL_LOOKING.into());
                    return ReposKey::None;
                }
                if let Some(p) = self.pick() {
                    return ReposKey::Pick(p);
                }
            }
            _ => {}
        }
        ReposKey::None
    }

    /// The screen's lines and the index of the selected entry's first line.
    fn lines(&self, width: usize) -> (Vec<Line<'static>>, usize) {
        let mut out: Vec<Line<'static>> = Vec::new();
        let mut sel_line = 0;
        let found = self
            .entries
            .iter()
            .filter(|e| matches!(e, Entry::Found { .. }))
            .count();
        let looked_at = self.places.len();
        match self.looking {
            Some(n) => out.push(Line::styled(
                format!("{} {n} {}", s::REPOS_LOOKING, s::REPOS_FILESYSTEMS),
                theme::warn(),
            )),
            None if found > 0 => out.push(Line::styled(
                format!(
                    "{found} {} {} {looked_at} {} {}:",
                    plural(found, "repository", "repositories"),
                    s::REPOS_FOUND,
                    plural(looked_at, "filesystem", "filesystems"),
                    s::REPOS_LOOKED_AT
                ),
                theme::title_style(),
            )),
            None if self.looked => {
                let none = match looked_at {
                    0 => s::REPOS_NO_FILESYSTEM.to_string(),
                    n => format!(
                        "{} {n} {} {}.",
                        s::REPOS_NONE,
                        plural(n, "filesystem", "filesystems"),
                        s::REPOS_LOOKED_AT
                    ),
                };
                out.push(Line::styled(none, theme::warn()));
                let new = self.entries.iter().any(|e| matches!(e, Entry::New(_)));
                out.push(Line::styled(
                    match (self.save_need, new) {
                        (Some(_), true) => s::REPOS_NONE_SAVE,
                        (Some(_), false) => s::REPOS_NONE_SAVE_NO_ROOM,
                        _ => s::REPOS_NONE_NEXT,
                    },
                    theme::normal(),
                ));
            }
            None => {}
        }
        if found == 0 {
            out.extend(self.problem_lines(width));
        }
        let style = |n: usize, base: Style| {
            if n == self.sel {
                base.patch(theme::selected())
            } else {
                base
            }
        };
        let mut section = None;
        for (n, e) in self.entries.iter().enumerate() {
            // A blank line before each part: found, known, new, typing.
            let part = std::mem::discriminant(e);
            if section != Some(part) {
                if !out.is_empty() {
                    out.push(Line::raw(""));
                }
                if let Entry::Known(_) = e {
                    out.push(Line::styled(s::REPOS_KNOWN, theme::title_style()));
                }
                section = Some(part);
            }
            if n == self.sel {
                sel_line = out.len();
            }
            match e {
                Entry::Found { place, repo } => {
                    let p = &self.places[*place];
                    let r = &p.repositories[*repo];
                    out.push(Line::styled(
                        format!(
                            "  {}  {} {}, {} {}",
                            p.describe(),
                            p.fs,
                            hb(p.size),
                            hb(p.free),
                            s::REPOS_FREE
                        ),
                        style(n, theme::normal()),
                    ));
                    let what = match (&r.error, &r.newest, r.images) {
                        (Some(e), ..) => format!("{} {e}", s::REPOS_UNREADABLE),
                        (None, _, 0) => s::REPOS_EMPTY.to_string(),
                        (None, Some(newest), n) => format!(
                            "{n} {}, {} {} {}",
                            plural(n, "image", "images"),
                            s::REPOS_NEWEST,
                            short_time(newest.created),
                            newest.name
                        ),
                        (None, None, n) => format!("{n} {}", plural(n, "image", "images")),
                    };
                    let tone = if r.error.is_some() {
                        theme::danger()
                    } else {
                        theme::title_style()
                    };
                    out.push(Line::styled(format!("    /{}: {what}", r.dir), tone));
                    // Filesystems that could not be looked at follow the last found one.
                    if !matches!(self.entries.get(n + 1), Some(Entry::Found { .. })) {
                        out.extend(self.problem_lines(width));
                    }
                }
                Entry::Known(k) => {
                    let k = &self.known[*k];
                    let mut tags = vec![match k.origin {
                        Origin::KernelCommandLine => s::REPOS_BOOT_PARAM,
                        Origin::ListFile => s::REPOS_REMEMBERED,
                    }];
                    if k.password.is_some() {
                        tags.push(s::REPOS_PASSWORD_KEPT);
                    }
                    let name = k
                        .name
                        .as_deref()
                        .map(|n| format!("{n}  "))
                        .unwrap_or_default();
                    out.push(Line::styled(
                        format!("  {name}{}  ({})", k.shown(), tags.join(", ")),
                        style(n, theme::normal()),
                    ));
                }
                Entry::New(p) => {
                    let p = &self.places[*p];
                    out.push(Line::styled(
                        format!(
                            "  {} {} ({} {})  {}",
                            s::REPOS_NEW_ON,
                            p.label.as_deref().unwrap_or(&p.device),
                            hb(p.free),
                            s::REPOS_FREE,
                            where_is(p)
                        ),
                        style(n, theme::normal()),
                    ));
                }
                Entry::Type => out.push(Line::styled(
                    format!("  {}", s::REPOS_TYPE),
                    style(n, theme::normal()),
                )),
            }
        }
        out.extend(
            self.warnings
                .iter()
                .map(|w| Line::styled(format!("  {w}"), theme::disabled())),
        );
        if let Some(m) = &self.message {
            out.push(Line::raw(""));
            out.push(Line::styled(m.clone(), theme::warn()));
        }
        (out, sel_line)
    }

    /// A dim line per filesystem that could not be looked at, with the engine's reason (its
    /// end, where the errno is, carried over to a second line rather than cut off).
    fn problem_lines(&self, width: usize) -> Vec<Line<'static>> {
        let mut out = Vec::new();
        for p in &self.places {
            let Some(e) = &p.error else {
                continue;
            };
            let name = p.label.as_deref().unwrap_or(&p.device);
            let text = format!("{name} ({}, {}): {e}", p.fs, p.device);
            for (n, chunk) in wrap(&text, width.saturating_sub(2), 2)
                .into_iter()
                .enumerate()
            {
                let indent = if n == 0 { "  " } else { "    " };
                out.push(Line::styled(format!("{indent}{chunk}"), theme::disabled()));
            }
        }
        out
    }
}

/// `text` cut at spaces into lines of `width` columns, those after the first `indent`
/// narrower (the caller indents them further).
fn wrap(text: &str, width: usize, indent: usize) -> Vec<String> {
    let mut out: Vec<String> = vec![String::new()];
    for word in text.split(' ') {
        let room = if out.len() == 1 {
            width
        } else {
            width.saturating_sub(indent)
        };
        let last = out.last_mut().expect("one line at least");
        if last.is_empty() {
            last.push_str(word);
        } else if last.chars().count() + 1 + word.chars().count() > room {
            out.push(word.to_string());
        } else {
            last.push(' ');
            last.push_str(word);
        }
    }
    out
}

fn plural(n: usize, one: &'static str, more: &'static str) -> &'static str {
    if n == 1 {
        one
    } else {
        more
    }
}

/// "USB SanDisk Extreme, /dev/sdd1": which drive, for the new-repository line.
fn where_is(p: &Place) -> String {
    match &p.model {
        Some(m) => format!("{} {m}, {}", p.transport.to_uppercase(), p.device),
        None => format!("{}, {}", p.transport.to_uppercase(), p.device),
    }
}

/// "2026-11-22 10:15": the list has no room for seconds and the zone.
fn short_time(secs: u64) -> String {
    wraith_engine::repo::timestamp_text(secs)
        .chars()
        .take(16)
        .collect()
}

/// How many filesystems a look at `disks` mounts: what the list says while it waits. Counted
/// as the engine picks them (a partition, or a disk without a table; on the boot medium only
/// its data partition).
pub fn filesystems(disks: &[DiskInfo], exclude: &[String], boot: &[String]) -> usize {
    disks
        .iter()
        .filter(|d| !exclude.contains(&d.path))
        .map(|d| {
            let on_boot = boot.contains(&d.path);
            let ok =
                |label: &Option<String>| !on_boot || label.as_deref() == Some(discover::DATA_LABEL);
            if d.partitions.is_empty() {
                usize::from(ok(&d.label))
            } else {
                d.partitions.iter().filter(|p| ok(&p.label)).count()
            }
        })
        .sum()
}

/// What about the disks matters to a look: which filesystems are where. Hotplug sends the list
/// again on every uevent (and every two seconds where no monitor opens); only a change looks
/// again.
pub fn disks_key(disks: &[DiskInfo]) -> String {
    let mut key = String::new();
    for d in disks {
        key.push_str(&format!("{} {} {:?} {:?};", d.path, d.size, d.fs, d.label));
        for p in &d.partitions {
            key.push_str(&format!(
                "{} {} {:?} {:?} {:?};",
                p.path, p.size, p.fs, p.label, p.uuid
            ));
        }
    }
    key
}

impl App {
    /// The repository list for the flow's action, at once, with a look started.
    pub(super) fn choose_repo(&mut self) {
        let action = self.flow.action.unwrap_or(Action::Restore);
        let need = match action {
            Action::Save => self.flow.source.as_ref().map(|s| s.plan.copy_bytes()),
            _ => None,
        };
        let mut list = RepoList::new(action, need);
        let (exclude, _) = self.look_scope();
        let key = disks_key(&self.machine.disks);
        let cached = self
            .found_cache
            .as_ref()
            .filter(|c| c.exclude == exclude && c.disks_key == key);
        match cached {
            // Coming back to the list: what was found is still there; `r` looks again.
            Some(c) => {
                list.disks_key = key;
                list.fill(c.places.clone(), c.known.clone(), c.warnings.clone());
                list.select_at(&self.flow.repo_at());
                self.screen = Screen::Repos(Box::new(list));
            }
            None => {
                self.screen = Screen::Repos(Box::new(list));
                self.look();
            }
        }
    }

    /// What a look leaves alone: a save's source disk; the boot medium but its data partition.
    fn look_scope(&self) -> (Vec<String>, Vec<String>) {
        let exclude = match (self.flow.action, &self.flow.source) {
            (Some(Action::Save), Some(src)) => vec![src.disk.path.clone()],
            _ => Vec::new(),
        };
        (exclude, self.machine.boot.clone())
    }

    /// Starts a look on a worker, or marks the running one stale so another follows it.
    pub(super) fn look(&mut self) {
        let (exclude, boot) = self.look_scope();
        let n = filesystems(&self.machine.disks, &exclude, &boot);
        let key = disks_key(&self.machine.disks);
        if let Screen::Repos(l) = &mut self.screen {
            l.looking = Some(n);
            l.disks_key = key;
        }
        if let Some(f) = &mut self.finding {
            f.again = true;
            return;
        }
        self.seq += 1;
        let seq = self.seq;
        self.finding = Some(Finding { seq, again: false });
        let finder = self.finder.clone();
        let disks = self.machine.disks.clone();
        let stick = self.stick.as_ref().map(|s| s.path.clone());
        let tx = self.tx.clone();
        std::thread::spawn(move || {
            let mut found = finder.find(&disks, &exclude, &boot, stick);
            found.places.sort_by_key(|p| p.boot_medium);
            let _ = tx.send(Msg::Found {
                seq,
                found: Box::new(found),
            });
        });
    }

    /// A look answered: the list fills, unless another look was asked for meanwhile.
    pub(super) fn found(&mut self, seq: u64, found: Found) {
        if self.finding.as_ref().is_none_or(|f| f.seq != seq) {
            return;
        }
        let again = self.finding.take().is_some_and(|f| f.again);
        let Found {
            places,
            known,
            warnings,
            stick,
        } = found;
        if self.stick.is_none() {
            self.stick = stick;
        }
        if !matches!(self.screen, Screen::Repos(_)) {
            return;
        }
        if again {
            return self.look();
        }
        let (exclude, _) = self.look_scope();
        let disks_key = match &self.screen {
            Screen::Repos(l) => l.disks_key.clone(),
            _ => return,
        };
        self.found_cache = Some(FoundCache {
            exclude,
            disks_key,
            places: places.clone(),
            known: known.clone(),
            warnings: warnings.clone(),
        });
        let Screen::Repos(l) = &mut self.screen else {
            return;
        };
        l.fill(places, known, warnings);
        let pick = if std::mem::take(&mut l.enter_pending) {
            l.pick()
        } else {
            None
        };
        if let Some(p) = pick {
            self.picked_entry(p);
        }
    }

    /// Hotplug while the list shows: a drive plugged in appears without a key.
    pub(super) fn disks_changed(&mut self) {
        if let Screen::Repos(l) = &self.screen {
            if l.disks_key != disks_key(&self.machine.disks) {
                self.look();
            }
        }
    }

    pub(super) fn repos_key(&mut self, k: ReposKey) {
        match k {
            ReposKey::None => {}
            ReposKey::Back => self.back(),
            ReposKey::LookAgain => self.look(),
            ReposKey::Pick(p) => self.picked_entry(p),
            ReposKey::Forget(at) => self.forget(at),
        }
    }

    /// An entry chosen: open it as the flow needs (a save prepares its plan).
    pub(super) fn picked_entry(&mut self, p: Pick) {
        self.flow.wanted = None;
        self.flow.from_known = false;
        self.flow.repo_disk = None;
        self.flow.typed = false;
        self.flow.creds = Credentials::none();
        match p {
            Pick::Type => {
                self.flow.typed = true;
                self.screen = Screen::RepoPath(TextInput::default());
            }
            Pick::Found { at, disk } | Pick::New { at, disk } => {
                self.flow.repo_disk = Some(disk);
                self.picked_repo(at);
            }
            Pick::Known { at, password } => {
                // A kept password logs in without the prompt.
                self.flow.from_known = true;
                self.flow.creds = Credentials::new(None, password);
                self.picked_repo(at);
            }
        }
    }

    /// Takes a remembered share off the list on the stick (a small write: on a worker all
    /// the same, a stick can be slow to sync).
    fn forget(&mut self, at: String) {
        let Some(dir) = self.stick.as_ref().map(|s| s.path.clone()) else {
            return;
        };
        let tx = self.tx.clone();
        std::thread::spawn(move || {
            let result = known::forget(&dir, &at)
                .map(|_| format!("{} {}", s::REPOS_FORGOT, shown(&at)))
                .map_err(|e| e.to_string());
            let _ = tx.send(Msg::StickWritten {
                forgot: Some(at),
                result,
            });
        });
    }

    /// A write to the list on the stick is done: said on the screen; a forgotten share leaves
    /// the list.
    pub(super) fn stick_written(&mut self, forgot: Option<String>, result: Result<String, String>) {
        if let (Some(at), Ok(_)) = (&forgot, &result) {
            if let Some(c) = &mut self.found_cache {
                c.known.retain(|k| k.at != *at);
            }
            if let Screen::Repos(l) = &mut self.screen {
                let known = l.known.iter().filter(|k| k.at != *at).cloned().collect();
                let (places, warnings) = (l.places.clone(), l.warnings.clone());
                let looking = l.looking;
                l.fill(places, known, warnings);
                l.looking = looking;
            }
        }
        if forgot.is_none() {
            // A share remembered: the next list shows it as known.
            self.found_cache = None;
        }
        self.note = Some(match result {
            Ok(m) => m,
            Err(e) => e,
        });
    }
}

fn shown(at: &str) -> String {
    super::opening::shown_location(at)
}

pub fn render(f: &mut Frame, area: Rect, l: &RepoList) {
    let block = theme::block(l.title());
    let inner = block.inner(area);
    f.render_widget(block, area);
    let (lines, sel_line) = l.lines(inner.width as usize);
    // Keep the selected entry (two lines for a found one) in view.
    let height = inner.height as usize;
    let first = (sel_line + 2).saturating_sub(height);
    let shown: Vec<Line> = lines.into_iter().skip(first).collect();
    f.render_widget(Paragraph::new(shown), inner);
    if let Some(i) = l.forget {
        let r = super::popup::centered(area, 70, 6);
        let lines = vec![
            Line::styled(
                format!("{} {}?", s::REPOS_FORGET_ASK, l.known[i].shown()),
                theme::warn(),
            ),
            Line::raw(""),
            Line::styled(s::REPOS_FORGET_WHAT, theme::normal()),
        ];
        f.render_widget(Clear, r);
        f.render_widget(
            Paragraph::new(lines)
                .block(theme::block(s::REPOS_FORGET_ASK))
                .wrap(Wrap { trim: true }),
            r,
        );
    }
}

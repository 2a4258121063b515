//! The application state machine: one `Msg` in, state changes, maybe a job started. Drawing is
//! elsewhere and only reads this state.

use super::confirm::TextInput;
use super::image::ImageDetails;
use super::jobs::{self, Job};
use super::machine::Machine;
use super::menu::{Action, ACTIONS};
use super::network::{NetAction, NetScreen, Pending, Tone as NetTone};
use super::pick_disk::{Item, PickDisk, Role};
use super::plan::{self, PlanScreen, Tone};
use super::repo::{ImageList, ImageRow, PasswordPrompt, WaitNet};
use super::running::{LogFile, RunState};
use super::strings as s;
use super::summary::{self, Summary};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::time::Instant;
use wraith_engine::device::{Device, ReadAt};
use wraith_engine::disks::DiskInfo;
use wraith_engine::events::{Cancel, Event};
use wraith_engine::human_bytes as hb;
use wraith_engine::plan::Plan;
use wraith_engine::repo::location::Location;
use wraith_engine::repo::{self, manifest::Manifest, Credentials, ImageRef, Repository};
use wraith_engine::safety;

/// Everything the loop reacts to.
pub enum Msg {
    Key(KeyEvent),
    /// From the worker running a job.
    Engine(Event),
    /// Repaint the clocks of a running job.
    Tick,
    /// Hotplug: the disks as they are now (a disk came or went).
    Disks(Vec<DiskInfo>),
    /// The worker reading the source disk is done.
    Planned(Box<Result<Source, String>>),
    /// The worker's job ended.
    Done(Outcome),
    /// The wait for a network address before opening the repository `.0` ended; `.1` is
    /// that wait's cancel flag, which tells it from an earlier wait for the same URL.
    NetWaited(
        String,
        std::sync::Arc<std::sync::atomic::AtomicBool>,
        Result<(), crate::net::WaitError>,
    ),
    /// The worker opening a repository is done: which opening ([`Opening::seq`]), the
    /// location, and what it found.
    Opened(u64, String, Box<Result<Opened, String>>),
}

/// What opening a repository is for, and what the worker hands back.
pub enum Opened {
    /// A save: the login worked, or there is no repository yet (the save creates it).
    Checked,
    /// Restore, verify or browse: the repository and its images.
    Listed(Repository, Vec<ImageRow>),
    /// A fresh handle to verify one image with.
    Verify(Repository, ImageRef),
}

/// A repository being opened by a worker: a share may take a network timeout to answer, and
/// the screen must stay alive (and cancellable) meanwhile.
pub struct Opening {
    /// Tells this opening's answer from one given up on earlier (even for the same URL).
    pub seq: u64,
    pub shown: String,
    pub since: Instant,
    pub waited: u64,
}

/// The disk a clone or save reads, with its plan and where it is mounted now.
pub struct Source {
    pub disk: DiskInfo,
    pub dev: Device,
    pub plan: Plan,
    pub mounts: Vec<String>,
}

/// Reads the source's table and filesystems: seconds on a big or slow disk, so never on the
/// UI thread. `safety::mounts_of` reads /proc/self/mountinfo.
pub fn read_source(disk: DiskInfo) -> Result<Source, String> {
    let dev = Device::open_read(std::path::Path::new(&disk.path))
        .map_err(|e| format!("{}: {e}", disk.path))?;
    let plan = wraith_engine::plan::plan(&dev, dev.identity.clone())
        .map_err(|e| format!("{}: {e}", disk.path))?;
    let mounts = safety::mounts_of(&dev);
    Ok(Source {
        disk,
        dev,
        plan,
        mounts,
    })
}

#[derive(Debug)]
pub enum Outcome {
    Ok(Vec<String>),
    /// Finished, with source bytes that stayed unreadable (named in the lines).
    Partial(Vec<String>),
    Failed(String),
    Cancelled,
}

/// How the UI ends; in the live system wraith-init acts on the exit code.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Exit {
    Quit,
    Shell,
    Reboot,
    PowerOff,
}

impl Exit {
    pub fn code(self, live: bool) -> u8 {
        match (self, live) {
            (Exit::Shell, true) => wraith_live::exit::SHELL,
            (Exit::Reboot, true) => wraith_live::exit::REBOOT,
            (Exit::PowerOff, true) => wraith_live::exit::POWEROFF,
            _ => crate::EXIT_OK,
        }
    }
}

pub enum Popup {
    Menu(usize),
    Error(String),
}

pub enum Screen {
    Home,
    PickDisk(PickDisk),
    RepoPath(TextInput),
    /// A network repository before it is opened: no address yet.
    WaitNet(WaitNet),
    /// The password for the user in a repository URL.
    Password(PasswordPrompt),
    Images(ImageList),
    /// One image in detail; the list to go back to.
    ImageInfo(Box<ImageDetails>, ImageList),
    /// A worker reads the named source disk.
    Reading(String),
    Plan(PlanScreen),
    Running(RunState),
    Summary(Summary),
    Network(Box<NetScreen>),
}

/// What the user chose so far in the current flow.
#[derive(Default)]
pub struct Flow {
    pub action: Option<Action>,
    pub source: Option<(DiskInfo, Device, Plan)>,
    /// Where the source is mounted (a warning on the plan).
    pub mounts: Vec<String>,
    /// The repository as typed (a directory or a URL without password), and once opened
    /// the handle.
    pub repo: Option<(String, Option<Repository>)>,
    /// The login for a repository URL: kept in memory for this flow only (a verify or a
    /// save opens the repository again), never written anywhere.
    pub creds: Credentials,
    pub image: Option<(ImageRef, Manifest)>,
    pub target: Option<(DiskInfo, Device)>,
    pub name: String,
}

pub struct App {
    pub machine: Machine,
    pub screen: Screen,
    pub popup: Option<Popup>,
    pub flow: Flow,
    pub exit: Option<Exit>,
    /// Clear and redraw everything: the kernel prints on the console when a disk's partitions
    /// change (hotplug, after a job), scrolling the screen behind the UI's back.
    pub repaint: bool,
    /// Where job logs go.
    pub log_dir: PathBuf,
    /// wraith-init's network state directory (net.json, net-ready, requests); None: never
    /// look (a host, and the tests that do not show the network).
    pub net_dir: Option<PathBuf>,
    /// Uptime seconds to show lease times against; None reads /proc/uptime (tests fix it).
    pub clock: Option<f64>,
    /// A repository being opened in the background; drawn over the screen it started from.
    pub opening: Option<Opening>,
    opened_seq: u64,
    /// The repository URL to go back to when the network screen was opened from the wait
    /// for the network.
    after_network: Option<String>,
    tx: Sender<Msg>,
    started: Instant,
}

fn err_text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl App {
    pub fn new(machine: Machine, tx: Sender<Msg>) -> Self {
        App {
            machine,
            screen: Screen::Home,
            popup: None,
            flow: Flow::default(),
            exit: None,
            repaint: false,
            log_dir: std::env::temp_dir(),
            net_dir: None,
            clock: None,
            opening: None,
            opened_seq: 0,
            after_network: None,
            tx,
            started: Instant::now(),
        }
    }

    pub fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Tick => self.tick(),
            Msg::Disks(d) => {
                self.repaint = true;
                self.machine.disks = d;
                self.refresh_pick();
            }
            Msg::Planned(r) => self.planned(*r),
            Msg::Engine(ev) => {
                self.tick();
                if let Screen::Running(r) = &mut self.screen {
                    r.apply(ev);
                }
            }
            Msg::Done(o) => {
                self.repaint = true;
                self.finished(o)
            }
            Msg::NetWaited(at, which, r) => self.net_waited(at, &which, r),
            Msg::Opened(seq, at, r) => {
                if self.opening.as_ref().is_some_and(|o| o.seq == seq) {
                    self.opening = None;
                    self.opened(at, *r);
                }
                // Otherwise given up on with Esc: dropped (and any share it mounted with it).
            }
            Msg::Key(k) => {
                // Ctrl-L: the terminal convention for "the screen is garbled, draw it again".
                if k.code == KeyCode::Char('l') && k.modifiers.contains(KeyModifiers::CONTROL) {
                    self.repaint = true;
                    return;
                }
                self.key(k)
            }
        }
    }

    fn tick(&mut self) {
        if let Screen::Running(r) = &mut self.screen {
            r.elapsed = self.started.elapsed();
        }
        if let Screen::WaitNet(w) = &mut self.screen {
            w.waited = w.since.elapsed().as_secs();
        }
        if let Some(o) = &mut self.opening {
            o.waited = o.since.elapsed().as_secs();
        }
        self.refresh_net();
    }

    /// Re-reads init's net.json: the home screen's network lines and the network screen
    /// follow DHCP leases and requests as they happen.
    pub fn refresh_net(&mut self) {
        let Some(dir) = &self.net_dir else {
            return;
        };
        let state = crate::net::read_state(dir);
        if let Some(st) = &state {
            super::machine::apply_net_state(&mut self.machine.nets, st);
        }
        let now = self
            .clock
            .or_else(crate::net::uptime_now)
            .or(state.as_ref().map(|s| s.uptime))
            .unwrap_or(0.0);
        if let Screen::Network(n) = &mut self.screen {
            n.refresh(state, now);
        }
    }

    fn finished(&mut self, o: Outcome) {
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
            Outcome::Ok(l) => (summary::Outcome::Ok, l),
            Outcome::Partial(l) => (summary::Outcome::Partial, l),
            Outcome::Failed(e) => (
                summary::Outcome::Failed,
                e.lines().map(String::from).collect(),
            ),
            Outcome::Cancelled => (summary::Outcome::Cancelled, Vec::new()),
        };
        lines.push(took);
        let warnings: Vec<String> = r
            .log
            .iter()
            .filter(|l| l.starts_with("warning"))
            .cloned()
            .collect();
        lines.extend(warnings);
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
        });
    }

    fn error(&mut self, e: impl std::fmt::Display) {
        self.popup = Some(Popup::Error(err_text(e)));
    }

    fn key(&mut self, k: KeyEvent) {
        let ctrl_c = k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
        if self.opening.is_some() {
            // Only "stop waiting": the worker's answer is dropped when it comes.
            if k.code == KeyCode::Esc || ctrl_c {
                self.opening = None;
            }
            return;
        }
        match &mut self.popup {
            Some(Popup::Error(_)) => {
                self.popup = None;
                return;
            }
            Some(Popup::Menu(sel)) => {
                match k.code {
                    KeyCode::Up | KeyCode::Char('k') => *sel = sel.saturating_sub(1),
                    KeyCode::Down | KeyCode::Char('j') => *sel = (*sel + 1).min(ACTIONS.len() - 1),
                    KeyCode::Esc => self.popup = None,
                    KeyCode::Enter => {
                        let a = ACTIONS[*sel];
                        self.popup = None;
                        self.choose(a);
                    }
                    _ => {}
                }
                return;
            }
            None => {}
        }
        match &mut self.screen {
            Screen::Home => match k.code {
                KeyCode::Enter | KeyCode::Char('m') => self.popup = Some(Popup::Menu(0)),
                KeyCode::Char('n') => {
                    self.screen = Screen::Network(Box::default());
                    self.refresh_net();
                }
                KeyCode::Char('q') => self.exit = Some(Exit::Quit),
                _ if ctrl_c => self.exit = Some(Exit::Quit),
                _ => {}
            },
            Screen::PickDisk(p) => match k.code {
                KeyCode::Up | KeyCode::Char('k') => p.up(),
                KeyCode::Down | KeyCode::Char('j') => p.down(),
                KeyCode::Esc => self.back(),
                KeyCode::Enter => {
                    if let Some(d) = p.chosen().cloned() {
                        match p.role {
                            Role::Source => self.picked_source(d),
                            Role::Target => self.picked_target(d),
                        }
                    }
                }
                _ => {}
            },
            Screen::RepoPath(input) => match k.code {
                KeyCode::Esc => self.back(),
                KeyCode::Enter => {
                    let at = input.value.trim().to_string();
                    // A new location: a password typed for another one does not carry over.
                    if self.flow.repo.as_ref().is_none_or(|r| r.0 != at) {
                        self.flow.creds = Credentials::none();
                    }
                    self.picked_repo(at);
                }
                _ => {
                    input.key(&k);
                }
            },
            Screen::WaitNet(w) => {
                if k.code == KeyCode::Esc || ctrl_c {
                    w.cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                    self.back();
                } else if k.code == KeyCode::Char('n') {
                    // No DHCP here: straight to the network screen, and back to the URL after.
                    w.cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                    self.after_network = Some(w.at.clone());
                    self.screen = Screen::Network(Box::default());
                    self.refresh_net();
                }
            }
            Screen::Password(p) => match k.code {
                KeyCode::Esc => self.back(),
                KeyCode::Enter => {
                    let at = p.at.clone();
                    self.flow.creds = Credentials::new(None, Some(p.take()));
                    self.open_repo(at);
                }
                _ => p.key(&k),
            },
            Screen::Network(n) => match n.key(&k) {
                NetAction::None => {}
                NetAction::Back => {
                    self.screen = match self.after_network.take() {
                        Some(at) => Screen::RepoPath(TextInput::new(&at)),
                        None => Screen::Home,
                    }
                }
                NetAction::Request(mode) => self.net_request(mode),
            },
            Screen::Images(l) => match k.code {
                KeyCode::Up | KeyCode::Char('k') => l.up(),
                KeyCode::Down | KeyCode::Char('j') => l.down(),
                KeyCode::Esc => self.back(),
                KeyCode::Enter => {
                    if let Some(r) = l.chosen().cloned() {
                        self.picked_image(r);
                    }
                }
                _ => {}
            },
            Screen::ImageInfo(d, _) => match k.code {
                KeyCode::Up | KeyCode::Char('k') => d.scroll = d.scroll.saturating_sub(1),
                KeyCode::Down | KeyCode::Char('j') => d.scroll += 1,
                KeyCode::PageUp => d.scroll = d.scroll.saturating_sub(10),
                KeyCode::PageDown => d.scroll += 10,
                KeyCode::Char('v') => {
                    let image = d.image.clone();
                    self.verify(image);
                }
                KeyCode::Esc => self.back(),
                _ => {}
            },
            Screen::Reading(_) => {
                if k.code == KeyCode::Esc {
                    // The worker's answer is dropped when it finds another screen.
                    self.back();
                }
            }
            Screen::Plan(p) => match k.code {
                KeyCode::Esc => self.back(),
                KeyCode::Up => p.scroll_by(-1),
                KeyCode::Down => p.scroll_by(1),
                KeyCode::PageUp => p.scroll_by(-10),
                KeyCode::PageDown => p.scroll_by(10),
                KeyCode::Tab => {
                    if let Some(v) = &mut p.verify {
                        *v = !*v;
                    }
                }
                KeyCode::Enter => {
                    let ok = match &p.confirm {
                        Some(name) => p.input.value == *name,
                        None => true,
                    };
                    if ok {
                        self.start();
                    }
                }
                _ => {
                    p.input.key(&k);
                }
            },
            Screen::Running(r) => {
                if r.asking_cancel {
                    match k.code {
                        KeyCode::Char('y') | KeyCode::Char('Y') => {
                            r.cancel.cancel();
                            r.log.push(s::CANCELLING.to_string());
                            r.asking_cancel = false;
                        }
                        KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                            r.asking_cancel = false
                        }
                        _ => {}
                    }
                } else if k.code == KeyCode::Esc || ctrl_c {
                    r.asking_cancel = true;
                } else {
                    match k.code {
                        KeyCode::Up => r.scroll_log(true, 1),
                        KeyCode::Down => r.scroll_log(false, 1),
                        KeyCode::PageUp => r.scroll_log(true, 10),
                        KeyCode::PageDown => r.scroll_log(false, 10),
                        _ => {}
                    }
                }
            }
            Screen::Summary(_) => {
                if matches!(k.code, KeyCode::Enter | KeyCode::Esc) {
                    self.screen = Screen::Home;
                }
            }
        }
    }

    fn choose(&mut self, a: Action) {
        self.flow = Flow {
            action: Some(a),
            ..Flow::default()
        };
        match a {
            Action::Clone => self.pick_source(s::PICK_SOURCE),
            Action::Save => self.pick_source(s::PICK_SAVE_SOURCE),
            Action::Restore | Action::Verify | Action::Browse => {
                self.screen = Screen::RepoPath(TextInput::default())
            }
            Action::Shell => self.exit = Some(Exit::Shell),
            Action::Reboot => self.exit = Some(Exit::Reboot),
            Action::PowerOff => self.exit = Some(Exit::PowerOff),
        }
    }

    /// Esc: one step back in the current flow.
    fn back(&mut self) {
        let action = self.flow.action;
        match (&self.screen, action) {
            (Screen::PickDisk(p), Some(Action::Clone)) if p.role == Role::Target => {
                self.pick_source(s::PICK_SOURCE)
            }
            (Screen::PickDisk(p), Some(Action::Restore)) if p.role == Role::Target => {
                let path = self
                    .flow
                    .repo
                    .as_ref()
                    .map(|r| r.0.clone())
                    .unwrap_or_default();
                self.picked_repo(path)
            }
            (Screen::RepoPath(_), Some(Action::Save)) => self.pick_source(s::PICK_SAVE_SOURCE),
            (Screen::WaitNet(WaitNet { at, .. }), _)
            | (Screen::Password(PasswordPrompt { at, .. }), _) => {
                self.screen = Screen::RepoPath(TextInput::new(at))
            }
            (Screen::ImageInfo(..), _) => {
                if let Screen::ImageInfo(_, list) =
                    std::mem::replace(&mut self.screen, Screen::Home)
                {
                    self.screen = Screen::Images(list);
                }
            }
            (Screen::Reading(_), Some(Action::Save)) => self.pick_source(s::PICK_SAVE_SOURCE),
            (Screen::Reading(_), _) => self.pick_source(s::PICK_SOURCE),
            (Screen::Images(_), _) => {
                let path = self.flow.repo.as_ref().map(|r| r.0.clone());
                self.screen = Screen::RepoPath(TextInput::new(&path.unwrap_or_default()))
            }
            (Screen::Plan(_), Some(Action::Clone)) => {
                self.flow.target = None;
                self.pick_target();
            }
            (Screen::Plan(_), Some(Action::Restore)) => {
                self.flow.target = None;
                self.pick_target();
            }
            (Screen::Plan(_), Some(Action::Save)) => {
                let path = self.flow.repo.as_ref().map(|r| r.0.clone());
                self.screen = Screen::RepoPath(TextInput::new(&path.unwrap_or_default()))
            }
            _ => {
                self.flow = Flow::default();
                self.screen = Screen::Home;
            }
        }
    }

    fn source_items(&self) -> Vec<Item> {
        self.machine
            .disks
            .iter()
            .map(|d| Item {
                disk: d.clone(),
                disabled: None,
            })
            .collect()
    }

    /// The target list for the current flow.
    fn target_items(&self) -> Vec<Item> {
        match self.flow.action {
            Some(Action::Restore) => {
                let needed = self
                    .flow
                    .image
                    .as_ref()
                    .map(|(_, m)| jobs::restore_needs(m))
                    .unwrap_or(0);
                self.targets(needed, None)
            }
            _ => {
                let needed = self
                    .flow
                    .source
                    .as_ref()
                    .map(|s| s.2.min_target_size())
                    .unwrap_or(0);
                let src = self.flow.source.as_ref().map(|s| s.0.path.as_str());
                self.targets(needed, src)
            }
        }
    }

    fn pick_source(&mut self, title: &'static str) {
        self.flow.source = None;
        self.flow.mounts.clear();
        let items = self.source_items();
        self.screen = Screen::PickDisk(PickDisk::new(Role::Source, title, items));
    }

    /// Rebuilds an open disk list after hotplug, keeping the cursor on the same disk.
    fn refresh_pick(&mut self) {
        let Screen::PickDisk(p) = &self.screen else {
            return;
        };
        let kept = p.items.get(p.sel).map(|i| i.disk.path.clone());
        let (role, title) = (p.role, p.title);
        let items = match role {
            Role::Source => self.source_items(),
            Role::Target => self.target_items(),
        };
        let mut fresh = PickDisk::new(role, title, items);
        if let Some(i) = kept.and_then(|k| fresh.items.iter().position(|i| i.disk.path == k)) {
            fresh.sel = i;
        }
        self.screen = Screen::PickDisk(fresh);
    }

    fn picked_source(&mut self, d: DiskInfo) {
        self.screen = Screen::Reading(plan::disk_text(&d));
        let tx = self.tx.clone();
        std::thread::spawn(move || {
            let _ = tx.send(Msg::Planned(Box::new(read_source(d))));
        });
    }

    fn planned(&mut self, r: Result<Source, String>) {
        if !matches!(self.screen, Screen::Reading(_)) {
            return; // the user went back meanwhile
        }
        let src = match r {
            Ok(src) => src,
            Err(e) => {
                self.back();
                return self.error(e);
            }
        };
        self.flow.mounts = src.mounts;
        self.flow.source = Some((src.disk, src.dev, src.plan));
        match self.flow.action {
            Some(Action::Save) => self.screen = Screen::RepoPath(TextInput::default()),
            _ => self.pick_target(),
        }
    }

    /// Targets with the reason each unusable one is refused.
    pub(crate) fn targets(&self, needed: u64, source: Option<&str>) -> Vec<Item> {
        self.machine
            .disks
            .iter()
            .map(|d| {
                let disabled = if Some(d.path.as_str()) == source {
                    Some(s::REASON_SOURCE.to_string())
                } else if self.machine.is_boot(d) {
                    Some(s::REASON_BOOT.to_string())
                } else if d.read_only {
                    Some(s::REASON_READ_ONLY.to_string())
                } else if d.size < needed {
                    Some(format!("{} {}", s::REASON_TOO_SMALL, hb(needed)))
                } else {
                    None
                };
                Item {
                    disk: d.clone(),
                    disabled,
                }
            })
            .collect()
    }

    fn pick_target(&mut self) {
        let items = self.target_items();
        self.screen = Screen::PickDisk(PickDisk::new(Role::Target, s::PICK_TARGET, items));
    }

    fn picked_target(&mut self, d: DiskInfo) {
        let target = match Device::open_write(std::path::Path::new(&d.path)) {
            Ok(t) => t,
            Err(e) => return self.error(format!("{}: {e}", d.path)),
        };
        match self.flow.action {
            Some(Action::Clone) => {
                let Some((sd, sdev, plan)) = &self.flow.source else {
                    return;
                };
                if let Err(e) = jobs::check_clone(sdev, plan, &target) {
                    return self.error(e);
                }
                let mut lines = plan::mounted_lines(&self.flow.mounts);
                lines.extend(plan::clone_lines(sd, &d, plan, target.size()));
                self.screen = Screen::Plan(PlanScreen::new(
                    lines,
                    Some(plan::short_name(&d.path)),
                    Some(true),
                ));
            }
            Some(Action::Restore) => {
                let (Some((repo_path, Some(repo))), Some((image, m))) =
                    (&self.flow.repo, &self.flow.image)
                else {
                    return;
                };
                if let Err(e) = jobs::check_restore(repo, Path::new(repo_path), image, m, &target) {
                    return self.error(e);
                }
                let lines =
                    plan::restore_lines(image, m, &d, target.size(), jobs::restore_needs(m));
                self.screen = Screen::Plan(PlanScreen::new(
                    lines,
                    Some(plan::short_name(&d.path)),
                    Some(true),
                ));
            }
            _ => return,
        }
        self.flow.target = Some((d, target));
    }

    /// A repository typed in: a URL first waits for the network (on the live system,
    /// while no interface has an address) and asks for the password of its user.
    fn picked_repo(&mut self, at: String) {
        if at.is_empty() {
            return;
        }
        let loc = match Location::parse(&at) {
            Ok(l) => l,
            Err(e) => return self.error(e),
        };
        if !matches!(loc, Location::Dir(_)) {
            if let Some(dir) = self.net_dir.clone() {
                if crate::net::read_state(&dir).is_some() && !crate::net::ready(&dir) {
                    return self.wait_for_network(at, loc.display(), dir);
                }
            }
        }
        self.login(at, &loc);
    }

    fn wait_for_network(&mut self, at: String, shown: String, dir: PathBuf) {
        let limit = crate::net::wait_limit();
        let w = WaitNet::new(at.clone(), shown, limit);
        let (cancel, tx) = (w.cancel.clone(), self.tx.clone());
        self.screen = Screen::WaitNet(w);
        std::thread::spawn(move || {
            let stop = || cancel.load(std::sync::atomic::Ordering::Relaxed);
            let r = crate::net::wait_ready(&dir, limit, &stop);
            let _ = tx.send(Msg::NetWaited(at, cancel, r));
        });
    }

    fn net_waited(
        &mut self,
        at: String,
        which: &std::sync::Arc<std::sync::atomic::AtomicBool>,
        r: Result<(), crate::net::WaitError>,
    ) {
        let Screen::WaitNet(w) = &self.screen else {
            return; // cancelled: the user went back
        };
        // Only this wait's answer: a wait given up on with Esc answers "cancelled" late, and
        // must not end the wait started after it for the same URL (seen under load).
        if w.at != at || !std::sync::Arc::ptr_eq(&w.cancel, which) {
            return;
        }
        let limit = w.limit.as_secs();
        match r {
            Ok(()) => match Location::parse(&at) {
                Ok(loc) => self.login(at, &loc),
                Err(e) => self.error(e),
            },
            Err(crate::net::WaitError::Cancelled) => self.back(),
            Err(_) => {
                let shown = w.shown.clone();
                self.back();
                self.error(format!(
                    "{shown}: {} {limit} s; {}",
                    s::WAITNET_TIMEOUT,
                    s::WAITNET_TIMEOUT_HINT
                ));
            }
        }
    }

    /// Asks for the password when the URL names a user and none was typed yet.
    fn login(&mut self, at: String, loc: &Location) {
        if loc.wants_password() && self.flow.creds.password.is_none() {
            self.screen = Screen::Password(PasswordPrompt::new(
                at,
                loc.display(),
                loc.user().unwrap_or_default().to_string(),
            ));
            return;
        }
        self.open_repo(at);
    }

    /// An engine error while opening: on the password prompt it stays there, with the
    /// engine's message (a wrong password says so), for another try.
    fn open_failed(&mut self, e: impl std::fmt::Display) {
        if let Screen::Password(p) = &mut self.screen {
            p.failed(e.to_string());
            self.flow.creds = Credentials::none();
            return;
        }
        self.error(e)
    }

    /// Sends `mode` to init from the network screen.
    fn net_request(&mut self, mode: wraith_live::NetMode) {
        let Screen::Network(n) = &mut self.screen else {
            return;
        };
        let Some(dir) = &self.net_dir else {
            return;
        };
        if crate::net::read_state(dir).is_none() {
            n.message = Some((NetTone::Bad, s::NET_NO_INIT.into()));
            return;
        }
        let id = crate::net::new_request_id("tui");
        match crate::net::write_request(dir, &id, &mode) {
            Ok(()) => {
                n.message = Some((NetTone::Info, format!("{} {mode}", s::NET_SENT)));
                n.pending = Some(Pending {
                    id,
                    mode,
                    answered: false,
                    sent: Instant::now(),
                });
            }
            Err(e) => {
                n.message = Some((
                    NetTone::Bad,
                    format!("{}: {e}", dir.join(crate::net::REQUEST_FILE).display()),
                ))
            }
        }
    }

    /// Opens the repository at `path` for the current flow. A directory opens at once; a
    /// URL is opened by a worker (a mount or a first request may wait for a network
    /// timeout), with the "connecting" overlay and Esc meanwhile.
    fn open_repo(&mut self, path: String) {
        let want = if self.flow.action == Some(Action::Save) {
            let Some((sd, sdev, _)) = &self.flow.source else {
                return;
            };
            let name = wraith_engine::repo::default_image_name(
                sd.model.as_deref(),
                sd.serial.as_deref(),
                sdev.path(),
            );
            if let Err(e) = repo::check_image_name(&name) {
                return self.error(e);
            }
            self.flow.name = name;
            Want::Check
        } else {
            Want::List
        };
        self.open_in_background(path, want);
    }

    fn open_in_background(&mut self, path: String, want: Want) {
        let creds = self.flow.creds.clone();
        match Location::parse(&path) {
            Ok(Location::Dir(_)) | Err(_) => {
                let r = fetch(&path, &creds, want);
                return self.opened(path, r);
            }
            Ok(loc) => {
                self.opened_seq += 1;
                self.opening = Some(Opening {
                    seq: self.opened_seq,
                    shown: loc.display(),
                    since: Instant::now(),
                    waited: 0,
                })
            }
        }
        let (tx, seq) = (self.tx.clone(), self.opened_seq);
        std::thread::spawn(move || {
            let r = fetch(&path, &creds, want);
            let _ = tx.send(Msg::Opened(seq, path, Box::new(r)));
        });
    }

    /// The repository at `at` is open (or refused): on to what the flow needs next.
    fn opened(&mut self, at: String, r: Result<Opened, String>) {
        match r {
            Err(e) => self.open_failed(e),
            Ok(Opened::Checked) => self.save_plan(at),
            Ok(Opened::Verify(repo, image)) => self.run(
                format!("{} {}", s::RUN_VERIFY, image),
                Job::Verify { repo, image },
            ),
            Ok(Opened::Listed(repo, rows)) => {
                let location = repo.location();
                self.flow.repo = Some((at, Some(repo)));
                self.screen = Screen::Images(ImageList {
                    location,
                    rows,
                    sel: 0,
                });
            }
        }
    }

    /// A save's plan screen, once the repository's location is known to be usable.
    fn save_plan(&mut self, path: String) {
        let Some((sd, _, plan)) = &self.flow.source else {
            return;
        };
        let name = self.flow.name.clone();
        let mut lines = plan::mounted_lines(&self.flow.mounts);
        lines.extend([
            (
                Tone::Head,
                format!("{}  {}", s::PLAN_SOURCE, plan::disk_text(sd)),
            ),
            (
                Tone::Head,
                format!("{}  {}", s::PLAN_REPO, shown_location(&path)),
            ),
            (Tone::Head, format!("{}  {name}", s::PLAN_IMAGE)),
        ]);
        lines.extend(plan::region_lines(&plan.regions));
        lines.push((
            Tone::Normal,
            format!(
                "reads {} of {}, {}",
                hb(plan.copy_bytes()),
                hb(plan.disk.size),
                plan::estimate(plan.copy_bytes())
            ),
        ));
        lines.extend(plan.warnings().into_iter().map(|w| (Tone::Warn, w)));
        self.flow.repo = Some((path, None));
        self.screen = Screen::Plan(PlanScreen::new(lines, None, Some(true)));
    }

    fn picked_image(&mut self, row: ImageRow) {
        match self.flow.action {
            Some(Action::Restore) => {
                let Some(m) = row.manifest else {
                    return self.error(row.source);
                };
                self.flow.image = Some((row.image, m));
                self.pick_target();
            }
            Some(Action::Verify) => self.verify(row.image),
            Some(Action::Browse) => {
                let Some(manifest) = row.manifest else {
                    return self.error(row.source);
                };
                let list = match std::mem::replace(&mut self.screen, Screen::Home) {
                    Screen::Images(l) => l,
                    _ => return,
                };
                self.screen = Screen::ImageInfo(
                    Box::new(ImageDetails {
                        image: row.image,
                        manifest,
                        scroll: 0,
                    }),
                    list,
                );
            }
            _ => {}
        }
    }

    /// Checks every chunk of `image` in the repository of the current flow.
    fn verify(&mut self, image: ImageRef) {
        let Some((path, _)) = &self.flow.repo else {
            return;
        };
        // A fresh handle for the worker: the listed one stays with the screen.
        let path = path.clone();
        self.open_in_background(path, Want::Verify(image));
    }

    fn start(&mut self) {
        let verify = match &self.screen {
            Screen::Plan(p) => p.verify == Some(true),
            _ => false,
        };
        let flow = std::mem::take(&mut self.flow);
        let job = match flow {
            Flow {
                action: Some(Action::Clone),
                source: Some((sd, source, plan)),
                target: Some((td, target)),
                ..
            } => (
                format!(
                    "{} {} -> {}",
                    s::RUN_CLONE,
                    plan::short_name(&sd.path),
                    plan::short_name(&td.path)
                ),
                Job::Clone {
                    source,
                    plan,
                    target,
                    verify,
                },
            ),
            Flow {
                action: Some(Action::Save),
                source: Some((sd, source, plan)),
                repo: Some((repo, _)),
                creds,
                name,
                ..
            } => (
                format!(
                    "{} {} -> {}",
                    s::RUN_SAVE,
                    plan::short_name(&sd.path),
                    shown_location(&repo)
                ),
                Job::Save {
                    source,
                    plan,
                    repo,
                    creds,
                    name,
                    verify,
                },
            ),
            Flow {
                action: Some(Action::Restore),
                repo: Some((_, Some(repo))),
                image: Some((image, manifest)),
                target: Some((td, target)),
                ..
            } => (
                format!(
                    "{} {image} -> {}",
                    s::RUN_RESTORE,
                    plan::short_name(&td.path)
                ),
                Job::Restore {
                    repo,
                    image,
                    manifest: Box::new(manifest),
                    target,
                    verify,
                },
            ),
            _ => {
                self.screen = Screen::Home;
                return;
            }
        };
        self.run(job.0, job.1);
    }

    fn run(&mut self, title: String, job: Job) {
        let cancel = Cancel::new();
        self.started = Instant::now();
        let mut r = RunState::new(title.clone(), job.phases(), cancel.clone());
        r.log_file = LogFile::create(self.log_dir.join(log_name()));
        r.note(title);
        self.screen = Screen::Running(r);
        jobs::spawn(job, self.tx.clone(), cancel);
    }
}

/// A location for titles and logs: a URL as the engine shows it (it never holds a password;
/// the engine refuses one in a URL), a directory as typed.
fn shown_location(at: &str) -> String {
    Location::parse(at).map_or_else(|_| at.to_string(), |l| l.display())
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

/// What a repository is opened for (see [`Opened`]).
enum Want {
    Check,
    List,
    Verify(ImageRef),
}

/// The blocking part of opening a repository: mount or first request, the image list and
/// every manifest. Runs on a worker for network locations.
fn fetch(path: &str, creds: &Credentials, want: Want) -> Result<Opened, String> {
    match want {
        // A share is logged into now, so a wrong password is told before the plan; a
        // repository that does not exist yet is fine (the save creates it).
        Want::Check => match Location::parse(path) {
            Ok(Location::Dir(_)) => Ok(Opened::Checked),
            _ => match Repository::open_url(path, creds, false) {
                Ok(_) | Err(wraith_engine::Error::NotFound { .. }) => Ok(Opened::Checked),
                Err(e) => Err(e.to_string()),
            },
        },
        Want::Verify(image) => Repository::open_url(path, creds, false)
            .map(|repo| Opened::Verify(repo, image))
            .map_err(|e| e.to_string()),
        Want::List => {
            let repo = Repository::open_url(path, creds, false).map_err(|e| e.to_string())?;
            let images = repo.images().map_err(|e| e.to_string())?;
            let rows = images
                .into_iter()
                .map(|image| match repo.load_manifest(&image) {
                    Ok(m) => ImageRow {
                        image,
                        saved: repo::timestamp_text(m.created),
                        source: m.source.describe(),
                        size: m.stats.image_bytes,
                        stored: m.stats.stored_bytes,
                        manifest: Some(m),
                    },
                    Err(e) => ImageRow {
                        image,
                        saved: String::new(),
                        source: format!("DAMAGED: {e}"),
                        size: 0,
                        stored: 0,
                        manifest: None,
                    },
                })
                .collect();
            Ok(Opened::Listed(repo, rows))
        }
    }
}

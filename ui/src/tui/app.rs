//! The application state machine: one `Msg` in, state changes, maybe a job started. Drawing is
//! elsewhere and only reads this state.
//!
//! This file keeps what the loop sees: the messages, the screens, the flow chosen so far, and
//! the dispatch of a key to the current screen. Each screen's own file reads its keys into an
//! action (as `network.rs` does) and holds the transitions that action leads to.

use super::advice::ErrorPopup;
use super::confirm::TextInput;
use super::help::Help;
use super::home::{self, HomeKey};
use super::image::{DetailsKey, ImageDetails};
use super::input::is_ctrl;
use super::machine::Machine;
use super::menu::{self, Action, MenuKey};
use super::network::{NetAction, NetScreen};
use super::opening::{Opened, Opening};
use super::pick_disk::{PickDisk, PickKey, Role};
use super::plan::{PlanKey, PlanScreen};
use super::prepare::{Prepared, Preparing};
use super::reading::{self, ReadingKey, Source};
use super::remember::RememberAsk;
use super::repo::{ImageKey, ImageList, PasswordKey, PasswordPrompt, RepoKey, WaitKey, WaitNet};
use super::repos::{Finder, Finding, Found, FoundCache, RepoList, StickDir};
use super::running::RunState;
use super::save_log::{LogPick, LogPickKey};
use super::strings as s;
use super::summary::{Summary, SummaryKey};
use crossterm::event::{KeyCode, KeyEvent};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Instant;
use wraith_engine::disks::DiskInfo;
use wraith_engine::events::Event;
use wraith_engine::machine::MachineIdentity;
use wraith_engine::ops::repository::Resolved;
use wraith_engine::ops::{CheckedPlan, Report};
use wraith_engine::repo::{manifest::Manifest, Credentials, ImageRef, Repository};
use wraith_engine::Interlock;

/// Everything the loop reacts to.
pub enum Msg {
    Key(KeyEvent),
    /// From the worker running a job.
    Engine(Event),
    /// Repaint the clocks of a running job.
    Tick,
    /// Hotplug: the disks as they are now (a disk came or went).
    Disks(Vec<DiskInfo>),
    /// Hotplug: the disks holding a Wraith medium now. The UI starts before a late USB boot
    /// stick has appeared; it must be marked (and not offered as a target) once it does.
    BootMedia(Vec<String>),
    /// The worker reading the source disk is done.
    Planned(Box<wraith_engine::Result<Source>>),
    /// The worker's job ended.
    Done(Outcome),
    /// The worker preparing the chosen job (the engine's `prepare_*`) is done: a checked plan
    /// or why not.
    Prepared {
        /// Which preparation ([`Preparing::seq`]): one given up on answers too, and is dropped.
        seq: u64,
        result: Box<wraith_engine::Result<Prepared>>,
    },
    /// The wait for a network address before opening the repository `at` ended.
    NetWaited {
        at: String,
        /// That wait's cancel flag: tells its answer from an earlier wait for the same URL.
        wait: Arc<AtomicBool>,
        result: Result<(), crate::net::WaitError>,
    },
    /// The worker opening the repository `at` is done.
    Opened {
        /// Which opening ([`Opening::seq`]): one given up on answers too, and is dropped.
        seq: u64,
        at: String,
        result: Box<wraith_engine::Result<Opened>>,
    },
    /// A look for repositories (the repository list's worker) is done.
    Found {
        /// Which look ([`Finding::seq`]): a stale one's answer is dropped.
        seq: u64,
        found: Box<Found>,
    },
    /// A write to the list of known repositories on the stick is done: what to say.
    StickWritten {
        /// The location forgotten, when it was a forget.
        forgot: Option<String>,
        result: Result<String, String>,
    },
    /// The worker copying the job's log file `log` to another disk is done: the line that
    /// says where the copy is, or why there is none.
    LogSaved {
        log: PathBuf,
        result: Result<String, String>,
    },
    /// Browse's worker answered: partitions, a directory, or how the copy goes.
    Browse(Box<super::browse::Reply>),
}

/// How a job on the worker ended.
#[derive(Debug)]
pub enum Outcome {
    /// It ran to its end: the engine's report says whether it is done, partial (source bytes
    /// stayed unreadable) or found a mismatch.
    Finished(Box<Report>),
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
    /// What failed, the engine's words, the next step (and its key).
    Error(Box<ErrorPopup>),
    /// The engine refused the job: which rule, and its message (the words the CLI prints
    /// after "refused: ").
    Refused {
        interlock: Interlock,
        message: String,
    },
    /// "Remember this share on the stick?", once a share opened.
    Remember(RememberAsk),
    /// The keyboard layouts to choose from.
    Keymap(super::keyboard::KeymapPick),
}

pub enum Screen {
    Home,
    PickDisk(PickDisk),
    /// The repositories found, known, or to make, and typing one.
    Repos(Box<RepoList>),
    /// A repository typed in.
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
    /// Where to copy the log of the job just summarised.
    SaveLog(Box<LogPick>),
    Network(Box<NetScreen>),
    /// An image's files: its partitions, a directory, where to copy, the copy.
    Browse(Box<super::browse::Browse>),
}

/// The repository of the current flow.
pub struct ChosenRepo {
    /// As typed or chosen: a directory, `label:NAME/dir`, or a URL without password.
    pub at: String,
    /// The handle, once opened for its image list (a save's plan opens it itself).
    pub open: Option<Arc<Repository>>,
    /// Keeps a drive named by label or UUID mounted while the flow uses it; the job's worker
    /// takes it, so the drive stays mounted until the job ends.
    pub mount: Option<Resolved>,
}

/// The image a restore writes.
pub struct ChosenImage {
    pub image: ImageRef,
    pub manifest: Manifest,
}

/// What the user chose so far in the current flow.
#[derive(Default)]
pub struct Flow {
    pub action: Option<Action>,
    /// With its plan (the target list greys disks too small for it).
    pub source: Option<Source>,
    pub repo: Option<ChosenRepo>,
    /// The login for a repository URL: kept in memory for this flow only (a save's
    /// preparation opens the repository with it), never written anywhere.
    pub creds: Credentials,
    pub image: Option<ChosenImage>,
    /// The disk a clone or restore writes, as its list shows it.
    pub target: Option<DiskInfo>,
    /// The engine's checked plan on the plan screen: what Enter runs.
    pub plan: Option<CheckedPlan>,
    /// `REPO:NAME[@ID]` typed in the repository field: the name a save stores its image
    /// under, or the image a restore or verify starts on in the list.
    pub wanted: Option<(String, Option<String>)>,
    /// The repository was typed (Esc goes back to the field), not chosen from the list.
    pub typed: bool,
    /// The repository was a known one (it is not offered to be remembered again).
    pub from_known: bool,
    /// The whole disk holding the repository, when it was found on one: never this
    /// machine's disk to match an image with, nor a target.
    pub repo_disk: Option<String>,
    /// The image list as it was when an image was taken: Esc on the target list.
    pub images: Option<ImageList>,
    /// The layout policy a clone or restore is planned with (F2 on the plan changes it).
    pub layout: wraith_engine::layout::Policy,
    /// The name a restore gives the machine afterwards (F3 on the plan).
    pub hostname: Option<String>,
    /// A save's compression (F2 on its plan); None: the repository's default.
    pub compression: Option<wraith_engine::repo::Compression>,
}

impl Flow {
    /// The repository as typed or chosen, or "" before one was.
    pub fn repo_at(&self) -> String {
        self.repo.as_ref().map(|r| r.at.clone()).unwrap_or_default()
    }
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
    /// The summary offers to copy the log to another disk: on the live system, whose /tmp is
    /// in memory and gone at power-off. Off elsewhere (a host keeps its files).
    pub offer_log_save: bool,
    /// Where to learn what is mounted (for the places a log can be copied to); tests point it
    /// at a file of their own.
    pub mountinfo: PathBuf,
    /// wraith-init's network state directory (net.json, net-ready, requests); None: never
    /// look (a host, and the tests that do not show the network).
    pub net_dir: Option<PathBuf>,
    /// Uptime seconds to show lease times against; None reads /proc/uptime (tests fix it).
    pub clock: Option<f64>,
    /// A repository being opened in the background; drawn over the screen it started from.
    pub opening: Option<Opening>,
    /// A job being prepared (checked) in the background; drawn over the screen it started from.
    pub preparing: Option<Preparing>,
    /// Numbers the background openings, preparations and looks, so a late answer is told
    /// apart.
    pub(super) seq: u64,
    /// How the repository list looks for repositories; [`Finder::nothing`] until the front
    /// end sets the system's (tests set their own).
    pub finder: Finder,
    /// The look running on a worker, if one is.
    pub(super) finding: Option<Finding>,
    /// The last look's answer, shown again when the technician comes back to the list in the
    /// same flow.
    pub(super) found_cache: Option<FoundCache>,
    /// Where remembered shares are kept, once a look found it (kept mounted on the stick).
    pub stick: Option<StickDir>,
    /// This machine as its firmware names it (read once at start): the image list prefers
    /// images saved on it. None in tests unless set.
    pub this_machine: Option<MachineIdentity>,
    /// The keys of the screen in front, shown over everything until a key closes them.
    pub help: Option<Help>,
    /// One line said over the bottom of the screen until the next key ("Remembered ...").
    pub note: Option<String>,
    /// Locations already offered to be remembered this session: asked once.
    pub(super) remember_asked: Vec<String>,
    /// What the running preparation checks, for its error popup.
    pub(super) preparing_what: Option<String>,
    /// The repository URL to go back to when the network screen was opened from the wait
    /// for the network.
    pub(super) after_network: Option<String>,
    pub(super) tx: Sender<Msg>,
    /// When the running job started: its clock.
    pub(super) started: Instant,
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
            offer_log_save: false,
            mountinfo: PathBuf::from("/proc/self/mountinfo"),
            net_dir: None,
            clock: None,
            opening: None,
            preparing: None,
            seq: 0,
            finder: Finder::nothing(),
            finding: None,
            found_cache: None,
            stick: None,
            this_machine: None,
            help: None,
            note: None,
            remember_asked: Vec::new(),
            preparing_what: None,
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
                self.refresh_log_places();
                self.refresh_browse_places();
                self.disks_changed();
            }
            Msg::BootMedia(b) => {
                if b != self.machine.boot {
                    self.repaint = true;
                    self.machine.boot = b;
                    self.refresh_pick();
                    // What a look skips on the boot medium depends on which disk it is.
                    if matches!(self.screen, Screen::Repos(_)) {
                        self.look();
                    }
                }
            }
            Msg::Found { seq, found } => self.found(seq, *found),
            Msg::StickWritten { forgot, result } => self.stick_written(forgot, result),
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
            Msg::NetWaited { at, wait, result } => self.net_waited(at, &wait, result),
            Msg::Opened { seq, at, result } => {
                if self.opening.as_ref().is_some_and(|o| o.seq == seq) {
                    self.opening = None;
                    self.opened(at, *result);
                }
                // Otherwise given up on with Esc: dropped (and any share it mounted with it).
            }
            Msg::Prepared { seq, result } => {
                if self.preparing.as_ref().is_some_and(|p| p.seq == seq) {
                    self.preparing = None;
                    self.prepared(*result);
                }
                // Otherwise given up on with Esc: dropped, and the plan with it (nothing ran).
            }
            Msg::LogSaved { log, result } => self.log_saved(log, result),
            Msg::Browse(r) => {
                if let Screen::Browse(b) = &mut self.screen {
                    b.reply(*r);
                }
                // Otherwise Browse was left: the answer is dropped.
            }
            Msg::Key(k) => {
                // Ctrl-L: the terminal convention for "the screen is garbled, draw it again".
                if is_ctrl(&k, 'l') {
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
        if let Some(p) = &mut self.preparing {
            p.waited = p.since.elapsed().as_secs();
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

    /// Hands the key to the popup or the screen in front, and does what it asks.
    fn key(&mut self, k: KeyEvent) {
        // The help closes on any key, and that key does nothing else.
        if self.help.take().is_some() {
            return;
        }
        self.note = None;
        // An error or a refusal closes on any key, or takes its next step.
        match self.popup.take() {
            Some(Popup::Error(e)) => {
                let c = match k.code {
                    KeyCode::Char(c) => Some(c),
                    _ => None,
                };
                return self.error_key(*e, c);
            }
            Some(Popup::Refused { .. }) => return,
            other => self.popup = other,
        }
        if self.is_help_key(&k) {
            self.help = Some(self.keys_help());
            return;
        }
        if self.opening.is_some() || self.preparing.is_some() {
            // Only "stop waiting": the worker's answer is dropped when it comes.
            if k.code == KeyCode::Esc || is_ctrl(&k, 'c') {
                self.opening = None;
                self.preparing = None;
            }
            return;
        }
        match &mut self.popup {
            Some(Popup::Remember(ask)) => {
                let r = ask.key(&k);
                self.remember_key(r);
                return;
            }
            Some(Popup::Keymap(_)) => return self.keymap_key(&k),
            Some(Popup::Menu(sel)) => {
                match menu::key(sel, &k) {
                    MenuKey::None => {}
                    MenuKey::Close => self.popup = None,
                    MenuKey::Chose(a) => {
                        self.popup = None;
                        self.choose(a);
                    }
                }
                return;
            }
            _ => {}
        }
        match &mut self.screen {
            Screen::Home => match home::key(&k) {
                HomeKey::None => {}
                HomeKey::Menu => self.popup = Some(Popup::Menu(0)),
                HomeKey::Start(a) => self.choose(a),
                HomeKey::Network => self.open_network(),
                HomeKey::Keyboard => self.pick_keymap(),
                HomeKey::Quit => self.exit = Some(Exit::Quit),
            },
            Screen::PickDisk(p) => match p.key(&k) {
                PickKey::None => {}
                PickKey::Back => self.back(),
                PickKey::Source(d) => self.picked_source(d),
                PickKey::Target(d) => self.picked_target(d),
            },
            Screen::Repos(l) => {
                let r = l.key(&k);
                self.repos_key(r)
            }
            Screen::RepoPath(input) => match super::repo::path_key(input, &k) {
                RepoKey::None => {}
                RepoKey::Back => self.back(),
                RepoKey::Typed(at) => self.typed_repo(at),
            },
            Screen::WaitNet(w) => match w.key(&k) {
                WaitKey::None => {}
                WaitKey::Back => self.back(),
                WaitKey::Network { at } => {
                    // No DHCP here: straight to the network screen, and back to the URL after.
                    self.after_network = Some(at);
                    self.open_network();
                }
            },
            Screen::Password(p) => match p.key(&k) {
                PasswordKey::None => {}
                PasswordKey::Back => self.back(),
                PasswordKey::Typed { at, password } => {
                    self.flow.creds = Credentials::new(None, Some(password));
                    self.open_repo(at);
                }
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
            Screen::Images(l) => match l.key(&k) {
                ImageKey::None => {}
                ImageKey::Back => self.back(),
                ImageKey::Chosen(row) => self.picked_image(*row),
            },
            Screen::ImageInfo(d, _) => match d.key(&k) {
                DetailsKey::None => {}
                DetailsKey::Back => self.back(),
                DetailsKey::Verify(image) => self.verify(image),
                DetailsKey::Browse => self.browse(),
            },
            Screen::Reading(_) => match reading::key(&k) {
                ReadingKey::None => {}
                // The worker's answer is dropped when it finds another screen.
                ReadingKey::Back => self.back(),
            },
            Screen::Plan(p) => match p.key(&k) {
                PlanKey::None => {}
                PlanKey::Back => self.back(),
                PlanKey::Start { verify } => self.start(verify),
                PlanKey::Layout => self.next_layout(),
                PlanKey::Name(name) => self.rename(name),
                PlanKey::Compression => self.next_compression(),
            },
            Screen::Running(r) => r.key(&k),
            Screen::Summary(sm) => match sm.key(&k) {
                SummaryKey::None => {}
                SummaryKey::Home => self.screen = Screen::Home,
                SummaryKey::SaveLog => self.pick_log_place(),
            },
            Screen::SaveLog(p) => match p.key(&k) {
                LogPickKey::None => {}
                LogPickKey::Back => self.back(),
                LogPickKey::Save(place) => self.save_log(place),
            },
            Screen::Browse(_) => self.browse_key(&k),
        }
    }

    pub(super) fn open_network(&mut self) {
        self.screen = Screen::Network(Box::default());
        self.refresh_net();
    }

    /// Esc: one step back in the current flow.
    pub(super) fn back(&mut self) {
        let action = self.flow.action;
        // Whatever screen is left, a plan shown on it is no longer the one to run.
        self.flow.plan = None;
        match (&self.screen, action) {
            (Screen::PickDisk(p), Some(Action::Clone)) if p.role == Role::Target => {
                self.pick_source(s::PICK_SOURCE)
            }
            (Screen::PickDisk(p), Some(Action::Restore)) if p.role == Role::Target => {
                match self.flow.images.take() {
                    Some(list) => self.screen = Screen::Images(list),
                    None => {
                        let at = self.flow.repo_at();
                        self.picked_repo(at)
                    }
                }
            }
            (Screen::Repos(_), Some(Action::Save)) => self.pick_source(s::PICK_SAVE_SOURCE),
            (Screen::RepoPath(_), _) => self.choose_repo(),
            (Screen::WaitNet(WaitNet { at, .. }), _)
            | (Screen::Password(PasswordPrompt { at, .. }), _) => {
                let at = at.clone();
                self.back_from_repo(at)
            }
            (Screen::ImageInfo(..), _) => {
                if let Screen::ImageInfo(_, list) =
                    std::mem::replace(&mut self.screen, Screen::Home)
                {
                    self.screen = Screen::Images(list);
                }
            }
            (Screen::SaveLog(_), _) => {
                if let Screen::SaveLog(p) = std::mem::replace(&mut self.screen, Screen::Home) {
                    self.screen = Screen::Summary(p.summary);
                }
            }
            (Screen::Reading(_), Some(Action::Save)) => self.pick_source(s::PICK_SAVE_SOURCE),
            (Screen::Reading(_), _) => self.pick_source(s::PICK_SOURCE),
            (Screen::Images(_), _) => self.back_from_repo(self.flow.repo_at()),
            (Screen::Plan(_), Some(Action::Clone | Action::Restore)) => {
                self.flow.target = None;
                self.flow.layout = Default::default();
                self.pick_target();
            }
            (Screen::Plan(_), Some(Action::Save)) => self.back_from_repo(self.flow.repo_at()),
            _ => {
                self.flow = Flow::default();
                self.screen = Screen::Home;
            }
        }
    }

    /// Back from a repository being opened, or opened: to the field it was typed in, else to
    /// the list it was chosen from.
    fn back_from_repo(&mut self, at: String) {
        if self.flow.typed {
            self.screen = Screen::RepoPath(TextInput::new(&at));
        } else {
            self.choose_repo();
        }
    }
}

//! The application state machine: one `Msg` in, state changes, maybe a job started. Drawing is
//! elsewhere and only reads this state.

use super::confirm::TextInput;
use super::jobs::{self, Job};
use super::machine::Machine;
use super::menu::{Action, ACTIONS};
use super::pick_disk::{Item, PickDisk, Role};
use super::plan::{self, PlanScreen, Tone};
use super::repo::{ImageList, ImageRow};
use super::running::RunState;
use super::strings as s;
use super::summary::{self, Summary};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::time::Instant;
use wraith_engine::device::{Device, ReadAt};
use wraith_engine::disks::DiskInfo;
use wraith_engine::events::{Cancel, Event};
use wraith_engine::human_bytes as hb;
use wraith_engine::plan::Plan;
use wraith_engine::repo::{self, manifest::Manifest, ImageRef, Repository};

/// Everything the loop reacts to.
pub enum Msg {
    Key(KeyEvent),
    Engine(Event),
    Tick,
    Disks(Vec<DiskInfo>),
    /// The worker's job ended.
    Done(Outcome),
}

#[derive(Debug)]
pub enum Outcome {
    Ok(Vec<String>),
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
            (Exit::Shell, true) => 102,
            (Exit::Reboot, true) => 101,
            (Exit::PowerOff, true) => 100,
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
    Images(ImageList),
    Plan(PlanScreen),
    Running(RunState),
    Summary(Summary),
}

/// What the user chose so far in the current flow.
#[derive(Default)]
pub struct Flow {
    pub action: Option<Action>,
    pub source: Option<(DiskInfo, Device, Plan)>,
    pub repo: Option<(PathBuf, Option<Repository>)>,
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
            tx,
            started: Instant::now(),
        }
    }

    pub fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Tick => self.tick(),
            Msg::Disks(d) => self.machine.disks = d,
            Msg::Engine(ev) => {
                self.tick();
                if let Screen::Running(r) = &mut self.screen {
                    r.apply(ev);
                }
            }
            Msg::Done(o) => self.finished(o),
            Msg::Key(k) => self.key(k),
        }
    }

    fn tick(&mut self) {
        if let Screen::Running(r) = &mut self.screen {
            r.elapsed = self.started.elapsed();
        }
    }

    fn finished(&mut self, o: Outcome) {
        let Screen::Running(r) = &self.screen else {
            return;
        };
        let title = r.title.clone();
        let took = format!("took {}", plan::duration_text(r.elapsed.as_secs()));
        let (result, mut lines) = match o {
            Outcome::Ok(l) => (summary::Result::Ok, l),
            Outcome::Failed(e) => (
                summary::Result::Failed,
                e.lines().map(String::from).collect(),
            ),
            Outcome::Cancelled => (summary::Result::Cancelled, Vec::new()),
        };
        lines.push(took);
        let warnings: Vec<String> = r
            .log
            .iter()
            .filter(|l| l.starts_with("warning"))
            .cloned()
            .collect();
        lines.extend(warnings);
        self.flow = Flow::default();
        self.screen = Screen::Summary(Summary {
            title,
            result,
            lines,
        });
    }

    fn error(&mut self, e: impl std::fmt::Display) {
        self.popup = Some(Popup::Error(err_text(e)));
    }

    fn key(&mut self, k: KeyEvent) {
        let ctrl_c = k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
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
                    let path = PathBuf::from(input.value.trim());
                    self.picked_repo(path);
                }
                _ => {
                    input.key(&k);
                }
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
            Screen::Plan(p) => match k.code {
                KeyCode::Esc => self.back(),
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
            (Screen::Images(_), _) => {
                let path = self.flow.repo.as_ref().map(|r| r.0.display().to_string());
                self.screen = Screen::RepoPath(TextInput::new(&path.unwrap_or_default()))
            }
            (Screen::Plan(_), Some(Action::Clone)) => {
                self.flow.target = None;
                if let Some(src) = self.flow.source.as_ref().map(|s| s.0.clone()) {
                    self.pick_target_for(&src);
                }
            }
            (Screen::Plan(_), Some(Action::Restore)) => {
                self.flow.target = None;
                self.pick_restore_target();
            }
            (Screen::Plan(_), Some(Action::Save)) => {
                let path = self.flow.repo.as_ref().map(|r| r.0.display().to_string());
                self.screen = Screen::RepoPath(TextInput::new(&path.unwrap_or_default()))
            }
            _ => {
                self.flow = Flow::default();
                self.screen = Screen::Home;
            }
        }
    }

    fn pick_source(&mut self, title: &'static str) {
        self.flow.source = None;
        let items = self
            .machine
            .disks
            .iter()
            .map(|d| Item {
                disk: d.clone(),
                disabled: None,
            })
            .collect();
        self.screen = Screen::PickDisk(PickDisk::new(Role::Source, title, items));
    }

    fn picked_source(&mut self, d: DiskInfo) {
        let opened = Device::open_read(std::path::Path::new(&d.path)).and_then(|dev| {
            let plan = wraith_engine::plan::plan(&dev, dev.identity.clone())?;
            Ok((dev, plan))
        });
        let (dev, plan) = match opened {
            Ok(x) => x,
            Err(e) => return self.error(format!("{}: {e}", d.path)),
        };
        self.flow.source = Some((d.clone(), dev, plan));
        match self.flow.action {
            Some(Action::Save) => self.screen = Screen::RepoPath(TextInput::default()),
            _ => self.pick_target_for(&d),
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

    fn pick_target_for(&mut self, src: &DiskInfo) {
        let needed = self
            .flow
            .source
            .as_ref()
            .map(|s| s.2.min_target_size())
            .unwrap_or(0);
        let items = self.targets(needed, Some(&src.path));
        self.screen = Screen::PickDisk(PickDisk::new(Role::Target, s::PICK_TARGET, items));
    }

    fn pick_restore_target(&mut self) {
        let needed = self
            .flow
            .image
            .as_ref()
            .map(|(_, m)| jobs::restore_needs(m))
            .unwrap_or(0);
        let items = self.targets(needed, None);
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
                let lines = plan::clone_lines(sd, &d, plan, target.size());
                self.screen = Screen::Plan(PlanScreen {
                    lines,
                    confirm: Some(plan::short_name(&d.path)),
                    input: TextInput::default(),
                });
            }
            Some(Action::Restore) => {
                let (Some((repo_path, Some(repo))), Some((image, m))) =
                    (&self.flow.repo, &self.flow.image)
                else {
                    return;
                };
                if let Err(e) = jobs::check_restore(repo, repo_path, image, m, &target) {
                    return self.error(e);
                }
                let mut lines = vec![
                    (Tone::Head, format!("{} {image}", s::PLAN_IMAGE)),
                    (
                        Tone::Head,
                        format!(
                            "        saved {} from {}",
                            repo::timestamp_text(m.created),
                            m.source.describe()
                        ),
                    ),
                    (
                        Tone::Danger,
                        format!("{}  {}", s::PLAN_TARGET, plan::disk_text(&d)),
                    ),
                ];
                lines.extend(plan::destroyed(&d));
                let regions: Vec<_> = m.regions.iter().map(|r| r.region.clone()).collect();
                lines.extend(plan::region_lines(&regions));
                lines.push(plan::fit_line(target.size(), jobs::restore_needs(m)));
                lines.push((
                    Tone::Normal,
                    format!(
                        "writes {}, {}",
                        hb(m.stats.image_bytes),
                        plan::estimate(m.stats.image_bytes)
                    ),
                ));
                self.screen = Screen::Plan(PlanScreen {
                    lines,
                    confirm: Some(plan::short_name(&d.path)),
                    input: TextInput::default(),
                });
            }
            _ => return,
        }
        self.flow.target = Some((d, target));
    }

    fn picked_repo(&mut self, path: PathBuf) {
        if path.as_os_str().is_empty() {
            return;
        }
        if self.flow.action == Some(Action::Save) {
            let Some((sd, sdev, plan)) = &self.flow.source else {
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
            let mut lines = vec![
                (
                    Tone::Head,
                    format!("{}  {}", s::PLAN_SOURCE, plan::disk_text(sd)),
                ),
                (Tone::Head, format!("{}  {}", s::PLAN_REPO, path.display())),
                (Tone::Head, format!("{}  {name}", s::PLAN_IMAGE)),
            ];
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
            self.flow.name = name;
            self.flow.repo = Some((path, None));
            self.screen = Screen::Plan(PlanScreen {
                lines,
                confirm: None,
                input: TextInput::default(),
            });
            return;
        }
        let opened = Repository::open(&path).and_then(|r| {
            let images = r.images()?;
            Ok((r, images))
        });
        let (repo, images) = match opened {
            Ok(x) => x,
            Err(e) => return self.error(e),
        };
        let rows = images
            .into_iter()
            .map(|image| match repo.load_manifest(&image) {
                Ok(m) => ImageRow {
                    image,
                    saved: repo::timestamp_text(m.created),
                    source: m.source.describe(),
                    size: m.stats.image_bytes,
                    manifest: Some(m),
                },
                Err(e) => ImageRow {
                    image,
                    saved: String::new(),
                    source: format!("DAMAGED: {e}"),
                    size: 0,
                    manifest: None,
                },
            })
            .collect();
        let location = repo.location();
        self.flow.repo = Some((path, Some(repo)));
        self.screen = Screen::Images(ImageList {
            location,
            rows,
            sel: 0,
        });
    }

    fn picked_image(&mut self, row: ImageRow) {
        match self.flow.action {
            Some(Action::Restore) => {
                let Some(m) = row.manifest else {
                    return self.error(row.source);
                };
                self.flow.image = Some((row.image, m));
                self.pick_restore_target();
            }
            Some(Action::Verify) => {
                let Some((path, _)) = &self.flow.repo else {
                    return;
                };
                // A fresh handle for the worker: the listed one stays with the screen.
                match Repository::open(path) {
                    Ok(repo) => self.run(
                        format!("{} {}", s::RUN_VERIFY, row.image),
                        Job::Verify {
                            repo,
                            image: row.image,
                        },
                    ),
                    Err(e) => self.error(e),
                }
            }
            _ => {}
        }
    }

    fn start(&mut self) {
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
                },
            ),
            Flow {
                action: Some(Action::Save),
                source: Some((sd, source, plan)),
                repo: Some((repo, _)),
                name,
                ..
            } => (
                format!(
                    "{} {} -> {}",
                    s::RUN_SAVE,
                    plan::short_name(&sd.path),
                    repo.display()
                ),
                Job::Save {
                    source,
                    plan,
                    repo,
                    name,
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
        self.screen = Screen::Running(RunState::new(title, cancel.clone()));
        jobs::spawn(job, self.tx.clone(), cancel);
    }
}

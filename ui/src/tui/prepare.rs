//! Preparing a job: the engine's `prepare_*` turn what the user chose into a checked plan
//! (every interlock applied) or a refusal. That reads disks and may wait on a server (a
//! restore checks every pack of the image is there), so it runs on a worker while a
//! "Preparing" overlay counts the seconds and Esc gives up; a late answer is dropped by its
//! sequence number. The TUI decides no safety rule itself: it shows what the engine says.
//!
//! A save into a location on a drive named by its label (`label:IMAGES/lab`) has it mounted
//! here, on the worker, and the mount comes back with the plan to live as long as the job.

use super::app::{App, Msg, Screen};
use super::menu::Action;
use super::strings as s;
use std::time::Instant;
use wraith_engine::disks::DiskInfo;
use wraith_engine::ops::repository::{self, Resolved};
use wraith_engine::ops::{self, CheckedPlan, CloneChoice, RestoreChoice, SaveChoice, VerifyChoice};
use wraith_engine::Error;

/// What the user chose, as the engine takes it.
pub enum Choice {
    Clone(CloneChoice),
    /// With the disks to find a `label:`/`uuid:` repository on.
    Save(SaveChoice, Vec<DiskInfo>),
    Restore(RestoreChoice),
    Verify(VerifyChoice),
}

/// A checked plan, and the mount that reaches a save's repository (None for the others: their
/// repository was opened, and its mount kept, before).
pub struct Prepared {
    pub plan: CheckedPlan,
    pub mount: Option<Resolved>,
}

impl Choice {
    /// The engine's checks and plan: the blocking part, for the worker.
    fn prepare(self) -> wraith_engine::Result<Prepared> {
        let (plan, mount) = match self {
            Choice::Clone(c) => (ops::prepare_clone(&c)?, None),
            Choice::Save(mut c, disks) => {
                let mount = repository::resolve(&c.repository, &disks)?;
                c.repository = mount.at.clone();
                (ops::prepare_save(&c)?, Some(mount))
            }
            Choice::Restore(c) => (ops::prepare_restore(&c)?, None),
            Choice::Verify(c) => (ops::prepare_verify(&c)?, None),
        };
        Ok(Prepared { plan, mount })
    }
}

/// A job being prepared by a worker, drawn over the screen it was chosen on.
pub struct Preparing {
    /// Tells this preparation's answer from one given up on earlier.
    pub seq: u64,
    /// What is prepared ("clone sda -> sdb").
    pub what: String,
    pub since: Instant,
    /// Whole seconds waited, as last ticked (drawn; tests set `since` to move it).
    pub waited: u64,
}

impl App {
    /// Hands `choice` to the engine on a worker; the answer comes back as `Msg::Prepared`.
    pub(super) fn prepare(&mut self, what: String, choice: Choice) {
        self.seq += 1;
        self.preparing_what = Some(what.clone());
        self.preparing = Some(Preparing {
            seq: self.seq,
            what,
            since: Instant::now(),
            waited: 0,
        });
        let (tx, seq) = (self.tx.clone(), self.seq);
        std::thread::spawn(move || {
            let result = Box::new(choice.prepare());
            let _ = tx.send(Msg::Prepared { seq, result });
        });
    }

    /// The engine's answer: a verify (which writes nothing) starts at once, as it always did;
    /// any other plan is shown to confirm. A refusal stays on the screen it was chosen on.
    pub(super) fn prepared(&mut self, r: wraith_engine::Result<Prepared>) {
        match r {
            Ok(Prepared { plan, mount }) => {
                if let (Some(m), Some(repo)) = (mount, &mut self.flow.repo) {
                    repo.mount = Some(m);
                }
                if plan.summary().action == wraith_engine::job::Action::Verify {
                    return self.run(plan);
                }
                let save = plan.summary().action == wraith_engine::job::Action::Save;
                self.show_plan(plan);
                if save {
                    self.offer_remember();
                }
            }
            Err(e) => self.not_prepared(e),
        }
    }

    /// A refusal names its rule and the engine's words; a save's share that cannot be opened
    /// is said as opening it (a refused login on the password prompt stays there for another
    /// try); anything else names what was being checked, and for a save the next step is
    /// about its repository.
    fn not_prepared(&mut self, e: Error) {
        let what = format!(
            "{} {}",
            s::ERR_PREPARE,
            self.preparing_what.take().unwrap_or_default()
        );
        match (&e, self.flow.action) {
            (Error::Refused { .. }, _) => self.failed(what, e, None),
            (_, Some(Action::Save)) => {
                let at = self.flow.repo_at();
                if e.net_cause().is_some() || matches!(self.screen, Screen::Password(_)) {
                    return self.open_failed(&at, e);
                }
                self.failed(what, e, Some(&at))
            }
            _ => self.failed(what, e, None),
        }
    }

    /// Prepares the save of the flow's source into the repository `at` (typed, and logged
    /// into when it is a share). The engine refuses a repository on the disk being saved.
    pub(super) fn prepare_save(&mut self, at: String) {
        let Some(src) = &self.flow.source else {
            return;
        };
        // As typed (REPO:NAME), else named after the disk as its list shows it (model and
        // serial), as before the plan.
        let name = match &self.flow.wanted {
            Some((name, _)) => name.clone(),
            None => wraith_engine::repo::default_image_name(
                src.disk.model.as_deref(),
                src.disk.serial.as_deref(),
                std::path::Path::new(&src.disk.path),
            ),
        };
        let what = format!(
            "{} {} -> {}",
            s::RUN_SAVE,
            super::plan::short_name(&src.disk.path),
            super::opening::shown_location(&at)
        );
        let choice = Choice::Save(
            SaveChoice {
                source: src.disk.path.clone().into(),
                repository: at.clone(),
                credentials: self.flow.creds.clone(),
                name: Some(name),
                verify: true,
                // Forensic acquisition is a command-line choice (`save --all-sectors`).
                all_sectors: false,
                compression: self.flow.compression,
            },
            self.machine.disks.clone(),
        );
        self.flow.repo = Some(super::app::ChosenRepo {
            at,
            open: None,
            mount: None,
        });
        self.prepare(what, choice);
    }

    /// Prepares the clone or restore of the flow onto the target `d` picked from the list.
    pub(super) fn prepare_onto(&mut self, d: wraith_engine::disks::DiskInfo) {
        let target = std::path::PathBuf::from(&d.path);
        let short = super::plan::short_name(&d.path);
        let layout = wraith_engine::ops::LayoutChoice {
            policy: self.flow.layout,
            ..Default::default()
        };
        // A failing target is planned, not refused: the plan says so and asks for a second
        // typed word ("sdb failing") before it starts (`show_plan`).
        let accept_failing_target = true;
        let (what, choice) = match self.flow.action {
            Some(Action::Clone) => {
                let Some(src) = &self.flow.source else {
                    return;
                };
                (
                    format!(
                        "{} {} -> {short}",
                        s::RUN_CLONE,
                        super::plan::short_name(&src.disk.path)
                    ),
                    Choice::Clone(CloneChoice {
                        source: src.disk.path.clone().into(),
                        target,
                        verify: true,
                        layout: layout.clone(),
                        accept_failing_target,
                    }),
                )
            }
            Some(Action::Restore) => {
                let (
                    Some(super::app::ChosenRepo {
                        open: Some(repo), ..
                    }),
                    Some(img),
                ) = (&self.flow.repo, &self.flow.image)
                else {
                    return;
                };
                (
                    format!("{} {} -> {short}", s::RUN_RESTORE, img.image),
                    Choice::Restore(RestoreChoice {
                        repository: repo.clone(),
                        image: img.image.clone(),
                        target,
                        verify: true,
                        layout: layout.clone(),
                        accept_failing_target,
                        naming: self.flow.hostname.clone().map(|t| {
                            wraith_engine::identity::Naming {
                                template: Some(t),
                                table: Default::default(),
                            }
                        }),
                    }),
                )
            }
            _ => return,
        };
        self.flow.target = Some(d);
        self.prepare(what, choice);
    }

    /// F2 on a clone or restore plan: the same job planned with the next layout policy. A
    /// refusal (a `keep` onto a smaller disk) leaves the plan shown as it was; F2 again goes on.
    pub(super) fn next_layout(&mut self) {
        let Some(target) = self.flow.target.clone() else {
            return;
        };
        self.flow.layout = self.flow.layout.next();
        // The name of the plan shown, not one F3 asked for and the engine refused.
        if let super::app::Screen::Plan(p) = &self.screen {
            if let Some(name) = &p.naming {
                self.flow.hostname = name.clone();
            }
        }
        self.prepare_onto(target);
    }

    /// F2 on a save plan: the same save planned with the next compression choice after the
    /// one shown (which may be the repository's default).
    pub(super) fn next_compression(&mut self) {
        let shown = self
            .flow
            .plan
            .as_ref()
            .and_then(|p| p.summary().zstd_level)
            .and_then(wraith_engine::repo::Compression::of_level)
            .unwrap_or_default();
        self.flow.compression = Some(shown.next());
        let at = self.flow.repo_at();
        self.prepare_save(at);
    }

    /// F3 on a restore plan: the same restore planned with the machine named afterwards (or
    /// not). A name the engine refuses leaves the plan as it was, with the reason shown.
    pub(super) fn rename(&mut self, name: Option<String>) {
        let Some(target) = self.flow.target.clone() else {
            return;
        };
        self.flow.hostname = name;
        self.prepare_onto(target);
    }

    /// Prepares checking every chunk of `image` in the flow's repository.
    pub(super) fn verify(&mut self, image: wraith_engine::repo::ImageRef) {
        let Some(super::app::ChosenRepo {
            open: Some(repo), ..
        }) = &self.flow.repo
        else {
            return;
        };
        let choice = Choice::Verify(VerifyChoice {
            repository: repo.clone(),
            images: vec![image.clone()],
            against: None,
        });
        self.prepare(format!("{} {image}", s::RUN_VERIFY), choice);
    }
}

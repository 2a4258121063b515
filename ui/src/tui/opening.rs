//! Opening a repository for the current flow: a directory at once, a URL on a worker (a mount
//! or a first request may wait for a network timeout) while the screen stays alive and Esc
//! gives up. What it was opened for decides the next screen.

use super::app::{App, ChosenRepo, Msg, Screen};
use super::jobs::Job;
use super::menu::Action;
use super::repo::{ImageList, ImageRow};
use super::strings as s;
use std::time::Instant;
use wraith_engine::repo::location::Location;
use wraith_engine::repo::{self, Credentials, ImageRef, Repository};

/// What opening a repository is for, and what the worker hands back.
pub enum Opened {
    /// A save: the login worked, or there is no repository yet (the save creates it).
    Checked,
    /// Restore, verify or browse: the repository and its images.
    Listed {
        repo: Repository,
        rows: Vec<ImageRow>,
    },
    /// A fresh handle to verify one image with.
    Verify { repo: Repository, image: ImageRef },
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

/// What a repository is opened for (see [`Opened`]).
enum Want {
    Check,
    List,
    Verify(ImageRef),
}

/// A location for titles and logs: a URL as the engine shows it (it never holds a password;
/// the engine refuses one in a URL), a directory as typed.
pub fn shown_location(at: &str) -> String {
    Location::parse(at).map_or_else(|_| at.to_string(), |l| l.display())
}

impl App {
    /// Opens the repository at `path` for the current flow. A directory opens at once; a
    /// URL is opened by a worker, with the "connecting" overlay and Esc meanwhile.
    pub(super) fn open_repo(&mut self, path: String) {
        let want = if self.flow.action == Some(Action::Save) {
            let Some(src) = &self.flow.source else {
                return;
            };
            let name = repo::default_image_name(
                src.disk.model.as_deref(),
                src.disk.serial.as_deref(),
                src.dev.path(),
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

    /// Checks every chunk of `image` in the repository of the current flow.
    pub(super) fn verify(&mut self, image: ImageRef) {
        let Some(r) = &self.flow.repo else {
            return;
        };
        // A fresh handle for the worker: the listed one stays with the screen.
        let path = r.at.clone();
        self.open_in_background(path, Want::Verify(image));
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
            let result = Box::new(fetch(&path, &creds, want));
            let _ = tx.send(Msg::Opened {
                seq,
                at: path,
                result,
            });
        });
    }

    /// The repository at `at` is open (or refused): on to what the flow needs next.
    pub(super) fn opened(&mut self, at: String, r: Result<Opened, String>) {
        match r {
            Err(e) => self.open_failed(e),
            Ok(Opened::Checked) => self.save_plan(at),
            Ok(Opened::Verify { repo, image }) => self.run(
                format!("{} {}", s::RUN_VERIFY, image),
                Job::Verify { repo, image },
                Vec::new(),
            ),
            Ok(Opened::Listed { repo, rows }) => {
                let location = repo.location();
                self.flow.repo = Some(ChosenRepo {
                    at,
                    open: Some(repo),
                });
                self.screen = Screen::Images(ImageList {
                    location,
                    rows,
                    sel: 0,
                });
            }
        }
    }
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
            .map(|repo| Opened::Verify { repo, image })
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
            Ok(Opened::Listed { repo, rows })
        }
    }
}

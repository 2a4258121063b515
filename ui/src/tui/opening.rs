//! Opening a repository for the current flow: on a worker (a mount or a first request may wait
//! for a network timeout, a directory on a slow disk takes its time too) while the screen stays
//! alive and Esc gives up. A save goes straight to its preparation, which opens (or creates)
//! the repository itself; restore, verify and browse list its images.

use super::app::{App, ChosenRepo, Msg, Screen};
use super::menu::Action;
use super::repo::{ImageList, ImageRow};
use std::sync::Arc;
use std::time::Instant;
use wraith_engine::repo::location::Location;
use wraith_engine::repo::{self, Credentials, Repository};

/// What the worker hands back: the repository and its images.
pub struct Opened {
    pub repo: Arc<Repository>,
    pub rows: Vec<ImageRow>,
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

/// A location for titles and logs: a URL as the engine shows it (it never holds a password;
/// the engine refuses one in a URL), a directory as typed.
pub fn shown_location(at: &str) -> String {
    Location::parse(at).map_or_else(|_| at.to_string(), |l| l.display())
}

impl App {
    /// Opens the repository at `path` for the current flow: a save prepares its plan; the
    /// others list the images, on a worker, with the "connecting" overlay and Esc meanwhile.
    pub(super) fn open_repo(&mut self, path: String) {
        if self.flow.action == Some(Action::Save) {
            return self.prepare_save(path);
        }
        self.seq += 1;
        self.opening = Some(Opening {
            seq: self.seq,
            shown: shown_location(&path),
            since: Instant::now(),
            waited: 0,
        });
        let (tx, seq, creds) = (self.tx.clone(), self.seq, self.flow.creds.clone());
        std::thread::spawn(move || {
            let result = Box::new(fetch(&path, &creds));
            let _ = tx.send(Msg::Opened {
                seq,
                at: path,
                result,
            });
        });
    }

    /// The repository at `at` is open (or not): its image list.
    pub(super) fn opened(&mut self, at: String, r: Result<Opened, String>) {
        match r {
            Err(e) => self.open_failed(e),
            Ok(Opened { repo, rows }) => {
                let location = repo.location();
                self.flow.repo = Some(ChosenRepo {
                    at,
                    open: Some(repo),
                });
                // The image named in the field (its newest save, or the id's), if any.
                let wanted = self.flow.wanted.clone();
                let found = wanted.as_ref().map(|(name, id)| {
                    rows.iter().rposition(|r| {
                        r.image.name == *name
                            && id.as_deref().is_none_or(|i| r.image.id.starts_with(i))
                    })
                });
                self.screen = Screen::Images(ImageList {
                    location: location.clone(),
                    rows,
                    sel: found.flatten().unwrap_or(0),
                });
                if let (Some((name, id)), Some(None)) = (wanted, found) {
                    let id = id.map(|i| format!("@{i}")).unwrap_or_default();
                    self.error(format!(
                        "no image {name}{id} in {location}: pick one from the list"
                    ));
                }
            }
        }
    }
}

/// The blocking part of opening a repository: mount or first request, the image list and
/// every manifest (the engine's catalog, a few at a time over a network).
fn fetch(path: &str, creds: &Credentials) -> Result<Opened, String> {
    let repo = Repository::open_url(path, creds, false).map_err(|e| e.to_string())?;
    let catalog = wraith_engine::ops::catalog::load(&repo).map_err(|e| e.to_string())?;
    let rows = catalog
        .into_iter()
        .map(|entry| match entry.manifest {
            Ok(m) => ImageRow {
                image: entry.image,
                saved: repo::timestamp_text(m.created),
                source: m.source.describe(),
                size: m.stats.image_bytes,
                stored: m.stats.stored_bytes,
                manifest: Some(m),
            },
            Err(e) => ImageRow {
                image: entry.image,
                saved: String::new(),
                source: format!("DAMAGED: {e}"),
                size: 0,
                stored: 0,
                manifest: None,
            },
        })
        .collect();
    Ok(Opened {
        repo: Arc::new(repo),
        rows,
    })
}

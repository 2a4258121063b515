//! Opening a repository for the current flow: on a worker (a mount or a first request may wait
//! for a network timeout, a directory on a slow disk takes its time too) while the screen stays
//! alive and Esc gives up. A save goes straight to its preparation, which opens (or creates)
//! the repository itself; restore, verify and browse list its images.
//!
//! A location on a drive named by its label or UUID (`label:IMAGES/lab`, what the repository
//! list offers) is made reachable first (`ops::repository::resolve` mounts it); the mount is
//! kept in the flow for as long as the flow uses the repository, and handed to the job's worker
//! when it runs.

use super::app::{App, ChosenRepo, Msg, Screen};
use super::menu::Action;
use super::preselect;
use super::repo::{ImageList, ImageRow};
use super::strings as s;
use std::sync::Arc;
use std::time::Instant;
use wraith_engine::disks::DiskInfo;
use wraith_engine::ops::repository::{self, Resolved};
use wraith_engine::repo::location::Location;
use wraith_engine::repo::{self as engine_repo, Credentials, Repository};

/// What the worker hands back: the repository, its images, and the mount that reaches it.
pub struct Opened {
    pub repo: Arc<Repository>,
    pub rows: Vec<ImageRow>,
    pub mount: Resolved,
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
/// the engine refuses one in a URL), a directory or a label as typed.
pub fn shown_location(at: &str) -> String {
    Location::parse(at).map_or_else(|_| at.to_string(), |l| l.display())
}

impl App {
    /// Opens the repository at `path` for the current flow: a save prepares its plan; the
    /// others list the images, on a worker, with the "connecting" overlay and Esc meanwhile.
    pub(super) fn open_repo(&mut self, path: String) {
        // The previous choice's mount goes now, before this one is resolved: were it dropped
        // after, it would unmount what the new one found mounted and uses.
        self.flow.repo = None;
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
        let disks = self.machine.disks.clone();
        std::thread::spawn(move || {
            let result = Box::new(fetch(&path, &creds, &disks));
            let _ = tx.send(Msg::Opened {
                seq,
                at: path,
                result,
            });
        });
    }

    /// The repository at `at` is open (or not): its image list, starting on this machine's
    /// image.
    pub(super) fn opened(&mut self, at: String, r: wraith_engine::Result<Opened>) {
        let Opened {
            repo,
            mut rows,
            mount,
        } = match r {
            Err(e) => return self.open_failed(&at, e),
            Ok(o) => o,
        };
        let location = repo.location();
        self.flow.repo = Some(ChosenRepo {
            at: at.clone(),
            open: Some(repo),
            mount: Some(mount),
        });
        preselect::sort(&mut rows);
        let disks: Vec<&DiskInfo> = self
            .machine
            .disks
            .iter()
            .filter(|d| !self.machine.is_boot(d) && Some(&d.path) != self.flow.repo_disk.as_ref())
            .collect();
        let pre = preselect::image(&rows, &disks, self.this_machine.as_ref());
        // The image named in the field (its newest save, or the id's), if any, wins.
        let wanted = self.flow.wanted.clone();
        let found = wanted.as_ref().map(|(name, id)| {
            rows.iter().rposition(|r| {
                r.image.name == *name && id.as_deref().is_none_or(|i| r.image.id.starts_with(i))
            })
        });
        let (sel, why) = match (found.flatten(), pre) {
            (Some(i), _) => (i, None),
            (None, Some((i, why))) => (i, Some(why)),
            (None, None) if rows.is_empty() => (0, None),
            (None, None) => (0, Some(s::PRE_NO_MATCH.to_string())),
        };
        self.screen = Screen::Images(ImageList {
            location: location.clone(),
            rows,
            sel,
            why,
        });
        if let (Some((name, id)), Some(None)) = (wanted, found) {
            let id = id.map(|i| format!("@{i}")).unwrap_or_default();
            return self.error_with(
                format!("{} {location}", s::ERR_NO_IMAGE),
                format!("no image {name}{id} in {location}"),
                s::ERR_NO_IMAGE_NEXT,
                None,
            );
        }
        self.offer_remember();
    }
}

/// The blocking part of opening a repository: the drive mounted (a `label:` location), the
/// share mounted or first request, the image list and every manifest (the engine's catalog, a
/// few at a time over a network).
fn fetch(path: &str, creds: &Credentials, disks: &[DiskInfo]) -> wraith_engine::Result<Opened> {
    let mount = repository::resolve(path, disks)?;
    let repo = Repository::open_url(&mount.at, creds, false)?;
    let catalog = wraith_engine::ops::catalog::load(&repo)?;
    let rows = catalog
        .into_iter()
        .map(|entry| match entry.manifest {
            Ok(m) => ImageRow {
                image: entry.image,
                saved: engine_repo::timestamp_text(m.created),
                created: m.created,
                source: m.source.describe(),
                group: preselect::group(&m),
                size: m.stats.image_bytes,
                added: m.stats.new_stored_bytes,
                manifest: Some(m),
            },
            Err(e) => ImageRow {
                image: entry.image,
                saved: String::new(),
                created: 0,
                source: format!("DAMAGED: {e}"),
                group: String::new(),
                size: 0,
                added: 0,
                manifest: None,
            },
        })
        .collect();
    Ok(Opened {
        repo: Arc::new(repo),
        rows,
        mount,
    })
}

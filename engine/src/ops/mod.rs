//! The operations layer: the one way a front end (the CLI, the TUI, an unattended job, later
//! `serve`) gets a disk copied, saved, restored or checked. `prepare_*` turns what the user
//! chose into a [`CheckedPlan`] — every interlock already applied (the target is not the source
//! by any path, not mounted, not the boot medium, does not hold the repository; the repository
//! of a save is not on its source; the target is large enough; an image's chunks are all
//! present), with what will be destroyed, how each region is copied and the warnings — or
//! into a refusal ([`crate::Error::Refused`], naming both disks). [`run`] executes only such a
//! plan, then verifies when asked, and keeps the job's log and result beside the images.
//!
//! Front ends choose, confirm and render; they must not open a target for writing, call
//! [`crate::safety`] or a pipeline themselves, so none of them can forget a rule. This layer
//! must not prompt, wait for the network or touch the terminal: credentials, network waits and
//! confirmations stay with the front end, which hands their results in.

pub mod catalog;
mod clone;
pub mod discover;
pub mod extract;
mod import;
pub mod known;
pub mod record;
pub mod repository;
pub mod reshape;
mod restore;
mod save;
mod verify;

pub use clone::{prepare_clone, CloneChoice};
pub use import::{
    prepare_clonezilla_restore, prepare_import, ClonezillaRestoreChoice, ImportChoice,
};
pub use record::{Outcome, Report, Verified};
pub use reshape::LayoutChoice;
pub use restore::{prepare_restore, RestoreChoice};
pub use save::{prepare_save, SaveChoice};
pub use verify::{prepare_verify, VerifyChoice};

use crate::device::{Device, DiskIdentity};
use crate::error::{Error, Result};
use crate::events::Ctx;
use crate::job::Action;
use crate::plan::Plan;
use crate::repo::{manifest::Manifest, ImageRef, Repository};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a plan will do, for the front end to show before the confirmation. Everything here
/// was decided by `prepare_*`; nothing in it changes what [`run`] does.
#[derive(Clone, Debug)]
pub struct Summary {
    pub action: Action,
    /// The disk read (clone, save) or compared (verify against a disk).
    pub source: Option<DiskIdentity>,
    /// The disk written (clone, restore): everything on it is replaced.
    pub target: Option<DiskIdentity>,
    /// The repository, as shown to people (never with a password).
    pub repository: Option<String>,
    /// The image written (restore), checked (verify) or to be named (save: `name` only).
    pub image: Option<ImageRef>,
    /// The name a save will store the image under.
    pub name: Option<String>,
    /// The layout and how each region is copied: the source's plan (clone, save) or the
    /// image's (restore, verify against a disk).
    pub layout: Option<Plan>,
    /// Partitions moved, grown or shrunk for a target of another size (restore, clone); None
    /// when the layout stays as it was saved.
    pub reshape: Option<crate::pipeline::reshape::Reshape>,
    /// The smallest disk the result fits on.
    pub min_target_size: u64,
    /// Bytes the main step reads and writes (used data only).
    pub bytes: u64,
    /// Mount points of a source that is mounted now (its files may change while read):
    /// [`Summary::mount_warning`] words it.
    pub source_mounts: Vec<String>,
    /// What else the user should know before confirming (raw copies and why, a damaged
    /// image); [`Summary::all_warnings`] adds the mounted source's.
    pub warnings: Vec<String>,
    /// The job verifies its result afterwards.
    pub verify: bool,
    /// The target is an image file `prepare_*` created (so nothing existed to destroy).
    pub target_created: bool,
    /// What the source and target drives say of their health (None for image files).
    pub source_health: Option<crate::health::Health>,
    pub target_health: Option<crate::health::Health>,
    /// The name a restore gives the machine afterwards ([`crate::identity`]).
    pub hostname: Option<String>,
    /// The zstd level a save stores new chunks with ([`crate::repo::describe_level`]).
    pub zstd_level: Option<i32>,
}

impl Summary {
    /// "everything on Model (serial, size)" for a destructive plan, None for a read-only one.
    pub fn destroys(&self) -> Option<String> {
        match (&self.target, self.target_created) {
            (Some(t), false) => Some(format!("everything on {}", t.describe())),
            _ => None,
        }
    }

    /// The warning about a source mounted now (its files may change while it is read).
    pub fn mount_warning(&self) -> Option<String> {
        if self.source_mounts.is_empty() {
            return None;
        }
        Some(format!(
            "source {} is mounted at {}: files changing while it is read may be inconsistent in the copy",
            self.source.as_ref().map(|d| d.path.as_str()).unwrap_or("?"),
            self.source_mounts.join(", ")
        ))
    }

    /// Every warning: the mounted source first, then [`Summary::warnings`].
    pub fn all_warnings(&self) -> Vec<String> {
        self.mount_warning()
            .into_iter()
            .chain(self.warnings.iter().cloned())
            .collect()
    }
}

/// A plan that passed every interlock. Only `prepare_*` make one, and only [`run`] consumes
/// one: holding a `CheckedPlan` is the proof that the checks ran for these very disks.
pub struct CheckedPlan {
    summary: Summary,
    op: Op,
    /// A target image file `prepare_*` created: removed again if the plan is dropped unrun.
    created: Option<PathBuf>,
    keep_results: bool,
}

enum Op {
    Clone {
        /// A disk, or a virtual disk such as a Clonezilla image directory.
        source: Box<dyn crate::device::ReadAt + Send>,
        plan: Plan,
        target: Device,
        reshape: Option<crate::pipeline::reshape::Reshape>,
    },
    Save {
        source: Box<dyn crate::device::ReadAt + Send>,
        plan: Plan,
        repo: Repository,
        name: String,
        all_sectors: bool,
        zstd_level: i32,
        /// This machine, when the source is one of its internal disks.
        machine: Option<crate::machine::MachineIdentity>,
    },
    Restore {
        repo: Arc<Repository>,
        image: ImageRef,
        manifest: Box<Manifest>,
        target: Device,
        reshape: Option<crate::pipeline::reshape::Reshape>,
    },
    Verify {
        repo: Arc<Repository>,
        images: Vec<ImageRef>,
        /// The disk compared with the (single) image, instead of re-hashing the repository.
        against: Option<(Device, Box<Manifest>)>,
    },
}

impl CheckedPlan {
    fn new(summary: Summary, op: Op, created: Option<PathBuf>) -> CheckedPlan {
        CheckedPlan {
            summary,
            op,
            created,
            keep_results: false,
        }
    }
    pub fn summary(&self) -> &Summary {
        &self.summary
    }
    /// Verify the result afterwards, or not: the TUI lets the user change this on the plan it
    /// shows. The checks do not depend on it, so the plan stays checked.
    pub fn with_verify(mut self, verify: bool) -> Self {
        self.summary.verify = verify;
        self
    }
    /// Store the job's result and log in the repository's `results/` when it ends (the live
    /// system's jobs, the TUI): without this they vanish with the RAM disk at power-off.
    pub fn keep_results(mut self, keep: bool) -> Self {
        self.keep_results = keep;
        self
    }
    /// The repository the job uses, if any (for a front end that shows where results go).
    pub fn repository(&self) -> Option<&Repository> {
        match &self.op {
            Op::Save { repo, .. } => Some(repo),
            Op::Restore { repo, .. } | Op::Verify { repo, .. } => Some(repo),
            Op::Clone { .. } => None,
        }
    }
}

impl Drop for CheckedPlan {
    fn drop(&mut self) {
        // Created by prepare for this plan and never written: nothing of the user's is lost.
        if let Some(p) = self.created.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Runs a checked plan: the operation, then the verification it asked for. The report says
/// what was done and verified; with [`CheckedPlan::keep_results`] the result and the job's
/// log are also stored in the repository, also when the job fails.
pub fn run(mut plan: CheckedPlan, ctx: &Ctx) -> Result<Report> {
    // From here the target is the user's result (even half-written): never removed.
    plan.created = None;
    record::run_recorded(&plan, ctx)
}

/// Opens the target of a clone or restore for writing; a path that does not exist becomes a
/// new sparse image file of `size` bytes (returned as created, so a refusal can remove it).
fn open_target(path: &Path, size: u64) -> Result<(Device, Option<PathBuf>)> {
    if path.exists() {
        return Ok((Device::open_write(path)?, None));
    }
    // A mistyped /dev name must never turn into a file in /dev (a RAM disk on most systems).
    if path.starts_with("/dev") {
        return Err(Error::NotFound {
            what: format!("disk {} (see `wraith disks`)", path.display()),
        });
    }
    let f = std::fs::File::create_new(path).map_err(|e| Error::io(path, e))?;
    f.set_len(size).map_err(|e| Error::io(path, e))?;
    drop(f);
    match Device::open_write(path) {
        Ok(d) => Ok((d, Some(path.to_path_buf()))),
        Err(e) => {
            let _ = std::fs::remove_file(path);
            Err(e)
        }
    }
}

/// Runs the interlocks; on a refusal, a target file created for this plan is removed again.
fn checked<T>(created: &Option<PathBuf>, checks: impl FnOnce() -> Result<T>) -> Result<T> {
    let r = checks();
    if r.is_err() {
        if let Some(p) = created {
            let _ = std::fs::remove_file(p);
        }
    }
    r
}

/// Opens a source and reads its plan; a mounted source is a warning, not a refusal (its
/// files may change while it is read).
/// The plan's words for drives that are not well: a failing source (how it is read, what to
/// do), a target or source with warnings. A failing target never gets here unaccepted.
fn health_warnings(
    dev: &Device,
    source: Option<&crate::health::Health>,
    target: Option<&crate::health::Health>,
) -> Vec<String> {
    use crate::health::State;
    let mut out = Vec::new();
    if let Some(h) = source {
        match h.state {
            State::Failing => out.push(crate::health::failing_source_advice(&dev.identity.path, h)),
            State::Warning => out.push(format!("source drive health: {}", h.describe())),
            _ => {}
        }
    }
    if let Some(h) = target {
        match h.state {
            State::Failing => out.push(format!(
                "target drive is FAILING: {}; what is written onto it may not last",
                h.problems.join("; ")
            )),
            State::Warning => out.push(format!("target drive health: {}", h.describe())),
            _ => {}
        }
    }
    out
}

fn open_source(path: &Path) -> Result<(Device, Plan, Vec<String>)> {
    let dev = Device::open_read(path)?;
    let mounts = crate::safety::mounts_of(&dev);
    let plan = crate::plan::plan(&dev, dev.identity.clone())?;
    Ok((dev, plan, mounts))
}

/// The smallest disk an image restores onto.
pub fn restore_needs(m: &Manifest) -> u64 {
    if m.table.kind == crate::table::TableKind::None {
        m.source.size
    } else {
        m.table.min_disk_size
    }
}

/// The layout an image was saved with, as a plan (for showing it, and for damage reports).
pub fn image_layout(m: &Manifest) -> Plan {
    Plan {
        disk: m.source.clone(),
        table: m.table.clone(),
        regions: m.regions.iter().map(|r| r.region.clone()).collect(),
    }
}

//! Preparing the two jobs that take a Clonezilla image directory as their source: an import
//! (the directory stored as a Wraith image, through the save pipeline, so its blocks dedup
//! against the repository) and a direct restore (the directory written onto a disk through the
//! clone pipeline, with the same target checks as a clone). Every partition stream is decoded
//! and its checksums checked here, before the repository or the target is touched, so a damaged
//! image is refused whole. Nothing here writes to the image directory.

use super::{checked, open_target, CheckedPlan, Op, Summary};
use crate::clonezilla::ClonezillaDisk;
use crate::device::ReadAt;
use crate::error::{Error, Result};
use crate::job::Action;
use crate::repo::location::{Credentials, Location};
use crate::repo::{self, Repository};
use crate::safety;
use std::path::PathBuf;

/// What the user chose for an import.
#[derive(Clone, Debug)]
pub struct ImportChoice {
    /// The Clonezilla image directory (with its `disk` and `parts` files).
    pub dir: PathBuf,
    /// The repository: a directory or a URL, created when missing or empty.
    pub repository: String,
    pub credentials: Credentials,
    /// The image's name; None: the directory's name.
    pub name: Option<String>,
    /// Compare the stored image with the Clonezilla image afterwards.
    pub verify: bool,
}

fn open_checked(dir: &std::path::Path) -> Result<(ClonezillaDisk, crate::plan::Plan)> {
    let disk = ClonezillaDisk::open(dir)?;
    let plan = disk.plan()?;
    disk.check_streams(&|| false)?;
    Ok((disk, plan))
}

pub fn prepare_import(choice: &ImportChoice) -> Result<CheckedPlan> {
    let name = match &choice.name {
        Some(n) => n.clone(),
        None => choice
            .dir
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "{}: give the image a name (REPO:NAME)",
                    choice.dir.display()
                ))
            })?,
    };
    repo::check_image_name(&name)?;
    if let Location::Dir(dir) = Location::parse(&choice.repository)? {
        if dir.starts_with(&choice.dir) {
            return Err(Error::Invalid(format!(
                "the repository {} is inside the Clonezilla image {}",
                dir.display(),
                choice.dir.display()
            )));
        }
    }
    // Checked whole before the repository is opened (and perhaps created).
    let (disk, plan) = open_checked(&choice.dir)?;
    let repo = Repository::open_url(&choice.repository, &choice.credentials, true)?;
    let zstd_level = repo.config.zstd_level;
    let mut warnings = plan.warnings();
    warnings.extend(disk.warnings.iter().cloned());
    let summary = Summary {
        action: Action::Save,
        source: Some(plan.disk.clone()),
        target: None,
        repository: Some(repo.location()),
        image: None,
        name: Some(name.clone()),
        reshape: None,
        min_target_size: plan.min_target_size(),
        bytes: plan.copy_bytes(),
        warnings,
        source_mounts: Vec::new(),
        layout: Some(plan.clone()),
        verify: choice.verify,
        target_created: false,
        source_health: None,
        target_health: None,
        hostname: None,
        zstd_level: Some(zstd_level),
    };
    Ok(CheckedPlan::new(
        summary,
        Op::Save {
            source: Box::new(disk),
            plan,
            repo,
            name,
            machine: None,
            all_sectors: false,
            zstd_level,
        },
        None,
    ))
}

/// What the user chose for restoring a Clonezilla image directory directly.
#[derive(Clone, Debug)]
pub struct ClonezillaRestoreChoice {
    pub dir: PathBuf,
    /// A disk, or an image file (created with the saved disk's size when it does not exist).
    pub target: PathBuf,
    pub verify: bool,
    pub layout: super::LayoutChoice,
    pub accept_failing_target: bool,
}

pub fn prepare_clonezilla_restore(choice: &ClonezillaRestoreChoice) -> Result<CheckedPlan> {
    let (disk, plan) = open_checked(&choice.dir)?;
    let (target, created) = open_target(&choice.target, disk.size())?;
    let target_health = crate::health::for_device(&choice.target);
    let decision = checked(&created, || {
        // The image's pieces may live on the target itself.
        safety::check_not_holding(&target, &choice.dir, "the Clonezilla image")?;
        super::clone::check_copy_target(
            &target,
            target_health.as_ref(),
            choice.accept_failing_target,
            &plan,
            disk.size(),
            &choice.layout,
            &format!("Clonezilla image {}", choice.dir.display()),
        )
    })?;
    let reshape = decision.reshape;
    let mut warnings = plan.warnings();
    warnings.extend(disk.warnings.iter().cloned());
    warnings.extend(decision.note);
    warnings.extend(super::health_warnings(
        &target,
        None,
        target_health.as_ref(),
    ));
    let summary = Summary {
        action: Action::Restore,
        source: Some(plan.disk.clone()),
        target: Some(target.identity.clone()),
        repository: None,
        image: None,
        name: None,
        min_target_size: plan.min_target_size(),
        bytes: plan.copy_bytes(),
        warnings,
        source_mounts: Vec::new(),
        layout: Some(plan.clone()),
        reshape: reshape.clone(),
        verify: choice.verify,
        target_created: created.is_some(),
        source_health: None,
        target_health,
        hostname: None,
        zstd_level: None,
    };
    Ok(CheckedPlan::new(
        summary,
        Op::Clone {
            source: Box::new(disk),
            plan,
            target,
            reshape,
        },
        created,
    ))
}

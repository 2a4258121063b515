//! Preparing a save: a disk stored as an image in a repository.

use super::{open_source, CheckedPlan, Op, Summary};
use crate::error::Result;
use crate::job::Action;
use crate::repo::location::{Credentials, Location};
use crate::repo::{self, Repository};
use crate::safety;
use std::path::PathBuf;

/// What the user chose for a save.
#[derive(Clone, Debug)]
pub struct SaveChoice {
    pub source: PathBuf,
    /// The repository: a directory or a URL (a `label:`/`uuid:` location is resolved first,
    /// see [`super::repository::resolve`]). Created when missing or empty.
    pub repository: String,
    pub credentials: Credentials,
    /// The image's name; None: from the disk's model and serial.
    pub name: Option<String>,
    /// Compare the disk with the stored image afterwards.
    pub verify: bool,
    /// Forensic acquisition: every sector, with the whole disk's SHA-256 and MD5.
    pub all_sectors: bool,
    /// Speed or size for the chunks this save stores; None: the repository's default (a new
    /// repository takes this choice as its default).
    pub compression: Option<repo::Compression>,
}

pub fn prepare_save(choice: &SaveChoice) -> Result<CheckedPlan> {
    let (source, disk, plan, mounts) = open_save_source(&choice.source)?;
    let plan = if choice.all_sectors {
        plan.all_sectors()
    } else {
        plan
    };
    let name = match &choice.name {
        Some(n) => n.clone(),
        None => repo::default_image_name(
            source.identity.model.as_deref(),
            source.identity.serial.as_deref(),
            source.path(),
        ),
    };
    repo::check_image_name(&name)?;
    // Before the repository is created: a save must never write to its own source.
    if let Location::Dir(dir) = Location::parse(&choice.repository)? {
        safety::check_repository_not_on(&source, &dir)?;
    }
    let mut config = repo::RepoConfig::default();
    if let Some(c) = choice.compression {
        config.zstd_level = c.zstd_level();
    }
    let repo = Repository::open_url_with(&choice.repository, &choice.credentials, Some(&config))?;
    let zstd_level = choice
        .compression
        .map_or(repo.config.zstd_level, |c| c.zstd_level());
    let source_health = crate::health::for_device(&choice.source);
    let mut warnings = plan.warnings();
    warnings.extend(super::health_warnings(
        &source,
        source_health.as_ref(),
        None,
    ));
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
        source_mounts: mounts,
        layout: Some(plan.clone()),
        verify: choice.verify,
        target_created: false,
        source_health,
        target_health: None,
        hostname: None,
        zstd_level: Some(zstd_level),
    };
    Ok(CheckedPlan::new(
        summary,
        Op::Save {
            source: match disk {
                Some(d) => d,
                None => Box::new(source),
            },
            plan,
            repo,
            name,
            all_sectors: choice.all_sectors,
            zstd_level,
            // A USB drive or an image file belongs to no machine in particular.
            machine: crate::machine::is_internal_disk(&choice.source)
                .then(crate::machine::this)
                .flatten(),
        },
        None,
    ))
}

/// The source of a save: a disk or image file as it is, or the virtual disk inside a
/// qcow2/VHDX/VMDK file (which is then what is planned and saved; the file itself stays the
/// `Device` the safety checks look at).
#[allow(clippy::type_complexity)]
fn open_save_source(
    path: &std::path::Path,
) -> Result<(
    crate::device::Device,
    Option<crate::vdisk::DiskReader>,
    crate::plan::Plan,
    Vec<String>,
)> {
    let Some(disk) = crate::vdisk::open_image(path)? else {
        let (source, plan, mounts) = open_source(path)?;
        return Ok((source, None, plan, mounts));
    };
    let source = crate::device::Device::open_read(path)?;
    let mut identity = source.identity.clone();
    identity.size = disk.size();
    identity.logical_sector_size = disk.sector_size();
    let plan = crate::plan::plan(&*disk, identity)?;
    Ok((source, Some(disk), plan, Vec::new()))
}

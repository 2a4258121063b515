//! Preparing a restore: an image written back onto a disk.

use super::{checked, image_layout, open_target, restore_needs, CheckedPlan, Op, Summary};
use crate::error::Result;
use crate::job::Action;
use crate::repo::{ImageRef, Repository};
use crate::safety;
use std::path::PathBuf;
use std::sync::Arc;

/// What the user chose for a restore.
#[derive(Clone)]
pub struct RestoreChoice {
    pub repository: Arc<Repository>,
    pub image: ImageRef,
    /// A disk, or an image file (created with the source disk's size when missing).
    pub target: PathBuf,
    /// Compare the target with the image afterwards.
    pub verify: bool,
    /// How the partitions fit a target of another size.
    pub layout: super::LayoutChoice,
    /// Write onto a target whose drive reports itself failing (else refused).
    pub accept_failing_target: bool,
    /// Give the restored machine its own name afterwards ([`crate::identity`]).
    pub naming: Option<crate::identity::Naming>,
}

pub fn prepare_restore(choice: &RestoreChoice) -> Result<CheckedPlan> {
    let repo = &choice.repository;
    let image = &choice.image;
    let m = repo.load_manifest(image)?;
    // The name first: a machine the job cannot name is refused before its disk is touched.
    let hostname = match &choice.naming {
        Some(n) => Some(hostname_for(n, &m, image)?),
        None => None,
    };
    let (target, created) = open_target(&choice.target, m.source.size)?;
    let target_health = crate::health::for_device(&choice.target);
    let decision = checked(&created, || {
        safety::check_not_mounted(&target)?;
        crate::live::check_not_boot_medium(&target)?;
        safety::check_target_health(
            &target,
            target_health.as_ref(),
            choice.accept_failing_target,
        )?;
        // A repository in a directory may be on the target itself; a share cannot be.
        if let Some(dir) = repo.store().local_dir() {
            safety::check_not_holding(&target, &dir, "the repository")?;
        }
        safety::check_sector_size(m.table.sector_size, &target)?;
        let regions: Vec<_> = m.regions.iter().map(|r| r.region.clone()).collect();
        // Scratch space for a shrink: the repository's own drive first (it is not the target:
        // checked above), then the temporary directory.
        let dirs: Vec<PathBuf> = repo
            .store()
            .local_dir()
            .into_iter()
            .chain(std::iter::once(std::env::temp_dir()))
            .collect();
        let decision = super::reshape::decide(
            &m.table,
            &regions,
            m.source.size,
            &target,
            &choice.layout,
            &dirs,
        )?;
        if decision.reshape.is_none() {
            safety::check_size(
                &target,
                restore_needs(&m),
                &format!("image {image} (from {})", m.source.describe()),
            )?;
        }
        // Everything checkable without reading all data, before the first write.
        crate::pipeline::restore::precheck(repo, image, &m)?;
        Ok(decision)
    })?;
    let reshape = decision.reshape;
    let mut warnings: Vec<String> = decision.note.into_iter().collect();
    warnings.extend(super::health_warnings(
        &target,
        None,
        target_health.as_ref(),
    ));
    if !m.unreadable.is_empty() {
        warnings.push(format!(
            "image {image} was saved from a failing disk: {} could not be read and restore as zeros",
            crate::human_bytes(m.unreadable.total())
        ));
    }
    let summary = Summary {
        action: Action::Restore,
        source: None,
        target: Some(target.identity.clone()),
        repository: Some(repo.location()),
        image: Some(image.clone()),
        name: Some(image.name.clone()),
        min_target_size: restore_needs(&m),
        bytes: m.stats.image_bytes,
        layout: Some(image_layout(&m)),
        reshape: reshape.clone(),
        source_mounts: Vec::new(),
        warnings,
        verify: choice.verify,
        target_created: created.is_some(),
        source_health: None,
        target_health,
        hostname,
        zstd_level: None,
    };
    Ok(CheckedPlan::new(
        summary,
        Op::Restore {
            repo: Arc::clone(repo),
            image: image.clone(),
            manifest: Box::new(m),
            target,
            reshape,
        },
        created,
    ))
}

/// The name this machine gets, checked against what the image holds: Windows takes at most
/// 15 characters, so a longer name for an image with NTFS partitions is refused now rather
/// than found out after the restore.
fn hostname_for(
    naming: &crate::identity::Naming,
    m: &crate::repo::manifest::Manifest,
    image: &ImageRef,
) -> Result<String> {
    let name = crate::identity::resolve(naming, &crate::identity::Facts::this_machine())?;
    let ntfs = m.regions.iter().any(|r| {
        r.region
            .fs
            .as_ref()
            .is_some_and(|f| f.kind == crate::fs::FsKind::Ntfs)
    });
    if ntfs && name.len() > crate::identity::windows::MAX_NAME {
        return Err(crate::error::Error::Invalid(format!(
            "image {image} holds NTFS (Windows) partitions, and Windows takes computer names of \
             at most {} characters: {name:?} has {}",
            crate::identity::windows::MAX_NAME,
            name.len()
        )));
    }
    Ok(name)
}

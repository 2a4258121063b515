//! Preparing a clone: a source disk copied onto a target disk.

use super::{checked, open_source, open_target, CheckedPlan, Op, Summary};
use crate::device::ReadAt;
use crate::error::Result;
use crate::job::Action;
use crate::safety;
use std::path::PathBuf;

/// What the user chose for a clone.
#[derive(Clone, Debug)]
pub struct CloneChoice {
    pub source: PathBuf,
    /// A disk, or an image file (created with the source's size when it does not exist).
    pub target: PathBuf,
    /// Compare the target with the source afterwards.
    pub verify: bool,
}

pub fn prepare_clone(choice: &CloneChoice) -> Result<CheckedPlan> {
    let (source, plan, mounts) = open_source(&choice.source)?;
    let (target, created) = open_target(&choice.target, source.size())?;
    checked(&created, || {
        safety::check_not_source(&source, &target)?;
        safety::check_not_mounted(&target)?;
        crate::live::check_not_boot_medium(&target)?;
        safety::check_sector_size(plan.table.sector_size, &target)?;
        safety::check_size(
            &target,
            plan.min_target_size(),
            &format!("source {}", source.identity.describe()),
        )
    })?;
    let summary = Summary {
        action: Action::Clone,
        source: Some(source.identity.clone()),
        target: Some(target.identity.clone()),
        repository: None,
        image: None,
        name: None,
        min_target_size: plan.min_target_size(),
        bytes: plan.copy_bytes(),
        warnings: plan.warnings(),
        source_mounts: mounts,
        layout: Some(plan.clone()),
        verify: choice.verify,
        target_created: created.is_some(),
    };
    Ok(CheckedPlan::new(
        summary,
        Op::Clone {
            source,
            plan,
            target,
        },
        created,
    ))
}

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
    /// How the partitions fit a target of another size.
    pub layout: super::LayoutChoice,
}

pub fn prepare_clone(choice: &CloneChoice) -> Result<CheckedPlan> {
    let (source, plan, mounts) = open_source(&choice.source)?;
    let (target, created) = open_target(&choice.target, source.size())?;
    let reshape = checked(&created, || {
        safety::check_not_source(&source, &target)?;
        safety::check_not_mounted(&target)?;
        crate::live::check_not_boot_medium(&target)?;
        safety::check_sector_size(plan.table.sector_size, &target)?;
        let dirs = [std::env::temp_dir()];
        let reshape =
            super::reshape::decide(&plan.table, &plan.regions, &target, &choice.layout, &dirs)?;
        if reshape.is_none() {
            safety::check_size(
                &target,
                plan.min_target_size(),
                &format!("source {}", source.identity.describe()),
            )?;
        }
        if reshape.is_some() && choice.verify {
            // The comparison reads both sides at the same offsets: after a layout change the
            // filesystems themselves differ. Until it compares files, say so before writing.
            return Err(crate::error::Error::Unsupported(
                "verifying after a layout change (the resized filesystems differ byte for byte from the source); run without --verify, or with --layout keep".into(),
            ));
        }
        Ok(reshape)
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
        reshape: reshape.clone(),
        verify: choice.verify,
        target_created: created.is_some(),
    };
    Ok(CheckedPlan::new(
        summary,
        Op::Clone {
            source,
            plan,
            target,
            reshape,
        },
        created,
    ))
}

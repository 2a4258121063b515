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
    /// Write onto a target whose drive reports itself failing (else refused).
    pub accept_failing_target: bool,
}

pub fn prepare_clone(choice: &CloneChoice) -> Result<CheckedPlan> {
    let (source, plan, mounts) = open_source(&choice.source)?;
    let (target, created) = open_target(&choice.target, source.size())?;
    let source_health = crate::health::for_device(&choice.source);
    let target_health = crate::health::for_device(&choice.target);
    let decision = checked(&created, || {
        safety::check_not_source(&source, &target)?;
        check_copy_target(
            &target,
            target_health.as_ref(),
            choice.accept_failing_target,
            &plan,
            source.size(),
            &choice.layout,
            &format!("source {}", source.identity.describe()),
        )
    })?;
    let reshape = decision.reshape;
    let mut warnings = plan.warnings();
    warnings.extend(decision.note);
    warnings.extend(super::health_warnings(
        &source,
        source_health.as_ref(),
        target_health.as_ref(),
    ));
    let summary = Summary {
        action: Action::Clone,
        source: Some(source.identity.clone()),
        target: Some(target.identity.clone()),
        repository: None,
        image: None,
        name: None,
        min_target_size: plan.min_target_size(),
        bytes: plan.copy_bytes(),
        warnings,
        source_mounts: mounts,
        layout: Some(plan.clone()),
        reshape: reshape.clone(),
        verify: choice.verify,
        target_created: created.is_some(),
        source_health,
        target_health,
        hostname: None,
        zstd_level: None,
    };
    Ok(CheckedPlan::new(
        summary,
        Op::Clone {
            source: Box::new(source),
            plan,
            target,
            reshape,
        },
        created,
    ))
}

/// The refusals and the layout decision of every disk-to-disk copy (a clone, or a Clonezilla
/// image written directly), in one place so no such front door can forget one: not mounted,
/// not the boot medium, not a failing drive unless accepted, a matching sector size, and room
/// for the layout chosen. `what` names the source in a too-small refusal.
pub(super) fn check_copy_target(
    target: &crate::device::Device,
    target_health: Option<&crate::health::Health>,
    accept_failing_target: bool,
    plan: &crate::plan::Plan,
    source_size: u64,
    layout: &super::LayoutChoice,
    what: &str,
) -> Result<super::reshape::Decision> {
    safety::check_not_mounted(target)?;
    crate::live::check_not_boot_medium(target)?;
    safety::check_target_health(target, target_health, accept_failing_target)?;
    safety::check_sector_size(plan.table.sector_size, target)?;
    let dirs = [std::env::temp_dir()];
    let decision = super::reshape::decide(
        &plan.table,
        &plan.regions,
        source_size,
        target,
        layout,
        &dirs,
    )?;
    if decision.reshape.is_none() {
        safety::check_size(target, plan.min_target_size(), what)?;
    }
    Ok(decision)
}

//! `wraith clone SRC DST`.

use super::{confirm_and_run, Ctx};
use anyhow::Result;
use std::path::Path;
use wraith_engine::ops::{self, CloneChoice, Report};

pub fn clone(
    ctx: &Ctx,
    source: &Path,
    target: &Path,
    verify: bool,
    yes: bool,
    layout: ops::LayoutChoice,
    accept_failing_target: bool,
) -> Result<Report> {
    let plan = ops::prepare_clone(&CloneChoice {
        source: source.to_path_buf(),
        target: target.to_path_buf(),
        verify,
        layout,
        accept_failing_target,
    })?;
    confirm_and_run(ctx, plan, yes)
}

//! `wraith import clonezilla DIR REPO[:NAME]`: a Clonezilla image directory stored as a Wraith
//! image. The engine decodes and checks it (`ops::prepare_import`); this only parses the
//! arguments and runs the checked plan. It never writes to the Clonezilla directory.

use super::{confirm_and_run, credentials_for, Ctx};
use anyhow::{bail, Result};
use std::path::Path;
use wraith_engine::ops::{self, repository, ImportChoice, Report};

pub fn clonezilla(ctx: &Ctx, dir: &Path, spec: &str, verify: bool) -> Result<Report> {
    let spec = repository::parse_image_spec(spec)?;
    if spec.id.is_some() {
        bail!(
            "{}: an image id is chosen by Wraith when importing; give REPO or REPO:NAME",
            wraith_engine::repo::location::redact(&spec.repository)
        );
    }
    if !wraith_engine::clonezilla::is_image_dir(dir) {
        bail!(
            "{}: not a Clonezilla image directory (no `disk` and `parts` files)",
            dir.display()
        );
    }
    let (at, _mounted) = super::reach(&spec.repository)?;
    let credentials = credentials_for(ctx, &at)?;
    let plan = ops::prepare_import(&ImportChoice {
        dir: dir.to_path_buf(),
        repository: at,
        credentials,
        name: spec.name,
        verify,
    })?;
    if let Some(repo) = plan.repository() {
        super::say_connection(ctx, repo);
    }
    confirm_and_run(ctx, plan, true)
}

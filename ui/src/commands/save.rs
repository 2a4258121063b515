//! `wraith save DISK REPO[:NAME]`.

use super::{confirm_and_run, credentials_for, Ctx};
use anyhow::{bail, Result};
use std::path::Path;
use wraith_engine::ops::{self, repository, Report, SaveChoice};
use wraith_engine::repo::Compression;

pub fn save(
    ctx: &Ctx,
    disk: &Path,
    spec: &str,
    verify: bool,
    all_sectors: bool,
    compression: Option<Compression>,
) -> Result<Report> {
    let spec = repository::parse_image_spec(spec)?;
    if spec.id.is_some() {
        bail!(
            "{}: an image id is chosen by Wraith when saving; give REPO or REPO:NAME",
            wraith_engine::repo::location::redact(&spec.repository)
        );
    }
    let (at, _mounted) = super::reach(&spec.repository)?;
    let credentials = credentials_for(ctx, &at)?;
    let plan = ops::prepare_save(&SaveChoice {
        source: disk.to_path_buf(),
        repository: at,
        credentials,
        name: spec.name,
        verify,
        all_sectors,
        compression,
    })?;
    if let Some(repo) = plan.repository() {
        super::say_connection(ctx, repo);
    }
    confirm_and_run(ctx, plan, true)
}

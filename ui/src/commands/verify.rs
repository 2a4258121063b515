//! `wraith verify REPO[:NAME[@ID]] [--against DISK]`.

use super::{confirm_and_run, find_image, open_repo, Ctx};
use anyhow::Result;
use std::path::Path;
use wraith_engine::ops::{self, repository, Report, VerifyChoice};

pub fn verify(ctx: &Ctx, what: &str, against: Option<&Path>) -> Result<Report> {
    let spec = repository::parse_image_spec(what)?;
    let (repo, _mounted) = open_repo(ctx, &spec.repository)?;
    let images = match (&spec.name, against) {
        (Some(_), _) | (None, Some(_)) => vec![find_image(&repo, &spec)?],
        (None, None) => Vec::new(),
    };
    let plan = ops::prepare_verify(&VerifyChoice {
        repository: repo,
        images,
        against: against.map(Path::to_path_buf),
    })?;
    confirm_and_run(ctx, plan, true)
}

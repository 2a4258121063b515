//! `wraith restore REPO:NAME[@ID] DISK`, or `wraith restore CLONEZILLA_DIR DISK`.

use super::{confirm_and_run, find_image, open_repo, Ctx};
use anyhow::Result;
use std::path::Path;
use wraith_engine::ops::{self, repository, Report, RestoreChoice};

/// What the command line chose besides the image and the target.
pub struct RestoreOptions {
    pub verify: bool,
    pub yes: bool,
    pub layout: ops::LayoutChoice,
    pub accept_failing_target: bool,
    pub naming: Option<wraith_engine::identity::Naming>,
}

pub fn restore(ctx: &Ctx, image: &str, target: &Path, o: RestoreOptions) -> Result<Report> {
    let RestoreOptions {
        verify,
        yes,
        layout,
        accept_failing_target,
        naming,
    } = o;
    // A Clonezilla image directory is written directly, like a clone from it.
    let dir = Path::new(image);
    if wraith_engine::clonezilla::is_image_dir(dir) {
        if naming.is_some() {
            anyhow::bail!(
                "--hostname works with Wraith images: import the Clonezilla image first \
                 (wraith import clonezilla)"
            );
        }
        let plan = ops::prepare_clonezilla_restore(&ops::ClonezillaRestoreChoice {
            dir: dir.to_path_buf(),
            target: target.to_path_buf(),
            verify,
            layout,
            accept_failing_target,
        })?;
        return confirm_and_run(ctx, plan, yes);
    }
    let spec = repository::parse_image_spec(image)?;
    let (repo, _mounted) = open_repo(ctx, &spec.repository)?;
    let image = find_image(&repo, &spec)?;
    let plan = ops::prepare_restore(&RestoreChoice {
        repository: repo,
        image,
        target: target.to_path_buf(),
        verify,
        layout,
        accept_failing_target,
        naming,
    })?;
    confirm_and_run(ctx, plan, yes)
}

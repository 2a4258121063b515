//! Preparing a verify: a repository's images re-hashed, or a disk compared with an image.

use super::{image_layout, restore_needs, CheckedPlan, Op, Summary};
use crate::device::{Device, ReadAt};
use crate::error::{Error, Interlock, Result};
use crate::job::Action;
use crate::repo::{ImageRef, Repository};
use std::path::PathBuf;
use std::sync::Arc;

/// What the user chose for a verify.
#[derive(Clone)]
pub struct VerifyChoice {
    pub repository: Arc<Repository>,
    /// The images to check; empty: every image of the repository.
    pub images: Vec<ImageRef>,
    /// Compare this disk (read only) with the one image instead.
    pub against: Option<PathBuf>,
}

pub fn prepare_verify(choice: &VerifyChoice) -> Result<CheckedPlan> {
    let repo = &choice.repository;
    let images = if choice.images.is_empty() {
        repo.images()?
    } else {
        choice.images.clone()
    };
    let mut summary = Summary {
        action: Action::Verify,
        source: None,
        target: None,
        repository: Some(repo.location()),
        image: None,
        name: None,
        layout: None,
        reshape: None,
        min_target_size: 0,
        bytes: 0,
        source_mounts: Vec::new(),
        warnings: Vec::new(),
        verify: false,
        target_created: false,
        source_health: None,
        target_health: None,
        hostname: None,
        zstd_level: None,
    };
    let against = match &choice.against {
        None => None,
        Some(disk) => {
            let [image] = images.as_slice() else {
                return Err(Error::Invalid(format!(
                    "{}: name one image to compare {} with (REPO:NAME or REPO:NAME@ID)",
                    repo.location(),
                    disk.display()
                )));
            };
            let m = repo.load_manifest(image)?;
            let dev = Device::open_read(disk)?;
            let needs = restore_needs(&m);
            if dev.size() < needs {
                return Err(Error::refused(
                    Interlock::TargetTooSmall,
                    format!(
                        "{} is {}, smaller than image {image} needs ({})",
                        dev.identity.describe(),
                        crate::human_bytes(dev.size()),
                        crate::human_bytes(needs)
                    ),
                ));
            }
            summary.source = Some(dev.identity.clone());
            summary.image = Some(image.clone());
            summary.bytes = m.stats.image_bytes;
            summary.layout = Some(image_layout(&m));
            Some((dev, Box::new(m)))
        }
    };
    if against.is_none() {
        if let [one] = images.as_slice() {
            summary.image = Some(one.clone());
        }
    }
    Ok(CheckedPlan::new(
        summary,
        Op::Verify {
            repo: Arc::clone(repo),
            images,
            against,
        },
        None,
    ))
}

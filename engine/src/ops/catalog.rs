//! The image catalog of a repository: every image with its manifest (or why it cannot be
//! read), for the CLI's `list`, the TUI's image list and anything that picks an image.

use crate::error::Result;
use crate::repo::{manifest::Manifest, ImageRef, Repository};

/// One image of the catalog: its manifest, or the error reading it (a damaged image is
/// listed as such, not hidden).
pub struct Entry {
    pub image: ImageRef,
    pub manifest: std::result::Result<Manifest, String>,
}

/// Every image of `repo`, oldest first within each name. Manifests are read a few at a time:
/// over a network each read waits a round trip.
pub fn load(repo: &Repository) -> Result<Vec<Entry>> {
    let images = repo.images()?;
    let lanes = repo.store().parallel_reads().max(1);
    let mut loaded: Vec<(usize, std::result::Result<Manifest, String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..lanes)
            .map(|lane| {
                let images = &images;
                s.spawn(move || {
                    images
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| i % lanes == lane)
                        .map(|(i, im)| (i, repo.load_manifest(im).map_err(|e| e.to_string())))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    loaded.sort_by_key(|(i, _)| *i);
    Ok(images
        .into_iter()
        .zip(loaded)
        .map(|(image, (_, manifest))| Entry { image, manifest })
        .collect())
}

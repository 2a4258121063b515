//! For the tests that open saved images: a real disk saved into a new repository, and the
//! image read back through a freshly opened repository, as every reader of an image does.

use std::sync::Arc;
use wraith_engine::device::Device;
use wraith_engine::events::Ctx;
use wraith_engine::pipeline::save::{save, SaveOptions};
use wraith_engine::plan::plan;
use wraith_engine::repo::image_disk::ImageDisk;
use wraith_engine::repo::Repository;

/// `src` saved as image "pc"; the image read with a chunk cache of `cache_bytes`.
pub fn saved_with_cache(
    src: &wraith_testkit::Disk,
    cache_bytes: usize,
) -> (tempfile::TempDir, ImageDisk) {
    let source = Device::open_read(&src.path).expect("open source");
    let p = plan(&source, source.identity.clone()).expect("plan");
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repository::open_or_create(dir.path()).expect("repository");
    let opts = SaveOptions {
        name: "pc".into(),
        machine: None,
        all_sectors: false,
        zstd_level: None,
    };
    let rep = save(&source, &p, &repo, &opts, &Ctx::quiet()).expect("save");
    let repo = Arc::new(Repository::open(dir.path()).expect("reopen"));
    let manifest = repo.load_manifest(&rep.image).expect("manifest");
    let disk = ImageDisk::new(repo, rep.image, manifest, cache_bytes).expect("image disk");
    (dir, disk)
}

/// `src` saved as image "pc", read with the default cache.
#[allow(dead_code)] // not every test binary that includes this module uses both
pub fn saved(src: &wraith_testkit::Disk) -> (tempfile::TempDir, ImageDisk) {
    saved_with_cache(src, wraith_engine::repo::image_disk::DEFAULT_CACHE_BYTES)
}

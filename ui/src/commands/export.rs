//! `wraith export REPO:NAME[@ID] OUT.{raw,img,qcow2,vhdx,vmdk} [--force]`: an image written as
//! a VM disk file. This only words the command: the format, the sparse writing and the
//! partial-file rule are the engine's (`wraith_engine::vdisk`). It never writes to the
//! repository, and an existing OUT is refused unless --force.

use super::{open_image_disk, Ctx};
use anyhow::{anyhow, bail, Result};
use serde_json::json;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use wraith_engine::human_bytes as hb;
use wraith_engine::vdisk::{self, Format};

pub fn run(ctx: &Ctx, image: &str, out: &Path, force: bool) -> Result<u8> {
    let format = Format::from_path(out).ok_or_else(|| {
        anyhow!(
            "{}: name the file .raw, .img, .qcow2, .vhdx or .vmdk (the extension chooses the format)",
            out.display()
        )
    })?;
    // Said before the repository is opened (which may mean a login and a network wait).
    if !force && out.symlink_metadata().is_ok() {
        bail!(
            "{} already exists; pass --force to overwrite it",
            out.display()
        );
    }
    let (disk, image, _repo, _mounted) = open_image_disk(ctx, image, "export")?;
    let stored = disk.stored();
    if !ctx.json {
        ctx.r.note(&format!(
            "exporting image {image} ({} disk, {} stored) to {} as {}",
            hb(wraith_engine::device::ReadAt::size(&disk)),
            hb(stored.total()),
            out.display(),
            format.name()
        ));
    }
    vdisk::export(
        &disk,
        &stored,
        out,
        format,
        force,
        &wraith_engine::events::Ctx::new(ctx.r, ctx.cancel, ctx.threads),
    )?;
    let md = std::fs::metadata(out)?;
    let on_disk = md.blocks() * 512;
    if ctx.json {
        println!(
            "{}",
            json!({ "result": "ok", "image": image, "output": out, "format": format.name(),
                "virtual_size": wraith_engine::device::ReadAt::size(&disk), "file_size": md.len(),
                "allocated": on_disk })
        );
    } else {
        println!(
            "exported image {image} to {} ({}, {} virtual, {} on disk)",
            out.display(),
            format.name(),
            hb(wraith_engine::device::ReadAt::size(&disk)),
            hb(on_disk)
        );
    }
    Ok(crate::EXIT_OK)
}

//! `wraith info DISK|REPO:NAME[@ID]|CLONEZILLA_DIR`: a disk's layout and how each part would
//! be copied, or an image's.

use super::{find_image, open_repo, print, Ctx};
use anyhow::{anyhow, Result};
use serde_json::json;
use std::path::Path;
use wraith_engine::human_bytes as hb;
use wraith_engine::ops::repository;
use wraith_engine::repo;
use wraith_engine::repo::location;

pub fn run(ctx: &Ctx, what: &str) -> Result<u8> {
    let json = ctx.json;
    let path = Path::new(what);
    if !location::is_url(what) && path.exists() && !path.is_dir() {
        let dev = wraith_engine::device::Device::open_read(path)?;
        // A qcow2/VHDX/VMDK file shows the disk it holds, as `save` would store it.
        let plan = match wraith_engine::vdisk::open_image(path)? {
            Some(disk) => {
                let mut identity = dev.identity.clone();
                identity.size = disk.size();
                identity.logical_sector_size = disk.sector_size();
                wraith_engine::plan::plan(&*disk, identity)
            }
            None => wraith_engine::plan::plan(&dev, dev.identity.clone()),
        }
        .map_err(|e| anyhow!("reading {}: {e}", path.display()))?;
        if json {
            println!(
                "{}",
                json!({ "result": "ok", "plan": print::plan_json(&plan) })
            );
        } else {
            print::plan(&plan);
            for w in plan.warnings() {
                println!("  note: {w}");
            }
        }
        return Ok(crate::EXIT_OK);
    }
    // A Clonezilla image directory: its table and what an import or restore would copy
    // (headers and bitmaps only are read).
    if wraith_engine::clonezilla::is_image_dir(path) {
        let disk = wraith_engine::clonezilla::ClonezillaDisk::open(path)?;
        let plan = disk.plan()?;
        if json {
            println!(
                "{}",
                json!({ "result": "ok", "plan": print::plan_json(&plan) })
            );
        } else {
            print::plan(&plan);
            for w in plan.warnings().iter().chain(&disk.warnings) {
                println!("  note: {w}");
            }
        }
        return Ok(crate::EXIT_OK);
    }
    let spec = repository::parse_image_spec(what)?;
    if spec.name.is_none() {
        return Err(anyhow!(
            "{}: not a disk or image file; for a repository name an image: REPO:NAME",
            location::redact(what)
        ));
    }
    let (repo, _mounted) = open_repo(ctx, &spec.repository)?;
    let image = find_image(&repo, &spec)?;
    let m = repo.load_manifest(&image)?;
    if json {
        println!(
            "{}",
            json!({ "result": "ok", "image": image, "manifest": {
                "created": m.created, "tool": m.tool, "source": m.source, "table": m.table, "stats": m.stats,
                "acquisition": m.acquisition, "zstd_level": m.zstd_level,
                "regions": m.regions.iter().map(|r| json!({"region": r.region.describe(), "start": r.region.start,
                    "len": r.region.len, "method": r.region.method, "fs": r.region.fs, "bytes": r.region.used.total()})).collect::<Vec<_>>(),
            }})
        );
    } else {
        println!(
            "image {image}, saved {} by {}",
            repo::timestamp_text(m.created),
            m.tool
        );
        if let Some(a) = &m.acquisition {
            println!(
                "  complete: every sector of the source ({} bytes), as read\n  sha256 {}\n  md5    {}",
                a.bytes, a.sha256, a.md5
            );
        }
        print::plan(&wraith_engine::ops::image_layout(&m));
        println!(
            "  stored {} for this image ({} chunks, {} all-zero)",
            hb(m.stats.stored_bytes),
            m.stats.chunks,
            m.stats.zero_chunks
        );
        if let Some(level) = m.zstd_level {
            println!(
                "  compression {} (new chunks of this save)",
                repo::describe_level(level)
            );
        }
    }
    Ok(crate::EXIT_OK)
}

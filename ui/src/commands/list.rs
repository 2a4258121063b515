//! `wraith list REPO`: the images of a repository.

use super::{open_repo, Ctx};
use anyhow::Result;
use serde_json::json;
use wraith_engine::human_bytes as hb;
use wraith_engine::ops::catalog;
use wraith_engine::repo;

pub fn run(ctx: &Ctx, at: &str) -> Result<u8> {
    let json = ctx.json;
    let repo = open_repo(ctx, at)?;
    let rows: Vec<(
        repo::ImageRef,
        Option<repo::manifest::Manifest>,
        Option<String>,
    )> = catalog::load(&repo)?
        .into_iter()
        .map(|e| match e.manifest {
            Ok(m) => (e.image, Some(m), None),
            Err(err) => (e.image, None, Some(err)),
        })
        .collect();
    if json {
        let v: Vec<_> = rows
            .iter()
            .map(|(i, m, e)| match m {
                Some(m) => json!({"name": i.name, "id": i.id, "created": m.created, "source": m.source, "stats": m.stats}),
                None => json!({"name": i.name, "id": i.id, "error": e}),
            })
            .collect();
        let repository =
            json!({ "location": repo.location(), "connection": repo.store().connection() });
        println!(
            "{}",
            json!({ "result": "ok", "images": v, "repository": repository })
        );
        return Ok(crate::EXIT_OK);
    }
    if rows.is_empty() {
        println!("{}: no images", repo.location());
    } else {
        println!(
            "{:<40} {:<24} {:>10} {:>10} {:>10}  source",
            "image", "saved", "data", "stored", "added"
        );
    }
    for (i, m, e) in rows {
        match m {
            Some(m) => println!(
                "{:<40} {:<24} {:>10} {:>10} {:>10}  {}",
                i.to_string(),
                repo::timestamp_text(m.created),
                hb(m.stats.image_bytes),
                hb(m.stats.stored_bytes),
                hb(m.stats.new_stored_bytes),
                m.source.describe()
            ),
            None => println!("{:<40} DAMAGED: {}", i.to_string(), e.unwrap_or_default()),
        }
    }
    Ok(crate::EXIT_OK)
}

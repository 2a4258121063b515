//! `wraith list REPO`: the images of a repository; `wraith list --find`: the repositories this
//! machine reaches without typing.

use super::{open_repo, Ctx};
use anyhow::Result;
use serde_json::json;
use wraith_engine::human_bytes as hb;
use wraith_engine::ops::catalog;
use wraith_engine::repo;

pub fn run(ctx: &Ctx, at: &str) -> Result<u8> {
    let json = ctx.json;
    let (repo, _mounted) = open_repo(ctx, at)?;
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
                Some(m) => json!({"name": i.name, "id": i.id, "created": m.created, "source": m.source, "stats": m.stats,
                    "acquisition": m.acquisition}),
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
                    + if m.acquisition.is_some() {
                        "  [all sectors, sha256+md5]"
                    } else {
                        ""
                    }
            ),
            None => println!("{:<40} DAMAGED: {}", i.to_string(), e.unwrap_or_default()),
        }
    }
    Ok(crate::EXIT_OK)
}

/// Every repository found on attached filesystems, then the known ones (kernel command line,
/// the remembered list), then the filesystems a save could start a new repository on.
pub fn find(ctx: &Ctx) -> Result<u8> {
    use wraith_engine::ops::{discover, known};
    let disks = wraith_engine::disks::list()?;
    let boot: Vec<String> = wraith_engine::live::wraith_media()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let places = discover::local(&disks, &[], &boot);
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let dir = known::list_dir(&disks, &boot).unwrap_or_else(|e| {
        ctx.r
            .note(&format!("the remembered repositories cannot be read: {e}"));
        None
    });
    let (known, warnings) = known::all(&cmdline, dir.as_ref().map(|d| d.path.as_path()));
    for w in &warnings {
        ctx.r.note(w);
    }
    if ctx.json {
        println!(
            "{}",
            json!({ "result": "ok", "places": places, "known": known,
                    "list": dir.as_ref().map(|d| d.path.join(known::LIST_FILE)) })
        );
        return Ok(crate::EXIT_OK);
    }
    let found: Vec<_> = places
        .iter()
        .flat_map(|p| p.repositories.iter().map(move |r| (p, r)))
        .collect();
    if found.is_empty() {
        println!("no repository on the attached drives");
    } else {
        println!(
            "{:<32} {:>6} {:<20} {:>10} {:>10}  on",
            "repository", "images", "newest", "fs size", "free"
        );
    }
    for (p, r) in &found {
        let newest = r
            .newest
            .as_ref()
            .map(|n| repo::timestamp_text(n.created))
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<32} {:>6} {:<20} {:>10} {:>10}  {}",
            r.at,
            r.images,
            newest,
            hb(p.size),
            hb(p.free),
            p.describe()
        );
        if let Some(e) = &r.error {
            println!("    DAMAGED: {e}");
        }
    }
    for p in places.iter().filter(|p| p.error.is_some()) {
        println!(
            "not looked at: {} ({}): {}",
            p.describe(),
            p.fs,
            p.error.as_deref().unwrap_or_default()
        );
    }
    if !known.is_empty() {
        println!();
        println!("known repositories:");
        for k in &known {
            let from = match k.origin {
                known::Origin::KernelCommandLine => "wraith.repo=",
                known::Origin::ListFile => known::LIST_FILE,
            };
            let name = k
                .name
                .as_deref()
                .map(|n| format!("{n}: "))
                .unwrap_or_default();
            println!("  {name}{}  ({from})", k.shown());
        }
    }
    let room: Vec<_> = places
        .iter()
        .filter(|p| p.writable && p.error.is_none() && p.repositories.is_empty())
        .collect();
    if !room.is_empty() {
        println!();
        println!("a new repository could go on:");
        for p in room {
            println!(
                "  {:<30} {:>10} free  {}",
                p.new_repository_at(),
                hb(p.free),
                p.describe()
            );
        }
    }
    Ok(crate::EXIT_OK)
}

//! `wraith disks`: every local disk, its health as the drive reports it, and which one is
//! the Wraith boot medium.

use anyhow::Result;
use serde_json::json;
use wraith_engine::disks;
use wraith_engine::human_bytes as hb;

pub fn run(json: bool) -> Result<u8> {
    let list = disks::list()?;
    if json {
        println!(
            "{}",
            json!({ "result": "ok", "disks": list, "boot_media": wraith_engine::live::wraith_media() }),
        );
        return Ok(crate::EXIT_OK);
    }
    if list.is_empty() {
        println!("no disks found");
    }
    let boot: Vec<String> = wraith_engine::live::wraith_media()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    for d in &list {
        let is_boot = boot.contains(&d.path);
        let flags = [
            (is_boot, "Wraith boot medium"),
            (d.removable, "removable"),
            (d.rotational, "rotational"),
            (d.read_only, "read-only"),
        ]
        .iter()
        .filter(|(b, _)| *b)
        .map(|(_, s)| *s)
        .collect::<Vec<_>>()
        .join(", ");
        println!(
            "{:<14} {:>10}  {:<7} {}  {}{}",
            d.path,
            hb(d.size),
            d.transport,
            d.model.as_deref().unwrap_or("(unknown model)"),
            d.serial
                .as_deref()
                .map(|s| format!("serial {s}"))
                .unwrap_or_default(),
            if flags.is_empty() {
                String::new()
            } else {
                format!("  [{flags}]")
            }
        );
        if let Some(h) = &d.health {
            println!("  health: {}", h.describe());
        }
        for p in &d.partitions {
            println!(
                "  {:<12} {:>10}  {:<7} {}",
                p.path,
                hb(p.size),
                p.fs.as_deref().unwrap_or("-"),
                p.label.as_deref().unwrap_or("")
            );
        }
    }
    Ok(crate::EXIT_OK)
}

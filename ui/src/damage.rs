//! What the CLI says after a clone or save of a failing disk: which ranges stayed unreadable,
//! in which partitions, and where the ddrescue mapfile is. The engine found them; this only
//! words them for people and for the JSON result.

use serde_json::json;
use wraith_engine::extent::ExtentList;
use wraith_engine::human_bytes as hb;
use wraith_engine::pipeline::rescue;
use wraith_engine::plan::Plan;

/// Adds the unreadable ranges to a job's result; returns the exit code to use (EXIT_PARTIAL
/// when something could not be read) after telling a person on stdout.
pub fn report(
    json_out: bool,
    plan: &Plan,
    bad: &ExtentList,
    mapfile: Option<&str>,
    result: &mut serde_json::Value,
) -> u8 {
    if bad.is_empty() {
        return crate::EXIT_OK;
    }
    let where_ = rescue::by_region(&plan.regions, bad);
    result["result"] = json!("partial");
    result["unreadable_bytes"] = json!(bad.total());
    result["unreadable"] = json!(bad
        .iter()
        .map(|e| json!({ "start": e.start, "len": e.len }))
        .collect::<Vec<_>>());
    result["unreadable_regions"] = json!(where_);
    if let Some(m) = mapfile {
        result["mapfile"] = json!(m);
    }
    if !json_out {
        println!(
            "WARNING: {} of the source could not be read ({} ranges); the copy holds zeros there:",
            hb(bad.total()),
            bad.len()
        );
        for w in &where_ {
            println!("  {w}");
        }
        if let Some(m) = mapfile {
            println!("  GNU ddrescue mapfile: {m}");
        }
    }
    crate::EXIT_PARTIAL
}

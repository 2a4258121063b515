//! How the CLI words plans and reports for people (the JSON forms come from the engine).

use serde_json::json;
use wraith_engine::human_bytes as hb;
use wraith_engine::job::Action;
use wraith_engine::ops::{Outcome, Report, Summary};
use wraith_engine::plan::{self, Method, Plan};

pub fn plan(plan: &Plan) {
    let t = &plan.table;
    let what = if plan.disk.model.is_some() {
        format!("{}: {}", plan.disk.path, plan.disk.describe())
    } else {
        plan.disk.describe()
    };
    let table = match t.kind {
        wraith_engine::table::TableKind::None => "no partition table".to_string(),
        k => format!("{} partition table", format!("{k:?}").to_uppercase()),
    };
    println!(
        "{what}, {} bytes, {table}, {}-byte sectors",
        plan.disk.size, t.sector_size
    );
    println!(
        "  {:<16} {:>11} {:>11} {:<7} {:<12} {:>11}  copy",
        "region", "start", "size", "fs", "label", "to copy"
    );
    for r in &plan.regions {
        let (fs, label) = match &r.fs {
            Some(f) => (
                f.kind.name().to_string(),
                f.label.clone().unwrap_or_default(),
            ),
            None => ("-".into(), String::new()),
        };
        let how = match &r.method {
            Method::UsedBlocks => "used blocks".to_string(),
            Method::Raw { reason } => format!("raw ({reason})"),
        };
        let ty = match &r.kind {
            plan::RegionKind::Partition { number } => {
                let p = t.partitions.iter().find(|p| p.number == *number);
                format!(
                    "{} {}",
                    number,
                    p.map(|p| p.type_name.as_str()).unwrap_or("")
                )
            }
            _ => r.describe(),
        };
        println!(
            "  {:<16} {:>11} {:>11} {:<7} {:<12} {:>11}  {how}",
            trunc(&ty, 16),
            hb(r.start),
            hb(r.len),
            fs,
            trunc(&label, 12),
            hb(r.used.total())
        );
    }
    println!(
        "  copies {} of {}{}; smallest target {}",
        hb(plan.copy_bytes()),
        hb(plan.disk.size),
        if plan.raw_bytes() > 0 {
            format!(" ({} raw, all-zero blocks skipped)", hb(plan.raw_bytes()))
        } else {
            String::new()
        },
        hb(plan.min_target_size())
    );
}

fn trunc(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

pub fn plan_json(plan: &Plan) -> serde_json::Value {
    json!({
        "disk": plan.disk,
        "table": plan.table,
        "regions": plan.regions.iter().map(|r| json!({
            "region": r.describe(), "start": r.start, "len": r.len, "method": r.method, "fs": r.fs,
            "copy_bytes": r.used.total(),
        })).collect::<Vec<_>>(),
        "copy_bytes": plan.copy_bytes(),
        "raw_bytes": plan.raw_bytes(),
        "min_target_size": plan.min_target_size(),
        "warnings": plan.warnings(),
    })
}

/// A checked plan before its confirmation: what is read, what is written and destroyed, and
/// the layout with how each region is copied.
pub fn summary(s: &Summary) {
    match s.action {
        Action::Restore => {
            if let (Some(image), Some(layout)) = (&s.image, &s.layout) {
                println!("restoring {image} (saved from {})", layout.disk.describe());
            }
        }
        Action::Verify if s.source.is_none() => return,
        _ => {}
    }
    if let Some(layout) = &s.layout {
        if s.action != Action::Restore {
            plan(layout);
        }
    }
    if let Some(r) = &s.reshape {
        println!(
            "  layout {} for {}:",
            r.policy,
            s.target.as_ref().map(|t| t.describe()).unwrap_or_default()
        );
        for line in r.describe() {
            println!("    {line}");
        }
        if r.scratch_bytes > 0 {
            println!("    scratch space needed at most: {}", hb(r.scratch_bytes));
        }
    }
    if let Some(level) = s.zstd_level {
        println!(
            "  compression {} for the chunks it stores",
            wraith_engine::repo::describe_level(level)
        );
    }
    if let Some(d) = s.destroys() {
        println!("  destroys {d}");
    }
    if s.verify {
        println!("  verifies the result afterwards");
    }
}

/// The report of a finished job for people, a line each.
pub fn report(r: &Report) -> Vec<String> {
    let mut out = Vec::new();
    let describe = |d: &Option<wraith_engine::device::DiskIdentity>| {
        d.as_ref().map(|d| d.describe()).unwrap_or_default()
    };
    match r.action {
        Action::Clone => out.push(format!(
            "cloned {} onto {}: {} copied",
            describe(&r.source),
            describe(&r.target),
            hb(r.bytes)
        )),
        Action::Save => {
            if let (Some(image), Some(stats)) = (&r.image, &r.stats) {
                out.push(format!(
                    "saved {} as {image}: {} of disk data, {} new in the repository ({} of {} chunks new)",
                    describe(&r.source),
                    hb(stats.image_bytes),
                    hb(stats.new_stored_bytes),
                    stats.new_chunks,
                    stats.chunks
                ));
            }
        }
        Action::Restore => out.push(format!(
            "restored {} onto {}: {} written",
            r.image.as_ref().map(|i| i.to_string()).unwrap_or_default(),
            describe(&r.target),
            hb(r.bytes)
        )),
        Action::Verify => {}
    }
    if !r.unreadable.is_empty() {
        let regions = r
            .layout
            .as_ref()
            .map(|l| l.regions.as_slice())
            .unwrap_or(&[]);
        out.extend(crate::damage::lines(
            regions,
            &r.unreadable,
            &r.unreadable_files,
            r.mapfile.as_deref(),
        ));
    }
    if let Some(v) = &r.verified {
        for p in &v.report.problems {
            let at = p
                .offset
                .map(|o| format!(", disk offset {o}"))
                .unwrap_or_default();
            let region = if p.region.is_empty() {
                String::new()
            } else {
                format!(", {}", p.region)
            };
            let image = if p.image.is_empty() {
                "repository"
            } else {
                &p.image
            };
            out.push(format!("DAMAGED {image}{region}{at}: {}", p.detail));
        }
        let rep = &v.report;
        if r.action == Action::Verify {
            if rep.problems.is_empty() {
                out.push(format!(
                    "{}: OK ({} images, {} chunks, {} checked)",
                    v.what,
                    rep.images,
                    rep.chunks,
                    hb(rep.bytes)
                ));
            } else {
                out.push(format!(
                    "{}: {} problem(s) found",
                    v.what,
                    rep.problems.len()
                ));
            }
        } else if rep.problems.is_empty() {
            out.push(format!(
                "verified {}: {} compared, they match",
                v.what,
                hb(rep.bytes)
            ));
        } else {
            out.push(format!(
                "VERIFY FAILED: {} difference(s) between {}",
                rep.problems.len(),
                v.what
            ));
        }
    }
    if r.outcome == Outcome::Partial && r.action == Action::Restore {
        out.push("the image holds zeros where its source could not be read (see above)".into());
    }
    if let Some(k) = &r.kept {
        out.push(format!("result and log kept as {k}"));
    }
    out
}

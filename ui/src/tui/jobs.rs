//! Runs engine pipelines on a worker thread: events go to the UI loop over its channel, and
//! the result comes back as one final message. The interlocks are the CLI's, called the same way.

use super::app::{Msg, Outcome};
use super::running::Phase;
use std::path::Path;
use std::sync::mpsc::Sender;
use wraith_engine::device::Device;
use wraith_engine::events::{Cancel, Ctx, Event};
use wraith_engine::human_bytes as hb;
use wraith_engine::pipeline;
use wraith_engine::plan::Plan;
use wraith_engine::repo::{manifest::Manifest, Credentials, ImageRef, Repository};
use wraith_engine::{live, safety, table::TableKind};

pub enum Job {
    Clone {
        source: Device,
        plan: Plan,
        target: Device,
        verify: bool,
    },
    Save {
        source: Device,
        plan: Plan,
        /// A directory or URL; opened (created if new) when the job starts.
        repo: String,
        creds: Credentials,
        name: String,
        verify: bool,
    },
    Restore {
        repo: Repository,
        image: ImageRef,
        manifest: Box<Manifest>,
        target: Device,
        verify: bool,
    },
    Verify {
        repo: Repository,
        image: ImageRef,
    },
}

impl Job {
    /// The engine steps this job runs, with the bytes each is expected to process: the
    /// running screen's overall bar. The engine's own totals replace these as steps start.
    pub fn phases(&self) -> Vec<Phase> {
        match self {
            Job::Clone { plan, verify, .. } => {
                let mut p = vec![Phase::new("clone", plan.copy_bytes())];
                if *verify {
                    p.push(Phase::new("verify", plan.copy_bytes()));
                }
                p
            }
            Job::Save { plan, verify, .. } => {
                let mut p = vec![Phase::new("save", plan.copy_bytes())];
                if *verify {
                    p.push(Phase::new("verify", plan.copy_bytes()));
                }
                p
            }
            Job::Restore {
                manifest, verify, ..
            } => {
                let mut p = vec![Phase::new("restore", manifest.stats.image_bytes)];
                if *verify {
                    p.push(Phase::new("verify", manifest.stats.image_bytes));
                }
                p
            }
            Job::Verify { .. } => vec![Phase::new("verify", 0)],
        }
    }
}

/// The same checks `wraith clone` makes before its confirmation prompt.
pub fn check_clone(source: &Device, plan: &Plan, target: &Device) -> wraith_engine::Result<()> {
    safety::check_not_source(source, target)?;
    safety::check_not_mounted(target)?;
    live::check_not_boot_medium(target)?;
    safety::check_sector_size(plan.table.sector_size, target)?;
    safety::check_size(
        target,
        plan.min_target_size(),
        &format!("source {}", source.identity.describe()),
    )
}

/// The smallest disk an image restores onto.
pub fn restore_needs(m: &Manifest) -> u64 {
    if m.table.kind == TableKind::None {
        m.source.size
    } else {
        m.table.min_disk_size
    }
}

/// The same checks `wraith restore` makes before its confirmation prompt.
pub fn check_restore(
    repo: &Repository,
    repo_path: &Path,
    image: &ImageRef,
    m: &Manifest,
    target: &Device,
) -> wraith_engine::Result<()> {
    safety::check_not_mounted(target)?;
    live::check_not_boot_medium(target)?;
    safety::check_not_holding(target, repo_path, "the repository")?;
    safety::check_sector_size(m.table.sector_size, target)?;
    safety::check_size(
        target,
        restore_needs(m),
        &format!("image {image} (from {})", m.source.describe()),
    )?;
    pipeline::restore::precheck(repo, image, m)
}

pub fn spawn(job: Job, tx: Sender<Msg>, cancel: Cancel) {
    std::thread::spawn(move || {
        let events = tx.clone();
        let sink = move |e: Event| {
            // The UI may be gone (quit during a job); the job still ends through Cancel.
            let _ = events.send(Msg::Engine(e));
        };
        let outcome = match run(job, &sink, &cancel) {
            Ok((Ended::Done, lines)) => Outcome::Ok(lines),
            Ok((Ended::Partial, lines)) => Outcome::Partial(lines),
            Ok((Ended::Mismatch, lines)) => Outcome::Failed(lines.join("\n")),
            Err(wraith_engine::Error::Cancelled) => Outcome::Cancelled,
            Err(e) => Outcome::Failed(e.to_string()),
        };
        let _ = tx.send(Msg::Done(outcome));
    });
}

/// How a job that ran to its end went.
enum Ended {
    Done,
    /// Done, but source bytes stayed unreadable (zeros in the copy).
    Partial,
    /// The verify after the job found differences.
    Mismatch,
}

impl Ended {
    /// A verify's mismatch outranks unreadable bytes; unreadable bytes outrank success.
    fn of(verified: bool, unreadable: bool) -> Ended {
        match (verified, unreadable) {
            (false, _) => Ended::Mismatch,
            (true, true) => Ended::Partial,
            (true, false) => Ended::Done,
        }
    }
}

fn run(
    job: Job,
    sink: &(dyn Fn(Event) + Send + Sync),
    cancel: &Cancel,
) -> wraith_engine::Result<(Ended, Vec<String>)> {
    let ctx = Ctx::new(&sink, cancel, pipeline::worker_count());
    match job {
        Job::Clone {
            source,
            plan,
            target,
            verify,
        } => {
            let rep = pipeline::clone::clone(&source, &plan, &target, &ctx)?;
            let mut lines = vec![
                format!("cloned {}", source.identity.describe()),
                format!("onto   {}", target.identity.describe()),
                format!("{} copied", hb(rep.bytes)),
            ];
            let partial = !rep.unreadable.is_empty();
            if partial {
                // The same report and ddrescue mapfile as `wraith clone` gives.
                // The clone is done: a mapfile that cannot be written is told, not fatal.
                let mapfile = crate::commands::clone_mapfile(&plan, &rep.unreadable)
                    .unwrap_or_else(|e| {
                        lines.push(format!("no ddrescue mapfile: {e:#}"));
                        None
                    });
                lines.extend(crate::damage::lines(
                    &plan.regions,
                    &rep.unreadable,
                    &rep.unreadable_files,
                    mapfile.as_deref(),
                ));
            }
            if !verify {
                return Ok((Ended::of(true, partial), lines));
            }
            let v = pipeline::verify::verify_clone(&source, &plan, &target, &ctx)?;
            lines.extend(verify_lines(&v, "the target and the source"));
            Ok((Ended::of(v.problems.is_empty(), partial), lines))
        }
        Job::Save {
            source,
            plan,
            repo,
            creds,
            name,
            verify,
        } => {
            let repo = Repository::open_url(&repo, &creds, true)?;
            let opts = pipeline::save::SaveOptions { name };
            let rep = pipeline::save::save(&source, &plan, &repo, &opts, &ctx)?;
            let mut lines = vec![
                format!("saved {}", source.identity.describe()),
                format!("as {} in {}", rep.image, repo.location()),
                format!(
                    "{} of disk data, {} new in the repository",
                    hb(rep.stats.image_bytes),
                    hb(rep.stats.new_stored_bytes)
                ),
            ];
            let partial = !rep.unreadable.is_empty();
            if partial {
                let mapfile = format!(
                    "{}/{}",
                    repo.location(),
                    rep.image.path().replace(".manifest", ".mapfile")
                );
                lines.extend(crate::damage::lines(
                    &plan.regions,
                    &rep.unreadable,
                    &rep.unreadable_files,
                    Some(&mapfile),
                ));
            }
            let ok =
                !verify || verify_disk(&source, &repo, &rep.image, None, sink, cancel, &mut lines)?;
            Ok((Ended::of(ok, partial), lines))
        }
        Job::Restore {
            repo,
            image,
            manifest,
            target,
            verify,
        } => {
            let rep = pipeline::restore::restore(&repo, &image, &manifest, &target, &ctx)?;
            let mut lines = vec![
                format!("restored {image}"),
                format!("onto {}", target.identity.describe()),
                format!("{} written", hb(rep.bytes)),
            ];
            // An image of a failing disk restores its zeros: the technician must know which
            // files they are in, here as after the save.
            let partial = !manifest.unreadable.is_empty();
            if partial {
                let regions: Vec<_> = manifest.regions.iter().map(|r| r.region.clone()).collect();
                lines.extend(crate::damage::lines(
                    &regions,
                    &manifest.unreadable,
                    &manifest.unreadable_files,
                    None,
                ));
            }
            let ok = !verify
                || verify_disk(
                    &target,
                    &repo,
                    &image,
                    Some(&manifest),
                    sink,
                    cancel,
                    &mut lines,
                )?;
            Ok((Ended::of(ok, partial), lines))
        }
        Job::Verify { repo, image } => {
            let rep = pipeline::verify::verify_repo(&repo, std::slice::from_ref(&image), &ctx)?;
            let mut lines = vec![format!(
                "{image}: {} chunks, {} checked, {} problem(s)",
                rep.chunks,
                hb(rep.bytes),
                rep.problems.len()
            )];
            for p in &rep.problems {
                lines.push(format!("DAMAGED {} {}: {}", p.image, p.region, p.detail));
            }
            Ok((Ended::of(rep.problems.is_empty(), false), lines))
        }
    }
}

/// Compares `disk` with the image (as `wraith verify --against` does); adds the result to
/// `lines` and returns whether they match.
fn verify_disk(
    disk: &Device,
    repo: &Repository,
    image: &ImageRef,
    manifest: Option<&Manifest>,
    sink: &(dyn Fn(Event) + Send + Sync),
    cancel: &Cancel,
    lines: &mut Vec<String>,
) -> wraith_engine::Result<bool> {
    let loaded;
    let m = match manifest {
        Some(m) => m,
        None => {
            loaded = repo.load_manifest(image)?;
            &loaded
        }
    };
    let ctx = Ctx::new(&sink, cancel, pipeline::worker_count());
    let rep = pipeline::verify::verify_against(disk, repo, image, m, &ctx)?;
    lines.extend(verify_lines(&rep, "the disk and the image"));
    Ok(rep.problems.is_empty())
}

/// "verified: ..." or the differences, at most ten.
fn verify_lines(rep: &pipeline::verify::VerifyReport, between: &str) -> Vec<String> {
    if rep.problems.is_empty() {
        return vec![format!(
            "verified: {} compared, {between} match",
            hb(rep.bytes)
        )];
    }
    let mut out = vec![format!(
        "VERIFY FAILED: {} difference(s) between {between}",
        rep.problems.len()
    )];
    for p in rep.problems.iter().take(10) {
        let at = p
            .offset
            .map(|o| format!(" at byte {o}"))
            .unwrap_or_default();
        out.push(format!("  {}{at}: {}", p.region, p.detail));
    }
    out
}

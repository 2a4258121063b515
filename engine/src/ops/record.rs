//! Running a checked plan and recording it: the report every front end renders, the result
//! JSON the CLI prints and jobs print as `WRAITH-RESULT`, and the job's log — kept, with the
//! result, in the repository's `results/` so it survives the live system's power-off.

use super::{CheckedPlan, Op, Summary};
use crate::device::DiskIdentity;
use crate::error::{Error, Result};
use crate::events::{Ctx, Event, Sink};
use crate::extent::ExtentList;
use crate::job::Action;
use crate::pipeline::{self, rescue::DamagedFiles, verify::VerifyReport};
use crate::plan::Plan;
use crate::repo::{manifest::ImageStats, ImageRef, Repository};
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::Instant;

/// How a job that ran to its end went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Done, but source bytes stayed unreadable (zeros in the copy, named in the report).
    Partial,
    /// The verification found differences (or damaged chunks).
    Mismatch,
}

/// What the verification after a job (or a verify job itself) compared.
#[derive(Clone, Debug)]
pub struct Verified {
    /// "the target against the source", "the disk against image pc@…", "the repository".
    pub what: String,
    pub report: VerifyReport,
}

/// What a job did: every front end renders this, nothing else.
#[derive(Clone, Debug)]
pub struct Report {
    pub action: Action,
    pub outcome: Outcome,
    pub source: Option<DiskIdentity>,
    pub target: Option<DiskIdentity>,
    pub image: Option<ImageRef>,
    /// The repository's location (shown form) and how it was reached.
    pub repository: Option<(String, Option<String>)>,
    /// Used bytes copied, stored or written.
    pub bytes: u64,
    pub stats: Option<ImageStats>,
    /// The layout the job worked on (for naming regions in damage reports).
    pub layout: Option<Plan>,
    /// Partitions moved and resized for the target, as planned and done.
    pub reshape: Option<crate::pipeline::reshape::Reshape>,
    /// Source bytes that stayed unreadable (absolute disk offsets) and the files they hit.
    pub unreadable: ExtentList,
    pub unreadable_files: Vec<DamagedFiles>,
    /// A GNU ddrescue mapfile of the unreadable bytes (the temporary directory for a clone,
    /// beside the image for a save).
    pub mapfile: Option<String>,
    pub verified: Option<Verified>,
    pub seconds: f64,
    /// The job's log as kept in `results/`: the plan, each step, every warning, the result.
    pub log: Vec<String>,
    /// Where the result and log were kept, when they were.
    pub kept: Option<String>,
    /// What a restore changed to give the machine its name, per partition.
    pub identity: Vec<crate::identity::Named>,
}

impl Report {
    /// The result as one JSON object: the CLI's `--json` output and a job's `WRAITH-RESULT`.
    pub fn json(&self) -> Value {
        let mut v = json!({
            "result": match self.outcome {
                Outcome::Done => "ok",
                Outcome::Partial => "partial",
                Outcome::Mismatch => "mismatch",
            },
            "action": self.action,
            "seconds": self.seconds,
        });
        let put = |v: &mut Value, k: &str, x: Value| {
            if !x.is_null() {
                v[k] = x;
            }
        };
        put(&mut v, "source", json!(self.source));
        put(&mut v, "target", json!(self.target));
        put(&mut v, "image", json!(self.image));
        if let Some((location, connection)) = &self.repository {
            v["repository"] = json!({ "location": location, "connection": connection });
        }
        if self.action != Action::Verify {
            v["bytes"] = json!(self.bytes);
        }
        put(&mut v, "stats", json!(self.stats));
        put(&mut v, "layout", json!(self.reshape));
        if !self.unreadable.is_empty() {
            v["unreadable_bytes"] = json!(self.unreadable.total());
            v["unreadable"] = json!(self
                .unreadable
                .iter()
                .map(|e| json!({ "start": e.start, "len": e.len }))
                .collect::<Vec<_>>());
            if let Some(l) = &self.layout {
                v["unreadable_regions"] =
                    json!(pipeline::rescue::by_region(&l.regions, &self.unreadable));
            }
            if !self.unreadable_files.is_empty() {
                v["unreadable_files"] = json!(self.unreadable_files);
            }
            put(&mut v, "mapfile", json!(self.mapfile));
        }
        if let Some(ver) = &self.verified {
            if self.action == Action::Verify {
                v["report"] = json!(ver.report);
            } else {
                v["verified"] = json!(ver.report.problems.is_empty());
                v["verify"] = json!({
                    "what": ver.what,
                    "bytes": ver.report.bytes,
                    "chunks": ver.report.chunks,
                    "problems": ver.report.problems,
                });
            }
        }
        if !self.identity.is_empty() {
            v["identity"] = json!(self.identity);
        }
        put(&mut v, "kept", json!(self.kept));
        v
    }
}

/// A sink that passes every event on and keeps a line of the log for each that matters
/// (steps and warnings; progress is left out, it would be most of the log and tell nothing).
struct Recorder<'a> {
    inner: &'a dyn Sink,
    started: Instant,
    lines: Mutex<Vec<String>>,
}

impl Recorder<'_> {
    fn line(&self, text: String) {
        let t = self.started.elapsed().as_secs_f64();
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!("[{t:8.1}s] {text}"));
    }
}

impl Sink for Recorder<'_> {
    fn event(&self, event: Event) {
        match &event {
            Event::Started { step, total } => {
                self.line(format!("{step}: started, {}", crate::human_bytes(*total)))
            }
            Event::Finished { step } => self.line(format!("{step}: finished")),
            Event::Warning { message } => self.line(format!("warning: {message}")),
            Event::Progress { .. } => {}
        }
        self.inner.event(event);
    }
}

/// The plan as the log's first lines: what was chosen and decided.
fn plan_lines(s: &Summary) -> Vec<String> {
    let mut out = vec![format!(
        "wraith {} {:?}",
        env!("CARGO_PKG_VERSION"),
        s.action
    )];
    if let Some(d) = &s.source {
        out.push(format!("source: {} ({})", d.describe(), d.path));
    }
    if let Some(d) = &s.target {
        out.push(format!("target: {} ({})", d.describe(), d.path));
    }
    if let Some(r) = &s.repository {
        out.push(format!("repository: {r}"));
    }
    match (&s.image, &s.name) {
        (Some(i), _) => out.push(format!("image: {i}")),
        (None, Some(n)) => out.push(format!("image name: {n}")),
        _ => {}
    }
    if let Some(l) = &s.layout {
        for r in &l.regions {
            let how = match &r.method {
                crate::plan::Method::UsedBlocks => "used blocks".to_string(),
                crate::plan::Method::Raw { reason } => format!("raw ({reason})"),
            };
            out.push(format!(
                "  {}: {} at {}, {} to copy, {}{}",
                r.describe(),
                crate::human_bytes(r.len),
                r.start,
                crate::human_bytes(r.used.total()),
                how,
                r.fs.as_ref()
                    .map(|f| format!(", {}", f.kind.name()))
                    .unwrap_or_default()
            ));
        }
    }
    for w in &s.all_warnings() {
        out.push(format!("warning: {w}"));
    }
    if s.verify {
        out.push("verify afterwards: yes".into());
    }
    if let Some(h) = &s.hostname {
        out.push(format!("then name the machine: {h}"));
    }
    out
}

pub(super) fn run_recorded(plan: &CheckedPlan, ctx: &Ctx) -> Result<Report> {
    let started = Instant::now();
    let sink = ctx.sink;
    let rec = Recorder {
        inner: sink,
        started,
        lines: Mutex::new(Vec::new()),
    };
    let result = execute(plan, &Ctx::new(&rec, ctx.cancel, ctx.threads))
        .map_err(|e| target_gone(&plan.summary, e));
    let mut log = plan_lines(&plan.summary);
    log.extend(rec.lines.into_inner().unwrap_or_else(|p| p.into_inner()));
    let seconds = (started.elapsed().as_secs_f64() * 10.0).round() / 10.0;
    let repo = plan.repository();
    match result {
        Ok(mut report) => {
            report.seconds = seconds;
            log.push(format!("result: {}", report.json()));
            if plan.keep_results {
                if let Some(repo) = repo {
                    report.kept = keep(repo, plan.summary.action, &report.json(), &log, sink);
                }
            }
            report.log = log;
            Ok(report)
        }
        Err(e) => {
            let v = json!({
                "result": if matches!(e, Error::Cancelled) { "cancelled" } else { "error" },
                "action": plan.summary.action,
                "error": e.to_string(),
                "seconds": seconds,
            });
            log.push(format!("result: {v}"));
            if plan.keep_results {
                if let Some(repo) = repo {
                    keep(repo, plan.summary.action, &v, &log, sink);
                }
            }
            Err(e)
        }
    }
}

/// A clone or restore that failed because its target disappeared (its device node is gone a
/// moment after the failure) is said as that; any other error is returned as it was.
fn target_gone(summary: &super::Summary, e: Error) -> Error {
    let Some(t) = &summary.target else { return e };
    if !matches!(summary.action, Action::Clone | Action::Restore)
        || matches!(e, Error::Cancelled | Error::Refused { .. })
        || !t.path.starts_with("/dev/")
    {
        return e;
    }
    // The kernel removes the node shortly after the device: give it a second.
    let gone = (0..10).any(|i| {
        if i > 0 {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        !std::path::Path::new(&t.path).exists()
    });
    if !gone {
        return e;
    }
    Error::TargetGone {
        target: t.describe(),
        action: format!("{:?}", summary.action).to_lowercase(),
        cause: e.to_string(),
    }
}

/// Stores `results/<time>-<action>.json` and `.log`; returns the JSON's path. A repository
/// that cannot be written (a plain web server) only costs a warning: the job itself is done.
fn keep(
    repo: &Repository,
    action: Action,
    result: &Value,
    log: &[String],
    sink: &dyn Sink,
) -> Option<String> {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let base = format!(
        "results/{}-{}",
        crate::repo::timestamp_id_ms(ms),
        format!("{action:?}").to_lowercase()
    );
    let mut text = log.join("\n");
    text.push('\n');
    let stored = repo
        .store()
        .put_new(&format!("{base}.json"), format!("{result}\n").as_bytes())
        .and_then(|_| {
            repo.store()
                .put_new(&format!("{base}.log"), text.as_bytes())
        });
    match stored {
        Ok(_) => Some(format!("{}/{base}.json", repo.location())),
        Err(e) => {
            sink.event(Event::Warning {
                message: format!(
                    "the job's result and log could not be kept in {}/results: {e}",
                    repo.location()
                ),
            });
            None
        }
    }
}

fn empty_report(s: &Summary) -> Report {
    Report {
        action: s.action,
        outcome: Outcome::Done,
        source: s.source.clone(),
        target: s.target.clone(),
        image: s.image.clone(),
        repository: None,
        bytes: 0,
        stats: None,
        layout: s.layout.clone(),
        reshape: s.reshape.clone(),
        unreadable: ExtentList::new(),
        unreadable_files: Vec::new(),
        mapfile: None,
        verified: None,
        seconds: 0.0,
        log: Vec::new(),
        kept: None,
        identity: Vec::new(),
    }
}

fn repo_shown(repo: &Repository) -> Option<(String, Option<String>)> {
    Some((repo.location(), repo.store().connection()))
}

/// The outcome from what was unreadable and what the verification found.
fn outcome(r: &Report) -> Outcome {
    match &r.verified {
        Some(v) if !v.report.problems.is_empty() => Outcome::Mismatch,
        _ if !r.unreadable.is_empty() => Outcome::Partial,
        _ => Outcome::Done,
    }
}

fn execute(plan: &CheckedPlan, ctx: &Ctx) -> Result<Report> {
    let sink = ctx.sink;
    let mut r = empty_report(&plan.summary);
    match &plan.op {
        Op::Clone {
            source,
            plan: copy,
            target,
            reshape,
        } => {
            let rep = pipeline::clone::clone(&**source, copy, target, reshape.as_ref(), ctx)?;
            r.bytes = rep.bytes;
            r.mapfile = clone_mapfile(copy, &rep.unreadable, sink);
            r.unreadable = rep.unreadable;
            r.unreadable_files = rep.unreadable_files;
            if plan.summary.verify {
                let v = match reshape {
                    Some(shape) => {
                        pipeline::reshape::verify_cloned(&**source, copy, target, shape, ctx)?
                    }
                    None => pipeline::verify::verify_clone(&**source, copy, target, ctx)?,
                };
                r.verified = Some(Verified {
                    what: "the target against the source".into(),
                    report: v,
                });
            }
            if reshape.is_some() {
                show_new_table(target, sink);
            }
        }
        Op::Save {
            source,
            plan: copy,
            repo,
            name,
            machine,
            all_sectors,
            zstd_level,
        } => {
            let opts = pipeline::save::SaveOptions {
                name: name.clone(),
                machine: machine.clone(),
                all_sectors: *all_sectors,
                zstd_level: Some(*zstd_level),
            };
            let rep = pipeline::save::save(&**source, copy, repo, &opts, ctx)?;
            r.repository = repo_shown(repo);
            r.bytes = rep.stats.image_bytes;
            r.stats = Some(rep.stats.clone());
            if !rep.unreadable.is_empty() {
                r.mapfile = Some(format!(
                    "{}/{}",
                    repo.location(),
                    rep.image.path().replace(".manifest", ".mapfile")
                ));
            }
            r.unreadable = rep.unreadable;
            r.unreadable_files = rep.unreadable_files;
            r.image = Some(rep.image.clone());
            if plan.summary.verify {
                let m = repo.load_manifest(&rep.image)?;
                let v = pipeline::verify::verify_against(&**source, repo, &rep.image, &m, ctx)?;
                r.verified = Some(Verified {
                    what: format!("the disk against image {}", rep.image),
                    report: v,
                });
            }
        }
        Op::Restore {
            repo,
            image,
            manifest,
            target,
            reshape,
        } => {
            let rep =
                pipeline::restore::restore(repo, image, manifest, target, reshape.as_ref(), ctx)?;
            r.repository = repo_shown(repo);
            r.bytes = rep.bytes;
            // An image of a failing disk restores its zeros: the report names them again.
            r.unreadable = manifest.unreadable.clone();
            r.unreadable_files = manifest.unreadable_files.clone();
            if plan.summary.verify {
                let v = match reshape {
                    Some(shape) => pipeline::reshape::verify_restored(
                        target, repo, image, manifest, shape, ctx,
                    )?,
                    None => pipeline::verify::verify_against(target, repo, image, manifest, ctx)?,
                };
                r.verified = Some(Verified {
                    what: format!("the target against image {image}"),
                    report: v,
                });
            }
            if reshape.is_some() {
                show_new_table(target, ctx.sink);
            }
            // After the verification: naming changes files the image does not hold.
            if let Some(name) = &plan.summary.hostname {
                target.sync()?;
                r.identity = crate::identity::apply(target.path(), name, ctx.sink)?;
            }
        }
        Op::Verify {
            repo,
            images,
            against,
        } => {
            r.repository = repo_shown(repo);
            let (what, v) = match against {
                Some((dev, m)) => {
                    let image = &images[0];
                    // A disk restored with another layout is checked where its partitions
                    // went, as the restore's own verification did.
                    let v = match pipeline::reshape::found_layout(dev, &m.table) {
                        Some(shape) => {
                            pipeline::reshape::verify_restored(dev, repo, image, m, &shape, ctx)?
                        }
                        None => pipeline::verify::verify_against(dev, repo, image, m, ctx)?,
                    };
                    (format!("{} against image {image}", dev.identity.path), v)
                }
                None => {
                    let v = pipeline::verify::verify_repo(repo, images, ctx)?;
                    let what = match images.as_slice() {
                        [one] => format!("{}:{one}", repo.location()),
                        _ => repo.location(),
                    };
                    (what, v)
                }
            };
            r.bytes = v.bytes;
            r.verified = Some(Verified { what, report: v });
        }
    }
    r.outcome = outcome(&r);
    Ok(r)
}

/// A clone of a failing disk leaves its ddrescue mapfile in the temporary directory (the
/// target holds a disk, not files). Not being able to write it is told, not fatal.
fn clone_mapfile(plan: &Plan, bad: &ExtentList, sink: &dyn Sink) -> Option<String> {
    if bad.is_empty() {
        return None;
    }
    let tried: ExtentList = plan
        .regions
        .iter()
        .flat_map(|r| r.used.iter().copied())
        .collect();
    let text = pipeline::rescue::ddrescue_mapfile(
        plan.disk.size,
        &tried,
        bad,
        concat!("wraith ", env!("CARGO_PKG_VERSION")),
    );
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let path = std::env::temp_dir().join(format!("wraith-clone-{secs}.mapfile"));
    match std::fs::write(&path, text) {
        Ok(()) => Some(path.display().to_string()),
        Err(e) => {
            sink.event(Event::Warning {
                message: format!("no ddrescue mapfile: {}: {e}", path.display()),
            });
            None
        }
    }
}

/// After a layout change the kernel is asked to read the target's new table, so its new
/// partitions show at once (in the UI's disk list too); if it cannot, the job still succeeded
/// and the user is told how to see them.
fn show_new_table(target: &crate::device::Device, sink: &dyn crate::events::Sink) {
    if let Err(e) = target.reread_partitions() {
        sink.event(crate::events::Event::Warning {
            message: format!(
                "the new partitions of {} were written, but the kernel did not read them yet ({e}): unplug and plug the disk, or restart, to see them",
                target.path().display()
            ),
        });
    }
}

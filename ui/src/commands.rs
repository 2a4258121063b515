//! One function per subcommand: open what the user named, let the engine check and do the
//! work, and print the result for people or as JSON.

use crate::cli::{Cli, Command};
use crate::render::Renderer;
use crate::{EXIT_MISMATCH, EXIT_OK};
use anyhow::{anyhow, bail, Context, Result};
use serde_json::json;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use wraith_engine::device::{Device, ReadAt};
use wraith_engine::events::{self, Cancel};
use wraith_engine::human_bytes as hb;
use wraith_engine::job::{Action, Job};
use wraith_engine::pipeline::{self, verify::VerifyReport};
use wraith_engine::plan::{self, Method, Plan};
use wraith_engine::repo::location::{self, Location};
use wraith_engine::repo::{self, manifest::Manifest, Credentials, ImageRef, Password, Repository};
use wraith_engine::{disks, safety};

/// What every command needs besides its arguments.
pub struct Ctx<'a> {
    pub json: bool,
    pub threads: usize,
    pub r: &'a Renderer,
    pub cancel: &'a Cancel,
    pub auth: Auth,
}

/// Where the password for a repository URL comes from, first found wins: a job file's
/// `password`, `--password-file`, `WRAITH_PASSWORD`, then a hidden prompt on a terminal.
#[derive(Clone, Default)]
pub struct Auth {
    pub password: Option<Password>,
    pub password_file: Option<PathBuf>,
}

impl Auth {
    fn credentials(&self, loc: &Location) -> Result<Credentials> {
        if matches!(loc, Location::Dir(_)) {
            return Ok(Credentials::none());
        }
        let password = if let Some(p) = &self.password {
            Some(p.clone())
        } else if let Some(f) = &self.password_file {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("reading the password file {}", f.display()))?;
            Some(Password::new(text.lines().next().unwrap_or("")))
        } else if let Some(p) = std::env::var_os("WRAITH_PASSWORD") {
            Some(Password::new(p.to_string_lossy()))
        } else if let (Some(user), true) = (loc.user(), std::io::stdin().is_terminal()) {
            let p = rpassword::prompt_password(format!("Password for {user} at {loc}: "))
                .context("reading the password")?;
            Some(Password::new(p))
        } else {
            None
        };
        Ok(Credentials::new(None, password))
    }
}

/// Opens (or with `create`, creates) the repository at a directory or URL, logging in as the
/// URL says. The password is never part of what is shown.
pub fn open_repo(ctx: &Ctx, at: &str, create: bool) -> Result<Repository> {
    let loc = Location::parse(at)?;
    if !matches!(loc, Location::Dir(_)) {
        wait_for_network(ctx, &loc)?;
    }
    let creds = ctx.auth.credentials(&loc)?;
    let repo = Repository::open_url(at, &creds, create)?;
    if let Some(c) = repo.store().connection() {
        if !ctx.json {
            eprintln!("{}: connected with {c}", repo.location());
        }
    }
    Ok(repo)
}

/// On the live system, right after boot, the DHCP lease may not be there yet: wait for
/// init's `net-ready` (bounded; Ctrl-C cancels) rather than fail with "unreachable". On a
/// host without wraith-init this returns at once.
fn wait_for_network(ctx: &Ctx, loc: &Location) -> Result<()> {
    let dir = crate::net::state_dir();
    if crate::net::ready(&dir) || crate::net::read_state(&dir).is_none() {
        return Ok(());
    }
    let limit = crate::net::wait_limit();
    if !ctx.json {
        eprintln!(
            "{loc}: waiting for the network (up to {} s; Ctrl-C cancels)",
            limit.as_secs()
        );
    }
    match crate::net::wait_ready(&dir, limit, &|| ctx.cancel.is_cancelled()) {
        Ok(()) => Ok(()),
        Err(crate::net::WaitError::Cancelled) => Err(wraith_engine::Error::Cancelled.into()),
        Err(e) => Err(anyhow!(
            "{loc}: no network address after {} s ({e}); check the cable and the DHCP \
             server, or set an address on the network screen (key n) or with wraith.net=static:...",
            limit.as_secs()
        )),
    }
}

/// The repository's location and connection for a JSON result.
fn repo_json(repo: &Repository) -> serde_json::Value {
    json!({ "location": repo.location(), "connection": repo.store().connection() })
}

pub fn run(cli: &Cli, cancel: &Cancel) -> Result<u8> {
    let r = Renderer::new(cli.json);
    let ctx = Ctx {
        json: cli.json,
        threads: cli.threads.unwrap_or_else(pipeline::worker_count),
        r: &r,
        cancel,
        auth: Auth {
            password: None,
            password_file: cli.password_file.clone(),
        },
    };
    let json = cli.json;
    let Some(command) = &cli.command else {
        return interactive();
    };
    let outcome = match command {
        Command::Disks => return cmd_disks(json),
        Command::Info { what } => return cmd_info(&ctx, what),
        Command::List { repo } => return cmd_list(&ctx, repo),
        Command::Job { file, inline } => {
            return crate::job::run(file.as_deref(), inline.as_deref(), &ctx)
        }
        Command::Clone {
            source,
            target,
            yes,
        } => cmd_clone(json, source, target, *yes, &r, cancel)?,
        Command::Save { disk, repo } => {
            let (at, name, id) = parse_spec(repo);
            if id.is_some() {
                bail!(
                    "{repo}: an image id is chosen by Wraith when saving; give REPO or REPO:NAME"
                );
            }
            let (dev, plan) = open_plan(disk)?;
            check_repo_not_on(&dev, &at)?;
            let repo = open_repo(&ctx, &at, true)?;
            cmd_save(&ctx, dev, plan, &repo, name)?
        }
        Command::Restore { image, target, yes } => {
            let (at, name, id) = parse_spec(image);
            let repo = open_repo(&ctx, &at, false)?;
            cmd_restore(&ctx, &repo, &at, name, id, target, *yes)?
        }
        Command::Verify { what, against } => {
            let (at, name, id) = parse_spec(what);
            let repo = open_repo(&ctx, &at, false)?;
            cmd_verify(&ctx, &repo, name, id, against.as_deref())?
        }
    };
    if json {
        print_json(&outcome.1);
    }
    Ok(outcome.0)
}

/// `wraith` alone: the terminal UI on a terminal (live system or host), the help otherwise.
fn interactive() -> Result<u8> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        use clap::CommandFactory;
        crate::cli::Cli::command().print_help()?;
        return Ok(EXIT_OK);
    }
    crate::tui::run()
}

/// A repository in a directory must not live on the disk being saved (a share cannot).
fn check_repo_not_on(dev: &Device, at: &str) -> Result<()> {
    if let Ok(Location::Dir(dir)) = Location::parse(at) {
        safety::check_repository_not_on(dev, &dir)?;
    }
    Ok(())
}

/// The job runner's way into the same commands the CLI runs (always confirmed: a job file is
/// the confirmation). `at` is the repository's location as written, for safety messages.
pub fn run_action(
    ctx: &Ctx,
    job: &Job,
    source: Option<&Path>,
    target: Option<&Path>,
    repo: Option<(&Repository, &str)>,
) -> Result<Outcome> {
    let need = |p: Option<&Path>, what: &str| {
        p.map(Path::to_path_buf)
            .ok_or_else(|| anyhow!("job has no {what}"))
    };
    let repo = repo.ok_or_else(|| anyhow!("job has no repository"));
    let (name, id) = match job.image.as_deref().map(|i| i.split_once('@')) {
        Some(Some((n, i))) => (Some(n.to_string()), Some(i.to_string())),
        Some(None) => (job.image.clone(), None),
        None => (None, None),
    };
    match job.action {
        Action::Clone => cmd_clone(
            false,
            &need(source, "source")?,
            &need(target, "target")?,
            true,
            ctx.r,
            ctx.cancel,
        ),
        Action::Save => {
            let (dev, plan) = open_plan(&need(source, "source")?)?;
            let (repo, at) = repo?;
            check_repo_not_on(&dev, at)?;
            cmd_save(ctx, dev, plan, repo, name)
        }
        Action::Restore => {
            let (repo, at) = repo?;
            cmd_restore(ctx, repo, at, name, id, &need(target, "target")?, true)
        }
        Action::Verify => cmd_verify(ctx, repo?.0, name, id, source),
    }
}

/// `REPO`, `REPO:NAME` or `REPO:NAME@ID`. The last ':' splits, unless what follows it looks
/// like a path (so `/mnt/a:b/repo` still works as a plain directory) or it is a URL's own
/// (`http://host:8080`, `smb://host`).
pub fn parse_spec(s: &str) -> (String, Option<String>, Option<String>) {
    if let Some((repo, rest)) = s.rsplit_once(':') {
        let url_head = location::is_url(s)
            && repo
                .split_once("://")
                .is_none_or(|(_, after)| !after.contains('/'));
        if !rest.contains('/')
            && !repo.is_empty()
            && !url_head
            && (location::is_url(s) || !Path::new(s).is_dir())
        {
            let (name, id) = match rest.split_once('@') {
                Some((n, i)) => (n.to_string(), Some(i.to_string())),
                None => (rest.to_string(), None),
            };
            return (repo.to_string(), Some(name).filter(|n| !n.is_empty()), id);
        }
    }
    (s.to_string(), None, None)
}

fn open_plan(path: &Path) -> Result<(Device, Plan)> {
    let dev = Device::open_read(path)?;
    let mounted = safety::mounts_of(&dev);
    if !mounted.is_empty() {
        eprintln!(
            "warning: source {} is mounted at {}: files changing while it is read may be inconsistent in the copy",
            path.display(),
            mounted.join(", ")
        );
    }
    let plan = plan::plan(&dev, dev.identity.clone())
        .with_context(|| format!("reading {}", path.display()))?;
    Ok((dev, plan))
}

/// Opens a target; a missing path becomes a new sparse image file of `size` bytes.
fn open_target(path: &Path, size: u64) -> Result<(Device, bool)> {
    if !path.exists() {
        // A mistyped /dev name must never turn into a file in /dev (a RAM disk on most systems).
        if path.starts_with("/dev") {
            bail!("{}: no such disk (see `wraith disks`)", path.display());
        }
        let f = std::fs::File::create_new(path)
            .with_context(|| format!("creating {}", path.display()))?;
        f.set_len(size)
            .with_context(|| format!("sizing {}", path.display()))?;
        return Ok((Device::open_write(path)?, true));
    }
    Ok((Device::open_write(path)?, false))
}

/// A destructive step needs the user to type the target's name, or `--yes`.
fn confirm(target: &Device, yes: bool, what: &str) -> Result<()> {
    if yes {
        return Ok(());
    }
    let name = target
        .path()
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    if !std::io::stdin().is_terminal() {
        bail!(
            "{what} would overwrite {}; not on a terminal, so pass --yes to confirm",
            target.identity.describe()
        );
    }
    eprint!(
        "{what} will OVERWRITE {} ({}).\nType '{name}' to continue: ",
        target.identity.describe(),
        target.path().display()
    );
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if line.trim() != name {
        bail!("not confirmed; {} was not touched", target.path().display());
    }
    Ok(())
}

/// An exit code and the JSON result of a command (printed with `--json`, or by a job).
pub type Outcome = (u8, serde_json::Value);

fn print_json(v: &serde_json::Value) {
    println!("{v}");
}

fn cmd_disks(json: bool) -> Result<u8> {
    let list = disks::list()?;
    if json {
        print_json(
            &json!({ "result": "ok", "disks": list, "boot_media": wraith_engine::live::wraith_media() }),
        );
        return Ok(EXIT_OK);
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
    Ok(EXIT_OK)
}

fn print_plan(plan: &Plan) {
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

fn plan_json(plan: &Plan) -> serde_json::Value {
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

fn cmd_info(ctx: &Ctx, what: &str) -> Result<u8> {
    let json = ctx.json;
    let path = Path::new(what);
    if !location::is_url(what) && path.exists() && !path.is_dir() {
        let (_, plan) = open_plan(path)?;
        if json {
            print_json(&json!({ "result": "ok", "plan": plan_json(&plan) }));
        } else {
            print_plan(&plan);
            for w in plan.warnings() {
                println!("  note: {w}");
            }
        }
        return Ok(EXIT_OK);
    }
    let (at, name, id) = parse_spec(what);
    let name = name.ok_or_else(|| {
        anyhow!(
            "{}: not a disk or image file; for a repository name an image: REPO:NAME",
            location::redact(what)
        )
    })?;
    let repo = open_repo(ctx, &at, false)?;
    let image = repo.resolve(&name, id.as_deref())?;
    let m = repo.load_manifest(&image)?;
    if json {
        print_json(&json!({ "result": "ok", "image": image, "manifest": {
            "created": m.created, "tool": m.tool, "source": m.source, "table": m.table, "stats": m.stats,
            "regions": m.regions.iter().map(|r| json!({"region": r.region.describe(), "start": r.region.start,
                "len": r.region.len, "method": r.region.method, "fs": r.region.fs, "bytes": r.region.used.total()})).collect::<Vec<_>>(),
        }}));
    } else {
        println!(
            "image {image}, saved {} by {}",
            repo::timestamp_text(m.created),
            m.tool
        );
        let plan = Plan {
            disk: m.source.clone(),
            table: m.table.clone(),
            regions: m.regions.iter().map(|r| r.region.clone()).collect(),
        };
        print_plan(&plan);
        println!(
            "  stored {} for this image ({} chunks, {} all-zero)",
            hb(m.stats.stored_bytes),
            m.stats.chunks,
            m.stats.zero_chunks
        );
    }
    Ok(EXIT_OK)
}

fn cmd_clone(
    json: bool,
    src: &Path,
    dst: &Path,
    yes: bool,
    r: &Renderer,
    cancel: &Cancel,
) -> Result<Outcome> {
    let (source, plan) = open_plan(src)?;
    let (target, created) = open_target(dst, source.size())?;
    let checks = (|| -> wraith_engine::Result<()> {
        safety::check_not_source(&source, &target)?;
        safety::check_not_mounted(&target)?;
        wraith_engine::live::check_not_boot_medium(&target)?;
        safety::check_sector_size(plan.table.sector_size, &target)?;
        safety::check_size(
            &target,
            plan.min_target_size(),
            &format!("source {}", source.identity.describe()),
        )
    })();
    if let Err(e) = checks {
        if created {
            let _ = std::fs::remove_file(dst);
        }
        return Err(e.into());
    }
    if !json {
        print_plan(&plan);
    }
    for w in plan.warnings() {
        r.warn(&w);
    }
    confirm(&target, yes || created, "clone")?;
    let report = pipeline::clone::clone(&source, &plan, &target, &events::Ctx::new(r, cancel, 1))?;
    let mut result = json!({ "result": "ok", "source": source.identity, "target": target.identity, "bytes": report.bytes });
    if !json {
        println!(
            "cloned {} onto {}: {} copied",
            source.identity.describe(),
            target.identity.describe(),
            hb(report.bytes)
        );
    }
    let mapfile = clone_mapfile(&plan, &report.unreadable)?;
    let code = crate::damage::report(
        json,
        &plan,
        &report.unreadable,
        &report.unreadable_files,
        mapfile.as_deref(),
        &mut result,
    );
    Ok((code, result))
}

/// Saves an opened disk into an opened repository (created by the caller if need be).
fn cmd_save(
    ctx: &Ctx,
    dev: Device,
    plan: Plan,
    repo: &Repository,
    name: Option<String>,
) -> Result<Outcome> {
    let name = name.unwrap_or_else(|| {
        repo::default_image_name(
            dev.identity.model.as_deref(),
            dev.identity.serial.as_deref(),
            dev.path(),
        )
    });
    repo::check_image_name(&name)?;
    if !ctx.json {
        print_plan(&plan);
    }
    for w in plan.warnings() {
        ctx.r.warn(&w);
    }
    let opts = pipeline::save::SaveOptions { name };
    let run = events::Ctx::new(ctx.r, ctx.cancel, ctx.threads);
    let rep = pipeline::save::save(&dev, &plan, repo, &opts, &run)?;
    let json = ctx.json;
    let mut result = json!({ "result": "ok", "image": rep.image, "stats": rep.stats,
        "source": dev.identity, "repository": repo_json(repo) });
    if !json {
        println!(
            "saved {} as {}: {} of disk data, {} new in the repository ({} of {} chunks new)",
            dev.identity.describe(),
            rep.image,
            hb(rep.stats.image_bytes),
            hb(rep.stats.new_stored_bytes),
            rep.stats.new_chunks,
            rep.stats.chunks
        );
    }
    let mapfile = format!(
        "{}/{}",
        repo.location(),
        rep.image.path().replace(".manifest", ".mapfile")
    );
    let code = crate::damage::report(
        json,
        &plan,
        &rep.unreadable,
        &rep.unreadable_files,
        Some(&mapfile),
        &mut result,
    );
    Ok((code, result))
}

/// A clone of a failing disk leaves its ddrescue mapfile in the temporary directory (the
/// target holds a disk, not files); the report names it.
pub(crate) fn clone_mapfile(
    plan: &Plan,
    bad: &wraith_engine::extent::ExtentList,
) -> Result<Option<String>> {
    if bad.is_empty() {
        return Ok(None);
    }
    let tried: wraith_engine::extent::ExtentList = plan
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
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(Some(path.display().to_string()))
}

fn cmd_list(ctx: &Ctx, at: &str) -> Result<u8> {
    let json = ctx.json;
    let repo = open_repo(ctx, at, false)?;
    let images = repo.images()?;
    // Manifests are read a few at a time: over a network each read waits a round trip.
    let loaded: Vec<wraith_engine::Result<Manifest>> = std::thread::scope(|s| {
        let lanes = repo.store().parallel_reads().max(1);
        let handles: Vec<_> = (0..lanes)
            .map(|lane| {
                let (repo, images) = (&repo, &images);
                s.spawn(move || {
                    images
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| i % lanes == lane)
                        .map(|(i, im)| (i, repo.load_manifest(im)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<_> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect();
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, m)| m).collect()
    });
    let mut rows = Vec::new();
    for (image, m) in images.into_iter().zip(loaded) {
        match m {
            Ok(m) => rows.push((image, Some(m), None)),
            Err(e) => rows.push((image, None, Some(e.to_string()))),
        }
    }
    if json {
        let v: Vec<_> = rows
            .iter()
            .map(|(i, m, e)| match m {
                Some(m) => json!({"name": i.name, "id": i.id, "created": m.created, "source": m.source, "stats": m.stats}),
                None => json!({"name": i.name, "id": i.id, "error": e}),
            })
            .collect();
        print_json(&json!({ "result": "ok", "images": v, "repository": repo_json(&repo) }));
        return Ok(EXIT_OK);
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
    Ok(EXIT_OK)
}

fn find_image(
    repo: &Repository,
    name: Option<String>,
    id: Option<String>,
) -> Result<(ImageRef, Manifest)> {
    let name = name.ok_or_else(|| {
        anyhow!(
            "{}: name an image as REPO:NAME or REPO:NAME@ID",
            repo.location()
        )
    })?;
    let image = repo.resolve(&name, id.as_deref())?;
    let m = repo.load_manifest(&image)?;
    Ok((image, m))
}

fn cmd_restore(
    ctx: &Ctx,
    repo: &Repository,
    at: &str,
    name: Option<String>,
    id: Option<String>,
    dst: &Path,
    yes: bool,
) -> Result<Outcome> {
    let json = ctx.json;
    let (image, m) = find_image(repo, name, id)?;
    let (target, created) = open_target(dst, m.source.size)?;
    let checks = (|| -> wraith_engine::Result<()> {
        safety::check_not_mounted(&target)?;
        wraith_engine::live::check_not_boot_medium(&target)?;
        // A repository in a directory may be on the target itself; a share cannot be.
        if let Ok(Location::Dir(dir)) = Location::parse(at) {
            safety::check_not_holding(&target, &dir, "the repository")?;
        }
        safety::check_sector_size(m.table.sector_size, &target)?;
        let needed = if m.table.kind == wraith_engine::table::TableKind::None {
            m.source.size
        } else {
            m.table.min_disk_size
        };
        safety::check_size(
            &target,
            needed,
            &format!("image {image} (from {})", m.source.describe()),
        )?;
        // Everything checkable without reading all data, before the first write.
        pipeline::restore::precheck(repo, &image, &m)
    })();
    if let Err(e) = checks {
        if created {
            let _ = std::fs::remove_file(dst);
        }
        return Err(e.into());
    }
    if !json {
        println!(
            "restoring {image} (saved {} from {})",
            repo::timestamp_text(m.created),
            m.source.describe()
        );
    }
    confirm(&target, yes || created, "restore")?;
    let run = events::Ctx::new(ctx.r, ctx.cancel, ctx.threads);
    let rep = pipeline::restore::restore(repo, &image, &m, &target, &run)?;
    let result = json!({ "result": "ok", "image": image, "target": target.identity,
        "bytes": rep.bytes, "repository": repo_json(repo) });
    if !json {
        println!(
            "restored {image} onto {}: {} written",
            target.identity.describe(),
            hb(rep.bytes)
        );
    }
    Ok((EXIT_OK, result))
}

fn print_verify(json: bool, what: &str, rep: &VerifyReport) -> Outcome {
    let ok = rep.problems.is_empty();
    let result = json!({ "result": if ok { "ok" } else { "mismatch" }, "report": rep });
    if !json {
        for p in &rep.problems {
            let at = p
                .offset
                .map(|o| format!(", disk offset {o}"))
                .unwrap_or_default();
            let region = if p.region.is_empty() {
                String::new()
            } else {
                format!(", {}", p.region)
            };
            println!(
                "DAMAGED {}{region}{at}: {}",
                if p.image.is_empty() {
                    "repository"
                } else {
                    &p.image
                },
                p.detail
            );
        }
        if ok {
            println!(
                "{what}: OK ({} images, {} chunks, {} checked)",
                rep.images,
                rep.chunks,
                hb(rep.bytes)
            );
        } else {
            println!("{what}: {} problem(s) found", rep.problems.len());
        }
    }
    (if ok { EXIT_OK } else { EXIT_MISMATCH }, result)
}

fn cmd_verify(
    ctx: &Ctx,
    repo: &Repository,
    name: Option<String>,
    id: Option<String>,
    against: Option<&Path>,
) -> Result<Outcome> {
    let json = ctx.json;
    if let Some(disk) = against {
        let (image, m) = find_image(repo, name, id)?;
        let dev = Device::open_read(disk)?;
        if dev.size() < m.table.min_disk_size {
            bail!(
                "{} is {}, smaller than image {image} needs ({})",
                disk.display(),
                hb(dev.size()),
                hb(m.table.min_disk_size)
            );
        }
        let run = events::Ctx::new(ctx.r, ctx.cancel, ctx.threads);
        let rep = pipeline::verify::verify_against(&dev, repo, &image, &m, &run)?;
        return Ok(print_verify(
            json,
            &format!("{} against {image}", disk.display()),
            &rep,
        ));
    }
    let images = match &name {
        Some(n) => vec![repo.resolve(n, id.as_deref())?],
        None => repo.images()?,
    };
    let run = events::Ctx::new(ctx.r, ctx.cancel, ctx.threads);
    let rep = pipeline::verify::verify_repo(repo, &images, &run)?;
    let what = match &name {
        Some(n) => format!("{}:{n}", repo.location()),
        None => repo.location(),
    };
    Ok(print_verify(json, &what, &rep))
}

#[cfg(test)]
mod tests {
    use super::parse_spec;

    fn spec(r: &str, n: Option<&str>, i: Option<&str>) -> (String, Option<String>, Option<String>) {
        (r.into(), n.map(Into::into), i.map(Into::into))
    }

    #[test]
    fn image_specs_split_on_the_last_colon() {
        assert_eq!(parse_spec("/mnt/r"), spec("/mnt/r", None, None));
        assert_eq!(parse_spec("/mnt/r:pc1"), spec("/mnt/r", Some("pc1"), None));
        assert_eq!(
            parse_spec("r:pc1@2026"),
            spec("r", Some("pc1"), Some("2026"))
        );
        assert_eq!(parse_spec("/a:b/repo"), spec("/a:b/repo", None, None));
    }

    #[test]
    fn image_specs_keep_urls_whole() {
        assert_eq!(
            parse_spec("http://host:8080/repo:pc@2026"),
            spec("http://host:8080/repo", Some("pc"), Some("2026"))
        );
        assert_eq!(
            parse_spec("http://host:8080/repo"),
            spec("http://host:8080/repo", None, None)
        );
        assert_eq!(
            parse_spec("http://host:8080"),
            spec("http://host:8080", None, None)
        );
        assert_eq!(
            parse_spec("smb://LAB;tech@nas/images:pc"),
            spec("smb://LAB;tech@nas/images", Some("pc"), None)
        );
        assert_eq!(
            parse_spec("nfs://[fd00::1]:2049/export"),
            spec("nfs://[fd00::1]:2049/export", None, None)
        );
    }
}

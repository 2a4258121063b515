//! One file per subcommand: each turns its arguments into the engine's choice, gets a checked
//! plan from the engine's operations layer, shows it, asks for the typed confirmation when it
//! destroys something, runs it and prints the report for people or as JSON. No safety rule is
//! decided here: the engine's `prepare_*` refuse, this only words the refusal.

mod clone;
mod disks;
mod export;
mod files;
mod import;
mod info;
mod list;
mod mount;
mod nbd;
pub mod print;
mod restore;
mod save;
mod serve;
mod verify;

use crate::cli::{Cli, Command};
use crate::render::Renderer;
use crate::{EXIT_MISMATCH, EXIT_OK, EXIT_PARTIAL};
use anyhow::{anyhow, bail, Context, Result};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use wraith_engine::device::DiskIdentity;
use wraith_engine::events::Cancel;
use wraith_engine::ops::repository::{ImageSpec, Resolved};
use wraith_engine::ops::{self, CheckedPlan, Outcome, Report};
use wraith_engine::repo::image_disk::ImageDisk;
use wraith_engine::repo::location::Location;
use wraith_engine::repo::{Credentials, ImageRef, Password, Repository};

pub use clone::clone;
pub use restore::{multicast_session, restore};
pub use save::save;
pub use verify::verify;

/// What every command needs besides its arguments.
pub struct Ctx<'a> {
    pub json: bool,
    pub threads: usize,
    pub r: &'a Renderer,
    pub cancel: &'a Cancel,
    pub auth: Auth,
    /// Keep each job's result and log in the repository's `results/` (the live system, where
    /// /tmp is gone at power-off, and unattended jobs).
    pub keep_results: bool,
}

/// Where the password for a repository URL comes from, first found wins: a job file's
/// `password`, `--password-file`, `WRAITH_PASSWORD`, then a hidden prompt on a terminal.
#[derive(Clone, Default)]
pub struct Auth {
    pub password: Option<Password>,
    pub password_file: Option<PathBuf>,
}

impl Auth {
    pub fn credentials(&self, loc: &Location) -> Result<Credentials> {
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

/// The credentials for a repository location, after waiting for the network if it is a URL.
pub fn credentials_for(ctx: &Ctx, at: &str) -> Result<Credentials> {
    let loc = Location::parse(at)?;
    if !matches!(loc, Location::Dir(_)) {
        wait_for_network(ctx, &loc)?;
    }
    ctx.auth.credentials(&loc)
}

/// Opens the repository at a directory or URL, logging in as the URL says. The password is
/// never part of what is shown.
pub fn open_repo(ctx: &Ctx, at: &str) -> Result<(Arc<Repository>, Option<Resolved>)> {
    let (at, mounted) = reach(at)?;
    let creds = credentials_for(ctx, &at)?;
    let repo = Repository::open_url(&at, &creds, false)?;
    say_connection(ctx, &repo);
    Ok((Arc::new(repo), mounted))
}

/// A `label:`/`uuid:` location (as `wraith list --find` prints them) becomes the directory on
/// that filesystem, mounted for as long as the returned guard lives; anything else is
/// returned as given.
pub fn reach(at: &str) -> Result<(String, Option<Resolved>)> {
    if !(at.starts_with("label:") || at.starts_with("uuid:")) {
        return Ok((at.to_string(), None));
    }
    let disks = wraith_engine::disks::list()?;
    let r = ops::repository::resolve(at, &disks)?;
    Ok((r.at.clone(), Some(r)))
}

fn say_connection(ctx: &Ctx, repo: &Repository) {
    if let Some(c) = repo.store().connection() {
        ctx.r
            .note(&format!("{}: connected with {c}", repo.location()));
    }
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
    ctx.r.note(&format!(
        "{loc}: waiting for the network (up to {} s; Ctrl-C cancels)",
        limit.as_secs()
    ));
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

/// A saved image opened as a disk, read lazily, from `what` (`REPO:NAME[@ID]`), with its
/// repository and the guard that keeps a drive named by label mounted. `purpose` finishes
/// "name an image to …" when no name is given.
pub fn open_image_disk(
    ctx: &Ctx,
    what: &str,
    purpose: &str,
) -> Result<(ImageDisk, ImageRef, Arc<Repository>, Option<Resolved>)> {
    let spec = ops::repository::parse_image_spec(what)?;
    if spec.name.is_none() {
        bail!(
            "{}: name an image to {purpose}: REPO:NAME or REPO:NAME@ID",
            wraith_engine::repo::location::redact(what)
        );
    }
    let (repo, mounted) = open_repo(ctx, &spec.repository)?;
    let image = find_image(&repo, &spec)?;
    let disk = ImageDisk::open(repo.clone(), &image)?;
    Ok((disk, image, repo, mounted))
}

/// The image an `ImageSpec` names (its newest save without `@ID`).
pub fn find_image(repo: &Repository, spec: &ImageSpec) -> Result<ImageRef> {
    let name = spec.name.as_deref().ok_or_else(|| {
        anyhow!(
            "{}: name an image as REPO:NAME or REPO:NAME@ID",
            repo.location()
        )
    })?;
    Ok(repo.resolve(name, spec.id.as_deref())?)
}

pub fn run(cli: &Cli, cancel: &Cancel) -> Result<u8> {
    let r = Renderer::new(cli.json);
    let ctx = Ctx {
        json: cli.json,
        threads: cli
            .threads
            .unwrap_or_else(wraith_engine::pipeline::worker_count),
        r: &r,
        cancel,
        auth: Auth {
            password: None,
            password_file: cli.password_file.clone(),
        },
        keep_results: wraith_engine::live::running_live(),
    };
    let Some(command) = &cli.command else {
        return interactive();
    };
    let report = match command {
        Command::Disks => return disks::run(ctx.json),
        Command::Info { what } => return info::run(&ctx, what),
        Command::Files { source, at } => return files::list(&ctx, source, at),
        Command::Extract {
            source,
            at,
            dest,
            force,
        } => return files::extract(&ctx, source, at, dest, *force),
        Command::Export { image, out, force } => return export::run(&ctx, image, out, *force),
        Command::List {
            repo: Some(repo), ..
        } => return list::run(&ctx, repo),
        Command::List { repo: None, .. } => return list::find(&ctx),
        Command::Nbd {
            image,
            listen,
            socket,
            writable_overlay,
            once,
        } => {
            return nbd::run(
                &ctx,
                &nbd::Args {
                    image,
                    listen,
                    socket: socket.as_deref(),
                    overlay: writable_overlay.as_deref(),
                    once: *once,
                },
            )
        }
        Command::Serve {
            repo,
            listen,
            interface,
            pxe,
            dhcp_range,
            boot_dir,
            jobs,
            wake,
            wake_from,
            rom_dir,
            wake_to,
            kernel_args,
            multicast,
        } => {
            return serve::run(
                &ctx,
                &serve::Args {
                    repo,
                    listen: listen.as_deref(),
                    interface: interface.as_deref(),
                    pxe: *pxe,
                    dhcp_range: dhcp_range.as_deref(),
                    boot_dir: boot_dir.as_deref(),
                    jobs: jobs.as_deref(),
                    wake,
                    wake_from: wake_from.as_deref(),
                    rom_dir: rom_dir.as_deref(),
                    wake_to: *wake_to,
                    kernel_args: kernel_args.as_deref(),
                    multicast,
                },
            )
        }
        Command::Mount {
            image,
            dir,
            via,
            foreground,
        } => return mount::mount(&ctx, image, dir, via, *foreground),
        Command::Umount { dir, lazy } => return mount::umount(&ctx, dir, *lazy),
        Command::Job { file, inline } => {
            return crate::job::run(file.as_deref(), inline.as_deref(), &ctx)
        }
        Command::Clone {
            source,
            target,
            yes,
            verify,
            layout,
            accept_failing_target,
        } => clone(
            &ctx,
            source,
            target,
            *verify,
            *yes,
            layout_choice(layout),
            *accept_failing_target,
        )?,
        Command::Save {
            disk,
            repo,
            verify,
            all_sectors,
            compression,
        } => save(&ctx, disk, repo, *verify, *all_sectors, *compression)?,
        Command::Restore {
            image,
            target,
            yes,
            verify,
            layout,
            accept_failing_target,
            hostname,
            multicast,
        } => restore(
            &ctx,
            image,
            target,
            restore::RestoreOptions {
                verify: *verify,
                yes: *yes,
                layout: layout_choice(layout),
                accept_failing_target: *accept_failing_target,
                naming: hostname.as_ref().map(|t| wraith_engine::identity::Naming {
                    template: Some(t.clone()),
                    table: Default::default(),
                }),
                multicast,
            },
        )?,
        Command::Import {
            from: crate::cli::ImportFrom::Clonezilla { dir, repo, verify },
        } => import::clonezilla(&ctx, dir, repo, *verify)?,
        Command::Verify { what, against } => verify(&ctx, what, against.as_deref())?,
    };
    if ctx.json {
        println!("{}", report.json());
    }
    Ok(exit_code(&report))
}

/// The documented exit code of a finished job.
pub fn exit_code(report: &Report) -> u8 {
    match report.outcome {
        Outcome::Done => EXIT_OK,
        Outcome::Partial => EXIT_PARTIAL,
        Outcome::Mismatch => EXIT_MISMATCH,
    }
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

/// Shows a checked plan and its warnings, asks for the typed confirmation when it destroys
/// something (unless `yes`), runs it and prints the report for people.
pub fn confirm_and_run(ctx: &Ctx, plan: CheckedPlan, yes: bool) -> Result<Report> {
    let s = plan.summary();
    if !ctx.json {
        print::summary(s);
    }
    for w in &s.all_warnings() {
        ctx.r.warn(w);
    }
    if let (Some(target), false) = (&s.target, s.target_created) {
        confirm(
            target,
            yes,
            ctx.json,
            &format!("{:?}", s.action).to_lowercase(),
        )?;
    }
    let plan = plan.keep_results(ctx.keep_results);
    let report = ops::run(
        plan,
        &wraith_engine::events::Ctx::new(ctx.r, ctx.cancel, ctx.threads),
    )?;
    if !ctx.json {
        for line in print::report(&report) {
            println!("{line}");
        }
    }
    Ok(report)
}

/// A destructive step needs the user to type the target's name, or `--yes`.
fn confirm(target: &DiskIdentity, yes: bool, json: bool, what: &str) -> Result<()> {
    if yes {
        return Ok(());
    }
    if json {
        // A prompt is not an event a program can answer: scripts pass --yes.
        bail!(
            "{what} would overwrite {}; with --json, pass --yes to confirm",
            target.describe()
        );
    }
    let name = std::path::Path::new(&target.path)
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    if !std::io::stdin().is_terminal() {
        bail!(
            "{what} would overwrite {}; not on a terminal, so pass --yes to confirm",
            target.describe()
        );
    }
    eprint!(
        "{what} will OVERWRITE {} ({}).\nType '{name}' to continue: ",
        target.describe(),
        target.path
    );
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if line.trim() != name {
        bail!("not confirmed; {} was not touched", target.path);
    }
    Ok(())
}

fn layout_choice(a: &crate::cli::LayoutArgs) -> ops::LayoutChoice {
    ops::LayoutChoice {
        policy: a.layout,
        grow: a.grow,
        scratch: a.scratch.clone(),
    }
}

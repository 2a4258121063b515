//! Running an unattended job: choose the disks and the repository it names, run the same
//! command the CLI would, print one `WRAITH-RESULT {json}` line for machines (on the console in
//! the live system), store the result beside the images, and tell init what to do next.

use crate::commands::{confirm_and_run, credentials_for, find_image, open_repo, Ctx};
use anyhow::{anyhow, Context, Result};
use serde_json::json;
use std::path::{Path, PathBuf};
use wraith_engine::job::{self, Action, After, Job};
use wraith_engine::ops::{self, repository};
use wraith_engine::{disks, live, mount};

/// Exit codes understood by wraith-init.
pub use wraith_live::exit::{
    POWEROFF as EXIT_POWEROFF, REBOOT as EXIT_REBOOT, SHELL as EXIT_SHELL,
};

pub fn run(file: Option<&str>, inline: Option<&str>, ctx: &Ctx) -> Result<u8> {
    let parsed = match (file, inline) {
        (Some(f), _) => {
            read_job_file(f, ctx.r).and_then(|t| Job::from_toml(&t).map_err(Into::into))
        }
        (None, Some(i)) => Job::from_inline(i).map_err(Into::into),
        (None, None) => Err(anyhow!("no job given")),
    };
    let job = match parsed {
        Ok(j) => j,
        Err(e) => {
            report(&json!({ "result": "error", "error": format!("{e:#}") }));
            return Ok(EXIT_SHELL);
        }
    };
    // A job served by `wraith serve` tells it how far it got, for the room's table.
    let reporter = file
        .filter(|f| f.starts_with("http://"))
        .and_then(|f| crate::room_report::Reporter::start(f, ctx.r));
    let ctx = Ctx {
        auth: crate::commands::Auth {
            password: job.password.clone().or(ctx.auth.password.clone()),
            password_file: ctx.auth.password_file.clone(),
        },
        // A job's result and log are kept beside the images: the console scrolls away and
        // the live system's /tmp is gone at power-off.
        keep_results: true,
        ..*ctx
    };
    let (code, result) = match execute(&job, &ctx) {
        Ok(report) => (crate::commands::exit_code(&report), report.json()),
        Err(e) => {
            let engine = e.downcast_ref::<wraith_engine::Error>();
            let cancelled = matches!(engine, Some(wraith_engine::Error::Cancelled));
            let mut result = json!({ "result": if cancelled { "cancelled" } else { "error" },
                "action": job.action, "error": format!("{e:#}") });
            // Which rule refused: a fleet tool acts on the kind, not on the words.
            if let Some(i) = engine.and_then(wraith_engine::Error::interlock) {
                result["interlock"] = json!(i);
            }
            (2, result)
        }
    };
    report(&result);
    if let Some(r) = reporter {
        r.finish(&result);
    }
    Ok(match (code, job.after) {
        (0, After::Poweroff) => EXIT_POWEROFF,
        (0, After::Reboot) => EXIT_REBOOT,
        (0, After::Shell) => EXIT_SHELL,
        (0, After::None) => 0,
        // A failed job stops where a technician can see why.
        _ => EXIT_SHELL,
    })
}

/// Prints the machine-readable line (on every console in the live system).
fn report(result: &serde_json::Value) {
    println!("WRAITH-RESULT {result}");
    if live::running_live() {
        copy_to_other_consoles(&format!("WRAITH-RESULT {result}\n"));
    }
}

/// Chooses the disks and the repository the job names, then runs it as the CLI would, with
/// the same checked plan: the job file is the confirmation.
fn execute(job: &Job, ctx: &Ctx) -> Result<ops::Report> {
    // Before anything that may use the repository: a URL needs the network as the job says.
    if let Some(mode) = job.net_mode() {
        let dir = crate::net::state_dir();
        let limit = crate::net::wait_limit();
        ctx.r.note(&format!(
            "job: network: asking for {mode} (waiting up to {} s)",
            limit.as_secs()
        ));
        crate::net::apply_and_wait(&dir, &mode, limit, &|| ctx.cancel.is_cancelled()).map_err(
            |e| match e {
                crate::net::WaitError::Cancelled => {
                    anyhow::Error::new(wraith_engine::Error::Cancelled)
                }
                e => anyhow!("job: net = \"{mode}\": {e}"),
            },
        )?;
        ctx.r.note(&format!("job: network: {mode} is in place"));
    }
    let list = disks::list()?;
    // What each drive says of its health, in the job's log: the first thing to look at when
    // a job on a room of machines fails on one of them.
    for d in &list {
        if let Some(h) = &d.health {
            ctx.r.note(&format!(
                "job: disk {} {} {}: health {}",
                d.path,
                d.transport,
                d.serial.as_deref().unwrap_or("-"),
                h.describe()
            ));
        }
    }
    let boot: Vec<String> = live::wraith_media()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let source = job
        .source
        .as_deref()
        .map(|s| job::select_disk(s, &list, &boot, None))
        .transpose()?;
    let target = job
        .target
        .as_deref()
        .map(|t| job::select_disk(t, &list, &boot, source.as_deref()))
        .transpose()?;
    // Kept alive to the end: a label:/uuid: repository stays mounted while it is used.
    let resolved = job
        .repository
        .as_deref()
        .map(|r| repository::resolve(r, &list))
        .transpose()?;
    let at = resolved.as_ref().map(|r| r.at.as_str());
    ctx.r.note(&format!(
        "job: {:?}{}{}{}",
        job.action,
        source
            .as_deref()
            .map(|s| format!(" source={s}"))
            .unwrap_or_default(),
        target
            .as_deref()
            .map(|t| format!(" target={t}"))
            .unwrap_or_default(),
        at.map(|r| format!(" repository={}", wraith_engine::repo::location::redact(r)))
            .unwrap_or_default()
    ));
    let need = |p: &Option<String>, what: &str| {
        p.as_deref()
            .map(PathBuf::from)
            .ok_or_else(|| anyhow!("job has no {what}"))
    };
    let at = || at.ok_or_else(|| anyhow!("job has no repository"));
    let image_spec = || {
        let image = job.image.as_deref().unwrap_or_default();
        let (name, id) = match image.split_once('@') {
            Some((n, i)) => (n.to_string(), Some(i.to_string())),
            None => (image.to_string(), None),
        };
        repository::ImageSpec {
            repository: String::new(),
            name: Some(name).filter(|n| !n.is_empty()),
            id,
        }
    };
    let mut multicast = None;
    let plan = match job.action {
        Action::Clone => ops::prepare_clone(&ops::CloneChoice {
            source: need(&source, "source")?,
            target: need(&target, "target")?,
            verify: job.verify,
            layout: layout_of(job),
            accept_failing_target: job.accept_failing_target,
        })?,
        Action::Save => {
            let at = at()?;
            ops::prepare_save(&ops::SaveChoice {
                source: need(&source, "source")?,
                repository: at.to_string(),
                credentials: credentials_for(ctx, at)?,
                name: job.image.clone(),
                verify: job.verify,
                all_sectors: false,
                compression: job.compression,
            })?
        }
        Action::Restore if job.multicast => {
            let at = at()?;
            let loc = wraith_engine::repo::location::Location::parse(at)?;
            let wraith_engine::repo::location::Location::Http { host, .. } = &loc else {
                anyhow::bail!("job: multicast = true needs an http:// repository, not {at}");
            };
            let spec = image_spec();
            let name = spec
                .name
                .as_deref()
                .ok_or_else(|| anyhow::anyhow!("a multicast job needs `image`"))?;
            let session = crate::commands::multicast_session(
                ctx,
                host,
                at,
                name,
                spec.id.as_deref(),
                &crate::cli::MulticastArgs {
                    port: job
                        .multicast_port
                        .unwrap_or(wraith_engine::mcast::DEFAULT_PORT),
                    group: None,
                    interface: None,
                },
            )?;
            multicast = Some(session.receiver.clone());
            ops::prepare_restore(&ops::RestoreChoice {
                repository: session.repository,
                image: session.image,
                target: need(&target, "target")?,
                verify: job.verify,
                layout: layout_of(job),
                accept_failing_target: job.accept_failing_target,
                naming: job.naming(),
            })?
        }
        Action::Restore => {
            let (repo, _) = open_repo(ctx, at()?)?;
            let image = find_image(&repo, &image_spec())?;
            ops::prepare_restore(&ops::RestoreChoice {
                repository: repo,
                image,
                target: need(&target, "target")?,
                verify: job.verify,
                layout: layout_of(job),
                accept_failing_target: job.accept_failing_target,
                naming: job.naming(),
            })?
        }
        Action::Verify => {
            let (repo, _) = open_repo(ctx, at()?)?;
            let image = find_image(&repo, &image_spec())?;
            ops::prepare_verify(&ops::VerifyChoice {
                repository: repo,
                images: vec![image],
                against: source.as_deref().map(PathBuf::from),
            })?
        }
    };
    let report = confirm_and_run(ctx, plan, true);
    // Tells the multicast sender this machine is done (or left), whatever happened.
    if let Some(rx) = multicast {
        rx.stop();
    }
    let report = report?;
    drop(resolved);
    Ok(report)
}

/// The job file name looked for on USB sticks and the boot medium by `--file usb`.
pub const USB_JOB_FILE: &str = "wraith-job.toml";

/// Reads a job file. An http(s):// URL is fetched (retried while the network comes up). A
/// path that does not exist here (the live system's RAM root) is looked for on removable disks
/// and on the boot medium, mounted read-only one at a time; `usb` means `/wraith-job.toml`
/// there.
fn read_job_file(f: &str, r: &crate::render::Renderer) -> Result<String> {
    if f.starts_with("http://") || f.starts_with("https://") {
        let bytes = wraith_engine::repo::http::fetch(f)?;
        return String::from_utf8(bytes).map_err(|_| anyhow!("job file {f}: not UTF-8 text"));
    }
    let f = Path::new(f);
    if f.exists() {
        return std::fs::read_to_string(f)
            .with_context(|| format!("reading job file {}", f.display()));
    }
    let rel = if f == Path::new("usb") {
        PathBuf::from(USB_JOB_FILE)
    } else {
        f.strip_prefix("/").unwrap_or(f).to_path_buf()
    };
    let list = disks::list()?;
    let media: Vec<String> = live::wraith_media()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let mut searched = Vec::new();
    for d in list
        .iter()
        .filter(|d| d.removable || d.transport == "USB" || media.contains(&d.path))
    {
        let devices: Vec<&str> = std::iter::once(d.path.as_str())
            .chain(d.partitions.iter().map(|p| p.path.as_str()))
            .collect();
        for (i, dev) in devices.iter().enumerate() {
            let Ok(m) = mount::mount_any_readonly(Path::new(dev), &format!("job{i}")) else {
                continue;
            };
            searched.push(dev.to_string());
            let candidate = m.point.join(&rel);
            if candidate.is_file() {
                r.note(&format!("job: using {} from {dev}", rel.display()));
                return std::fs::read_to_string(&candidate)
                    .with_context(|| format!("reading {} on {dev}", rel.display()));
            }
        }
    }
    Err(anyhow!(
        "job file {} not found here nor on removable disks or the boot medium (searched: {})",
        f.display(),
        if searched.is_empty() {
            "none mountable".to_string()
        } else {
            searched.join(", ")
        }
    ))
}

/// In the live system the job runs on one console (the screen, say) while a technician or a
/// test may watch another (a serial port): the result line goes to every kernel console.
fn copy_to_other_consoles(line: &str) {
    use std::io::Write;
    use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
    let ours = std::fs::metadata("/proc/self/fd/1")
        .ok()
        .filter(|m| m.file_type().is_char_device())
        .map(|m| m.rdev());
    let our_vt =
        ours.is_some_and(|r| nix::sys::stat::major(r) == 4 && nix::sys::stat::minor(r) < 64);
    let Ok(list) = std::fs::read_to_string("/proc/consoles") else {
        return;
    };
    for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
        let path = format!("/dev/{name}");
        let Ok(md) = std::fs::metadata(&path) else {
            continue;
        };
        // tty0 is whichever virtual terminal is shown: the one we already wrote to.
        if Some(md.rdev()) == ours || (name == "tty0" && our_vt) {
            continue;
        }
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc_noctty())
            .open(&path)
        {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

/// O_NOCTTY: opening a console must not make it our controlling terminal.
fn libc_noctty() -> i32 {
    nix::fcntl::OFlag::O_NOCTTY.bits()
}

/// The job's layout keys as the engine's choice.
fn layout_of(job: &Job) -> ops::LayoutChoice {
    ops::LayoutChoice {
        policy: job.layout.unwrap_or_default(),
        grow: job.grow,
        scratch: job.scratch.as_ref().map(std::path::PathBuf::from),
    }
}

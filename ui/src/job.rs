//! Running an unattended job: choose the disks and the repository it names, run the same
//! command the CLI would, print one `WRAITH-RESULT {json}` line for machines (on the console in
//! the live system), store the result beside the images, and tell init what to do next.

use crate::commands::{open_repo, run_action, Ctx, Outcome};
use anyhow::{anyhow, Context, Result};
use serde_json::json;
use std::path::{Path, PathBuf};
use wraith_engine::job::{self, After, Job, RepoLocation};
use wraith_engine::repo::Repository;
use wraith_engine::{disks, live, mount};

/// Exit codes understood by wraith-init.
pub use wraith_live::exit::{
    POWEROFF as EXIT_POWEROFF, REBOOT as EXIT_REBOOT, SHELL as EXIT_SHELL,
};

pub fn run(file: Option<&str>, inline: Option<&str>, ctx: &Ctx) -> Result<u8> {
    let started = std::time::Instant::now();
    let parsed = match (file, inline) {
        (Some(f), _) => read_job_file(f).and_then(|t| Job::from_toml(&t).map_err(Into::into)),
        (None, Some(i)) => Job::from_inline(i).map_err(Into::into),
        (None, None) => Err(anyhow!("no job given")),
    };
    let job = match parsed {
        Ok(j) => j,
        Err(e) => {
            report(
                None,
                &json!({ "result": "error", "error": format!("{e:#}") }),
                None,
            );
            return Ok(EXIT_SHELL);
        }
    };
    let mut mounted = None;
    let mut repo = None;
    let ctx = Ctx {
        auth: crate::commands::Auth {
            password: job.password.clone().or(ctx.auth.password.clone()),
            password_file: ctx.auth.password_file.clone(),
        },
        ..*ctx
    };
    let outcome = execute(&job, &ctx, &mut mounted, &mut repo);
    let (code, mut result) = match outcome {
        Ok((code, result)) => (code, result),
        Err(e) => {
            let cancelled = matches!(
                e.downcast_ref::<wraith_engine::Error>(),
                Some(wraith_engine::Error::Cancelled)
            );
            (
                2,
                json!({ "result": if cancelled { "cancelled" } else { "error" }, "error": format!("{e:#}") }),
            )
        }
    };
    result["action"] = json!(job.action);
    result["seconds"] = json!((started.elapsed().as_secs_f64() * 10.0).round() / 10.0);
    // Kept beside the images only when the job got as far as doing its work.
    let keep = if code == 0 || code == crate::EXIT_MISMATCH {
        repo.as_ref()
    } else {
        None
    };
    report(Some(&job), &result, keep);
    drop(repo);
    drop(mounted);
    Ok(match (code, job.after) {
        (0, After::Poweroff) => EXIT_POWEROFF,
        (0, After::Reboot) => EXIT_REBOOT,
        (0, After::Shell) => EXIT_SHELL,
        (0, After::None) => 0,
        // A failed job stops where a technician can see why.
        _ => EXIT_SHELL,
    })
}

/// Prints the machine-readable line and keeps a copy next to the images (in `results/` of
/// the repository, wherever it is) when there are any.
fn report(job: Option<&Job>, result: &serde_json::Value, repo: Option<&Repository>) {
    println!("WRAITH-RESULT {result}");
    if live::running_live() {
        copy_to_other_consoles(&format!("WRAITH-RESULT {result}\n"));
    }
    if let (Some(job), Some(repo)) = (job, repo) {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let action = format!("{:?}", job.action).to_lowercase();
        let name = format!(
            "results/{}-{action}.json",
            wraith_engine::repo::timestamp_id_ms(ms)
        );
        if let Err(e) = repo
            .store()
            .put_new(&name, format!("{result}\n").as_bytes())
        {
            eprintln!(
                "warning: could not store the job result in {}/results: {e}",
                repo.location()
            );
        }
    }
}

fn execute(
    job: &Job,
    ctx: &Ctx,
    mounted: &mut Option<mount::Mounted>,
    opened: &mut Option<Repository>,
) -> Result<Outcome> {
    // Before anything that may use the repository: a URL needs the network as the job says.
    if let Some(mode) = job.net_mode() {
        let dir = crate::net::state_dir();
        let limit = crate::net::wait_limit();
        eprintln!(
            "job: network: asking for {mode} (waiting up to {} s)",
            limit.as_secs()
        );
        crate::net::apply_and_wait(&dir, &mode, limit, &|| ctx.cancel.is_cancelled()).map_err(
            |e| match e {
                crate::net::WaitError::Cancelled => {
                    anyhow::Error::new(wraith_engine::Error::Cancelled)
                }
                e => anyhow!("job: net = \"{mode}\": {e}"),
            },
        )?;
        eprintln!("job: network: {mode} is in place");
    }
    let list = disks::list()?;
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
    let repo: Option<String> = match job
        .repository
        .as_deref()
        .map(job::parse_repository)
        .transpose()?
    {
        None => None,
        Some(RepoLocation::Dir(d)) => Some(d),
        Some(RepoLocation::Url(u)) => Some(u),
        Some(RepoLocation::Label { label, dir }) => {
            let dev = find_fs(&list, &label, false)
                .ok_or_else(|| anyhow!("no filesystem labelled {label:?} for the repository"))?;
            let (point, m) = mount::mount_device(Path::new(&dev), &label)?;
            *mounted = m;
            Some(point.join(dir).display().to_string())
        }
        Some(RepoLocation::Uuid { uuid, dir }) => {
            let dev = find_fs(&list, &uuid, true)
                .ok_or_else(|| anyhow!("no filesystem with UUID {uuid:?} for the repository"))?;
            let (point, m) = mount::mount_device(Path::new(&dev), &uuid)?;
            *mounted = m;
            Some(point.join(dir).display().to_string())
        }
    };
    if let Some(at) = &repo {
        if job.action != wraith_engine::job::Action::Clone {
            let create = job.action == wraith_engine::job::Action::Save;
            *opened = Some(open_repo(ctx, at, create)?);
        }
    }
    let repo_at = opened.as_ref().zip(repo.as_deref());
    eprintln!(
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
        opened
            .as_ref()
            .map(|r| format!(" repository={}", r.location()))
            .unwrap_or_default()
    );
    let outcome = run_action(
        ctx,
        job,
        source.as_deref().map(Path::new),
        target.as_deref().map(Path::new),
        repo_at,
    )?;
    if outcome.0 == 0 && job.verify {
        let check = match job.action {
            wraith_engine::job::Action::Restore => target.as_deref(),
            wraith_engine::job::Action::Save => source.as_deref(),
            _ => None,
        };
        if let (Some(disk), Some(repo_at)) = (check, repo_at) {
            let v = Job {
                action: wraith_engine::job::Action::Verify,
                source: None,
                target: None,
                repository: None,
                password: None,
                image: job.image.clone(),
                after: After::None,
                verify: false,
                net: None,
            };
            let (code, vres) = run_action(ctx, &v, Some(Path::new(disk)), None, Some(repo_at))?;
            let mut result = outcome.1;
            result["verified"] = json!(code == 0);
            result["verify"] = vres;
            return Ok((code, result));
        }
    }
    Ok(outcome)
}

/// A filesystem (on a partition or a whole disk) whose label or UUID is `want`: udev's view
/// first, then our own readers for hosts or boots where udev has no filesystem properties.
fn find_fs(list: &[disks::DiskInfo], want: &str, by_uuid: bool) -> Option<String> {
    let pick = |label: &Option<String>, uuid: &Option<String>| {
        if by_uuid {
            uuid.as_deref() == Some(want)
        } else {
            label.as_deref() == Some(want)
        }
    };
    for d in list {
        if let Some(p) = d.partitions.iter().find(|p| pick(&p.label, &p.uuid)) {
            return Some(p.path.clone());
        }
        if pick(&d.label, &d.uuid) {
            return Some(d.path.clone());
        }
    }
    let candidates = list.iter().flat_map(|d| {
        d.partitions
            .iter()
            .map(|p| p.path.clone())
            .chain(std::iter::once(d.path.clone()))
    });
    for path in candidates {
        let Ok(dev) = wraith_engine::device::Device::open_read(Path::new(&path)) else {
            continue;
        };
        if let Ok(Some(info)) = wraith_engine::fs::probe(&dev) {
            if pick(&info.label, &info.uuid) {
                return Some(path);
            }
        }
    }
    None
}

/// The job file name looked for on USB sticks and the boot medium by `--file usb`.
pub const USB_JOB_FILE: &str = "wraith-job.toml";

/// Reads a job file. An http(s):// URL is fetched (retried while the network comes up). A
/// path that does not exist here (the live system's RAM root) is looked for on removable disks
/// and on the boot medium, mounted read-only one at a time; `usb` means `/wraith-job.toml`
/// there.
fn read_job_file(f: &str) -> Result<String> {
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
                eprintln!("job: using {} from {dev}", rel.display());
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

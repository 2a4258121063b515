//! `wraith mount REPO:NAME[@ID] DIR` and `wraith umount DIR`: a saved image shown as a
//! directory. The engine does the mounting (`wraith_engine::image_mount`); this words it and
//! keeps a process serving the image's chunks for as long as DIR is mounted. Without
//! `--foreground`, `mount` starts itself again in the background and returns once that copy
//! says DIR is ready (or has failed, with its message and exit code).
//!
//! Must not: return before DIR is ready, leave a background process behind when mounting
//! failed, or keep the terminal's output open once in the background (a script reading the
//! output of `wraith mount` gets its end of file when `mount` returns).

use super::{open_image_disk, Ctx};
use anyhow::{anyhow, bail, Context, Result};
use serde_json::json;
use std::io::{BufRead, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use wraith_engine::device::ReadAt;
use wraith_engine::human_bytes as hb;
use wraith_engine::image_mount::{self, MountNotice, Via};

/// Set for the background copy: the pipe on which it says it is ready.
const READY_FD_ENV: &str = "WRAITH_MOUNT_READY_FD";

pub fn mount(ctx: &Ctx, image: &str, dir: &Path, via: &str, foreground: bool) -> Result<u8> {
    let via = match via {
        "auto" => Via::Auto,
        "nbd" => Via::Nbd,
        "fuse" => Via::Fuse,
        other => bail!("--via {other}: give auto, nbd or fuse"),
    };
    let ready_fd = std::env::var(READY_FD_ENV)
        .ok()
        .and_then(|v| v.parse::<i32>().ok());
    if foreground || ready_fd.is_some() {
        return serve(ctx, image, dir, via, ready_fd);
    }
    background(dir)
}

/// Runs this same command again as a background process (its own process group, so the
/// terminal's Ctrl-C does not reach it) and waits for its word.
fn background(dir: &Path) -> Result<u8> {
    let (read, write) = nix::unistd::pipe().context("making a pipe")?;
    let exe = std::env::current_exe().context("finding the wraith binary")?;
    let mut child = std::process::Command::new(exe);
    child
        .args(std::env::args_os().skip(1))
        .env(READY_FD_ENV, write.as_raw_fd().to_string());
    std::os::unix::process::CommandExt::process_group(&mut child, 0);
    let mut child = child.spawn().context("starting the background wraith")?;
    // Only the child may hold the writing end now: its exit (or its word) ends our read.
    drop(write);
    // One line, or the end of the pipe when the child ended without a word.
    let mut word = String::new();
    std::io::BufReader::new(std::fs::File::from(read))
        .read_line(&mut word)
        .context("waiting for the background wraith")?;
    if word.trim() == "ready" {
        return Ok(crate::EXIT_OK);
    }
    let status = child.wait().context("waiting for the background wraith")?;
    match status.code() {
        Some(code) if code != 0 => Ok(code as u8),
        _ => Err(anyhow!(
            "{}: the background wraith ended before the image was mounted",
            dir.display()
        )),
    }
}

fn serve(ctx: &Ctx, image: &str, dir: &Path, via: Via, ready_fd: Option<i32>) -> Result<u8> {
    // A background copy outlives the terminal that started it.
    if ready_fd.is_some() {
        // SAFETY: ignoring a signal installs no handler.
        unsafe {
            let _ = nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGHUP,
                nix::sys::signal::SigHandler::SigIgn,
            );
        }
    }
    // `wraith umount` asks with SIGTERM: tidy up as for Ctrl-C.
    crate::render::stop_on_sigterm();
    // SAFETY: the descriptor was given to us by our parent for this use alone.
    let ready = ready_fd.map(|fd| std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) }));
    if let Some(f) = &ready {
        // Helpers we start (ntfs-3g, fuse2fs) stay running: they must not hold our parent's
        // pipe open, or it would wait for them.
        let _ = nix::fcntl::fcntl(
            f.as_raw_fd(),
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        );
    }

    let (disk, image, repo, _drive) = open_image_disk(ctx, image, "mount")?;
    let size = disk.size();
    let regions: Vec<_> = disk
        .manifest()
        .regions
        .iter()
        .map(|r| r.region.clone())
        .collect();
    let disk = Arc::new(disk) as Arc<dyn ReadAt + Send + Sync>;
    let foreground = ready.is_none();
    let json = ctx.json;
    let notify = Arc::new(move |n: MountNotice| {
        // In the background nobody reads this; the program reading gets its I/O error anyway.
        if !foreground || json {
            return;
        }
        match n {
            MountNotice::ReadFailed { offset, len, error } => eprintln!(
                "warning: reading {len} bytes at disk offset {offset} failed, the reader got an \
                 I/O error: {error}"
            ),
            MountNotice::FileUnreadable { path, error } => {
                eprintln!("warning: {path}: cannot be read: {error}")
            }
            MountNotice::Skipped { path, why } => eprintln!("warning: {path}: left out: {why}"),
        }
    });
    let m = image_mount::mount_image(disk, &regions, dir, &image.to_string(), via, notify)
        .with_context(|| format!("mounting image {image} at {}", dir.display()))?;

    if ctx.json {
        println!(
            "{}",
            json!({
                "result": "mounted",
                "image": image,
                "dir": m.dir(),
                "via": m.via(),
                "disk": m.disk(),
                "size": size,
                "partitions": m.parts(),
                "pid": std::process::id(),
            })
        );
    } else {
        println!(
            "image {image} from {} mounted read-only at {} (through {})",
            repo.location(),
            m.dir().display(),
            m.via()
        );
        println!(
            "  {:<28} the whole disk, {}",
            m.dir().join("disk").display(),
            hb(size)
        );
        for p in m.parts() {
            let what = match (&p.fs, &p.label) {
                (Some(fs), Some(l)) => format!("{fs} \"{l}\""),
                (Some(fs), None) => fs.clone(),
                (None, _) => "copied raw".into(),
            };
            let part = if p.number == 0 {
                "the disk's filesystem".to_string()
            } else {
                format!("partition {}", p.number)
            };
            match (&p.mounted_by, &p.error) {
                (Some(by), _) => println!(
                    "  {:<28} {part}, {what}, {} (by {by})",
                    p.dir.display(),
                    hb(p.len)
                ),
                (None, e) => println!(
                    "  {:<28} {part}, {what}, {}: not mounted: {}",
                    p.dir.display(),
                    hb(p.len),
                    e.as_deref().unwrap_or("unknown")
                ),
            }
        }
        println!(
            "{}",
            if foreground {
                format!("Ctrl-C or `wraith umount {}` ends it", m.dir().display())
            } else {
                format!("`wraith umount {}` ends it", m.dir().display())
            }
        );
    }
    std::io::stdout().flush().ok();
    if let Some(mut ready) = ready {
        // Let go of the terminal (or the pipe a script reads), then say we are ready: our
        // parent returns, and its reader sees the end of the output.
        detach_stdio();
        let _ = ready.write_all(b"ready\n");
    }
    // Served until asked to stop, or until DIR was unmounted behind our back.
    while !ctx.cancel.is_cancelled() && image_mount::is_mount_point(m.dir()) {
        std::thread::sleep(Duration::from_millis(250));
    }
    drop(m);
    Ok(crate::EXIT_OK)
}

fn detach_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..3 {
            let _ = nix::unistd::dup2(null.as_raw_fd(), fd);
        }
    }
}

pub fn umount(ctx: &Ctx, dir: &Path, lazy: bool) -> Result<u8> {
    let done = image_mount::unmount_dir(dir, lazy)?;
    if ctx.json {
        println!(
            "{}",
            json!({"result": "unmounted", "dir": dir, "mounts": done.mounts, "stopped": done.stopped_pid})
        );
    } else {
        println!(
            "{}: unmounted ({} mounts{})",
            dir.display(),
            done.mounts,
            match done.stopped_pid {
                Some(pid) => format!(", serving process {pid} stopped"),
                None => String::new(),
            }
        );
    }
    Ok(crate::EXIT_OK)
}

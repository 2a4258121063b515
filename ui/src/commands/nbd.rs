//! `wraith nbd REPO:NAME[@ID]`: serves a saved image as a block device over NBD (TCP or a
//! Unix socket) until Ctrl-C, or with `--once` until the first client leaves; says what it
//! serves and the URLs to give qemu-img, qemu-io or nbd-client. With `--writable-overlay FILE`
//! clients may write; the writes go to FILE.
//!
//! Must not: write the repository (the engine's server only reads the image; an overlay file
//! inside a local repository is refused here), or remove any file but the socket it made.

use super::{open_image_disk, Ctx};
use anyhow::{anyhow, bail, Context, Result};
use serde_json::json;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wraith_engine::device::ReadAt;
use wraith_engine::human_bytes as hb;
use wraith_engine::nbd::overlay::{self, Overlay};
use wraith_engine::nbd::{self, Export, Listener, Notice};

pub struct Args<'a> {
    pub image: &'a str,
    pub listen: &'a str,
    pub socket: Option<&'a Path>,
    pub overlay: Option<&'a Path>,
    pub once: bool,
}

pub fn run(ctx: &Ctx, a: &Args) -> Result<u8> {
    let (disk, image, repo, _mounted) = open_image_disk(ctx, a.image, "serve")?;
    let size = disk.size();

    if let Some(path) = a.overlay {
        refuse_inside_repository(path, repo.store().local_dir().as_deref())?;
    }
    // Bound first: a port in use must not leave a new overlay file behind.
    let (listener, urls, socket_made) = bind(a, &image.name)?;
    let overlay = match a
        .overlay
        .map(|p| Overlay::open(p, &image.to_string(), size))
    {
        Some(Ok(o)) => Some(Arc::new(o)),
        Some(Err(e)) => {
            if let Some(p) = &socket_made {
                let _ = std::fs::remove_file(p);
            }
            return Err(e.into());
        }
        None => None,
    };
    let mode = match &overlay {
        Some(o) => format!(
            "writable into {} ({} blocks of 4 KiB written before)",
            o.path().display(),
            o.blocks_written()
        ),
        None => "read-only".to_string(),
    };
    if ctx.json {
        println!(
            "{}",
            json!({
                "result": "serving",
                "image": image,
                "size": size,
                "writable": overlay.is_some(),
                "overlay": a.overlay,
                "map": a.overlay.map(overlay::map_path),
                "urls": urls,
            })
        );
    } else {
        println!(
            "serving image {image} from {} ({}, {mode})",
            repo.location(),
            hb(size)
        );
        for u in &urls {
            println!("  {u}");
        }
        println!(
            "  for example: qemu-img convert -O qcow2 {} disk.qcow2",
            urls[0]
        );
        match (&listener, a.socket) {
            (Listener::Tcp(l), _) => {
                let at = l.local_addr()?;
                println!(
                    "  or as a device: nbd-client {} {} -N {} /dev/nbd0",
                    at.ip(),
                    at.port(),
                    image.name
                );
            }
            (Listener::Unix(_), Some(path)) => println!(
                "  or as a device: nbd-client -unix {} -N {} /dev/nbd0",
                path.display(),
                image.name
            ),
            (Listener::Unix(_), None) => {}
        }
        println!(
            "{}",
            if a.once {
                "stops when the first client disconnects (or Ctrl-C)"
            } else {
                "Ctrl-C stops"
            }
        );
    }
    // Whoever waits for these lines (a script, a test) may connect now.
    std::io::stdout().flush().ok();

    let export = Export {
        name: image.name.clone(),
        description: format!("wraith image {image}"),
        disk: Arc::new(disk) as Arc<dyn ReadAt + Send + Sync>,
        overlay: overlay.clone(),
    };
    let notify = |n: Notice| match n {
        Notice::Connected { client } => ctx.r.note(&format!("{client}: connected")),
        Notice::Disconnected { client, reason } => match reason {
            Some(r) => ctx.r.note(&format!("{client}: disconnected ({r})")),
            None => ctx.r.note(&format!("{client}: disconnected")),
        },
        Notice::ReadFailed {
            client,
            offset,
            len,
            error,
        } => ctx.r.warn(&format!(
            "{client}: read of {len} bytes at disk offset {offset} failed, the client got an \
             I/O error: {error}"
        )),
        Notice::WriteFailed {
            client,
            offset,
            error,
        } => ctx.r.warn(&format!(
            "{client}: writing the overlay at disk offset {offset} failed, the client got an \
             I/O error: {error}"
        )),
        Notice::Refused { client } => ctx.r.warn(&format!(
            "{client}: refused, {} clients are connected already",
            nbd::MAX_CLIENTS
        )),
    };
    let served = nbd::serve(&listener, &export, &notify, ctx.cancel, a.once);
    if let Some(p) = socket_made {
        let _ = std::fs::remove_file(p);
    }
    served?;
    if let Some(o) = &overlay {
        o.flush()?;
        ctx.r.note(&format!(
            "overlay {}: {} blocks of 4 KiB written; serve it again with --writable-overlay",
            o.path().display(),
            o.blocks_written()
        ));
    }
    // Ctrl-C is how a server is meant to stop: not a cancelled job.
    Ok(crate::EXIT_OK)
}

/// The listener and the URLs a client uses, and the socket file made (removed at the end).
fn bind(a: &Args, name: &str) -> Result<(Listener, Vec<String>, Option<PathBuf>)> {
    if let Some(path) = a.socket {
        if let Ok(m) = std::fs::symlink_metadata(path) {
            if !m.file_type().is_socket() {
                bail!(
                    "{}: exists and is not a socket; name a new path for --socket",
                    path.display()
                );
            }
            // A socket left by a server that is gone: binding needs the name free.
            std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
        }
        let l =
            UnixListener::bind(path).with_context(|| format!("listening on {}", path.display()))?;
        let url = format!("nbd+unix:///{name}?socket={}", path.display());
        return Ok((Listener::Unix(l), vec![url], Some(path.to_path_buf())));
    }
    let l = TcpListener::bind(a.listen).with_context(|| {
        format!(
            "listening on {} (another NBD server there? pick --listen ADDR:PORT)",
            a.listen
        )
    })?;
    let at = l.local_addr()?;
    let host = if at.ip().is_unspecified() {
        // Every address of this machine: name the loopback one, which works here.
        if at.is_ipv4() {
            "127.0.0.1".to_string()
        } else {
            "[::1]".to_string()
        }
    } else if at.is_ipv6() {
        format!("[{}]", at.ip())
    } else {
        at.ip().to_string()
    };
    let url = format!("nbd://{host}:{}/{name}", at.port());
    Ok((Listener::Tcp(l), vec![url], None))
}

/// An overlay is written all the time: never inside the repository's own directory.
fn refuse_inside_repository(path: &Path, repo_dir: Option<&Path>) -> Result<()> {
    let Some(repo_dir) = repo_dir else {
        return Ok(());
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let parent = parent
        .canonicalize()
        .map_err(|e| anyhow!("{}: {e}", parent.display()))?;
    if let Ok(root) = repo_dir.canonicalize() {
        if parent.starts_with(&root) {
            bail!(
                "{}: the overlay would be written inside the repository {}; put it elsewhere",
                path.display(),
                root.display()
            );
        }
    }
    Ok(())
}

//! `wraith files` and `wraith extract`: list and copy files out of one partition of a saved
//! image (or a disk image file) without restoring or mounting it, through the engine's
//! filesystem readers; the copy itself is the engine's (`ops::extract`), worded here.
//!
//! Must not: write anything but under DEST, or trust a name or symlink read from the image:
//! a name with `/` or NUL, or `.`/`..`, is skipped with a warning; every entry is created
//! new (O_EXCL) and never through a symlink (O_NOFOLLOW; symlinks are made as symlinks and
//! never followed); an existing entry is replaced only with `--force`, and never by
//! following or emptying a directory.

use super::{find_image, open_repo, Ctx};
use anyhow::{anyhow, bail, Context, Result};
use serde_json::json;
use std::ffi::OsStr;
use std::io::{IsTerminal, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};
use wraith_engine::fs::reader::{self, Entry, EntryKind, Time};
use wraith_engine::ops::extract::{self, ExtractEvent, Item, Options, Partition};
use wraith_engine::ops::repository;
use wraith_engine::repo::image_disk::ImageDisk;
use wraith_engine::repo::location;

/// Warnings printed one by one; the rest are counted.
const WARN_SHOWN: usize = 50;

/// Opens `what` and partition `number` of it: a disk or disk image file, or a saved image.
fn open_source(ctx: &Ctx, what: &str, number: u32) -> Result<Partition> {
    let path = Path::new(what);
    if !location::is_url(what) && path.exists() && !path.is_dir() {
        return Partition::of_disk(path, number).map_err(|e| match e {
            wraith_engine::Error::NotFound { .. } => {
                anyhow!("{}: no partition {number}", path.display())
            }
            e => anyhow!("reading {}: {e}", path.display()),
        });
    }
    let spec = repository::parse_image_spec(what)?;
    if spec.name.is_none() {
        bail!(
            "{}: not a disk or image file; name an image: REPO:NAME[@ID]",
            location::redact(what)
        );
    }
    let (repo, _mounted) = open_repo(ctx, &spec.repository)?;
    let image = find_image(&repo, &spec)?;
    let disk = ImageDisk::open(repo, &image)?;
    if extract::partition_range(disk.manifest(), number).is_none() {
        bail!("image {image} has no partition {number} (see `wraith info {what}`)");
    }
    Ok(Partition::of_image(disk, number)?)
}

/// `PARTITION[:/path]` → (number, path).
fn parse_at(at: &str) -> Result<(u32, String)> {
    let (n, p) = at.split_once(':').unwrap_or((at, "/"));
    let number = n
        .parse::<u32>()
        .map_err(|_| anyhow!("{at}: give PARTITION[:/path], the partition's number first"))?;
    Ok((number, if p.is_empty() { "/".into() } else { p.into() }))
}

fn time_text(t: Option<Time>) -> String {
    match t {
        Some(t) if t.secs >= 0 => {
            let s = wraith_engine::repo::timestamp_text(t.secs as u64);
            s.trim_end_matches(" UTC")
                .get(..16)
                .unwrap_or(&s)
                .to_string()
        }
        _ => "-".repeat(16),
    }
}

fn mode_text(e: &Entry) -> String {
    let t = match e.kind {
        EntryKind::File => '-',
        EntryKind::Dir => 'd',
        EntryKind::Symlink => 'l',
        EntryKind::Other => '?',
    };
    let Some(m) = e.mode else {
        return format!("{t}---------");
    };
    let mut s = String::from(t);
    for (i, c) in "rwxrwxrwx".chars().enumerate() {
        s.push(if m & (1 << (8 - i)) != 0 { c } else { '-' });
    }
    s
}

fn entry_json(e: &Entry, path: &str) -> serde_json::Value {
    let t = |t: Option<Time>| t.map(|t| json!({"secs": t.secs, "nsecs": t.nsecs}));
    json!({
        "name": e.name_lossy(), "path": path, "kind": e.kind, "size": e.size,
        "mode": e.mode.map(|m| m & 0o7777), "uid": e.uid, "gid": e.gid, "nlink": e.nlink,
        "mtime": t(e.mtime), "atime": t(e.atime), "ctime": t(e.ctime), "id": e.id,
        "target": e.target.as_ref().map(|t| String::from_utf8_lossy(t).into_owned()),
        "unsupported": e.unsupported,
    })
}

/// `wraith files SOURCE PARTITION[:/path]`.
pub fn list(ctx: &Ctx, what: &str, at: &str) -> Result<u8> {
    let (number, path) = parse_at(at)?;
    let src = open_source(ctx, what, number)?;
    let part = src.slice();
    let fs = reader::open(&part).with_context(|| format!("partition {number}"))?;
    let e = reader::lookup(fs.as_ref(), &path)?;
    let entries = if e.kind == EntryKind::Dir {
        fs.list(&e)?
    } else {
        vec![e.clone()]
    };
    let base = path.trim_end_matches('/');
    if ctx.json {
        let list: Vec<_> = entries
            .iter()
            .map(|x| {
                let p = if e.kind == EntryKind::Dir {
                    format!("{base}/{}", x.name_lossy())
                } else {
                    path.clone()
                };
                entry_json(x, &p)
            })
            .collect();
        println!(
            "{}",
            json!({"result": "ok", "filesystem": fs.kind().name(), "path": path, "entries": list})
        );
        return Ok(crate::EXIT_OK);
    }
    for x in &entries {
        let owner = match (x.uid, x.gid) {
            (Some(u), Some(g)) => format!("{u:>5} {g:>5}"),
            _ => format!("{:>5} {:>5}", "-", "-"),
        };
        let mut name = x.name_lossy().escape_debug().to_string();
        if let Some(t) = &x.target {
            name.push_str(" -> ");
            name.push_str(&String::from_utf8_lossy(t).escape_debug().to_string());
        }
        if let Some(u) = &x.unsupported {
            name.push_str(&format!("  ({u})"));
        }
        println!(
            "{} {} {:>12} {} {}",
            mode_text(x),
            owner,
            x.size,
            time_text(x.mtime),
            name
        );
    }
    Ok(crate::EXIT_OK)
}

/// `wraith extract SOURCE PARTITION:/path DEST [--force]`.
pub fn extract(ctx: &Ctx, what: &str, at: &str, dest: &Path, force: bool) -> Result<u8> {
    let (number, path) = parse_at(at)?;
    let src = open_source(ctx, what, number)?;
    let part = src.slice();
    let fs = reader::open(&part).with_context(|| format!("partition {number}"))?;
    let e = reader::lookup(fs.as_ref(), &path)?;
    let dest_is_dir = std::fs::symlink_metadata(dest).is_ok_and(|m| m.is_dir());
    // Into an existing directory as its own name, like cp; the root's contents go straight in
    // (the directory itself is reused, but entries inside are still refused without --force).
    let item = if dest_is_dir && !e.name.is_empty() {
        if let Some(why) = extract::unsafe_name(&e.name) {
            bail!("{path}: {why}");
        }
        Item {
            to: dest.join(OsStr::from_bytes(&e.name)),
            entry: e,
            contents_into: false,
        }
    } else {
        Item {
            to: dest.to_path_buf(),
            contents_into: e.name.is_empty() && dest_is_dir,
            entry: e,
        }
    };
    let target = item.to.clone();
    let opts = Options {
        force,
        merge: false,
        count_first: false,
        owners: nix::unistd::geteuid().is_root(),
    };
    let json = ctx.json;
    let tty = !json && std::io::stderr().is_terminal();
    let shown = std::cell::Cell::new(0usize);
    let last = std::cell::Cell::new(None::<Instant>);
    let on = |ev: ExtractEvent| match ev {
        ExtractEvent::Warning { message } => {
            if !json && shown.get() < WARN_SHOWN {
                eprintln!("warning: {message}");
            }
            shown.set(shown.get() + 1);
        }
        ExtractEvent::Progress { bytes, files, .. } if tty => {
            let now = Instant::now();
            if last
                .get()
                .is_some_and(|l| now.duration_since(l) < Duration::from_millis(500))
            {
                return;
            }
            last.set(Some(now));
            eprint!(
                "\r  {files} files, {} written ",
                wraith_engine::human_bytes(bytes)
            );
            let _ = std::io::stderr().flush();
        }
        _ => {}
    };
    let t = extract::extract(fs.as_ref(), &[item], &opts, &on, ctx.cancel)?;
    if let Some(failed) = t.failed.first() {
        bail!("{failed}");
    }
    if tty {
        eprintln!();
    }
    if json {
        println!(
            "{}",
            json!({"result": if t.warnings.is_empty() {"ok"} else {"partial"},
                "dest": target, "files": t.files, "dirs": t.dirs, "symlinks": t.links,
                "bytes": t.bytes, "skipped": t.warnings})
        );
    } else {
        println!(
            "extracted {} files, {} directories, {} symlinks ({}) to {}",
            t.files,
            t.dirs,
            t.links,
            wraith_engine::human_bytes(t.bytes),
            target.display()
        );
        if t.warnings.len() > WARN_SHOWN {
            eprintln!("  ... {} more warnings", t.warnings.len() - WARN_SHOWN);
        }
        if !t.warnings.is_empty() {
            println!(
                "{} entries skipped or incomplete (see the warnings)",
                t.warnings.len()
            );
        }
    }
    Ok(if t.warnings.is_empty() {
        crate::EXIT_OK
    } else {
        crate::EXIT_PARTIAL
    })
}

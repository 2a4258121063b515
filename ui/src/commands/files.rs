//! `wraith files` and `wraith extract`: list and copy files out of one partition of a saved
//! image (or a disk image file) without restoring or mounting it, through the engine's
//! filesystem readers.
//!
//! Must not: write anything but under DEST, or trust a name or symlink read from the image:
//! a name with `/` or NUL, or `.`/`..`, is skipped with a warning; every entry is created
//! new (O_EXCL) and never through a symlink (O_NOFOLLOW; symlinks are made as symlinks and
//! never followed); an existing entry is replaced only with `--force`, and never by
//! following or emptying a directory.

use super::{find_image, open_repo, Ctx};
use anyhow::{anyhow, bail, Context, Result};
use serde_json::json;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{IsTerminal, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wraith_engine::device::{Device, ReadAt, Slice};
use wraith_engine::fs::reader::{self, Entry, EntryKind, Time};
use wraith_engine::fs::FsReader;
use wraith_engine::ops::repository;
use wraith_engine::plan::RegionKind;
use wraith_engine::repo::image_disk::ImageDisk;
use wraith_engine::repo::location;

/// Bytes copied at a time.
const COPY_CHUNK: usize = 1 << 20;
/// Warnings printed one by one; the rest are counted.
const WARN_SHOWN: usize = 50;

/// The disk a source names: a saved image, or a disk / disk image file.
enum Source {
    Image(Box<ImageDisk>),
    Disk(Device),
}

impl Source {
    fn dev(&self) -> &dyn ReadAt {
        match self {
            Source::Image(d) => d.as_ref(),
            Source::Disk(d) => d,
        }
    }
}

/// Opens `what` and finds partition `number`'s byte range on it.
fn open_source(ctx: &Ctx, what: &str, number: u32) -> Result<(Source, u64, u64)> {
    let path = Path::new(what);
    if !location::is_url(what) && path.exists() && !path.is_dir() {
        let dev = Device::open_read(path)?;
        let plan = wraith_engine::plan::plan(&dev, dev.identity.clone())
            .map_err(|e| anyhow!("reading {}: {e}", path.display()))?;
        let r = plan
            .regions
            .iter()
            .find(|r| r.kind == RegionKind::Partition { number })
            .map(|r| (r.start, r.len))
            .or_else(|| {
                // A disk without a table: partition 0 is the whole disk.
                (number == 0).then_some((0, dev.size()))
            })
            .ok_or_else(|| anyhow!("{}: no partition {number}", path.display()))?;
        return Ok((Source::Disk(dev), r.0, r.1));
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
    let r = disk
        .manifest()
        .regions
        .iter()
        .find(|r| match r.region.kind {
            RegionKind::Partition { number: n } => n == number,
            RegionKind::WholeDisk => number == 0,
            _ => false,
        })
        .map(|r| (r.region.start, r.region.len))
        .ok_or_else(|| {
            anyhow!("image {image} has no partition {number} (see `wraith info {what}`)")
        })?;
    Ok((Source::Image(Box::new(disk)), r.0, r.1))
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
    let (src, start, len) = open_source(ctx, what, number)?;
    let part = Slice {
        dev: src.dev(),
        offset: start,
        len,
    };
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

/// What an extraction did.
#[derive(Default)]
struct Tally {
    files: u64,
    dirs: u64,
    links: u64,
    bytes: u64,
    warnings: Vec<String>,
    last_progress: Option<Instant>,
}

impl Tally {
    fn warn(&mut self, json: bool, msg: String) {
        if !json && self.warnings.len() < WARN_SHOWN {
            eprintln!("warning: {msg}");
        }
        self.warnings.push(msg);
    }
}

/// Whether a name from the image can be created under a directory as it is.
fn unsafe_name(name: &[u8]) -> Option<&'static str> {
    if name.is_empty() {
        Some("an empty name")
    } else if name == b"." || name == b".." {
        Some("a name that means a directory itself or its parent")
    } else if name.contains(&b'/') {
        Some("a name with '/'")
    } else if name.contains(&0) {
        Some("a name with a NUL byte")
    } else {
        None
    }
}

struct Extractor<'a> {
    fs: &'a dyn FsReader,
    force: bool,
    json: bool,
    root: bool,
    cancel: &'a wraith_engine::events::Cancel,
    /// Files already written, by id: later names of them become hard links.
    linked: HashMap<u64, PathBuf>,
    /// Directories already entered, by id. A directory met again (a crafted loop, or a
    /// directory under two names) is skipped: walking it again could go on without end.
    seen_dirs: std::collections::HashSet<u64>,
    t: Tally,
}

/// Makes room for a new entry at `p` with --force: removes a file or symlink there (never
/// following it); an existing directory stays (and is refused where a non-directory goes).
fn clear(p: &Path, force: bool, want_dir: bool) -> Result<bool> {
    let Ok(m) = std::fs::symlink_metadata(p) else {
        return Ok(false);
    };
    if !force {
        bail!("{} exists (use --force to replace it)", p.display());
    }
    if m.is_dir() {
        if want_dir {
            return Ok(true);
        }
        bail!("{} is a directory; not replaced by a file", p.display());
    }
    std::fs::remove_file(p).with_context(|| format!("removing {}", p.display()))?;
    Ok(false)
}

fn set_times(p: &Path, e: &Entry) -> Result<()> {
    use nix::sys::stat::{utimensat, UtimensatFlags};
    use nix::sys::time::TimeSpec;
    let ts = |t: Option<Time>| match t {
        Some(t) => TimeSpec::new(t.secs, i64::from(t.nsecs)),
        None => TimeSpec::UTIME_OMIT,
    };
    utimensat(
        None,
        p,
        &ts(e.atime.or(e.mtime)),
        &ts(e.mtime),
        UtimensatFlags::NoFollowSymlink,
    )
    .with_context(|| format!("setting the times of {}", p.display()))
}

impl Extractor<'_> {
    fn progress(&mut self) {
        if self.json || !std::io::stderr().is_terminal() {
            return;
        }
        let now = Instant::now();
        if self
            .t
            .last_progress
            .is_some_and(|l| now.duration_since(l) < Duration::from_millis(500))
        {
            return;
        }
        self.t.last_progress = Some(now);
        eprint!(
            "\r  {} files, {} written ",
            self.t.files,
            wraith_engine::human_bytes(self.t.bytes)
        );
        let _ = std::io::stderr().flush();
    }

    /// Creates `e` at `p` (and, for a directory, everything in it).
    fn entry(&mut self, e: &Entry, p: &Path, depth: usize) -> Result<()> {
        self.cancel.check()?;
        match e.kind {
            EntryKind::Dir => self.dir(e, p, depth),
            EntryKind::File => self.file(e, p),
            EntryKind::Symlink => {
                let target = e.target.clone().unwrap_or_default();
                clear(p, self.force, false)?;
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), p)
                    .with_context(|| format!("creating the symlink {}", p.display()))?;
                self.owner(p, e)?;
                set_times(p, e)?;
                self.t.links += 1;
                Ok(())
            }
            EntryKind::Other => {
                let msg = e
                    .unsupported
                    .clone()
                    .unwrap_or_else(|| "a device, fifo or socket: not extracted".to_string());
                self.t.warn(self.json, format!("{}: {msg}", p.display()));
                Ok(())
            }
        }
    }

    fn owner(&self, p: &Path, e: &Entry) -> Result<()> {
        if !self.root {
            return Ok(());
        }
        if let (Some(u), Some(g)) = (e.uid, e.gid) {
            std::os::unix::fs::lchown(p, Some(u), Some(g))
                .with_context(|| format!("setting the owner of {}", p.display()))?;
        }
        Ok(())
    }

    fn dir(&mut self, e: &Entry, p: &Path, depth: usize) -> Result<()> {
        if depth > reader::MAX_DEPTH {
            bail!(
                "{}: more than {} levels deep",
                p.display(),
                reader::MAX_DEPTH
            );
        }
        if !self.seen_dirs.insert(e.id) {
            bail!(
                "{}: skipped: the same directory (id {}) was met before (a directory loop or \
                 a directory under two names)",
                p.display(),
                e.id
            );
        }
        if !clear(p, self.force, true)? {
            std::fs::create_dir(p).with_context(|| format!("creating {}", p.display()))?;
        }
        // Owner-writable while filling it; its own mode is set afterwards.
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700))?;
        self.t.dirs += 1;
        self.children(e, p, depth)?;
        self.owner(p, e)?;
        let mode = e.mode.map_or(0o755, |m| m & 0o7777);
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))?;
        set_times(p, e)
    }

    /// Everything in directory `e`, created under `p`.
    fn children(&mut self, e: &Entry, p: &Path, depth: usize) -> Result<()> {
        let entries = match self.fs.list(e) {
            Ok(v) => v,
            Err(err) => {
                self.t.warn(
                    self.json,
                    format!("{}: directory not read: {err}", p.display()),
                );
                Vec::new()
            }
        };
        for c in entries {
            if let Some(why) = unsafe_name(&c.name) {
                self.t.warn(
                    self.json,
                    format!("{}: entry {:?} skipped: {why}", p.display(), c.name_lossy()),
                );
                continue;
            }
            let cp = p.join(OsStr::from_bytes(&c.name));
            if let Err(err) = self.entry(&c, &cp, depth + 1) {
                if self.cancel.is_cancelled() {
                    return Err(err);
                }
                self.t.warn(self.json, format!("{err:#}"));
            }
        }
        Ok(())
    }

    fn file(&mut self, e: &Entry, p: &Path) -> Result<()> {
        if e.nlink > 1 {
            if let Some(first) = self.linked.get(&e.id) {
                clear(p, self.force, false)?;
                std::fs::hard_link(first, p)
                    .with_context(|| format!("linking {} to {}", p.display(), first.display()))?;
                self.t.files += 1;
                return Ok(());
            }
        }
        let data = self
            .fs
            .open(e)
            .with_context(|| format!("{}: not extracted", p.display()))?;
        clear(p, self.force, false)?;
        let mode = e.mode.map_or(0o644, |m| m & 0o7777);
        // New, never through a symlink: O_EXCL|O_NOFOLLOW.
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .mode(0o600)
            .open(p)
            .with_context(|| format!("creating {}", p.display()))?;
        let size = data.size();
        let mut buf = vec![0u8; COPY_CHUNK];
        let mut pos = 0u64;
        while pos < size {
            self.cancel.check()?;
            let n = (size - pos).min(COPY_CHUNK as u64) as usize;
            data.read_exact_at(&mut buf[..n], pos)
                .with_context(|| format!("reading {} from the image", p.display()))?;
            if buf[..n].iter().all(|&b| b == 0) {
                // Keep holes as holes.
                use std::io::Seek;
                out.seek(std::io::SeekFrom::Current(n as i64))?;
            } else {
                out.write_all(&buf[..n])
                    .with_context(|| format!("writing {}", p.display()))?;
            }
            pos += n as u64;
            self.t.bytes += n as u64;
            self.progress();
        }
        out.set_len(size)?;
        if self.root {
            if let (Some(u), Some(g)) = (e.uid, e.gid) {
                std::os::unix::fs::fchown(&out, Some(u), Some(g))?;
            }
        }
        // After chown, which clears set-id bits.
        out.set_permissions(std::fs::Permissions::from_mode(mode))?;
        drop(out);
        set_times(p, e)?;
        self.t.files += 1;
        if e.nlink > 1 {
            self.linked.insert(e.id, p.to_path_buf());
        }
        Ok(())
    }
}

/// `wraith extract SOURCE PARTITION:/path DEST [--force]`.
pub fn extract(ctx: &Ctx, what: &str, at: &str, dest: &Path, force: bool) -> Result<u8> {
    let (number, path) = parse_at(at)?;
    let (src, start, len) = open_source(ctx, what, number)?;
    let part = Slice {
        dev: src.dev(),
        offset: start,
        len,
    };
    let fs = reader::open(&part).with_context(|| format!("partition {number}"))?;
    let e = reader::lookup(fs.as_ref(), &path)?;
    // Into an existing directory as its own name, like cp; the root's contents go straight in.
    let target = if std::fs::symlink_metadata(dest).is_ok_and(|m| m.is_dir()) && !e.name.is_empty()
    {
        if let Some(why) = unsafe_name(&e.name) {
            bail!("{path}: {why}");
        }
        dest.join(OsStr::from_bytes(&e.name))
    } else {
        dest.to_path_buf()
    };
    let mut x = Extractor {
        fs: fs.as_ref(),
        force,
        json: ctx.json,
        root: nix::unistd::geteuid().is_root(),
        cancel: ctx.cancel,
        linked: HashMap::new(),
        seen_dirs: std::collections::HashSet::new(),
        t: Tally::default(),
    };
    // The root's contents into an existing DEST directory: the directory itself is reused, but
    // entries inside are still refused without --force.
    let reuse_root = e.name.is_empty() && std::fs::symlink_metadata(dest).is_ok_and(|m| m.is_dir());
    if reuse_root {
        x.seen_dirs.insert(e.id);
        x.children(&e, dest, 0)?;
    } else {
        x.entry(&e, &target, 0)?;
    }
    if !ctx.json && std::io::stderr().is_terminal() {
        eprintln!();
    }
    let t = &x.t;
    if ctx.json {
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
    Ok(if x.t.warnings.is_empty() {
        crate::EXIT_OK
    } else {
        crate::EXIT_PARTIAL
    })
}

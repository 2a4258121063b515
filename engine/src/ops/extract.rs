//! Copying files out of one partition of a saved image (or of a disk or disk image file)
//! without restoring or mounting it: the partition opened as a byte range, a pre-walk total,
//! then each chosen entry created under a destination with its times and modes, reporting
//! through [`ExtractEvent`]s and stopping on [`Cancel`]. The CLI's `wraith extract` and the
//! TUI's Browse both copy through here.
//!
//! Must not: write anything but the destinations it is given, trust a name or symlink read
//! from the image (a name with `/` or NUL, or `.`/`..`, is skipped with a warning), create an
//! entry through a symlink (every entry is new, O_EXCL|O_NOFOLLOW; symlinks are made, never
//! followed), replace an existing entry unless forced (and never by following or emptying a
//! directory), or touch the terminal.

use crate::device::{Device, ReadAt, Slice};
use crate::error::{Error, Result};
use crate::events::Cancel;
use crate::fs::reader::{self, Entry, EntryKind, Time};
use crate::fs::FsReader;
use crate::plan::RegionKind;
use crate::repo::image_disk::ImageDisk;
use crate::repo::manifest::Manifest;
use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Bytes copied at a time.
const COPY_CHUNK: usize = 1 << 20;
/// Progress events at most this often (and once at the end of each top-level entry).
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// One partition of a disk, open for reading its files.
pub struct Partition {
    disk: Box<dyn ReadAt + Send>,
    pub number: u32,
    pub start: u64,
    pub len: u64,
}

impl Partition {
    /// Partition `number` of a saved image (0: an image of a disk without a table).
    pub fn of_image(disk: ImageDisk, number: u32) -> Result<Partition> {
        let (start, len) =
            partition_range(disk.manifest(), number).ok_or_else(|| Error::NotFound {
                what: format!("partition {number} of image {}", disk.image()),
            })?;
        Ok(Partition {
            disk: Box::new(disk),
            number,
            start,
            len,
        })
    }

    /// Partition `number` of a disk or disk image file (0: a disk without a table).
    pub fn of_disk(path: &Path, number: u32) -> Result<Partition> {
        let dev = Device::open_read(path)?;
        let plan = crate::plan::plan(&dev, dev.identity.clone())?;
        let (start, len) = plan
            .regions
            .iter()
            .find(|r| r.kind == RegionKind::Partition { number })
            .map(|r| (r.start, r.len))
            .or_else(|| (number == 0).then_some((0, dev.size())))
            .ok_or_else(|| Error::NotFound {
                what: format!("{}: partition {number}", path.display()),
            })?;
        Ok(Partition {
            disk: Box::new(dev),
            number,
            start,
            len,
        })
    }

    /// The partition's bytes, for [`reader::open`].
    pub fn slice(&self) -> Slice<'_> {
        Slice {
            dev: self.disk.as_ref(),
            offset: self.start,
            len: self.len,
        }
    }
}

/// Where partition `number` lies in an image's disk (0: the whole disk of an image without a
/// partition table).
pub fn partition_range(m: &Manifest, number: u32) -> Option<(u64, u64)> {
    m.regions
        .iter()
        .find(|r| match r.region.kind {
            RegionKind::Partition { number: n } => n == number,
            RegionKind::WholeDisk => number == 0,
            _ => false,
        })
        .map(|r| (r.region.start, r.region.len))
}

/// A partition of an image as a file browser lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct PartitionFiles {
    pub number: u32,
    pub size: u64,
    /// The filesystem the image recorded, if any.
    pub fs: Option<String>,
    pub label: Option<String>,
    /// Whether its files can be read here, and if not, why.
    pub readable: std::result::Result<(), String>,
}

/// The partitions of an image, each opened once to learn whether its files can be read.
pub fn image_partitions(disk: &ImageDisk) -> Vec<PartitionFiles> {
    let mut out = Vec::new();
    for r in &disk.manifest().regions {
        let number = match r.region.kind {
            RegionKind::Partition { number } => number,
            RegionKind::WholeDisk => 0,
            _ => continue,
        };
        let part = Slice {
            dev: disk,
            offset: r.region.start,
            len: r.region.len,
        };
        let readable = reader::open(&part).map(|_| ()).map_err(|e| e.to_string());
        out.push(PartitionFiles {
            number,
            size: r.region.len,
            fs: r.region.fs.as_ref().map(|f| f.kind.name().to_string()),
            label: r.region.fs.as_ref().and_then(|f| f.label.clone()),
            readable,
        });
    }
    out
}

/// Whether a name from the image can be created under a directory as it is; why not.
pub fn unsafe_name(name: &[u8]) -> Option<&'static str> {
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

/// One thing to copy: an entry of the filesystem and the path it is created as.
#[derive(Clone, Debug)]
pub struct Item {
    pub entry: Entry,
    pub to: PathBuf,
    /// `to` is an existing directory the entry's contents go into (a root copied into a
    /// directory that is there already); the entries inside are still new or refused.
    pub contents_into: bool,
}

/// How to copy.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Replace existing files and symlinks (never a directory, never by following).
    pub force: bool,
    /// An existing directory (a real one, not a symlink) where a directory goes is used as
    /// it is and filled; the files already inside are refused unless forced.
    pub merge: bool,
    /// Walk the chosen entries first and report [`ExtractEvent::Total`].
    pub count_first: bool,
    /// Set owners from the image (only root can).
    pub owners: bool,
}

/// What an extraction tells while it works.
#[derive(Clone, Debug, PartialEq)]
pub enum ExtractEvent {
    /// The pre-walk's count: regular files and their bytes.
    Total { files: u64, bytes: u64 },
    /// Copied so far; `path` is the file being written.
    Progress {
        bytes: u64,
        files: u64,
        path: PathBuf,
    },
    /// Something skipped or incomplete (an unsafe name, an unsupported file, a read error,
    /// an entry that exists): the rest goes on.
    Warning { message: String },
    /// One of the chosen entries could not be copied at all.
    Failed { message: String },
}

/// What an extraction did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    pub files: u64,
    pub dirs: u64,
    pub links: u64,
    pub bytes: u64,
    /// Every warning, in order.
    pub warnings: Vec<String>,
    /// The chosen entries not copied at all, and why.
    pub failed: Vec<String>,
}

/// Copies `items` out of `fs`. Stops with [`Error::Cancelled`] once `cancel` is set (what was
/// written stays); everything else that goes wrong is told as a warning or a failure and
/// counted in the tally.
pub fn extract(
    fs: &dyn FsReader,
    items: &[Item],
    opts: &Options,
    on: &dyn Fn(ExtractEvent),
    cancel: &Cancel,
) -> Result<Tally> {
    if opts.count_first {
        let (files, bytes) = count(fs, items, cancel)?;
        on(ExtractEvent::Total { files, bytes });
    }
    let mut x = Extractor {
        fs,
        opts: *opts,
        on,
        cancel,
        linked: HashMap::new(),
        seen_dirs: HashSet::new(),
        t: Tally::default(),
        last: None,
        current: PathBuf::new(),
    };
    for it in items {
        let r = if it.contents_into {
            x.seen_dirs.insert(it.entry.id);
            x.children(&it.entry, &it.to, 0)
        } else {
            x.entry(&it.entry, &it.to, 0)
        };
        match r {
            Ok(()) => {}
            Err(Stop::Cancelled) => return Err(Error::Cancelled),
            Err(Stop::Failed(message)) => {
                (x.on)(ExtractEvent::Failed {
                    message: message.clone(),
                });
                x.t.failed.push(message);
            }
        }
        x.progress(true);
    }
    Ok(x.t)
}

/// Regular files and their bytes under `items` (a directory met twice counted once).
fn count(fs: &dyn FsReader, items: &[Item], cancel: &Cancel) -> Result<(u64, u64)> {
    let (mut files, mut bytes) = (0u64, 0u64);
    let mut seen = HashSet::new();
    let mut stack: Vec<(Entry, usize)> = items.iter().map(|i| (i.entry.clone(), 0)).collect();
    while let Some((e, depth)) = stack.pop() {
        cancel.check()?;
        match e.kind {
            EntryKind::File => {
                files += 1;
                bytes += e.size;
            }
            EntryKind::Dir if depth <= reader::MAX_DEPTH && seen.insert(e.id) => {
                // An unreadable directory is told when the copy reaches it.
                for c in fs.list(&e).unwrap_or_default() {
                    if unsafe_name(&c.name).is_none() {
                        stack.push((c, depth + 1));
                    }
                }
            }
            _ => {}
        }
    }
    Ok((files, bytes))
}

/// Why a step stopped: cancelled (the whole run ends), or a message (that entry is skipped).
enum Stop {
    Cancelled,
    Failed(String),
}

type Step = std::result::Result<(), Stop>;

impl From<Error> for Stop {
    fn from(e: Error) -> Stop {
        match e {
            Error::Cancelled => Stop::Cancelled,
            e => Stop::Failed(e.to_string()),
        }
    }
}

/// "`what` `path`: the system's reason".
fn io_err(what: &str, p: &Path) -> impl FnOnce(std::io::Error) -> Stop {
    let m = format!("{what} {}", p.display());
    move |e| Stop::Failed(format!("{m}: {e}"))
}

fn failed(msg: String) -> Step {
    Err(Stop::Failed(msg))
}

/// Makes room for a new entry at `p`: with `force`, removes a file or symlink there (never
/// following it). An existing directory is kept where a directory goes when forced or
/// merging (true: it is there to fill), and refused where anything else goes.
fn clear(p: &Path, opts: &Options, want_dir: bool) -> std::result::Result<bool, Stop> {
    let Ok(m) = std::fs::symlink_metadata(p) else {
        return Ok(false);
    };
    if want_dir && m.is_dir() && (opts.force || opts.merge) {
        return Ok(true);
    }
    if !opts.force {
        return Err(Stop::Failed(format!(
            "{} exists (use --force to replace it)",
            p.display()
        )));
    }
    if m.is_dir() {
        return Err(Stop::Failed(format!(
            "{} is a directory; not replaced by a file",
            p.display()
        )));
    }
    std::fs::remove_file(p).map_err(io_err("removing", p))?;
    Ok(false)
}

fn set_times(p: &Path, e: &Entry) -> Step {
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
    .map_err(|e| Stop::Failed(format!("setting the times of {}: {e}", p.display())))
}

struct Extractor<'a> {
    fs: &'a dyn FsReader,
    opts: Options,
    on: &'a dyn Fn(ExtractEvent),
    cancel: &'a Cancel,
    /// Files already written, by id: later names of them become hard links.
    linked: HashMap<u64, PathBuf>,
    /// Directories already entered, by id. A directory met again (a crafted loop, or a
    /// directory under two names) is skipped: walking it again could go on without end.
    seen_dirs: HashSet<u64>,
    t: Tally,
    last: Option<Instant>,
    current: PathBuf,
}

impl Extractor<'_> {
    fn warn(&mut self, message: String) {
        (self.on)(ExtractEvent::Warning {
            message: message.clone(),
        });
        self.t.warnings.push(message);
    }

    fn progress(&mut self, now_anyway: bool) {
        let now = Instant::now();
        if !now_anyway
            && self
                .last
                .is_some_and(|l| now.duration_since(l) < PROGRESS_EVERY)
        {
            return;
        }
        self.last = Some(now);
        (self.on)(ExtractEvent::Progress {
            bytes: self.t.bytes,
            files: self.t.files,
            path: self.current.clone(),
        });
    }

    /// Creates `e` at `p` (and, for a directory, everything in it).
    fn entry(&mut self, e: &Entry, p: &Path, depth: usize) -> Step {
        self.cancel.check()?;
        match e.kind {
            EntryKind::Dir => self.dir(e, p, depth),
            EntryKind::File => self.file(e, p),
            EntryKind::Symlink => {
                let target = e.target.clone().unwrap_or_default();
                clear(p, &self.opts, false)?;
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), p)
                    .map_err(io_err("creating the symlink", p))?;
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
                self.warn(format!("{}: {msg}", p.display()));
                Ok(())
            }
        }
    }

    fn owner(&self, p: &Path, e: &Entry) -> Step {
        if !self.opts.owners {
            return Ok(());
        }
        if let (Some(u), Some(g)) = (e.uid, e.gid) {
            std::os::unix::fs::lchown(p, Some(u), Some(g))
                .map_err(io_err("setting the owner of", p))?;
        }
        Ok(())
    }

    fn dir(&mut self, e: &Entry, p: &Path, depth: usize) -> Step {
        if depth > reader::MAX_DEPTH {
            return failed(format!(
                "{}: more than {} levels deep",
                p.display(),
                reader::MAX_DEPTH
            ));
        }
        if !self.seen_dirs.insert(e.id) {
            return failed(format!(
                "{}: skipped: the same directory (id {}) was met before (a directory loop or \
                 a directory under two names)",
                p.display(),
                e.id
            ));
        }
        let existed = clear(p, &self.opts, true)?;
        if !existed {
            std::fs::create_dir(p).map_err(io_err("creating", p))?;
        }
        // Owner-writable while filling it; its own mode is set afterwards. A directory that
        // was there and is merged into keeps its mode and times: it is the user's.
        if !existed || self.opts.force {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700))
                .map_err(io_err("setting the mode of", p))?;
        }
        self.t.dirs += 1;
        self.children(e, p, depth)?;
        if existed && !self.opts.force {
            return Ok(());
        }
        self.owner(p, e)?;
        let mode = e.mode.map_or(0o755, |m| m & 0o7777);
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
            .map_err(io_err("setting the mode of", p))?;
        set_times(p, e)
    }

    /// Everything in directory `e`, created under `p`.
    fn children(&mut self, e: &Entry, p: &Path, depth: usize) -> Step {
        let entries = match self.fs.list(e) {
            Ok(v) => v,
            Err(err) => {
                self.warn(format!("{}: directory not read: {err}", p.display()));
                Vec::new()
            }
        };
        for c in entries {
            if let Some(why) = unsafe_name(&c.name) {
                self.warn(format!(
                    "{}: entry {:?} skipped: {why}",
                    p.display(),
                    c.name_lossy()
                ));
                continue;
            }
            let cp = p.join(OsStr::from_bytes(&c.name));
            match self.entry(&c, &cp, depth + 1) {
                Ok(()) => {}
                Err(Stop::Cancelled) => return Err(Stop::Cancelled),
                Err(Stop::Failed(m)) => self.warn(m),
            }
        }
        Ok(())
    }

    fn file(&mut self, e: &Entry, p: &Path) -> Step {
        if e.nlink > 1 {
            if let Some(first) = self.linked.get(&e.id).cloned() {
                clear(p, &self.opts, false)?;
                std::fs::hard_link(&first, p).map_err(|err| {
                    Stop::Failed(format!(
                        "linking {} to {}: {err}",
                        p.display(),
                        first.display()
                    ))
                })?;
                self.t.files += 1;
                return Ok(());
            }
        }
        let data = match self.fs.open(e) {
            Ok(d) => d,
            Err(err) => return failed(format!("{}: not extracted: {err}", p.display())),
        };
        clear(p, &self.opts, false)?;
        let mode = e.mode.map_or(0o644, |m| m & 0o7777);
        // New, never through a symlink: O_EXCL|O_NOFOLLOW.
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .mode(0o600)
            .open(p)
            .map_err(io_err("creating", p))?;
        self.current = p.to_path_buf();
        let size = data.size();
        let mut buf = vec![0u8; COPY_CHUNK];
        let mut pos = 0u64;
        while pos < size {
            self.cancel.check()?;
            let n = (size - pos).min(COPY_CHUNK as u64) as usize;
            if let Err(err) = data.read_exact_at(&mut buf[..n], pos) {
                return failed(format!("reading {} from the image: {err}", p.display()));
            }
            if buf[..n].iter().all(|&b| b == 0) {
                // Keep holes as holes.
                use std::io::Seek;
                out.seek(std::io::SeekFrom::Current(n as i64))
                    .map_err(io_err("writing", p))?;
            } else {
                out.write_all(&buf[..n]).map_err(io_err("writing", p))?;
            }
            pos += n as u64;
            self.t.bytes += n as u64;
            self.progress(false);
        }
        out.set_len(size).map_err(io_err("writing", p))?;
        if self.opts.owners {
            if let (Some(u), Some(g)) = (e.uid, e.gid) {
                std::os::unix::fs::fchown(&out, Some(u), Some(g))
                    .map_err(io_err("setting the owner of", p))?;
            }
        }
        // After chown, which clears set-id bits.
        out.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(io_err("setting the mode of", p))?;
        drop(out);
        set_times(p, e)?;
        self.t.files += 1;
        self.progress(false);
        if e.nlink > 1 {
            self.linked.insert(e.id, p.to_path_buf());
        }
        Ok(())
    }
}

//! Browse: an image's partitions, a walk through one partition's directories, and copying the
//! files and folders marked to a USB stick or another disk, with progress and a summary.
//!
//! Every read of the repository (the partitions' filesystems, each directory listed, the
//! copy) runs on this screen's worker thread, one request at a time, and comes back as
//! `Msg::Browse`: a network repository may be slow, so the screen says "reading" and keeps
//! taking keys meanwhile; an answer nobody waits for any more is dropped by its number. The
//! copy is the engine's (`ops::extract`) into a new folder `<image name>-files` on the place
//! chosen with the log's picker (`save_log.rs`); files already there are never overwritten.
//! Must not: read the repository on the UI thread, write anywhere but that folder.

use super::app::{App, Msg, Screen};
use super::home::trunc;
use super::image::ImageDetails;
use super::repo::ImageList;
use super::running::bar;
use super::save_log::{self, place_key, place_lines, LogPlace, PlaceKey};
use super::{strings as s, theme};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use wraith_engine::events::Cancel;
use wraith_engine::fs::reader::{self, Entry, EntryKind};
use wraith_engine::human_bytes as hb;
use wraith_engine::ops::extract::{self, ExtractEvent, Item, Options, PartitionFiles, Tally};
use wraith_engine::repo::image_disk::ImageDisk;
use wraith_engine::repo::{ImageRef, Repository};

/// What the screen asks its worker.
pub(super) enum Cmd {
    Parts { seq: u64 },
    List { seq: u64, number: u32, path: String },
    Copy(CopyCmd),
}

/// A copy for the worker: which entries of which partition, to which place and folder.
pub(super) struct CopyCmd {
    seq: u64,
    number: u32,
    entries: Vec<Entry>,
    place: LogPlace,
    folder: String,
    cancel: Cancel,
}

/// The worker's answers.
#[derive(Debug)]
pub enum Reply {
    Parts {
        seq: u64,
        result: Result<Vec<PartitionFiles>, String>,
    },
    Listed {
        seq: u64,
        result: Result<Vec<Entry>, String>,
    },
    /// The copy's folder is ready: where it is, and whether it was there before.
    CopyStarted {
        seq: u64,
        dest: PathBuf,
        existed: bool,
    },
    CopyEvent {
        seq: u64,
        event: ExtractEvent,
    },
    CopyDone {
        seq: u64,
        result: Result<Tally, String>,
    },
}

/// A marked file or folder: what the footer counts.
#[derive(Clone, Debug)]
pub struct Marked {
    pub dir: bool,
    pub size: u64,
    /// As listed: copied as it is, not looked up again by a name that may not be UTF-8.
    pub entry: Entry,
}

/// One directory as listed: dirs first, then files, each by name.
#[derive(Clone, Debug)]
pub struct DirView {
    pub number: u32,
    /// "/" or "/a/b".
    pub path: String,
    pub entries: Vec<Entry>,
    pub sel: usize,
}

impl DirView {
    fn full(&self, e: &Entry) -> String {
        format!("{}/{}", self.path.trim_end_matches('/'), e.name_lossy())
    }
}

/// The copy on the worker.
#[derive(Clone, Debug, Default)]
pub struct Copying {
    pub place: String,
    pub dest: Option<PathBuf>,
    pub existed: bool,
    pub total: Option<(u64, u64)>,
    pub bytes: u64,
    pub files: u64,
    pub current: String,
    pub warnings: Vec<String>,
    pub cancelling: bool,
    /// How it ended: the tally, or why it stopped.
    pub done: Option<Result<Tally, String>>,
}

/// Which part of Browse is in front.
#[derive(Clone, Debug)]
pub enum View {
    Parts,
    Dir,
    Dest { places: Vec<LogPlace>, sel: usize },
    Copy(Box<Copying>),
}

pub struct Browse {
    pub image: ImageRef,
    /// The details and list to go back to.
    pub back: Option<(Box<ImageDetails>, ImageList)>,
    pub view: View,
    /// The request in flight and what it reads; None: nothing is being read.
    pub reading: Option<(u64, String)>,
    pub parts: Option<Result<Vec<PartitionFiles>, String>>,
    pub part_sel: usize,
    pub dir: Option<DirView>,
    /// Marked entries of the current partition, by path.
    pub marked: BTreeMap<String, Marked>,
    /// The directory to put the cursor on when a listing arrives (going up).
    pub select_after: Option<String>,
    /// Why the last directory asked for could not be listed (until the next key).
    pub error: Option<String>,
    pub(super) seq: u64,
    pub(super) cancel: Option<Cancel>,
    pub(super) worker: Option<Sender<Cmd>>,
}

/// What a key on Browse asks of the app.
#[derive(Debug, PartialEq)]
pub enum BrowseKey {
    None,
    Back,
    /// Choose where the marked entries go.
    Destination,
}

/// Lists directory `path` of partition `number`: dirs first, then the rest, by name.
fn list(disk: &ImageDisk, number: u32, path: &str) -> Result<Vec<Entry>, String> {
    let (start, len) = extract::partition_range(disk.manifest(), number)
        .ok_or_else(|| format!("no partition {number}"))?;
    let part = wraith_engine::device::Slice {
        dev: disk,
        offset: start,
        len,
    };
    let fs = reader::open(&part).map_err(|e| e.to_string())?;
    let dir = reader::lookup(fs.as_ref(), path).map_err(|e| e.to_string())?;
    let mut v = fs.list(&dir).map_err(|e| format!("{path}: {e}"))?;
    v.sort_by_key(|e| (e.kind != EntryKind::Dir, e.name_lossy().to_lowercase()));
    Ok(v)
}

/// Mounts the place if needed, makes `<folder>` there and copies the entries into it.
fn copy(disk: &ImageDisk, c: &CopyCmd, tell: &dyn Fn(Reply)) -> Result<Tally, String> {
    let CopyCmd {
        seq,
        number,
        ref entries,
        ref place,
        ref folder,
        ref cancel,
    } = *c;
    let (start, len) = extract::partition_range(disk.manifest(), number)
        .ok_or_else(|| format!("no partition {number}"))?;
    let part = wraith_engine::device::Slice {
        dev: disk,
        offset: start,
        len,
    };
    let fs = reader::open(&part).map_err(|e| e.to_string())?;
    let (root, mounted) = save_log::mount_place(place, "wraith-files")?;
    let dest = root.join(folder);
    let existed = match std::fs::symlink_metadata(&dest) {
        Ok(m) if m.is_dir() => true,
        Ok(_) => return Err(format!("{}: {}", dest.display(), s::BROWSE_NOT_A_FOLDER)),
        Err(_) => {
            std::fs::create_dir(&dest).map_err(|e| format!("{}: {e}", dest.display()))?;
            false
        }
    };
    tell(Reply::CopyStarted {
        seq,
        dest: dest.clone(),
        existed,
    });
    let mut items = Vec::new();
    let mut refused = Vec::new();
    for e in entries {
        if let Some(why) = extract::unsafe_name(&e.name) {
            refused.push(format!("{:?}: {why}", e.name_lossy()));
            continue;
        }
        use std::os::unix::ffi::OsStrExt;
        items.push(Item {
            to: dest.join(std::ffi::OsStr::from_bytes(&e.name)),
            entry: e.clone(),
            contents_into: false,
        });
    }
    for message in &refused {
        tell(Reply::CopyEvent {
            seq,
            event: ExtractEvent::Failed {
                message: message.clone(),
            },
        });
    }
    let opts = Options {
        force: false,
        merge: true,
        count_first: true,
        // A stick's FAT has no owners; the files are the technician's to take away.
        owners: false,
    };
    let on = |event: ExtractEvent| tell(Reply::CopyEvent { seq, event });
    let r = extract::extract(fs.as_ref(), &items, &opts, &on, cancel);
    // On the disk before the summary says so: the stick may be pulled right after.
    nix::unistd::sync();
    drop(mounted);
    let mut t = r.map_err(|e| e.to_string())?;
    t.failed.extend(refused);
    Ok(t)
}

/// The worker: opens the image once, then answers requests until the screen is left.
fn worker(repo: Arc<Repository>, image: ImageRef, rx: Receiver<Cmd>, tx: Sender<Msg>) {
    let disk = ImageDisk::open(repo, &image).map_err(|e| e.to_string());
    let send = |r: Reply| {
        let _ = tx.send(Msg::Browse(Box::new(r)));
    };
    for cmd in rx {
        match cmd {
            Cmd::Parts { seq } => {
                let result = disk
                    .as_ref()
                    .map(extract::image_partitions)
                    .map_err(Clone::clone);
                send(Reply::Parts { seq, result });
            }
            Cmd::List { seq, number, path } => {
                let result = match &disk {
                    Ok(d) => list(d, number, &path),
                    Err(e) => Err(e.clone()),
                };
                send(Reply::Listed { seq, result });
            }
            Cmd::Copy(c) => {
                let seq = c.seq;
                let result = match &disk {
                    Ok(d) => copy(d, &c, &send),
                    Err(e) => Err(e.clone()),
                };
                send(Reply::CopyDone { seq, result });
            }
        }
    }
}

/// The folder the files go to: the image's name, made safe as one name.
pub fn folder_name(image: &ImageRef) -> String {
    let n: String = image
        .name
        .chars()
        .map(|c| if c == '/' || c == '\0' { '_' } else { c })
        .collect();
    format!("{n}-files")
}

impl Browse {
    fn send(&mut self, make: impl FnOnce(u64) -> Cmd, what: String) {
        self.seq += 1;
        let seq = self.seq;
        self.reading = Some((seq, what));
        if let Some(w) = &self.worker {
            let _ = w.send(make(seq));
        }
    }

    fn open_dir(&mut self, number: u32, path: String) {
        let shown = path.clone();
        self.send(move |seq| Cmd::List { seq, number, path }, shown);
    }

    fn readable_part(&self) -> Option<&PartitionFiles> {
        match &self.parts {
            Some(Ok(p)) => p.get(self.part_sel).filter(|p| p.readable.is_ok()),
            _ => None,
        }
    }

    /// The marked entries, or the highlighted one when none is marked.
    pub fn chosen(&self) -> Vec<Entry> {
        if !self.marked.is_empty() {
            return self.marked.values().map(|m| m.entry.clone()).collect();
        }
        self.dir
            .as_ref()
            .and_then(|d| d.entries.get(d.sel).cloned())
            .into_iter()
            .collect()
    }

    pub fn key(&mut self, k: &KeyEvent) -> BrowseKey {
        self.error = None;
        if self.reading.is_some() {
            // Stop waiting; the late answer is dropped.
            if k.code == KeyCode::Esc {
                self.reading = None;
            }
            return BrowseKey::None;
        }
        match &mut self.view {
            View::Parts => {
                let n = match &self.parts {
                    Some(Ok(p)) => p.len(),
                    _ => 0,
                };
                match k.code {
                    KeyCode::Up | KeyCode::Char('k') => {
                        self.part_sel = self.part_sel.saturating_sub(1)
                    }
                    KeyCode::Down | KeyCode::Char('j') if self.part_sel + 1 < n => {
                        self.part_sel += 1
                    }
                    KeyCode::Enter | KeyCode::Right => {
                        if let Some(number) = self.readable_part().map(|p| p.number) {
                            if self.dir.as_ref().is_none_or(|d| d.number != number) {
                                self.marked.clear();
                            }
                            self.open_dir(number, "/".into());
                        }
                    }
                    KeyCode::Esc => return BrowseKey::Back,
                    _ => {}
                }
            }
            View::Dir => return self.dir_key(k),
            View::Dest { places, sel } => match place_key(places, sel, k) {
                PlaceKey::None => {}
                PlaceKey::Back => self.view = View::Dir,
                PlaceKey::Chosen(place) => self.start_copy(place),
            },
            View::Copy(c) => {
                if c.done.is_some() {
                    if matches!(k.code, KeyCode::Enter | KeyCode::Esc) {
                        self.marked.clear();
                        self.view = View::Dir;
                    }
                } else if k.code == KeyCode::Esc {
                    c.cancelling = true;
                    if let Some(cancel) = &self.cancel {
                        cancel.cancel();
                    }
                }
            }
        }
        BrowseKey::None
    }

    fn dir_key(&mut self, k: &KeyEvent) -> BrowseKey {
        let Some(d) = &mut self.dir else {
            self.view = View::Parts;
            return BrowseKey::None;
        };
        let n = d.entries.len();
        match k.code {
            KeyCode::Up | KeyCode::Char('k') => d.sel = d.sel.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => d.sel = (d.sel + 1).min(n.saturating_sub(1)),
            KeyCode::PageUp => d.sel = d.sel.saturating_sub(10),
            KeyCode::PageDown => d.sel = (d.sel + 10).min(n.saturating_sub(1)),
            KeyCode::Home => d.sel = 0,
            KeyCode::End => d.sel = n.saturating_sub(1),
            KeyCode::Char(' ') => {
                if let Some(e) = d.entries.get(d.sel) {
                    let path = d.full(e);
                    if self.marked.remove(&path).is_none() {
                        self.marked.insert(
                            path,
                            Marked {
                                dir: e.kind == EntryKind::Dir,
                                size: e.size,
                                entry: e.clone(),
                            },
                        );
                    }
                    d.sel = (d.sel + 1).min(n.saturating_sub(1));
                }
            }
            KeyCode::Enter | KeyCode::Right => {
                if let Some(e) = d.entries.get(d.sel).filter(|e| e.kind == EntryKind::Dir) {
                    let (number, path) = (d.number, d.full(e));
                    self.open_dir(number, path);
                }
            }
            KeyCode::Backspace | KeyCode::Left | KeyCode::Esc => {
                if d.path == "/" {
                    self.view = View::Parts;
                } else {
                    let (parent, name) = d.path.rsplit_once('/').unwrap_or(("", ""));
                    let parent = if parent.is_empty() { "/" } else { parent }.to_string();
                    let name = name.to_string();
                    let number = d.number;
                    self.select_after = Some(name);
                    self.open_dir(number, parent);
                }
            }
            KeyCode::Char('c') if !self.chosen().is_empty() => return BrowseKey::Destination,
            _ => {}
        }
        BrowseKey::None
    }

    fn start_copy(&mut self, place: LogPlace) {
        let Some(number) = self.dir.as_ref().map(|d| d.number) else {
            return;
        };
        let entries = self.chosen();
        let cancel = Cancel::new();
        self.cancel = Some(cancel.clone());
        self.view = View::Copy(Box::new(Copying {
            place: place.describe(),
            ..Copying::default()
        }));
        let folder = folder_name(&self.image);
        self.seq += 1;
        let seq = self.seq;
        if let Some(w) = &self.worker {
            let _ = w.send(Cmd::Copy(CopyCmd {
                seq,
                number,
                entries,
                place,
                folder,
                cancel,
            }));
        }
    }

    /// A worker's answer: applied if it is the one waited for.
    pub fn reply(&mut self, r: Reply) {
        let waited = |seq: u64, reading: &Option<(u64, String)>| {
            reading.as_ref().is_some_and(|(s, _)| *s == seq)
        };
        match r {
            Reply::Parts { seq, result } if waited(seq, &self.reading) => {
                self.reading = None;
                if let Ok(p) = &result {
                    // The first partition that can be read.
                    self.part_sel = p.iter().position(|p| p.readable.is_ok()).unwrap_or(0);
                }
                self.parts = Some(result);
            }
            Reply::Listed { seq, result } if waited(seq, &self.reading) => {
                let Some((_, path)) = self.reading.take() else {
                    return;
                };
                let number = match (&self.view, &self.dir) {
                    (View::Parts, _) | (_, None) => self.readable_part().map_or(0, |p| p.number),
                    (_, Some(d)) => d.number,
                };
                match result {
                    Ok(entries) => {
                        let back_to = self.select_after.take();
                        let sel = back_to
                            .and_then(|n| entries.iter().position(|e| e.name_lossy() == n))
                            .unwrap_or(0);
                        self.dir = Some(DirView {
                            number,
                            path,
                            entries,
                            sel,
                        });
                        self.view = View::Dir;
                    }
                    Err(e) => {
                        self.select_after = None;
                        match (&self.view, &mut self.parts) {
                            (View::Parts, Some(Ok(parts))) => {
                                if let Some(p) = parts.get_mut(self.part_sel) {
                                    p.readable = Err(e);
                                }
                            }
                            _ => self.error = Some(format!("{path}: {e}")),
                        }
                    }
                }
            }
            Reply::CopyStarted { seq, dest, existed } if seq == self.seq => {
                if let View::Copy(c) = &mut self.view {
                    c.dest = Some(dest);
                    c.existed = existed;
                }
            }
            Reply::CopyEvent { seq, event } if seq == self.seq => {
                let View::Copy(c) = &mut self.view else {
                    return;
                };
                match event {
                    ExtractEvent::Total { files, bytes } => c.total = Some((files, bytes)),
                    ExtractEvent::Progress { bytes, files, path } => {
                        c.bytes = bytes;
                        c.files = files;
                        let rel = c
                            .dest
                            .as_ref()
                            .and_then(|d| path.strip_prefix(d).ok())
                            .unwrap_or(&path);
                        c.current = rel.display().to_string();
                    }
                    ExtractEvent::Warning { message } | ExtractEvent::Failed { message } => {
                        // Paths inside the folder are shown from it: the folder is said above.
                        let message = match &c.dest {
                            Some(d) => message.replace(&format!("{}/", d.display()), ""),
                            None => message,
                        };
                        c.warnings.push(message)
                    }
                }
            }
            Reply::CopyDone { seq, result } if seq == self.seq => {
                if let View::Copy(c) = &mut self.view {
                    if let Ok(t) = &result {
                        c.bytes = t.bytes;
                        c.files = t.files;
                    }
                    c.done = Some(result);
                }
                self.cancel = None;
            }
            _ => {}
        }
    }
}

impl App {
    /// `b` on the image details: Browse its files, on a worker of its own.
    pub(super) fn browse(&mut self) {
        let Some(repo) = self.flow.repo.as_ref().and_then(|r| r.open.clone()) else {
            return;
        };
        let Screen::ImageInfo(details, list) = std::mem::replace(&mut self.screen, Screen::Home)
        else {
            return;
        };
        let image = details.image.clone();
        let (wtx, wrx) = std::sync::mpsc::channel();
        let tx = self.tx.clone();
        let img = image.clone();
        std::thread::spawn(move || worker(repo, img, wrx, tx));
        let mut b = Browse {
            image,
            back: Some((details, list)),
            view: View::Parts,
            reading: None,
            parts: None,
            part_sel: 0,
            dir: None,
            marked: BTreeMap::new(),
            select_after: None,
            error: None,
            seq: 0,
            cancel: None,
            worker: Some(wtx),
        };
        b.send(|seq| Cmd::Parts { seq }, s::BROWSE_PARTS.into());
        self.screen = Screen::Browse(Box::new(b));
    }

    pub(super) fn browse_key(&mut self, k: &KeyEvent) {
        let Screen::Browse(b) = &mut self.screen else {
            return;
        };
        match b.key(k) {
            BrowseKey::None => {}
            BrowseKey::Destination => {
                let places = self.log_places(&[]);
                if let Screen::Browse(b) = &mut self.screen {
                    b.view = View::Dest { places, sel: 0 };
                }
            }
            BrowseKey::Back => {
                // Dropping the screen drops the worker's requests: it ends after the one it is on.
                if let Screen::Browse(b) = std::mem::replace(&mut self.screen, Screen::Home) {
                    if let Some((d, l)) = b.back {
                        self.screen = Screen::ImageInfo(d, l);
                    }
                }
            }
        }
    }

    /// A disk came or went while the destinations show: listed again, the cursor kept.
    pub(super) fn refresh_browse_places(&mut self) {
        let Screen::Browse(b) = &self.screen else {
            return;
        };
        let View::Dest { places, sel } = &b.view else {
            return;
        };
        let kept = places.get(*sel).map(|p| p.device.clone());
        let places = self.log_places(&[]);
        let sel = kept
            .and_then(|k| places.iter().position(|p| p.device == k))
            .unwrap_or(0);
        if let Screen::Browse(b) = &mut self.screen {
            b.view = View::Dest { places, sel };
        }
    }
}

fn time_text(e: &Entry) -> String {
    match e.mtime {
        Some(t) if t.secs >= 0 => {
            let s = wraith_engine::repo::timestamp_text(t.secs as u64);
            s.get(..16).unwrap_or(&s).to_string()
        }
        _ => "-".into(),
    }
}

/// The footer: how much is marked, or what `c` takes when nothing is.
pub fn marked_text(b: &Browse) -> String {
    if b.marked.is_empty() {
        return s::BROWSE_NONE_MARKED.into();
    }
    let files = b.marked.values().filter(|m| !m.dir).count();
    let dirs = b.marked.len() - files;
    let bytes: u64 = b.marked.values().filter(|m| !m.dir).map(|m| m.size).sum();
    let mut t = format!(
        "{} {}: {} ({})",
        b.marked.len(),
        s::BROWSE_MARKED,
        count(files as u64, s::BROWSE_FILE, s::BROWSE_FILES),
        hb(bytes)
    );
    if dirs > 0 {
        t.push_str(&format!(
            ", {}",
            count(dirs as u64, s::BROWSE_FOLDER, s::BROWSE_FOLDERS)
        ));
    }
    t
}

/// "1 file", "3 files".
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The keys line for what is in front.
pub fn keys(b: &Browse) -> &'static str {
    if b.reading.is_some() {
        return s::BROWSE_READING_KEYS;
    }
    match &b.view {
        View::Parts => s::BROWSE_PARTS_KEYS,
        View::Dir => s::BROWSE_DIR_KEYS,
        View::Dest { .. } => s::BROWSE_DEST_KEYS,
        View::Copy(c) if c.done.is_some() => s::BROWSE_DONE_KEYS,
        View::Copy(_) => s::BROWSE_COPY_KEYS,
    }
}

/// The `?` help for what is in front.
pub fn help(b: &Browse) -> s::KeyHelp {
    match &b.view {
        _ if b.reading.is_some() => s::HELP_BROWSE_READING,
        View::Parts => s::HELP_BROWSE_PARTS,
        View::Dir => s::HELP_BROWSE_DIR,
        View::Dest { .. } => s::HELP_BROWSE_DEST,
        View::Copy(_) => s::HELP_BROWSE_COPY,
    }
}

fn parts_lines(b: &Browse) -> Vec<Line<'static>> {
    let mut lines = vec![
        Line::styled(
            format!("{} {}", s::BROWSE_PARTS_OF, b.image),
            theme::title_style(),
        ),
        Line::raw(""),
    ];
    match &b.parts {
        None => {}
        Some(Err(e)) => lines.push(Line::styled(e.clone(), theme::danger())),
        Some(Ok(parts)) if parts.is_empty() => {
            lines.push(Line::styled(s::BROWSE_NO_PARTS, theme::warn()))
        }
        Some(Ok(parts)) => {
            for (i, p) in parts.iter().enumerate() {
                let style = match (i == b.part_sel, p.readable.is_ok()) {
                    (true, _) => theme::selected(),
                    (false, true) => theme::normal(),
                    (false, false) => theme::disabled(),
                };
                let number = if p.number == 0 {
                    s::BROWSE_WHOLE.to_string()
                } else {
                    format!("{} {}", s::BROWSE_PARTITION, p.number)
                };
                lines.push(Line::styled(
                    format!(
                        " {:<13} {:<6} {:<16} {:>10}",
                        number,
                        p.fs.as_deref().unwrap_or("-"),
                        trunc(p.label.as_deref().unwrap_or("-"), 16),
                        hb(p.size)
                    ),
                    style,
                ));
                if let Err(why) = &p.readable {
                    lines.push(Line::styled(
                        format!("     {}: {why}", s::BROWSE_CANNOT_READ),
                        theme::warn(),
                    ));
                }
            }
        }
    }
    lines
}

fn dir_lines(b: &Browse, d: &DirView, height: usize) -> Vec<Line<'static>> {
    let part = if d.number == 0 {
        s::BROWSE_WHOLE.to_string()
    } else {
        format!("{} {}", s::BROWSE_PARTITION, d.number)
    };
    let mut lines = vec![Line::styled(
        format!("{part}   {}", d.path),
        theme::title_style(),
    )];
    if d.entries.is_empty() {
        lines.push(Line::styled(s::BROWSE_EMPTY, theme::disabled()));
    }
    // The header, a note and the footer take three of the rows.
    let rows = height.saturating_sub(3).max(1);
    let first = (d.sel + 1).saturating_sub(rows);
    for (i, e) in d.entries.iter().enumerate().skip(first).take(rows) {
        let mark = if b.marked.contains_key(&d.full(e)) {
            "[x]"
        } else {
            "[ ]"
        };
        let mut name = e.name_lossy().escape_debug().to_string();
        let size = match e.kind {
            EntryKind::Dir => {
                name.push('/');
                String::new()
            }
            EntryKind::Symlink => {
                name.push_str(" ->");
                String::new()
            }
            _ => hb(e.size),
        };
        let style = if i == d.sel {
            theme::selected()
        } else if e.kind == EntryKind::Other || e.unsupported.is_some() {
            theme::disabled()
        } else {
            theme::normal()
        };
        lines.push(Line::styled(
            format!(
                "{mark} {:<43} {:>10}  {:<16}",
                trunc(&name, 43),
                size,
                time_text(e)
            ),
            style,
        ));
    }
    lines
}

fn copy_lines(c: &Copying) -> Vec<Line<'static>> {
    let dest = c
        .dest
        .as_ref()
        .map_or(String::new(), |d| d.display().to_string());
    let mut lines = vec![
        Line::styled(
            format!("{} {}", s::BROWSE_COPY_TO, c.place),
            theme::title_style(),
        ),
        Line::styled(format!("  {dest}"), theme::normal()),
    ];
    if c.existed {
        lines.push(Line::styled(s::BROWSE_EXISTED, theme::warn()));
    }
    lines.push(Line::raw(""));
    let (tfiles, tbytes) = c.total.unwrap_or((0, 0));
    match &c.done {
        None => {
            lines.push(Line::styled(
                format!(
                    "{} {} {} {}",
                    bar(c.bytes, tbytes, 40),
                    hb(c.bytes),
                    s::OF,
                    hb(tbytes)
                ),
                theme::normal(),
            ));
            lines.push(Line::styled(
                format!("{} {} {} {tfiles}", s::BROWSE_FILES_DONE, c.files, s::OF),
                theme::normal(),
            ));
            lines.push(Line::styled(
                format!("{} {}", s::BROWSE_NOW, c.current),
                theme::normal(),
            ));
            if c.cancelling {
                lines.push(Line::styled(s::CANCELLING, theme::warn()));
            }
        }
        Some(Ok(t)) => {
            let style = if t.warnings.is_empty() && t.failed.is_empty() {
                theme::ok()
            } else {
                theme::warn()
            };
            let mut what = format!(
                "{} {}, {}",
                s::BROWSE_COPIED,
                count(t.files, s::BROWSE_FILE, s::BROWSE_FILES),
                count(t.dirs, s::BROWSE_FOLDER, s::BROWSE_FOLDERS)
            );
            if t.links > 0 {
                what.push_str(&format!(
                    ", {}",
                    count(t.links, s::BROWSE_LINK, s::BROWSE_LINKS)
                ));
            }
            lines.push(Line::styled(format!("{what} ({})", hb(t.bytes)), style));
        }
        Some(Err(e)) => {
            lines.push(Line::styled(
                format!("{} {e}", s::BROWSE_COPY_FAILED),
                theme::danger(),
            ));
            lines.push(Line::styled(
                format!(
                    "{} {} {}, {}",
                    s::BROWSE_BEFORE_STOP,
                    c.files,
                    s::BROWSE_FILES,
                    hb(c.bytes)
                ),
                theme::normal(),
            ));
        }
    }
    if !c.warnings.is_empty() {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            format!("{} {}:", c.warnings.len(), s::BROWSE_SKIPPED),
            theme::warn(),
        ));
        for w in &c.warnings {
            lines.push(Line::styled(format!("  {w}"), theme::normal()));
        }
    }
    lines
}

pub fn render(f: &mut Frame, area: Rect, b: &Browse) {
    let height = area.height.saturating_sub(2) as usize;
    let (title, mut lines) = match &b.view {
        View::Parts => (s::BROWSE_TITLE, parts_lines(b)),
        View::Dir => match &b.dir {
            Some(d) => (s::BROWSE_TITLE, dir_lines(b, d, height)),
            None => (s::BROWSE_TITLE, Vec::new()),
        },
        View::Dest { places, sel } => {
            let mut l = vec![
                Line::styled(marked_text(b), theme::title_style()),
                Line::styled(
                    format!(
                        "{} {}/ {}",
                        s::BROWSE_INTO,
                        folder_name(&b.image),
                        s::LOG_COPY_ON
                    ),
                    theme::title_style(),
                ),
                Line::raw(""),
            ];
            l.extend(place_lines(places, *sel));
            (s::BROWSE_DEST_TITLE, l)
        }
        View::Copy(c) => (s::BROWSE_COPY_TITLE, copy_lines(c)),
    };
    let mut tail = Vec::new();
    if let Some(e) = &b.error {
        tail.push(Line::styled(e.clone(), theme::danger()));
    }
    if let Some((_, what)) = &b.reading {
        tail.push(Line::styled(
            format!("{} {what}...", s::BROWSE_READING),
            theme::warn(),
        ));
    }
    if matches!(b.view, View::Dir) {
        // The notes and the footer stay on the last rows, under however many entries show.
        let room = height.saturating_sub(1 + tail.len());
        lines.truncate(room);
        while lines.len() < room {
            lines.push(Line::raw(""));
        }
        lines.extend(tail);
        lines.push(Line::styled(marked_text(b), theme::title_style()));
    } else if !tail.is_empty() {
        lines.push(Line::raw(""));
        lines.extend(tail);
    }
    f.render_widget(
        Paragraph::new(lines)
            .block(theme::block(title))
            .wrap(Wrap { trim: false }),
        area,
    );
}

//! Saving a job's log where it outlasts the live system: the log is written to /tmp, which is
//! in memory and gone at power-off. After a job the technician may copy it to a USB stick or
//! another disk: the writable filesystems found are listed (removable and USB first, never a
//! disk the job read or wrote), one is picked, mounted read-write if it is not mounted yet,
//! and the log is copied to `wraith-logs/<its name>` there; a filesystem mounted for the copy
//! is unmounted after it. The list of places, its keys and the mounting are shared with
//! Browse, which copies an image's files to a place chosen the same way.
//!
//! The list and the copy are plain functions over a disk list, a mount table and a directory,
//! so they are tested without a real disk; only [`save`] mounts.

use super::app::{App, Msg, Screen};
use super::home::trunc;
use super::summary::Summary;
use super::{strings as s, theme};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use wraith_engine::disks::DiskInfo;
use wraith_engine::human_bytes as hb;

/// The directory the log goes to on the chosen filesystem.
pub const LOG_DIR: &str = "wraith-logs";

/// Filesystem types (as udev names them) `mount::mount_device` can mount read-write. One
/// already mounted read-write is a place whatever its type.
const MOUNTABLE: [&str; 5] = ["vfat", "ext2", "ext3", "ext4", "ntfs"];

/// A filesystem the log can be copied to.
#[derive(Clone, Debug, PartialEq)]
pub struct LogPlace {
    /// The partition (or a whole disk holding a filesystem): /dev/sdd1.
    pub device: String,
    pub fs: String,
    pub label: Option<String>,
    pub size: u64,
    /// The disk it is on, as a technician recognises it: model and serial.
    pub disk: String,
    /// On a removable or USB disk: what "save it to a stick" means.
    pub removable: bool,
    /// Where it is mounted read-write now; None: mounted for the copy only.
    pub mounted: Option<PathBuf>,
}

impl LogPlace {
    /// "/dev/sdd1 (BACKUP, Kingston DataTraveler E0D55EA5)": the disk in a result line.
    pub fn describe(&self) -> String {
        match &self.label {
            Some(l) => format!("{} ({l}, {})", self.device, self.disk),
            None => format!("{} ({})", self.device, self.disk),
        }
    }
}

/// One mount of a device, from mountinfo.
#[derive(Clone, Debug, PartialEq)]
pub struct MountAt {
    pub point: PathBuf,
    pub writable: bool,
}

/// Mounts by source device, from the text of /proc/self/mountinfo. A device mounted several
/// times is known by a read-write mount when it has one.
pub fn mounts_from(mountinfo: &str) -> HashMap<String, MountAt> {
    let mut out: HashMap<String, MountAt> = HashMap::new();
    for line in mountinfo.lines() {
        // id parent major:minor root point options [optional...] - fstype source super-options
        let f: Vec<&str> = line.split(' ').collect();
        let Some(dash) = f.iter().position(|w| *w == "-") else {
            continue;
        };
        let (Some(point), Some(opts), Some(source), Some(sopts)) =
            (f.get(4), f.get(5), f.get(dash + 2), f.get(dash + 3))
        else {
            continue;
        };
        let rw = |o: &str| o.split(',').any(|o| o == "rw");
        let m = MountAt {
            point: PathBuf::from(unescape(point)),
            writable: rw(opts) && rw(sopts),
        };
        let source = unescape(source);
        match out.get(&source) {
            Some(known) if known.writable || !m.writable => {}
            _ => {
                out.insert(source, m);
            }
        }
    }
    out
}

/// mountinfo writes a space in a path as `\040` (and tab, newline, backslash likewise).
fn unescape(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The filesystems a log can be copied to: on disks other than `avoid` (the job's own) and
/// not read-only; mounted read-write, or of a type that can be mounted so. Removable and USB
/// disks first, each group in the order of `disks`.
pub fn places(
    disks: &[DiskInfo],
    avoid: &[String],
    mounts: &HashMap<String, MountAt>,
) -> Vec<LogPlace> {
    let mut out = Vec::new();
    for d in disks {
        if d.read_only || avoid.contains(&d.path) {
            continue;
        }
        let volumes: Vec<(&str, Option<&str>, Option<&str>, u64)> = if d.partitions.is_empty() {
            vec![(&d.path, d.fs.as_deref(), d.label.as_deref(), d.size)]
        } else {
            d.partitions
                .iter()
                .map(|p| (p.path.as_str(), p.fs.as_deref(), p.label.as_deref(), p.size))
                .collect()
        };
        for (device, fs, label, size) in volumes {
            let Some(fs) = fs else {
                continue;
            };
            let mounted = match mounts.get(device) {
                Some(m) if m.writable => Some(m.point.clone()),
                // Mounted read-only (the boot CD, a job file's stick): not writable now.
                Some(_) => continue,
                None if MOUNTABLE.contains(&fs) => None,
                None => continue,
            };
            out.push(LogPlace {
                device: device.to_string(),
                fs: fs.to_string(),
                label: label.map(String::from),
                size,
                disk: format!(
                    "{} {}",
                    d.model.as_deref().unwrap_or(s::UNKNOWN_MODEL),
                    d.serial.as_deref().unwrap_or("")
                )
                .trim_end()
                .to_string(),
                removable: d.removable || d.transport.eq_ignore_ascii_case("usb"),
                mounted,
            });
        }
    }
    // Stable: the disks' order within each group.
    out.sort_by_key(|p| !p.removable);
    out
}

/// Copies `log` into `root/wraith-logs/`, on the disk before it returns (a stick may be
/// pulled right after the success line); returns the copy's path under `root`.
pub fn copy_log(log: &Path, root: &Path) -> std::io::Result<PathBuf> {
    let name = log
        .file_name()
        .ok_or_else(|| std::io::Error::other(format!("{}: not a file", log.display())))?;
    let rel = Path::new(LOG_DIR).join(name);
    let dir = root.join(LOG_DIR);
    std::fs::create_dir_all(&dir)?;
    let text = std::fs::read(log)?;
    let mut f = std::fs::File::create(root.join(&rel))?;
    f.write_all(&text)?;
    f.sync_all()?;
    Ok(rel)
}

/// Where `place` is mounted: its mount point, or a read-write mount made now under the name
/// `tag` (unmounted, after a sync, when the returned guard is dropped). The error names the
/// device.
pub fn mount_place(
    place: &LogPlace,
    tag: &str,
) -> Result<(PathBuf, Option<wraith_engine::mount::Mounted>), String> {
    match &place.mounted {
        Some(point) => Ok((point.clone(), None)),
        None => {
            let name = format!("{tag}-{}", trunc(&place.device.replace('/', "_"), 40));
            wraith_engine::mount::mount_device(Path::new(&place.device), &name)
                .map_err(|e| format!("{}: {e}", place.device))
        }
    }
}

/// Copies `log` to `place`, mounting it first when it is not mounted (and unmounting it
/// after). The line for the summary: where the copy is, or why there is none.
pub fn save(place: &LogPlace, log: &Path) -> Result<String, String> {
    let failed = |e: &dyn std::fmt::Display| format!("{} {}: {e}", s::LOG_NOT_SAVED, place.device);
    let (root, mounted_here) =
        mount_place(place, "wraith-log").map_err(|e| format!("{} {e}", s::LOG_NOT_SAVED))?;
    let rel = copy_log(log, &root).map_err(|e| failed(&e))?;
    // Dropping the mount syncs and unmounts it: the stick can be pulled after this line.
    let unmounted = mounted_here.is_some();
    drop(mounted_here);
    let shown = if unmounted || place.mounted.is_none() {
        rel.display().to_string()
    } else {
        root.join(&rel).display().to_string()
    };
    Ok(format!(
        "{} {} {} {shown}",
        s::LOG_SAVED,
        place.describe(),
        s::LOG_SAVED_AS
    ))
}

/// What a key on a list of places asks for.
#[derive(Debug, PartialEq)]
pub enum PlaceKey {
    None,
    Back,
    Chosen(LogPlace),
}

/// The keys of a list of places (the log's, Browse's destination): moves `sel`, or chooses.
pub fn place_key(places: &[LogPlace], sel: &mut usize, k: &KeyEvent) -> PlaceKey {
    match k.code {
        KeyCode::Up | KeyCode::Char('k') => *sel = sel.saturating_sub(1),
        KeyCode::Down | KeyCode::Char('j') if *sel + 1 < places.len() => *sel += 1,
        KeyCode::Esc => return PlaceKey::Back,
        KeyCode::Enter => {
            if let Some(p) = places.get(*sel) {
                return PlaceKey::Chosen(p.clone());
            }
        }
        _ => {}
    }
    PlaceKey::None
}

/// A list of places as drawn: two lines each (the filesystem, then where it is mounted), or
/// the line saying there is none.
pub fn place_lines(places: &[LogPlace], sel: usize) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if places.is_empty() {
        lines.push(Line::styled(s::LOG_NO_PLACE, theme::warn()));
    }
    for (n, pl) in places.iter().enumerate() {
        let style = if n == sel {
            theme::selected()
        } else {
            theme::normal()
        };
        lines.push(Line::styled(
            format!(
                "{:<13} {:>9} {:<5} {:<12} {:<3} {}",
                pl.device,
                hb(pl.size),
                trunc(&pl.fs, 5),
                trunc(pl.label.as_deref().unwrap_or("-"), 12),
                if pl.removable { "USB" } else { "" },
                pl.disk
            ),
            style,
        ));
        lines.push(Line::styled(
            match &pl.mounted {
                Some(point) => format!("    {} {}", s::LOG_MOUNTED_AT, point.display()),
                None => format!("    {}", s::LOG_MOUNTED_FOR_COPY),
            },
            theme::title_style(),
        ));
    }
    lines
}

/// Choosing where to copy the log: the summary to go back to, and the places found.
#[derive(Clone, Debug)]
pub struct LogPick {
    pub summary: Summary,
    pub places: Vec<LogPlace>,
    pub sel: usize,
    /// The device a worker is copying to now.
    pub saving: Option<String>,
}

/// What a key on the log's place list asks for.
#[derive(Debug, PartialEq)]
pub enum LogPickKey {
    None,
    Back,
    Save(LogPlace),
}

impl LogPick {
    pub fn key(&mut self, k: &KeyEvent) -> LogPickKey {
        if self.saving.is_some() {
            // A stuck mount must not hold the screen: back to the summary, where the
            // result still shows when it comes.
            return match k.code {
                KeyCode::Esc => LogPickKey::Back,
                _ => LogPickKey::None,
            };
        }
        match place_key(&self.places, &mut self.sel, k) {
            PlaceKey::None => LogPickKey::None,
            PlaceKey::Back => LogPickKey::Back,
            PlaceKey::Chosen(p) => LogPickKey::Save(p),
        }
    }
}

impl App {
    /// The writable filesystems of the disks other than `avoid`, as the mount table has them
    /// now: where a log or Browse's files can be copied.
    pub(super) fn log_places(&self, avoid: &[String]) -> Vec<LogPlace> {
        let mountinfo = std::fs::read_to_string(&self.mountinfo).unwrap_or_default();
        places(&self.machine.disks, avoid, &mounts_from(&mountinfo))
    }

    /// `l` on the summary: the list of places for its log.
    pub(super) fn pick_log_place(&mut self) {
        let Screen::Summary(summary) = std::mem::replace(&mut self.screen, Screen::Home) else {
            return;
        };
        let places = self.log_places(&summary.disks);
        self.screen = Screen::SaveLog(Box::new(LogPick {
            summary,
            places,
            sel: 0,
            saving: None,
        }));
    }

    /// A stick plugged in while the list shows is listed; the cursor stays on its place.
    pub(super) fn refresh_log_places(&mut self) {
        let Screen::SaveLog(p) = &self.screen else {
            return;
        };
        if p.saving.is_some() {
            return;
        }
        let kept = p.places.get(p.sel).map(|pl| pl.device.clone());
        let places = self.log_places(&p.summary.disks);
        let sel = kept
            .and_then(|k| places.iter().position(|pl| pl.device == k))
            .unwrap_or(0);
        if let Screen::SaveLog(p) = &mut self.screen {
            p.places = places;
            p.sel = sel;
        }
    }

    /// Copies the summary's log to `place` on a worker: mounting may wait on a slow stick.
    pub(super) fn save_log(&mut self, place: LogPlace) {
        let Screen::SaveLog(p) = &mut self.screen else {
            return;
        };
        let Ok(log) = p.summary.log.clone() else {
            return;
        };
        p.saving = Some(place.device.clone());
        let tx = self.tx.clone();
        std::thread::spawn(move || {
            let result = save(&place, &log);
            let _ = tx.send(Msg::LogSaved { log, result });
        });
    }

    /// The copy of `log` is done: told on its summary, if that is still what shows.
    pub(super) fn log_saved(&mut self, log: PathBuf, result: Result<String, String>) {
        let ours = |sm: &Summary| sm.log.as_ref().is_ok_and(|l| *l == log);
        match &mut self.screen {
            Screen::SaveLog(p) if ours(&p.summary) => {
                if let Screen::SaveLog(p) = std::mem::replace(&mut self.screen, Screen::Home) {
                    let mut summary = p.summary;
                    summary.saved = Some(result);
                    self.screen = Screen::Summary(summary);
                }
            }
            Screen::Summary(sm) if ours(sm) => sm.saved = Some(result),
            _ => {}
        }
    }
}

pub fn render(f: &mut Frame, area: Rect, p: &LogPick) {
    let name = match &p.summary.log {
        Ok(l) => l
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    let mut lines = vec![
        Line::styled(
            format!(
                "{} {name} {} {LOG_DIR}/ {}",
                s::LOG_COPY,
                s::LOG_COPY_TO,
                s::LOG_COPY_ON
            ),
            theme::title_style(),
        ),
        Line::raw(""),
    ];
    lines.extend(place_lines(&p.places, p.sel));
    if let Some(device) = &p.saving {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            format!("{} {device}...", s::LOG_COPYING),
            theme::warn(),
        ));
    }
    f.render_widget(
        Paragraph::new(lines)
            .block(theme::block(s::LOG_SAVE_TITLE))
            .wrap(Wrap { trim: false }),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use wraith_engine::disks::PartInfo;

    fn disk(path: &str, model: &str, transport: &str, parts: &[(&str, &str, &str)]) -> DiskInfo {
        DiskInfo {
            path: path.into(),
            by_id: None,
            model: Some(model.into()),
            serial: Some("S1".into()),
            size: 64 << 30,
            transport: transport.into(),
            removable: false,
            rotational: false,
            read_only: false,
            partitions: parts
                .iter()
                .map(|(p, fs, label)| PartInfo {
                    path: (*p).into(),
                    size: 32 << 30,
                    fs: Some((*fs).into()).filter(|f: &String| !f.is_empty()),
                    label: Some((*label).into()).filter(|l: &String| !l.is_empty()),
                    uuid: None,
                })
                .collect(),
            fs: None,
            label: None,
            uuid: None,
            health: None,
        }
    }

    const MOUNTINFO: &str = "\
22 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw
30 22 8:33 / /run/wraith/mnt/cd ro,relatime - iso9660 /dev/sdc1 ro
31 22 8:49 / /media/tech/MY\\040STICK rw,nosuid shared:5 - vfat /dev/sdd1 rw,fmask=0022
32 22 8:49 / /mnt/ro-view ro,relatime - vfat /dev/sdd1 rw
33 22 8:65 / /media/x rw,relatime - exfat /dev/sde1 rw
";

    #[test]
    fn mountinfo_gives_each_source_its_writable_mount_point() {
        let m = mounts_from(MOUNTINFO);
        assert_eq!(
            m.get("/dev/sdd1"),
            Some(&MountAt {
                point: "/media/tech/MY STICK".into(),
                writable: true
            })
        );
        assert!(!m["/dev/sdc1"].writable);
        assert!(m["/dev/sda2"].writable);
        assert_eq!(m.len(), 4);
    }

    #[test]
    fn places_put_usb_first_and_leave_out_the_jobs_disks_and_what_cannot_be_written() {
        let mut ro = disk("/dev/sdf", "Locked", "sata", &[("/dev/sdf1", "ext4", "")]);
        ro.read_only = true;
        let mut cd = disk(
            "/dev/sdc",
            "Wraith stick",
            "usb",
            &[("/dev/sdc1", "iso9660", "")],
        );
        cd.removable = true;
        let mut whole = disk("/dev/sdg", "Cruzer", "usb", &[]);
        whole.fs = Some("vfat".into());
        whole.label = Some("LOGS".into());
        let disks = vec![
            disk(
                "/dev/sda",
                "Internal",
                "sata",
                &[("/dev/sda1", "vfat", "ESP"), ("/dev/sda2", "ext4", "root")],
            ),
            disk(
                "/dev/sdb",
                "Target",
                "sata",
                &[("/dev/sdb1", "ntfs", "DATA")],
            ),
            cd,
            disk(
                "/dev/sdd",
                "Kingston",
                "usb",
                &[("/dev/sdd1", "vfat", "MY STICK"), ("/dev/sdd2", "", "")],
            ),
            disk(
                "/dev/sde",
                "Other",
                "sata",
                &[("/dev/sde1", "exfat", ""), ("/dev/sde2", "exfat", "")],
            ),
            ro,
            whole,
        ];
        let got = places(&disks, &["/dev/sdb".into()], &mounts_from(MOUNTINFO));
        let names: Vec<&str> = got.iter().map(|p| p.device.as_str()).collect();
        // USB first (a whole-disk stick too); the job's disk, the read-only disk, the
        // read-only mounted CD, a partition without a filesystem and an exFAT one nobody
        // mounted are left out; an exFAT one mounted read-write is in.
        assert_eq!(
            names,
            [
                "/dev/sdd1",
                "/dev/sdg",
                "/dev/sda1",
                "/dev/sda2",
                "/dev/sde1"
            ]
        );
        assert_eq!(got[0].mounted, Some("/media/tech/MY STICK".into()));
        assert!(got[0].removable);
        assert_eq!(got[1].mounted, None);
        assert_eq!(got[1].label.as_deref(), Some("LOGS"));
        assert_eq!(got[0].describe(), "/dev/sdd1 (MY STICK, Kingston S1)");
    }

    #[test]
    fn the_log_is_copied_to_wraith_logs_under_its_own_name() {
        let src = tempfile::tempdir().expect("tempdir");
        let log = src.path().join("wraith-2026-11-22-051500.log");
        std::fs::write(&log, "[00:00] Cloning sda -> sdb\n").expect("log");
        let stick = tempfile::tempdir().expect("tempdir");
        let rel = copy_log(&log, stick.path()).expect("copy");
        assert_eq!(rel, Path::new("wraith-logs/wraith-2026-11-22-051500.log"));
        let copied = std::fs::read_to_string(stick.path().join(&rel)).expect("read copy");
        assert_eq!(copied, "[00:00] Cloning sda -> sdb\n");
        // Saved twice (another try after pulling the stick): the same file again.
        copy_log(&log, stick.path()).expect("copy again");
    }

    fn place_at(point: &Path) -> LogPlace {
        LogPlace {
            device: "/dev/sdd1".into(),
            fs: "vfat".into(),
            label: Some("STICK".into()),
            size: 16 << 30,
            disk: "Kingston S1".into(),
            removable: true,
            mounted: Some(point.to_path_buf()),
        }
    }

    #[test]
    fn saving_to_a_mounted_place_names_the_disk_and_the_path() {
        let src = tempfile::tempdir().expect("tempdir");
        let log = src.path().join("job.log");
        std::fs::write(&log, "done\n").expect("log");
        let stick = tempfile::tempdir().expect("tempdir");
        let line = save(&place_at(stick.path()), &log).expect("saved");
        let path = stick.path().join("wraith-logs/job.log");
        assert_eq!(
            line,
            format!(
                "Log saved on /dev/sdd1 (STICK, Kingston S1) as {}",
                path.display()
            )
        );
        assert_eq!(std::fs::read_to_string(path).expect("copy"), "done\n");
    }

    #[test]
    fn a_failed_copy_says_which_disk_and_why() {
        let src = tempfile::tempdir().expect("tempdir");
        let log = src.path().join("job.log");
        std::fs::write(&log, "done\n").expect("log");
        // A file where the filesystem's root should be: nothing can be created under it.
        let not_a_dir = src.path().join("plain-file");
        std::fs::write(&not_a_dir, "").expect("file");
        let e = save(&place_at(&not_a_dir), &log).expect_err("refused");
        assert!(e.starts_with("Log NOT saved on /dev/sdd1: "), "{e}");
    }
}

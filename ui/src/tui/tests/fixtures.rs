//! What every TUI test shares: the fixed fake machine, an app over it, keys, and drawing at
//! 80x25.

use super::super::app::{App, Msg};
use super::super::draw;
use super::super::machine::{Machine, NetIf};
use super::super::repos::{Finder, StickDir};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use wraith_engine::device::Device;
use wraith_engine::disks::{DiskInfo, PartInfo};
use wraith_engine::ops::discover::{FoundRepo, NewestImage, Place};

pub(crate) const GB: u64 = 1_000_000_000;

pub(crate) fn part(path: &str, size: u64, fs: &str, label: &str) -> PartInfo {
    PartInfo {
        path: path.into(),
        size,
        fs: Some(fs.into()),
        label: Some(label.into()).filter(|l: &String| !l.is_empty()),
        uuid: None,
    }
}

pub(crate) fn disk(path: &str, model: &str, serial: &str, size: u64, tr: &str) -> DiskInfo {
    DiskInfo {
        path: path.into(),
        by_id: None,
        model: Some(model.into()),
        serial: Some(serial.into()),
        size,
        transport: tr.into(),
        removable: false,
        rotational: false,
        read_only: false,
        partitions: Vec::new(),
        fs: None,
        label: None,
        uuid: None,
        health: None,
    }
}

/// The fixed machine every snapshot shows: never the real one.
pub(crate) fn fake_machine() -> Machine {
    let mut sda = disk("/dev/sda", "Samsung SSD 860", "S3Z9NB0K", 500 * GB, "sata");
    sda.partitions = vec![
        part("/dev/sda1", GB / 2, "vfat", "ESP"),
        part("/dev/sda2", 400 * GB, "ext4", "root"),
    ];
    let mut sdb = disk("/dev/sdb", "WDC WD10EZEX", "WD-WCC6Y1", 1000 * GB, "sata");
    sdb.rotational = true;
    sdb.partitions = vec![part("/dev/sdb1", 1000 * GB, "ntfs", "DATA")];
    let mut sdc = disk("/dev/sdc", "SanDisk Cruzer", "4C530001", 16 * GB, "usb");
    sdc.removable = true;
    sdc.partitions = vec![part("/dev/sdc1", 16 * GB, "iso9660", "WRAITH")];
    let small = disk("/dev/nvme0n1", "KINGSTON SA400", "50026B77", 8 * GB, "nvme");
    Machine {
        cpu: "Intel(R) Core(TM) i5-8500 CPU @ 3.00GHz".into(),
        cpus: 6,
        mem_bytes: 16 * 1024 * 1024 * 1024,
        nets: vec![NetIf {
            name: "enp3s0".into(),
            state: "up".into(),
            mac: "52:54:00:12:34:56".into(),
            ipv4: vec!["192.168.1.20".into()],
        }],
        disks: vec![sda, sdb, sdc, small],
        boot: vec!["/dev/sdc".into()],
        keymap: None,
    }
}

pub(crate) fn app() -> (App, mpsc::Receiver<Msg>) {
    let (tx, rx) = mpsc::channel();
    (App::new(fake_machine(), tx), rx)
}

pub(crate) fn key(app: &mut App, code: KeyCode) {
    app.handle(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

pub(crate) fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

pub(crate) fn screen(app: &App) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(80, 25)).expect("test terminal");
    t.draw(|f| draw(f, app)).expect("draw");
    t
}

/// A real plan (of testkit's raw disk) shown for the fake machine's disks.
pub(crate) fn raw_plan() -> (wraith_testkit::Disk, wraith_engine::plan::Plan) {
    let d = wraith_testkit::raw_disk();
    let dev = Device::open_read(&d.path).expect("open fixture");
    let p = wraith_engine::plan::plan(&dev, dev.identity.clone()).expect("plan");
    (d, p)
}

/// A filesystem as the engine's discovery describes it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn place(
    device: &str,
    label: Option<&str>,
    transport: &str,
    model: &str,
    fs: &str,
    size: u64,
    free: u64,
    repositories: Vec<FoundRepo>,
) -> Place {
    let disk = device
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .to_string();
    let spec = label.map_or_else(|| device.to_string(), |l| format!("label:{l}"));
    Place {
        device: device.into(),
        disk,
        label: label.map(String::from),
        uuid: None,
        fs: fs.into(),
        size,
        free,
        writable: true,
        boot_medium: false,
        transport: transport.into(),
        model: Some(model.into()).filter(|m: &String| !m.is_empty()),
        spec,
        repositories,
        error: None,
    }
}

/// A repository found at `at` with `images` images, the newest `newest` saved at `created`.
pub(crate) fn found_repo(
    dir: &str,
    at: &str,
    images: usize,
    newest: &str,
    created: u64,
) -> FoundRepo {
    FoundRepo {
        dir: dir.into(),
        at: at.into(),
        images,
        newest: (images > 0).then(|| NewestImage {
            name: newest.into(),
            id: "20261122T101500-ab12".into(),
            created,
            source: "Samsung SSD 860 (S3Z9NB0K, 500.1 GB)".into(),
        }),
        error: None,
    }
}

/// A discovery that answers `places`, a kernel command line `cmdline`, and the list kept in
/// `stick` (a FAT stick's data partition), instead of the machine's.
pub(crate) fn finder(places: Vec<Place>, cmdline: &str, stick: Option<PathBuf>) -> Finder {
    let cmdline = cmdline.to_string();
    Finder {
        local: Arc::new(move |_, _, _| places.clone()),
        cmdline: Arc::new(move || cmdline.clone()),
        list_dir: Arc::new(move |_, _| Ok(stick.clone().map(|p| StickDir::at(p, true, true)))),
    }
}

/// Handles the workers' messages until the look for repositories has answered.
pub(crate) fn looked(a: &mut App, rx: &mpsc::Receiver<Msg>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while a.finding.is_some() {
        assert!(std::time::Instant::now() < deadline, "the look hung");
        if let Ok(m) = rx.recv_timeout(std::time::Duration::from_millis(100)) {
            a.handle(m);
        }
    }
}

/// Handles the workers' messages while one opens a repository or prepares a job.
pub(crate) fn pump(a: &mut App, rx: &mpsc::Receiver<Msg>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while a.opening.is_some() || a.preparing.is_some() || a.finding.is_some() {
        assert!(std::time::Instant::now() < deadline, "a worker hung");
        if let Ok(m) = rx.recv_timeout(std::time::Duration::from_millis(100)) {
            a.handle(m);
        }
    }
}

/// Handles the workers' messages until a note is shown (a write to the stick is done).
pub(crate) fn wait_note(a: &mut App, rx: &mpsc::Receiver<Msg>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while a.note.is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the write never ended"
        );
        if let Ok(m) = rx.recv_timeout(std::time::Duration::from_millis(100)) {
            a.handle(m);
        }
    }
}

/// A restore from the repository list's first entry, found by `f` on a machine without disks
/// (so a `label:` location is looked for on no real one): opened, or the error popup.
pub(crate) fn restore_first_found(f: Finder) -> (App, mpsc::Receiver<Msg>) {
    let (mut a, rx) = app();
    a.machine.disks.clear();
    a.finder = f;
    key(&mut a, KeyCode::Char('r'));
    looked(&mut a, &rx);
    key(&mut a, KeyCode::Enter);
    pump(&mut a, &rx);
    (a, rx)
}

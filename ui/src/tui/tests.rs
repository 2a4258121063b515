//! Snapshot tests of every screen and popup at 80x25 over a fixed fake machine, plus one real
//! clone driven by keys through the state machine.

use super::app::{App, Msg, Outcome, Screen};
use super::machine::{Machine, NetIf};
use super::pick_disk::{PickDisk, Role};
use super::plan::PlanScreen;
use super::repo::{ImageList, ImageRow};
use super::running::RunState;
use super::{draw, plan, strings as s};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::sync::mpsc;
use std::time::Duration;
use wraith_engine::device::Device;
use wraith_engine::disks::{DiskInfo, PartInfo};
use wraith_engine::events::{Cancel, Event};
use wraith_engine::repo::ImageRef;

const GB: u64 = 1_000_000_000;

fn part(path: &str, size: u64, fs: &str, label: &str) -> PartInfo {
    PartInfo {
        path: path.into(),
        size,
        fs: Some(fs.into()),
        label: Some(label.into()).filter(|l: &String| !l.is_empty()),
        uuid: None,
    }
}

fn disk(path: &str, model: &str, serial: &str, size: u64, tr: &str) -> DiskInfo {
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
    }
}

/// The fixed machine every snapshot shows: never the real one.
fn fake_machine() -> Machine {
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
    }
}

fn app() -> (App, mpsc::Receiver<Msg>) {
    let (tx, rx) = mpsc::channel();
    (App::new(fake_machine(), tx), rx)
}

fn key(app: &mut App, code: KeyCode) {
    app.handle(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

fn screen(app: &App) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(80, 25)).expect("test terminal");
    t.draw(|f| draw(f, app)).expect("draw");
    t
}

macro_rules! snap {
    ($name:expr, $app:expr) => {
        insta::assert_snapshot!($name, screen(&$app).backend())
    };
}

/// A real plan (of testkit's raw disk) shown for the fake machine's disks.
fn raw_plan() -> (wraith_testkit::Disk, wraith_engine::plan::Plan) {
    let d = wraith_testkit::raw_disk();
    let dev = Device::open_read(&d.path).expect("open fixture");
    let p = wraith_engine::plan::plan(&dev, dev.identity.clone()).expect("plan");
    (d, p)
}

#[test]
fn home_and_menu() {
    let (mut a, _rx) = app();
    snap!("home", a);
    key(&mut a, KeyCode::Enter);
    snap!("menu", a);
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Down);
    snap!("menu_restore_selected", a);
}

#[test]
fn pick_source() {
    let (mut a, _rx) = app();
    key(&mut a, KeyCode::Enter);
    key(&mut a, KeyCode::Enter);
    assert!(matches!(a.screen, Screen::PickDisk(_)));
    snap!("pick_source", a);
}

#[test]
fn pick_target_shows_refused_disks() {
    let (mut a, _rx) = app();
    // Source sda, needing 10 GB: sdc is the boot medium, nvme0n1 too small.
    let items = a.targets(10 * GB, Some("/dev/sda"));
    a.screen = Screen::PickDisk(PickDisk::new(Role::Target, s::PICK_TARGET, items));
    if let Screen::PickDisk(p) = &a.screen {
        assert_eq!(p.chosen().map(|d| d.path.as_str()), Some("/dev/sdb"));
    }
    snap!("pick_target", a);
}

#[test]
fn clone_plan_and_confirm() {
    let (mut a, _rx) = app();
    let (_d, p) = raw_plan();
    let m = fake_machine();
    let lines = plan::clone_lines(&m.disks[0], &m.disks[1], &p, m.disks[1].size);
    a.screen = Screen::Plan(PlanScreen {
        lines,
        confirm: Some("sdb".into()),
        input: Default::default(),
    });
    snap!("plan_clone", a);
    typed(&mut a, "sd");
    key(&mut a, KeyCode::Enter);
    // A partial name starts nothing.
    assert!(matches!(a.screen, Screen::Plan(_)));
    snap!("plan_clone_typing", a);
}

#[test]
fn repo_path_and_error_popup() {
    let (mut a, _rx) = app();
    key(&mut a, KeyCode::Enter);
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Enter);
    typed(&mut a, "/nonexistent/wraith-repo");
    snap!("repo_path", a);
    key(&mut a, KeyCode::Enter);
    assert!(a.popup.is_some());
    snap!("error_popup", a);
    key(&mut a, KeyCode::Char('x'));
    assert!(a.popup.is_none());
}

#[test]
fn image_list() {
    let (mut a, _rx) = app();
    let row = |name: &str, id: &str, saved: &str, src: &str, size: u64| ImageRow {
        image: ImageRef {
            name: name.into(),
            id: id.into(),
        },
        saved: saved.into(),
        source: src.into(),
        size,
        manifest: None,
    };
    a.screen = Screen::Images(ImageList {
        location: "/mnt/usb/images".into(),
        rows: vec![
            row(
                "Samsung_SSD_860-S3Z9NB0K",
                "20261101T101500-ab12",
                "2026-11-01 10:15:00",
                "Samsung SSD 860 (S3Z9NB0K, 500.1 GB)",
                42 * GB,
            ),
            row(
                "lab-pc-07",
                "20261115T083000-cd34",
                "2026-11-15 08:30:00",
                "WDC WD10EZEX (WD-WCC6Y1, 1.0 TB)",
                120 * GB,
            ),
        ],
        sel: 1,
    });
    snap!("images", a);
}

fn running_app() -> App {
    let (tx, _rx) = mpsc::channel();
    let mut a = App::new(fake_machine(), tx);
    let mut r = RunState::new("Cloning sda -> sdb".into(), Cancel::new());
    // Recorded from a clone: a start, progress, a warning, more progress.
    r.apply(Event::Started {
        step: "clone".into(),
        total: 40 * GB,
    });
    r.elapsed = Duration::from_secs(20);
    r.apply(Event::Progress {
        done: 3 * GB,
        total: 40 * GB,
    });
    r.apply(Event::Warning {
        message: "partition 3: unknown filesystem, copied raw".into(),
    });
    r.elapsed = Duration::from_secs(100);
    r.apply(Event::Progress {
        done: 15 * GB,
        total: 40 * GB,
    });
    a.screen = Screen::Running(r);
    a
}

#[test]
fn running_cancel_and_summary() {
    let mut a = running_app();
    snap!("running", a);
    key(&mut a, KeyCode::Esc);
    snap!("cancel_popup", a);
    key(&mut a, KeyCode::Char('n'));
    if let Screen::Running(r) = &a.screen {
        assert!(!r.cancel.is_cancelled());
    }
    key(&mut a, KeyCode::Esc);
    key(&mut a, KeyCode::Char('y'));
    if let Screen::Running(r) = &a.screen {
        assert!(r.cancel.is_cancelled());
    }
    a.handle(Msg::Done(Outcome::Cancelled));
    snap!("summary_cancelled", a);

    let mut a = running_app();
    a.handle(Msg::Done(Outcome::Ok(vec![
        "cloned Samsung SSD 860 (S3Z9NB0K, 500.0 GB)".into(),
        "onto   WDC WD10EZEX (WD-WCC6Y1, 1.0 TB)".into(),
        "40.0 GB copied".into(),
    ])));
    snap!("summary_ok", a);
    key(&mut a, KeyCode::Enter);
    assert!(matches!(a.screen, Screen::Home));

    let mut a = running_app();
    a.handle(Msg::Done(Outcome::Failed(
        "/dev/sdb: Input/output error (os error 5)".into(),
    )));
    snap!("summary_failed", a);
}

#[test]
fn menu_exit_actions() {
    use super::app::Exit;
    for (downs, exit) in [(5, Exit::Shell), (6, Exit::Reboot), (7, Exit::PowerOff)] {
        let (mut a, _rx) = app();
        key(&mut a, KeyCode::Enter);
        for _ in 0..downs {
            key(&mut a, KeyCode::Down);
        }
        key(&mut a, KeyCode::Enter);
        assert_eq!(a.exit, Some(exit));
    }
    assert_eq!(Exit::Shell.code(true), 102);
    assert_eq!(Exit::Reboot.code(true), 101);
    assert_eq!(Exit::PowerOff.code(true), 100);
    assert_eq!(Exit::PowerOff.code(false), 0);
}

fn info_for(d: &wraith_testkit::Disk, model: &str) -> DiskInfo {
    disk(&d.path.display().to_string(), model, "T1", d.size, "file")
}

/// Keys all the way through a real clone of two image files.
#[test]
fn clone_two_image_files_by_keys() {
    let src = wraith_testkit::raw_disk();
    let dst = wraith_testkit::blank_disk(src.size);
    let (tx, rx) = mpsc::channel();
    let mut m = fake_machine();
    m.disks = vec![info_for(&src, "Source"), info_for(&dst, "Target")];
    m.boot.clear();
    let mut a = App::new(m, tx);
    key(&mut a, KeyCode::Enter); // menu
    key(&mut a, KeyCode::Enter); // clone
    key(&mut a, KeyCode::Enter); // source: the first disk
    let Screen::PickDisk(p) = &a.screen else {
        panic!("expected the target list, popup: {:?}", a.popup.is_some());
    };
    // The source itself is refused, so the cursor starts on the other disk.
    assert_eq!(p.role, Role::Target);
    assert_eq!(p.items[0].disabled.as_deref(), Some(s::REASON_SOURCE));
    key(&mut a, KeyCode::Enter);
    if let Some(super::app::Popup::Error(e)) = &a.popup {
        panic!("refused: {e}");
    }
    assert!(matches!(a.screen, Screen::Plan(_)));
    key(&mut a, KeyCode::Enter); // nothing typed: nothing starts
    assert!(matches!(a.screen, Screen::Plan(_)));
    typed(&mut a, "disk.img");
    key(&mut a, KeyCode::Enter);
    assert!(matches!(a.screen, Screen::Running(_)));
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !matches!(a.screen, Screen::Summary(_)) {
        assert!(std::time::Instant::now() < deadline, "clone did not finish");
        if let Ok(msg) = rx.recv_timeout(Duration::from_millis(200)) {
            a.handle(msg);
        }
    }
    let Screen::Summary(sm) = &a.screen else {
        unreachable!()
    };
    assert_eq!(sm.result, super::summary::Result::Ok, "{:?}", sm.lines);
    let a_bytes = std::fs::read(&src.path).expect("read source");
    let b_bytes = std::fs::read(&dst.path).expect("read target");
    assert!(a_bytes == b_bytes, "target differs from source");
}

#[test]
fn save_plan() {
    let (mut a, _rx) = app();
    let d = wraith_testkit::raw_disk();
    let dev = Device::open_read(&d.path).expect("open fixture");
    let p = wraith_engine::plan::plan(&dev, dev.identity.clone()).expect("plan");
    a.flow.action = Some(super::menu::Action::Save);
    a.flow.source = Some((fake_machine().disks[0].clone(), dev, p));
    a.screen = Screen::RepoPath(Default::default());
    typed(&mut a, "/mnt/usb/images");
    key(&mut a, KeyCode::Enter);
    assert!(a.popup.is_none());
    snap!("plan_save", a);
}

/// Runs the app's messages until the job's summary shows; returns whether it succeeded.
fn until_summary(a: &mut App, rx: &mpsc::Receiver<Msg>) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !matches!(a.screen, Screen::Summary(_)) {
        assert!(std::time::Instant::now() < deadline, "job did not finish");
        if let Ok(msg) = rx.recv_timeout(Duration::from_millis(200)) {
            a.handle(msg);
        }
    }
    let Screen::Summary(sm) = &a.screen else {
        unreachable!()
    };
    assert_eq!(sm.result, super::summary::Result::Ok, "{:?}", sm.lines);
    let lines = sm.lines.clone();
    key(a, KeyCode::Enter);
    assert!(matches!(a.screen, Screen::Home));
    lines
}

fn no_popup(a: &App) {
    if let Some(super::app::Popup::Error(e)) = &a.popup {
        panic!("refused: {e}");
    }
}

/// Save a disk, verify the image and restore it onto a blank disk, all by keys.
#[test]
fn save_verify_restore_by_keys() {
    let src = wraith_testkit::raw_disk();
    let dst = wraith_testkit::blank_disk(src.size);
    let repo = tempfile::tempdir().expect("tempdir");
    let repo_path = repo.path().join("images").display().to_string();
    let (tx, rx) = mpsc::channel();
    let mut m = fake_machine();
    m.disks = vec![info_for(&src, "Source"), info_for(&dst, "Target")];
    m.boot.clear();
    let mut a = App::new(m, tx);
    let menu = |a: &mut App, downs: usize| {
        key(a, KeyCode::Enter);
        for _ in 0..downs {
            key(a, KeyCode::Down);
        }
        key(a, KeyCode::Enter);
    };

    menu(&mut a, 1); // save
    key(&mut a, KeyCode::Enter); // the source disk
    no_popup(&a);
    typed(&mut a, &repo_path);
    key(&mut a, KeyCode::Enter);
    no_popup(&a);
    assert!(matches!(a.screen, Screen::Plan(_)));
    key(&mut a, KeyCode::Enter); // saving destroys nothing: Enter starts
    let lines = until_summary(&mut a, &rx);
    assert!(lines.iter().any(|l| l.contains("Source-T1")), "{lines:?}");

    menu(&mut a, 3); // verify
    typed(&mut a, &repo_path);
    key(&mut a, KeyCode::Enter);
    no_popup(&a);
    let Screen::Images(l) = &a.screen else {
        panic!("expected the image list")
    };
    assert_eq!(l.rows.len(), 1);
    key(&mut a, KeyCode::Enter);
    until_summary(&mut a, &rx);

    menu(&mut a, 2); // restore
    typed(&mut a, &repo_path);
    key(&mut a, KeyCode::Enter);
    key(&mut a, KeyCode::Enter); // the only image
    no_popup(&a);
    let Screen::PickDisk(p) = &a.screen else {
        panic!("expected the target list")
    };
    assert_eq!(p.role, Role::Target);
    // Both disks fit; pick the blank one.
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Enter);
    no_popup(&a);
    let Screen::Plan(pl) = &a.screen else {
        panic!("expected the plan")
    };
    assert_eq!(pl.confirm.as_deref(), Some("disk.img"));
    typed(&mut a, "disk.img");
    key(&mut a, KeyCode::Enter);
    until_summary(&mut a, &rx);
    let a_bytes = std::fs::read(&src.path).expect("read source");
    let b_bytes = std::fs::read(&dst.path).expect("read target");
    assert!(a_bytes == b_bytes, "restored disk differs from the source");
}

//! Snapshot tests of every screen and popup at 80x25 over a fixed fake machine, driven by
//! scripted keys, hotplug messages and recorded engine events; plus real clone, save, verify,
//! restore and browse runs driven by keys through the state machine.

use super::app::{App, Msg, Outcome, Screen};
use super::machine::{Machine, NetIf};
use super::pick_disk::{PickDisk, Role};
use super::plan::PlanScreen;
use super::repo::{ImageList, ImageRow};
use super::running::{Phase, RunState};
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
    a.screen = Screen::Plan(PlanScreen::new(lines, Some("sdb".into()), None));
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
        stored: size / 3,
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

/// What the summary shows as the log's place in every snapshot (the real one is a tempdir).
const SHOWN_LOG: &str = "/tmp/wraith-2026-11-22-051500.log";

/// Checks the job's log file holds the summary, then shows a fixed name for the snapshot.
fn check_log(a: &mut App) {
    let Screen::Summary(sm) = &mut a.screen else {
        panic!("expected the summary")
    };
    let path = sm.log.clone().expect("a log file");
    let text = std::fs::read_to_string(&path).expect("read the log");
    for l in &sm.lines {
        assert!(text.contains(l.as_str()), "{l:?} not in the log:\n{text}");
    }
    sm.log = Ok(SHOWN_LOG.into());
}

fn running_app() -> App {
    let (tx, _rx) = mpsc::channel();
    let mut a = App::new(fake_machine(), tx);
    let mut r = RunState::new(
        "Cloning sda -> sdb".into(),
        vec![Phase::new("clone", 40 * GB)],
        Cancel::new(),
    );
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
    let dir = tempfile::tempdir().expect("tempdir").keep();
    r.log_file = super::running::LogFile::create(dir.join("job.log"));
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
    check_log(&mut a);
    snap!("summary_cancelled", a);

    let mut a = running_app();
    a.handle(Msg::Done(Outcome::Ok(vec![
        "cloned Samsung SSD 860 (S3Z9NB0K, 500.0 GB)".into(),
        "onto   WDC WD10EZEX (WD-WCC6Y1, 1.0 TB)".into(),
        "40.0 GB copied".into(),
    ])));
    check_log(&mut a);
    snap!("summary_ok", a);
    key(&mut a, KeyCode::Enter);
    assert!(matches!(a.screen, Screen::Home));

    let mut a = running_app();
    a.handle(Msg::Done(Outcome::Failed(
        "/dev/sdb: Input/output error (os error 5)".into(),
    )));
    check_log(&mut a);
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
    assert!(matches!(a.screen, Screen::Reading(_)));
    settle(&mut a, &rx);
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
    let Screen::Running(r) = &a.screen else {
        panic!("expected the running screen")
    };
    // Verify-after is on by default: two steps.
    assert_eq!(r.phases.len(), 2);
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
    assert_eq!(sm.result, super::summary::Outcome::Ok, "{:?}", sm.lines);
    assert!(
        sm.lines.iter().any(|l| l.starts_with("verified:")),
        "{:?}",
        sm.lines
    );
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
    assert_eq!(sm.result, super::summary::Outcome::Ok, "{:?}", sm.lines);
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
    settle(&mut a, &rx);
    no_popup(&a);
    typed(&mut a, &repo_path);
    key(&mut a, KeyCode::Enter);
    no_popup(&a);
    assert!(matches!(a.screen, Screen::Plan(_)));
    key(&mut a, KeyCode::Enter); // saving destroys nothing: Enter starts
    let lines = until_summary(&mut a, &rx);
    assert!(lines.iter().any(|l| l.contains("Source-T1")), "{lines:?}");
    // Verify-after is on by default: the saved image was compared with the disk.
    assert!(
        lines.iter().any(|l| l.starts_with("verified:")),
        "{lines:?}"
    );

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
    let lines = until_summary(&mut a, &rx);
    assert!(
        lines.iter().any(|l| l.starts_with("verified:")),
        "{lines:?}"
    );

    menu(&mut a, 4); // browse: the image in detail, then verify it from there
    typed(&mut a, &repo_path);
    key(&mut a, KeyCode::Enter);
    key(&mut a, KeyCode::Enter);
    no_popup(&a);
    assert!(matches!(a.screen, Screen::ImageInfo(..)));
    key(&mut a, KeyCode::Char('v'));
    let lines = until_summary(&mut a, &rx);
    assert!(lines[0].contains("0 problem(s)"), "{lines:?}");
    let a_bytes = std::fs::read(&src.path).expect("read source");
    let b_bytes = std::fs::read(&dst.path).expect("read target");
    assert!(a_bytes == b_bytes, "restored disk differs from the source");
}

/// Handles worker messages until the "reading the disk" state is over.
fn settle(a: &mut App, rx: &mpsc::Receiver<Msg>) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while matches!(a.screen, Screen::Reading(_)) {
        assert!(
            std::time::Instant::now() < deadline,
            "reading the disk hung"
        );
        if let Ok(msg) = rx.recv_timeout(Duration::from_millis(200)) {
            a.handle(msg);
        }
    }
}

/// A USB disk plugged in while the home screen shows, then removed again.
#[test]
fn hotplug_updates_home() {
    let (mut a, _rx) = app();
    let mut disks = fake_machine().disks;
    let mut usb = disk(
        "/dev/sdd",
        "Kingston DataTraveler",
        "E0D55EA5",
        32 * GB,
        "usb",
    );
    usb.removable = true;
    usb.partitions = vec![part("/dev/sdd1", 32 * GB, "exfat", "BACKUP")];
    disks.push(usb);
    a.handle(Msg::Disks(disks));
    snap!("home_usb_plugged", a);
    a.handle(Msg::Disks(fake_machine().disks));
    assert!(a.machine.disks.iter().all(|d| d.path != "/dev/sdd"));
}

/// A disk arriving while the target list shows is listed, and the cursor stays put.
#[test]
fn hotplug_updates_an_open_target_list() {
    let (mut a, _rx) = app();
    a.flow.action = Some(super::menu::Action::Restore);
    let items = a.targets(10 * GB, None);
    a.screen = Screen::PickDisk(PickDisk::new(Role::Target, s::PICK_TARGET, items));
    key(&mut a, KeyCode::Down); // from sda to sdb
    let mut disks = fake_machine().disks;
    disks.insert(
        0,
        disk("/dev/nvme1n1", "Samsung 980", "S64ANS0T", 1000 * GB, "nvme"),
    );
    a.handle(Msg::Disks(disks));
    let Screen::PickDisk(p) = &a.screen else {
        panic!("expected the target list")
    };
    assert_eq!(p.items.len(), 5);
    assert_eq!(p.items[p.sel].disk.path, "/dev/sdb");
    snap!("pick_target_after_hotplug", a);
}

#[test]
fn reading_the_source_is_off_the_ui_thread() {
    let (mut a, rx) = app();
    let src = wraith_testkit::raw_disk();
    a.machine.disks = vec![info_for(&src, "Source")];
    key(&mut a, KeyCode::Enter);
    key(&mut a, KeyCode::Enter); // clone
    key(&mut a, KeyCode::Enter); // the only disk
    let Screen::Reading(what) = &mut a.screen else {
        panic!("expected the reading state")
    };
    // The fixture's path is a tempdir: show a fixed one.
    *what = "disk.img  Source  T1  32.0 MiB".into();
    snap!("reading", a);
    settle(&mut a, &rx);
    assert!(matches!(a.screen, Screen::PickDisk(_)));
    // Esc while reading goes back, and a late answer changes nothing.
    key(&mut a, KeyCode::Esc);
    key(&mut a, KeyCode::Enter);
    key(&mut a, KeyCode::Esc);
    assert!(matches!(a.screen, Screen::PickDisk(_)));
    let late = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the worker answers");
    a.handle(late);
    let Screen::PickDisk(p) = &a.screen else {
        panic!("the late plan moved the screen")
    };
    assert_eq!(p.role, Role::Source);
}

#[test]
fn plan_warns_when_the_source_is_mounted() {
    let (mut a, _rx) = app();
    let (_d, p) = raw_plan();
    let m = fake_machine();
    let mut lines = plan::mounted_lines(&["/".to_string(), "/home".to_string()]);
    lines.extend(plan::clone_lines(
        &m.disks[0],
        &m.disks[1],
        &p,
        m.disks[1].size,
    ));
    a.screen = Screen::Plan(PlanScreen::new(lines, Some("sdb".into()), None));
    snap!("plan_clone_source_mounted", a);
}

#[test]
fn long_plan_scrolls() {
    let (mut a, _rx) = app();
    let mut t = fake_machine().disks[1].clone();
    t.partitions = (1..=30)
        .map(|n| {
            part(
                &format!("/dev/sdb{n}"),
                30 * GB,
                "ext4",
                &format!("part{n}"),
            )
        })
        .collect();
    let (_d, p) = raw_plan();
    let lines = plan::clone_lines(&fake_machine().disks[0], &t, &p, t.size);
    a.screen = Screen::Plan(PlanScreen::new(lines, Some("sdb".into()), None));
    snap!("plan_long_top", a);
    key(&mut a, KeyCode::PageDown);
    snap!("plan_long_page_down", a);
    for _ in 0..5 {
        key(&mut a, KeyCode::PageDown);
    }
    // Scrolling stops with the last line at the bottom.
    snap!("plan_long_end", a);
    key(&mut a, KeyCode::PageUp);
    key(&mut a, KeyCode::Up);
    if let Screen::Plan(pl) = &a.screen {
        assert!(pl.scroll > 0 && pl.scroll < pl.lines.len());
    }
}

/// A real image of the GPT fixture, with the parts that vary between runs made fixed.
fn saved_image() -> (ImageRef, wraith_engine::repo::manifest::Manifest) {
    use wraith_engine::events::Quiet;
    use wraith_engine::pipeline::save::{save, SaveOptions};
    let d = wraith_testkit::gpt_disk();
    let dev = Device::open_read(&d.path).expect("open fixture");
    let p = wraith_engine::plan::plan(&dev, dev.identity.clone()).expect("plan");
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = wraith_engine::repo::Repository::open_or_create(dir.path()).expect("repo");
    let opts = SaveOptions {
        name: "Samsung_SSD_860-S3Z9NB0K".into(),
        threads: 2,
    };
    let rep = save(&dev, &p, &repo, &opts, &Quiet, &Cancel::new()).expect("save");
    let mut m = repo.load_manifest(&rep.image).expect("manifest");
    m.created = 1_795_342_500; // 2026-11-22 10:15:00 UTC
    m.source.model = Some("Samsung SSD 860".into());
    m.source.serial = Some("S3Z9NB0K".into());
    // Compression of random UUIDs and timestamps varies slightly between fixture builds.
    m.stats.stored_bytes = 21 * 1024 * 1024;
    m.stats.new_stored_bytes = 20 * 1024 * 1024;
    let image = ImageRef {
        name: rep.image.name.clone(),
        id: "20261122T053500-ab12".into(),
    };
    (image, m)
}

#[test]
fn restore_plan_and_image_details() {
    let (image, m) = saved_image();
    let (mut a, _rx) = app();
    let t = &fake_machine().disks[1];
    let lines = plan::restore_lines(&image, &m, t, t.size, super::jobs::restore_needs(&m));
    a.flow.action = Some(super::menu::Action::Restore);
    a.screen = Screen::Plan(PlanScreen::new(lines, Some("sdb".into()), Some(true)));
    snap!("plan_restore", a);
    key(&mut a, KeyCode::Tab);
    if let Screen::Plan(p) = &a.screen {
        assert_eq!(p.verify, Some(false));
    }
    // Tab is not typed into the confirmation.
    if let Screen::Plan(p) = &a.screen {
        assert_eq!(p.input.value, "");
    }

    let (mut a, _rx) = app();
    a.flow.action = Some(super::menu::Action::Browse);
    let list = ImageList {
        location: "/mnt/usb/images".into(),
        rows: Vec::new(),
        sel: 0,
    };
    a.screen = Screen::ImageInfo(
        Box::new(super::image::ImageDetails {
            image,
            manifest: m,
            scroll: 0,
        }),
        list,
    );
    snap!("image_details", a);
    key(&mut a, KeyCode::Esc);
    assert!(matches!(a.screen, Screen::Images(_)));
}

/// A save with verify after it: two steps, one overall bar.
#[test]
fn running_save_then_verify() {
    let (tx, _rx) = mpsc::channel();
    let mut a = App::new(fake_machine(), tx);
    let mut r = RunState::new(
        "Saving sda -> /mnt/usb/images".into(),
        vec![Phase::new("save", 40 * GB), Phase::new("verify", 40 * GB)],
        Cancel::new(),
    );
    // Recorded from a save with verify: the save done, the verify a quarter through.
    r.apply(Event::Started {
        step: "save".into(),
        total: 30 * GB,
    });
    r.elapsed = Duration::from_secs(200);
    r.apply(Event::Progress {
        done: 30 * GB,
        total: 30 * GB,
    });
    r.apply(Event::Finished {
        step: "save".into(),
    });
    r.apply(Event::Started {
        step: "verify".into(),
        total: 30 * GB,
    });
    for n in 1..=20 {
        r.note(format!("note {n}"));
    }
    r.elapsed = Duration::from_secs(230);
    r.apply(Event::Progress {
        done: 7_500_000_000,
        total: 30 * GB,
    });
    assert_eq!(r.overall(), (37_500_000_000, 60 * GB));
    a.screen = Screen::Running(r);
    snap!("running_save_verify", a);
    key(&mut a, KeyCode::PageUp);
    snap!("running_log_scrolled_back", a);
}

#[test]
fn ascii_borders_for_serial_terminals() {
    use super::theme::want_ascii;
    assert!(want_ascii(None, Some("vt100"), None));
    assert!(want_ascii(None, None, None));
    assert!(!want_ascii(None, Some("linux"), None));
    assert!(!want_ascii(None, Some("xterm-256color"), Some("C.UTF-8")));
    assert!(!want_ascii(None, Some("xterm-256color"), None));
    assert!(want_ascii(None, Some("xterm"), Some("en_US.ISO-8859-1")));
    assert!(!want_ascii(Some("0"), Some("vt100"), None));
    assert!(want_ascii(Some("1"), Some("linux"), None));
    // The flag is per thread: other snapshots running meanwhile keep box drawing.
    super::theme::set_ascii(true);
    let mut a = running_app();
    key(&mut a, KeyCode::Esc);
    snap!("ascii_cancel_popup", a);
    let (a, _rx) = app();
    snap!("ascii_home", a);
    super::theme::set_ascii(false);
}

#[test]
fn serial_console_gets_a_size() {
    assert_eq!(super::fallback_size(None, None), (80, 25));
    assert_eq!(super::fallback_size(Some("132"), Some("50")), (132, 50));
    assert_eq!(super::fallback_size(Some("0"), Some("x")), (80, 25));
}

/// Arrow keys split by a serial line (ESC read alone, then '[' and 'B') become one key again.
#[test]
fn split_escape_sequences_join() {
    use super::input::{join, Joined};
    let k = |c: KeyCode| KeyEvent::new(c, KeyModifiers::NONE);
    let esc = k(KeyCode::Esc);
    let ch = |c: char| k(KeyCode::Char(c));
    assert_eq!(join(&[esc]), Joined::More);
    assert_eq!(join(&[esc, ch('[')]), Joined::More);
    assert_eq!(
        join(&[
            esc,
            ch('['),
            KeyEvent::new(KeyCode::Char('B'), KeyModifiers::SHIFT)
        ]),
        Joined::Key(k(KeyCode::Down))
    );
    assert_eq!(join(&[esc, ch('O'), ch('A')]), Joined::Key(k(KeyCode::Up)));
    assert_eq!(join(&[esc, ch('['), ch('6')]), Joined::More);
    assert_eq!(
        join(&[esc, ch('['), ch('6'), ch('~')]),
        Joined::Key(k(KeyCode::PageDown))
    );
    // Esc then a typed letter stays two keys.
    assert_eq!(join(&[esc, ch('y')]), Joined::Keys(vec![esc, ch('y')]));
    assert_eq!(
        join(&[esc, k(KeyCode::Enter)]),
        Joined::Keys(vec![esc, k(KeyCode::Enter)])
    );
}

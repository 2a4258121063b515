//! Snapshot tests of every screen and popup at 80x25 over a fixed fake machine, driven by
//! scripted keys, hotplug messages and recorded engine events; plus real clone, save, verify,
//! restore and browse runs driven by keys through the state machine. The repository list
//! (`repos.rs`), the help (`help.rs`), shares and errors (`shares.rs`) and the preselected
//! image and target (`preselect.rs`) have files of their own.

use super::app::{App, Msg, Outcome, Screen};
use super::pick_disk::{PickDisk, Role};
use super::plan::PlanScreen;
use super::repo::{ImageList, ImageRow};
use super::running::{Phase, RunState};
use super::{plan, strings as s};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::sync::mpsc;
use std::time::Duration;
use wraith_engine::device::{Device, DiskIdentity};
use wraith_engine::disks::DiskInfo;
use wraith_engine::events::{Cancel, Event};
use wraith_engine::ops::{Outcome as ReportOutcome, Report};
use wraith_engine::repo::ImageRef;

macro_rules! snap {
    ($name:expr, $app:expr) => {
        insta::assert_snapshot!($name, screen(&$app).backend())
    };
}

mod browse;
mod fixtures;
mod guide;
mod help;
mod preselect;
mod repos;
mod shares;
use fixtures::*;

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
    let (mut a, rx) = app();
    key(&mut a, KeyCode::Enter);
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Enter);
    key(&mut a, KeyCode::Char('t')); // type the location
    typed(&mut a, "/nonexistent/wraith-repo");
    snap!("repo_path", a);
    key(&mut a, KeyCode::Enter);
    until_idle(&mut a, &rx);
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
        created: 0,
        source: src.into(),
        group: format!("disk {src}"),
        size,
        added: size / 3,
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
        why: None,
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
    running_app_on(mpsc::channel().0)
}

/// A clone halfway, sending its workers' messages to `tx`.
fn running_app_on(tx: mpsc::Sender<Msg>) -> App {
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

/// How the engine names one of the fake machine's disks (512-byte sectors).
fn identity(d: &DiskInfo) -> DiskIdentity {
    DiskIdentity {
        model: d.model.clone(),
        serial: d.serial.clone(),
        size: d.size,
        logical_sector_size: 512,
        physical_sector_size: 512,
        path: d.path.clone(),
    }
}

/// The engine's report of a clone of the fake machine's sda onto sdb, as the worker hands it
/// back.
fn clone_report(bytes: u64) -> Report {
    let id = identity;
    let m = fake_machine();
    Report {
        action: wraith_engine::job::Action::Clone,
        outcome: ReportOutcome::Done,
        source: Some(id(&m.disks[0])),
        target: Some(id(&m.disks[1])),
        image: None,
        repository: None,
        bytes,
        stats: None,
        layout: None,
        reshape: None,
        unreadable: Default::default(),
        unreadable_files: Vec::new(),
        mapfile: None,
        verified: None,
        seconds: 0.0,
        log: Vec::new(),
        kept: None,
        identity: Vec::new(),
    }
}

fn finished(r: Report) -> Msg {
    Msg::Done(Outcome::Finished(Box::new(r)))
}

/// The summary of `running_app`'s clone, done and verified.
fn clone_done_and_verified() -> App {
    let mut a = running_app();
    let mut r = clone_report(40 << 30);
    r.verified = Some(wraith_engine::ops::Verified {
        what: "the target against the source".into(),
        report: wraith_engine::pipeline::verify::VerifyReport {
            bytes: 40 << 30,
            ..Default::default()
        },
    });
    a.handle(finished(r));
    check_log(&mut a);
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

    let mut a = clone_done_and_verified();
    snap!("summary_ok", a);
    key(&mut a, KeyCode::Enter);
    assert!(matches!(a.screen, Screen::Home));

    let mut a = running_app();
    a.handle(Msg::Done(Outcome::Failed(
        "/dev/sdb: Input/output error (os error 5)".into(),
    )));
    check_log(&mut a);
    snap!("summary_failed", a);

    // A failing source: done, but the summary says so first and names the files and the
    // ddrescue mapfile, with the lines the CLI prints for the engine's report.
    use wraith_engine::fs::{FsKind, Touch, TouchKind};
    use wraith_engine::plan::{Method, Region, RegionKind};
    let p2 = Region {
        kind: RegionKind::Partition { number: 2 },
        start: 1 << 30,
        len: 40 << 30,
        method: Method::UsedBlocks,
        fs: None,
        used: Default::default(),
    };
    let mut bad = wraith_engine::extent::ExtentList::new();
    bad.push((1 << 30) + 4096, 8192);
    let files = wraith_engine::pipeline::rescue::DamagedFiles {
        region_start: 1 << 30,
        region: "partition 2".into(),
        fs: FsKind::Ext4,
        files: vec![Touch {
            path: "/home/ana/thesis.odt".into(),
            also: vec![],
            kind: TouchKind::Data,
            bytes: 8192,
        }],
        more: 0,
        unclaimed: 0,
        notes: vec![],
    };
    let mut r = clone_report(40 << 30);
    r.outcome = ReportOutcome::Partial;
    let (_d, raw) = raw_plan();
    r.layout = Some(wraith_engine::plan::Plan {
        disk: r.source.clone().expect("a source"),
        table: raw.table,
        regions: vec![p2],
    });
    r.unreadable = bad;
    r.unreadable_files = vec![files];
    r.mapfile = Some("/tmp/wraith-clone-sda.mapfile".into());
    let mut a = running_app();
    a.handle(finished(r));
    check_log(&mut a);
    let Screen::Summary(sm) = &a.screen else {
        panic!("expected the summary")
    };
    assert_eq!(sm.result, super::summary::Outcome::Partial);
    let shown = format!("{:?}", screen(&a).backend());
    assert!(
        shown.contains("COULD NOT BE READ") && shown.contains("/home/ana/thesis.odt"),
        "{shown}"
    );
    assert!(
        sm.lines
            .iter()
            .any(|l| l.contains("/tmp/wraith-clone-sda.mapfile")),
        "no mapfile line: {:?}",
        sm.lines
    );
    snap!("summary_partial", a);
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

/// A machine with two image-file disks, the clone chosen by keys and the first disk picked as
/// its source (being read on a worker).
fn clone_source_picked(
    src: &wraith_testkit::Disk,
    dst: &wraith_testkit::Disk,
) -> (App, mpsc::Receiver<Msg>) {
    let (tx, rx) = mpsc::channel();
    let mut m = fake_machine();
    m.disks = vec![info_for(src, "Source"), info_for(dst, "Target")];
    m.boot.clear();
    let mut a = App::new(m, tx);
    key(&mut a, KeyCode::Enter); // menu
    key(&mut a, KeyCode::Enter); // clone
    key(&mut a, KeyCode::Enter); // source: the first disk
    (a, rx)
}

/// Keys all the way through a real clone of two image files.
#[test]
fn clone_two_image_files_by_keys() {
    let src = wraith_testkit::raw_disk();
    let dst = wraith_testkit::blank_disk(src.size);
    let (mut a, rx) = clone_source_picked(&src, &dst);
    assert!(matches!(a.screen, Screen::Reading(_)));
    settle(&mut a, &rx);
    let Screen::PickDisk(p) = &a.screen else {
        panic!("expected the target list, popup: {:?}", a.popup.is_some());
    };
    // The source itself is refused, so the cursor starts on the other disk.
    assert_eq!(p.role, Role::Target);
    assert_eq!(p.items[0].disabled.as_deref(), Some(s::REASON_SOURCE));
    key(&mut a, KeyCode::Enter);
    // The engine checks the pick on a worker; the list stays until it answers.
    assert!(a.preparing.is_some(), "not prepared in the background");
    assert!(matches!(a.screen, Screen::PickDisk(_)));
    until_idle(&mut a, &rx);
    no_popup(&a);
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
        sm.lines
            .iter()
            .any(|l| l.starts_with("verified the target against the source")),
        "{:?}",
        sm.lines
    );
    let a_bytes = std::fs::read(&src.path).expect("read source");
    let b_bytes = std::fs::read(&dst.path).expect("read target");
    assert!(a_bytes == b_bytes, "target differs from source");
}

/// F2 on a clone plan plans the job again with the next layout policy, and the job runs as
/// the plan then says: `keep` onto a disk twice the size leaves every partition where it was
/// (auto would have grown the last one).
#[test]
fn f2_on_the_plan_plans_again_with_the_next_layout_policy() {
    let src = wraith_testkit::gpt_disk();
    let dst = wraith_testkit::blank_disk(src.size * 2);
    let (mut a, rx) = clone_source_picked(&src, &dst);
    settle(&mut a, &rx);
    key(&mut a, KeyCode::Enter); // target: the other disk
    until_idle(&mut a, &rx);
    no_popup(&a);
    let policy = |a: &App| -> String {
        let Screen::Plan(p) = &a.screen else {
            panic!("expected the plan");
        };
        p.lines
            .iter()
            .find(|(_, l)| l.starts_with(s::PLAN_POLICY))
            .map(|(_, l)| l.clone())
            .unwrap_or_else(|| panic!("no layout policy line: {:#?}", p.lines))
    };
    assert!(
        policy(&a).starts_with("layout policy: auto ("),
        "{}",
        policy(&a)
    );
    assert!(policy(&a).ends_with("F2: plan with keep"), "{}", policy(&a));

    key(&mut a, KeyCode::F(2));
    assert!(a.preparing.is_some(), "F2 plans again on a worker");
    until_idle(&mut a, &rx);
    no_popup(&a);
    assert_eq!(policy(&a), "layout policy: keep   F2: plan with grow");
    let Screen::Plan(p) = &a.screen else {
        unreachable!()
    };
    assert!(
        !p.lines.iter().any(|(_, l)| l.contains(s::PLAN_LAYOUT_FOR)),
        "keep resizes nothing: {:#?}",
        p.lines
    );
    typed(&mut a, "disk.img");
    key(&mut a, KeyCode::Enter);
    until_summary(&mut a, &rx);
    assert_eq!(
        wraith_testkit::partition_ranges(&dst.path).expect("target table"),
        wraith_testkit::partition_ranges(&src.path).expect("source table"),
        "kept where they were"
    );
}

/// The save's plan comes from the engine's checked plan, prepared on a worker; the screen
/// shows the disk as its list named it, the repository, the image name and each region.
#[test]
fn save_plan() {
    let d = wraith_testkit::raw_disk();
    let repo = tempfile::tempdir().expect("tempdir");
    let at = repo.path().join("images").display().to_string();
    let (mut a, _rx) = save_planned(&d, &at);
    let Screen::Plan(p) = &mut a.screen else {
        panic!("expected the plan")
    };
    // The fixture's file and the tempdir vary: show the names the snapshot always had.
    let file = plan::short_name(&d.path.display().to_string());
    for (_, l) in &mut p.lines {
        *l = l
            .replace(&format!("{file}  "), "sda  ")
            .replace(&at, "/mnt/usb/images");
    }
    snap!("plan_save", a);
}

/// F2 on a save's plan plans it again with the next compression choice, and the image is
/// stored as the plan then says.
#[test]
fn f2_on_a_save_plan_chooses_the_compression() {
    let d = wraith_testkit::gpt_disk();
    let repo = tempfile::tempdir().expect("tempdir");
    let at = repo.path().join("images").display().to_string();
    let (mut a, rx) = save_planned(&d, &at);
    let compression = |a: &App| -> String {
        let Screen::Plan(p) = &a.screen else {
            panic!("expected the plan");
        };
        p.lines
            .iter()
            .find(|(_, l)| l.starts_with(s::PLAN_COMPRESSION))
            .map(|(_, l)| l.clone())
            .unwrap_or_else(|| panic!("no compression line: {:#?}", p.lines))
    };
    assert_eq!(
        compression(&a),
        "compression: balanced (zstd 4)   F2: plan with small"
    );
    key(&mut a, KeyCode::F(2));
    assert!(a.preparing.is_some(), "F2 plans again on a worker");
    until_idle(&mut a, &rx);
    no_popup(&a);
    assert_eq!(
        compression(&a),
        "compression: small (zstd 6)   F2: plan with fast"
    );
    key(&mut a, KeyCode::Enter);
    until_summary(&mut a, &rx);
    let r = wraith_engine::repo::Repository::open(std::path::Path::new(&at)).expect("repository");
    let images = r.images().expect("images");
    assert_eq!(images.len(), 1);
    let m = r.load_manifest(&images[0]).expect("manifest");
    assert_eq!(m.zstd_level, Some(6), "stored as the plan said");
}

/// The app on the plan of a save of disk `d` (as the machine's sda) into the typed location
/// `at`, by keys.
fn save_planned(d: &wraith_testkit::Disk, at: &str) -> (App, mpsc::Receiver<Msg>) {
    let (mut a, rx) = app();
    let mut sda = fake_machine().disks[0].clone();
    sda.path = d.path.display().to_string();
    a.machine.disks = vec![sda];
    key(&mut a, KeyCode::Enter);
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Enter); // save
    key(&mut a, KeyCode::Enter); // the disk
    until_idle(&mut a, &rx);
    key(&mut a, KeyCode::Char('t')); // type the location
    typed(&mut a, at);
    key(&mut a, KeyCode::Enter);
    until_idle(&mut a, &rx);
    no_popup(&a);
    (a, rx)
}

/// Handles worker messages while something runs in the background: reading the source,
/// opening a repository, preparing a job.
fn until_idle(a: &mut App, rx: &mpsc::Receiver<Msg>) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while matches!(a.screen, Screen::Reading(_)) || a.opening.is_some() || a.preparing.is_some() {
        assert!(std::time::Instant::now() < deadline, "a worker hung");
        if let Ok(msg) = rx.recv_timeout(Duration::from_millis(200)) {
            a.handle(msg);
        }
    }
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
    key(&mut a, KeyCode::Char('t')); // type the location
    typed(&mut a, &repo_path);
    key(&mut a, KeyCode::Enter);
    until_idle(&mut a, &rx);
    no_popup(&a);
    assert!(matches!(a.screen, Screen::Plan(_)));
    key(&mut a, KeyCode::Enter); // saving destroys nothing: Enter starts
    let lines = until_summary(&mut a, &rx);
    assert!(lines.iter().any(|l| l.contains("Source-T1")), "{lines:?}");
    // Verify-after is on by default: the saved image was compared with the disk.
    assert!(
        lines.iter().any(|l| l.starts_with("verified the disk")),
        "{lines:?}"
    );
    // The TUI keeps each job's result and log beside the images, as jobs do.
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("result and log kept as")),
        "{lines:?}"
    );
    let results = std::fs::read_dir(repo.path().join("images/results"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(results, 2, "a result and a log in results/");

    menu(&mut a, 3); // verify
    key(&mut a, KeyCode::Char('t')); // type the location
    typed(&mut a, &repo_path);
    key(&mut a, KeyCode::Enter);
    until_idle(&mut a, &rx);
    no_popup(&a);
    let Screen::Images(l) = &a.screen else {
        panic!("expected the image list")
    };
    assert_eq!(l.rows.len(), 1);
    key(&mut a, KeyCode::Enter);
    until_idle(&mut a, &rx);
    until_summary(&mut a, &rx);

    menu(&mut a, 2); // restore
    key(&mut a, KeyCode::Char('t')); // type the location
    typed(&mut a, &repo_path);
    key(&mut a, KeyCode::Enter);
    until_idle(&mut a, &rx);
    key(&mut a, KeyCode::Enter); // the only image
    no_popup(&a);
    let Screen::PickDisk(p) = &a.screen else {
        panic!("expected the target list")
    };
    assert_eq!(p.role, Role::Target);
    // Both disks fit; pick the blank one.
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Enter);
    until_idle(&mut a, &rx);
    no_popup(&a);
    let Screen::Plan(pl) = &a.screen else {
        panic!("expected the plan")
    };
    assert_eq!(pl.confirm.as_deref(), Some("disk.img"));
    let name_line = |a: &App| -> String {
        let Screen::Plan(p) = &a.screen else {
            panic!("expected the plan");
        };
        p.lines
            .iter()
            .find(|(_, l)| l.starts_with(s::PLAN_NAME))
            .map(|(_, l)| l.clone())
            .unwrap_or_else(|| panic!("no name line: {:#?}", p.lines))
    };
    assert!(
        name_line(&a).contains(s::PLAN_NAME_NONE),
        "{}",
        name_line(&a)
    );
    // F3 names the machine: a name the engine refuses leaves the plan as it was.
    key(&mut a, KeyCode::F(3));
    typed(&mut a, "lab_07");
    key(&mut a, KeyCode::Enter);
    until_idle(&mut a, &rx);
    match &a.popup {
        Some(super::app::Popup::Error(e)) => {
            assert!(e.message.contains("is not a host name"), "{e}")
        }
        _ => panic!("no error popup"),
    }
    a.popup = None;
    // The field starts with the name of the plan shown (none): the refused one is gone.
    key(&mut a, KeyCode::F(3));
    typed(&mut a, "lab-07");
    key(&mut a, KeyCode::Enter);
    until_idle(&mut a, &rx);
    no_popup(&a);
    assert!(
        name_line(&a).starts_with("then name the machine: lab-07"),
        "{}",
        name_line(&a)
    );
    typed(&mut a, "disk.img");
    key(&mut a, KeyCode::Enter);
    let lines = until_summary(&mut a, &rx);
    assert!(
        lines.iter().any(|l| l.starts_with("verified the target")),
        "{lines:?}"
    );

    menu(&mut a, 4); // browse: the image in detail, then verify it from there
    key(&mut a, KeyCode::Char('t')); // type the location
    typed(&mut a, &repo_path);
    key(&mut a, KeyCode::Enter);
    until_idle(&mut a, &rx);
    key(&mut a, KeyCode::Enter);
    no_popup(&a);
    assert!(matches!(a.screen, Screen::ImageInfo(..)));
    key(&mut a, KeyCode::Char('v'));
    until_idle(&mut a, &rx);
    let lines = until_summary(&mut a, &rx);
    assert!(
        lines.iter().any(|l| l.contains(": OK (1 images")),
        "{lines:?}"
    );
    let a_bytes = std::fs::read(&src.path).expect("read source");
    let b_bytes = std::fs::read(&dst.path).expect("read target");
    assert!(a_bytes == b_bytes, "restored disk differs from the source");
}

/// Opening a share whose server takes the connection and never answers: the screen keeps
/// drawing and taking keys, shows what it waits for, and Esc gives up at once (the worker's
/// late answer is then dropped).
#[test]
fn a_server_that_never_answers_does_not_freeze_the_screen() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let (mut a, rx) = app();
    key(&mut a, KeyCode::Enter);
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Enter); // restore: the repository first
    key(&mut a, KeyCode::Char('t')); // type the location
    typed(&mut a, &format!("http://127.0.0.1:{port}/images"));
    let t = std::time::Instant::now();
    key(&mut a, KeyCode::Enter);
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "Enter blocked the UI for {:?}",
        t.elapsed()
    );
    assert!(a.opening.is_some(), "no background opening");
    assert!(matches!(a.screen, Screen::RepoPath(_)));
    // Fixed for the snapshot: the port is whatever the kernel gave.
    let fixed = "http://127.0.0.1:8080/images";
    if let Some(o) = &mut a.opening {
        o.waited = 4;
        o.shown = fixed.into();
    }
    if let Screen::RepoPath(i) = &mut a.screen {
        i.value = fixed.into();
    }
    snap!("opening_a_share", a);
    if let Screen::RepoPath(i) = &mut a.screen {
        i.value = format!("http://127.0.0.1:{port}/images");
    }
    // Keys other than Esc do nothing meanwhile; Esc gives up and leaves the field as typed.
    key(&mut a, KeyCode::Char('x'));
    key(&mut a, KeyCode::Esc);
    assert!(a.opening.is_none());
    let Screen::RepoPath(i) = &a.screen else {
        panic!("expected the repository field")
    };
    assert_eq!(i.value, format!("http://127.0.0.1:{port}/images"));
    // The given-up worker's answer, whenever it comes, changes nothing.
    drop(silent);
    let until = std::time::Instant::now() + Duration::from_secs(3);
    while std::time::Instant::now() < until {
        if let Ok(m) = rx.recv_timeout(Duration::from_millis(100)) {
            a.handle(m);
        }
    }
    assert!(matches!(a.screen, Screen::RepoPath(_)));
    assert!(a.popup.is_none(), "a late answer popped up");
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
fn a_boot_stick_that_appears_late_is_marked_and_not_offered_as_a_target() {
    let (mut a, _rx) = app();
    a.machine.boot.clear();
    a.flow.action = Some(super::menu::Action::Restore);
    let items = a.targets(GB, None);
    a.screen = Screen::PickDisk(PickDisk::new(Role::Target, s::PICK_TARGET, items));
    let usable = |a: &App| {
        let Screen::PickDisk(p) = &a.screen else {
            panic!("expected the target list")
        };
        p.items
            .iter()
            .filter(|i| i.disabled.is_none())
            .map(|i| i.disk.path.clone())
            .collect::<Vec<_>>()
    };
    let stick = fake_machine().boot[0].clone();
    assert!(usable(&a).contains(&stick));
    a.handle(Msg::BootMedia(vec![stick.clone()]));
    assert!(!usable(&a).contains(&stick), "{:?}", usable(&a));
    assert!(a.machine.is_boot(
        &a.machine
            .disks
            .iter()
            .find(|d| d.path == stick)
            .expect("listed")
            .clone()
    ));
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
        machine: None,
        all_sectors: false,
        zstd_level: None,
    };
    let cancel = Cancel::new();
    let ctx = wraith_engine::events::Ctx::new(&Quiet, &cancel, 2);
    let rep = save(&dev, &p, &repo, &opts, &ctx).expect("save");
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

/// The plan of restoring `image` onto the fake machine's sdb, verify afterwards on.
fn restore_plan_app(image: &ImageRef, m: &wraith_engine::repo::manifest::Manifest) -> App {
    let (mut a, _rx) = app();
    let t = &fake_machine().disks[1];
    let lines = plan::restore_lines(image, m, t, t.size, wraith_engine::ops::restore_needs(m));
    a.flow.action = Some(super::menu::Action::Restore);
    a.screen = Screen::Plan(PlanScreen::new(lines, Some("sdb".into()), Some(true)));
    a
}

#[test]
fn restore_plan_and_image_details() {
    let (image, m) = saved_image();
    let mut a = restore_plan_app(&image, &m);
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
        why: None,
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

/// net.json as wraith-init writes it, on a machine with three NICs: a DHCP lease, a static
/// address, and one without a cable. Uptime 1000 s: the lease has 85410 s left.
const NET_FIXTURE: &str = r#"{
  "ready": true,
  "uptime": 1000.0,
  "interfaces": [
    {"name": "eth0", "mac": "52:54:00:12:34:56", "link": true, "method": "dhcp", "state": "bound", "address": "10.0.2.15", "prefix": 24, "gateway": "10.0.2.2", "dns": ["10.0.2.3"], "search": ["lab.example"], "server": "10.0.2.2", "lease_secs": 86400, "lease_obtained": 10.0, "lease_expires": 86410.0, "renewals": 2, "error": null},
    {"name": "eth1", "mac": "52:54:00:12:34:57", "link": true, "method": "static", "state": "configured", "address": "192.168.1.50", "prefix": 24, "gateway": "192.168.1.1", "dns": ["192.168.1.1", "9.9.9.9"], "search": [], "server": null, "lease_secs": null, "lease_obtained": null, "lease_expires": null, "renewals": 0, "error": null},
    {"name": "eth2", "mac": "52:54:00:12:34:58", "link": false, "method": "dhcp", "state": "no-link", "address": null, "prefix": null, "gateway": null, "dns": [], "search": [], "server": null, "lease_secs": null, "lease_obtained": null, "lease_expires": null, "renewals": 0, "error": null}
  ]
}
"#;

/// An app that reads its network state from a fixture directory, at a fixed uptime.
fn net_app(net_json: &str) -> (App, mpsc::Receiver<Msg>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("net.json"), net_json).expect("write net.json");
    let (mut a, rx) = app();
    a.net_dir = Some(dir.path().to_path_buf());
    a.clock = Some(1000.0);
    (a, rx, dir)
}

/// Init's answer to the request in `dir`, as init writes it: the request taken away and
/// echoed in net.json with its result.
fn init_answers(dir: &std::path::Path, net_json: &str, result: &str, error: &str) -> String {
    let req = std::fs::read_to_string(dir.join(crate::net::REQUEST_FILE)).expect("a request");
    std::fs::remove_file(dir.join(crate::net::REQUEST_FILE)).expect("take the request");
    let id = req
        .lines()
        .find_map(|l| l.strip_prefix("id="))
        .expect("an id")
        .to_string();
    let answer = format!(
        r#""request": {{"id": "{id}", "net": "", "result": "{result}", "error": {}}},"#,
        if error.is_empty() {
            "null".to_string()
        } else {
            format!("{error:?}")
        }
    );
    std::fs::write(
        dir.join("net.json"),
        net_json.replacen(
            "\"uptime\": 1000.0,",
            &format!("\"uptime\": 1000.0, {answer}"),
            1,
        ),
    )
    .expect("write net.json");
    req
}

#[test]
fn network_screen_shows_each_interface_from_init() {
    let (mut a, _rx, _dir) = net_app(NET_FIXTURE);
    key(&mut a, KeyCode::Char('n'));
    assert!(matches!(a.screen, Screen::Network(_)));
    snap!("network", a);
    super::theme::set_ascii(true);
    snap!("ascii_network", a);
    super::theme::set_ascii(false);
    key(&mut a, KeyCode::Esc);
    assert!(matches!(a.screen, Screen::Home));
}

#[test]
fn network_screen_without_init_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut a, _rx) = app();
    a.net_dir = Some(dir.path().to_path_buf());
    key(&mut a, KeyCode::Char('n'));
    key(&mut a, KeyCode::Char('d'));
    let text = format!("{:?}", screen(&a).backend());
    assert!(text.contains("No network state from wraith-init"), "{text}");
    assert!(!dir.path().join(crate::net::REQUEST_FILE).exists());
}

#[test]
fn home_network_line_follows_init() {
    let (mut a, _rx, _dir) = net_app(NET_FIXTURE);
    a.machine.nets.clear();
    a.handle(Msg::Tick);
    let text = format!("{:?}", screen(&a).backend());
    assert!(
        text.contains("eth0       dhcp     52:54:00:12:34:56  10.0.2.15/24"),
        "{text}"
    );
    assert!(
        text.contains("eth2       no-link  52:54:00:12:34:58  no IPv4"),
        "{text}"
    );
}

#[test]
fn static_form_validates_and_writes_the_request_init_reads() {
    let (mut a, _rx, dir) = net_app(NET_FIXTURE);
    key(&mut a, KeyCode::Char('n'));
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Down); // eth2: no address yet, an empty form
    key(&mut a, KeyCode::Char('s'));
    let form_error = |a: &App| match &a.screen {
        Screen::Network(n) => n.form.as_ref().and_then(|f| f.error.clone()),
        _ => panic!("expected the network screen"),
    };
    let ctrl_u = |a: &mut App| {
        a.handle(Msg::Key(KeyEvent::new(
            KeyCode::Char('u'),
            KeyModifiers::CONTROL,
        )))
    };
    key(&mut a, KeyCode::Enter);
    assert_eq!(form_error(&a).map(|e| e.0), Some(0));
    for (address, gateway, dns, field, says) in [
        ("192.168.1.50", "", "", 0, "needs a /prefix"),
        (
            "192.168.1.500/24",
            "",
            "",
            0,
            "`192.168.1.500` is not an IPv4 address",
        ),
        ("192.168.1.50/33", "", "", 0, "prefix /33 must be 1 to 32"),
        ("192.168.1.0/24", "", "", 0, "network's own address"),
        ("192.168.1.50/24", "router", "", 1, "Gateway: `router`"),
        (
            "192.168.1.50/24",
            "192.168.2.1",
            "",
            1,
            "outside 192.168.1.0/24",
        ),
        (
            "192.168.1.50/24",
            "192.168.1.1",
            "1.1.1.1, dns.example",
            2,
            "DNS: `dns.example`",
        ),
    ] {
        for (k, v) in [address, gateway, dns].iter().enumerate() {
            if let Screen::Network(n) = &mut a.screen {
                n.form.as_mut().expect("the form").focus = k;
            }
            ctrl_u(&mut a);
            typed(&mut a, v);
        }
        key(&mut a, KeyCode::Enter);
        let (at, e) = form_error(&a).unwrap_or_else(|| panic!("{address} {gateway} {dns} passed"));
        assert_eq!(at, field, "{e}");
        assert!(e.contains(says), "{address} {gateway} {dns}: {e}");
        assert!(!dir.path().join(crate::net::REQUEST_FILE).exists());
    }
    snap!("network_form_error", a);

    // Fixed: the request file holds the grammar init reads, for this interface.
    ctrl_u(&mut a);
    typed(&mut a, "192.168.1.1,9.9.9.9");
    key(&mut a, KeyCode::Enter);
    let Screen::Network(n) = &a.screen else {
        panic!("expected the network screen")
    };
    assert!(n.form.is_none());
    assert!(n.pending.is_some());
    let req = init_answers(dir.path(), NET_FIXTURE, "applied", "");
    assert!(req.starts_with("id=tui-"), "{req}");
    assert!(
        req.ends_with(
            "\nnet=static:192.168.1.50/24,gw=192.168.1.1,dns=192.168.1.1,dns=9.9.9.9,if=eth2\n"
        ),
        "{req}"
    );
    a.handle(Msg::Tick);
    let msg = |a: &App| match &a.screen {
        Screen::Network(n) => n.message.clone().map(|m| m.1).unwrap_or_default(),
        _ => panic!("expected the network screen"),
    };
    assert!(msg(&a).starts_with(s::NET_APPLIED), "{}", msg(&a));
    // Init configures it: the screen says it is in place.
    let configured = NET_FIXTURE.replacen(
        r#""method": "dhcp", "state": "no-link", "address": null, "prefix": null"#,
        r#""method": "static", "state": "configured", "address": "192.168.1.50", "prefix": 24"#,
        1,
    );
    let answered = std::fs::read_to_string(dir.path().join("net.json")).expect("net.json");
    let request_line = answered
        .lines()
        .find(|l| l.contains("\"request\""))
        .expect("the answer")
        .to_string();
    std::fs::write(
        dir.path().join("net.json"),
        configured.replacen("  \"uptime\": 1000.0,", &request_line, 1),
    )
    .expect("write net.json");
    a.handle(Msg::Tick);
    assert!(msg(&a).starts_with(s::NET_IN_PLACE), "{}", msg(&a));

    // DHCP for eth1 in one key; a refusal is shown as init words it.
    key(&mut a, KeyCode::Up);
    key(&mut a, KeyCode::Char('d'));
    let req = init_answers(
        dir.path(),
        NET_FIXTURE,
        "refused",
        "there is no interface eth1",
    );
    assert!(req.ends_with("\nnet=dhcp,if=eth1\n"), "{req}");
    a.handle(Msg::Tick);
    assert!(
        msg(&a).contains("refused") && msg(&a).contains("there is no interface eth1"),
        "{}",
        msg(&a)
    );
}

#[test]
fn password_prompt_never_shows_what_is_typed() {
    let (mut a, _rx) = app();
    key(&mut a, KeyCode::Enter);
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Enter); // restore: the repository first
    key(&mut a, KeyCode::Char('t')); // type the location
    typed(&mut a, "smb://tech@nas.example/images/lab");
    key(&mut a, KeyCode::Enter);
    assert!(matches!(a.screen, Screen::Password(_)));
    snap!("password_prompt_empty", a);
    typed(&mut a, "Sup3r-s3cret");
    let shown = format!("{:?}", screen(&a).backend());
    assert!(
        !shown.contains("Sup3r") && !shown.contains("*****"),
        "{shown}"
    );
    snap!("password_prompt", a);
    // Esc: back to the URL, the password forgotten.
    key(&mut a, KeyCode::Esc);
    let Screen::RepoPath(i) = &a.screen else {
        panic!("expected the repository field")
    };
    assert_eq!(i.value, "smb://tech@nas.example/images/lab");
    assert!(a.flow.creds.password.is_none());
}

#[test]
fn a_url_waits_for_the_network_with_a_visible_state_and_cancel() {
    let (mut a, rx, dir) = net_app(r#"{"ready": false, "uptime": 5.0, "interfaces": []}"#);
    key(&mut a, KeyCode::Enter);
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Enter);
    key(&mut a, KeyCode::Char('t')); // type the location
    typed(&mut a, "http://tech@10.0.2.2:8080/images");
    key(&mut a, KeyCode::Enter);
    let Screen::WaitNet(w) = &mut a.screen else {
        panic!("expected the wait for the network")
    };
    w.waited = 3;
    let cancel = w.cancel.clone();
    snap!("waiting_for_network", a);
    key(&mut a, KeyCode::Esc);
    assert!(cancel.load(std::sync::atomic::Ordering::Relaxed));
    assert!(matches!(a.screen, Screen::RepoPath(_)));

    // Again, and the lease comes: on to the password.
    key(&mut a, KeyCode::Enter);
    assert!(matches!(a.screen, Screen::WaitNet(_)));
    std::fs::write(dir.path().join("net-ready"), "eth0 10.0.2.15/24\n").expect("marker");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while matches!(a.screen, Screen::WaitNet(_)) {
        assert!(std::time::Instant::now() < deadline, "the wait did not end");
        if let Ok(m) = rx.recv_timeout(Duration::from_millis(100)) {
            a.handle(m);
        }
    }
    assert!(matches!(a.screen, Screen::Password(_)), "{}", {
        no_popup(&a);
        "not the password prompt"
    });

    // No DHCP: n on the wait goes to the network screen, and back returns to the URL.
    std::fs::remove_file(dir.path().join("net-ready")).expect("unmark");
    key(&mut a, KeyCode::Esc);
    key(&mut a, KeyCode::Enter);
    let Screen::WaitNet(w) = &a.screen else {
        panic!("expected the wait for the network again")
    };
    let cancel = w.cancel.clone();
    key(&mut a, KeyCode::Char('n'));
    assert!(
        cancel.load(std::sync::atomic::Ordering::Relaxed),
        "the wait goes on"
    );
    assert!(matches!(a.screen, Screen::Network(_)));
    key(&mut a, KeyCode::Esc);
    let Screen::RepoPath(i) = &a.screen else {
        panic!("expected the repository field")
    };
    assert_eq!(i.value, "http://tech@10.0.2.2:8080/images");
}

/// Save to a WebDAV share behind a login (nginx on loopback), by keys: a wrong password
/// shows the engine's message and asks again; the right one saves. The password is in
/// none of the job's log, the screens or the summary.
#[test]
fn save_to_a_share_with_a_password_that_never_reaches_the_log() {
    const PASSWORD: &str = "h1dden-Pa55;word";
    let root = tempfile::tempdir().expect("tempdir");
    let nginx = wraith_testkit::servers::Nginx::start(root.path(), PASSWORD).expect("nginx starts");
    let url = nginx.url("auth", "lab").replacen(
        "http://",
        &format!("http://{}@", wraith_testkit::servers::Nginx::USER),
        1,
    );
    let src = wraith_testkit::raw_disk();
    let logs = tempfile::tempdir().expect("tempdir");
    let (tx, rx) = mpsc::channel();
    let mut m = fake_machine();
    m.disks = vec![info_for(&src, "Source")];
    m.boot.clear();
    let mut a = App::new(m, tx);
    a.log_dir = logs.path().to_path_buf();
    key(&mut a, KeyCode::Enter);
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Enter); // save
    key(&mut a, KeyCode::Enter); // the source disk
    settle(&mut a, &rx);
    no_popup(&a);
    key(&mut a, KeyCode::Char('t')); // type the location
    typed(&mut a, &url);
    key(&mut a, KeyCode::Enter);
    assert!(matches!(a.screen, Screen::Password(_)));
    typed(&mut a, "wrong-password");
    key(&mut a, KeyCode::Enter);
    until_idle(&mut a, &rx);
    no_popup(&a);
    let Screen::Password(p) = &a.screen else {
        panic!("a wrong password stays on the prompt")
    };
    let e = p.error.clone().expect("the engine's message");
    assert!(e.to_lowercase().contains("password"), "{e}");
    typed(&mut a, PASSWORD);
    key(&mut a, KeyCode::Enter);
    until_idle(&mut a, &rx);
    no_popup(&a);
    assert!(matches!(a.screen, Screen::Plan(_)));
    assert!(!format!("{:?}", screen(&a).backend()).contains(PASSWORD));
    key(&mut a, KeyCode::Enter);
    let mut seen = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !matches!(a.screen, Screen::Summary(_)) {
        assert!(std::time::Instant::now() < deadline, "job did not finish");
        if let Ok(msg) = rx.recv_timeout(Duration::from_millis(200)) {
            a.handle(msg);
            seen.push_str(&format!("{:?}", screen(&a).backend()));
        }
    }
    let Screen::Summary(sm) = &a.screen else {
        unreachable!()
    };
    assert_eq!(sm.result, super::summary::Outcome::Ok, "{:?}", sm.lines);
    let log_path = sm.log.clone().expect("a log file");
    let log = std::fs::read_to_string(&log_path).expect("read the log");
    assert!(log.contains("127.0.0.1"), "the log names the share:\n{log}");
    for (what, text) in [
        ("log", &log),
        ("screens", &seen),
        ("summary", &sm.lines.join("\n")),
    ] {
        assert!(!text.contains(PASSWORD), "the password is in the {what}");
        assert!(
            !text.contains("h1dden"),
            "part of the password is in the {what}"
        );
    }
    // And the image is really there, with its manifest written last.
    let images = std::fs::read_dir(root.path().join("lab/images"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert!(images > 0, "no image on the share");
}

/// On the live system the summary offers to copy the log: `l` lists the writable filesystems
/// (the USB stick first, never the job's own disks), Enter copies the log to
/// `wraith-logs/` there and the summary says where it went.
#[test]
fn the_log_can_be_saved_to_a_usb_stick_from_the_summary() {
    let (tx, rx) = mpsc::channel();
    let mut a = running_app_on(tx);
    a.offer_log_save = true;
    let mut usb = disk(
        "/dev/sdd",
        "Kingston DataTraveler",
        "E0D55EA5",
        32 * GB,
        "usb",
    );
    usb.removable = true;
    usb.partitions = vec![part("/dev/sdd1", 32 * GB, "vfat", "BACKUP")];
    let mut data = disk("/dev/sde", "Seagate ST2000", "Z4Z2", 2000 * GB, "sata");
    data.partitions = vec![part("/dev/sde1", 2000 * GB, "ext4", "archive")];
    a.machine.disks.insert(0, data);
    a.machine.disks.push(usb);
    // The stick is mounted (a directory stands in for it); the job cloned sda onto sdb.
    let stick = tempfile::tempdir().expect("tempdir");
    let info = tempfile::tempdir().expect("tempdir");
    let line = |point: &std::path::Path| {
        format!(
            "40 22 8:49 / {} rw,relatime - vfat /dev/sdd1 rw\n",
            point.display()
        )
    };
    a.mountinfo = info.path().join("mountinfo");
    std::fs::write(&a.mountinfo, line(std::path::Path::new("/media/usb"))).expect("mountinfo");
    if let Screen::Running(r) = &mut a.screen {
        r.disks = vec!["/dev/sda".into(), "/dev/sdb".into()];
    }
    a.handle(finished(clone_report(40 << 30)));
    let Screen::Summary(sm) = &a.screen else {
        panic!("expected the summary")
    };
    let log = sm.log.clone().expect("a log file");
    check_log(&mut a);
    snap!("summary_offers_to_save_the_log", a);

    key(&mut a, KeyCode::Char('l'));
    let Screen::SaveLog(p) = &a.screen else {
        panic!("expected the list of places for the log")
    };
    let devices: Vec<&str> = p.places.iter().map(|p| p.device.as_str()).collect();
    assert_eq!(devices, ["/dev/sdd1", "/dev/sde1"]);
    snap!("save_log_pick", a);
    // Esc: back to the summary, nothing saved.
    key(&mut a, KeyCode::Esc);
    assert!(matches!(&a.screen, Screen::Summary(sm) if sm.saved.is_none()));

    std::fs::write(&a.mountinfo, line(stick.path())).expect("mountinfo");
    if let Screen::Summary(sm) = &mut a.screen {
        sm.log = Ok(log.clone());
    }
    key(&mut a, KeyCode::Char('l'));
    key(&mut a, KeyCode::Enter);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !matches!(a.screen, Screen::Summary(_)) {
        assert!(std::time::Instant::now() < deadline, "the copy did not end");
        if let Ok(m) = rx.recv_timeout(Duration::from_millis(100)) {
            a.handle(m);
        }
    }
    let Screen::Summary(sm) = &a.screen else {
        unreachable!()
    };
    let copy = stick.path().join("wraith-logs").join("job.log");
    assert_eq!(
        sm.saved,
        Some(Ok(format!(
            "Log saved on /dev/sdd1 (BACKUP, Kingston DataTraveler E0D55EA5) as {}",
            copy.display()
        )))
    );
    let original = std::fs::read_to_string(&log).expect("read the log");
    assert_eq!(std::fs::read_to_string(&copy).expect("the copy"), original);
    assert!(original.contains("40.0 GiB copied"), "{original}");
}

/// Off the live system the summary stays as it was: no offer, and `l` does nothing.
#[test]
fn the_log_save_is_offered_only_where_the_log_would_be_lost() {
    let mut a = running_app();
    a.handle(Msg::Done(Outcome::Cancelled));
    key(&mut a, KeyCode::Char('l'));
    assert!(matches!(a.screen, Screen::Summary(_)));
}

/// A TCP proxy in front of a real server that can hold every request: while `stalled`, what
/// clients send is kept (counted in `held`) and not passed on, so the server never answers;
/// released, it all goes through. Connections kept alive by the HTTP client stall too.
struct StallingProxy {
    port: u16,
    stalled: std::sync::Arc<std::sync::atomic::AtomicBool>,
    held: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl StallingProxy {
    fn start(upstream: u16) -> StallingProxy {
        use std::io::{Read, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let stalled = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let held = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (st, hd) = (stalled.clone(), held.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let (Ok(mut from_server), Ok(mut to_client)) =
                    (server.try_clone(), client.try_clone())
                else {
                    continue;
                };
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from_server, &mut to_client);
                    let _ = to_client.shutdown(std::net::Shutdown::Write);
                });
                let (st, hd) = (st.clone(), hd.clone());
                let (mut from_client, mut to_server) = (client, server);
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match from_client.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if st.load(Ordering::SeqCst) {
                            hd.fetch_add(1, Ordering::SeqCst);
                            while st.load(Ordering::SeqCst) {
                                std::thread::sleep(Duration::from_millis(10));
                            }
                        }
                        if to_server.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to_server.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        StallingProxy {
            port,
            stalled,
            held,
        }
    }

    fn stall(&self, on: bool) {
        self.stalled.store(on, std::sync::atomic::Ordering::SeqCst);
    }

    fn held(&self) -> usize {
        self.held.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Preparing a restore from a server that stops answering: the engine's checks (the image's
/// manifest, every pack probed) wait on it on a worker, while the UI keeps drawing the
/// "Preparing" overlay with its clock, takes keys and hotplug, and Esc gives up at once; the
/// worker's answer, when the server comes back, changes nothing.
#[test]
fn preparing_from_a_server_that_stops_answering_never_blocks_the_ui() {
    let src = wraith_testkit::raw_disk();
    let dst = wraith_testkit::blank_disk(src.size);
    let root = tempfile::tempdir().expect("tempdir");
    let plan = wraith_engine::ops::prepare_save(&wraith_engine::ops::SaveChoice {
        source: src.path.clone(),
        repository: root.path().join("lab").display().to_string(),
        credentials: Default::default(),
        name: Some("pc".into()),
        verify: false,
        all_sectors: false,
        compression: None,
    })
    .expect("prepare the save");
    wraith_engine::ops::run(plan, &wraith_engine::events::Ctx::quiet()).expect("save");
    let nginx = wraith_testkit::servers::Nginx::start(root.path(), "unused").expect("nginx starts");
    let proxy = StallingProxy::start(nginx.daemon.port);
    let url = format!("http://127.0.0.1:{}/dav/lab", proxy.port);

    let (tx, rx) = mpsc::channel();
    let mut m = fake_machine();
    m.disks = vec![info_for(&dst, "Target")];
    m.boot.clear();
    let mut a = App::new(m.clone(), tx);
    key(&mut a, KeyCode::Enter);
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Enter); // restore: the repository first
    key(&mut a, KeyCode::Char('t')); // type the location
    typed(&mut a, &url);
    key(&mut a, KeyCode::Enter);
    until_idle(&mut a, &rx);
    no_popup(&a);
    assert!(matches!(a.screen, Screen::Images(_)), "no image list");
    key(&mut a, KeyCode::Enter); // the only image
    assert!(matches!(a.screen, Screen::PickDisk(_)), "no target list");

    proxy.stall(true);
    let before = proxy.held();
    key(&mut a, KeyCode::Enter); // the target: the engine's checks start
    let seq = a
        .preparing
        .as_ref()
        .map(|p| p.seq)
        .expect("preparing on a worker");
    assert!(matches!(a.screen, Screen::PickDisk(_)));
    // The worker is really stuck on the server: its request is held by the proxy.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while proxy.held() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker sent nothing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Meanwhile the loop goes on: the clock ticks on the overlay...
    if let Some(p) = &mut a.preparing {
        p.since -= Duration::from_secs(7);
    }
    a.handle(Msg::Tick);
    assert_eq!(a.preparing.as_ref().map(|p| p.waited), Some(7));
    let shown = format!("{:?}", screen(&a).backend());
    assert!(
        shown.contains(s::PREPARING_TITLE) && shown.contains("waiting 7 s"),
        "{shown}"
    );
    // ...keys are taken (Ctrl-L redraws; others wait for the answer)...
    a.handle(Msg::Key(KeyEvent::new(
        KeyCode::Char('l'),
        KeyModifiers::CONTROL,
    )));
    assert!(a.repaint);
    key(&mut a, KeyCode::Down);
    assert!(a.preparing.is_some());
    // ...and a disk plugged in meanwhile shows in the list under the overlay.
    let mut disks = m.disks.clone();
    disks.push(disk("/dev/sdd", "Kingston", "E0D5", 32 * GB, "usb"));
    a.handle(Msg::Disks(disks));
    let Screen::PickDisk(p) = &a.screen else {
        panic!("expected the target list")
    };
    assert_eq!(p.items.len(), 2);
    assert!(
        rx.try_recv().is_err(),
        "the worker answered while the server was held"
    );

    // Esc gives up at once, back on the target list.
    key(&mut a, KeyCode::Esc);
    assert!(a.preparing.is_none());
    assert!(matches!(a.screen, Screen::PickDisk(_)));
    assert!(a.popup.is_none());

    // The server answers again: the given-up worker's plan arrives late and is dropped.
    proxy.stall(false);
    let late = loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Msg::Prepared { seq: s, result }) => break (s, result),
            Ok(_) => continue,
            Err(e) => panic!("the worker never answered: {e}"),
        }
    };
    assert_eq!(late.0, seq);
    assert!(late.1.is_ok(), "the late plan failed: {:?}", late.1.err());
    a.handle(Msg::Prepared {
        seq: late.0,
        result: late.1,
    });
    assert!(
        matches!(a.screen, Screen::PickDisk(_)),
        "the late plan moved on"
    );
    assert!(a.flow.plan.is_none() && a.popup.is_none());
    // Nothing was written to the target meanwhile.
    assert!(std::fs::read(&dst.path)
        .expect("read target")
        .iter()
        .all(|b| *b == 0));
}

/// The "Preparing" overlay and the refusal popup as they look.
#[test]
fn preparing_overlay_and_refusal() {
    let (mut a, _rx) = app();
    a.flow.action = Some(super::menu::Action::Restore);
    let items = a.targets(10 * GB, None);
    a.screen = Screen::PickDisk(PickDisk::new(Role::Target, s::PICK_TARGET, items));
    a.preparing = Some(super::prepare::Preparing {
        seq: 1,
        what: "Restoring pc@20261122T053500-ab12 -> sdb".into(),
        since: std::time::Instant::now(),
        waited: 4,
    });
    snap!("preparing", a);
    a.preparing = None;
    a.popup = Some(super::app::Popup::Refused {
        interlock: wraith_engine::Interlock::TargetMounted,
        message: "target WDC WD10EZEX (WD-WCC6Y1, 931.3 GiB) is mounted at /media/data: \
                  unmount it first"
            .into(),
    });
    snap!("refused", a);
    key(&mut a, KeyCode::Char('x'));
    assert!(a.popup.is_none());
}

/// A refusal is the engine's: picking a symlink to the source as the clone's target (the list
/// cannot know it is the same file) shows the engine's words and rule, and writes nothing.
#[test]
fn a_clone_onto_the_source_by_another_path_is_refused_by_the_engine() {
    let src = wraith_testkit::raw_disk();
    let dir = tempfile::tempdir().expect("tempdir");
    let link = dir.path().join("link.img");
    std::os::unix::fs::symlink(&src.path, &link).expect("symlink");
    let before = std::fs::read(&src.path).expect("read");
    let (tx, rx) = mpsc::channel();
    let mut m = fake_machine();
    m.disks = vec![info_for(&src, "Source")];
    let mut l = m.disks[0].clone();
    l.path = link.display().to_string();
    m.disks.push(l);
    m.boot.clear();
    let mut a = App::new(m, tx);
    key(&mut a, KeyCode::Enter);
    key(&mut a, KeyCode::Enter); // clone
    key(&mut a, KeyCode::Enter); // the source
    until_idle(&mut a, &rx);
    key(&mut a, KeyCode::Enter); // the link, the only choosable target
    until_idle(&mut a, &rx);
    let Some(super::app::Popup::Refused { interlock, message }) = &a.popup else {
        panic!("not refused")
    };
    assert_eq!(*interlock, wraith_engine::Interlock::SameDisk);
    let engine = wraith_engine::ops::prepare_clone(&wraith_engine::ops::CloneChoice {
        source: src.path.clone(),
        target: link.clone(),
        verify: true,
        layout: Default::default(),
        accept_failing_target: false,
    })
    .err()
    .map(|e| e.to_string());
    assert_eq!(engine, Some(format!("refused: {message}")));
    assert!(matches!(a.screen, Screen::PickDisk(_)));
    assert!(std::fs::read(&src.path).expect("read") == before);
}

/// The repository field reads `REPO:NAME` as the CLI does: a bad name after ':' is an error
/// naming the rule, and nothing is opened or created under a directory named so.
#[test]
fn a_bad_image_name_in_the_repository_field_is_an_error_not_a_directory() {
    let (mut a, _rx) = app();
    key(&mut a, KeyCode::Enter);
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Enter);
    key(&mut a, KeyCode::Char('t')); // type the location
    typed(&mut a, "r:../../evil");
    key(&mut a, KeyCode::Enter);
    assert!(a.opening.is_none(), "something was opened");
    assert!(matches!(a.screen, Screen::RepoPath(_)));
    match &a.popup {
        Some(super::app::Popup::Error(e)) => {
            assert!(e.message.contains("not an image name"), "{e}");
            assert!(e.message.contains("trailing '/'"), "{e}");
        }
        _ => panic!("no error popup"),
    }
}

/// A restore onto a disk larger than the image's: the plan shows the new layout, partition by
/// partition, in place of the "fits" line.
#[test]
fn restore_plan_onto_a_larger_disk_shows_the_new_layout() {
    use wraith_engine::pipeline::reshape::{How, Reshape, Step};
    let (image, m) = saved_image();
    let t = fake_machine().disks[1].clone();
    let last = m.table.partitions.iter().map(|p| p.number).max();
    let steps = m
        .table
        .partitions
        .iter()
        .map(|p| {
            let grows = Some(p.number) == last;
            let used = m
                .regions
                .iter()
                .find(|r| {
                    r.region.kind == wraith_engine::plan::RegionKind::Partition { number: p.number }
                })
                .map_or(p.len, |r| r.region.used.total());
            Step {
                number: p.number,
                old_start: p.start,
                old_len: p.len,
                new_start: p.start,
                new_len: if grows {
                    (t.size - p.start - (1 << 20)) >> 20 << 20
                } else {
                    p.len
                },
                used,
                tool: grows.then(|| "ntfsresize".into()),
                how: if grows { How::Grow } else { How::Copy },
            }
        })
        .collect();
    let sm = wraith_engine::ops::Summary {
        action: wraith_engine::job::Action::Restore,
        source: None,
        target: Some(identity(&t)),
        repository: Some("/mnt/usb/images".into()),
        image: Some(image.clone()),
        name: Some(image.name.clone()),
        layout: Some(wraith_engine::ops::image_layout(&m)),
        reshape: Some(Reshape {
            policy: "grow".into(),
            steps,
            scratch_bytes: 0,
        }),
        min_target_size: wraith_engine::ops::restore_needs(&m),
        bytes: m.stats.image_bytes,
        source_mounts: Vec::new(),
        warnings: Vec::new(),
        verify: true,
        target_created: false,
        source_health: None,
        target_health: None,
        hostname: None,
        zstd_level: None,
    };
    let lines = plan::summary_lines(&sm, None, None, Some(&t), Some(&m));
    let text: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    assert!(
        text.iter().any(|l| l.starts_with("layout grow")),
        "{text:#?}"
    );
    assert!(
        text.iter().any(|l| l.contains("grown by ntfsresize")),
        "{text:#?}"
    );
    assert!(
        !text.iter().any(|l| l.starts_with(s::PLAN_FITS)),
        "{text:#?}"
    );
    let (mut a, _rx) = app();
    a.flow.action = Some(super::menu::Action::Restore);
    a.screen = Screen::Plan(PlanScreen::new(lines, Some("sdb".into()), Some(true)));
    snap!("plan_restore_grown", a);

    // The same plan onto a drive that reports itself failing: the health line in red, and
    // the name alone does not start it; the name and "failing" do.
    let mut sm = sm;
    sm.target_health = Some(wraith_engine::health::nvme_health(&{
        let mut page = vec![0u8; 512];
        page[0] = 0x04;
        page
    }));
    let lines = plan::summary_lines(&sm, None, None, Some(&t), Some(&m));
    let health = lines
        .iter()
        .find(|(_, l)| l.starts_with("health target"))
        .unwrap_or_else(|| panic!("no target health line: {lines:#?}"));
    assert_eq!(health.0, plan::Tone::Danger, "{health:?}");
    assert!(
        health
            .1
            .contains("FAILING: critical warning: reliability degraded"),
        "{health:?}"
    );
    let confirm = plan::confirm_text(&sm).expect("a destructive plan is confirmed");
    assert!(confirm.ends_with(" failing"), "{confirm}");
    let mut p = PlanScreen::new(lines, Some(confirm.clone()), Some(true));
    let name = confirm.trim_end_matches(" failing").to_string();
    for c in name.chars() {
        p.key(&KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    assert_eq!(
        p.key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
        plan::PlanKey::None
    );
    for c in " failing".chars() {
        p.key(&KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    assert_eq!(
        p.key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
        plan::PlanKey::Start { verify: true }
    );
}

//! The repository list: found, looking, nothing found, a filesystem that could not be looked
//! at, a save's "new repository on", known shares and forgetting one; hotplug and stale looks;
//! and a restore from a found repository by keys, counted.

use super::super::app::{App, Msg, Popup, Screen};
use super::super::menu::Action;
use super::super::pick_disk::Role;
use super::super::reading::Source;
use super::super::repos::Entry;
use super::super::strings as s;
use super::fixtures::*;
use super::{no_popup, until_summary};
use crossterm::event::KeyCode;
use std::sync::mpsc;
use wraith_engine::ops::known;
use wraith_engine::repo::Password;

macro_rules! snap {
    ($name:expr, $app:expr) => {
        insta::assert_snapshot!($name, screen(&$app).backend())
    };
}

/// 2026-11-22 10:15:00 UTC.
const NOV22: u64 = 1_795_342_500;

fn usb_images() -> wraith_engine::ops::discover::Place {
    place(
        "/dev/sdd1",
        Some("IMAGES"),
        "usb",
        "SanDisk Extreme",
        "exfat",
        64 * GB,
        31 * GB,
        vec![found_repo(
            "lab",
            "label:IMAGES/lab",
            4,
            "Samsung_SSD_860-S3Z9NB0K",
            NOV22,
        )],
    )
}

/// The internal NTFS data partition, left dirty by Windows' fast startup: no read-only mount.
fn dirty_ntfs() -> wraith_engine::ops::discover::Place {
    let mut p = place(
        "/dev/sdb1",
        Some("DATA"),
        "sata",
        "WDC WD10EZEX",
        "ntfs",
        0,
        0,
        Vec::new(),
    );
    p.error = Some("could not mount /dev/sdb1 (ntfs3) read-only: EINVAL: Invalid argument".into());
    p.writable = false;
    p
}

fn root_fs() -> wraith_engine::ops::discover::Place {
    place(
        "/dev/sda2",
        Some("root"),
        "sata",
        "Samsung SSD 860",
        "ext4",
        400 * GB,
        120 * GB,
        Vec::new(),
    )
}

/// An empty USB drive with room for a save.
fn backup_drive() -> wraith_engine::ops::discover::Place {
    place(
        "/dev/sde1",
        Some("BACKUP"),
        "usb",
        "WD Elements",
        "ntfs",
        2000 * GB,
        1500 * GB,
        Vec::new(),
    )
}

fn app_with(f: super::super::repos::Finder) -> (App, mpsc::Receiver<Msg>) {
    let (mut a, rx) = app();
    a.finder = f;
    (a, rx)
}

fn text(a: &App) -> String {
    format!("{:?}", screen(a).backend())
}

/// The list shows at once while the look runs on its worker, counting what it looks at: the
/// fake machine's four filesystems and its whole-disk NVMe, not the boot stick's ISO.
#[test]
fn the_list_shows_at_once_while_it_looks() {
    let (mut a, rx) = app();
    key(&mut a, KeyCode::Char('r'));
    let Screen::Repos(l) = &a.screen else {
        panic!("expected the repository list")
    };
    assert_eq!(l.looking, Some(4));
    assert!(a.finding.is_some());
    snap!("repos_looking", a);
    looked(&mut a, &rx);
    let Screen::Repos(l) = &a.screen else {
        panic!("expected the repository list")
    };
    assert!(l.looking.is_none() && l.looked);
}

/// One USB drive with images: preselected, Enter takes it. The dirty NTFS partition shows as
/// one dim line with the reason.
#[test]
fn one_found_repository_is_preselected() {
    let (mut a, rx) = app_with(finder(
        vec![root_fs(), dirty_ntfs(), usb_images()],
        "",
        None,
    ));
    key(&mut a, KeyCode::Char('r'));
    looked(&mut a, &rx);
    let Screen::Repos(l) = &a.screen else {
        panic!("expected the repository list")
    };
    assert_eq!(l.entries[l.sel], Entry::Found { place: 2, repo: 0 });
    snap!("repos_found", a);
}

/// Nothing found: said plainly, with the next step; typing is what Enter offers.
#[test]
fn nothing_found_says_what_to_do() {
    let (mut a, rx) = app_with(finder(vec![root_fs(), dirty_ntfs()], "", None));
    key(&mut a, KeyCode::Char('r'));
    looked(&mut a, &rx);
    let Screen::Repos(l) = &a.screen else {
        panic!("expected the repository list")
    };
    assert_eq!(l.entries, vec![Entry::Type]);
    snap!("repos_none", a);
    key(&mut a, KeyCode::Enter);
    assert!(matches!(a.screen, Screen::RepoPath(_)));
    // Esc from typing: back to the list as it was, without looking again.
    key(&mut a, KeyCode::Esc);
    assert!(matches!(a.screen, Screen::Repos(_)));
    assert!(a.finding.is_none());
}

/// A save offers a new repository on each drive with room for the source's data, after the
/// repositories found (an existing one stores only new chunks).
#[test]
fn a_save_offers_new_repositories_on_drives_with_room() {
    let mut esp = place(
        "/dev/sdd2",
        Some("TINY"),
        "usb",
        "SanDisk Extreme",
        "vfat",
        GB / 10,
        1024,
        Vec::new(),
    );
    esp.spec = "label:TINY".into();
    let big = backup_drive();
    let (mut a, rx) = app_with(finder(vec![usb_images(), esp, big], "", None));
    let (_d, plan) = raw_plan();
    a.flow.action = Some(Action::Save);
    a.flow.source = Some(Source {
        disk: fake_machine().disks[0].clone(),
        plan,
    });
    a.choose_repo();
    looked(&mut a, &rx);
    let Screen::Repos(l) = &a.screen else {
        panic!("expected the repository list")
    };
    assert_eq!(
        l.entries,
        vec![
            Entry::Found { place: 0, repo: 0 },
            Entry::New(2),
            Entry::New(0),
            Entry::Type
        ]
    );
    snap!("repos_save_new", a);
}

/// The stick's list as a technician or an admin left it: a named share with its password kept,
/// another without; and one share named on the boot line.
fn stick_with_shares() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join(known::LIST_FILE),
        "[[repository]]\nat = \"http://tech@10.0.2.2:8080/images\"\nname = \"Lab server\"\n\n\
         [[repository]]\nat = \"nfs://10.0.2.5/export/images\"\n",
    )
    .expect("write the list");
    known::remember(
        dir.path(),
        "http://tech@10.0.2.2:8080/images",
        Some(&Password::new("kept-secret")),
    )
    .expect("keep a password");
    dir
}

/// Known shares follow what was found: the boot line's first, then the stick's, each saying
/// where it comes from and whether its password is kept. `d` forgets a remembered one after a
/// y/n; one from the boot line cannot be.
#[test]
fn known_shares_are_listed_and_a_remembered_one_can_be_forgotten() {
    let stick = stick_with_shares();
    let (mut a, rx) = app_with(finder(
        vec![usb_images()],
        "quiet wraith.repo=smb://tech@nas.example/images/lab",
        Some(stick.path().to_path_buf()),
    ));
    key(&mut a, KeyCode::Char('r'));
    looked(&mut a, &rx);
    assert!(a.stick.is_some(), "the list's directory is kept");
    snap!("repos_known", a);
    assert!(!text(&a).contains("kept-secret"));

    key(&mut a, KeyCode::Down); // the boot line's share
    key(&mut a, KeyCode::Char('d'));
    assert!(text(&a).contains(s::REPOS_CANNOT_FORGET));
    key(&mut a, KeyCode::Down); // the lab server, remembered
    key(&mut a, KeyCode::Char('d'));
    snap!("repos_forget_ask", a);
    key(&mut a, KeyCode::Char('n'));
    let Screen::Repos(l) = &a.screen else {
        panic!("expected the repository list")
    };
    assert!(l.forget.is_none());
    assert_eq!(l.known.len(), 3);
    key(&mut a, KeyCode::Char('d'));
    key(&mut a, KeyCode::Char('y'));
    wait_note(&mut a, &rx);
    let Screen::Repos(l) = &a.screen else {
        panic!("expected the repository list")
    };
    let left: Vec<&str> = l.known.iter().map(|k| k.at.as_str()).collect();
    assert_eq!(
        left,
        [
            "smb://tech@nas.example/images/lab",
            "nfs://10.0.2.5/export/images"
        ]
    );
    let list = std::fs::read_to_string(stick.path().join(known::LIST_FILE)).expect("list");
    assert!(!list.contains("10.0.2.2"), "{list}");
    let kept = std::fs::read_to_string(stick.path().join(known::PASSWORDS_FILE)).expect("pw");
    assert!(!kept.contains("kept-secret"), "{kept}");
    assert!(text(&a).contains("Forgot http://tech@10.0.2.2:8080/images"));
}

/// A USB drive plugged in while the list shows is looked at without a key, and preselected;
/// the same disks sent again (the hotplug poll does every two seconds) look at nothing.
#[test]
fn a_drive_plugged_in_while_the_list_shows_appears() {
    let (mut a, rx) = app_with(finder(vec![root_fs()], "", None));
    key(&mut a, KeyCode::Char('r'));
    looked(&mut a, &rx);
    a.handle(Msg::Disks(fake_machine().disks));
    assert!(a.finding.is_none(), "the same disks started a look");

    a.finder = finder(vec![root_fs(), usb_images()], "", None);
    let mut disks = fake_machine().disks;
    let mut usb = disk("/dev/sdd", "SanDisk Extreme", "AA01", 64 * GB, "usb");
    usb.partitions = vec![part("/dev/sdd1", 64 * GB, "exfat", "IMAGES")];
    disks.push(usb);
    a.handle(Msg::Disks(disks));
    assert!(a.finding.is_some(), "hotplug did not look again");
    looked(&mut a, &rx);
    let Screen::Repos(l) = &a.screen else {
        panic!("expected the repository list")
    };
    assert_eq!(l.entries[l.sel], Entry::Found { place: 1, repo: 0 });
}

/// A look asked for while one runs waits for it, and that stale answer is dropped: only one
/// look mounts at a time, and the list shows the disks as they are now.
#[test]
fn a_stale_look_is_dropped_and_the_next_one_runs_after_it() {
    let (mut a, rx) = app_with(finder(vec![root_fs()], "", None));
    key(&mut a, KeyCode::Char('r'));
    let first = a.finding.as_ref().map(|f| f.seq).expect("a look");
    a.finder = finder(vec![usb_images()], "", None);
    key(&mut a, KeyCode::Char('r')); // look again, while the first runs
    assert_eq!(
        a.finding.as_ref().map(|f| (f.seq, f.again)),
        Some((first, true))
    );
    looked(&mut a, &rx);
    let Screen::Repos(l) = &a.screen else {
        panic!("expected the repository list")
    };
    assert_eq!(l.places.len(), 1);
    assert_eq!(
        l.places[0].device, "/dev/sdd1",
        "the stale answer was shown"
    );
}

/// A repository on a drive that is gone by the time it is opened: what failed, where, and
/// what to do, with `t` to type another location.
#[test]
fn a_found_drive_that_is_gone_says_what_to_do() {
    let mut gone = usb_images();
    gone.repositories[0].at = "label:GONE/lab".into();
    let (mut a, _rx) = restore_first_found(finder(vec![gone], "", None));
    let Some(Popup::Error(e)) = &a.popup else {
        panic!("no error popup")
    };
    assert!(e.failed.contains("label:GONE/lab"), "{e}");
    assert!(e.message.contains("GONE"), "{e}");
    assert!(e.next.starts_with("Plug in the drive"), "{e}");
    snap!("error_drive_gone", a);
    key(&mut a, KeyCode::Char('t'));
    let Screen::RepoPath(i) = &a.screen else {
        panic!("t did not open the field")
    };
    assert_eq!(i.value, "label:GONE/lab");
}

/// A repository saved from this machine's disk (serial S3Z9NB0K) and, later, one from another
/// machine's disk, on a "drive" the discovery stub finds.
fn lab_repository(src: &wraith_testkit::Disk) -> tempfile::TempDir {
    use wraith_engine::device::Device;
    use wraith_engine::events::{Cancel, Ctx, Quiet};
    use wraith_engine::pipeline::save::{save, SaveOptions};
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = wraith_engine::repo::Repository::open_or_create(&dir.path().join("lab"))
        .expect("repository");
    let dev = Device::open_read(&src.path).expect("open the source");
    let cancel = Cancel::new();
    let ctx = Ctx::new(&Quiet, &cancel, 2);
    for (model, serial, name) in [
        ("Samsung SSD 860", "S3Z9NB0K", "this-pc"),
        ("Crucial MX500", "FOREIGN9", "other-pc"),
    ] {
        let mut id = dev.identity.clone();
        id.model = Some(model.into());
        id.serial = Some(serial.into());
        let p = wraith_engine::plan::plan(&dev, id).expect("plan");
        let opts = SaveOptions {
            name: name.into(),
            machine: None,
            all_sectors: false,
            zstd_level: None,
        };
        save(&dev, &p, &repo, &opts, &ctx).expect("save");
        // Ids are times to the millisecond: the second image is the newer one.
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    dir
}

/// The field case, counted: Home, `r`, the drive found and preselected, this machine's image
/// preselected (not the newest in the repository), its disk preselected as the target, the
/// target's name typed; the restore runs and the disk holds the image. At most 8 keys before
/// the typed confirmation.
#[test]
fn a_found_repository_restores_this_machines_image_in_a_few_keys() {
    let src = wraith_testkit::raw_disk();
    let dst = wraith_testkit::blank_disk(src.size);
    let lab = lab_repository(&src);
    let at = lab.path().join("lab").display().to_string();
    let mut stick = place(
        "/dev/sdz1",
        Some("IMAGES"),
        "usb",
        "SanDisk Extreme",
        "exfat",
        64 * GB,
        31 * GB,
        vec![found_repo("lab", &at, 2, "other-pc", NOV22)],
    );
    stick.disk = "/dev/sdz".into();
    let mut m = fake_machine();
    let mut other = disk(
        &src.path.display().to_string(),
        "Crucial MX500",
        "OTHER123",
        src.size,
        "sata",
    );
    other.partitions.clear();
    let this = disk(
        &dst.path.display().to_string(),
        "Samsung SSD 860",
        "S3Z9NB0K",
        dst.size,
        "sata",
    );
    m.disks = vec![other, this];
    m.boot.clear();
    let (tx, rx) = mpsc::channel();
    let mut a = App::new(m, tx);
    a.finder = finder(vec![stick], "", None);

    let mut keys = 0;
    let mut press = |a: &mut App, code: KeyCode| {
        keys += 1;
        key(a, code);
    };
    press(&mut a, KeyCode::Char('r'));
    // Enter at once, before the look has answered: taken when it does.
    press(&mut a, KeyCode::Enter);
    pump(&mut a, &rx);
    no_popup(&a);
    let Screen::Images(l) = &a.screen else {
        panic!("expected the image list")
    };
    assert_eq!(l.rows.len(), 2);
    assert_eq!(l.rows[l.sel].image.name, "this-pc");
    assert_eq!(
        l.why.as_deref(),
        Some("preselected: saved from this disk, S3Z9NB0K")
    );
    press(&mut a, KeyCode::Enter);
    let Screen::PickDisk(p) = &a.screen else {
        panic!("expected the target list")
    };
    assert_eq!(p.role, Role::Target);
    assert_eq!(p.items[p.sel].disk.serial.as_deref(), Some("S3Z9NB0K"));
    press(&mut a, KeyCode::Enter);
    pump(&mut a, &rx);
    no_popup(&a);
    let Screen::Plan(pl) = &a.screen else {
        panic!("expected the plan")
    };
    let name = pl.confirm.clone().expect("a name to type");
    assert!(keys <= 8, "{keys} keys before the confirmation");
    assert_eq!(keys, 4);
    typed(&mut a, &name);
    key(&mut a, KeyCode::Enter);
    assert!(matches!(a.screen, Screen::Running(_)));
    let lines = until_summary(&mut a, &rx);
    assert!(
        lines.iter().any(|l| l.starts_with("verified the target")),
        "{lines:?}"
    );
    let a_bytes = std::fs::read(&src.path).expect("read source");
    let b_bytes = std::fs::read(&dst.path).expect("read target");
    assert!(a_bytes == b_bytes, "restored disk differs from the source");
}

/// A cursor the technician moved stays on its entry when a new look fills the list, even
/// when drives went away meanwhile; one never moved follows the first found.
#[test]
fn a_refill_keeps_a_moved_cursor_and_survives_drives_leaving() {
    use super::super::repos::RepoList;
    let mut l = RepoList::new(Action::Restore, None);
    let mut second = usb_images();
    second.device = "/dev/sde1".into();
    second.repositories[0].at = "label:MORE/lab".into();
    l.fill(
        vec![root_fs(), usb_images(), second.clone()],
        Vec::new(),
        Vec::new(),
    );
    assert_eq!(l.entries[l.sel], Entry::Found { place: 1, repo: 0 });
    key_on(&mut l, KeyCode::Down);
    assert_eq!(l.entries[l.sel], Entry::Found { place: 2, repo: 0 });
    // The first drive is pulled: the cursor stays on the second, now at another index.
    l.fill(vec![second], Vec::new(), Vec::new());
    assert_eq!(l.entries[l.sel], Entry::Found { place: 0, repo: 0 });
    key_on(&mut l, KeyCode::Down);
    assert_eq!(l.entries[l.sel], Entry::Type);
    // Everything leaves: no panic, the cursor on what is left.
    l.fill(Vec::new(), Vec::new(), Vec::new());
    assert_eq!(l.entries, vec![Entry::Type]);
    assert_eq!(l.sel, 0);
}

fn key_on(l: &mut super::super::repos::RepoList, code: KeyCode) {
    let _ = l.key(&crossterm::event::KeyEvent::new(
        code,
        crossterm::event::KeyModifiers::NONE,
    ));
}

/// A save by keys into a new repository on the drive the list offers (a directory stands in
/// for the drive's root): `s`, the disk, the drive, Enter on the plan; the repository is made
/// there and holds the image.
#[test]
fn a_save_goes_into_a_new_repository_on_a_drive_with_room() {
    let src = wraith_testkit::raw_disk();
    let drive = tempfile::tempdir().expect("tempdir");
    let mut usb = backup_drive();
    usb.spec = drive.path().display().to_string();
    let mut m = fake_machine();
    m.disks = vec![disk(
        &src.path.display().to_string(),
        "Samsung SSD 860",
        "S3Z9NB0K",
        src.size,
        "sata",
    )];
    m.boot.clear();
    let (tx, rx) = mpsc::channel();
    let mut a = App::new(m, tx);
    a.finder = finder(vec![usb], "", None);
    key(&mut a, KeyCode::Char('s'));
    key(&mut a, KeyCode::Enter); // the only disk
    super::settle(&mut a, &rx);
    looked(&mut a, &rx);
    let Screen::Repos(l) = &a.screen else {
        panic!("expected the repository list")
    };
    assert_eq!(l.entries[l.sel], Entry::New(0));
    key(&mut a, KeyCode::Enter);
    pump(&mut a, &rx);
    no_popup(&a);
    let Screen::Plan(p) = &a.screen else {
        panic!("expected the plan")
    };
    assert!(
        p.confirm.is_none(),
        "a save destroys nothing: no name to type"
    );
    key(&mut a, KeyCode::Enter);
    let lines = until_summary(&mut a, &rx);
    assert!(
        lines.iter().any(|l| l.contains("Samsung_SSD_860-S3Z9NB0K")),
        "{lines:?}"
    );
    let images = drive.path().join("wraith-images/images");
    assert_eq!(
        std::fs::read_dir(&images).map(|d| d.count()).unwrap_or(0),
        1,
        "no image in {}",
        images.display()
    );
}

/// A drive typed by its label is looked for as such (not read as REPO:NAME), and one that is
/// not plugged in says so with what to do.
#[test]
fn a_typed_label_is_a_drive_to_look_for() {
    let (mut a, rx) = app();
    a.machine.disks.clear(); // no real disk probed for the label
    key(&mut a, KeyCode::Char('r'));
    key(&mut a, KeyCode::Char('t'));
    typed(&mut a, "label:NOPE/lab");
    key(&mut a, KeyCode::Enter);
    pump(&mut a, &rx);
    let Some(Popup::Error(e)) = &a.popup else {
        panic!("no error popup")
    };
    assert!(e.message.contains("\"NOPE\""), "{e}");
    assert!(e.next.starts_with("Plug in the drive"), "{e}");
}

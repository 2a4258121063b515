//! The right image and target by default: the image list grouped by machine, starting on this
//! machine's newest image (by its disk's serial, else the machine's firmware identity, else the
//! disk model), and the target list on the disk that image came from.

use super::super::app::{ChosenImage, Screen};
use super::super::menu::Action;
use super::super::preselect;
use super::super::repo::{ImageList, ImageRow};
use super::fixtures::*;
use crossterm::event::KeyCode;
use wraith_engine::machine::MachineIdentity;
use wraith_engine::repo::manifest::Manifest;
use wraith_engine::repo::{timestamp_text, ImageRef};

macro_rules! snap {
    ($name:expr, $app:expr) => {
        insta::assert_snapshot!($name, screen(&$app).backend())
    };
}

const DAY: u64 = 86_400;
/// 2026-11-22 10:15:00 UTC.
const NOV22: u64 = 1_795_342_500;

fn lenovo() -> MachineIdentity {
    MachineIdentity {
        vendor: Some("LENOVO".into()),
        product: Some("20L8S02D00".into()),
        serial: Some("PF1ABCDE".into()),
    }
}

fn dell() -> MachineIdentity {
    MachineIdentity {
        vendor: Some("Dell Inc.".into()),
        product: Some("OptiPlex 7060".into()),
        serial: Some("8XK2Q63".into()),
    }
}

/// An image of `base` (a real manifest) as saved from the disk `model`/`serial` of `machine`.
fn row(
    base: &Manifest,
    name: &str,
    model: &str,
    serial: &str,
    machine: Option<MachineIdentity>,
    created: u64,
    added: u64,
) -> ImageRow {
    let mut m = base.clone();
    m.source.model = Some(model.into());
    m.source.serial = Some(serial.into());
    m.source.size = 500_107_862_016;
    m.machine = machine;
    m.created = created;
    m.stats.image_bytes = 42 * GB;
    m.stats.new_stored_bytes = added;
    ImageRow {
        image: ImageRef {
            name: name.into(),
            id: format!("{}-ab12", created),
        },
        saved: timestamp_text(created),
        created,
        source: m.source.describe(),
        group: preselect::group(&m),
        size: m.stats.image_bytes,
        added,
        manifest: Some(m),
    }
}

/// A lab repository: this Lenovo's disk saved twice, a Dell saved since, and an old image
/// from before machines were recorded.
fn lab_rows() -> Vec<ImageRow> {
    let (_, base) = super::saved_image();
    let mut rows = vec![
        row(
            &base,
            "lab-pc-07",
            "KINGSTON SA400",
            "50026B99",
            Some(dell()),
            NOV22 + DAY,
            3 * GB,
        ),
        row(
            &base,
            "Samsung_SSD_860-S3Z9NB0K",
            "Samsung SSD 860",
            "S3Z9NB0K",
            Some(lenovo()),
            NOV22 - 21 * DAY,
            30 * GB,
        ),
        row(
            &base,
            "Samsung_SSD_860-S3Z9NB0K",
            "Samsung SSD 860",
            "S3Z9NB0K",
            Some(lenovo()),
            NOV22,
            2 * GB,
        ),
        row(
            &base,
            "old-pc",
            "Samsung SSD 850",
            "S21NX0AG",
            None,
            NOV22 - 300 * DAY,
            25 * GB,
        ),
    ];
    preselect::sort(&mut rows);
    rows
}

#[test]
fn this_machines_newest_image_is_preselected_and_its_disk_is_the_target() {
    let rows = lab_rows();
    let (mut a, _rx) = app();
    a.this_machine = Some(lenovo());
    let m = fake_machine();
    let disks: Vec<_> = m.disks.iter().filter(|d| !m.is_boot(d)).collect();
    let (sel, why) =
        preselect::image(&rows, &disks, a.this_machine.as_ref()).expect("a preselected image");
    assert_eq!(rows[sel].created, NOV22);
    assert_eq!(why, "preselected: saved from this disk, S3Z9NB0K");
    a.flow.action = Some(Action::Restore);
    a.screen = Screen::Images(ImageList {
        location: "label:IMAGES/lab (USB SanDisk Extreme, /dev/sdd1)".into(),
        rows: rows.clone(),
        sel,
        why: Some(why),
    });
    snap!("images_preselected", a);

    // Enter: the target list starts on the disk it was saved from (not the first disk).
    key(&mut a, KeyCode::Enter);
    let Screen::PickDisk(p) = &a.screen else {
        panic!("expected the target list")
    };
    assert_eq!(p.items[p.sel].disk.path, "/dev/sda");
    assert_eq!(
        p.why.as_deref(),
        Some("preselected: the disk this image was saved from, S3Z9NB0K")
    );
    snap!("target_preselected", a);
    // Esc: back to the list as it was.
    key(&mut a, KeyCode::Esc);
    let Screen::Images(l) = &a.screen else {
        panic!("expected the image list")
    };
    assert_eq!(l.sel, sel);
}

/// The disk was replaced since (another serial): the machine's firmware identity still finds
/// its image; another machine of the same model does not.
#[test]
fn a_replaced_disk_still_finds_the_machines_image() {
    let rows = lab_rows();
    let new_disk = disk("/dev/sda", "Samsung SSD 990", "NEW00001", 1000 * GB, "nvme");
    let disks = vec![&new_disk];
    let (sel, why) = preselect::image(&rows, &disks, Some(&lenovo())).expect("by machine");
    assert_eq!(rows[sel].created, NOV22);
    assert_eq!(
        why,
        "preselected: saved on this machine, LENOVO 20L8S02D00 (PF1ABCDE)"
    );
    let mut twin = lenovo();
    twin.serial = Some("PF9ZZZZZ".into());
    assert!(preselect::image(&rows, &disks, Some(&twin)).is_none());
    // Same model of disk, another machine: the model match, newest of them.
    let same_model = disk("/dev/sda", "Samsung SSD 850", "OTHER", 500 * GB, "sata");
    let (sel, why) = preselect::image(&rows, &[&same_model], None).expect("by model");
    assert_eq!(rows[sel].image.name, "old-pc");
    assert!(why.contains("same model, Samsung SSD 850"), "{why}");
}

/// No image matches: the list says so and starts at the top.
#[test]
fn no_match_says_so() {
    let rows = lab_rows();
    let stranger = disk("/dev/sda", "Toshiba", "T0001", 500 * GB, "sata");
    assert!(preselect::image(&rows, &[&stranger], None).is_none());
}

/// The target: the disk the image came from; else the same model; else the only disk it fits.
#[test]
fn the_target_is_the_disk_the_image_came_from() {
    let (_, base) = super::saved_image();
    let (mut a, _rx) = app();
    a.flow.action = Some(Action::Restore);
    let mut m = base.clone();
    m.source.serial = Some("WD-WCC6Y1".into());
    a.flow.image = Some(ChosenImage {
        image: ImageRef {
            name: "x".into(),
            id: "1".into(),
        },
        manifest: m.clone(),
    });
    a.pick_target();
    let Screen::PickDisk(p) = &a.screen else {
        panic!("expected the target list")
    };
    assert_eq!(p.items[p.sel].disk.path, "/dev/sdb");
    // A disk of the same model, another serial.
    m.source.serial = Some("GONE".into());
    m.source.model = Some("KINGSTON SA400".into());
    let items = a.targets(0, None);
    let (i, why) = preselect::target(&items, &m).expect("by model");
    assert_eq!(items[i].disk.path, "/dev/nvme0n1");
    assert!(why.contains("same model as the image's source"), "{why}");
    // Neither: the only disk large enough.
    m.source.model = Some("Unknown".into());
    let items = a.targets(600 * GB, None);
    let (i, why) = preselect::target(&items, &m).expect("the only fit");
    assert_eq!(items[i].disk.path, "/dev/sdb");
    assert!(why.ends_with("the only disk the image fits on"), "{why}");
    // Several fit: no guess.
    let items = a.targets(GB, None);
    assert!(preselect::target(&items, &m).is_none());
}

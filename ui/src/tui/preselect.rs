//! The right image and the right disk by default, so a technician restoring a machine presses
//! Enter twice: the image list sorts by the machine an image was saved on and starts on this
//! machine's newest image; the target list starts on the disk that image came from. Each pick
//! says why in one line, and a technician who disagrees moves the cursor: nothing here starts
//! anything, and the engine's checks decide what may be written.

use super::pick_disk::Item;
use super::repo::ImageRow;
use super::strings as s;
use wraith_engine::disks::DiskInfo;
use wraith_engine::machine::MachineIdentity;
use wraith_engine::repo::manifest::Manifest;

/// The image list's order: by machine (or, without one recorded, the source disk), oldest
/// first within each; images whose manifest cannot be read last.
pub fn sort(rows: &mut [ImageRow]) {
    rows.sort_by(|a, b| {
        (a.manifest.is_none(), &a.group, a.created, &a.image.id).cmp(&(
            b.manifest.is_none(),
            &b.group,
            b.created,
            &b.image.id,
        ))
    });
}

/// The machine (or disk) an image is listed under.
pub fn group(m: &Manifest) -> String {
    match &m.machine {
        Some(machine) => machine.describe(),
        None => format!("disk {}", m.source.describe()),
    }
}

/// One way an image can match this machine: why, when it does.
type Tier<'a> = dyn Fn(&Manifest) -> Option<String> + 'a;

/// The row of `rows` (sorted) to start on and why: an image saved from a disk of this machine
/// (by serial; never the boot medium's nor the repository's own drive), else one saved on this
/// machine (its firmware's identity: the disk may have been replaced), else one saved from a
/// disk of the same model as one here; the newest of the best. None: no image matches.
pub fn image(
    rows: &[ImageRow],
    disks: &[&DiskInfo],
    this: Option<&MachineIdentity>,
) -> Option<(usize, String)> {
    let by_serial = |m: &Manifest| {
        let serial = m.source.serial.as_deref()?;
        disks
            .iter()
            .any(|d| d.serial.as_deref() == Some(serial))
            .then(|| format!("{} {serial}", s::PRE_THIS_DISK))
    };
    let by_machine = |m: &Manifest| {
        let (here, saved) = (this?, m.machine.as_ref()?);
        here.same_machine(saved)
            .then(|| format!("{} {}", s::PRE_THIS_MACHINE, saved.describe()))
    };
    let by_model = |m: &Manifest| {
        let model = m.source.model.as_deref()?;
        disks
            .iter()
            .any(|d| d.model.as_deref() == Some(model))
            .then(|| format!("{} {model}", s::PRE_SAME_MODEL))
    };
    let tiers: [&Tier; 3] = [&by_serial, &by_machine, &by_model];
    tiers.iter().find_map(|tier| {
        rows.iter()
            .enumerate()
            .filter_map(|(i, r)| Some((i, r.created, tier(r.manifest.as_ref()?)?)))
            .max_by_key(|(i, created, _)| (*created, *i))
            .map(|(i, _, why)| (i, format!("{} {why}", s::PRESELECTED)))
    })
}

/// The target to start on for the image `m`, and why: the disk it was saved from (serial),
/// else one of the same model, else the only disk it fits on. Only disks that can be chosen.
pub fn target(items: &[Item], m: &Manifest) -> Option<(usize, String)> {
    let usable: Vec<(usize, &DiskInfo)> = items
        .iter()
        .enumerate()
        .filter(|(_, it)| it.disabled.is_none())
        .map(|(i, it)| (i, &it.disk))
        .collect();
    let find = |f: &dyn Fn(&DiskInfo) -> bool| usable.iter().find(|(_, d)| f(d)).map(|(i, _)| *i);
    if let Some(serial) = m.source.serial.as_deref() {
        if let Some(i) = find(&|d| d.serial.as_deref() == Some(serial)) {
            return Some((
                i,
                format!("{} {} {serial}", s::PRESELECTED, s::PRE_TARGET_SERIAL),
            ));
        }
    }
    if let Some(model) = m.source.model.as_deref() {
        if let Some(i) = find(&|d| d.model.as_deref() == Some(model)) {
            return Some((
                i,
                format!("{} {} {model}", s::PRESELECTED, s::PRE_TARGET_MODEL),
            ));
        }
    }
    match usable.as_slice() {
        [(i, _)] => Some((*i, format!("{} {}", s::PRESELECTED, s::PRE_TARGET_ONLY))),
        _ => None,
    }
}

//! Clonezilla image directories made from fixture disks the way Clonezilla makes them: real
//! partclone (or a dd image), a real compressor, `split` into 256 KiB pieces, `sfdisk -d` for
//! `sda-pt.sf`, dd'd table sectors, `disk` and `parts`. For the Clonezilla import tests; it
//! only writes inside the directories it is given.
#![allow(clippy::unwrap_used, clippy::panic)]

use crate::{Disk, FsType, Table, MIB};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Whether partclone and friends are installed (else the skip is reported).
pub fn have_tools() -> bool {
    for t in [
        "partclone.ext4",
        "partclone.fat",
        "partclone.ntfs",
        "sfdisk",
        "split",
    ] {
        if Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {t}"))
            .stdout(Stdio::null())
            .status()
            .map(|s| !s.success())
            .unwrap_or(true)
        {
            crate::skip_missing_tool(t, "clonezilla import");
            return false;
        }
    }
    true
}

/// Runs a bash pipeline (pipefail), panicking with its stderr when it fails.
pub fn sh(script: &str) {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail; {script}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// How one partition is saved.
#[derive(Clone, Copy)]
pub struct How {
    /// Clonezilla's compression suffix and the command making it.
    pub codec: (&'static str, &'static str),
    /// partclone's -a/-k options, or None for a dd image.
    pub partclone: Option<&'static str>,
}

/// Clonezilla's default: gzip, partclone's CRC32 (here every 64 blocks).
pub const GZ_CRC: How = How {
    codec: ("gz", "gzip -c"),
    partclone: Some("-a1 -k 64"),
};

/// Writes `disk` as Clonezilla would into a new directory named `name` under `root`.
pub fn clonezilla_dir(disk: &Disk, root: &Path, name: &str, how: &dyn Fn(u32) -> How) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let img = disk.path.display().to_string();
    let d = dir.display().to_string();
    std::fs::write(dir.join("disk"), "sda\n").unwrap();
    // Extended containers are not saved, nor listed.
    let saved: Vec<_> = disk.parts.iter().filter(|p| p.fs != FsType::None).collect();
    let names: Vec<String> = saved.iter().map(|p| format!("sda{}", p.number)).collect();
    std::fs::write(dir.join("parts"), format!("{}\n", names.join(" "))).unwrap();
    // sfdisk names partitions after the image file; Clonezilla's dump names /dev/sda.
    sh(&format!(
        "sfdisk -d {img} | sed -e 's#{img}#/dev/sda#g' > {d}/sda-pt.sf"
    ));
    let sectors = disk.size / 512;
    std::fs::write(
        dir.join("sda-pt.parted"),
        format!(
            "Model:  (file)\nDisk /dev/sda: {sectors}s\nSector size (logical/physical): 512B/512B\nPartition Table: {}\n",
            if disk.table == Table::Gpt { "gpt" } else { "msdos" }
        ),
    )
    .unwrap();
    sh(&format!(
        "dd if={img} of={d}/sda-mbr bs=512 count=1 status=none"
    ));
    if disk.table == Table::Gpt {
        sh(&format!(
            "dd if={img} of={d}/sda-gpt-1st bs=512 count=34 status=none"
        ));
        sh(&format!(
            "dd if={img} of={d}/sda-gpt-2nd bs=512 skip={} count=33 status=none",
            sectors - 33
        ));
    } else {
        let first = disk.parts.iter().map(|p| p.start).min().unwrap() / 512;
        sh(&format!(
            "dd if={img} of={d}/sda-hidden-data-after-mbr bs=512 skip=1 count={} status=none",
            first - 1
        ));
    }
    for p in saved {
        let part = root.join(format!("{name}-sda{}.raw", p.number));
        sh(&format!(
            "dd if={img} of={} bs=1M skip={} count={} status=none",
            part.display(),
            p.start / MIB,
            p.len / MIB
        ));
        let h = how(p.number);
        let (suffix, compress) = h.codec;
        match h.partclone {
            Some(opts) => {
                let (tool, fs) = match p.fs {
                    FsType::Ext4 => ("partclone.ext4", "ext4"),
                    FsType::Ext3 => ("partclone.ext3", "ext3"),
                    FsType::Ext2 => ("partclone.ext2", "ext2"),
                    FsType::Ntfs => ("partclone.ntfs", "ntfs"),
                    _ => ("partclone.fat", "vfat"),
                };
                sh(&format!(
                    "{tool} -c -q {opts} -s {} -o - 2>/dev/null | {compress} | split -b 256K - {d}/sda{}.{fs}-ptcl-img.{suffix}.",
                    part.display(),
                    p.number
                ));
            }
            None => sh(&format!(
                "{compress} < {} | split -b 256K - {d}/sda{}.dd-img.",
                part.display(),
                p.number
            )),
        }
        std::fs::remove_file(&part).unwrap();
    }
    dir
}

/// The files in `dir` whose names start with `prefix`, sorted.
pub fn pieces(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with(prefix))
        .collect();
    v.sort();
    v
}

//! Partition tables made by the real util-linux tools (sfdisk, and fdisk for 4096-byte
//! sectors, which sfdisk cannot fake on a file), read back by our parsers and, after our
//! relocation, checked again by the same tools.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
use wraith_engine::device::{Device, ReadAt};
use wraith_engine::table::{self, gpt, mbr, TableKind};
use wraith_engine::Error;

const MIB: u64 = 1 << 20;
const EFI: &str = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
const LINUX: &str = "0fc63daf-8483-4772-8e79-3d69d8477de4";
const SWAP: &str = "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f";

fn image(dir: &Path, name: &str, size: u64) -> std::path::PathBuf {
    let p = dir.join(name);
    let f = std::fs::File::create(&p).unwrap();
    f.set_len(size).unwrap();
    p
}

fn run(cmd: &str, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sfdisk(img: &Path, script: &str) {
    let (ok, out, err) = run(
        "/usr/sbin/sfdisk",
        &[
            "--no-reread",
            "--no-tell-kernel",
            "-q",
            img.to_str().unwrap(),
        ],
        script,
    );
    assert!(ok, "sfdisk failed: {out}\n{err}");
}

fn sfdisk_json(img: &Path) -> Value {
    let (ok, out, err) = run("/usr/sbin/sfdisk", &["--json", img.to_str().unwrap()], "");
    assert!(ok, "sfdisk --json failed: {err}");
    serde_json::from_str::<Value>(&out).unwrap()["partitiontable"].clone()
}

/// `sfdisk --verify` must succeed and complain about nothing (it prints PMBR mismatches and
/// misplaced backups on stderr, "No errors detected." on stdout).
fn sfdisk_verify(img: &Path) {
    let (ok, out, err) = run("/usr/sbin/sfdisk", &["--verify", img.to_str().unwrap()], "");
    assert!(
        ok && out.contains("No errors detected") && err.trim().is_empty(),
        "verify: {out}\n{err}"
    );
}

const GPT_SCRIPT: &str = "label: gpt
label-id: 5F8295EB-ED1D-E04D-BD5C-B4F7506A73CD
first-lba: 2048

start=2048, size=4096, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=\"EFI system\"
size=8192, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=\"root fs\", uuid=11111111-2222-3333-4444-555555555555
size=2048, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F, name=\"swap\"
";

/// Checks our parse of `img` against `sfdisk --json`.
fn assert_matches_sfdisk(t: &table::PartitionTable, json: &Value) {
    let ss = json["sectorsize"].as_u64().unwrap();
    assert_eq!(t.sector_size, ss);
    let parts = json["partitions"].as_array().unwrap();
    assert_eq!(t.partitions.len(), parts.len(), "{t:#?}");
    for (p, j) in t.partitions.iter().zip(parts) {
        let node = j["node"].as_str().unwrap();
        assert!(
            node.ends_with(&p.number.to_string()),
            "{node} vs {}",
            p.number
        );
        assert_eq!(
            p.start,
            j["start"].as_u64().unwrap() * ss,
            "start of {node}"
        );
        assert_eq!(p.len, j["size"].as_u64().unwrap() * ss, "size of {node}");
        let ty = j["type"].as_str().unwrap().to_lowercase();
        match t.kind {
            TableKind::Gpt => {
                assert_eq!(p.type_id, ty);
                assert_eq!(p.name, j["name"].as_str().unwrap_or(""));
                assert_eq!(
                    p.guid.as_deref(),
                    Some(j["uuid"].as_str().unwrap().to_lowercase().as_str())
                );
            }
            _ => {
                assert_eq!(p.type_id, format!("0x{ty:0>2}"));
                assert_eq!(p.bootable, j["bootable"].as_bool().unwrap_or(false));
            }
        }
    }
    match t.kind {
        TableKind::Gpt => {
            assert_eq!(
                t.disk_id.as_deref(),
                Some(json["id"].as_str().unwrap().to_lowercase().as_str())
            )
        }
        _ => assert_eq!(t.disk_id.as_deref(), json["id"].as_str()),
    }
}

#[test]
fn gpt_made_by_sfdisk_reads_like_sfdisk() {
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), "gpt.img", 16 * MIB);
    sfdisk(&img, GPT_SCRIPT);
    let dev = Device::open_read(&img).unwrap();
    let t = gpt::read(&dev, 512).unwrap().expect("a GPT");
    assert_eq!(t.kind, TableKind::Gpt);
    assert_matches_sfdisk(&t, &sfdisk_json(&img));
    let names: Vec<_> = t.partitions.iter().map(|p| p.type_name.as_str()).collect();
    assert_eq!(names, ["EFI System", "Linux filesystem", "Linux swap"]);
    assert_eq!(t.partitions[2].type_id, SWAP);
    assert_eq!(
        t.partitions[1].guid.as_deref(),
        Some("11111111-2222-3333-4444-555555555555")
    );
    // LBA 0..34 (MBR, header, 32 sectors of entries) and the last 33 sectors.
    let last = 16 * MIB / 512 - 1;
    let meta: Vec<(u64, u64)> = t.metadata.iter().map(|e| (e.start, e.len)).collect();
    assert_eq!(meta, [(0, 34 * 512), ((last - 32) * 512, 33 * 512)]);
    // Partitions end at LBA 2048+4096+8192+2048 = 16384; then 32 entry sectors and a header.
    assert_eq!(t.min_disk_size, (16384 + 32 + 1) * 512);
    // The whole-disk entry point prefers the GPT to its protective MBR.
    assert_eq!(table::read(&dev, 512).unwrap(), t);
    assert!(
        mbr::read(&dev, 512).unwrap().is_none(),
        "protective MBR must be left to the GPT reader"
    );
}

/// Two primaries, an extended partition and three logicals. sfdisk makes a line after the
/// extended one a primary while slots are free, so the logicals are named explicitly.
fn dos_script(img: &Path) -> String {
    let d = img.display();
    format!(
        "label: dos
label-id: 0x12345678

start=2048, size=4096, type=83, bootable
size=4096, type=7
size=20480, type=5
{d}5 : size=2048, type=82
{d}6 : size=4096, type=83
{d}7 : type=b
"
    )
}

#[test]
fn dos_with_logicals_reads_like_sfdisk() {
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), "dos.img", 32 * MIB);
    sfdisk(&img, &dos_script(&img));
    let dev = Device::open_read(&img).unwrap();
    assert!(gpt::read(&dev, 512).unwrap().is_none());
    let t = table::read(&dev, 512).unwrap();
    assert_eq!(t.kind, TableKind::Mbr);
    let json = sfdisk_json(&img);
    // sfdisk lists the extended container (type 5) too; we do not.
    let mut json_data = json.clone();
    let parts: Vec<Value> = json["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"].as_str() != Some("5"))
        .cloned()
        .collect();
    json_data["partitions"] = Value::Array(parts);
    assert_matches_sfdisk(&t, &json_data);
    let numbers: Vec<u32> = t.partitions.iter().map(|p| p.number).collect();
    assert_eq!(numbers, [1, 2, 5, 6, 7]);
    assert_eq!(t.disk_id.as_deref(), Some("0x12345678"));
    assert!(t.partitions[0].bootable && !t.partitions[1].bootable);
    assert!(t.partitions[2..].iter().all(|p| p.logical));
    assert_eq!(t.partitions[2].type_name, "Linux swap");
    assert_eq!(t.partitions[4].type_name, "FAT32");
    // LBA 0 plus one EBR per logical partition, each one sector before... wherever sfdisk put
    // it: just check they are single sectors inside the extended partition.
    let ext = json["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["type"] == "5")
        .unwrap()
        .clone();
    let (ext_start, ext_size) = (
        ext["start"].as_u64().unwrap() * 512,
        ext["size"].as_u64().unwrap() * 512,
    );
    let meta: Vec<_> = t.metadata.iter().copied().collect();
    assert_eq!(meta.len(), 4, "{meta:?}");
    assert_eq!((meta[0].start, meta[0].len), (0, 512));
    assert_eq!(meta[1].start, ext_start);
    assert!(meta[1..]
        .iter()
        .all(|e| e.len == 512 && e.start >= ext_start && e.end() <= ext_start + ext_size));
    assert_eq!(t.min_disk_size, ext_start + ext_size);
}

#[test]
fn ebr_loop_is_an_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), "loop.img", 32 * MIB);
    sfdisk(&img, &dos_script(&img));
    let t = table::read(&Device::open_read(&img).unwrap(), 512).unwrap();
    let ebrs: Vec<u64> = t.metadata.iter().skip(1).map(|e| e.start).collect();
    // Point the last EBR's link (entry 2) back at the first EBR (relative offset 0).
    let last = *ebrs.last().unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
    let mut link = [0u8; 16];
    link[4] = 0x05;
    link[8..12].copy_from_slice(&0u32.to_le_bytes());
    link[12..16].copy_from_slice(&2048u32.to_le_bytes());
    f.write_all_at(&link, last + 446 + 16).unwrap();
    drop(f);
    match table::read(&Device::open_read(&img).unwrap(), 512) {
        Err(Error::Corrupt { detail, offset, .. }) => {
            assert!(detail.contains("loop"), "{detail}");
            assert_eq!(offset, ebrs[0]);
        }
        other => panic!("expected a loop error, got {other:?}"),
    }
}

/// Copies LBA 0 through our protective MBR and applies relocate's writes to `dst`, plus a
/// marker from each partition's first bytes.
fn relocate_onto(src: &Path, dst: &Path, ss: u64) -> Result<(), Error> {
    let sdev = Device::open_read(src).unwrap();
    let t = gpt::read(&sdev, ss).unwrap().unwrap();
    let primary = gpt::primary_area(&sdev, ss).unwrap().unwrap();
    let target_size = std::fs::metadata(dst).unwrap().len();
    let writes = gpt::relocate(&primary, ss, target_size)?;
    let ddev = Device::open_write(dst).unwrap();
    let lba0 = sdev.read_vec(0, ss as usize).unwrap();
    ddev.write_all_at(&gpt::protective_mbr_for(&lba0, ss, target_size), 0)
        .unwrap();
    for (off, bytes) in &writes {
        assert_eq!(off % ss, 0);
        assert_eq!(bytes.len() as u64 % ss, 0);
        ddev.write_all_at(bytes, *off).unwrap();
    }
    for p in &t.partitions {
        ddev.write_all_at(&sdev.read_vec(p.start, 4096).unwrap(), p.start)
            .unwrap();
    }
    Ok(())
}

fn mark_partitions(img: &Path, ss: u64) {
    let t = gpt::read(&Device::open_read(img).unwrap(), ss)
        .unwrap()
        .unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(img).unwrap();
    for p in &t.partitions {
        f.write_all_at(format!("partition {} data", p.number).as_bytes(), p.start)
            .unwrap();
    }
}

/// After relocation the target reads back with the same partitions and its backup at the end.
fn assert_relocated(src: &Path, dst: &Path, ss: u64) {
    let s = gpt::read(&Device::open_read(src).unwrap(), ss)
        .unwrap()
        .unwrap();
    let ddev = Device::open_read(dst).unwrap();
    let d = gpt::read(&ddev, ss).unwrap().unwrap();
    assert_eq!(d.partitions, s.partitions);
    assert_eq!(d.disk_id, s.disk_id);
    let size = ddev.size();
    let last = d.metadata.as_slice().last().unwrap();
    assert_eq!(last.end(), size, "backup header must be at the new end");
    // The backup area: 16 KiB of entries and one header sector.
    assert_eq!(last.len, (16384 / ss + 1) * ss);
    for p in &d.partitions {
        let marker = format!("partition {} data", p.number);
        assert_eq!(
            ddev.read_vec(p.start, marker.len()).unwrap(),
            marker.as_bytes()
        );
    }
    // With the primary destroyed, the backup at the new end carries the same table.
    let mut bytes = vec![0u8; size as usize];
    ddev.read_exact_at(&mut bytes, 0).unwrap();
    bytes[ss as usize..2 * ss as usize].fill(0);
    let from_backup = gpt::read(&bytes, ss).unwrap().unwrap();
    assert_eq!(from_backup.partitions, s.partitions);
}

#[test]
fn relocated_gpt_on_a_larger_disk_passes_sfdisk_verify() {
    let dir = tempfile::tempdir().unwrap();
    let src = image(dir.path(), "src.img", 16 * MIB);
    sfdisk(&src, GPT_SCRIPT);
    mark_partitions(&src, 512);
    let dst = image(dir.path(), "dst.img", 24 * MIB + 7 * 512);
    relocate_onto(&src, &dst, 512).unwrap();
    sfdisk_verify(&dst);
    let mut want = sfdisk_json(&src);
    let got = sfdisk_json(&dst);
    assert_eq!(
        got["lastlba"].as_u64().unwrap(),
        (24 * MIB) / 512 + 7 - 1 - 33
    );
    want["lastlba"] = got["lastlba"].clone();
    want["device"] = got["device"].clone();
    for p in want["partitions"].as_array_mut().unwrap() {
        p["node"] = Value::String(p["node"].as_str().unwrap().replace("src", "dst"));
    }
    assert_eq!(got, want);
    assert_relocated(&src, &dst, 512);
}

#[test]
fn relocated_gpt_fits_the_minimum_size_and_refuses_one_sector_less() {
    let dir = tempfile::tempdir().unwrap();
    let src = image(dir.path(), "src.img", 16 * MIB);
    sfdisk(&src, GPT_SCRIPT);
    mark_partitions(&src, 512);
    let t = gpt::read(&Device::open_read(&src).unwrap(), 512)
        .unwrap()
        .unwrap();
    assert!(t.min_disk_size < 16 * MIB);

    let dst = image(dir.path(), "dst.img", t.min_disk_size);
    relocate_onto(&src, &dst, 512).unwrap();
    sfdisk_verify(&dst);
    assert_relocated(&src, &dst, 512);

    let small = image(dir.path(), "small.img", t.min_disk_size - 512);
    match relocate_onto(&src, &small, 512) {
        Err(Error::Refused { message: msg, .. }) => {
            assert!(msg.contains(&t.min_disk_size.to_string()), "{msg}");
            assert!(msg.contains(&(t.min_disk_size - 512).to_string()), "{msg}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn damaged_primary_falls_back_to_the_backup_and_both_damaged_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), "gpt.img", 16 * MIB);
    sfdisk(&img, GPT_SCRIPT);
    let good = gpt::read(&Device::open_read(&img).unwrap(), 512)
        .unwrap()
        .unwrap();
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&img)
        .unwrap();
    let flip = |off: u64| {
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, off).unwrap();
        f.write_all_at(&[b[0] ^ 0x40], off).unwrap();
    };
    // A byte of the primary's disk GUID: the header CRC no longer matches.
    flip(512 + 60);
    let dev = Device::open_read(&img).unwrap();
    let fallback = gpt::read(&dev, 512).unwrap().unwrap();
    assert_eq!(fallback.partitions, good.partitions);
    assert_eq!(fallback.disk_id, good.disk_id);
    assert_eq!(fallback.metadata, good.metadata);
    // The saved primary is rebuilt from the backup and relocates fine.
    let primary = gpt::primary_area(&dev, 512).unwrap().unwrap();
    assert_eq!(primary.len(), 33 * 512);
    let mut bigger = vec![0u8; (20 * MIB) as usize];
    for (off, bytes) in gpt::relocate(&primary, 512, bigger.len() as u64).unwrap() {
        bigger[off as usize..off as usize + bytes.len()].copy_from_slice(&bytes);
    }
    assert_eq!(
        gpt::read(&bigger, 512).unwrap().unwrap().partitions,
        good.partitions
    );

    // A damaged entry array in the primary also falls back.
    flip(512 + 60);
    flip(2 * 512 + 200);
    assert_eq!(
        gpt::read(&Device::open_read(&img).unwrap(), 512)
            .unwrap()
            .unwrap()
            .partitions,
        good.partitions
    );

    // And both headers damaged is an error naming the primary header.
    flip(16 * MIB - 512 + 60);
    match gpt::read(&Device::open_read(&img).unwrap(), 512) {
        Err(Error::Corrupt { offset, detail, .. }) => {
            assert_eq!(offset, 512);
            assert!(detail.contains("backup"), "{detail}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

fn fdisk4k(img: &Path, commands: &str) {
    let (ok, out, err) = run(
        "/usr/sbin/fdisk",
        &["-b", "4096", img.to_str().unwrap()],
        commands,
    );
    assert!(ok, "fdisk failed: {out}\n{err}");
}

/// A partition as `fdisk -b 4096 -l` lists it: (start, sectors, type, name, uuid).
type FdiskRow = (u64, u64, String, String, String);

/// The partitions of a 4Kn image as fdisk lists them, and fdisk's complaints on stderr.
fn fdisk4k_list(img: &Path) -> (Vec<FdiskRow>, String) {
    let (ok, out, err) = run(
        "/usr/sbin/fdisk",
        &[
            "-b",
            "4096",
            "-l",
            "-o",
            "Device,Start,Sectors,Type-UUID,UUID,Name",
            img.to_str().unwrap(),
        ],
        "",
    );
    assert!(ok, "fdisk -l failed: {err}");
    let rows = out
        .lines()
        .skip_while(|l| !l.starts_with("Device"))
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let name = f.get(5..).map(|n| n.join(" ")).unwrap_or_default();
            (
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].to_lowercase(),
                name,
                f[4].to_lowercase(),
            )
        })
        .collect();
    (rows, err)
}

#[test]
fn gpt_with_4096_byte_sectors_reads_and_relocates() {
    let dir = tempfile::tempdir().unwrap();
    let src = image(dir.path(), "src4k.img", 32 * MIB);
    // New GPT; partition 1 of 8 MiB, EFI type; partition 2 to the end, named "home".
    fdisk4k(
        &src,
        "g\nn\n1\n\n+8M\nt\n1\nn\n2\n\n+16M\nx\nn\n2\nhome\nr\nw\n",
    );
    mark_partitions(&src, 4096);
    let dev = Device::open_read(&src).unwrap();
    assert!(
        gpt::read(&dev, 512).unwrap().is_none(),
        "a 4Kn GPT is not at 512-byte LBA 1"
    );
    let t = gpt::read(&dev, 4096).unwrap().unwrap();
    let (rows, _) = fdisk4k_list(&src);
    assert_eq!(rows.len(), 2);
    for (p, (start, sectors, ty, name, uuid)) in t.partitions.iter().zip(&rows) {
        assert_eq!(p.start, start * 4096);
        assert_eq!(p.len, sectors * 4096);
        assert_eq!(&p.type_id, ty);
        assert_eq!(&p.name, name);
        assert_eq!(p.guid.as_ref(), Some(uuid));
    }
    assert_eq!(t.partitions[0].type_id, EFI);
    assert_eq!(t.partitions[1].type_id, LINUX);
    assert_eq!(t.partitions[1].name, "home");
    // 128 entries of 128 bytes are 4 sectors of 4 KiB.
    let meta: Vec<(u64, u64)> = t.metadata.iter().map(|e| (e.start, e.len)).collect();
    assert_eq!(meta, [(0, 6 * 4096), (32 * MIB - 5 * 4096, 5 * 4096)]);

    let dst = image(dir.path(), "dst4k.img", 48 * MIB);
    relocate_onto(&src, &dst, 4096).unwrap();
    let (rows2, err) = fdisk4k_list(&dst);
    assert!(err.trim().is_empty(), "fdisk complains: {err}");
    assert_eq!(rows2, rows);
    let (ok, out, err) = run(
        "/usr/sbin/fdisk",
        &["-b", "4096", dst.to_str().unwrap()],
        "v\nq\n",
    );
    assert!(
        ok && out.contains("No errors detected") && !err.contains("mismatch"),
        "{out}\n{err}"
    );
    assert_relocated(&src, &dst, 4096);
}

#[test]
fn disks_without_a_table_read_as_none() {
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), "blank.img", 4 * MIB);
    let t = table::read(&Device::open_read(&img).unwrap(), 512).unwrap();
    assert_eq!(t.kind, TableKind::None);
    assert_eq!(t.min_disk_size, 4 * MIB);
    assert!(t.partitions.is_empty());
}

#[test]
fn unpartitioned_filesystems_are_not_mistaken_for_mbr_tables() {
    let dir = tempfile::tempdir().unwrap();
    let fat = image(dir.path(), "fat.img", 8 * MIB);
    let (ok, _, err) = run("/usr/sbin/mkfs.vfat", &[fat.to_str().unwrap()], "");
    assert!(ok, "{err}");
    let ntfs = image(dir.path(), "ntfs.img", 8 * MIB);
    let (ok, _, err) = run(
        "/usr/sbin/mkntfs",
        &["-F", "-Q", "-q", ntfs.to_str().unwrap()],
        "",
    );
    assert!(ok, "{err}");
    for img in [fat, ntfs] {
        let dev = Device::open_read(&img).unwrap();
        assert_eq!(
            dev.read_vec(510, 2).unwrap(),
            [0x55, 0xAA],
            "{img:?} carries the MBR signature"
        );
        assert!(mbr::read(&dev, 512).unwrap().is_none(), "{img:?}");
        assert_eq!(
            table::read(&dev, 512).unwrap().kind,
            TableKind::None,
            "{img:?}"
        );
    }
}

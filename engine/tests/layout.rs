//! Layouts on targets of another size, end to end on real tables: source disks partitioned by
//! sfdisk (through the testkit), a layout from `layout::lay_out`, the boot area and the
//! rewritten table written into a sparse target file, and the result judged by the real
//! `sfdisk --verify` and `sfdisk --json`. Partition contents are not copied: only the table is
//! under test here.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use wraith_engine::device::{Device, ReadAt};
use wraith_engine::layout::{lay_out, Input, Layout, Policy};
use wraith_engine::table::{self, gpt, mbr, PartitionTable, TableKind};
use wraith_testkit::{DiskBuilder, FsType, Table, MIB};

const EFI: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
const MSR: &str = "E3C9E316-0B5C-4DB8-817D-F92DF00215AE";
const BASIC: &str = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7";
const RECOVERY: &str = "DE94BBA4-06D1-4D40-A16A-BFD50179D6AC";

fn have_sfdisk(what: &str) -> bool {
    let found = wraith_testkit::find_tool("sfdisk").is_some();
    if !found {
        wraith_testkit::skip_missing_tool("sfdisk", what);
    }
    found
}

fn sfdisk(args: &[&str], img: &Path) -> (bool, String, String) {
    let out = Command::new(wraith_testkit::find_tool("sfdisk").unwrap())
        .args(args)
        .arg(img)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(img: &Path) -> Value {
    let (ok, out, err) = sfdisk(&["--json"], img);
    assert!(ok, "sfdisk --json: {err}");
    serde_json::from_str::<Value>(&out).unwrap()["partitiontable"].clone()
}

/// `sfdisk --verify` must succeed and complain about nothing.
fn verify(img: &Path) {
    let (ok, out, err) = sfdisk(&["--verify"], img);
    assert!(
        ok && out.contains("No errors detected") && err.trim().is_empty(),
        "verify: {out}\n{err}"
    );
}

/// Inputs as a caller would make them: fixed by type, min_len a quarter of the partition.
fn inputs(t: &PartitionTable) -> Vec<Input> {
    t.partitions
        .iter()
        .map(|p| {
            let fixed = match p.type_name.as_str() {
                "EFI System" | "Microsoft reserved" | "Windows recovery environment" => {
                    Some(p.type_name.clone())
                }
                _ => None,
            };
            Input {
                number: p.number,
                start: p.start,
                len: p.len,
                logical: p.logical,
                min_len: fixed.is_none().then_some(p.len / 4),
                fixed,
                no_shrink: None,
                no_grow: None,
                used: p.len / 8,
            }
        })
        .collect()
}

/// The target file: the source's boot area (LBA 0 to the first partition), then the writes.
fn target(
    dir: &Path,
    src: &Path,
    size: u64,
    first: u64,
    writes: &[(u64, Vec<u8>)],
) -> std::path::PathBuf {
    let path = dir.join(format!("target-{size}.img"));
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(size).unwrap();
    let boot = Device::open_read(src)
        .unwrap()
        .read_vec(0, first as usize)
        .unwrap();
    f.write_all_at(&boot, 0).unwrap();
    for (off, bytes) in writes {
        f.write_all_at(bytes, *off).unwrap();
    }
    path
}

/// Every partition in sfdisk's view of `img` sits where the layout put it, and keeps what
/// `fields` names from the source's view.
fn check(img: &Path, src: &Value, layout: &Layout, fields: &[&str]) {
    verify(img);
    let got = json(img);
    for f in ["label", "id"] {
        assert_eq!(got[f], src[f], "{f}");
    }
    let got = got["partitions"].as_array().unwrap();
    let src = src["partitions"].as_array().unwrap();
    let data: Vec<&Value> = got
        .iter()
        .filter(|p| !matches!(p["type"].as_str(), Some("5" | "f")))
        .collect();
    assert_eq!(data.len(), layout.parts.len());
    for p in &layout.parts {
        let node = |v: &Value| v["node"].as_str().unwrap().ends_with(&p.number.to_string());
        let g = data
            .iter()
            .find(|v| node(v))
            .unwrap_or_else(|| panic!("no partition {}", p.number));
        let s = src.iter().find(|v| node(v)).unwrap();
        assert_eq!(
            g["start"].as_u64().unwrap() * 512,
            p.new_start,
            "start of {}",
            p.number
        );
        assert_eq!(
            g["size"].as_u64().unwrap() * 512,
            p.new_len,
            "size of {}",
            p.number
        );
        for f in fields {
            assert_eq!(g[f], s[f], "{f} of partition {}", p.number);
        }
    }
}

#[test]
fn gpt_windows_like_disk_on_smaller_and_larger_targets() {
    if !have_sfdisk("gpt layout test") {
        return;
    }
    let src = DiskBuilder::new(64 * MIB, Table::Gpt)
        .part(8 * MIB, FsType::None, "EFI system partition")
        .with_type(EFI)
        .part(4 * MIB, FsType::None, "Microsoft reserved partition")
        .with_type(MSR)
        .part(32 * MIB, FsType::None, "Basic data partition")
        .with_type(BASIC)
        .part(8 * MIB, FsType::None, "")
        .with_type(RECOVERY)
        .build()
        .unwrap();
    let dev = Device::open_read(&src.path).unwrap();
    let t = table::read(&dev, 512).unwrap();
    assert_eq!(t.kind, TableKind::Gpt);
    let primary = gpt::primary_area(&dev, 512).unwrap().unwrap();
    let lba0 = dev.read_vec(0, 512).unwrap();
    let src_json = json(&src.path);
    let ins = inputs(&t);
    for (size, policy) in [(40 * MIB, Policy::Fit), (128 * MIB, Policy::Grow)] {
        let l = lay_out(
            TableKind::Gpt,
            512,
            &ins,
            size,
            33 * 512,
            Policy::Auto,
            None,
        )
        .unwrap();
        assert_eq!(l.policy, policy);
        // C: took the change; recovery stays last and keeps its size.
        assert!(l.parts[2].resized() && l.parts[3].moved() && !l.parts[3].resized());
        let mut writes = vec![(0, gpt::protective_mbr_for(&lba0, 512, size))];
        writes.extend(gpt::rewrite(&primary, 512, size, &l.parts).unwrap());
        let img = target(src.dir.path(), &src.path, size, MIB, &writes);
        check(&img, &src_json, &l, &["type", "uuid", "name"]);
        // Our own reader agrees too.
        let back = table::read(&Device::open_read(&img).unwrap(), 512).unwrap();
        assert_eq!(back.partitions.len(), 4);
    }
}

#[test]
fn mbr_disk_with_logicals_on_smaller_and_larger_targets() {
    if !have_sfdisk("mbr layout test") {
        return;
    }
    let src = DiskBuilder::new(64 * MIB, Table::Dos)
        .part(8 * MIB, FsType::None, "boot")
        .with_type("c")
        .bootable()
        .extended(40 * MIB)
        .logical(12 * MIB, FsType::None, "a")
        .logical(16 * MIB, FsType::None, "b")
        .with_type("7")
        .build()
        .unwrap();
    let dev = Device::open_read(&src.path).unwrap();
    let t = table::read(&dev, 512).unwrap();
    assert_eq!(t.kind, TableKind::Mbr);
    assert_eq!(t.partitions.len(), 3);
    let lba0 = dev.read_vec(0, 512).unwrap();
    let src_json = json(&src.path);
    let ins = inputs(&t);
    for (size, policy) in [(30 * MIB, Policy::Fit), (100 * MIB, Policy::Grow)] {
        let l = lay_out(TableKind::Mbr, 512, &ins, size, 0, Policy::Auto, None).unwrap();
        assert_eq!(l.policy, policy);
        let writes = mbr::rewrite(&lba0, 512, &t, &l.parts).unwrap();
        let img = target(src.dir.path(), &src.path, size, MIB, &writes);
        check(&img, &src_json, &l, &["type", "bootable"]);
        let back = table::read(&Device::open_read(&img).unwrap(), 512).unwrap();
        let spans: Vec<(u32, u64, u64)> = back
            .partitions
            .iter()
            .map(|p| (p.number, p.start, p.len))
            .collect();
        let want: Vec<(u32, u64, u64)> = l
            .parts
            .iter()
            .map(|p| (p.number, p.new_start, p.new_len))
            .collect();
        assert_eq!(spans, want);
    }
}

//! `wraith import clonezilla` and `wraith restore CLONEZILLA_DIR`, end to end on a Clonezilla
//! image directory made by real partclone from a real mkfs'd disk: the restored filesystems
//! hold the fixture's files, and a damaged piece fails the command with the piece named and no
//! image in the repository.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};
use wraith_testkit::clonezilla::{clonezilla_dir, have_tools, pieces, GZ_CRC};

fn wraith(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wraith"))
        .args(args)
        .output()
        .expect("running wraith")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn json_ok(args: &[&str]) -> serde_json::Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let o = wraith(&a);
    assert!(
        o.status.success(),
        "wraith {args:?}: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(out.lines().last().expect("a JSON line")).expect("JSON")
}

#[test]
fn a_clonezilla_image_imports_and_restores_from_the_repository_and_directly() {
    if !have_tools() {
        return;
    }
    let src = wraith_testkit::gpt_disk();
    let work = tempfile::tempdir().unwrap();
    let dir = clonezilla_dir(&src, work.path(), "2026-12-03-10-img", &|_| GZ_CRC);
    let repo = work.path().join("repo");

    // `info` shows the plan: partclone's used blocks for the ext4 partition, not all of it.
    let info = json_ok(&["info", s(&dir)]);
    let regions = info["plan"]["regions"].as_array().expect("regions");
    let root = regions
        .iter()
        .find(|r| r["region"] == "partition 2")
        .expect("the ext4 partition");
    assert_eq!(root["method"]["method"], "used_blocks", "{root}");
    assert!(
        root["copy_bytes"].as_u64().unwrap() < root["len"].as_u64().unwrap() / 2,
        "only the used blocks: {root}"
    );

    let r = json_ok(&["import", "clonezilla", s(&dir), s(&repo)]);
    assert_eq!(r["result"], "ok", "{r}");
    // Named after the directory when no name is given.
    let target = work.path().join("from-repo.img");
    let spec = format!("{}:2026-12-03-10-img", s(&repo));
    json_ok(&["restore", &spec, s(&target), "-y"]);
    wraith_testkit::assert_same_filesystems(&src, &target);

    let direct = work.path().join("direct.img");
    let r = json_ok(&["restore", s(&dir), s(&direct), "-y", "--verify"]);
    assert_eq!(r["result"], "ok", "{r}");
    wraith_testkit::assert_same_filesystems(&src, &direct);

    // One flipped byte in a piece: refused, the piece named, no image added.
    let ps = pieces(&dir, "sda2.ext4-ptcl-img.gz.");
    let victim = &ps[ps.len() / 2];
    let mut b = std::fs::read(victim).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0x01;
    std::fs::write(victim, &b).unwrap();
    let o = wraith(&[
        "import",
        "clonezilla",
        s(&dir),
        &format!("{}:bad", s(&repo)),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(victim.file_name().unwrap().to_str().unwrap()),
        "names the piece: {err}"
    );
    let list = json_ok(&["list", s(&repo)]);
    assert!(
        !list.to_string().contains("\"bad\""),
        "no image `bad` in the repository: {list}"
    );
}

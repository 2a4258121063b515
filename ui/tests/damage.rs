//! Damaged images, as a matrix: every kind of repository file (pack, index, manifest,
//! wraith-repo.json) flipped, truncated and deleted. `verify` and `restore` must each detect it
//! and say which image, partition and disk offset it hurts; a restore must write nothing that
//! failed its hash (the target is pre-filled with a pattern and checked afterwards).
#![allow(clippy::panic)] // test helpers report failures by panicking

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use wraith_testkit::{self as kit, DiskBuilder, FsType, Table, MIB};

fn wraith(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wraith"))
        .args(args)
        .output()
        .expect("running wraith")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out.sort();
    out
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Pack,
    Index,
    Manifest,
    Config,
}

#[derive(Clone, Copy, Debug)]
enum Damage {
    Flip,
    Truncate,
    Delete,
}

/// The files of `kind` in a repository.
fn files_of(repo: &Path, kind: Kind) -> Vec<PathBuf> {
    walk(repo)
        .into_iter()
        .filter(|p| {
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            match kind {
                Kind::Pack => ext == "pack",
                Kind::Index => ext == "idx",
                Kind::Manifest => ext == "manifest",
                Kind::Config => p.file_name().is_some_and(|n| n == "wraith-repo.json"),
            }
        })
        .collect()
}

/// Damages `file`; a flip lands inside the first chunk of a pack (right after its header),
/// inside an index entry, inside a manifest's compressed body, on the config's first byte.
fn damage(file: &Path, kind: Kind, how: Damage) {
    let len = std::fs::metadata(file).expect("metadata").len();
    match how {
        Damage::Flip => {
            let at = match kind {
                Kind::Pack => 16 + 100,
                Kind::Index => 24 + 40,
                Kind::Manifest => len - 10,
                Kind::Config => 0,
            };
            let b = kit::read_at(file, at, 1).expect("read");
            kit::write_at(file, at, &[b[0] ^ 0x55]).expect("write");
        }
        Damage::Truncate => {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(file)
                .expect("open");
            f.set_len(len / 2).expect("truncate");
        }
        Damage::Delete => std::fs::remove_file(file).expect("delete"),
    }
}

const PATTERN: u8 = 0x5a;

/// Whether a message names the part of the disk a problem hurts (as `Region::describe` does).
fn names_region(text: &str) -> bool {
    ["partition 1", "partition 2", "boot area", "partition table"]
        .iter()
        .any(|r| text.contains(r))
}

#[test]
fn every_damaged_repository_file_is_detected_and_restore_writes_no_bad_data() {
    kit::require_tools();
    // Small and fast: a real ext4 and a raw partition of random bytes (one pack, one index).
    let disk = DiskBuilder::new(40 * MIB, Table::Gpt)
        .seed(0xda3a_6e00)
        .part(16 * MIB, FsType::Ext4, "root")
        .part(8 * MIB, FsType::Raw, "blob")
        .build()
        .expect("building the disk");
    let work = tempfile::tempdir().expect("tempdir");
    let clean = work.path().join("clean");
    let o = wraith(&["save", s(&disk.path), &format!("{}:pc", s(&clean))]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for kind in [Kind::Pack, Kind::Index, Kind::Manifest] {
        assert_eq!(files_of(&clean, kind).len(), 1, "{kind:?} files");
    }

    for kind in [Kind::Pack, Kind::Index, Kind::Manifest, Kind::Config] {
        for how in [Damage::Flip, Damage::Truncate, Damage::Delete] {
            let case = format!("{how:?} {kind:?}");
            let repo = work.path().join(format!("{kind:?}-{how:?}"));
            let ok = Command::new("cp")
                .arg("-a")
                .arg(&clean)
                .arg(&repo)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "copying the repository");
            damage(&files_of(&repo, kind)[0], kind, how);
            let spec = format!("{}:pc", s(&repo));

            // verify, of the whole repository and of the image: never "OK".
            for what in [s(&repo), spec.as_str()] {
                let v = wraith(&["verify", what]);
                let out = format!(
                    "{}{}",
                    String::from_utf8_lossy(&v.stdout),
                    String::from_utf8_lossy(&v.stderr)
                );
                // A repository whose only manifest is gone holds no image: nothing to check
                // there, but the image itself is reported missing.
                if matches!((kind, how), (Kind::Manifest, Damage::Delete)) && what == s(&repo) {
                    continue;
                }
                assert!(
                    matches!(v.status.code(), Some(1) | Some(2)),
                    "{case}: verify {what} passed: {out}"
                );
                let names = match (kind, how) {
                    // Chunks lost: image, partition and offset of the first one hurt.
                    (Kind::Pack, _) | (Kind::Index, _) => vec!["pc@", "disk offset"],
                    (Kind::Manifest, Damage::Delete) => vec!["pc"],
                    (Kind::Manifest, _) => vec!["manifest", "pc"],
                    (Kind::Config, _) => vec!["wraith-repo.json"],
                };
                for n in names {
                    assert!(
                        out.contains(n),
                        "{case}: verify {what} does not say {n:?}: {out}"
                    );
                }
                if matches!(kind, Kind::Pack | Kind::Index) {
                    assert!(names_region(&out), "{case}: verify names no region: {out}");
                }
            }

            // restore onto a target full of a pattern: refused (exit 2), naming the place.
            let target = work.path().join("target.img");
            std::fs::write(&target, vec![PATTERN; disk.size as usize]).expect("target");
            let r = wraith(&["restore", &spec, s(&target), "--yes"]);
            let err = String::from_utf8_lossy(&r.stderr).to_string();
            assert_eq!(r.status.code(), Some(2), "{case}: restore: {err}");
            let bytes = std::fs::read(&target).expect("read target");
            if matches!((kind, how), (Kind::Pack, Damage::Flip)) {
                // Found only when the chunk is read: the error names where it belongs, and
                // that window of the target never received its bytes.
                assert!(
                    err.contains("pc@")
                        && names_region(&err)
                        && err.contains("disk offset")
                        && err.contains("BLAKE3"),
                    "{case}: {err}"
                );
                let off: u64 = err
                    .split("disk offset ")
                    .nth(1)
                    .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("{case}: no offset in {err}"));
                let end = ((off / MIB + 1) * MIB) as usize;
                assert!(
                    bytes[off as usize..end].iter().all(|&b| b == PATTERN),
                    "{case}: the failed chunk's window at {off} was written"
                );
            } else {
                if matches!(kind, Kind::Pack | Kind::Index) {
                    assert!(
                        err.contains("pc@") && names_region(&err) && err.contains("disk offset"),
                        "{case}: restore does not say where: {err}"
                    );
                }
                // Everything else is found before the first write: the target is untouched.
                assert!(
                    bytes.iter().all(|&b| b == PATTERN),
                    "{case}: target written: {err}"
                );
            }
            std::fs::remove_file(&target).expect("cleanup");
        }
    }
}

//! `wraith save --all-sectors`, end to end with the real binary: a disk whose free space and
//! unallocated areas hold data is stored whole; the manifest's SHA-256 and MD5 are the
//! disk's own (as sha256sum/md5sum compute them), `info` and `list` say the image is complete,
//! and `export` to .raw reproduces exactly those digests. An ordinary save of the same disk
//! does not (free space is not stored), which proves the test can fail. The source is never
//! written.
#![allow(clippy::panic)] // test helpers report failures by panicking

use serde_json::Value;
use std::os::unix::fs::FileExt;
use std::process::{Command, Output};

fn wraith(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wraith"))
        .args(args)
        .output()
        .expect("running wraith")
}

fn json(args: &[&str]) -> Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let o = wraith(&a);
    assert!(
        o.status.success(),
        "wraith {a:?} failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    serde_json::from_str(out.lines().last().expect("a JSON result line")).expect("JSON result")
}

fn digest(tool: &str, path: &std::path::Path) -> String {
    let o = Command::new(tool).arg(path).output().expect(tool);
    assert!(o.status.success(), "{tool} failed");
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_string()
}

#[test]
fn an_all_sectors_image_carries_the_disks_digests_and_exports_to_exactly_them() {
    let src = wraith_testkit::gpt_disk();
    // Deleted data in an unallocated gap and past the last partition: what a forensic
    // image must keep and an ordinary image leaves out.
    let ranges = wraith_testkit::partition_ranges(&src.path).expect("partitions");
    let end = ranges
        .iter()
        .map(|(_, s, l)| s + l)
        .max()
        .expect("partitions");
    let size = std::fs::metadata(&src.path).expect("source").len();
    assert!(
        size - end > (1 << 20) + 64 * 512,
        "the fixture leaves room after its partitions"
    );
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&src.path)
        .expect("open source");
    let mut junk = vec![0u8; 256 << 10];
    for (i, b) in junk.iter_mut().enumerate() {
        *b = (i * 7 + i / 251) as u8 | 1;
    }
    f.write_all_at(&junk, end + 4096)
        .expect("write past the partitions");
    drop(f);
    let sha = digest("sha256sum", &src.path);
    let md5 = digest("md5sum", &src.path);

    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("repo");
    let r = repo.to_str().expect("utf-8");
    let disk = src.path.to_str().expect("utf-8");
    json(&["save", "--all-sectors", disk, &format!("{r}:evidence")]);
    json(&["save", disk, &format!("{r}:ordinary")]);
    assert_eq!(
        digest("sha256sum", &src.path),
        sha,
        "the source was written"
    );

    let info = json(&["info", &format!("{r}:evidence")]);
    let acq = &info["manifest"]["acquisition"];
    assert_eq!(acq["sha256"], Value::from(sha.clone()), "{info}");
    assert_eq!(acq["md5"], Value::from(md5.clone()), "{info}");
    assert_eq!(acq["bytes"], Value::from(size));
    let plain = json(&["info", &format!("{r}:ordinary")]);
    assert!(plain["manifest"]["acquisition"].is_null(), "{plain}");
    let listed = wraith(&["list", r]);
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("evidence@") && l.contains("all sectors")),
        "{listed}"
    );

    let out = dir.path().join("evidence.raw");
    json(&[
        "export",
        &format!("{r}:evidence"),
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(digest("sha256sum", &out), sha, "exported sha256");
    assert_eq!(digest("md5sum", &out), md5, "exported md5");
    // The ordinary image leaves the bytes past the partitions out: its export differs.
    let out2 = dir.path().join("ordinary.raw");
    json(&[
        "export",
        &format!("{r}:ordinary"),
        out2.to_str().expect("utf-8"),
    ]);
    assert_ne!(digest("sha256sum", &out2), sha);
}

//! Cross-checks the NTFS used map against ntfs-3g's tools on images made by the real mkntfs
//! over 0xAA garbage: the used cluster count must equal what ntfscluster reports, and copying
//! only the map onto garbage must give a volume ntfsfix accepts with identical files.

#![allow(clippy::panic)]

mod fs_helpers;
use fs_helpers::*;
use wraith_engine::fs::{self, FsKind};

fn field(out: &str, name: &str) -> u64 {
    out.lines()
        .find_map(|l| l.trim().strip_prefix(name))
        .map(|v| {
            v.trim()
                .trim_start_matches(':')
                .trim()
                .parse()
                .expect("number")
        })
        .unwrap_or_else(|| panic!("no {name} in:\n{out}"))
}

fn check(name: &str, size_mib: u64, mkfs_args: &[&str]) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("src");
    let files: Vec<(String, Vec<u8>)> = sample_tree(&src)
        .into_iter()
        .filter(|(n, _)| !n.contains('/'))
        .collect();
    let img = tmp.path().join("fs.img");
    let imgs = img.to_str().expect("utf8");
    // Garbage first, so free clusters hold bytes that must not be needed.
    image(&img, size_mib << 20, 0x5C);
    let mut args = vec!["-F", "-Q", "-f", "-L", "WraithVol"];
    args.extend_from_slice(mkfs_args);
    args.push(imgs);
    run_ok("mkntfs", &args);
    for (f, _) in &files {
        run_ok(
            "ntfscp",
            &[imgs, src.join(f).to_str().expect("utf8"), &format!("/{f}")],
        );
    }
    // Overwriting with a one-byte file frees the old clusters, which keep their bytes.
    let tiny = src.join("sub/deep/tiny");
    run_ok(
        "ntfscp",
        &["-f", imgs, tiny.to_str().expect("utf8"), "/doomed.bin"],
    );
    let mut files: Vec<(String, Vec<u8>)> = files
        .into_iter()
        .filter(|(n, _)| n != "doomed.bin")
        .collect();
    files.push(("doomed.bin".into(), std::fs::read(&tiny).expect("tiny")));

    let dev = wraith_engine::device::Device::open_read(&img).expect("open");
    let info = fs::probe(&dev).expect("probe").expect("recognised");
    assert_eq!(info.kind, FsKind::Ntfs, "{name}");
    assert_eq!(info.label.as_deref(), Some("WraithVol"), "{name}");
    let boot = std::fs::read(&img).expect("read")[..512].to_vec();
    let serial = u64::from_le_bytes(boot[0x48..0x50].try_into().expect("8"));
    assert_eq!(info.uuid, Some(format!("{serial:016X}")));
    let bps = u64::from(u16::from_le_bytes([boot[0x0B], boot[0x0C]]));
    let total_sectors = u64::from_le_bytes(boot[0x28..0x30].try_into().expect("8"));
    assert_eq!(
        info.size,
        (total_sectors + 1) * bps,
        "{name}: size includes the backup boot sector"
    );
    assert!(info.size <= size_mib << 20);

    let ci = run_ok("ntfscluster", &["-i", imgs]);
    let cs = field(&ci, "bytes per cluster");
    assert_eq!(info.block_size, cs, "{name}");
    let ni = run_ok("ntfsinfo", &["-m", imgs]);
    let total_clusters = field(&ni, "Volume Size in Clusters:");
    let free = field(&ci, "bytes of free space") / cs;
    let ours = info.used.covered(0, total_clusters * cs);
    assert_eq!(ours % cs, 0);
    eprintln!("{name}: {} of {total_clusters} clusters used", ours / cs);
    assert_eq!(ours / cs, total_clusters - free, "{name}: used clusters");
    // The backup boot sector is in the map.
    assert_eq!(
        info.used.covered(total_sectors * bps, info.size),
        bps,
        "{name}: backup boot sector"
    );

    let copy = tmp.path().join("copy.img");
    let copys = copy.to_str().expect("utf8");
    copy_used_onto_garbage(&img, &info.used, &copy);
    let (code, out, err) = run("ntfsfix", &["-n", copys]);
    assert_eq!(code, 0, "{name}: ntfsfix on the copy:\n{out}\n{err}");
    let ci2 = run_ok("ntfscluster", &["-i", copys]);
    assert_eq!(
        field(&ci2, "bytes of free space"),
        field(&ci, "bytes of free space")
    );
    for (f, data) in &files {
        let got = std::process::Command::new(tool("ntfscat").expect("ntfscat"))
            .args([copys, &format!("/{f}")])
            .output()
            .expect("ntfscat");
        assert!(got.status.success(), "{name}: ntfscat {f}");
        assert!(got.stdout == *data, "{name}: {f} differs in the copy");
    }
}

#[test]
fn ntfs_used_map_matches_ntfs3g() {
    if !have(&[
        "mkntfs",
        "ntfscp",
        "ntfscat",
        "ntfsinfo",
        "ntfscluster",
        "ntfsfix",
    ]) {
        return;
    }
    check("ntfs 4k clusters", 32, &[]);
    check("ntfs 512-byte clusters", 24, &["-c", "512"]);
    check("ntfs 64k clusters", 64, &["-c", "65536"]);
    check("ntfs 4k sectors", 32, &["-s", "4096"]);
    // 256 sectors per cluster: the boot sector stores it as a negative exponent (0xF8).
    check("ntfs 128k clusters", 64, &["-c", "131072"]);
}

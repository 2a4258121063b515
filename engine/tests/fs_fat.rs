//! Cross-checks the FAT12/16/32 used map against dosfstools and mtools on images made by the
//! real mkfs.vfat: the used data-cluster count must equal what fsck.vfat reports, and copying
//! only the map onto garbage must give a volume fsck.vfat passes with identical files.

#![allow(clippy::panic)]

mod fs_helpers;
use fs_helpers::*;
use wraith_engine::fs::{self, FsKind};

/// fsck.vfat -n -v's "img: N files, used/total clusters".
fn fsck_clusters(img: &str) -> (u64, u64) {
    let (code, out, err) = run("fsck.vfat", &["-n", "-v", img]);
    assert_eq!(code, 0, "fsck.vfat on the source:\n{out}\n{err}");
    let line = out
        .lines()
        .find(|l| l.ends_with(" clusters"))
        .expect("summary line");
    let frac = line
        .rsplit(", ")
        .next()
        .expect("frac")
        .trim_end_matches(" clusters");
    let (u, t) = frac.split_once('/').expect("used/total");
    (u.parse().expect("used"), t.parse().expect("total"))
}

/// `with_files`: mtools cannot open volumes with sectors other than 512 bytes, so those are
/// checked empty.
fn check(name: &str, size_mib: u64, mkfs_args: &[&str], kind: FsKind, with_files: bool) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("src");
    let mut files = sample_tree(&src);
    let img = tmp.path().join("fs.img");
    let imgs = img.to_str().expect("utf8");
    image(&img, size_mib << 20, 0);
    let mut args = vec!["-n", "WRAITHLBL", "-i", "12ab34cd"];
    args.extend_from_slice(mkfs_args);
    args.push(imgs);
    run_ok("mkfs.vfat", &args);
    if with_files {
        run_ok("mmd", &["-i", imgs, "::sub", "::sub/deep"]);
        for (f, _) in &files {
            let host = src.join(f);
            run_ok(
                "mcopy",
                &["-i", imgs, host.to_str().expect("utf8"), &format!("::{f}")],
            );
        }
        // A deleted file: its clusters are free again but still hold its bytes.
        run_ok("mdel", &["-i", imgs, "::doomed.bin"]);
    } else {
        files.clear();
    }

    let dev = wraith_engine::device::Device::open_read(&img).expect("open");
    let info = fs::probe(&dev).expect("probe").expect("recognised");
    assert_eq!(info.kind, kind, "{name}");
    assert_eq!(info.label.as_deref(), Some("WRAITHLBL"), "{name}");
    assert_eq!(info.uuid.as_deref(), Some("12AB-34CD"), "{name}");
    assert_eq!(info.size, size_mib << 20, "{name}");

    // Data clusters in our map = everything past the metadata, in whole clusters.
    let boot = std::fs::read(&img).expect("read")[..512].to_vec();
    let p = wraith_engine::fs::fat::parse_bpb(&boot, info.size)
        .expect("bpb")
        .expect("fat");
    let data_used = info.used.covered(p.data_start(), info.size);
    assert_eq!(data_used % info.block_size, 0);
    let (fsck_used, fsck_total) = fsck_clusters(imgs);
    eprintln!(
        "{name}: {} of {} clusters used",
        data_used / info.block_size,
        p.clusters
    );
    assert_eq!(p.clusters, fsck_total, "{name}: cluster count");
    assert_eq!(
        data_used / info.block_size,
        fsck_used,
        "{name}: used clusters"
    );
    assert_eq!(
        info.used.covered(0, p.data_start()),
        p.data_start(),
        "{name}: metadata"
    );

    let copy = tmp.path().join("copy.img");
    let copys = copy.to_str().expect("utf8");
    copy_used_onto_garbage(&img, &info.used, &copy);
    let (code, out, err) = run("fsck.vfat", &["-n", copys]);
    assert_eq!(code, 0, "{name}: fsck.vfat on the copy:\n{out}\n{err}");
    for (f, data) in files.iter().filter(|(n, _)| n != "doomed.bin") {
        let out_path = tmp.path().join("out.bin");
        let _ = std::fs::remove_file(&out_path);
        run_ok(
            "mcopy",
            &[
                "-n",
                "-i",
                copys,
                &format!("::{f}"),
                out_path.to_str().expect("utf8"),
            ],
        );
        assert!(
            std::fs::read(&out_path).expect("read out") == *data,
            "{name}: {f} differs in the copy"
        );
    }
}

#[test]
fn fat_used_map_matches_dosfstools() {
    if !have(&["mkfs.vfat", "fsck.vfat", "mcopy", "mmd", "mdel"]) {
        return;
    }
    check("fat12", 12, &["-F", "12", "-s", "8"], FsKind::Fat12, true);
    check("fat16", 32, &["-F", "16"], FsKind::Fat16, true);
    check(
        "fat12 64k clusters one fat",
        48,
        &["-F", "12", "-s", "128", "-f", "1"],
        FsKind::Fat12,
        true,
    );
    check("fat32", 64, &["-F", "32"], FsKind::Fat32, true);
    check(
        "fat32 4k sectors",
        64,
        &["-F", "32", "-S", "4096", "-s", "1"],
        FsKind::Fat32,
        false,
    );
    check(
        "fat12 2k sectors",
        8,
        &["-F", "12", "-S", "2048"],
        FsKind::Fat12,
        false,
    );
}

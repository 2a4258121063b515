//! `image_disk`: a saved image reads back, at any offset and in any piece size, as its source
//! disk where the image holds data and as zeros elsewhere; a damaged chunk names the image
//! and the disk offset.

use wraith_engine::device::ReadAt;
use wraith_engine::repo::image_disk::ImageDisk;

mod saved;

fn saved(src: &wraith_testkit::Disk) -> (tempfile::TempDir, ImageDisk) {
    // A small cache: reads must evict and fetch again.
    saved::saved_with_cache(src, 2 << 20)
}

#[test]
fn an_image_reads_as_its_source_where_it_holds_data_and_zero_elsewhere() {
    let src = wraith_testkit::gpt_disk();
    let (_dir, disk) = saved(&src);
    let source = std::fs::read(&src.path).expect("read source");
    assert_eq!(disk.size(), source.len() as u64);
    let whole = disk.read_vec(0, source.len()).expect("read image");
    // Every byte a region of the image uses is the source's; all else is zero.
    let mut used = wraith_engine::extent::ExtentList::new();
    for r in &disk.manifest().regions {
        for e in r.region.used.iter() {
            used.push(e.start, e.len);
        }
    }
    let mut pos = 0u64;
    for e in used.iter() {
        assert!(
            whole[pos as usize..e.start as usize]
                .iter()
                .all(|b| *b == 0),
            "unused bytes before {} are not zero",
            e.start
        );
        assert_eq!(
            &whole[e.start as usize..e.end() as usize],
            &source[e.start as usize..e.end() as usize],
            "used bytes at {} differ",
            e.start
        );
        pos = e.end();
    }
    assert!(used.total() > 1 << 20, "the fixture uses data");
    // Odd-sized reads across chunk edges give the same bytes.
    let mut at = 12345u64;
    while at < disk.size() {
        let n = (777_777u64).min(disk.size() - at) as usize;
        let piece = disk.read_vec(at, n).expect("piece");
        assert_eq!(piece, whole[at as usize..at as usize + n]);
        at += 3_000_001;
    }
    assert!(disk.read_vec(disk.size() - 10, 11).is_err(), "past the end");
    // Holes are exactly what no stored window covers.
    let stored = disk.stored();
    let first = stored.iter().next().expect("stored data");
    assert!(!disk.is_hole(first.start, 1));
    let last = stored.iter().last().expect("stored data");
    if last.end() < disk.size() {
        assert!(disk.is_hole(last.end(), disk.size() - last.end()));
    }
}

#[test]
fn a_damaged_chunk_is_named_with_the_image_and_the_disk_offset() {
    let src = wraith_testkit::mbr_disk();
    let (dir, disk) = saved(&src);
    // Flip one byte in the middle of every pack: each chunk there fails its check.
    for pack in walk(&dir.path().join("packs")) {
        let mut b = std::fs::read(&pack).expect("pack");
        let at = 16 + (b.len() - 16) / 3;
        b[at] ^= 0x55;
        std::fs::write(&pack, b).expect("write pack");
    }
    let mut errors = Vec::new();
    let mut at = 0;
    while at < disk.size() {
        let n = (1u64 << 20).min(disk.size() - at);
        if let Err(err) = disk.read_vec(at, n as usize) {
            errors.push(err.to_string());
        }
        at += n;
    }
    assert!(!errors.is_empty(), "no damaged chunk was noticed");
    assert!(
        errors[0].contains(&disk.image().to_string()) && errors[0].contains("disk offset"),
        "{}",
        errors[0]
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

//! Robustness: real images with random bytes of their metadata changed must give a map or an
//! error from `fs::probe`, never a panic or a hang.

#![allow(clippy::panic)]

mod fs_helpers;
use fs_helpers::*;
use wraith_engine::fs;

/// Flips bytes in `[lo, hi)` a few at a time, probing after each change, then restores them.
// A Vec, not a slice: `fs::probe` takes `&dyn ReadAt`, which an unsized `[u8]` cannot become.
#[allow(clippy::ptr_arg)]
fn mutate(img: &mut Vec<u8>, lo: usize, hi: usize, rounds: usize, seed: u64) -> usize {
    let mut recognised = 0;
    let mut x = seed | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..rounds {
        let mut saved = Vec::new();
        for _ in 0..1 + next() % 4 {
            let at = lo + (next() as usize) % (hi - lo);
            saved.push((at, img[at]));
            img[at] = next() as u8;
        }
        if let Ok(Some(_)) = fs::probe(img) {
            recognised += 1;
        }
        for (at, b) in saved.into_iter().rev() {
            img[at] = b;
        }
    }
    recognised
}

#[test]
fn mutated_metadata_never_panics() {
    if !have(&["mkfs.ext4", "mkfs.vfat", "mkntfs"]) {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = tmp.path().join("m.img");
    let ps = p.to_str().expect("utf8");

    image(&p, 4 << 20, 0);
    run_ok("mkfs.ext4", &["-q", "-F", "-b", "1024", "-g", "1024", ps]);
    let mut img = std::fs::read(&p).expect("read");
    assert!(fs::probe(&img).expect("clean ext").is_some());
    let ok = mutate(&mut img, 1024, 8192, 3000, 1);
    eprintln!("mutation set 1: {ok} still mapped");

    image(&p, 4 << 20, 0);
    run_ok("mkfs.vfat", &["-F", "12", ps]);
    let mut img = std::fs::read(&p).expect("read");
    assert!(fs::probe(&img).expect("clean fat").is_some());
    let ok = mutate(&mut img, 0, 4096, 3000, 2);
    eprintln!("mutation set 2: {ok} still mapped");

    image(&p, 4 << 20, 0);
    run_ok("mkntfs", &["-F", "-Q", "-f", ps]);
    let mut img = std::fs::read(&p).expect("read");
    assert!(fs::probe(&img).expect("clean ntfs").is_some());
    let ok = mutate(&mut img, 0, 512, 3000, 3);
    eprintln!("mutation set 3: {ok} still mapped");
    let cluster = usize::from(u16::from_le_bytes([img[0x0B], img[0x0C]])) * usize::from(img[0x0D]);
    let mft = u64::from_le_bytes(img[0x30..0x38].try_into().expect("8")) as usize * cluster;
    let ok = mutate(&mut img, mft, mft + 8 * 1024, 3000, 4);
    eprintln!("mutation set 4: {ok} still mapped");
}

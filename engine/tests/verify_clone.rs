//! `verify_clone`: a clone compares equal to its source, and a changed byte in a partition's
//! used data is found and placed.

use std::os::unix::fs::FileExt;
use wraith_engine::device::{Device, ReadAt};
use wraith_engine::events::Ctx;
use wraith_engine::pipeline::{clone::clone, verify::verify_clone};
use wraith_engine::plan::{plan, RegionKind};

#[test]
fn a_clone_verifies_and_a_changed_byte_does_not() {
    let src = wraith_testkit::gpt_disk();
    let dst = wraith_testkit::blank_disk(200 * wraith_testkit::MIB);
    let source = Device::open_read(&src.path).expect("open source");
    let p = plan(&source, source.identity.clone()).expect("plan");
    let target = Device::open_write(&dst.path).expect("open target");
    clone(&source, &p, &target, None, &Ctx::quiet()).expect("clone");
    let rep = verify_clone(&source, &p, &target, &Ctx::quiet()).expect("verify");
    assert!(rep.problems.is_empty(), "{:?}", rep.problems);
    assert!(rep.bytes > 0);

    let r = p
        .regions
        .iter()
        .find(|r| r.kind == RegionKind::Partition { number: 2 })
        .expect("partition 2");
    let at = r.used.iter().last().expect("used data").start + 100;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .read(true)
        .open(&dst.path)
        .expect("open copy");
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).expect("read");
    f.write_all_at(&[b[0] ^ 0xff], at).expect("write");
    drop(f);
    let target = Device::open_read(&dst.path).expect("reopen target");
    let rep = verify_clone(&source, &p, &target, &Ctx::quiet()).expect("verify");
    assert_eq!(rep.problems.len(), 1, "{:?}", rep.problems);
    assert_eq!(rep.problems[0].region, r.describe());
    assert_eq!(rep.problems[0].offset, Some(at));
}

/// After a clone that moved one partition and grew another, the verification compares the
/// moved one where it now is and runs the grown filesystem's checker: the clean copy passes,
/// a flipped byte in the moved partition and a broken superblock in the grown one are found.
/// Root (the checker runs on a loop device).
#[test]
fn a_reshaped_clone_verifies_where_its_partitions_went() {
    use wraith_engine::ops::{reshape::decide, LayoutChoice};
    use wraith_engine::pipeline::reshape::verify_cloned;
    if !nix::unistd::geteuid().is_root() {
        assert!(
            std::env::var_os("WRAITH_NO_SKIP").is_none(),
            "needs root (loop devices) and WRAITH_NO_SKIP is set"
        );
        eprintln!("SKIPPED: needs root (loop devices)");
        return;
    }
    let src = wraith_testkit::gpt_disk();
    let dst = wraith_testkit::blank_disk(2 * src.size);
    let source = Device::open_read(&src.path).expect("open source");
    let p = plan(&source, source.identity.clone()).expect("plan");
    let target = Device::open_write(&dst.path).expect("open target");
    let choice = LayoutChoice {
        policy: "grow".parse().expect("policy"),
        grow: Some(2),
        scratch: None,
    };
    let shape = decide(&p.table, &p.regions, source.size(), &target, &choice, &[])
        .expect("decide")
        .reshape
        .expect("a layout change");
    let step = |n: u32| {
        shape
            .steps
            .iter()
            .find(|s| s.number == n)
            .cloned()
            .expect("step")
    };
    let (grown, moved) = (step(2), step(3));
    assert!(grown.new_len > grown.old_len, "{shape:?}");
    assert!(moved.new_start > moved.old_start && moved.new_len == moved.old_len);
    clone(&source, &p, &target, Some(&shape), &Ctx::quiet()).expect("clone");
    let rep = verify_cloned(&source, &p, &target, &shape, &Ctx::quiet()).expect("verify");
    assert!(rep.problems.is_empty(), "{:?}", rep.problems);
    assert!(rep.bytes > 0);

    let f = std::fs::OpenOptions::new()
        .write(true)
        .read(true)
        .open(&dst.path)
        .expect("open copy");
    // A byte of partition 3's data, where the clone moved it.
    let r3 = p
        .regions
        .iter()
        .find(|r| r.kind == RegionKind::Partition { number: 3 })
        .expect("partition 3");
    let at = r3.used.iter().last().expect("used data").start + 100;
    let moved_at = at - moved.old_start + moved.new_start;
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, moved_at).expect("read");
    f.write_all_at(&[b[0] ^ 0xff], moved_at).expect("write");
    // The ext4 magic (superblock at 1024, magic at 0x38) of the grown partition 2.
    f.write_all_at(&[0, 0], grown.new_start + 1024 + 0x38)
        .expect("write");
    drop(f);
    let target = Device::open_read(&dst.path).expect("reopen target");
    let rep = verify_cloned(&source, &p, &target, &shape, &Ctx::quiet()).expect("verify");
    let found: Vec<(String, Option<u64>)> = rep
        .problems
        .iter()
        .map(|x| (x.region.clone(), x.offset))
        .collect();
    assert_eq!(rep.problems.len(), 2, "{:?}", rep.problems);
    assert!(found.contains(&(r3.describe(), Some(at))), "{found:?}");
    assert!(
        rep.problems
            .iter()
            .any(|x| x.offset == Some(grown.new_start) && x.detail.contains("check clean")),
        "{:?}",
        rep.problems
    );
}

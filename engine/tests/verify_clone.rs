//! `verify_clone`: a clone compares equal to its source, and a changed byte in a partition's
//! used data is found and placed.

use std::os::unix::fs::FileExt;
use wraith_engine::device::Device;
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

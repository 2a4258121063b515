//! MBR: primary entries and the extended partition's chain of EBRs.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wraith_fuzz::SparseDisk;

fuzz_target!(|data: &[u8]| {
    let disk = SparseDisk::new(data);
    let _ = wraith_engine::table::mbr::read(&disk, 512);
    let _ = wraith_engine::table::mbr::read(&disk, 4096);
    // What `plan` does with any disk: table first, whichever kind wins.
    let _ = wraith_engine::table::read(&disk, 512);
});

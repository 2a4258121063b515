//! GPT: headers, entry arrays and their CRCs, and laying the table out for another disk size.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wraith_engine::table::gpt;
use wraith_fuzz::SparseDisk;

fuzz_target!(|data: &[u8]| {
    let disk = SparseDisk::new(data);
    for ss in [512, 4096] {
        let _ = gpt::read(&disk, ss);
        if let Ok(Some(primary)) = gpt::primary_area(&disk, ss) {
            let size = wraith_engine::device::ReadAt::size(&disk);
            let _ = gpt::relocate(&primary, ss, size);
            let _ = gpt::relocate(&primary, ss, size.saturating_mul(2));
        }
    }
});

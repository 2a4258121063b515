//! partclone's image stream from untrusted bytes: descriptor (0001 and 0002), bitmap, used
//! blocks and their checksums. Must never panic, and must not allocate by a claimed size that
//! the bytes do not back up; a stream that parses whole is consistent with its descriptor.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wraith_engine::clonezilla::partclone;

fuzz_target!(|data: &[u8]| {
    if let Ok((h, used)) = partclone::check_all(data) {
        assert_eq!(used, h.used_blocks);
        let need = h.data_len(used).expect("data length fits");
        assert!(need <= data.len() as u64);
    }
});

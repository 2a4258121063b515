//! Index files. First byte: 0 the file as stored, 1 the file with a valid trailing checksum
//! (so the entry count and entries are what gets fuzzed).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let file = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        wraith_fuzz::with_trailing_hash(rest)
    };
    let _ = wraith_engine::repo::index::decode("fuzz.idx", &file);
});

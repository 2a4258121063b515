//! Pack files: the trailer and entry table, then every chunk they point to through the
//! decompress-and-verify path a restore uses. First byte: 0 the file as stored, 1 the file with
//! its entry-table checksum made valid.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wraith_engine::repo::pack;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let file = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        wraith_fuzz::pack_with_valid_table(rest)
    };
    if let Ok(entries) = pack::read_entries("fuzz.pack", &file) {
        let mut codec = pack::Codec::new(1);
        let mut out = Vec::new();
        for e in entries {
            // read_entries promised every entry lies inside the file.
            let start = e.offset as usize;
            let stored = &file[start..start + e.stored_len as usize];
            let _ = codec.decode_into(&e.id, stored, e.raw_len, e.flags, "fuzz.pack", &mut out);
        }
    }
});

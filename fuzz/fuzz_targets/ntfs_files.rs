//! NTFS file naming for unreadable ranges: the MFT's own runs, records with fixups, attribute
//! lists, $FILE_NAME and index entries, and the walk up to the root. Input: one byte choosing
//! the unreadable range (see `wraith_fuzz::bad_range`), then a sparse disk.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wraith_engine::fs::FsKind;
use wraith_fuzz::{walk_files, SparseDisk};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    walk_files(&SparseDisk::new(rest), FsKind::Ntfs, pick);
});

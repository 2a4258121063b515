//! ext2/3/4 file naming for unreadable ranges: inode tables, extent trees, indirect blocks,
//! directory entries (blocks and inline data) and the walk up to the root. Input: one byte
//! choosing the unreadable range (see `wraith_fuzz::bad_range`), then a sparse disk.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wraith_engine::fs::FsKind;
use wraith_fuzz::{walk_files, SparseDisk};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    walk_files(&SparseDisk::new(rest), FsKind::Ext4, pick);
});

//! FAT12/16/32: the boot sector's BPB and the allocation table.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wraith_engine::fs::Filesystem;
use wraith_fuzz::SparseDisk;

fuzz_target!(|data: &[u8]| {
    let disk = SparseDisk::new(data);
    if let Ok(Some(info)) = wraith_engine::fs::fat::Fat.probe(&disk) {
        // A recognised filesystem must describe itself inside the disk it was read from.
        let size = wraith_engine::device::ReadAt::size(&disk);
        assert!(info
            .used
            .as_slice()
            .iter()
            .all(|e| e.start.saturating_add(e.len) <= size.max(info.size)));
    }
});

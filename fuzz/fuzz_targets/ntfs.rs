//! NTFS: boot sector, the $MFT record of $Bitmap (attributes, fixups, data runs) and the bitmap.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wraith_engine::fs::Filesystem;
use wraith_fuzz::SparseDisk;

fuzz_target!(|data: &[u8]| {
    let disk = SparseDisk::new(data);
    if let Ok(Some(info)) = wraith_engine::fs::ntfs::Ntfs.probe(&disk) {
        // A recognised filesystem must describe itself inside the disk it was read from.
        let size = wraith_engine::device::ReadAt::size(&disk);
        assert!(info
            .used
            .as_slice()
            .iter()
            .all(|e| e.start.saturating_add(e.len) <= size.max(info.size)));
    }
});

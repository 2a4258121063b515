//! VM disk containers (qcow2, VHDX, VMDK): headers, tables, compressed clusters and grains
//! read from a sparse virtual file, then reads at the start, middle and end of the disk.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wraith_fuzz::SparseDisk;

fuzz_target!(|data: &[u8]| {
    let file = SparseDisk::new(data);
    if let Ok(Some(disk)) = wraith_engine::vdisk::open_inner(file, "fuzz") {
        let size = disk.size();
        let mut buf = vec![0u8; 256 << 10];
        for at in [0, size / 2, size.saturating_sub(buf.len() as u64)] {
            let n = (buf.len() as u64).min(size.saturating_sub(at)) as usize;
            let _ = disk.read_exact_at(&mut buf[..n], at);
            let _ = disk.is_hole(at, n as u64);
        }
    }
});

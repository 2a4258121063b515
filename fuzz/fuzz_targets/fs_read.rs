//! Reading files without mounting (`fs::reader`): ext2/3/4, FAT and NTFS directories, block
//! maps, cluster chains, runlists, attribute lists and LZNT1 units, from a sparse disk. Every
//! directory is listed (a bounded number of entries) and every file read at its start and end.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wraith_engine::device::ReadAt;
use wraith_engine::fs::reader::{self, EntryKind};
use wraith_fuzz::SparseDisk;

fuzz_target!(|data: &[u8]| {
    let disk = SparseDisk::new(data);
    let Ok(fs) = reader::open(&disk) else {
        return;
    };
    let Ok(root) = fs.root() else {
        return;
    };
    let mut stack = vec![root];
    let mut budget = 2000usize;
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs.list(&dir) else {
            continue;
        };
        for e in entries {
            budget = match budget.checked_sub(1) {
                Some(b) => b,
                None => return,
            };
            let _ = reader::lookup(fs.as_ref(), &e.name_lossy());
            match e.kind {
                EntryKind::Dir => stack.push(e),
                EntryKind::File => {
                    if let Ok(f) = fs.open(&e) {
                        let size = f.size();
                        assert_eq!(size, e.size);
                        let n = size.min(65536) as usize;
                        let _ = f.read_vec(0, n);
                        let _ = f.read_vec(size - n as u64, n);
                        assert!(f.read_vec(size, 1).is_err(), "read past a file's end");
                    }
                }
                _ => {}
            }
        }
    }
});

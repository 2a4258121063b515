//! The NBD server's side of one connection fed arbitrary client bytes (negotiation, then
//! requests): it must end cleanly, never panic, and never allocate past its bounds whatever
//! lengths a client claims. The export is a small in-memory disk with a hole and an overlay
//! in a temporary file, so writes, zeroes and block status run too.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use wraith_engine::device::ReadAt;
use wraith_engine::nbd::overlay::Overlay;
use wraith_engine::nbd::{serve_connection, Export};

/// A 1 MiB disk whose second half is a hole.
struct Disk(Vec<u8>);
impl ReadAt for Disk {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> wraith_engine::Result<()> {
        self.0.read_exact_at(buf, offset)
    }
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
    fn is_hole(&self, offset: u64, len: u64) -> bool {
        offset >= self.size() / 2 && offset.saturating_add(len) <= self.size()
    }
}

fn exports() -> &'static (Export, Export) {
    static E: OnceLock<(Export, Export)> = OnceLock::new();
    E.get_or_init(|| {
        let disk: Arc<dyn ReadAt + Send + Sync> = Arc::new(Disk(vec![0x5a; 1 << 20]));
        let dir = std::env::temp_dir().join(format!("wraith-fuzz-nbd-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("overlay");
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(dir.join("overlay.map"));
        let overlay = Overlay::open(&path, "fuzz@1", 1 << 20).expect("overlay");
        let ro = Export {
            name: "fuzz".into(),
            description: String::new(),
            disk: disk.clone(),
            overlay: None,
        };
        let rw = Export {
            name: "fuzz".into(),
            description: String::new(),
            disk,
            overlay: Some(Arc::new(overlay)),
        };
        (ro, rw)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let (ro, rw) = exports();
    let export = if first & 1 == 0 { ro } else { rw };
    let _ = serve_connection(rest, std::io::sink(), export, "fuzz", &|_| {});
});

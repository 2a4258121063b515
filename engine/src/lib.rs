//! wraith-engine: everything Wraith knows about disks and images, with no user interface.
//!
//! It owns devices (block devices and image files), partition tables, filesystem used-block
//! maps, the content-addressed image repository, and the clone/save/restore/verify pipelines
//! with their safety interlocks. It must never touch the terminal: it reports through typed
//! [`events::Event`]s and stops between chunks when its [`events::Cancel`] token is set, so the
//! CLI and the TUI can render the same work in their own way.

pub mod clonezilla;
pub mod device;
pub mod direct;
pub mod disks;
pub mod error;
pub mod events;
pub mod extent;
pub mod fs;
pub mod fuse;
pub mod health;
pub mod identity;
pub mod image_mount;
pub mod job;
pub mod layout;
pub mod live;
pub mod loopdev;
pub mod machine;
pub mod mcast;
pub mod mount;
pub mod nbd;
pub mod ops;
pub mod pipeline;
pub mod plan;
pub mod repo;
pub mod resize;
pub mod safety;
pub mod table;
pub mod vdisk;

pub use error::{Error, Interlock, NetCause, Result};

/// Sizes for people: "1.5 GiB", "512 B".
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

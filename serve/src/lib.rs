//! wraith-serve owns serving a repository and network-boot files to a room of machines: an
//! HTTP/1.1 server giving the repository read-only in the layout Wraith's `http://` client
//! reads (ranges, PROPFIND and HTML listings), the kernel, initramfs and generated iPXE
//! scripts, per-machine job files, the room's view of its clients, the dnsmasq configuration
//! for PXE (proxy-DHCP or full DHCP, TFTP of iPXE) and Wake-on-LAN packets.
//!
//! It must not write images or touch disks: the only files it writes are a job's result and
//! log in the repository's `results/` (through `tmp/`, never replacing a file) and dnsmasq's
//! configuration in a temporary directory. Rendering the room for people is the front end's.

pub mod boot;
pub mod iface;
pub mod jobs;
pub mod listing;
pub mod paths;
pub mod pxe;
pub mod room;
mod server;
pub mod wake;
mod writes;

pub use room::{Progress, Room, Row, State};
pub use server::{serve, Config};

/// The header a served job file carries: where the job runner may post its progress
/// ([`room::Progress`] as JSON). Only `wraith serve` sends it, so only its clients report.
pub const PROGRESS_HEADER: &str = "x-wraith-progress";

/// The largest result or log a job may upload, by default.
pub const MAX_UPLOAD: u64 = 16 << 20;

//! wraith-init is PID 1 of the Wraith live system. It owns the boot namespace (proc, sysfs,
//! devtmpfs, devpts, tmpfs mounts), reads `wraith.*` parameters from the kernel command line,
//! starts udevd, waits for late disks, brings `lo` up, prints `WRAITH-READY`, then runs the
//! `wraith` UI (or an unattended job) on the console, reaping every zombie, restarting the UI
//! or falling back to a busybox rescue shell, and finally powers off or reboots cleanly.
//!
//! It must not: exit or panic out (PID 1 exiting is a kernel panic in front of the user);
//! touch disks beyond unmounting at shutdown (imaging is the engine's job, in the UI process);
//! link anything dynamically (it is /init in an initramfs with no libraries for it, hence no
//! dependency on wraith-engine); or do anything at all when it is not PID 1.

//!
//! The library holds all of it, so the parsers of untrusted bytes (the kernel command line in
//! [`cmdline`], DHCP replies in [`net::dhcp`], netlink answers in [`net::netlink`]) can be
//! fuzzed and tested apart from PID 1; src/main.rs only chooses between [`boot::boot`] and
//! [`tool::run`].

pub mod boot;
pub mod cmdline;
pub mod disks;
pub mod firmware;
pub mod log;
pub mod modules;
pub mod mounts;
pub mod net;
pub mod power;
pub mod supervise;
pub mod tool;
pub mod udev;

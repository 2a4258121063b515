//! The contract between the parts of the Wraith live system that run as separate programs:
//! wraith-init (PID 1), the `wraith` UI/CLI and the engine it drives. Each item here used to
//! be kept as a hand-made copy on both sides; now both sides compile against one definition,
//! and the tests here and in init pin that what one writes the other reads.
//!
//! It owns:
//! - [`net`]: the `wraith.net=` grammar (kernel command line, a job's `net` key, the TUI form);
//! - [`paths`]: the `/run/wraith` state directory and the names of the files in it;
//! - [`exit`]: the exit codes by which the UI or a job asks init to power off, reboot or
//!   start the rescue shell;
//! - [`state`]: `net.json` (init writes, the UI reads) and `net-request` (the UI writes, init
//!   reads), as serde types with one definition;
//! - [`cmdline`]: the kernel's split of its command line into parameters (init reads its
//!   `wraith.*` settings with it, the UI the `wraith.repo=` repositories);
//! - [`inline`]: the inline-job tokenizer (`wraith.run=` / `wraith job --inline`) and
//!   `percent_decode`.
//!
//! It must not do I/O or hold policy: no files are read or written here, nothing is
//! configured, waited for or retried. Functions turn values into text and back; deciding
//! when, where and what to do about an error stays with init and the UI. It depends on serde
//! and serde_json only, because init links it statically into /init.

pub mod cmdline;
pub mod exit;
pub mod inline;
pub mod json;
pub mod net;
pub mod paths;
pub mod state;

pub use net::{NetMode, StaticConfig};

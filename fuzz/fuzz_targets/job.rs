//! Job files (TOML) and inline jobs (the kernel command line form), and repository locations.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wraith_engine::job::{parse_repository, Job};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = Job::from_toml(&text);
    let _ = Job::from_inline(&text);
    let _ = parse_repository(&text);
});

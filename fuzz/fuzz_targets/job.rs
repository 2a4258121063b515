//! Job files (TOML) and inline jobs (the kernel command line form), repository locations and
//! `REPO:NAME[@ID]` specs.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wraith_engine::job::Job;
use wraith_engine::ops::repository::{check_job_location, parse_image_spec};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = Job::from_toml(&text);
    let _ = Job::from_inline(&text);
    let _ = check_job_location(&text);
    let _ = parse_image_spec(&text);
});

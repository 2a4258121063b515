//! wraith-init's kernel command line: the kernel's quoting rules, every `wraith.*` parameter,
//! the inline job fields, the terminal choice and the `--dry-run-cmdline` JSON.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wraith_init::cmdline;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    let params = cmdline::split_params(&line);
    assert!(params.len() <= line.len());
    let cfg = cmdline::parse(&line);
    let json = cmdline::to_json(&cfg, "/usr/bin/wraith");
    // Whatever the line, the dry run is JSON.
    let v: serde_json::Value = serde_json::from_str(&json).expect("dry-run output is JSON");
    assert!(v.is_object());
});

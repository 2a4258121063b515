//! The live-system contract's text formats: a `net-request` file, the `wraith.net=` grammar
//! (whose Display must give back a value that parses to the same thing) and the inline-job
//! tokenizer.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wraith_live::state::NetRequest;
use wraith_live::{inline, NetMode};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(r) = NetRequest::parse(&text) {
        assert_eq!(NetRequest::parse(&r.to_text()).map(|b| b.mode), Ok(r.mode));
    }
    if let Ok(m) = NetMode::parse(&text) {
        assert_eq!(NetMode::parse(&m.to_string()), Ok(m));
    }
    if let Ok(fields) = inline::fields(&text) {
        assert!(fields.iter().all(|(k, _)| !k.is_empty()));
    }
    let _ = inline::percent_decode(&text);
});

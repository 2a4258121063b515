//! HTML directory indexes (nginx, Apache, Python) and the names kept from their links.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wraith_engine::repo::listing::{html, names_from_hrefs};

fuzz_target!(|data: &[u8]| {
    let page = String::from_utf8_lossy(data);
    let hrefs = html::hrefs(&page);
    for name in names_from_hrefs("http://h/r/packs/", &hrefs) {
        assert!(!name.is_empty() && !name.contains('/'), "{name:?}");
        assert!(name != "." && name != "..");
    }
});

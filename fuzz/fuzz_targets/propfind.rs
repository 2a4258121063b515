//! WebDAV PROPFIND answers (XML, namespaces, entities, CDATA) and the names kept from them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wraith_engine::repo::listing::{names_from_hrefs, propfind};

fuzz_target!(|data: &[u8]| {
    let xml = String::from_utf8_lossy(data);
    if let Ok(hrefs) = propfind::hrefs(&xml) {
        for name in names_from_hrefs("http://h:8/dav/r%20x/images/", &hrefs) {
            assert!(!name.is_empty() && !name.contains('/'), "{name:?}");
        }
    }
});

//! wraith-init's DHCP reply parser: fixed BOOTP header, options (RFC 2132), option overload
//! into sname/file (RFC 2131 option 52), concatenated repeats (RFC 3396), the domain search
//! list with its compression pointers (RFC 3397).
#![no_main]
use libfuzzer_sys::fuzz_target;
use wraith_init::net::dhcp::{decode_search, Reply};

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = Reply::parse(data) {
        let _ = r.prefix_len();
        // Addresses come from option bytes: never more than the packet holds.
        assert!(r.dns.len() <= data.len() / 4);
        assert!(r.search.iter().all(|n| n.len() <= 253));
    }
    // The search list decoder on its own, as option 119's value.
    // A domain name has at most 253 characters, however the pointers are laid.
    for name in decode_search(data) {
        assert!(name.len() <= 253, "{}", name.len());
    }
});

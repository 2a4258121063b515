//! Image manifests. The first byte picks what the rest is: 0 a manifest file as stored; 1 the
//! JSON inside one (compressed and given a valid header here, so mutations reach serde and the
//! checks after it); 2 a compressed body given a valid header (zstd bombs, truncated frames).
#![no_main]
use libfuzzer_sys::fuzz_target;
use wraith_engine::repo::manifest::Manifest;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let file = match mode % 3 {
        0 => rest.to_vec(),
        1 => match zstd::bulk::compress(rest, 1) {
            Ok(body) => wraith_fuzz::manifest_file(&body),
            Err(_) => return,
        },
        _ => wraith_fuzz::manifest_file(rest),
    };
    if let Ok(m) = Manifest::decode("fuzz.manifest", &file) {
        let _ = m.chunks().count();
        let _ = m.encode();
    }
    let _ = serde_json::from_slice::<wraith_engine::repo::RepoConfig>(rest);
});

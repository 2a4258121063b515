//! The initramfs reader: newc records (hex fields, names, padding, concatenated archives) and
//! zstd-compressed archives under a decompression limit.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = initramfs_tool::read_archive(data, 64 << 20);
});

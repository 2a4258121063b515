//! Shared helpers for the filesystem cross-check tests (engine/tests/fs_*.rs): running the real
//! tools on sparse image files and copying only the used map onto a garbage-filled target.
#![allow(dead_code, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use wraith_engine::device::ReadAt;
use wraith_engine::extent::ExtentList;

/// Finds a tool on PATH or in the sbin directories (tests may run without them on PATH).
pub fn tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file());
    found
}

/// Runs a tool; returns (exit code, stdout, stderr). Panics if it is missing or cannot start.
pub fn run(name: &str, args: &[&str]) -> (i32, String, String) {
    let exe = tool(name).unwrap_or_else(|| panic!("{name} not installed"));
    let out = Command::new(&exe)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a tool and insists on exit status 0.
pub fn run_ok(name: &str, args: &[&str]) -> String {
    let (code, out, err) = run(name, args);
    assert_eq!(code, 0, "{name} {args:?} failed:\n{out}\n{err}");
    out
}

/// True when every tool is installed; otherwise says which is missing (the test then skips).
pub fn have(tools: &[&str]) -> bool {
    for t in tools {
        if tool(t).is_none() {
            wraith_testkit::skip_missing_tool(t, "this test");
            return false;
        }
    }
    true
}

/// A sparse file of `size` bytes, or one filled with `fill` when it is not 0.
pub fn image(path: &Path, size: u64, fill: u8) {
    let mut f = std::fs::File::create(path).expect("create image");
    if fill == 0 {
        f.set_len(size).expect("set_len");
        return;
    }
    let chunk = vec![fill; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n]).expect("fill image");
        left -= n as u64;
    }
}

/// Deterministic pseudo-random bytes (xorshift), so file contents are not trivially zero.
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A directory of test files: some small, some spanning many blocks, one nested.
pub fn sample_tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let files = vec![
        ("hello.txt".to_string(), b"hello, wraith\n".to_vec()),
        ("big.bin".to_string(), bytes(1, 3 * 1024 * 1024 + 123)),
        ("mid.bin".to_string(), bytes(2, 200_000)),
        ("sub/nested.bin".to_string(), bytes(3, 70_000)),
        ("sub/deep/tiny".to_string(), bytes(4, 1)),
        ("doomed.bin".to_string(), bytes(5, 500_000)),
    ];
    for (name, data) in &files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, data).expect("write sample");
    }
    files
}

/// Copies only `used` from `src` onto a fresh target of the same size full of 0xAA.
pub fn copy_used_onto_garbage(src: &Path, used: &ExtentList, dst: &Path) {
    let size = std::fs::metadata(src).expect("stat").len();
    image(dst, size, 0xAA);
    let s = wraith_engine::device::Device::open_read(src).expect("open src");
    let out = std::fs::OpenOptions::new()
        .write(true)
        .open(dst)
        .expect("open dst");
    use std::os::unix::fs::FileExt;
    for e in used.iter() {
        assert!(
            e.end() <= size,
            "used extent {e:?} beyond the image ({size})"
        );
        let mut pos = e.start;
        while pos < e.end() {
            let n = (e.end() - pos).min(1 << 20) as usize;
            let mut buf = vec![0u8; n];
            s.read_exact_at(&mut buf, pos).expect("read src");
            out.write_all_at(&buf, pos).expect("write dst");
            pos += n as u64;
        }
    }
}

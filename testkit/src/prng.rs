//! A tiny seeded PRNG (SplitMix64). Fixtures must be reproducible byte-for-byte across runs and
//! machines so that tests can regenerate expected content; a full `rand` dependency would add
//! nothing here.

/// SplitMix64: fast, statistically fine for test data, trivially seedable.
#[derive(Debug, Clone)]
pub struct Prng(u64);

impl Prng {
    pub fn new(seed: u64) -> Self {
        // Mix the seed once so that neighbouring seeds (partition 1, 2, ...) diverge immediately.
        let mut p = Prng(seed ^ 0x5752_4149_5448_u64);
        p.next_u64();
        p
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish value in `0..n` (modulo bias is irrelevant for fixtures).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let last = self.next_u64().to_le_bytes();
        let n = rest.len();
        rest.copy_from_slice(&last[..n]);
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        self.fill(&mut v);
        v
    }
}

const WORDS: &[&str] = &[
    "sector",
    "cluster",
    "inode",
    "extent",
    "journal",
    "bitmap",
    "superblock",
    "partition",
    "bootloader",
    "checksum",
    "volume",
    "image",
    "restore",
    "backup",
    "block",
    "device",
    "table",
    "primary",
    "logical",
    "extended",
    "label",
    "uuid",
    "free",
    "used",
    "sparse",
    "hole",
    "metadata",
    "directory",
    "file",
    "offset",
    "length",
    "align",
    "the",
    "a",
    "of",
    "and",
    "to",
    "with",
    "from",
    "into",
    "every",
    "some",
    "copy",
    "verify",
    "compress",
    "stream",
    "chunk",
    "hash",
    "repair",
    "mount",
    "scan",
    "write",
    "read",
    "zero",
    "random",
    "wraith",
    "disk",
    "clone",
    "tool",
    "quick",
    "brown",
    "fox",
    "lazy",
    "dog",
];

/// Varied but compressible text: numbered lines of words and numbers, `len` bytes exactly.
pub fn text(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Prng::new(seed);
    let mut out = Vec::with_capacity(len + 128);
    let mut line = 1u64;
    while out.len() < len {
        let mut s = format!("{line:06} ");
        let words = 4 + rng.below(12);
        for _ in 0..words {
            s.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
            s.push(' ');
        }
        match rng.below(4) {
            0 => s.push_str(&format!("lba={} ", rng.below(1 << 32))),
            1 => s.push_str(&format!("crc=0x{:08x} ", rng.next_u64() as u32)),
            _ => {}
        }
        s.pop();
        s.push('\n');
        out.extend_from_slice(s.as_bytes());
        line += 1;
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_seed_dependent() {
        assert_eq!(Prng::new(7).bytes(100), Prng::new(7).bytes(100));
        assert_ne!(Prng::new(7).bytes(100), Prng::new(8).bytes(100));
        assert_eq!(text(3, 5000), text(3, 5000));
        assert_eq!(text(3, 5000).len(), 5000);
    }
}

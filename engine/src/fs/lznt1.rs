//! LZNT1, the compression of NTFS compressed files: a stream of chunks, each a 2-byte header
//! (stored size, a "compressed" bit) and either 4096 plain bytes or flag-byte groups of
//! literals and back-references whose offset/length split widens as the chunk fills.
//!
//! Must not: panic or read/write outside its buffers on corrupt input (every reference is
//! checked against what has been produced), or produce more than the output buffer holds.

use crate::error::{Error, Result};

/// Decompressed bytes of one chunk.
const CHUNK: usize = 4096;

/// Decompresses `src` into `out` (one compression unit, zeroed by the caller); returns the
/// bytes it stands for. A chunk that decompresses short leaves zeros up to its 4096 bytes.
pub(crate) fn decompress(src: &[u8], out: &mut [u8], at: u64) -> Result<usize> {
    let bad =
        |pos: usize, d: &str| Error::corrupt("NTFS compressed data (LZNT1)", at + pos as u64, d);
    let mut sp = 0usize;
    let mut op = 0usize;
    // Each chunk consumes at least 2 bytes of `src`: bounded by its length.
    while sp + 2 <= src.len() && op < out.len() {
        let h = usize::from(u16::from_le_bytes([src[sp], src[sp + 1]]));
        if h == 0 {
            break;
        }
        let size = (h & 0x0FFF) + 1;
        let body = sp + 2;
        let end = body + size;
        if end > src.len() {
            return Err(bad(sp, "chunk past the end of the compressed data"));
        }
        let stop = (op + CHUNK).min(out.len());
        let chunk_out = &mut out[op..stop];
        let chunk_out_len = chunk_out.len();
        let n = if h & 0x8000 == 0 {
            // Stored: plain bytes.
            let n = size.min(chunk_out.len());
            chunk_out[..n].copy_from_slice(&src[body..body + n]);
            n
        } else {
            chunk(&src[body..end], chunk_out).map_err(|d| bad(sp, d))?
        };
        // Every chunk but the last stands for 4096 bytes; a short one ends in zeros.
        op = if n < chunk_out_len { stop } else { op + n };
        sp = end;
    }
    Ok(op)
}

/// One compressed chunk into `out` (at most 4096 bytes); returns the bytes produced.
fn chunk(src: &[u8], out: &mut [u8]) -> std::result::Result<usize, &'static str> {
    let mut sp = 0usize;
    let mut op = 0usize;
    while sp < src.len() {
        let flags = src[sp];
        sp += 1;
        for bit in 0..8 {
            if sp >= src.len() {
                return Ok(op);
            }
            if flags & (1 << bit) == 0 {
                if op >= out.len() {
                    return Err("chunk decompresses past 4096 bytes");
                }
                out[op] = src[sp];
                op += 1;
                sp += 1;
            } else {
                if sp + 2 > src.len() {
                    return Err("back-reference cut short");
                }
                let token = usize::from(u16::from_le_bytes([src[sp], src[sp + 1]]));
                sp += 2;
                if op == 0 {
                    return Err("back-reference before any data");
                }
                // The more is produced, the more bits the offset takes from the length.
                let (mut lmask, mut dshift) = (0x0FFFusize, 12u32);
                let mut i = op - 1;
                while i >= 0x10 {
                    lmask >>= 1;
                    dshift -= 1;
                    i >>= 1;
                }
                let len = (token & lmask) + 3;
                let back = (token >> dshift) + 1;
                if back > op {
                    return Err("back-reference before the chunk's start");
                }
                if op + len > out.len() {
                    return Err("chunk decompresses past 4096 bytes");
                }
                // Byte by byte: a reference may overlap what it produces.
                for k in 0..len {
                    out[op + k] = out[op + k - back];
                }
                op += len;
            }
        }
    }
    Ok(op)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_overlapping_reference() {
        // Chunk: flags 0b0000_1000 → 3 literals "abc", then a reference: offset 3, length 9
        // (at position 3 the split is 12 bits length / 4 bits offset).
        let token: u16 = ((3 - 1) << 12) | (9 - 3);
        let mut body = vec![0b0000_1000, b'a', b'b', b'c'];
        body.extend_from_slice(&token.to_le_bytes());
        let h: u16 = 0x8000 | 0x3000 | (body.len() as u16 - 1);
        let mut src = h.to_le_bytes().to_vec();
        src.extend_from_slice(&body);
        let mut out = vec![0u8; 64];
        let n = decompress(&src, &mut out, 0).unwrap();
        assert_eq!(n, 64, "a short last chunk stands for its zeros too");
        assert_eq!(&out[..12], b"abcabcabcabc");
        assert!(out[12..].iter().all(|&b| b == 0));
    }

    #[test]
    fn corrupt_references_are_errors() {
        let token: u16 = (9 << 12) | 1; // offset 10 with 1 byte produced
        let mut body = vec![0b0000_0010, b'a'];
        body.extend_from_slice(&token.to_le_bytes());
        let h: u16 = 0x8000 | 0x3000 | (body.len() as u16 - 1);
        let mut src = h.to_le_bytes().to_vec();
        src.extend_from_slice(&body);
        assert!(decompress(&src, &mut [0u8; 64], 0).is_err());
        // A chunk claiming more bytes than there are.
        assert!(decompress(&[0xFF, 0xBF, 1, 2], &mut [0u8; 64], 0).is_err());
    }
}

//! Forward error correction for the multicast stream: a chunk's stored bytes cut into k data
//! shards of [`SHARD_BYTES`] (the last one padded with zeros), plus recovery shards of a
//! systematic Reed-Solomon code (reed-solomon-simd): any k distinct shards of a chunk, data or
//! recovery, give back its stored bytes. It owns the shard arithmetic both ends must agree on;
//! it must not touch sockets or decide what is sent when.
//!
//! The recovery shards of a chunk depend on how many are computed (the codec's transform size
//! follows the recovery count), so both ends fix that count from k alone:
//! [`recovery_total`]. The sender sends the first few proactively and more on repair requests,
//! never beyond that total; a receiver missing more gets the chunk over HTTP.

use super::wire::SHARD_BYTES;
use crate::error::{Error, Result};
use reed_solomon_simd::{ReedSolomonDecoder, ReedSolomonEncoder};

/// Recovery shards computed for a chunk of few data shards: small chunks lose a larger share
/// to one lost datagram, so they get at least this many.
const MIN_RECOVERY: usize = 8;

/// Data shards of a chunk of `stored_len` bytes (at least one).
pub fn data_shards(stored_len: usize) -> usize {
    stored_len.div_ceil(SHARD_BYTES).max(1)
}

/// Recovery shards that exist for a chunk of `k` data shards: as many as data shards (so a
/// receiver that lost up to half of a chunk's datagrams, proactive and repairs together, can
/// still rebuild it), at least [`MIN_RECOVERY`], within what the codec supports.
pub fn recovery_total(k: usize) -> usize {
    let mut m = k.max(MIN_RECOVERY);
    while m > 1 && !ReedSolomonEncoder::supports(k, m) {
        m /= 2;
    }
    m
}

/// Recovery shards sent with a chunk before anyone asks: `fec_percent` of k, rounded up.
pub fn proactive(k: usize, fec_percent: u32) -> usize {
    (k * fec_percent as usize)
        .div_ceil(100)
        .min(recovery_total(k))
}

/// The stored bytes as k shards, the last padded with zeros.
pub fn split(stored: &[u8]) -> Vec<u8> {
    let k = data_shards(stored.len());
    let mut v = vec![0u8; k * SHARD_BYTES];
    v[..stored.len()].copy_from_slice(stored);
    v
}

/// Every recovery shard of a chunk (`padded` from [`split`]), [`recovery_total`] of them,
/// concatenated.
pub fn recovery(padded: &[u8]) -> Result<Vec<u8>> {
    let k = padded.len() / SHARD_BYTES;
    let m = recovery_total(k);
    let err = |e: reed_solomon_simd::Error| Error::Invalid(format!("erasure coding: {e}"));
    let mut enc = ReedSolomonEncoder::new(k, m, SHARD_BYTES).map_err(err)?;
    for s in padded.chunks_exact(SHARD_BYTES) {
        enc.add_original_shard(s).map_err(err)?;
    }
    let res = enc.encode().map_err(err)?;
    let mut out = Vec::with_capacity(m * SHARD_BYTES);
    for r in res.recovery_iter() {
        out.extend_from_slice(r);
    }
    Ok(out)
}

/// Fills the missing data shards of `padded` (k shards; `have[i]` says which are there) from
/// `recovered` (index, recovery shard). Needs at least k shards in all.
pub fn rebuild(padded: &mut [u8], have: &[bool], recovered: &[(usize, &[u8])]) -> Result<()> {
    let k = padded.len() / SHARD_BYTES;
    if have.iter().all(|&h| h) {
        return Ok(());
    }
    let m = recovery_total(k);
    let err = |e: reed_solomon_simd::Error| Error::Invalid(format!("erasure decoding: {e}"));
    let mut dec = ReedSolomonDecoder::new(k, m, SHARD_BYTES).map_err(err)?;
    for (i, s) in padded.chunks_exact(SHARD_BYTES).enumerate() {
        if have[i] {
            dec.add_original_shard(i, s).map_err(err)?;
        }
    }
    for &(i, s) in recovered {
        dec.add_recovery_shard(i, s).map_err(err)?;
    }
    let res = dec.decode().map_err(err)?;
    for (i, s) in res.restored_original_iter() {
        padded[i * SHARD_BYTES..(i + 1) * SHARD_BYTES].copy_from_slice(s);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn any_k_shards_give_the_chunk_back() {
        for len in [1usize, 1000, SHARD_BYTES, SHARD_BYTES * 5 + 17, 300_000] {
            let stored: Vec<u8> = (0..len).map(|i| (i * 7 + i / 255) as u8).collect();
            let padded = split(&stored);
            let k = padded.len() / SHARD_BYTES;
            let rec = recovery(&padded).unwrap();
            let m = recovery_total(k);
            assert_eq!(rec.len(), m * SHARD_BYTES);
            // Lose every other data shard (at least one), rebuild from as many recovery shards
            // taken from the far end (not only the proactive first ones).
            let have: Vec<bool> = (0..k).map(|i| i % 2 == 1).collect();
            let lost = have.iter().filter(|h| !**h).count();
            let mut damaged = padded.clone();
            for (i, h) in have.iter().enumerate() {
                if !h {
                    damaged[i * SHARD_BYTES..(i + 1) * SHARD_BYTES].fill(0xee);
                }
            }
            let recs: Vec<(usize, &[u8])> = (m - lost..m)
                .map(|i| (i, &rec[i * SHARD_BYTES..(i + 1) * SHARD_BYTES]))
                .collect();
            rebuild(&mut damaged, &have, &recs).unwrap();
            assert_eq!(&damaged[..len], &stored[..], "len {len}");
            // One shard short: refused, not guessed.
            if lost > 1 {
                let mut d2 = padded.clone();
                assert!(rebuild(&mut d2, &have, &recs[1..]).is_err());
            }
        }
    }

    #[test]
    fn proactive_share_rounds_up_and_stays_within_the_total() {
        assert_eq!(proactive(100, 5), 5);
        assert_eq!(proactive(3, 5), 1);
        assert_eq!(proactive(3, 0), 0);
        assert_eq!(proactive(10, 1000), recovery_total(10));
    }
}

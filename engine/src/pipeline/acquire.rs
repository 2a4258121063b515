//! Forensic acquisition's whole-disk digests: SHA-256 and MD5 of every byte of the source in
//! disk order (unreadable sectors as the zeros the image holds, as dc3dd and ewfacquire hash
//! them), computed while the save reads, each on its own thread so neither slows the reader.
//!
//! Must not: see bytes out of disk order (the save feeds it in order: an all-sectors save
//! retries a failing window in place rather than after the rest), or hold more than a few
//! windows of memory (the channels are bounded).

use md5::Md5;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// What an all-sectors save records in the manifest: the image holds every sector of the
/// source, and these are the digests of the whole disk as read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acquisition {
    /// Bytes hashed: the whole disk.
    pub bytes: u64,
    /// Lower-case hex.
    pub sha256: String,
    pub md5: String,
}

/// Windows queued per digest thread: enough to ride over a slow moment of one of them.
const QUEUE: usize = 4;

pub struct Hasher {
    senders: Vec<SyncSender<Arc<Vec<u8>>>>,
    threads: Vec<JoinHandle<String>>,
    bytes: u64,
}

fn digest_thread<D: Digest + Send + 'static>(rx: Receiver<Arc<Vec<u8>>>) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut d = D::new();
        for block in rx {
            d.update(block.as_slice());
        }
        d.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    })
}

impl Hasher {
    pub fn start() -> Hasher {
        let (sha_tx, sha_rx) = sync_channel(QUEUE);
        let (md5_tx, md5_rx) = sync_channel(QUEUE);
        Hasher {
            senders: vec![sha_tx, md5_tx],
            threads: vec![
                digest_thread::<Sha256>(sha_rx),
                digest_thread::<Md5>(md5_rx),
            ],
            bytes: 0,
        }
    }

    /// The next bytes of the disk, in order.
    pub fn feed(&mut self, data: &[u8]) {
        self.bytes += data.len() as u64;
        let block = Arc::new(data.to_vec());
        for s in &self.senders {
            // A digest thread only ends when its sender is dropped: a send cannot fail.
            let _ = s.send(block.clone());
        }
    }

    /// The digests of everything fed.
    pub fn finish(self) -> Acquisition {
        let Hasher {
            senders,
            threads,
            bytes,
        } = self;
        drop(senders);
        let mut out = threads.into_iter().map(|t| t.join().unwrap_or_default());
        Acquisition {
            bytes,
            sha256: out.next().unwrap_or_default(),
            md5: out.next().unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checked against the published digests of the empty string and of "abc".
    #[test]
    fn digests_are_the_standard_ones_whatever_the_pieces() {
        let h = Hasher::start();
        let a = h.finish();
        assert_eq!(
            a.sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(a.md5, "d41d8cd98f00b204e9800998ecf8427e");
        let mut h = Hasher::start();
        h.feed(b"a");
        h.feed(b"");
        h.feed(b"bc");
        let a = h.finish();
        assert_eq!(a.bytes, 3);
        assert_eq!(
            a.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(a.md5, "900150983cd24fb0d6963f7d28e17f72");
    }
}

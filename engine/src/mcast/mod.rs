//! Multicast restore: one server sends an image's chunks once over UDP multicast, and any
//! number of machines restore it at the same time, each filling what it missed over HTTP from
//! the same repository. It owns the stream (wire format, pacing, forward error correction,
//! repair requests, the session's control messages) and the receiver's bounded chunk buffer.
//! It must not write disks or plan anything: a receiver is only a [`ChunkFeed`] for the normal
//! restore pipeline, which still checks the plan, lays out the disk and writes in order, and
//! verifies every chunk against its id before it is written. Nothing here speaks HTTP: the
//! fill-in is the pipeline reading the `http://` repository as any restore does.
//!
//! # The session
//!
//! * **Order.** Both ends compute the session's chunk list from the manifest: its unique
//!   non-zero chunk ids in manifest order (regions in order, chunks in order, first
//!   occurrence), see [`session_chunks`]. So a datagram names a chunk by its sequence number
//!   in that list, and the receiver knows each chunk's id, stored length and pack flags from
//!   the manifest and the repository's index before anything arrives.
//! * **Control** (unicast UDP to the sender's `port`): a receiver sends JOIN (its MAC and
//!   hostname when known) and gets WELCOME (session id, group, data port, image, chunk count,
//!   state); then it sends a REPORT every half second (the sender's client table, shown as
//!   [`ClientInfo`]) and gets a STATUS with the sender's position, and it sends REPAIR
//!   requests. The stream goes to `group:port+1`.
//! * **Start.** The session starts when `clients` receivers are ready or `wait` passed. A
//!   receiver is ready when its restore asks for its first chunk (it reports "preparing"
//!   until then, and "waiting" at once when it is): joining comes before the restore reads
//!   the manifest, checks its plan and lays out the disk, and a stream started on JOIN would
//!   pass the first chunks of a one-machine room before it listens. Then the list
//!   is sent once, paced to `rate`; then repairs still asked for are served for a short while
//!   and END is sent a few times. The sender never waits for a receiver; a receiver that
//!   stops reporting is only marked lost.
//! * **Loss.** Each chunk's stored bytes are cut into k shards of 1424 bytes (one datagram
//!   each, under a 1500-byte MTU) and `fec` percent recovery shards of a systematic
//!   Reed-Solomon code follow proactively ([`fec`]). A receiver that still lacks shards of a
//!   chunk once the stream moved past it asks for the number it is missing; the sender merges
//!   the requests of all receivers per chunk and multicasts that many *new* recovery shards
//!   (the largest count asked, not the sum: any r new shards repair every receiver missing
//!   r), interleaved with the stream within a quarter of the datagrams, so one lossy receiver
//!   costs the others little. What is still missing when the pipeline needs it (or when the
//!   buffer was full, or the receiver joined late) is read over HTTP.
//! * **Checks.** Every datagram carries an 8-byte BLAKE3 check keyed with the session id over
//!   header and payload: corrupted, truncated and foreign datagrams are dropped and counted
//!   before they touch a buffer. Content is authenticated by the chunk id: a rebuilt chunk is
//!   decompressed and checked against its BLAKE3 id by the pipeline's worker before it is
//!   handed to the writer; one that fails is counted and read over HTTP instead.
//! * **No multicast.** When the sender says it is streaming but no multicast datagram came
//!   within [`receiver::NO_MULTICAST_AFTER`], the receiver says so (a switch or Wi-Fi that
//!   drops multicast) and the restore goes on over HTTP.
//!
//! The receiver's buffer holds rebuilt chunks (stored bytes) by sequence number within a
//! memory budget; a chunk leaves when the pipeline took it as often as the manifest uses it.
//! When the buffer is full new arrivals are dropped (HTTP later), so a slow receiver never
//! slows the sender. The pipeline waits for a chunk only while the stream has not passed it
//! and the sender is alive.
//!
//! Measured (engine/tests/mcast.rs `loss_figures`: a 112 MiB disk, 31.8 MB stored in 37
//! chunks, one receiver on loopback at 200 Mbit/s, default 3 % FEC), server bytes per stored
//! byte: 1.061 at 0 % and 1 % loss (headers 2.8 %, proactive shards 3 %, padding of each
//! chunk's last shard), 1.085 at 5 %, 1.288 at 20 % (the least possible at 20 % loss is
//! 1/0.8 plus headers, 1.285); every chunk came by the stream at each loss rate. Hence the
//! default of 3 %: below 1.1x at no loss, and a healthy LAN's occasional lost datagram needs
//! no repair round; heavier loss is what repairs are for.
//!
//! Test hook: `WRAITH_MCAST_DROP_PERCENT=P` makes a receiver drop that share of incoming
//! multicast datagrams (seeded by `WRAITH_MCAST_DROP_SEED`), as a lossy network would.

pub mod client;
pub mod fec;
pub mod receiver;
pub mod sender;
mod sock;
pub mod wire;

pub use crate::repo::ChunkFeed;
pub use receiver::{Receiver, ReceiverConfig, ReceiverStats};
pub use sender::{ClientInfo, Sender, SenderConfig, SenderProgress, SenderReport};

use crate::repo::manifest::Manifest;
use crate::repo::ChunkId;
use std::collections::HashSet;
use std::net::Ipv4Addr;

/// Default UDP control port of a session; the stream uses the next port.
pub const DEFAULT_PORT: u16 = 7470;
/// Default group: administratively scoped (239/8, RFC 2365), so it stays inside the site.
pub const DEFAULT_GROUP: Ipv4Addr = Ipv4Addr::new(239, 255, 87, 82);

/// The session's chunk list: the manifest's unique non-zero chunk ids in manifest order.
pub fn session_chunks(m: &Manifest) -> Vec<ChunkId> {
    let mut seen = HashSet::new();
    m.chunks()
        .filter_map(|(_, c)| c.id)
        .filter(|id| seen.insert(*id))
        .collect()
}

/// A random 64-bit session id (from the kernel's random source; the clock as a last resort).
fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_ok()
    {
        return u64::from_le_bytes(b);
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let h = blake3::hash(format!("{t} {}", std::process::id()).as_bytes());
    let mut o = [0u8; 8];
    o.copy_from_slice(&h.as_bytes()[..8]);
    u64::from_le_bytes(o)
}

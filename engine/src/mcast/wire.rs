//! The multicast stream's datagrams (docs/FORMAT.md, "Multicast stream"): one fixed header,
//! a payload, and an 8-byte check over both keyed with the session id. It owns encoding and
//! checking datagrams; it must not keep state or touch sockets: a datagram that fails any check
//! here is refused before it reaches a buffer, and the caller counts why.

use serde::{Deserialize, Serialize};

/// Largest datagram: an IPv4 packet of 1500 bytes (a plain Ethernet MTU) less the IP (20) and
/// UDP (8) headers, so no datagram is ever fragmented (a lost fragment loses the datagram).
pub const MAX_DATAGRAM: usize = 1472;
pub const MAGIC: &[u8; 4] = b"WRMC";
pub const VERSION: u8 = 1;
/// Bytes before the payload, the check included.
pub const HEADER_LEN: usize = 40;
/// Bytes of a chunk carried by one shard: the largest even size (the erasure code works on
/// 16-bit symbols) that leaves room for the header in [`MAX_DATAGRAM`], rounded down to 16.
pub const SHARD_BYTES: usize = 1424;
const CHECK_AT: usize = 32;

/// What a datagram is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Data shard `shard` (< k) of chunk `seq`: its stored bytes `shard*SHARD_BYTES..`.
    Data = 1,
    /// Recovery shard `shard` of chunk `seq` (systematic Reed-Solomon over the k data shards).
    Recovery = 2,
    /// Sender heartbeat: `seq` is the next chunk to be sent (chunks below it have passed).
    Announce = 3,
    /// The session is over: nothing more is sent. `seq` is the chunk count.
    End = 4,
    /// Receiver → sender (unicast): asks to join. JSON [`Join`]; session id 0.
    Join = 16,
    /// Sender → receiver (unicast): the session. JSON [`Welcome`].
    Welcome = 17,
    /// Receiver → sender (unicast): progress. JSON [`Report`].
    Report = 18,
    /// Sender → receiver (unicast), answering a report: `seq` is the position, `shard` the
    /// [`State`].
    Status = 19,
    /// Receiver → sender (unicast): shards still missing; payload: (seq u32, needed u16)…
    Repair = 20,
    /// Receiver → sender (unicast): it stops (finished, or gave up).
    Leave = 21,
}

impl Kind {
    fn from_u8(v: u8) -> Option<Kind> {
        Some(match v {
            1 => Kind::Data,
            2 => Kind::Recovery,
            3 => Kind::Announce,
            4 => Kind::End,
            16 => Kind::Join,
            17 => Kind::Welcome,
            18 => Kind::Report,
            19 => Kind::Status,
            20 => Kind::Repair,
            21 => Kind::Leave,
            _ => return None,
        })
    }
}

/// Where a session is, as told in announces and status answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Waiting for receivers (`clients` joined or `wait` passed).
    Waiting = 0,
    Streaming = 1,
    Ended = 2,
}

impl State {
    pub fn from_u16(v: u16) -> State {
        match v {
            0 => State::Waiting,
            1 => State::Streaming,
            _ => State::Ended,
        }
    }
}

/// The fixed header of every datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    pub session: u64,
    pub seq: u32,
    pub shard: u16,
    /// Data shards of the chunk (its stored length cut into [`SHARD_BYTES`] pieces).
    pub k: u16,
    pub stored_len: u32,
    /// The chunk's pack flags (docs/FORMAT.md: bit 0 = zstd).
    pub flags: u32,
}

impl Header {
    pub fn control(kind: Kind, session: u64) -> Header {
        Header {
            kind,
            session,
            seq: 0,
            shard: 0,
            k: 0,
            stored_len: 0,
            flags: 0,
        }
    }
}

/// Why a datagram was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Shorter than a header, or than its header says.
    Truncated,
    /// Not this format or version, an unknown kind, or a payload longer than allowed.
    Malformed,
    /// The check does not match (corrupted, or keyed with another session).
    Check,
}

/// The key of a session's checks: derived, so a session id alone (which is not secret) gives
/// no other protocol's key; the check is against corruption and strays, not an attacker.
pub fn session_key(session: u64) -> [u8; 32] {
    blake3::derive_key("wraith multicast datagram v1", &session.to_le_bytes())
}

fn check(key: &[u8; 32], head: &[u8], payload: &[u8]) -> [u8; 8] {
    let mut h = blake3::Hasher::new_keyed(key);
    h.update(head);
    h.update(payload);
    let mut out = [0u8; 8];
    out.copy_from_slice(&h.finalize().as_bytes()[..8]);
    out
}

/// Encodes a datagram into `out` (cleared first). The payload must fit.
pub fn encode(key: &[u8; 32], h: &Header, payload: &[u8], out: &mut Vec<u8>) {
    debug_assert!(payload.len() <= MAX_DATAGRAM - HEADER_LEN);
    out.clear();
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(h.kind as u8);
    out.extend_from_slice(&(payload.len() as u16).to_le_bytes());
    out.extend_from_slice(&h.session.to_le_bytes());
    out.extend_from_slice(&h.seq.to_le_bytes());
    out.extend_from_slice(&h.shard.to_le_bytes());
    out.extend_from_slice(&h.k.to_le_bytes());
    out.extend_from_slice(&h.stored_len.to_le_bytes());
    out.extend_from_slice(&h.flags.to_le_bytes());
    let c = check(key, &out[..CHECK_AT], payload);
    out.extend_from_slice(&c);
    out.extend_from_slice(payload);
}

/// The header of a datagram, without checking it: the session id tells which key checks it.
pub fn peek_session(b: &[u8]) -> Option<u64> {
    (b.len() >= HEADER_LEN).then(|| u64::from_le_bytes(le8(&b[8..16])))
}

/// Checks and decodes a datagram keyed with `key`; returns its header and payload.
pub fn decode<'b>(key: &[u8; 32], b: &'b [u8]) -> Result<(Header, &'b [u8]), Refused> {
    if b.len() < HEADER_LEN {
        return Err(Refused::Truncated);
    }
    if &b[..4] != MAGIC || b[4] != VERSION {
        return Err(Refused::Malformed);
    }
    let kind = Kind::from_u8(b[5]).ok_or(Refused::Malformed)?;
    let len = u16::from_le_bytes([b[6], b[7]]) as usize;
    if len > MAX_DATAGRAM - HEADER_LEN {
        return Err(Refused::Malformed);
    }
    if b.len() < HEADER_LEN + len {
        return Err(Refused::Truncated);
    }
    if b.len() > HEADER_LEN + len {
        return Err(Refused::Malformed);
    }
    let payload = &b[HEADER_LEN..];
    if check(key, &b[..CHECK_AT], payload) != b[CHECK_AT..HEADER_LEN] {
        return Err(Refused::Check);
    }
    let h = Header {
        kind,
        session: u64::from_le_bytes(le8(&b[8..16])),
        seq: u32::from_le_bytes(le4(&b[16..20])),
        shard: u16::from_le_bytes([b[20], b[21]]),
        k: u16::from_le_bytes([b[22], b[23]]),
        stored_len: u32::from_le_bytes(le4(&b[24..28])),
        flags: u32::from_le_bytes(le4(&b[28..32])),
    };
    Ok((h, payload))
}

fn le4(b: &[u8]) -> [u8; 4] {
    let mut o = [0u8; 4];
    o.copy_from_slice(&b[..4]);
    o
}
fn le8(b: &[u8]) -> [u8; 8] {
    let mut o = [0u8; 8];
    o.copy_from_slice(&b[..8]);
    o
}

/// A receiver's request to join (JSON payload of [`Kind::Join`]).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Join {
    #[serde(default)]
    pub mac: Option<String>,
    #[serde(default)]
    pub hostname: Option<String>,
    /// The image the receiver asks for ("name" or "name@id"), to catch a wrong server early.
    #[serde(default)]
    pub image: Option<String>,
}

/// The session, sent to a receiver that joined (JSON payload of [`Kind::Welcome`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    pub session: u64,
    pub group: std::net::Ipv4Addr,
    pub data_port: u16,
    pub image_name: String,
    pub image_id: String,
    pub chunks: u32,
    /// Proactive recovery shards, in percent of each chunk's data shards.
    pub fec_percent: u32,
    pub rate_mbps: u32,
    pub state: State,
    pub position: u32,
}

/// A receiver's progress (JSON payload of [`Kind::Report`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Percent of the session's chunks settled (received, or given up to HTTP).
    pub percent: f32,
    /// Stored bytes received by multicast and handed to the restore.
    pub bytes: u64,
    pub datagrams: u64,
    pub bad_datagrams: u64,
    pub chunks_multicast: u64,
    pub chunks_http: u64,
    /// "preparing" (joined; its restore has not asked for a chunk yet), "waiting" (ready),
    /// "receiving", "fallback" (multicast does not arrive), "done", "left".
    pub state: String,
}

/// Encodes repair requests, as many as fit one datagram; returns how many were taken.
pub fn encode_repairs(items: &[(u32, u16)], out: &mut Vec<u8>) -> usize {
    out.clear();
    let n = items.len().min((MAX_DATAGRAM - HEADER_LEN - 2) / 6);
    out.extend_from_slice(&(n as u16).to_le_bytes());
    for &(seq, needed) in &items[..n] {
        out.extend_from_slice(&seq.to_le_bytes());
        out.extend_from_slice(&needed.to_le_bytes());
    }
    n
}

/// Decodes repair requests; `None` when the payload does not match its count.
pub fn decode_repairs(p: &[u8]) -> Option<Vec<(u32, u16)>> {
    if p.len() < 2 {
        return None;
    }
    let n = u16::from_le_bytes([p[0], p[1]]) as usize;
    if p.len() != 2 + n * 6 {
        return None;
    }
    Some(
        p[2..]
            .chunks_exact(6)
            .map(|e| (u32::from_le_bytes(le4(e)), u16::from_le_bytes([e[4], e[5]])))
            .collect(),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header {
            kind: Kind::Data,
            session: 0x1122_3344_5566_7788,
            seq: 7,
            shard: 3,
            k: 9,
            stored_len: 12345,
            flags: 1,
        }
    }

    #[test]
    fn a_datagram_round_trips_and_any_damage_is_refused() {
        let key = session_key(0x1122_3344_5566_7788);
        let payload = vec![0xabu8; SHARD_BYTES];
        let mut d = Vec::new();
        encode(&key, &sample(), &payload, &mut d);
        assert_eq!(d.len(), HEADER_LEN + SHARD_BYTES);
        assert!(d.len() <= MAX_DATAGRAM);
        let (h, p) = decode(&key, &d).unwrap();
        assert_eq!(h, sample());
        assert_eq!(p, &payload[..]);
        // Every single flipped byte, header or payload, is caught.
        for i in 0..d.len() {
            let mut bad = d.clone();
            bad[i] ^= 0x40;
            assert!(decode(&key, &bad).is_err(), "flip at {i} accepted");
        }
        assert_eq!(decode(&key, &d[..d.len() - 1]), Err(Refused::Truncated));
        assert_eq!(decode(&key, &d[..20]), Err(Refused::Truncated));
        // Another session's key refuses it.
        assert_eq!(decode(&session_key(1), &d), Err(Refused::Check));
    }

    #[test]
    fn repair_requests_round_trip_and_are_capped_to_a_datagram() {
        let items: Vec<(u32, u16)> = (0..1000).map(|i| (i * 3, (i % 7) as u16)).collect();
        let mut p = Vec::new();
        let n = encode_repairs(&items, &mut p);
        assert!(n < items.len() && HEADER_LEN + p.len() <= MAX_DATAGRAM);
        assert_eq!(decode_repairs(&p).unwrap(), items[..n].to_vec());
        assert!(decode_repairs(&p[..p.len() - 1]).is_none());
    }
}

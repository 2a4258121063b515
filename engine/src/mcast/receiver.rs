//! The receiving end of a multicast session: joins, receives and checks datagrams, rebuilds
//! chunks from their shards, asks for repairs, reports progress, and serves the rebuilt
//! chunks to the restore pipeline as a [`ChunkFeed`] from a bounded buffer. It owns the
//! receiver's sockets, threads and buffer; it must not write the disk nor read HTTP: a chunk
//! it does not have is simply not given, and the pipeline reads it from the repository.

use super::fec;
use super::wire::{self, Header, Kind, Refused, State, SHARD_BYTES};
use crate::error::{Error, Result};
use crate::events::Notices;
use crate::repo::manifest::Manifest;
use crate::repo::{ChunkFeed, ChunkId, ImageRef, Repository};
use serde::Serialize;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// With the sender answering but no multicast datagram heard for this long after joining, the
/// network does not carry multicast here: the restore goes on over HTTP.
pub const NO_MULTICAST_AFTER: Duration = Duration::from_secs(3);
/// Nothing heard from the sender (stream or control) for this long: it is gone.
const DEAD_AFTER: Duration = Duration::from_secs(3);
/// How often a receiver asks again for a chunk still incomplete, and how many times.
const NACK_EVERY: Duration = Duration::from_millis(150);
const NACK_TRIES: u8 = 4;
const REPORT_EVERY: Duration = Duration::from_millis(500);
const JOIN_EVERY: Duration = Duration::from_millis(400);
/// Default buffer for rebuilt and partial chunks: a few seconds of stream at 500 Mbit/s, and
/// small beside the 128-256 MiB a live system may have.
pub const DEFAULT_BUDGET: usize = 32 << 20;

/// How a receiver joins a session.
#[derive(Clone, Debug)]
pub struct ReceiverConfig {
    /// The sender's control address (its `port`).
    pub server: SocketAddr,
    /// Address of the interface to receive on (0.0.0.0: the kernel's choice).
    pub interface: Ipv4Addr,
    /// Listen to this group instead of the one the sender names.
    pub group: Option<Ipv4Addr>,
    /// Listen on this data port instead of the one the sender names.
    pub data_port: Option<u16>,
    pub mac: Option<String>,
    pub hostname: Option<String>,
    /// Bytes of chunks (rebuilt or partial) held at once.
    pub budget: usize,
    /// How long to try joining.
    pub join_timeout: Duration,
    /// Test hook: drop this percentage of incoming multicast datagrams (seeded, so runs
    /// repeat). Defaults from `WRAITH_MCAST_DROP_PERCENT`.
    pub drop_percent: f64,
    pub drop_seed: u64,
}

impl ReceiverConfig {
    pub fn new(server: SocketAddr) -> ReceiverConfig {
        let env = |k: &str| std::env::var(k).ok();
        ReceiverConfig {
            server,
            interface: Ipv4Addr::UNSPECIFIED,
            group: None,
            data_port: None,
            mac: None,
            hostname: None,
            budget: DEFAULT_BUDGET,
            join_timeout: Duration::from_secs(5),
            drop_percent: env("WRAITH_MCAST_DROP_PERCENT")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0),
            drop_seed: env("WRAITH_MCAST_DROP_SEED")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0x5eed_d20b),
        }
    }
}

/// What a receiver saw, for the end-of-restore notice and the tests.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ReceiverStats {
    /// Chunks (unique ids) the restore needs.
    pub chunks: u64,
    /// Chunk reads served from the stream as sent.
    pub chunks_multicast: u64,
    /// Chunk reads served from the stream after repair shards.
    pub chunks_repaired: u64,
    /// Chunk reads left to HTTP (missed, late, buffer full, rejected).
    pub chunks_http: u64,
    /// Chunks rebuilt from the stream that failed their BLAKE3 check.
    pub chunks_rejected: u64,
    pub stored_bytes_multicast: u64,
    /// Datagrams received on the data socket (after the test hook).
    pub datagrams: u64,
    pub truncated: u64,
    /// Wrong magic/version/kind, or header fields that contradict the manifest and index.
    pub malformed: u64,
    /// Check mismatch: corrupted in transit.
    pub bad_check: u64,
    /// Another session's datagrams.
    pub foreign: u64,
    pub test_dropped: u64,
    /// Shards dropped because the buffer was full.
    pub dropped_buffer_full: u64,
    pub repair_requests: u64,
    pub multicast_arrived: bool,
    /// Multicast did not arrive: the restore went over HTTP.
    pub fell_back: bool,
}

impl ReceiverStats {
    /// Datagrams dropped as bad, whatever the reason.
    pub fn bad_datagrams(&self) -> u64 {
        self.truncated + self.malformed + self.bad_check + self.foreign
    }
}

/// A session joined: the sender's welcome, and the control socket it knows us by.
pub struct Joined {
    cfg: ReceiverConfig,
    control: UdpSocket,
    welcome: wire::Welcome,
    at: Instant,
}

/// Joins the session at `cfg.server`: sends JOIN until WELCOME comes or `join_timeout` passes.
/// `image` ("name" or "name@id") is sent along for the sender's table.
pub fn join(cfg: &ReceiverConfig, image: Option<&str>) -> Result<Joined> {
    let where_ = format!("multicast session udp://{}", cfg.server);
    let control =
        super::sock::control(Ipv4Addr::UNSPECIFIED, 0).map_err(|e| Error::io(where_.clone(), e))?;
    control
        .set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| Error::io(where_.clone(), e))?;
    let join = wire::Join {
        mac: cfg.mac.clone(),
        hostname: cfg.hostname.clone(),
        image: image.map(str::to_string),
    };
    let payload = serde_json::to_vec(&join).map_err(|e| Error::Invalid(e.to_string()))?;
    let mut out = Vec::new();
    wire::encode(
        &wire::session_key(0),
        &Header::control(Kind::Join, 0),
        &payload,
        &mut out,
    );
    let start = Instant::now();
    let mut buf = vec![0u8; wire::MAX_DATAGRAM + 1];
    let mut last_sent: Option<Instant> = None;
    while start.elapsed() < cfg.join_timeout {
        if last_sent.is_none_or(|t| t.elapsed() >= JOIN_EVERY) {
            control
                .send_to(&out, cfg.server)
                .map_err(|e| Error::network(where_.clone(), format!("cannot send: {e}")))?;
            last_sent = Some(Instant::now());
        }
        let Ok((n, from)) = control.recv_from(&mut buf) else {
            continue;
        };
        if from != cfg.server {
            continue;
        }
        let d = &buf[..n];
        let Some(session) = wire::peek_session(d) else {
            continue;
        };
        let Ok((h, p)) = wire::decode(&wire::session_key(session), d) else {
            continue;
        };
        if h.kind != Kind::Welcome {
            continue;
        }
        let Ok(welcome) = serde_json::from_slice::<wire::Welcome>(p) else {
            continue;
        };
        if welcome.session != session {
            continue;
        }
        let mut cfg = cfg.clone();
        if cfg.interface.is_unspecified() {
            cfg.interface = toward(cfg.server).unwrap_or(Ipv4Addr::UNSPECIFIED);
        }
        return Ok(Joined {
            cfg,
            control,
            welcome,
            at: Instant::now(),
        });
    }
    Err(Error::network_because(
        crate::NetCause::Unreachable,
        where_,
        format!(
            "no multicast session answered within {} s (is `wraith serve --multicast` running \
             there, and is UDP port {} open?)",
            cfg.join_timeout.as_secs(),
            cfg.server.port()
        ),
    ))
}

/// This machine's address on the way to `server`: the interface the stream arrives on. The
/// kernel's own choice for a group address follows the route to 224.0.0.0/4 or the default
/// route, which a booted room machine on an isolated LAN (DHCP gave no router) lacks, and
/// which on a machine with two networks may lead away from the server.
fn toward(server: SocketAddr) -> Option<Ipv4Addr> {
    let probe = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    // No datagram leaves: connecting a UDP socket only picks the route and source address.
    probe.connect(server).ok()?;
    match probe.local_addr().ok()?.ip() {
        std::net::IpAddr::V4(a) if !a.is_unspecified() => Some(a),
        _ => None,
    }
}

impl Joined {
    pub fn welcome(&self) -> &wire::Welcome {
        &self.welcome
    }

    /// The image the session sends.
    pub fn image(&self) -> ImageRef {
        ImageRef {
            name: self.welcome.image_name.clone(),
            id: self.welcome.image_id.clone(),
        }
    }

    /// Starts receiving for a restore of `image` (the session's image; its manifest `m`, read
    /// from `repo`, whose index gives every chunk's stored length and flags).
    pub fn start(self, repo: &Repository, image: &ImageRef, m: &Manifest) -> Result<Receiver> {
        if *image != self.image() {
            return Err(Error::Invalid(format!(
                "the multicast session at {} sends image {}, not {image}",
                self.cfg.server,
                self.image()
            )));
        }
        let list = super::session_chunks(m);
        if list.len() != self.welcome.chunks as usize {
            return Err(Error::Invalid(format!(
                "the multicast session at {} sends {} chunks, but image {image} has {}",
                self.cfg.server,
                self.welcome.chunks,
                list.len()
            )));
        }
        // How often the restore will ask for each chunk (regions it writes only).
        let mut uses: HashMap<ChunkId, u32> = HashMap::new();
        for r in &m.regions {
            if crate::pipeline::region_is_written(m.table.kind, &r.region) {
                for id in r.chunks.iter().filter_map(|c| c.id) {
                    *uses.entry(id).or_default() += 1;
                }
            }
        }
        let mut metas = Vec::with_capacity(list.len());
        let mut first_seq = HashMap::with_capacity(list.len());
        for (seq, id) in list.iter().enumerate() {
            let loc = repo.locate(id).ok_or_else(|| {
                Error::corrupt(
                    format!("image {image} in {}", repo.location()),
                    0,
                    format!("chunk {} is missing from the repository", id.short()),
                )
            })?;
            first_seq.insert(*id, seq as u32);
            metas.push(Meta {
                k: fec::data_shards(loc.stored_len as usize),
                stored_len: loc.stored_len,
                flags: loc.flags,
            });
        }
        let slots: Vec<Slot> = list
            .iter()
            .map(|id| {
                if uses.get(id).copied().unwrap_or(0) > 0 {
                    Slot::Waiting(Asked::default())
                } else {
                    Slot::Unneeded
                }
            })
            .collect();
        let needs: Vec<u32> = list
            .iter()
            .map(|id| uses.get(id).copied().unwrap_or(0))
            .collect();
        let group = self.cfg.group.unwrap_or(self.welcome.group);
        let port = self.cfg.data_port.unwrap_or(self.welcome.data_port);
        let data = super::sock::group_receiver(group, port, self.cfg.interface).map_err(|e| {
            Error::io(
                format!(
                    "multicast group {group}:{port} on interface {}",
                    self.cfg.interface
                ),
                e,
            )
        })?;
        data.set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(|e| Error::io("multicast socket", e))?;
        let stats = ReceiverStats {
            chunks: needs.iter().filter(|&&n| n > 0).count() as u64,
            ..Default::default()
        };
        let st = St {
            delivered: vec![0; slots.len()],
            slots,
            needs,
            used: 0,
            position: self.welcome.position,
            state: self.welcome.state,
            stream_at: None,
            // Joined before the stream started: all of it is ahead.
            first_data: (self.welcome.state == State::Waiting).then_some(0),
            last_heard: Instant::now(),
            last_multicast: None,
            fallback: false,
            dead: false,
            ready: false,
            scan_from: 0,
            stats,
        };
        let inner = Arc::new(Inner {
            session: self.welcome.session,
            key: wire::session_key(self.welcome.session),
            server: self.cfg.server,
            control: self.control,
            data,
            group,
            port,
            metas,
            first_seq,
            fec_percent: self.welcome.fec_percent,
            budget: self.cfg.budget,
            drop_percent: self.cfg.drop_percent,
            drop_seed: self.cfg.drop_seed,
            joined_at: self.at,
            st: Mutex::new(st),
            cv: Condvar::new(),
            stop: AtomicBool::new(false),
            notices: Notices::default(),
        });
        let threads = vec![
            {
                let i = Arc::clone(&inner);
                std::thread::Builder::new()
                    .name("mcast-data".into())
                    .spawn(move || i.data_loop())
                    .map_err(|e| Error::io("thread", e))?
            },
            {
                let i = Arc::clone(&inner);
                std::thread::Builder::new()
                    .name("mcast-control".into())
                    .spawn(move || i.control_loop())
                    .map_err(|e| Error::io("thread", e))?
            },
        ];
        Ok(Receiver {
            inner,
            threads: Mutex::new(threads),
        })
    }
}

struct Meta {
    k: usize,
    stored_len: u32,
    flags: u32,
}

/// Repair requests sent for a chunk.
#[derive(Default, Clone, Copy)]
struct Asked {
    times: u8,
    last: Option<Instant>,
}

struct Partial {
    padded: Vec<u8>,
    have: Vec<bool>,
    count: usize,
    recovery: Vec<(usize, Vec<u8>)>,
    asked: Asked,
    /// Held in the buffer: `padded` and the recovery shards.
    bytes: usize,
}

enum Slot {
    /// The restore does not read it (a region it does not write).
    Unneeded,
    /// Nothing received yet.
    Waiting(Asked),
    Partial(Box<Partial>),
    /// Rebuilt: its stored bytes, and whether repair shards were needed.
    Ready(Vec<u8>, bool),
    /// Handed over for the last time, or given up: the pipeline reads it over HTTP.
    Gone,
}

struct St {
    slots: Vec<Slot>,
    needs: Vec<u32>,
    /// What each chunk's last hand-over counted as (1 multicast, 2 repaired), so a rejection
    /// moves it to HTTP.
    delivered: Vec<u8>,
    used: usize,
    /// The sender's position: chunks below it have been sent.
    position: u32,
    state: State,
    /// Highest chunk of which a data shard was seen: the stream is there.
    stream_at: Option<u32>,
    /// First chunk seen on the stream: what came before passed before we listened.
    first_data: Option<u32>,
    last_heard: Instant,
    last_multicast: Option<Instant>,
    fallback: bool,
    dead: bool,
    /// The restore asked for its first chunk: its disk is laid out and its pipeline runs,
    /// so the sender may start for it (until then it reports "preparing").
    ready: bool,
    scan_from: u32,
    stats: ReceiverStats,
}

impl St {
    /// Whether the stream has gone past `seq` (its proactive shards are all out).
    fn passed(&self, seq: u32) -> bool {
        self.position > seq || self.stream_at.is_some_and(|s| s > seq) || self.state == State::Ended
    }
    /// Whether waiting for `seq` can still bring it.
    fn may_come(&self, seq: u32) -> bool {
        if self.fallback || self.dead || self.state == State::Ended {
            return false;
        }
        match &self.slots[seq as usize] {
            Slot::Ready(..) => true,
            Slot::Partial(_) => true,
            // Passed before we listened: it comes over HTTP.
            Slot::Waiting(_) => self.first_data.is_none_or(|f| seq >= f),
            Slot::Unneeded | Slot::Gone => false,
        }
    }
    fn give_up(&mut self, seq: u32) {
        let s = &mut self.slots[seq as usize];
        if let Slot::Partial(p) = s {
            self.used -= p.bytes;
        }
        if matches!(s, Slot::Partial(_) | Slot::Waiting(_)) {
            *s = Slot::Gone;
        }
    }
    fn settled(&self, seq: u32) -> bool {
        !matches!(
            self.slots[seq as usize],
            Slot::Waiting(_) | Slot::Partial(_)
        )
    }
}

struct Inner {
    session: u64,
    key: [u8; 32],
    server: SocketAddr,
    control: UdpSocket,
    data: UdpSocket,
    group: Ipv4Addr,
    port: u16,
    metas: Vec<Meta>,
    first_seq: HashMap<ChunkId, u32>,
    fec_percent: u32,
    budget: usize,
    drop_percent: f64,
    drop_seed: u64,
    joined_at: Instant,
    st: Mutex<St>,
    cv: Condvar,
    stop: AtomicBool,
    notices: Notices,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, St> {
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn data_loop(&self) {
        let mut buf = vec![0u8; wire::MAX_DATAGRAM + 64];
        let mut rng = self.drop_seed | 1;
        let drop_below = (self.drop_percent.clamp(0.0, 100.0) / 100.0 * u32::MAX as f64) as u64;
        while !self.stop.load(Ordering::SeqCst) {
            let n = match self.data.recv(&mut buf) {
                Ok(n) => n,
                Err(_) => continue, // timeout: look at `stop` again
            };
            if drop_below > 0 {
                // xorshift64: a lossy network, repeatably.
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                if (rng >> 32) < drop_below {
                    self.lock().stats.test_dropped += 1;
                    continue;
                }
            }
            self.datagram(&buf[..n]);
        }
    }

    /// One datagram from the data socket: checked before anything is kept.
    fn datagram(&self, d: &[u8]) {
        let checked = match wire::peek_session(d) {
            Some(s) if s != self.session => Err(None),
            _ => wire::decode(&self.key, d).map_err(Some),
        };
        let mut st = self.lock();
        st.stats.datagrams += 1;
        let (h, payload) = match checked {
            Ok(v) => v,
            Err(why) => {
                match why {
                    None => st.stats.foreign += 1,
                    Some(Refused::Truncated) => st.stats.truncated += 1,
                    Some(Refused::Malformed) => st.stats.malformed += 1,
                    Some(Refused::Check) => st.stats.bad_check += 1,
                }
                return;
            }
        };
        let now = Instant::now();
        st.last_heard = now;
        st.last_multicast = Some(now);
        st.stats.multicast_arrived = true;
        match h.kind {
            Kind::Data | Kind::Recovery => self.shard(&mut st, &h, payload),
            Kind::Announce => {
                st.position = st.position.max(h.seq);
                st.state = State::from_u16(h.shard);
            }
            Kind::End => {
                st.state = State::Ended;
                st.position = self.metas.len() as u32;
                for seq in 0..self.metas.len() as u32 {
                    st.give_up(seq);
                }
            }
            _ => st.stats.malformed += 1,
        }
        drop(st);
        self.cv.notify_all();
    }

    fn shard(&self, st: &mut St, h: &Header, payload: &[u8]) {
        let seq = h.seq;
        let Some(meta) = self.metas.get(seq as usize) else {
            st.stats.malformed += 1;
            return;
        };
        let index = h.shard as usize;
        let fits = h.k as usize == meta.k
            && h.stored_len == meta.stored_len
            && h.flags == meta.flags
            && payload.len() == SHARD_BYTES
            && match h.kind {
                Kind::Data => index < meta.k,
                _ => index < fec::recovery_total(meta.k),
            };
        if !fits {
            st.stats.malformed += 1;
            return;
        }
        if h.kind == Kind::Data {
            st.stream_at = Some(st.stream_at.map_or(seq, |s| s.max(seq)));
            st.first_data.get_or_insert(seq);
        }
        let shard_bytes = meta.k * SHARD_BYTES;
        let slot = &mut st.slots[seq as usize];
        let mut done = None;
        match slot {
            Slot::Unneeded | Slot::Ready(..) | Slot::Gone => return,
            Slot::Waiting(asked) => {
                let asked = *asked;
                if st.used + shard_bytes + SHARD_BYTES > self.budget {
                    st.stats.dropped_buffer_full += 1;
                    *slot = Slot::Gone;
                    return;
                }
                st.used += shard_bytes;
                *slot = Slot::Partial(Box::new(Partial {
                    padded: vec![0u8; shard_bytes],
                    have: vec![false; meta.k],
                    count: 0,
                    recovery: Vec::new(),
                    asked,
                    bytes: shard_bytes,
                }));
                return self.shard(st, h, payload);
            }
            Slot::Partial(p) => {
                match h.kind {
                    Kind::Data => {
                        if p.have[index] {
                            return;
                        }
                        p.padded[index * SHARD_BYTES..(index + 1) * SHARD_BYTES]
                            .copy_from_slice(payload);
                        p.have[index] = true;
                    }
                    _ => {
                        if p.recovery.iter().any(|(i, _)| *i == index) {
                            return;
                        }
                        // A chunk being completed may go past the budget, up to twice it:
                        // refusing its repair shards would only send it to HTTP, and its
                        // recovery shards never outnumber its data shards.
                        if st.used + SHARD_BYTES > 2 * self.budget {
                            st.stats.dropped_buffer_full += 1;
                            return;
                        }
                        p.recovery.push((index, payload.to_vec()));
                        p.bytes += SHARD_BYTES;
                        st.used += SHARD_BYTES;
                    }
                }
                p.count += 1;
                if p.count >= meta.k {
                    done = Some(std::mem::replace(slot, Slot::Gone));
                }
            }
        }
        let Some(Slot::Partial(mut p)) = done else {
            return;
        };
        st.used -= p.bytes;
        let proactive = fec::proactive(meta.k, self.fec_percent);
        let repaired = p.recovery.iter().any(|(i, _)| *i >= proactive) && p.have.iter().any(|h| !h);
        let recs: Vec<(usize, &[u8])> = p.recovery.iter().map(|(i, s)| (*i, &s[..])).collect();
        match fec::rebuild(&mut p.padded, &p.have, &recs) {
            Ok(()) => {
                let mut bytes = std::mem::take(&mut p.padded);
                bytes.truncate(meta.stored_len as usize);
                st.used += bytes.len();
                st.slots[seq as usize] = Slot::Ready(bytes, repaired);
            }
            // Cannot happen with k distinct shards; if it does, HTTP has the chunk.
            Err(_) => st.slots[seq as usize] = Slot::Gone,
        }
    }

    fn control_loop(&self) {
        let mut buf = vec![0u8; wire::MAX_DATAGRAM + 64];
        let mut out = Vec::new();
        let mut last_report: Option<Instant> = None;
        let mut told_dead = false;
        while !self.stop.load(Ordering::SeqCst) {
            if let Ok((n, from)) = self.control.recv_from(&mut buf) {
                if from == self.server {
                    if let Ok((h, _)) = wire::decode(&self.key, &buf[..n]) {
                        if h.kind == Kind::Status && h.session == self.session {
                            let mut st = self.lock();
                            st.last_heard = Instant::now();
                            st.position = st.position.max(h.seq);
                            st.state = State::from_u16(h.shard);
                        }
                    }
                }
            }
            let mut repairs = Vec::new();
            let mut tell = None;
            {
                let mut st = self.lock();
                let now = Instant::now();
                if !st.dead && now.duration_since(st.last_heard) > DEAD_AFTER {
                    st.dead = true;
                    if !told_dead && st.state != State::Ended && st.last_multicast.is_some() {
                        told_dead = true;
                        tell = Some(format!(
                            "the multicast sender {} stopped answering; the rest of the image \
                             comes over HTTP",
                            self.server.ip()
                        ));
                    }
                }
                // The sender answers (or said it ended) but its stream never came.
                if !st.fallback
                    && st.last_multicast.is_none()
                    && (now.duration_since(self.joined_at) > NO_MULTICAST_AFTER
                        || st.state == State::Ended)
                {
                    st.fallback = true;
                    st.stats.fell_back = true;
                    tell = Some(format!(
                        "multicast from {} to {}:{} does not arrive here (a switch or Wi-Fi \
                         that drops multicast?); restoring over HTTP instead",
                        self.server.ip(),
                        self.group,
                        self.port
                    ));
                }
                if st.fallback || st.dead || st.state == State::Ended {
                    for seq in st.scan_from..self.metas.len() as u32 {
                        st.give_up(seq);
                    }
                    st.scan_from = self.metas.len() as u32;
                } else {
                    self.scan(&mut st, now, &mut repairs);
                }
            }
            if let Some(m) = tell {
                self.notices.tell(m);
                self.cv.notify_all();
            }
            // Repair requests, in as few datagrams as they fit.
            let mut rest = &repairs[..];
            let mut payload = Vec::new();
            while !rest.is_empty() {
                let n = wire::encode_repairs(rest, &mut payload);
                wire::encode(
                    &self.key,
                    &Header::control(Kind::Repair, self.session),
                    &payload,
                    &mut out,
                );
                let _ = self.control.send_to(&out, self.server);
                self.lock().stats.repair_requests += 1;
                rest = &rest[n..];
            }
            if last_report.is_none_or(|t| t.elapsed() >= REPORT_EVERY) {
                last_report = Some(Instant::now());
                self.send_report(None);
            }
        }
    }

    /// Tells the sender how this receiver does (`state` overrides the one it is in).
    fn send_report(&self, state: Option<&str>) {
        let r = self.report(state);
        let mut out = Vec::new();
        if let Ok(p) = serde_json::to_vec(&r) {
            wire::encode(
                &self.key,
                &Header::control(Kind::Report, self.session),
                &p,
                &mut out,
            );
            let _ = self.control.send_to(&out, self.server);
        }
    }

    /// Looks at the chunks the stream has passed: asks for the shards still missing, gives up
    /// (to HTTP) those asked for too often or that passed before we listened.
    fn scan(&self, st: &mut St, now: Instant, repairs: &mut Vec<(u32, u16)>) {
        let n = self.metas.len() as u32;
        let mut seq = st.scan_from;
        let mut all_settled = true;
        while seq < n && st.passed(seq) {
            if st.settled(seq) {
                if all_settled {
                    st.scan_from = seq + 1;
                }
                seq += 1;
                continue;
            }
            all_settled = false;
            // Nothing heard yet: no multicast here (told after a while) or not yet; either
            // way there is nothing to ask for.
            // A receiver that never heard the stream asks for nothing: it would make the
            // sender repeat the whole image to the room.
            let Some(first) = st.first_data.filter(|_| st.last_multicast.is_some()) else {
                break;
            };
            if matches!(st.slots[seq as usize], Slot::Waiting(_)) && seq < first {
                st.give_up(seq);
                seq += 1;
                continue;
            }
            let k = self.metas[seq as usize].k;
            let (asked, needed) = match &mut st.slots[seq as usize] {
                Slot::Waiting(a) => (a, k),
                Slot::Partial(p) => (&mut p.asked, k - p.count),
                _ => unreachable!("settled chunks are skipped"),
            };
            if asked
                .last
                .is_some_and(|t| now.duration_since(t) < NACK_EVERY)
            {
                seq += 1;
                continue;
            }
            if asked.times >= NACK_TRIES {
                st.give_up(seq);
            } else {
                asked.times += 1;
                asked.last = Some(now);
                // Repair shards are lost like the others: a receiver missing a share s of a
                // chunk asks for that share more again (needed²/k), so one round usually does.
                let ask = needed + (needed * needed).div_ceil(k);
                repairs.push((seq, ask.min(u16::MAX as usize) as u16));
            }
            seq += 1;
        }
        if all_settled {
            st.scan_from = seq.max(st.scan_from);
        }
    }

    fn report(&self, state: Option<&str>) -> wire::Report {
        let st = self.lock();
        let needed = st.needs.iter().filter(|&&n| n > 0).count().max(1);
        let settled = st
            .slots
            .iter()
            .zip(&st.needs)
            .filter(|(s, &n)| n > 0 && matches!(s, Slot::Gone))
            .count();
        wire::Report {
            percent: (settled as f32 * 100.0 / needed as f32).min(100.0),
            bytes: st.stats.stored_bytes_multicast,
            datagrams: st.stats.datagrams,
            bad_datagrams: st.stats.bad_datagrams(),
            chunks_multicast: st.stats.chunks_multicast + st.stats.chunks_repaired,
            chunks_http: st.stats.chunks_http,
            state: state.map(str::to_string).unwrap_or_else(|| {
                if st.fallback {
                    "fallback"
                } else if !st.ready {
                    "preparing"
                } else if st.stats.multicast_arrived && st.state == State::Streaming {
                    "receiving"
                } else {
                    "waiting"
                }
                .to_string()
            }),
        }
    }
}

/// A receiver joined to a session and listening; a [`ChunkFeed`] for the restore.
pub struct Receiver {
    inner: Arc<Inner>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Receiver {
    pub fn stats(&self) -> ReceiverStats {
        self.inner.lock().stats.clone()
    }

    /// Stops listening and tells the sender (a last report, `done` or `left`, and LEAVE).
    pub fn stop(&self) {
        if self.inner.stop.swap(true, Ordering::SeqCst) {
            return;
        }
        self.inner.cv.notify_all();
        // The threads first: a periodic report sent after the last one would undo it.
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for t in threads {
            let _ = t.join();
        }
        let finished = {
            let st = self.inner.lock();
            st.slots
                .iter()
                .zip(&st.needs)
                .all(|(s, &n)| n == 0 || matches!(s, Slot::Gone))
        };
        // "left": stopped before its restore took every chunk (cancelled, failed).
        self.inner
            .send_report(Some(if finished { "done" } else { "left" }));
        let mut out = Vec::new();
        wire::encode(
            &self.inner.key,
            &Header::control(Kind::Leave, self.inner.session),
            &[],
            &mut out,
        );
        let _ = self.inner.control.send_to(&out, self.inner.server);
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

impl ChunkFeed for Receiver {
    fn take(&self, id: &ChunkId, cancel: &crate::events::Cancel) -> Option<Vec<u8>> {
        let seq = *self.inner.first_seq.get(id)?;
        let i = seq as usize;
        let mut st = self.inner.lock();
        if !st.ready {
            // The restore's first read: say so now, not at the next periodic report, since a
            // sender waiting for its room starts when every receiver is ready.
            st.ready = true;
            drop(st);
            self.inner.send_report(None);
            st = self.inner.lock();
        }
        loop {
            if let Slot::Ready(..) = st.slots[i] {
                st.needs[i] = st.needs[i].saturating_sub(1);
                let (bytes, repaired) = if st.needs[i] == 0 {
                    let Slot::Ready(b, r) = std::mem::replace(&mut st.slots[i], Slot::Gone) else {
                        unreachable!("matched above")
                    };
                    st.used -= b.len();
                    (b, r)
                } else {
                    let Slot::Ready(b, r) = &st.slots[i] else {
                        unreachable!("matched above")
                    };
                    (b.clone(), *r)
                };
                if repaired {
                    st.stats.chunks_repaired += 1;
                    st.delivered[i] = 2;
                } else {
                    st.stats.chunks_multicast += 1;
                    st.delivered[i] = 1;
                }
                st.stats.stored_bytes_multicast += bytes.len() as u64;
                return Some(bytes);
            }
            if cancel.is_cancelled() {
                // The pipeline stops at its next check; this read is not counted.
                return None;
            }
            if self.inner.stop.load(Ordering::SeqCst) || !st.may_come(seq) {
                st.give_up(seq);
                st.stats.chunks_http += 1;
                return None;
            }
            // Woken by every datagram; the timeout only bounds a wait on a silent network
            // (the control thread then declares the sender dead or multicast missing).
            st = self
                .inner
                .cv
                .wait_timeout(st, Duration::from_millis(200))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn rejected(&self, id: &ChunkId) {
        let Some(&seq) = self.inner.first_seq.get(id) else {
            return;
        };
        let mut st = self.inner.lock();
        match st.delivered[seq as usize] {
            1 => st.stats.chunks_multicast -= 1,
            2 => st.stats.chunks_repaired -= 1,
            _ => {}
        }
        st.stats.chunks_rejected += 1;
        st.stats.chunks_http += 1;
        // A rejected chunk still held for later uses would fail again: HTTP for those too.
        if let Slot::Ready(b, _) = std::mem::replace(&mut st.slots[seq as usize], Slot::Gone) {
            st.used -= b.len();
        }
    }

    fn may_deliver(&self, id: &ChunkId) -> bool {
        let Some(&seq) = self.inner.first_seq.get(id) else {
            return false;
        };
        self.inner.lock().may_come(seq)
    }

    fn notices(&self) -> Option<&Notices> {
        Some(&self.inner.notices)
    }

    fn summary(&self) -> Option<String> {
        let s = self.stats();
        let mut line = format!(
            "multicast: {} chunk reads from the stream ({} after repair), {} over HTTP; {} \
             datagrams, {} bad ones dropped",
            s.chunks_multicast + s.chunks_repaired,
            s.chunks_repaired,
            s.chunks_http,
            s.datagrams,
            s.bad_datagrams()
        );
        if s.chunks_rejected > 0 {
            line += &format!(
                "; {} rebuilt chunks failed their check and came over HTTP",
                s.chunks_rejected
            );
        }
        if s.fell_back {
            line += "; multicast did not arrive";
        }
        Some(line)
    }
}

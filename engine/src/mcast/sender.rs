//! The sending end of a multicast session: waits for receivers, sends the session's chunk list
//! once at a set rate with proactive recovery shards, serves repair requests with new recovery
//! shards, keeps the table of receivers, and ends the session. It owns pacing and the control
//! socket; it must not wait for any receiver once streaming, and it never writes anything
//! (the repository is only read).

use super::fec;
use super::wire::{self, Header, Kind, State, SHARD_BYTES};
use crate::error::{Error, Result};
use crate::events::Cancel;
use crate::repo::index::Location;
use crate::repo::{ChunkId, ImageRef, Repository};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// At most this share of the datagrams sent while the list streams are repairs: one lossy
/// receiver slows the room's stream by at most a quarter.
const REPAIR_SHARE: f64 = 0.25;
/// A chunk repaired this recently is not repaired again: requests sent before the repair
/// arrived would otherwise double it. Receivers ask again later ([`super::receiver`]).
const REPAIR_GUARD: Duration = Duration::from_millis(60);
/// After the list: repairs are served until none was asked for this long.
const LINGER_QUIET: Duration = Duration::from_millis(600);
/// ... and for at most this long, so a receiver that keeps asking cannot hold the session.
const LINGER_MAX: Duration = Duration::from_secs(10);
/// Announces (the sender's position) go out this often.
const ANNOUNCE_EVERY: Duration = Duration::from_millis(100);
/// END is sent this many times, spaced out: one lost END is not a receiver waiting in vain.
const END_REPEAT: usize = 5;
/// A receiver that has not reported for this long is shown as lost.
const LOST_AFTER: Duration = Duration::from_secs(4);
/// Encoded chunks kept for repairs; older ones are read and encoded again when asked for.
const RECENT: usize = 16;

/// How a session is sent.
#[derive(Clone, Debug)]
pub struct SenderConfig {
    /// Start once this many receivers joined and are ready (their restore asked for its first
    /// chunk, so nothing sent is missed while a disk is being laid out); 0: only `wait` counts.
    pub clients: usize,
    /// Start after this long in any case.
    pub wait: Duration,
    /// Sending rate in Mbit/s, headers included. 500 by default: half a gigabit link, so the
    /// LAN stays usable, and near what a live system's receiver decompresses, checks and
    /// writes to an SSD; a 100 Mbit/s network needs a lower rate.
    pub rate_mbps: u32,
    /// Proactive recovery shards in percent of each chunk's data shards.
    pub fec_percent: u32,
    pub group: Ipv4Addr,
    /// Control port (unicast); the stream goes to `port + 1`.
    pub port: u16,
    /// Multicast TTL: 1 keeps the stream on the local network; more crosses routers that
    /// forward multicast.
    pub ttl: u32,
    /// Address of the interface to send from and listen on (0.0.0.0: the kernel's choice).
    pub interface: Ipv4Addr,
}

/// Default proactive recovery share, from the loss measurements (figures in the module docs):
/// at 0 % loss it costs 3 % of the image, and it repairs the occasional lost datagram of a
/// healthy LAN without a repair round.
pub const DEFAULT_FEC_PERCENT: u32 = 3;

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            clients: 0,
            wait: Duration::from_secs(60),
            rate_mbps: 500,
            fec_percent: DEFAULT_FEC_PERCENT,
            group: super::DEFAULT_GROUP,
            port: super::DEFAULT_PORT,
            ttl: 1,
            interface: Ipv4Addr::UNSPECIFIED,
        }
    }
}

/// One receiver, as the room view shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ClientInfo {
    pub addr: String,
    pub mac: Option<String>,
    pub hostname: Option<String>,
    /// What it last reported ("preparing", "waiting", "receiving", "fallback", "done",
    /// "left"), or "joined" before its first report, or "lost" when it stopped reporting.
    pub state: String,
    pub percent: f32,
    /// Stored bytes it took from the stream.
    pub bytes: u64,
    /// Its rate over the session so far, MB/s.
    pub mb_per_s: f64,
    pub bad_datagrams: u64,
    pub chunks_multicast: u64,
    pub chunks_http: u64,
    pub repair_requests: u64,
    pub seconds_since_report: f64,
}

/// Where the session is, for a progress display.
#[derive(Clone, Debug, Serialize)]
pub struct SenderProgress {
    pub state: State,
    /// Chunks sent so far, of `chunks`.
    pub position: u32,
    pub chunks: u32,
    pub bytes_sent: u64,
    /// Receivers joined, and of those the ones ready for the stream.
    pub clients: usize,
    pub ready: usize,
}

/// What a finished session did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SenderReport {
    pub chunks: u64,
    /// Stored bytes of the session's chunks (what a single HTTP restore would read).
    pub stored_bytes: u64,
    /// UDP payload bytes multicast (datagram headers included).
    pub bytes_sent: u64,
    pub datagrams: u64,
    pub data_datagrams: u64,
    pub proactive_datagrams: u64,
    pub repair_datagrams: u64,
    pub repair_requests: u64,
    /// From the first datagram of the list to the last repair.
    pub stream_seconds: f64,
    pub clients: Vec<ClientInfo>,
}

struct Client {
    joined: Instant,
    last_seen: Instant,
    mac: Option<String>,
    hostname: Option<String>,
    report: wire::Report,
    repair_requests: u64,
}

impl Client {
    /// Its restore runs and waits for chunks (a first report says so at once).
    fn ready(&self) -> bool {
        !matches!(self.report.state.as_str(), "" | "preparing" | "left")
    }
}

#[derive(Default)]
struct Shared {
    clients: BTreeMap<SocketAddr, Client>,
    state: Option<State>,
    position: u32,
    /// Repairs asked for and not yet queued: chunk → most shards any receiver misses.
    asked: BTreeMap<u32, u16>,
    repair_requests: u64,
    last_request: Option<Instant>,
}

/// A chunk cut into shards, with its recovery shards once needed.
struct Encoded {
    padded: Vec<u8>,
    recovery: Option<Vec<u8>>,
    k: usize,
    stored_len: u32,
    flags: u32,
}

/// A multicast session for one image.
pub struct Sender {
    repo: Arc<Repository>,
    image: ImageRef,
    list: Vec<(ChunkId, Location)>,
    stored_bytes: u64,
    cfg: SenderConfig,
    session: u64,
    key: [u8; 32],
    control: UdpSocket,
    data: UdpSocket,
    dest: SocketAddr,
    shared: Mutex<Shared>,
}

impl Sender {
    /// Prepares a session: the image's chunk list (every chunk must be in the repository),
    /// and the sockets (a port in use is an error now, not when the room is waiting).
    pub fn new(repo: Arc<Repository>, image: &ImageRef, cfg: SenderConfig) -> Result<Sender> {
        let m = repo.load_manifest(image)?;
        let mut list = Vec::new();
        let mut stored_bytes = 0;
        for id in super::session_chunks(&m) {
            let loc = repo.locate(&id).ok_or_else(|| {
                Error::corrupt(
                    format!("image {image} in {}", repo.location()),
                    0,
                    format!("chunk {} is missing from the repository", id.short()),
                )
            })?;
            if fec::data_shards(loc.stored_len as usize) > u16::MAX as usize / 2 {
                return Err(Error::Unsupported(format!(
                    "chunk {} of image {image} is {} bytes stored: too large for a multicast \
                     session",
                    id.short(),
                    loc.stored_len
                )));
            }
            stored_bytes += loc.stored_len as u64;
            list.push((id, loc));
        }
        if list.len() > u32::MAX as usize {
            return Err(Error::Unsupported(format!(
                "image {image} has too many chunks for a session"
            )));
        }
        if cfg.rate_mbps == 0 {
            return Err(Error::Invalid(
                "multicast rate must be above 0 Mbit/s".into(),
            ));
        }
        if !cfg.group.is_multicast() {
            return Err(Error::Invalid(format!(
                "{} is not a multicast group (224.0.0.0/4)",
                cfg.group
            )));
        }
        let data_port = cfg.port.checked_add(1).ok_or_else(|| {
            Error::Invalid(format!(
                "port {} leaves no room for the data port",
                cfg.port
            ))
        })?;
        let io = |what: String| move |e: std::io::Error| Error::io(what, e);
        let control = super::sock::control(cfg.interface, cfg.port).map_err(io(format!(
            "multicast control port udp://{}:{}",
            cfg.interface, cfg.port
        )))?;
        control
            .set_read_timeout(Some(Duration::from_millis(50)))
            .map_err(io("control socket".into()))?;
        let data = super::sock::group_sender(cfg.ttl, cfg.interface).map_err(io(format!(
            "multicast socket for {}:{data_port}",
            cfg.group
        )))?;
        let session = super::random_u64();
        Ok(Sender {
            repo,
            image: image.clone(),
            list,
            stored_bytes,
            dest: SocketAddr::V4(SocketAddrV4::new(cfg.group, data_port)),
            cfg,
            session,
            key: wire::session_key(session),
            control,
            data,
            shared: Mutex::new(Shared::default()),
        })
    }

    /// The control port receivers join at (useful when `port` was 0).
    pub fn control_port(&self) -> u16 {
        self.control.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn session_id(&self) -> u64 {
        self.session
    }

    /// The receivers so far, for the room view.
    pub fn clients(&self) -> Vec<ClientInfo> {
        let sh = self.lock();
        let now = Instant::now();
        sh.clients
            .iter()
            .map(|(addr, c)| {
                let since = now.duration_since(c.last_seen);
                let secs = now.duration_since(c.joined).as_secs_f64().max(0.001);
                ClientInfo {
                    addr: addr.to_string(),
                    mac: c.mac.clone(),
                    hostname: c.hostname.clone(),
                    state: if since > LOST_AFTER && c.report.state != "done" {
                        "lost".into()
                    } else if c.report.state.is_empty() {
                        "joined".into()
                    } else {
                        c.report.state.clone()
                    },
                    percent: c.report.percent,
                    bytes: c.report.bytes,
                    mb_per_s: c.report.bytes as f64 / 1e6 / secs,
                    bad_datagrams: c.report.bad_datagrams,
                    chunks_multicast: c.report.chunks_multicast,
                    chunks_http: c.report.chunks_http,
                    repair_requests: c.repair_requests,
                    seconds_since_report: since.as_secs_f64(),
                }
            })
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs the session to its end: waits for receivers, streams, serves repairs, sends END.
    /// `progress` is called about ten times a second. Cancelling ends the session at once
    /// (END is still sent, so receivers turn to HTTP without waiting).
    pub fn run(
        &self,
        cancel: &Cancel,
        progress: &mut dyn FnMut(&SenderProgress),
    ) -> Result<SenderReport> {
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| self.control_loop(&stop));
            let r = self.stream(cancel, progress);
            stop.store(true, Ordering::SeqCst);
            r
        })
    }

    /// Answers receivers: JOIN → WELCOME, REPORT → STATUS, REPAIR → merged into `asked`.
    fn control_loop(&self, stop: &AtomicBool) {
        let mut buf = vec![0u8; wire::MAX_DATAGRAM + 1];
        let join_key = wire::session_key(0);
        let mut out = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            let (n, from) = match self.control.recv_from(&mut buf) {
                Ok(v) => v,
                Err(_) => continue, // timeout: look at `stop` again
            };
            let d = &buf[..n];
            let key = match wire::peek_session(d) {
                Some(0) => &join_key,
                Some(s) if s == self.session => &self.key,
                _ => continue, // another session's or not ours: nothing to answer
            };
            let Ok((h, payload)) = wire::decode(key, d) else {
                continue;
            };
            match h.kind {
                Kind::Join => {
                    let j: wire::Join = serde_json::from_slice(payload).unwrap_or_default();
                    let (state, position) = {
                        let mut sh = self.lock();
                        let now = Instant::now();
                        let c = sh.clients.entry(from).or_insert(Client {
                            joined: now,
                            last_seen: now,
                            mac: None,
                            hostname: None,
                            report: wire::Report::default(),
                            repair_requests: 0,
                        });
                        c.last_seen = now;
                        c.mac = j.mac;
                        c.hostname = j.hostname;
                        (sh.state.unwrap_or(State::Waiting), sh.position)
                    };
                    let w = wire::Welcome {
                        session: self.session,
                        group: self.cfg.group,
                        data_port: self.dest.port(),
                        image_name: self.image.name.clone(),
                        image_id: self.image.id.clone(),
                        chunks: self.list.len() as u32,
                        fec_percent: self.cfg.fec_percent,
                        rate_mbps: self.cfg.rate_mbps,
                        state,
                        position,
                    };
                    if let Ok(p) = serde_json::to_vec(&w) {
                        wire::encode(
                            &self.key,
                            &Header::control(Kind::Welcome, self.session),
                            &p,
                            &mut out,
                        );
                        let _ = self.control.send_to(&out, from);
                    }
                }
                Kind::Report => {
                    let (state, position) = {
                        let mut sh = self.lock();
                        if let Some(c) = sh.clients.get_mut(&from) {
                            c.last_seen = Instant::now();
                            if let Ok(r) = serde_json::from_slice::<wire::Report>(payload) {
                                // A receiver's last word stands: a report overtaken on the
                                // way does not bring it back.
                                let last = matches!(c.report.state.as_str(), "done" | "left");
                                if !last {
                                    c.report = r;
                                }
                            }
                        }
                        (sh.state.unwrap_or(State::Waiting), sh.position)
                    };
                    let mut h = Header::control(Kind::Status, self.session);
                    h.seq = position;
                    h.shard = state as u16;
                    wire::encode(&self.key, &h, &[], &mut out);
                    let _ = self.control.send_to(&out, from);
                }
                Kind::Repair => {
                    let Some(items) = wire::decode_repairs(payload) else {
                        continue;
                    };
                    let mut sh = self.lock();
                    // Only receivers that joined are repaired for.
                    if !sh.clients.contains_key(&from) {
                        continue;
                    }
                    let n = self.list.len() as u32;
                    sh.repair_requests += 1;
                    sh.last_request = Some(Instant::now());
                    if let Some(c) = sh.clients.get_mut(&from) {
                        c.repair_requests += 1;
                        c.last_seen = Instant::now();
                    }
                    for (seq, needed) in items {
                        if seq < n && needed > 0 {
                            let e = sh.asked.entry(seq).or_insert(0);
                            *e = (*e).max(needed);
                        }
                    }
                }
                Kind::Leave => {
                    let mut sh = self.lock();
                    if let Some(c) = sh.clients.get_mut(&from) {
                        c.last_seen = Instant::now();
                        if c.report.state != "done" {
                            c.report.state = "left".into();
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn stream(
        &self,
        cancel: &Cancel,
        progress: &mut dyn FnMut(&SenderProgress),
    ) -> Result<SenderReport> {
        let mut tx = Tx {
            sender: self,
            out: Vec::new(),
            pacer: Pacer::new(self.cfg.rate_mbps),
            report: SenderReport {
                chunks: self.list.len() as u64,
                stored_bytes: self.stored_bytes,
                ..Default::default()
            },
            recent: VecDeque::new(),
            next_recovery: HashMap::new(),
            repaired_at: HashMap::new(),
            queue: VecDeque::new(),
            last_announce: Instant::now() - ANNOUNCE_EVERY,
            last_progress: Instant::now(),
        };
        self.lock().state = Some(State::Waiting);
        // Waiting for the room.
        let waiting = Instant::now();
        loop {
            let ready = self.lock().clients.values().filter(|c| c.ready()).count();
            if (self.cfg.clients > 0 && ready >= self.cfg.clients)
                || waiting.elapsed() >= self.cfg.wait
                || cancel.is_cancelled()
            {
                break;
            }
            tx.announce(State::Waiting, 0)?;
            tx.progress(progress, State::Waiting, 0, false);
            std::thread::sleep(Duration::from_millis(20));
        }
        let started = Instant::now();
        tx.pacer.restart();
        self.lock().state = Some(State::Streaming);
        let n = self.list.len() as u32;
        for seq in 0..n {
            if cancel.is_cancelled() {
                break;
            }
            let enc = tx.encoded(seq)?;
            let k = enc.lock().unwrap_or_else(|p| p.into_inner()).k;
            let r = fec::proactive(k, self.cfg.fec_percent);
            for i in 0..k {
                tx.send_shard(seq, &enc, Kind::Data, i)?;
                tx.report.data_datagrams += 1;
                tx.interleave_repair()?;
                tx.announce(State::Streaming, seq)?;
            }
            for j in 0..r {
                tx.send_shard(seq, &enc, Kind::Recovery, j)?;
                tx.report.proactive_datagrams += 1;
                tx.interleave_repair()?;
            }
            tx.next_recovery.insert(seq, r as u16);
            tx.keep(seq, enc);
            self.lock().position = seq + 1;
            tx.progress(progress, State::Streaming, seq + 1, false);
        }
        // Repairs still asked for, at the full rate now, until the room is quiet.
        let list_done = Instant::now();
        while !cancel.is_cancelled() && list_done.elapsed() < LINGER_MAX {
            tx.announce(State::Streaming, n)?;
            tx.take_asked();
            if let Some((seq, idx)) = tx.queue.pop_front() {
                tx.send_repair(seq, idx)?;
                continue;
            }
            let last = self.lock().last_request;
            let quiet = last.map_or(list_done.elapsed(), |t| t.elapsed());
            if quiet >= LINGER_QUIET {
                break;
            }
            tx.progress(progress, State::Streaming, n, false);
            std::thread::sleep(Duration::from_millis(5));
        }
        tx.report.stream_seconds = started.elapsed().as_secs_f64();
        self.lock().state = Some(State::Ended);
        for _ in 0..END_REPEAT {
            let mut h = Header::control(Kind::End, self.session);
            h.seq = n;
            tx.send(&h, &[])?;
            std::thread::sleep(Duration::from_millis(30));
        }
        // Unicast too: a receiver the stream does not reach learns the end at once, not by
        // waiting for a sender that went quiet.
        let mut h = Header::control(Kind::Status, self.session);
        h.seq = n;
        h.shard = State::Ended as u16;
        let mut out = Vec::new();
        wire::encode(&self.key, &h, &[], &mut out);
        let addrs: Vec<SocketAddr> = self.lock().clients.keys().copied().collect();
        for a in addrs {
            let _ = self.control.send_to(&out, a);
        }
        tx.progress(progress, State::Ended, n, true);
        let requests = self.lock().repair_requests;
        let mut report = tx.report;
        report.repair_requests = requests;
        report.clients = self.clients();
        cancel.check()?;
        Ok(report)
    }
}

/// Sending state of a running session.
struct Tx<'s> {
    sender: &'s Sender,
    out: Vec<u8>,
    pacer: Pacer,
    report: SenderReport,
    recent: VecDeque<(u32, Arc<Mutex<Encoded>>)>,
    /// Next recovery shard index of each chunk sent (proactive ones and repairs so far).
    next_recovery: HashMap<u32, u16>,
    repaired_at: HashMap<u32, Instant>,
    /// Repair datagrams to send: (chunk, recovery shard index).
    queue: VecDeque<(u32, u16)>,
    last_announce: Instant,
    last_progress: Instant,
}

impl Tx<'_> {
    fn send(&mut self, h: &Header, payload: &[u8]) -> Result<()> {
        wire::encode(&self.sender.key, h, payload, &mut self.out);
        self.pacer.pace(self.out.len());
        match self.sender.data.send_to(&self.out, self.sender.dest) {
            Ok(_) => {}
            // A full send queue or a route that comes and goes loses this datagram, as the
            // network could: receivers repair it. Anything else ends the session.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) || e.raw_os_error() == Some(libc::ENOBUFS) => {}
            Err(e) => return Err(Error::io(format!("multicast to {}", self.sender.dest), e)),
        }
        self.report.bytes_sent += self.out.len() as u64;
        self.report.datagrams += 1;
        Ok(())
    }

    fn announce(&mut self, state: State, position: u32) -> Result<()> {
        if self.last_announce.elapsed() < ANNOUNCE_EVERY {
            return Ok(());
        }
        self.last_announce = Instant::now();
        let mut h = Header::control(Kind::Announce, self.sender.session);
        h.seq = position;
        h.shard = state as u16;
        h.stored_len = self.sender.list.len() as u32;
        self.send(&h, &[])
    }

    fn progress(
        &mut self,
        f: &mut dyn FnMut(&SenderProgress),
        state: State,
        position: u32,
        force: bool,
    ) {
        if !force && self.last_progress.elapsed() < Duration::from_millis(100) {
            return;
        }
        self.last_progress = Instant::now();
        let (clients, ready) = {
            let sh = self.sender.lock();
            let ready = sh.clients.values().filter(|c| c.ready()).count();
            (sh.clients.len(), ready)
        };
        f(&SenderProgress {
            state,
            position,
            chunks: self.sender.list.len() as u32,
            bytes_sent: self.report.bytes_sent,
            clients,
            ready,
        });
    }

    fn encoded(&mut self, seq: u32) -> Result<Arc<Mutex<Encoded>>> {
        if let Some((_, e)) = self.recent.iter().find(|(s, _)| *s == seq) {
            return Ok(Arc::clone(e));
        }
        let (id, _) = self.sender.list[seq as usize];
        let (stored, loc) = self.sender.repo.read_stored(&id)?;
        Ok(Arc::new(Mutex::new(Encoded {
            k: fec::data_shards(stored.len()),
            padded: fec::split(&stored),
            recovery: None,
            stored_len: loc.stored_len,
            flags: loc.flags,
        })))
    }

    fn keep(&mut self, seq: u32, enc: Arc<Mutex<Encoded>>) {
        if self.recent.iter().any(|(s, _)| *s == seq) {
            return;
        }
        self.recent.push_back((seq, enc));
        while self.recent.len() > RECENT {
            self.recent.pop_front();
        }
    }

    fn send_shard(
        &mut self,
        seq: u32,
        enc: &Arc<Mutex<Encoded>>,
        kind: Kind,
        index: usize,
    ) -> Result<()> {
        let mut e = enc.lock().unwrap_or_else(|p| p.into_inner());
        if kind == Kind::Recovery && e.recovery.is_none() {
            e.recovery = Some(fec::recovery(&e.padded)?);
        }
        let h = Header {
            kind,
            session: self.sender.session,
            seq,
            shard: index as u16,
            k: e.k as u16,
            stored_len: e.stored_len,
            flags: e.flags,
        };
        let src = match kind {
            Kind::Recovery => e.recovery.as_deref().unwrap_or_default(),
            _ => &e.padded[..],
        };
        let payload = src[index * SHARD_BYTES..(index + 1) * SHARD_BYTES].to_vec();
        drop(e);
        self.send(&h, &payload)
    }

    /// Turns merged requests into queued repair shards: for each chunk, as many new recovery
    /// shards as the neediest receiver misses (never past the shards that exist).
    fn take_asked(&mut self) {
        let asked = std::mem::take(&mut self.sender.lock().asked);
        let now = Instant::now();
        for (seq, needed) in asked {
            if self.queue.iter().any(|(s, _)| *s == seq)
                || self
                    .repaired_at
                    .get(&seq)
                    .is_some_and(|t| now.duration_since(*t) < REPAIR_GUARD)
            {
                continue;
            }
            // A chunk not yet sent is not repaired: the stream brings it.
            let Some(next) = self.next_recovery.get(&seq).copied() else {
                continue;
            };
            let (_, loc) = self.sender.list[seq as usize];
            let total = fec::recovery_total(fec::data_shards(loc.stored_len as usize)) as u16;
            let end = next.saturating_add(needed).min(total);
            for idx in next..end {
                self.queue.push_back((seq, idx));
            }
            self.next_recovery.insert(seq, end);
        }
    }

    fn send_repair(&mut self, seq: u32, idx: u16) -> Result<()> {
        let enc = self.encoded(seq)?;
        self.send_shard(seq, &enc, Kind::Recovery, idx as usize)?;
        self.keep(seq, enc);
        self.repaired_at.insert(seq, Instant::now());
        self.report.repair_datagrams += 1;
        Ok(())
    }

    /// One repair datagram when repairs are waiting and within their share of the stream.
    fn interleave_repair(&mut self) -> Result<()> {
        if self.queue.is_empty() {
            self.take_asked();
        }
        if self.queue.is_empty()
            || (self.report.repair_datagrams as f64)
                >= REPAIR_SHARE * (self.report.datagrams as f64)
        {
            return Ok(());
        }
        if let Some((seq, idx)) = self.queue.pop_front() {
            self.send_repair(seq, idx)?;
        }
        Ok(())
    }
}

/// Spaces datagrams to the rate: each is due when the bits before it took their time at the
/// rate; the sender sleeps when more than a millisecond early (sleep granularity), and a
/// sender that fell behind does not make up with a burst.
struct Pacer {
    bits_per_sec: f64,
    start: Instant,
    bits: f64,
}

impl Pacer {
    fn new(rate_mbps: u32) -> Pacer {
        Pacer {
            bits_per_sec: rate_mbps as f64 * 1e6,
            start: Instant::now(),
            bits: 0.0,
        }
    }
    fn restart(&mut self) {
        self.start = Instant::now();
        self.bits = 0.0;
    }
    fn pace(&mut self, bytes: usize) {
        let due = self.start + Duration::from_secs_f64(self.bits / self.bits_per_sec);
        let now = Instant::now();
        if due > now + Duration::from_millis(1) {
            std::thread::sleep(due - now);
        } else if now > due + Duration::from_millis(20) {
            // Behind (a slow read, a busy machine): start counting again from now.
            self.restart();
        }
        // IP and UDP headers count on the wire too.
        self.bits += ((bytes + 28) * 8) as f64;
    }
}

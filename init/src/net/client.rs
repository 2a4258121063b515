//! The DHCP client of one interface: a thread that acquires a lease and then keeps it for as
//! long as the system runs (RFC 2131 §4.4): RENEW by unicast to the server at T1, REBIND by
//! broadcast at T2, and after an expiry or a NAK back to DISCOVER.
//!
//! Socket: UDP on 0.0.0.0:68 with SO_BINDTODEVICE and SO_BROADCAST, and the BROADCAST flag
//! in our requests. That works before the interface has an address: the kernel sends
//! limited broadcasts out of the bound device with source 0.0.0.0, and delivers broadcast
//! replies to a socket bound to the wildcard address. No AF_PACKET socket is needed (that is
//! what clients do to see replies unicast to an address not yet configured, which the
//! BROADCAST flag avoids; rp_filter is off in the live kernel and new namespaces).
//!
//! The client runs until its [`Stop`] is set (the network screen or a job switched the
//! interface to something else): it then removes its address and routes and returns. Every
//! wait is cut into short slices for that, so a switch takes well under a second.
//!
//! On expiry we deliberately deviate from the RFC's "stop using the address": the address
//! stays while we look for a server, because an imaging job streaming to a share must
//! survive a DHCP server that is down for a while; the DISCOVER asks for the same address
//! again, and only a different answer (or a NAK) replaces it.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::dhcp::{self, MessageType, Reply, Request};
use super::lease::{discover_backoff, Lease, Phase};
use super::netlink::{network_of, Netlink, Route, RTPROT_DHCP};
use super::state::{uptime_at, IfState, Method, Shared};
use super::{Iface, Stop};
use crate::log::{info, warning};

/// REQUEST attempts after an OFFER before starting over with DISCOVER (4, 8, 16 s apart).
const REQUEST_TRIES: u32 = 3;
/// The longest a receive blocks before the stop flag is looked at again.
const STOP_CHECK: Duration = Duration::from_millis(200);

pub struct Client {
    iface: Iface,
    sock: UdpSocket,
    nl: Netlink,
    shared: Shared,
    hostname: Option<String>,
    /// The lease whose address and routes are configured right now.
    current: Option<Lease>,
    stop: Stop,
}

impl Client {
    pub fn new(
        iface: Iface,
        shared: Shared,
        hostname: Option<String>,
        stop: Stop,
    ) -> io::Result<Client> {
        Ok(Client {
            sock: dhcp_socket(&iface.name)?,
            nl: Netlink::open()?,
            iface,
            shared,
            hostname,
            current: None,
            stop,
        })
    }

    /// Keeps a lease for the life of the system, or until stopped; then lets go of the
    /// address.
    pub fn run(mut self) {
        while self.wait_for_link() {
            let Some(lease) = self.acquire() else {
                break;
            };
            self.apply(&lease, false);
            if !self.maintain(lease) {
                break;
            }
        }
        if self.current.is_some() {
            info!("net: {}: DHCP stopped", self.iface.name);
        }
        self.unconfigure();
    }

    fn set_state(&self, state: IfState) {
        self.shared.update(&self.iface.name, |i| i.state = state);
    }

    /// False when stopped meanwhile.
    fn wait_for_link(&self) -> bool {
        let mut said = false;
        while !self.iface.carrier() {
            if !said {
                self.shared.update(&self.iface.name, |i| {
                    i.link = false;
                    i.state = IfState::NoLink;
                });
                said = true;
            }
            if !self.stop.sleep(Duration::from_secs(1)) {
                return false;
            }
        }
        self.shared.update(&self.iface.name, |i| i.link = true);
        !self.stop.stopped()
    }

    /// DISCOVER → OFFER → REQUEST → ACK, retried (with backoff) until it works; None when
    /// stopped meanwhile.
    fn acquire(&mut self) -> Option<Lease> {
        let began = Instant::now();
        let mut attempt = 0;
        loop {
            if self.stop.stopped() || (!self.iface.carrier() && !self.wait_for_link()) {
                return None;
            }
            self.set_state(IfState::Discovering);
            let xid = random_u32();
            let secs = began.elapsed().as_secs().min(u16::MAX as u64) as u16;
            let discover = Request {
                kind: MessageType::Discover,
                xid,
                secs,
                mac: self.iface.mac,
                ciaddr: Ipv4Addr::UNSPECIFIED,
                broadcast: true,
                // After an expiry: ask for the address we still use.
                requested_ip: self.current.as_ref().map(|l| l.address),
                server_id: None,
                hostname: self.hostname.clone(),
            };
            let wait = discover_backoff(attempt, (random_u32() % 2001) as i64 - 1000);
            attempt += 1;
            let Some(offer) = self.exchange(
                &discover,
                Ipv4Addr::BROADCAST,
                Instant::now() + wait,
                &[MessageType::Offer],
                None,
            ) else {
                continue;
            };
            self.set_state(IfState::Requesting);
            let request = Request {
                kind: MessageType::Request,
                requested_ip: Some(offer.yiaddr),
                server_id: offer.server_id,
                ..discover
            };
            for t in 0..REQUEST_TRIES {
                let sent = Instant::now();
                let reply = self.exchange(
                    &request,
                    Ipv4Addr::BROADCAST,
                    sent + Duration::from_secs(4 << t),
                    &[MessageType::Ack, MessageType::Nak],
                    offer.server_id,
                );
                match reply {
                    Some(r) if r.kind == Some(MessageType::Ack) => {
                        match Lease::from_ack(&r, sent) {
                            Ok(l) => return Some(l),
                            Err(e) => {
                                warning!("net: {}: unusable ACK: {e}", self.iface.name);
                                break;
                            }
                        }
                    }
                    Some(r) => {
                        warning!(
                            "net: {}: server refused {} (NAK{})",
                            self.iface.name,
                            offer.yiaddr,
                            r.message.map(|m| format!(": {m}")).unwrap_or_default()
                        );
                        break;
                    }
                    None => {}
                }
            }
        }
    }

    /// Keeps `lease` alive; returns after a NAK (address removed) or an expiry (address
    /// kept, see the module comment), true, or when stopped, false.
    fn maintain(&mut self, mut lease: Lease) -> bool {
        let mut shown = Phase::Bound;
        loop {
            if self.stop.stopped() {
                return false;
            }
            let now = Instant::now();
            let phase = lease.phase(now);
            if phase != shown {
                shown = phase;
                info!(
                    "net: {}: lease of {} {}",
                    self.iface.name,
                    lease.address,
                    phase.name()
                );
                self.set_state(phase.state());
            }
            match phase {
                Phase::Bound => {
                    // An infinite lease: nothing to do, ever; wake up hourly anyway.
                    let until = lease
                        .next_event(now)
                        .unwrap_or(now + Duration::from_secs(3600));
                    if !self.stop.sleep(until.saturating_duration_since(now)) {
                        return false;
                    }
                }
                Phase::Renewing | Phase::Rebinding => {
                    let sent = now;
                    let req = Request {
                        kind: MessageType::Request,
                        xid: random_u32(),
                        secs: 0,
                        mac: self.iface.mac,
                        ciaddr: lease.address,
                        broadcast: false,
                        requested_ip: None,
                        server_id: None,
                        hostname: self.hostname.clone(),
                    };
                    let (dest, from) = if phase == Phase::Renewing {
                        (lease.server, Some(lease.server))
                    } else {
                        (Ipv4Addr::BROADCAST, None)
                    };
                    let until = lease.next_event(now).unwrap_or(now);
                    let reply = self.exchange(
                        &req,
                        dest,
                        until,
                        &[MessageType::Ack, MessageType::Nak],
                        from,
                    );
                    match reply {
                        Some(r) if r.kind == Some(MessageType::Ack) => {
                            match Lease::from_ack(&r, sent) {
                                Ok(new) => {
                                    lease = new;
                                    self.apply(&lease, true);
                                    shown = Phase::Bound;
                                }
                                Err(e) => warning!("net: {}: unusable ACK: {e}", self.iface.name),
                            }
                        }
                        Some(r) => {
                            warning!(
                                "net: {}: server took back {} (NAK{}); starting over",
                                self.iface.name,
                                lease.address,
                                r.message.map(|m| format!(": {m}")).unwrap_or_default()
                            );
                            self.unconfigure();
                            return true;
                        }
                        None => {}
                    }
                }
                Phase::Expired => {
                    warning!(
                        "net: {}: lease of {} expired without an answer; keeping the address while looking for a server",
                        self.iface.name,
                        lease.address
                    );
                    return true;
                }
            }
        }
    }

    /// Sends `req` to `dest` and waits until `until` for a matching reply of one of `kinds`
    /// (and from `from`, when given). The request is sent once: callers retransmit. None
    /// also when stopped meanwhile.
    fn exchange(
        &self,
        req: &Request,
        dest: Ipv4Addr,
        until: Instant,
        kinds: &[MessageType],
        from: Option<Ipv4Addr>,
    ) -> Option<Reply> {
        let to = SocketAddrV4::new(dest, dhcp::SERVER_PORT);
        if let Err(e) = self.sock.send_to(&req.encode(), to) {
            warning!("net: {}: sending to {to}: {e}", self.iface.name);
            self.stop
                .sleep(until.saturating_duration_since(Instant::now()));
            return None;
        }
        let mut buf = [0u8; 1500];
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() || self.stop.stopped() {
                return None;
            }
            // set_read_timeout refuses zero, hence the floor.
            let _ = self
                .sock
                .set_read_timeout(Some(left.min(STOP_CHECK).max(Duration::from_millis(1))));
            let n = match self.sock.recv_from(&mut buf) {
                Ok((n, _)) => n,
                // A slice is over; the loop looks at the deadline and the stop flag.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) =>
                {
                    continue
                }
                Err(e) => {
                    warning!("net: {}: receiving: {e}", self.iface.name);
                    std::thread::sleep(Duration::from_millis(500));
                    continue;
                }
            };
            let Ok(r) = Reply::parse(&buf[..n]) else {
                continue;
            };
            let ours = r.xid == req.xid && r.chaddr == self.iface.mac;
            let kind_ok = r.kind.is_some_and(|k| kinds.contains(&k));
            let server_ok = from.is_none() || r.server_id.is_none() || r.server_id == from;
            if ours && kind_ok && server_ok {
                return Some(r);
            }
        }
    }

    /// Configures `lease` (address, default route) unless it is what is configured already;
    /// records it in the shared state either way.
    fn apply(&mut self, lease: &Lease, renewal: bool) {
        let name = self.iface.name.clone();
        let ifindex = self.iface.index;
        let old = self.current.take();
        let same_addr = old
            .as_ref()
            .is_some_and(|o| o.address == lease.address && o.prefix == lease.prefix);
        if let Some(o) = old.as_ref().filter(|_| !same_addr) {
            self.remove(o);
        }
        if let Err(e) = self.nl.add_address(ifindex, lease.address, lease.prefix) {
            warning!(
                "net: {name}: adding {}/{}: {e}",
                lease.address,
                lease.prefix
            );
        }
        let old_gw = old.as_ref().filter(|_| same_addr).and_then(|o| o.gateway);
        if old_gw.is_some() && old_gw != lease.gateway {
            if let Some(r) = old.as_ref().and_then(|o| self.default_route(o)) {
                let _ = self.nl.del_route(&r);
            }
        }
        if let Some(gw) = lease.gateway {
            if network_of(gw, lease.prefix) != network_of(lease.address, lease.prefix) {
                // A router outside the subnet (some hosting networks): reach it on-link.
                let on_link = Route {
                    ifindex,
                    dst: gw,
                    dst_len: 32,
                    gateway: None,
                    metric: self.iface.metric(),
                    protocol: RTPROT_DHCP,
                };
                if let Err(e) = self.nl.replace_route(&on_link) {
                    warning!("net: {name}: route to router {gw}: {e}");
                }
            }
            if let Some(r) = self.default_route(lease) {
                if let Err(e) = self.nl.replace_route(&r) {
                    warning!("net: {name}: default route via {gw}: {e}");
                }
            }
        }
        // Logged before the state says so: whoever waits for the address (init's main thread
        // before a job) logs after it, so the console reads in the order things happened.
        let changed = !same_addr || !renewal;
        let secs = |d: Duration| d.as_secs();
        let how_long = match lease.length {
            Some(l) => format!(
                "lease {} s, renew at {} s, rebind at {} s",
                secs(l),
                secs(lease.t1),
                secs(lease.t2)
            ),
            None => "infinite lease".into(),
        };
        let dns: Vec<String> = lease.dns.iter().map(|d| d.to_string()).collect();
        if changed {
            info!(
                "net: {name}: {}/{} gateway {} dns {} from {} ({how_long})",
                lease.address,
                lease.prefix,
                lease.gateway.map_or("none".into(), |g| g.to_string()),
                if dns.is_empty() {
                    "none".into()
                } else {
                    dns.join(",")
                },
                lease.server,
            );
        } else {
            info!("net: {name}: renewed {} ({how_long})", lease.address);
        }
        let expires = lease.expires().map(uptime_at);
        self.shared.update(&name, |i| {
            i.method = Method::Dhcp;
            i.state = IfState::Bound;
            i.address = Some((lease.address, lease.prefix));
            i.gateway = lease.gateway;
            i.dns = lease.dns.clone();
            i.search =
                lease
                    .domain
                    .iter()
                    .chain(lease.search.iter())
                    .fold(Vec::new(), |mut v, d| {
                        if !v.contains(d) {
                            v.push(d.clone());
                        }
                        v
                    });
            i.server = Some(lease.server);
            i.lease_secs = lease.length.map(|l| l.as_secs());
            i.lease_obtained = Some(uptime_at(lease.start));
            i.lease_expires = expires;
            if renewal {
                i.renewals += 1;
            }
            i.error = None;
        });
        self.current = Some(lease.clone());
    }

    fn default_route(&self, lease: &Lease) -> Option<Route> {
        lease.gateway.map(|gw| Route {
            ifindex: self.iface.index,
            dst: Ipv4Addr::UNSPECIFIED,
            dst_len: 0,
            gateway: Some(gw),
            metric: self.iface.metric(),
            protocol: RTPROT_DHCP,
        })
    }

    fn remove(&mut self, lease: &Lease) {
        if let Some(r) = self.default_route(lease) {
            let _ = self.nl.del_route(&r);
        }
        // Deleting the address takes its subnet route with it.
        if let Err(e) = self
            .nl
            .del_address(self.iface.index, lease.address, lease.prefix)
        {
            warning!(
                "net: {}: removing {}/{}: {e}",
                self.iface.name,
                lease.address,
                lease.prefix
            );
        }
        info!(
            "net: {}: removed {}/{}",
            self.iface.name, lease.address, lease.prefix
        );
    }

    fn unconfigure(&mut self) {
        if let Some(old) = self.current.take() {
            self.remove(&old);
        }
        self.shared.update(&self.iface.name, |i| {
            let renewals = i.renewals;
            i.clear_config();
            i.renewals = renewals;
        });
    }
}

fn setsockopt_int(fd: i32, opt: i32, val: i32) -> io::Result<()> {
    // SAFETY: valid fd; an int-sized option value.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            (&val as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// UDP 0.0.0.0:68 bound to one device. SO_BINDTODEVICE comes before bind(): two sockets on
/// port 68 then do not conflict as long as their devices differ (one per interface).
fn dhcp_socket(ifname: &str) -> io::Result<UdpSocket> {
    // SAFETY: plain socket(2), owned right away.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh fd owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let raw = fd.as_raw_fd();
    setsockopt_int(raw, libc::SO_REUSEADDR, 1)?;
    setsockopt_int(raw, libc::SO_BROADCAST, 1)?;
    // SAFETY: valid fd; the name buffer is valid for its length.
    let r = unsafe {
        libc::setsockopt(
            raw,
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            ifname.as_ptr().cast(),
            ifname.len() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: sockaddr_in is plain data; zero is a valid start.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_port = dhcp::CLIENT_PORT.to_be();
    sa.sin_addr = libc::in_addr { s_addr: 0 };
    // SAFETY: valid fd and a properly sized sockaddr_in.
    let r = unsafe {
        libc::bind(
            raw,
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(UdpSocket::from(fd))
}

/// Transaction ids and jitter: from the kernel's random pool; if that fails (it does not
/// on any kernel we boot), from the clock, which is still different per machine and call.
pub fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    // SAFETY: writes at most 4 bytes into a 4-byte buffer.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), 4, 0) };
    if n == 4 {
        return u32::from_ne_bytes(b);
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ d.as_secs() as u32)
        .unwrap_or(0);
    t ^ std::process::id().rotate_left(16)
}

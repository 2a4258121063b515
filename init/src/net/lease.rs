//! A lease and its timers (RFC 2131 §4.4.5), pure: every decision takes `now`, so the
//! renew/rebind/expiry schedule is tested without waiting.
//!
//! Times run from the moment the REQUEST that earned the ACK was sent, as the RFC asks (the
//! server started its clock no earlier). `Instant` is CLOCK_MONOTONIC, which wall-clock jumps
//! (an RTC fixed later, NTP) cannot disturb.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};
use wraith_live::state::IfState;

use super::dhcp::Reply;

/// Retransmissions while RENEWING/REBINDING: half the time left to the next deadline, but
/// never more often than this. (RFC 2131 says 60 s; with the short leases some networks and
/// our tests use, 60 s would skip straight past T2 or the expiry.)
pub const MIN_RETRY: Duration = Duration::from_secs(10);
/// ... and at least this often: with a day-long lease, halving would leave hours between
/// attempts, so a server back from an outage would wait that long for us to notice.
pub const MAX_RETRY: Duration = Duration::from_secs(60);
/// A lease without option 51 (servers must send it; some do not): assume an hour.
const DEFAULT_LEASE: u32 = 3600;
/// Option 51 = 0xffffffff means "infinite".
const INFINITE: u32 = u32::MAX;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub domain: Option<String>,
    pub search: Vec<String>,
    pub server: Ipv4Addr,
    pub mtu: Option<u16>,
    /// When the REQUEST was sent.
    pub start: Instant,
    /// None: infinite, never renewed.
    pub length: Option<Duration>,
    pub t1: Duration,
    pub t2: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Bound,
    Renewing,
    Rebinding,
    Expired,
}

impl Phase {
    /// The interface's state in net.json during this phase.
    pub fn state(self) -> IfState {
        match self {
            Phase::Bound => IfState::Bound,
            Phase::Renewing => IfState::Renewing,
            Phase::Rebinding => IfState::Rebinding,
            Phase::Expired => IfState::Expired,
        }
    }

    pub fn name(self) -> &'static str {
        self.state().as_str()
    }
}

impl Lease {
    /// A lease from an ACK; `None` if the ACK lacks what a client cannot do without.
    pub fn from_ack(ack: &Reply, start: Instant) -> Result<Lease, String> {
        if ack.yiaddr.is_unspecified() {
            return Err("ACK without an address (yiaddr 0.0.0.0)".into());
        }
        let server = ack
            .server_id
            .or(Some(ack.siaddr).filter(|s| !s.is_unspecified()))
            .ok_or("ACK without a server identifier")?;
        let secs = ack.lease_secs.unwrap_or(DEFAULT_LEASE);
        let (length, t1, t2) = if secs == INFINITE {
            (None, Duration::MAX, Duration::MAX)
        } else {
            let l = Duration::from_secs(secs.into());
            let def1 = l / 2;
            let def2 = l * 7 / 8;
            let t1 = ack.t1_secs.map_or(def1, |s| Duration::from_secs(s.into()));
            let t2 = ack.t2_secs.map_or(def2, |s| Duration::from_secs(s.into()));
            // Inconsistent timers from a server: fall back to the RFC defaults.
            if t1 < t2 && t2 < l {
                (Some(l), t1, t2)
            } else {
                (Some(l), def1, def2)
            }
        };
        // No mask: the classful default is a guess; /24 is what such servers nearly always mean.
        let prefix = ack
            .prefix_len()
            .filter(|p| (1..=32).contains(p))
            .unwrap_or(24);
        Ok(Lease {
            address: ack.yiaddr,
            prefix,
            gateway: ack.routers.first().copied().filter(|g| !g.is_unspecified()),
            dns: ack.dns.clone(),
            domain: ack.domain.clone(),
            search: ack.search.clone(),
            server,
            mtu: ack.mtu,
            start,
            length,
            t1,
            t2,
        })
    }

    fn at(&self, d: Duration) -> Option<Instant> {
        self.start.checked_add(d)
    }

    pub fn expires(&self) -> Option<Instant> {
        self.length.and_then(|l| self.at(l))
    }

    pub fn phase(&self, now: Instant) -> Phase {
        let past = |d: Duration| self.at(d).is_some_and(|t| now >= t);
        if self.length.is_some_and(past) {
            Phase::Expired
        } else if past(self.t2) {
            Phase::Rebinding
        } else if past(self.t1) {
            Phase::Renewing
        } else {
            Phase::Bound
        }
    }

    /// When to act next: at T1 while bound; while renewing or rebinding, the next
    /// retransmission (half the time left to T2 or the expiry, between [`MIN_RETRY`] and
    /// [`MAX_RETRY`], but never past that deadline, so the phase change happens on time). `None`: never (an
    /// infinite lease).
    pub fn next_event(&self, now: Instant) -> Option<Instant> {
        let deadline = match self.phase(now) {
            Phase::Bound => return self.at(self.t1),
            Phase::Renewing => self.at(self.t2)?,
            Phase::Rebinding => self.expires()?,
            Phase::Expired => return Some(now),
        };
        let left = deadline.saturating_duration_since(now);
        Some(now + (left / 2).clamp(MIN_RETRY, MAX_RETRY).min(left))
    }
}

/// Waits between DISCOVERs (RFC 2131 §4.1): 4, 8, 16, 32, then 64 s, each ±1 s (`jitter_ms`
/// in -1000..=1000) so that a room of machines powered on together spreads out.
pub fn discover_backoff(attempt: u32, jitter_ms: i64) -> Duration {
    let base = 4_000i64 << attempt.min(4);
    Duration::from_millis((base + jitter_ms.clamp(-1000, 1000)) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(lease: Option<u32>, t1: Option<u32>, t2: Option<u32>) -> Reply {
        Reply {
            yiaddr: Ipv4Addr::new(10, 0, 2, 15),
            server_id: Some(Ipv4Addr::new(10, 0, 2, 2)),
            subnet_mask: Some(Ipv4Addr::new(255, 255, 255, 0)),
            routers: vec![Ipv4Addr::new(10, 0, 2, 2)],
            lease_secs: lease,
            t1_secs: t1,
            t2_secs: t2,
            ..Reply::default()
        }
    }

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn default_timers_are_half_and_seven_eighths() {
        let t0 = Instant::now();
        let l = Lease::from_ack(&ack(Some(3600), None, None), t0).unwrap();
        assert_eq!((l.t1, l.t2, l.length), (s(1800), s(3150), Some(s(3600))));
        assert_eq!(l.prefix, 24);
        assert_eq!(l.gateway, Some(Ipv4Addr::new(10, 0, 2, 2)));
        assert_eq!(l.phase(t0), Phase::Bound);
        assert_eq!(l.phase(t0 + s(1799)), Phase::Bound);
        assert_eq!(l.phase(t0 + s(1800)), Phase::Renewing);
        assert_eq!(l.phase(t0 + s(3150)), Phase::Rebinding);
        assert_eq!(l.phase(t0 + s(3600)), Phase::Expired);
        assert_eq!(l.next_event(t0), Some(t0 + s(1800)));
    }

    #[test]
    fn server_timers_are_used_and_bad_ones_replaced() {
        let t0 = Instant::now();
        let l = Lease::from_ack(&ack(Some(120), Some(20), Some(40)), t0).unwrap();
        assert_eq!((l.t1, l.t2), (s(20), s(40)));
        // T1 after T2, T2 past the lease: RFC defaults.
        let l = Lease::from_ack(&ack(Some(120), Some(50), Some(40)), t0).unwrap();
        assert_eq!((l.t1, l.t2), (s(60), s(105)));
        let l = Lease::from_ack(&ack(Some(120), Some(20), Some(500)), t0).unwrap();
        assert_eq!((l.t1, l.t2), (s(60), s(105)));
        // Only T2 given, earlier than the default T1: T1 is still before T2.
        let l = Lease::from_ack(&ack(Some(120), None, Some(40)), t0).unwrap();
        assert!(l.t1 < l.t2, "{l:?}");
    }

    #[test]
    fn renewing_retries_halve_the_time_to_t2_and_land_exactly_on_it() {
        let t0 = Instant::now();
        let l = Lease::from_ack(&ack(Some(1000), None, None), t0).unwrap();
        // At T1 (500): T2 (875) is 375 s away → half is 187 s, capped at a minute.
        assert_eq!(l.next_event(t0 + s(500)), Some(t0 + s(560)));
        // 100 s before T2: 50 s; 16 s before: 10 s (the floor); 4 s before: T2 itself.
        assert_eq!(l.next_event(t0 + s(775)), Some(t0 + s(825)));
        assert_eq!(l.next_event(t0 + s(859)), Some(t0 + s(869)));
        assert_eq!(l.next_event(t0 + s(871)), Some(t0 + s(875)));
        let l = Lease::from_ack(&ack(Some(86400), None, None), t0).unwrap();
        let mut now = t0 + s(43200);
        let mut steps = 0;
        while l.phase(now) == Phase::Renewing {
            let next = l.next_event(now).unwrap();
            assert!(next > now);
            assert!(next <= t0 + s(75600), "past T2");
            now = next;
            steps += 1;
            assert!(steps < 1000, "retries never reach T2");
        }
        assert_eq!(now, t0 + s(75600), "the last retry is T2 itself");
        assert_eq!(l.phase(now), Phase::Rebinding);
        assert_eq!(l.next_event(now), Some(now + MAX_RETRY));
        // Rebinding retries end at the expiry.
        while l.phase(now) == Phase::Rebinding {
            now = l.next_event(now).unwrap();
        }
        assert_eq!(now, t0 + s(86400));
        assert_eq!(l.phase(now), Phase::Expired);
    }

    #[test]
    fn short_lease_retries_are_at_least_min_retry_apart() {
        let t0 = Instant::now();
        let l = Lease::from_ack(&ack(Some(120), Some(20), Some(40)), t0).unwrap();
        assert_eq!(l.next_event(t0 + s(20)), Some(t0 + s(30)));
        assert_eq!(l.next_event(t0 + s(35)), Some(t0 + s(40)));
        assert_eq!(l.next_event(t0 + s(40)), Some(t0 + s(80)));
        assert_eq!(l.next_event(t0 + s(115)), Some(t0 + s(120)));
    }

    #[test]
    fn infinite_lease_never_renews() {
        let t0 = Instant::now();
        let l = Lease::from_ack(&ack(Some(u32::MAX), None, None), t0).unwrap();
        assert_eq!(l.expires(), None);
        assert_eq!(l.phase(t0 + s(10_000_000)), Phase::Bound);
        assert_eq!(l.next_event(t0), None);
    }

    #[test]
    fn unusable_acks_are_refused() {
        let t0 = Instant::now();
        let mut a = ack(Some(60), None, None);
        a.yiaddr = Ipv4Addr::UNSPECIFIED;
        assert!(Lease::from_ack(&a, t0).is_err());
        let mut a = ack(Some(60), None, None);
        a.server_id = None;
        assert!(Lease::from_ack(&a, t0).is_err());
        a.siaddr = Ipv4Addr::new(10, 0, 2, 2);
        assert_eq!(Lease::from_ack(&a, t0).unwrap().server, a.siaddr);
    }

    #[test]
    fn discover_backoff_doubles_to_64_s() {
        let secs: Vec<u64> = (0..7).map(|a| discover_backoff(a, 0).as_secs()).collect();
        assert_eq!(secs, vec![4, 8, 16, 32, 64, 64, 64]);
        assert_eq!(discover_backoff(0, -5000), Duration::from_secs(3));
        assert_eq!(discover_backoff(0, 999), Duration::from_millis(4999));
    }
}

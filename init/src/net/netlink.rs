//! Addresses and routes through rtnetlink, with hand-built messages.
//!
//! Why not `rtnetlink`/`netlink-packet-route`: the former needs an async runtime in PID 1,
//! the latter a stack of crates for the four messages we send (new/delete address, new/delete
//! route). The netlink framing is a 16-byte header plus 4-byte-aligned attributes; each
//! request asks for an ACK so a refusal comes back as an errno we can log.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

// Kernel ABI constants (include/uapi/linux/{netlink,rtnetlink,if_addr}.h). Spelled out here
// because glibc's and musl's libc bindings do not export the same subset.
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_CREATE: u16 = 0x400;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RT_TABLE_MAIN: u8 = 254;
/// Routes we add are marked as DHCP's (or static's), like other clients do: `ip route`
/// shows `proto dhcp`.
pub const RTPROT_DHCP: u8 = 16;
pub const RTPROT_STATIC: u8 = 4;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_LINK: u8 = 253;
const RTN_UNICAST: u8 = 1;
const AF_INET: u8 = libc::AF_INET as u8;

pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

/// A route we manage: `dst/dst_len` via `gateway` (none: on-link) out of `ifindex`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub ifindex: u32,
    pub dst: Ipv4Addr,
    pub dst_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub metric: u32,
    pub protocol: u8,
}

impl Netlink {
    pub fn open() -> io::Result<Netlink> {
        // SAFETY: plain socket(2); the fd is owned right away.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is fresh and owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // A receive timeout: a lost ACK must not hang an interface's thread for ever.
        let tv = libc::timeval {
            tv_sec: 5,
            tv_usec: 0,
        };
        // SAFETY: valid fd, option value of the right type and size.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            );
        }
        Ok(Netlink { fd, seq: 1 })
    }

    /// Adds (or refreshes) `addr/prefix` on the interface, with the subnet's broadcast.
    pub fn add_address(&mut self, ifindex: u32, addr: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let body = ifaddrmsg(prefix, ifindex);
        let bcast = broadcast_of(addr, prefix);
        self.request(
            RTM_NEWADDR,
            NLM_F_CREATE | NLM_F_REPLACE,
            &body,
            &[
                (IFA_LOCAL, &addr.octets()),
                (IFA_ADDRESS, &addr.octets()),
                (IFA_BROADCAST, &bcast.octets()),
            ],
        )
    }

    pub fn del_address(&mut self, ifindex: u32, addr: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let body = ifaddrmsg(prefix, ifindex);
        self.request(
            RTM_DELADDR,
            0,
            &body,
            &[(IFA_LOCAL, &addr.octets()), (IFA_ADDRESS, &addr.octets())],
        )
    }

    pub fn replace_route(&mut self, r: &Route) -> io::Result<()> {
        self.route(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, r)
    }

    pub fn del_route(&mut self, r: &Route) -> io::Result<()> {
        self.route(RTM_DELROUTE, 0, r)
    }

    fn route(&mut self, kind: u16, flags: u16, r: &Route) -> io::Result<()> {
        let scope = if r.gateway.is_some() {
            RT_SCOPE_UNIVERSE
        } else {
            RT_SCOPE_LINK
        };
        let body = [
            AF_INET,
            r.dst_len,
            0, // src_len
            0, // tos
            RT_TABLE_MAIN,
            r.protocol,
            scope,
            RTN_UNICAST,
            0,
            0,
            0,
            0, // flags
        ];
        let oif = r.ifindex.to_ne_bytes();
        let metric = r.metric.to_ne_bytes();
        let dst = r.dst.octets();
        let gw = r.gateway.map(|g| g.octets());
        let mut attrs: Vec<(u16, &[u8])> = vec![(RTA_OIF, &oif), (RTA_PRIORITY, &metric)];
        if r.dst_len > 0 {
            attrs.push((RTA_DST, &dst));
        }
        if let Some(gw) = &gw {
            attrs.push((RTA_GATEWAY, gw));
        }
        self.request(kind, flags, &body, &attrs)
    }

    fn request(
        &mut self,
        kind: u16,
        flags: u16,
        body: &[u8],
        attrs: &[(u16, &[u8])],
    ) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let msg = encode(kind, NLM_F_REQUEST | NLM_F_ACK | flags, seq, body, attrs);
        // SAFETY: valid fd; the buffer is valid for its length. Destination: the kernel
        // (a zeroed sockaddr_nl), the default for an unconnected netlink socket via send.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u8; 8192];
        loop {
            // SAFETY: valid fd and buffer.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if let Some(result) = find_ack(&buf[..n as usize], seq) {
                return result;
            }
        }
    }
}

fn ifaddrmsg(prefix: u8, ifindex: u32) -> Vec<u8> {
    let mut body = vec![AF_INET, prefix, 0, RT_SCOPE_UNIVERSE];
    body.extend(ifindex.to_ne_bytes());
    body
}

/// The directed broadcast address of `addr/prefix` (a /31 or /32 has none: the address).
pub fn broadcast_of(addr: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    if prefix >= 31 {
        return addr;
    }
    Ipv4Addr::from(u32::from(addr) | (u32::MAX >> prefix))
}

pub use wraith_live::net::network_of;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn encode(kind: u16, flags: u16, seq: u32, body: &[u8], attrs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut m = vec![0u8; 16];
    m.extend(body);
    m.resize(align4(m.len()), 0);
    for (t, data) in attrs {
        let len = 4 + data.len();
        m.extend((len as u16).to_ne_bytes());
        m.extend(t.to_ne_bytes());
        m.extend(*data);
        m.resize(align4(m.len()), 0);
    }
    let total = m.len() as u32;
    m[0..4].copy_from_slice(&total.to_ne_bytes());
    m[4..6].copy_from_slice(&kind.to_ne_bytes());
    m[6..8].copy_from_slice(&flags.to_ne_bytes());
    m[8..12].copy_from_slice(&seq.to_ne_bytes());
    // nlmsg_pid 0: the kernel fills in our port id.
    m
}

/// The NLMSG_ERROR answering `seq` in a datagram: Ok for an ACK (error 0), the errno else.
pub fn find_ack(mut b: &[u8], seq: u32) -> Option<io::Result<()>> {
    while b.len() >= 16 {
        let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let kind = u16::from_ne_bytes([b[4], b[5]]);
        let mseq = u32::from_ne_bytes([b[8], b[9], b[10], b[11]]);
        if len < 16 || len > b.len() {
            return None;
        }
        if kind == NLMSG_ERROR && mseq == seq && len >= 20 {
            let err = i32::from_ne_bytes([b[16], b[17], b[18], b[19]]);
            // The kernel sends -errno; i32::MIN has no positive counterpart to negate to.
            return Some(match err.checked_neg() {
                Some(0) => Ok(()),
                Some(errno) => Err(io::Error::from_raw_os_error(errno)),
                None => Err(io::Error::other(format!(
                    "netlink answered with the impossible error code {err}"
                ))),
            });
        }
        b = &b[align4(len).min(b.len())..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_aligned_and_ack_is_found() {
        let m = encode(
            RTM_NEWADDR,
            NLM_F_REQUEST,
            9,
            &[1, 2, 3],
            &[(1, &[1, 2, 3, 4, 5])],
        );
        // header 16 + body padded to 20 + attr (4 + 5 → 12)
        assert_eq!(m.len(), 32);
        assert_eq!(u32::from_ne_bytes([m[0], m[1], m[2], m[3]]), 32);
        assert_eq!(u16::from_ne_bytes([m[20], m[21]]), 9);

        let mut ack = vec![0u8; 36];
        ack[0..4].copy_from_slice(&36u32.to_ne_bytes());
        ack[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        ack[8..12].copy_from_slice(&9u32.to_ne_bytes());
        assert!(matches!(find_ack(&ack, 9), Some(Ok(()))));
        assert!(find_ack(&ack, 8).is_none());
        ack[16..20].copy_from_slice(&(-libc::EEXIST).to_ne_bytes());
        let e = find_ack(&ack, 9).unwrap().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EEXIST));
        assert!(find_ack(&ack[..10], 9).is_none());
    }

    /// Found by the `netlink` fuzz target: an error code of i32::MIN overflowed the negation.
    #[test]
    fn an_error_code_that_cannot_be_negated_is_an_error_not_a_panic() {
        let mut ack = vec![0u8; 36];
        ack[0..4].copy_from_slice(&36u32.to_ne_bytes());
        ack[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        ack[8..12].copy_from_slice(&3u32.to_ne_bytes());
        ack[16..20].copy_from_slice(&i32::MIN.to_ne_bytes());
        let e = find_ack(&ack, 3).unwrap().unwrap_err();
        assert!(e.to_string().contains("impossible error code"), "{e}");
    }

    #[test]
    fn broadcast_and_network() {
        let a = Ipv4Addr::new(10, 0, 2, 15);
        assert_eq!(broadcast_of(a, 24), Ipv4Addr::new(10, 0, 2, 255));
        assert_eq!(broadcast_of(a, 32), a);
        assert_eq!(network_of(a, 24), Ipv4Addr::new(10, 0, 2, 0));
        assert_eq!(network_of(a, 0), Ipv4Addr::UNSPECIFIED);
        assert_eq!(network_of(a, 32), a);
    }
}

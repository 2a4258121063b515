//! DHCPv4 messages (RFC 2131 layout, RFC 2132 options) built and parsed by hand.
//!
//! Why not a crate: `dhcproto` would do, but it brings `url`, `idna`, `rand`, `thiserror` and
//! more into PID 1, which is meant to stay at nix + libc; a client needs only a few dozen
//! lines of fixed header plus type-length-value options. Parsing never trusts a length: every
//! read is bounds-checked and a malformed option list ends the parse instead of panicking.

use std::net::Ipv4Addr;

pub const SERVER_PORT: u16 = 67;
pub const CLIENT_PORT: u16 = 68;

const BOOTREQUEST: u8 = 1;
const BOOTREPLY: u8 = 2;
const HTYPE_ETHER: u8 = 1;
const MAGIC: [u8; 4] = [99, 130, 83, 99];
/// op..file: the fixed BOOTP part before the magic cookie.
const FIXED_LEN: usize = 236;
/// Some relays and old servers drop BOOTP packets shorter than this (RFC 1542 §2.1).
const MIN_LEN: usize = 300;
/// The BROADCAST bit of `flags`: ask servers to broadcast replies, because before we have an
/// address the kernel would drop a unicast to an address it does not own.
pub const FLAG_BROADCAST: u16 = 0x8000;

pub mod opt {
    pub const PAD: u8 = 0;
    pub const SUBNET_MASK: u8 = 1;
    pub const ROUTER: u8 = 3;
    pub const DNS: u8 = 6;
    pub const HOSTNAME: u8 = 12;
    pub const DOMAIN_NAME: u8 = 15;
    pub const MTU: u8 = 26;
    pub const BROADCAST: u8 = 28;
    pub const REQUESTED_IP: u8 = 50;
    pub const LEASE_TIME: u8 = 51;
    pub const OVERLOAD: u8 = 52;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const SERVER_ID: u8 = 54;
    pub const PARAM_REQUEST: u8 = 55;
    pub const MESSAGE: u8 = 56;
    pub const MAX_SIZE: u8 = 57;
    pub const T1: u8 = 58;
    pub const T2: u8 = 59;
    pub const VENDOR_CLASS: u8 = 60;
    pub const CLIENT_ID: u8 = 61;
    pub const DOMAIN_SEARCH: u8 = 119;
    pub const END: u8 = 255;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Discover = 1,
    Offer = 2,
    Request = 3,
    Decline = 4,
    Ack = 5,
    Nak = 6,
    Release = 7,
    Inform = 8,
}

impl MessageType {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Discover,
            2 => Self::Offer,
            3 => Self::Request,
            4 => Self::Decline,
            5 => Self::Ack,
            6 => Self::Nak,
            7 => Self::Release,
            8 => Self::Inform,
            _ => return None,
        })
    }
}

/// What the client puts into a DISCOVER or REQUEST.
#[derive(Debug, Clone)]
pub struct Request {
    pub kind: MessageType,
    pub xid: u32,
    /// Seconds since the client began this acquisition (some servers prefer older clients).
    pub secs: u16,
    pub mac: [u8; 6],
    /// Our current address: set in RENEWING and REBINDING (RFC 2131 table 5), else 0.
    pub ciaddr: Ipv4Addr,
    pub broadcast: bool,
    /// Option 50: in SELECTING and INIT-REBOOT.
    pub requested_ip: Option<Ipv4Addr>,
    /// Option 54: only in SELECTING (the REQUEST that answers an OFFER).
    pub server_id: Option<Ipv4Addr>,
    pub hostname: Option<String>,
}

/// The options we ask servers for (option 55).
const WANTED: &[u8] = &[
    opt::SUBNET_MASK,
    opt::ROUTER,
    opt::DNS,
    opt::HOSTNAME,
    opt::DOMAIN_NAME,
    opt::MTU,
    opt::BROADCAST,
    opt::LEASE_TIME,
    opt::T1,
    opt::T2,
    opt::DOMAIN_SEARCH,
];

impl Request {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(MIN_LEN);
        b.extend([BOOTREQUEST, HTYPE_ETHER, 6, 0]);
        b.extend(self.xid.to_be_bytes());
        b.extend(self.secs.to_be_bytes());
        let flags = if self.broadcast { FLAG_BROADCAST } else { 0 };
        b.extend(flags.to_be_bytes());
        b.extend(self.ciaddr.octets());
        b.extend([0u8; 12]); // yiaddr, siaddr, giaddr
        b.extend(self.mac);
        b.resize(FIXED_LEN, 0); // rest of chaddr, sname, file
        b.extend(MAGIC);
        put(&mut b, opt::MESSAGE_TYPE, &[self.kind as u8]);
        // Client identifier: hardware type + MAC, the form servers key leases on by default.
        let mut cid = vec![HTYPE_ETHER];
        cid.extend(self.mac);
        put(&mut b, opt::CLIENT_ID, &cid);
        if let Some(ip) = self.requested_ip {
            put(&mut b, opt::REQUESTED_IP, &ip.octets());
        }
        if let Some(ip) = self.server_id {
            put(&mut b, opt::SERVER_ID, &ip.octets());
        }
        // We accept full Ethernet frames: 1500 - IP - UDP headers.
        put(&mut b, opt::MAX_SIZE, &1472u16.to_be_bytes());
        if let Some(h) = self.hostname.as_deref().filter(|h| !h.is_empty()) {
            put(&mut b, opt::HOSTNAME, &h.as_bytes()[..h.len().min(255)]);
        }
        put(&mut b, opt::VENDOR_CLASS, b"wraith");
        put(&mut b, opt::PARAM_REQUEST, WANTED);
        b.push(opt::END);
        if b.len() < MIN_LEN {
            b.resize(MIN_LEN, opt::PAD);
        }
        b
    }
}

fn put(b: &mut Vec<u8>, code: u8, data: &[u8]) {
    // Longer values would need splitting (RFC 3396); nothing we send comes close.
    let data = &data[..data.len().min(255)];
    b.push(code);
    b.push(data.len() as u8);
    b.extend(data);
}

/// A server's reply, with the options a client acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub kind: Option<MessageType>,
    pub xid: u32,
    pub yiaddr: Ipv4Addr,
    pub siaddr: Ipv4Addr,
    pub chaddr: [u8; 6],
    pub server_id: Option<Ipv4Addr>,
    pub subnet_mask: Option<Ipv4Addr>,
    pub routers: Vec<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub domain: Option<String>,
    pub search: Vec<String>,
    pub hostname: Option<String>,
    pub broadcast: Option<Ipv4Addr>,
    pub mtu: Option<u16>,
    pub lease_secs: Option<u32>,
    pub t1_secs: Option<u32>,
    pub t2_secs: Option<u32>,
    /// Option 56: a NAK's reason, shown in the log.
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    TooShort(usize),
    NotAReply,
    NotEthernet,
    BadCookie,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::TooShort(n) => write!(f, "{n} bytes is too short for a DHCP message"),
            ParseError::NotAReply => f.write_str("not a BOOTREPLY"),
            ParseError::NotEthernet => f.write_str("not an Ethernet hardware address"),
            ParseError::BadCookie => f.write_str("no DHCP magic cookie"),
        }
    }
}

impl Default for Reply {
    fn default() -> Self {
        Reply {
            kind: None,
            xid: 0,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            chaddr: [0; 6],
            server_id: None,
            subnet_mask: None,
            routers: Vec::new(),
            dns: Vec::new(),
            domain: None,
            search: Vec::new(),
            hostname: None,
            broadcast: None,
            mtu: None,
            lease_secs: None,
            t1_secs: None,
            t2_secs: None,
            message: None,
        }
    }
}

fn ip_at(b: &[u8], at: usize) -> Ipv4Addr {
    match b.get(at..at + 4) {
        Some(s) => Ipv4Addr::new(s[0], s[1], s[2], s[3]),
        None => Ipv4Addr::UNSPECIFIED,
    }
}

impl Reply {
    pub fn parse(b: &[u8]) -> Result<Reply, ParseError> {
        if b.len() < FIXED_LEN + MAGIC.len() {
            return Err(ParseError::TooShort(b.len()));
        }
        if b[0] != BOOTREPLY {
            return Err(ParseError::NotAReply);
        }
        if b[1] != HTYPE_ETHER || b[2] != 6 {
            return Err(ParseError::NotEthernet);
        }
        if b[FIXED_LEN..FIXED_LEN + 4] != MAGIC {
            return Err(ParseError::BadCookie);
        }
        let mut r = Reply {
            xid: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            yiaddr: ip_at(b, 16),
            siaddr: ip_at(b, 20),
            ..Reply::default()
        };
        r.chaddr.copy_from_slice(&b[28..34]);

        // Collect options, concatenating repeated codes (RFC 3396); then the sname/file
        // fields when option 52 says they carry options too.
        let mut opts: Vec<(u8, Vec<u8>)> = Vec::new();
        read_options(&b[FIXED_LEN + 4..], &mut opts);
        let overload = find(&opts, opt::OVERLOAD).and_then(|v| v.first().copied());
        if matches!(overload, Some(1 | 3)) {
            read_options(&b[108..236], &mut opts); // file
        }
        if matches!(overload, Some(2 | 3)) {
            read_options(&b[44..108], &mut opts); // sname
        }

        let one_ip = |code| {
            find(&opts, code)
                .filter(|v| v.len() >= 4)
                .map(|v| ip_at(v, 0))
        };
        let ips = |code| {
            find(&opts, code)
                .map(|v| v.chunks_exact(4).map(|c| ip_at(c, 0)).collect())
                .unwrap_or_default()
        };
        let u32_of = |code| {
            find(&opts, code)
                .filter(|v| v.len() >= 4)
                .map(|v| u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
        };
        let text = |code| {
            find(&opts, code)
                .map(|v| printable(v))
                .filter(|s| !s.is_empty())
        };

        r.kind = find(&opts, opt::MESSAGE_TYPE)
            .and_then(|v| v.first().copied())
            .and_then(MessageType::from_u8);
        r.server_id = one_ip(opt::SERVER_ID);
        r.subnet_mask = one_ip(opt::SUBNET_MASK);
        r.routers = ips(opt::ROUTER);
        r.dns = ips(opt::DNS);
        r.broadcast = one_ip(opt::BROADCAST);
        r.domain = text(opt::DOMAIN_NAME).map(|d| d.trim_end_matches('.').to_string());
        r.hostname = text(opt::HOSTNAME);
        r.message = text(opt::MESSAGE);
        r.search = find(&opts, opt::DOMAIN_SEARCH)
            .map(|v| decode_search(v))
            .unwrap_or_default();
        r.mtu = find(&opts, opt::MTU)
            .filter(|v| v.len() >= 2)
            .map(|v| u16::from_be_bytes([v[0], v[1]]));
        r.lease_secs = u32_of(opt::LEASE_TIME);
        r.t1_secs = u32_of(opt::T1);
        r.t2_secs = u32_of(opt::T2);
        Ok(r)
    }

    /// The prefix length of the subnet mask; a mask with holes counts its leading ones.
    pub fn prefix_len(&self) -> Option<u8> {
        self.subnet_mask.map(|m| u32::from(m).leading_ones() as u8)
    }
}

fn find(opts: &[(u8, Vec<u8>)], code: u8) -> Option<&Vec<u8>> {
    opts.iter().find(|(c, _)| *c == code).map(|(_, v)| v)
}

fn read_options(mut b: &[u8], out: &mut Vec<(u8, Vec<u8>)>) {
    while let Some((&code, rest)) = b.split_first() {
        match code {
            opt::PAD => b = rest,
            opt::END => return,
            _ => {
                let Some((&len, rest)) = rest.split_first() else {
                    return;
                };
                let Some(data) = rest.get(..len as usize) else {
                    return; // truncated: keep what was complete
                };
                match out.iter_mut().find(|(c, _)| *c == code) {
                    Some((_, v)) => v.extend(data),
                    None => out.push((code, data.to_vec())),
                }
                b = &rest[len as usize..];
            }
        }
    }
}

/// Option text as a string, keeping only printable ASCII: it ends up in resolv.conf and logs.
fn printable(v: &[u8]) -> String {
    v.iter()
        .take_while(|&&c| c != 0)
        .filter(|c| c.is_ascii_graphic() || **c == b' ')
        .map(|&c| c as char)
        .collect::<String>()
        .trim()
        .to_string()
}

/// The longest domain name in text form (RFC 1035 §2.3.4: 255 bytes on the wire).
const MAX_NAME: usize = 253;

/// Option 119 (RFC 3397): DNS wire-format names, with compression pointers into the option
/// data itself. Loops are cut off by a jump budget, and a name longer than DNS allows ends
/// the list: otherwise 32 jumps over the whole option per name would let a 1 KiB option
/// spell megabytes of "domains" into PID 1's memory and resolv.conf.
pub fn decode_search(data: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let mut labels: Vec<String> = Vec::new();
        let mut at = pos;
        let mut next_name: Option<usize> = None;
        let mut jumps = 0;
        loop {
            let Some(&len) = data.get(at) else {
                return names;
            };
            if len == 0 {
                at += 1;
                break;
            }
            if len & 0xC0 == 0xC0 {
                let Some(&lo) = data.get(at + 1) else {
                    return names;
                };
                if next_name.is_none() {
                    next_name = Some(at + 2);
                }
                jumps += 1;
                if jumps > 32 {
                    return names;
                }
                at = (((len & 0x3F) as usize) << 8) | lo as usize;
                continue;
            }
            let Some(label) = data.get(at + 1..at + 1 + len as usize) else {
                return names;
            };
            labels.push(printable(label));
            if labels.iter().map(|l| l.len() + 1).sum::<usize>() > MAX_NAME + 1 {
                return names;
            }
            at += 1 + len as usize;
        }
        pos = next_name.unwrap_or(at);
        if !labels.is_empty() {
            names.push(labels.join("."));
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

    /// A reply as a server would send it, built independently of `Request::encode`.
    fn reply(kind: u8, options: &[(u8, &[u8])]) -> Vec<u8> {
        let mut b = vec![0u8; FIXED_LEN];
        b[0] = BOOTREPLY;
        b[1] = 1;
        b[2] = 6;
        b[4..8].copy_from_slice(&0xdead_beef_u32.to_be_bytes());
        b[16..20].copy_from_slice(&[10, 0, 2, 15]);
        b[20..24].copy_from_slice(&[10, 0, 2, 2]);
        b[28..34].copy_from_slice(&MAC);
        b.extend(MAGIC);
        b.extend([53, 1, kind]);
        for (code, data) in options {
            b.push(*code);
            b.push(data.len() as u8);
            b.extend(*data);
        }
        b.push(255);
        b
    }

    #[test]
    fn discover_has_the_rfc_layout_and_options() {
        let m = Request {
            kind: MessageType::Discover,
            xid: 0x0102_0304,
            secs: 3,
            mac: MAC,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            broadcast: true,
            requested_ip: None,
            server_id: None,
            hostname: Some("wraith".into()),
        }
        .encode();
        assert_eq!(m.len(), MIN_LEN);
        assert_eq!(&m[0..4], &[1, 1, 6, 0]);
        assert_eq!(&m[4..8], &[1, 2, 3, 4]);
        assert_eq!(&m[8..10], &[0, 3]);
        assert_eq!(&m[10..12], &[0x80, 0]);
        assert_eq!(&m[28..34], &MAC);
        assert_eq!(&m[236..240], &MAGIC);
        let mut opts = Vec::new();
        read_options(&m[240..], &mut opts);
        assert_eq!(find(&opts, 53), Some(&vec![1]));
        assert_eq!(
            find(&opts, 61),
            Some(&vec![1, 0x52, 0x54, 0, 0x12, 0x34, 0x56])
        );
        assert_eq!(find(&opts, 12), Some(&b"wraith".to_vec()));
        assert!(find(&opts, 50).is_none() && find(&opts, 54).is_none());
        let prl = find(&opts, 55).unwrap();
        for code in [1, 3, 6, 15, 51, 58, 59, 119] {
            assert!(prl.contains(&code), "{code} not requested");
        }
    }

    #[test]
    fn selecting_request_names_server_and_address_renewing_uses_ciaddr() {
        let base = Request {
            kind: MessageType::Request,
            xid: 7,
            secs: 0,
            mac: MAC,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            broadcast: true,
            requested_ip: Some(Ipv4Addr::new(10, 0, 2, 15)),
            server_id: Some(Ipv4Addr::new(10, 0, 2, 2)),
            hostname: None,
        };
        let m = base.encode();
        let mut opts = Vec::new();
        read_options(&m[240..], &mut opts);
        assert_eq!(find(&opts, 53), Some(&vec![3]));
        assert_eq!(find(&opts, 50), Some(&vec![10, 0, 2, 15]));
        assert_eq!(find(&opts, 54), Some(&vec![10, 0, 2, 2]));
        assert!(find(&opts, 12).is_none());

        let renew = Request {
            ciaddr: Ipv4Addr::new(10, 0, 2, 15),
            broadcast: false,
            requested_ip: None,
            server_id: None,
            ..base
        }
        .encode();
        assert_eq!(&renew[12..16], &[10, 0, 2, 15]);
        assert_eq!(&renew[10..12], &[0, 0]);
        let mut opts = Vec::new();
        read_options(&renew[240..], &mut opts);
        assert!(find(&opts, 50).is_none() && find(&opts, 54).is_none());
    }

    #[test]
    fn ack_options_are_all_read() {
        let search = [
            3, b'l', b'a', b'b', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e',
            0, // lab.example
            2, b'q', b'a', 0xC0, 4, // qa + pointer to "example"
        ];
        let m = reply(
            5,
            &[
                (1, &[255, 255, 255, 0]),
                (3, &[10, 0, 2, 2, 10, 0, 2, 1]),
                (6, &[10, 0, 2, 3, 9, 9, 9, 9]),
                (15, b"corp.example."),
                (26, &[5, 220]),
                (51, &[0, 1, 81, 128]),
                (54, &[10, 0, 2, 2]),
                (58, &[0, 0, 0, 30]),
                (59, &[0, 0, 0, 60]),
                (119, &search),
            ],
        );
        let r = Reply::parse(&m).unwrap();
        assert_eq!(r.kind, Some(MessageType::Ack));
        assert_eq!(r.xid, 0xdead_beef);
        assert_eq!(r.chaddr, MAC);
        assert_eq!(r.yiaddr, Ipv4Addr::new(10, 0, 2, 15));
        assert_eq!(r.prefix_len(), Some(24));
        assert_eq!(
            r.routers,
            vec![Ipv4Addr::new(10, 0, 2, 2), Ipv4Addr::new(10, 0, 2, 1)]
        );
        assert_eq!(
            r.dns,
            vec![Ipv4Addr::new(10, 0, 2, 3), Ipv4Addr::new(9, 9, 9, 9)]
        );
        assert_eq!(r.domain.as_deref(), Some("corp.example"));
        assert_eq!(r.mtu, Some(1500));
        assert_eq!(r.lease_secs, Some(86400));
        assert_eq!((r.t1_secs, r.t2_secs), (Some(30), Some(60)));
        assert_eq!(r.server_id, Some(Ipv4Addr::new(10, 0, 2, 2)));
        assert_eq!(r.search, vec!["lab.example", "qa.example"]);
    }

    #[test]
    fn split_options_are_concatenated_and_overload_fields_are_read() {
        let mut m = reply(2, &[(6, &[1, 1, 1, 1]), (6, &[8, 8, 8, 8]), (52, &[1])]);
        // Option 52 = 1: more options in the `file` field.
        m[108..115].copy_from_slice(&[51, 4, 0, 0, 0, 120, 255]);
        let r = Reply::parse(&m).unwrap();
        assert_eq!(r.kind, Some(MessageType::Offer));
        assert_eq!(
            r.dns,
            vec![Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(8, 8, 8, 8)]
        );
        assert_eq!(r.lease_secs, Some(120));
    }

    #[test]
    fn malformed_messages_are_errors_or_partial_never_panics() {
        assert_eq!(Reply::parse(&[2; 100]), Err(ParseError::TooShort(100)));
        let mut m = reply(5, &[]);
        m[0] = 1;
        assert_eq!(Reply::parse(&m), Err(ParseError::NotAReply));
        let mut m = reply(5, &[]);
        m[237] = 0;
        assert_eq!(Reply::parse(&m), Err(ParseError::BadCookie));
        // An option whose length runs past the end: earlier options survive.
        let mut m = reply(6, &[(56, b"no such lease")]);
        m.pop();
        m.extend([51, 200, 1, 2]);
        let r = Reply::parse(&m).unwrap();
        assert_eq!(r.kind, Some(MessageType::Nak));
        assert_eq!(r.message.as_deref(), Some("no such lease"));
        assert_eq!(r.lease_secs, None);
        // Every truncation of a full ACK parses or fails cleanly.
        let full = reply(
            5,
            &[
                (1, &[255, 255, 0, 0]),
                (119, &[3, b'a', b'b', b'c', 0xC0, 0]),
            ],
        );
        for n in 0..full.len() {
            let _ = Reply::parse(&full[..n]);
        }
    }

    #[test]
    fn search_list_pointer_loops_end() {
        assert_eq!(decode_search(&[0xC0, 0]), Vec::<String>::new());
        assert_eq!(decode_search(&[1, b'a', 0xC0, 0]), Vec::<String>::new());
        assert_eq!(decode_search(&[1, b'a', 0, 0xC0, 0]), vec!["a", "a"]);
    }

    #[test]
    fn search_names_longer_than_dns_allows_end_the_list() {
        // Four 63-byte labels: 255 characters, more than a domain name can have.
        let mut long = Vec::new();
        for _ in 0..4 {
            long.push(63);
            long.extend([b'x'; 63]);
        }
        long.push(0);
        assert_eq!(decode_search(&long), Vec::<String>::new());
        // Three are fine (191 characters); then pointers back to it, each a copy: every name
        // stays within DNS's limit, so the list is linear in the option's size.
        let mut ok: Vec<u8> = long[..3 * 64].to_vec();
        ok.push(0);
        for _ in 0..100 {
            ok.extend([0xC0, 0]);
        }
        let names = decode_search(&ok);
        assert_eq!(names.len(), 101);
        assert!(names.iter().all(|n| n.len() == 191), "{:?}", names[0].len());
    }
}

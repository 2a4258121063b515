//! The `wraith.net=` grammar, parsed into a [`NetMode`]: one definition for the kernel
//! command line (read by wraith-init), a job file's `net` key (read by the engine) and the
//! terminal UI's network form, so the three never disagree on what a spelling means. Pure
//! (init links it statically; the job parser that uses it is fuzzed), so every spelling is
//! pinned by a test.
//!
//! ```text
//! wraith.net=dhcp                 DHCP on every Ethernet NIC with a link (the default)
//! wraith.net=dhcp,if=eth1         DHCP on eth1 only
//! wraith.net=off                  only lo
//! wraith.net=static:192.168.1.50/24,gw=192.168.1.1,dns=192.168.1.1,dns=9.9.9.9,search=lab.example,if=eth0
//! ```
//! A static configuration without `if=` goes to the first NIC (by name) that has a link.
//! Nothing here configures anything: that is init's job.

use std::fmt;
use std::net::Ipv4Addr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetMode {
    Dhcp { iface: Option<String> },
    Off,
    Static(StaticConfig),
}

impl Default for NetMode {
    fn default() -> Self {
        NetMode::Dhcp { iface: None }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticConfig {
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub search: Vec<String>,
    pub iface: Option<String>,
}

impl NetMode {
    pub fn parse(value: &str) -> Result<NetMode, String> {
        parse(value)
    }
}

impl fmt::Display for NetMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetMode::Off => f.write_str("off"),
            NetMode::Dhcp { iface: None } => f.write_str("dhcp"),
            NetMode::Dhcp { iface: Some(i) } => write!(f, "dhcp,if={i}"),
            NetMode::Static(s) => {
                write!(f, "static:{}/{}", s.address, s.prefix)?;
                if let Some(g) = s.gateway {
                    write!(f, ",gw={g}")?;
                }
                for d in &s.dns {
                    write!(f, ",dns={d}")?;
                }
                for d in &s.search {
                    write!(f, ",search={d}")?;
                }
                if let Some(i) = &s.iface {
                    write!(f, ",if={i}")?;
                }
                Ok(())
            }
        }
    }
}

/// Parses a `wraith.net=` value; the error names the offending part.
pub fn parse(value: &str) -> Result<NetMode, String> {
    let value = value.trim();
    let (head, rest) = match value.split_once(',') {
        Some((h, r)) => (h, Some(r)),
        None => (value, None),
    };
    let fields: Vec<(&str, &str)> = match rest {
        None => Vec::new(),
        Some(r) => r
            .split(',')
            .filter(|f| !f.is_empty())
            .map(|f| f.split_once('=').ok_or(format!("`{f}` is not key=value")))
            .collect::<Result<_, _>>()?,
    };
    match head {
        "" | "dhcp" => {
            let mut iface = None;
            for (k, v) in fields {
                match k {
                    "if" => iface = Some(ifname(v)?),
                    _ => return Err(format!("`{k}=` is not an option of dhcp (only if=)")),
                }
            }
            Ok(NetMode::Dhcp { iface })
        }
        "off" | "none" => match fields.first() {
            None => Ok(NetMode::Off),
            Some((k, _)) => Err(format!("`{k}=` makes no sense with off")),
        },
        _ => {
            let Some(addr) = head.strip_prefix("static:") else {
                return Err(format!(
                    "`{head}` is not dhcp, off or static:ADDRESS/PREFIX"
                ));
            };
            let (a, p) = addr
                .split_once('/')
                .ok_or(format!("static address `{addr}` needs a /PREFIX, e.g. /24"))?;
            let address: Ipv4Addr = a
                .parse()
                .map_err(|_| format!("`{a}` is not an IPv4 address"))?;
            let prefix: u8 = p
                .parse()
                .ok()
                .filter(|p| (1..=32).contains(p))
                .ok_or(format!("prefix `/{p}` is not 1 to 32"))?;
            let mut s = StaticConfig {
                address,
                prefix,
                gateway: None,
                dns: Vec::new(),
                search: Vec::new(),
                iface: None,
            };
            for (k, v) in fields {
                let ip = || -> Result<Ipv4Addr, String> {
                    v.parse()
                        .map_err(|_| format!("{k}=`{v}` is not an IPv4 address"))
                };
                match k {
                    "gw" | "gateway" => s.gateway = Some(ip()?),
                    "dns" => s.dns.push(ip()?),
                    "search" | "domain" => s.search.push(domain(v)?),
                    "if" => s.iface = Some(ifname(v)?),
                    _ => return Err(format!("`{k}=` is not gw, dns, search or if")),
                }
            }
            s.check()?;
            Ok(NetMode::Static(s))
        }
    }
}

impl StaticConfig {
    /// What the grammar lets through but the network would not take, caught while the
    /// technician can still fix it (the kernel would answer a gateway outside the subnet
    /// with a bare "Network is unreachable" when init adds the route).
    pub fn check(&self) -> Result<(), String> {
        let a = self.address;
        if a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.is_loopback() {
            return Err(format!("{a} cannot be this machine's address"));
        }
        let net = network_of(a, self.prefix);
        // /31 and /32 have no network and broadcast addresses (RFC 3021).
        if self.prefix <= 30 {
            let broadcast = Ipv4Addr::from(u32::from(net) | !mask(self.prefix));
            if a == net {
                return Err(format!(
                    "{a}/{} is the network's own address, not a machine's; use e.g. {}",
                    self.prefix,
                    Ipv4Addr::from(u32::from(net) + 1)
                ));
            }
            if a == broadcast {
                return Err(format!(
                    "{a}/{} is the network's broadcast address, not a machine's",
                    self.prefix
                ));
            }
        }
        if let Some(g) = self.gateway {
            if g == a {
                return Err(format!("the gateway {g} is this machine's own address"));
            }
            if network_of(g, self.prefix) != net {
                return Err(format!(
                    "the gateway {g} is outside {net}/{}, the subnet of {a}; check the prefix",
                    self.prefix
                ));
            }
        }
        Ok(())
    }
}

fn mask(prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p => u32::MAX << (32 - u32::from(p.min(32))),
    }
}

/// The first address of the subnet `a/prefix`.
pub fn network_of(a: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(a) & mask(prefix))
}

/// Interface names are at most 15 bytes (IFNAMSIZ - 1) and cannot contain '/', ':' or
/// whitespace (the kernel's `dev_valid_name`); control characters and our own separators
/// (',' '=') are refused too, so every name survives being written back into this grammar.
fn ifname(v: &str) -> Result<String, String> {
    let bad = |c: char| c.is_whitespace() || c.is_control() || "/:,=".contains(c);
    if v.is_empty() || v.len() > 15 || v.contains(bad) {
        return Err(format!("`{}` is not an interface name", v.escape_debug()));
    }
    Ok(v.to_string())
}

/// A search domain goes into resolv.conf as a whitespace-separated word: letters, digits,
/// '-', '_' and '.', at most 253 characters (a DNS name), so no value can add a line there.
fn domain(v: &str) -> Result<String, String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    if v.is_empty() || v.len() > 253 || !v.chars().all(ok) {
        return Err(format!(
            "search=`{}` is not a domain name",
            v.escape_debug()
        ));
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dhcp_is_the_default_and_can_be_limited_to_one_interface() {
        assert_eq!(parse("dhcp"), Ok(NetMode::Dhcp { iface: None }));
        assert_eq!(parse(""), Ok(NetMode::Dhcp { iface: None }));
        assert_eq!(
            parse("dhcp,if=eth1"),
            Ok(NetMode::Dhcp {
                iface: Some("eth1".into())
            })
        );
        assert_eq!(parse("off"), Ok(NetMode::Off));
    }

    #[test]
    fn static_with_everything() {
        let m = parse(
            "static:192.168.1.50/24,gw=192.168.1.1,dns=192.168.1.1,dns=9.9.9.9,search=lab.example,if=eth0",
        )
        .unwrap();
        assert_eq!(
            m,
            NetMode::Static(StaticConfig {
                address: Ipv4Addr::new(192, 168, 1, 50),
                prefix: 24,
                gateway: Some(Ipv4Addr::new(192, 168, 1, 1)),
                dns: vec![Ipv4Addr::new(192, 168, 1, 1), Ipv4Addr::new(9, 9, 9, 9)],
                search: vec!["lab.example".into()],
                iface: Some("eth0".into()),
            })
        );
        // Display gives back a value that parses to the same thing.
        assert_eq!(parse(&m.to_string()), Ok(m));
        assert!(matches!(parse("static:10.0.0.2/8"), Ok(NetMode::Static(_))));
        // Point-to-point subnets have no network or broadcast address to refuse.
        assert!(parse("static:10.0.0.0/31,gw=10.0.0.1").is_ok());
        assert!(parse("static:10.9.9.9/32").is_ok());
    }

    /// Found by the `live` fuzz target: a trailing newline in `if=` was accepted, then lost
    /// when the value was written back and read again (the grammar trims the value).
    #[test]
    fn every_accepted_value_reads_back_the_same_after_display() {
        for v in [
            "dhcp,if=eth0",
            "static:10.1.2.3/16,gw=10.1.0.1,dns=10.1.0.2,search=a-b.example,search=c_d,if=enp0s3",
            "off",
        ] {
            let m = parse(v).unwrap();
            assert_eq!(parse(&m.to_string()), Ok(m), "{v}");
        }
        assert!(parse("static:192.168.1.50/24,if=ch=l68.1l\u{e}\n").is_err());
    }

    #[test]
    fn mistakes_are_named() {
        for (bad, says) in [
            ("eth0:dhcp", "eth0:dhcp"),
            ("static:10.0.0.5", "/PREFIX"),
            ("static:10.0.0.500/24", "10.0.0.500"),
            ("static:10.0.0.5/33", "/33"),
            ("static:10.0.0.5/24,gw=router", "router"),
            ("static:10.0.0.5/24,mask=255.0.0.0", "mask="),
            ("static:10.0.0.5/24,gw", "`gw`"),
            ("dhcp,gw=10.0.0.1", "gw="),
            ("dhcp,if=averyveryverylongname", "averyvery"),
            ("off,if=eth0", "if="),
            ("static:192.168.1.0/24", "network's own address"),
            ("static:192.168.1.255/24", "broadcast"),
            ("static:0.0.0.0/8", "cannot be"),
            (
                "static:192.168.1.5/24,gw=192.168.2.1",
                "outside 192.168.1.0/24",
            ),
            ("static:192.168.1.5/24,gw=192.168.1.5", "own address"),
            ("dhcp,if=eth\t0", "eth\\t0"),
            ("dhcp,if=a=b", "a=b"),
            ("static:10.0.0.5/24,search=", "search=``"),
            (
                "static:10.0.0.5/24,search=lab\nnameserver 6.6.6.6",
                "is not a domain",
            ),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}

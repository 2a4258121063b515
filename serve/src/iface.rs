//! Which network interface and IPv4 address the room reaches this server at: the one named,
//! the one holding the address to listen on, or else the first wired NIC with an address.
//! "Wired" is read from sysfs: not the loopback, not wireless (a room is imaged over cable,
//! and Wi-Fi bridges drop PXE and multicast), not enslaved to a bridge (its address, if any,
//! is on the bridge), and a real device before a virtual one (docker0, veth).

use std::net::Ipv4Addr;
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Iface {
    pub name: String,
    pub addr: Ipv4Addr,
    pub prefix: u8,
    /// Why this one was chosen, for the start-up lines.
    pub why: String,
}

impl Iface {
    /// The subnet's broadcast address (magic packets go there).
    pub fn broadcast(&self) -> Ipv4Addr {
        let mask = if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        };
        Ipv4Addr::from(u32::from(self.addr) | !mask)
    }

    /// The subnet's first address.
    pub fn network(&self) -> Ipv4Addr {
        let mask = if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        };
        Ipv4Addr::from(u32::from(self.addr) & mask)
    }
}

/// Every interface with an IPv4 address: (name, address, prefix length), in kernel order.
pub fn addresses() -> Result<Vec<(String, Ipv4Addr, u8)>, String> {
    let list =
        nix::ifaddrs::getifaddrs().map_err(|e| format!("listing network interfaces: {e}"))?;
    let mut out = Vec::new();
    for a in list {
        let Some(addr) = a.address.as_ref().and_then(|s| s.as_sockaddr_in()) else {
            continue;
        };
        let prefix = a
            .netmask
            .as_ref()
            .and_then(|s| s.as_sockaddr_in())
            .map(|m| u32::from(m.ip()).count_ones() as u8)
            .unwrap_or(32);
        out.push((a.interface_name.clone(), addr.ip(), prefix));
    }
    Ok(out)
}

fn sys(name: &str, what: &str) -> bool {
    Path::new("/sys/class/net").join(name).join(what).exists()
}

/// The interface to serve on. `name`: `--interface`; `listen`: the address of `--listen` when
/// it is a specific one.
pub fn choose(name: Option<&str>, listen: Option<Ipv4Addr>) -> Result<Iface, String> {
    let all = addresses()?;
    let shown = || {
        if all.is_empty() {
            "none has an IPv4 address".to_string()
        } else {
            all.iter()
                .map(|(n, a, p)| format!("{n} {a}/{p}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    if let Some(n) = name {
        let (_, addr, prefix) = all
            .iter()
            .find(|(i, a, _)| i == n && listen.is_none_or(|l| l == *a))
            .ok_or_else(|| {
                format!(
                    "interface {n} has no IPv4 address{} (interfaces: {})",
                    listen.map(|l| format!(" {l}")).unwrap_or_default(),
                    shown()
                )
            })?;
        return Ok(Iface {
            name: n.to_string(),
            addr: *addr,
            prefix: *prefix,
            why: "named by --interface".into(),
        });
    }
    if let Some(l) = listen {
        let (n, addr, prefix) = all.iter().find(|(_, a, _)| *a == l).ok_or_else(|| {
            format!(
                "no interface has the address {l} to listen on (interfaces: {})",
                shown()
            )
        })?;
        return Ok(Iface {
            name: n.clone(),
            addr: *addr,
            prefix: *prefix,
            why: format!("holds {l}, given by --listen"),
        });
    }
    // Real wired NICs first, then bridges (a host's LAN is often one), then anything else
    // that is not the loopback, wireless or a bridge's port.
    let rank = |n: &str| -> Option<u8> {
        if n == "lo" || sys(n, "wireless") || sys(n, "phy80211") || sys(n, "master") {
            None
        } else if sys(n, "device") {
            Some(0)
        } else if sys(n, "bridge") {
            Some(1)
        } else {
            Some(2)
        }
    };
    let best = all
        .iter()
        .filter(|(_, a, _)| !a.is_loopback() && !a.is_link_local())
        .filter_map(|(n, a, p)| rank(n).map(|r| (r, n, a, p)))
        .min_by_key(|(r, ..)| *r);
    match best {
        Some((r, n, a, p)) => Ok(Iface {
            name: n.clone(),
            addr: *a,
            prefix: *p,
            why: match r {
                0 => "the first wired network card with an IPv4 address".into(),
                1 => "no wired card has an address; this bridge has one".into(),
                _ => {
                    "no wired card nor bridge has an address; this virtual interface has one".into()
                }
            },
        }),
        None => Err(format!(
            "no wired network interface has an IPv4 address (interfaces: {}); connect the \
             cable, or give --interface or --listen ADDR:PORT",
            shown()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_and_network_follow_the_prefix() {
        let i = Iface {
            name: "eth0".into(),
            addr: "192.168.10.37".parse().unwrap(),
            prefix: 24,
            why: String::new(),
        };
        assert_eq!(i.broadcast(), "192.168.10.255".parse::<Ipv4Addr>().unwrap());
        assert_eq!(i.network(), "192.168.10.0".parse::<Ipv4Addr>().unwrap());
    }
}

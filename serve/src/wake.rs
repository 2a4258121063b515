//! Wake-on-LAN: the magic packet (six 0xFF bytes, then the MAC sixteen times) sent by UDP to
//! the broadcast address of the room's subnet, on port 9 (discard) and 7 (echo), where NICs
//! with WoL armed look for it whatever the port. Sent a few times, some way apart: a switch
//! port coming up as the first machines power on may drop the first ones.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::Duration;

/// The ports magic packets go to.
pub const PORTS: [u16; 2] = [9, 7];
/// How many rounds, and the pause between them.
pub const ROUNDS: u32 = 3;
pub const PAUSE: Duration = Duration::from_millis(300);

/// A MAC address from text (any of the usual forms).
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let canon = crate::jobs::normalise_mac(s.trim())?;
    let mut out = [0u8; 6];
    for (i, part) in canon.split(':').enumerate() {
        out[i] = u8::from_str_radix(part, 16).ok()?;
    }
    Some(out)
}

/// The MACs of a `--wake-from` file: one per line, anything after the MAC (a name) and lines
/// starting with '#' ignored.
pub fn parse_list(text: &str) -> Result<Vec<[u8; 6]>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let word = line.split([' ', '\t', ',', ';']).next().unwrap_or("");
        out.push(
            parse_mac(word)
                .ok_or_else(|| format!("line {}: {word:?} is not a MAC address", n + 1))?,
        );
    }
    Ok(out)
}

pub fn packet(mac: &[u8; 6]) -> [u8; 102] {
    let mut p = [0xFFu8; 102];
    for i in 0..16 {
        p[6 + i * 6..12 + i * 6].copy_from_slice(mac);
    }
    p
}

/// Sends every MAC's packet to `to` on `ports`, `rounds` times, from `from` (the room
/// interface's address, so the packet leaves through it).
pub fn send(
    macs: &[[u8; 6]],
    from: Ipv4Addr,
    to: Ipv4Addr,
    ports: &[u16],
    rounds: u32,
) -> Result<u64, String> {
    let sock = UdpSocket::bind(SocketAddrV4::new(from, 0))
        .map_err(|e| format!("wake-on-LAN: cannot open a UDP socket on {from}: {e}"))?;
    sock.set_broadcast(true)
        .map_err(|e| format!("wake-on-LAN: cannot send broadcasts: {e}"))?;
    let mut sent = 0;
    for round in 0..rounds {
        if round > 0 {
            std::thread::sleep(PAUSE);
        }
        for mac in macs {
            let p = packet(mac);
            for &port in ports {
                sock.send_to(&p, SocketAddrV4::new(to, port))
                    .map_err(|e| format!("wake-on-LAN: sending to {to}:{port}: {e}"))?;
                sent += 1;
            }
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_magic_packet_is_six_ff_then_sixteen_macs() {
        let mac = parse_mac("52-54-00-AB-CD-EF").unwrap();
        let p = packet(&mac);
        assert_eq!(&p[..6], &[0xFF; 6]);
        for i in 0..16 {
            assert_eq!(
                &p[6 + i * 6..12 + i * 6],
                &[0x52, 0x54, 0x00, 0xab, 0xcd, 0xef]
            );
        }
        assert_eq!(
            parse_list("# room 12\n52:54:00:00:00:01 pc1\n\n525400000002\n")
                .unwrap()
                .len(),
            2
        );
        assert!(parse_list("pc1 52:54:00:00:00:01\n").is_err());
    }
}

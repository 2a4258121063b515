//! The sockets of a multicast session, with the options multicast needs and std does not
//! offer. It owns socket set-up only; nothing is sent or received here.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;

/// Asks the kernel for a receive buffer of `bytes`: bursts at the sending rate must not
/// overflow it between two reads. SO_RCVBUFFORCE (root, as the live system runs) passes the
/// system limit; otherwise SO_RCVBUF, capped by net.core.rmem_max.
fn big_receive_buffer(s: &socket2::Socket, bytes: usize) {
    let v = bytes as libc::c_int;
    // SAFETY: setsockopt with a valid fd, option and a pointer to a c_int of the given size.
    let forced = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if forced != 0 {
        let _ = s.set_recv_buffer_size(bytes);
    }
}

/// A socket that receives `group:port` on `interface` (0.0.0.0: the kernel's choice). Bound to
/// the group address, not to any: with IP_MULTICAST_ALL off as well, it gets only this group's
/// datagrams, not those of another session that happens to use the same port. Several
/// receivers on one host may bind it (SO_REUSEADDR).
pub fn group_receiver(group: Ipv4Addr, port: u16, interface: Ipv4Addr) -> io::Result<UdpSocket> {
    let s = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    s.set_reuse_address(true)?;
    let _ = s.set_multicast_all_v4(false);
    big_receive_buffer(&s, 8 << 20);
    s.bind(&SocketAddrV4::new(group, port).into())?;
    // IP_ADD_MEMBERSHIP: the kernel sends the IGMP report that makes a snooping switch
    // forward the group to this port.
    s.join_multicast_v4(&group, &interface)?;
    Ok(s.into())
}

/// The socket the sender multicasts from: TTL, outgoing interface, and loopback on (another
/// receiver may run on the sending host, as in tests and when a technician's laptop also
/// restores).
pub fn group_sender(ttl: u32, interface: Ipv4Addr) -> io::Result<UdpSocket> {
    let s = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    s.set_multicast_ttl_v4(ttl)?;
    s.set_multicast_loop_v4(true)?;
    if !interface.is_unspecified() {
        s.set_multicast_if_v4(&interface)?;
        s.bind(&SocketAddrV4::new(interface, 0).into())?;
    } else {
        s.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0).into())?;
    }
    // Bursts between two pacing sleeps must fit the send queue.
    let _ = s.set_send_buffer_size(4 << 20);
    Ok(s.into())
}

/// A unicast control socket bound to `addr:port` (port 0: any).
pub fn control(addr: Ipv4Addr, port: u16) -> io::Result<UdpSocket> {
    let s = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    big_receive_buffer(&s, 1 << 20);
    s.bind(&SocketAddrV4::new(addr, port).into())?;
    Ok(s.into())
}

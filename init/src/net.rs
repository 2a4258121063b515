//! Networking hook. For now it only brings the loopback interface up (tools and the UI may
//! talk to 127.0.0.1) and logs the interfaces the kernel found. DHCP and `wraith.net=`
//! configuration are a later issue and belong here, behind [`bring_up`].

use std::path::Path;

use crate::log::{info, warning};

/// Brings `lo` up and reports the other interfaces; `wanted` is `wraith.net=` verbatim.
pub fn bring_up(wanted: Option<&str>) {
    match set_up("lo") {
        Ok(()) => info!("lo is up"),
        Err(e) => warning!("cannot bring lo up: {e}"),
    }
    let mut seen = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/sys/class/net") {
        for entry in rd.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "lo" {
                continue;
            }
            let dir = entry.path();
            let read = |f: &str| {
                std::fs::read_to_string(dir.join(f))
                    .map(|s| s.trim().to_string())
                    .unwrap_or_else(|_| "?".to_string())
            };
            seen.push(format!(
                "{name} ({}, {})",
                read("address"),
                read("operstate")
            ));
        }
    }
    seen.sort();
    if seen.is_empty() {
        info!("network interfaces: none besides lo");
    } else {
        info!("network interfaces: {}", seen.join(", "));
    }
    if let Some(net) = wanted {
        warning!("wraith.net={net} requested, but only lo is configured so far (net.rs)");
    }
    if !Path::new("/sys/class/net").exists() {
        warning!("/sys/class/net missing: kernel without networking?");
    }
}

/// Sets IFF_UP on an interface with the classic SIOCGIFFLAGS/SIOCSIFFLAGS ioctls; no
/// netlink needed for one flag.
fn set_up(name: &str) -> std::io::Result<()> {
    // SAFETY: plain socket(2); the fd is wrapped in an OwnedFd right away so it is closed.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh, valid descriptor owned by nobody else.
    let sock = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let raw = std::os::fd::AsRawFd::as_raw_fd(&sock);

    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.as_bytes();
    if bytes.len() >= req.ifr_name.len() {
        return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
    }
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: valid socket and a properly initialised ifreq for these two requests. (`as _`:
    // libc types the request c_ulong on glibc but c_int on musl.)
    unsafe {
        if libc::ioctl(raw, libc::SIOCGIFFLAGS as _, &mut req) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(raw, libc::SIOCSIFFLAGS as _, &req) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

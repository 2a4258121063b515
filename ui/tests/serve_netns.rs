//! `wraith serve` on a private LAN: network namespaces joined by a veth pair, the server in
//! one, a client in the other. Wake-on-LAN packets are received and checked byte by byte;
//! `--pxe` runs the real dnsmasq, whose TFTP serves the iPXE ROM (fetched with curl) and
//! whose DHCP answers a PXE client's DISCOVER (sent by this test) in proxy and in full mode;
//! dnsmasq ends with serve, even when serve is killed.
//!
//! Needs root (network namespaces): `#[ignore]`d, run by `./build.sh test` as root (its
//! "dhcp netns" phase) or `cargo test --test serve_netns -- --ignored`.
#![allow(clippy::panic, clippy::unwrap_used)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use wraith_testkit::netns::{is_root, Netns};

/// Two namespaces, `srv` with `v0` 10.X.0.1/24 and `cli` with `v1` 10.X.0.2/24.
struct Lan {
    srv: Netns,
    cli: Netns,
    net: u8,
}

impl Lan {
    fn new(tag: &str, net: u8) -> Lan {
        let lan = Lan {
            srv: Netns::new(&format!("ws-{tag}-s")),
            cli: Netns::new(&format!("ws-{tag}-c")),
            net,
        };
        lan.srv.ip(&[
            "link",
            "add",
            "v0",
            "type",
            "veth",
            "peer",
            "name",
            "v1",
            "netns",
            lan.cli.name(),
        ]);
        for (ns, dev, host) in [(&lan.srv, "v0", 1), (&lan.cli, "v1", 2)] {
            ns.ip(&["addr", "add", &format!("10.{net}.0.{host}/24"), "dev", dev]);
            ns.ip(&["link", "set", dev, "up"]);
        }
        lan
    }

    fn server_ip(&self) -> String {
        format!("10.{}.0.1", self.net)
    }
}

/// Runs `f` in a thread that has entered namespace `ns`.
fn in_ns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let fd = std::fs::File::open(&path).unwrap();
        // SAFETY: setns(2) on an open namespace file; affects only this thread.
        let r = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
}

fn root() -> bool {
    if !is_root() {
        assert!(
            std::env::var_os("WRAITH_NO_SKIP").is_none(),
            "the serve network-namespace tests need root"
        );
        eprintln!("SKIPPED: needs root for network namespaces");
        return false;
    }
    true
}

fn serve_in(ns: &str, args: &[&str]) -> (Child, BufReader<std::process::ChildStdout>, Value) {
    let mut child = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            env!("CARGO_BIN_EXE_wraith"),
            "--json",
            "serve",
        ])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    assert_eq!(v["result"], "serving", "{v}");
    (child, out, v)
}

fn term(child: &mut Child) -> std::process::ExitStatus {
    // SAFETY: kill(2) on our own child (ip netns exec execs wraith in place).
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap()
}

fn alive(pid: u64) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
}

fn gone_within(pid: u64, limit: Duration) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    !alive(pid)
}

#[test]
#[ignore]
fn wake_on_lan_packets_reach_the_rooms_subnet() {
    if !root() {
        return;
    }
    let lan = Lan::new("wol", 77);
    let repo = tempfile::tempdir().unwrap();
    // The listeners on ports 9 and 7 of the other machine on the LAN.
    let rx = in_ns(lan.cli.name(), || {
        let socks: Vec<UdpSocket> = [9u16, 7]
            .iter()
            .map(|p| {
                let s = UdpSocket::bind(("0.0.0.0", *p)).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                s
            })
            .collect();
        socks
            .iter()
            .map(|s| {
                let mut buf = [0u8; 200];
                let (n, from) = s.recv_from(&mut buf).expect("a magic packet");
                (buf[..n].to_vec(), from.ip().to_string())
            })
            .collect::<Vec<_>>()
    });
    std::thread::sleep(Duration::from_millis(300));
    let (mut child, _out, started) = serve_in(
        lan.srv.name(),
        &[
            s(repo.path()),
            "--listen",
            "10.77.0.1:0",
            "--interface",
            "v0",
            "--wake",
            "52-54-00-AA-bb-0c",
        ],
    );
    assert_eq!(started["wake"], 1);
    let got = rx.join().expect("packets received on ports 9 and 7");
    let mut want = vec![0xFFu8; 6];
    for _ in 0..16 {
        want.extend_from_slice(&[0x52, 0x54, 0x00, 0xaa, 0xbb, 0x0c]);
    }
    for (packet, from) in got {
        assert_eq!(packet, want, "a well-formed magic packet");
        assert_eq!(from, "10.77.0.1");
    }
    assert!(term(&mut child).success());
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A PXE firmware's DHCPDISCOVER (BIOS, client architecture 0).
fn discover(mac: [u8; 6], xid: u32) -> Vec<u8> {
    let mut p = vec![0u8; 236];
    p[0] = 1;
    p[1] = 1;
    p[2] = 6;
    p[4..8].copy_from_slice(&xid.to_be_bytes());
    p[10] = 0x80; // broadcast the answer: the client has no address yet
    p[28..34].copy_from_slice(&mac);
    p.extend_from_slice(&[99, 130, 83, 99]);
    p.extend_from_slice(&[53, 1, 1]);
    let vc = b"PXEClient:Arch:00000:UNDI:002001";
    p.extend_from_slice(&[60, vc.len() as u8]);
    p.extend_from_slice(vc);
    p.extend_from_slice(&[93, 2, 0, 0, 94, 3, 1, 2, 1]);
    p.extend_from_slice(&[97, 17, 0]);
    p.extend_from_slice(&[7u8; 16]);
    p.extend_from_slice(&[55, 6, 1, 3, 43, 60, 66, 67, 255]);
    p
}

/// The DHCP options of an answer, by code.
fn options(p: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = 240;
    while i < p.len() {
        let code = p[i];
        if code == 255 {
            break;
        }
        if code == 0 {
            i += 1;
            continue;
        }
        let len = p[i + 1] as usize;
        out.push((code, p[i + 2..i + 2 + len].to_vec()));
        i += 2 + len;
    }
    out
}

/// Sends a DISCOVER from the client namespace and returns the first answer for it.
fn ask(lan: &Lan, mac: [u8; 6], xid: u32) -> Vec<u8> {
    in_ns(lan.cli.name(), move || {
        let s = UdpSocket::bind("0.0.0.0:68").unwrap();
        s.set_broadcast(true).unwrap();
        let dev = b"v1\0";
        // SAFETY: setsockopt with a NUL-terminated device name and its length.
        let r = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_BINDTODEVICE,
                dev.as_ptr().cast(),
                dev.len() as u32,
            )
        };
        assert_eq!(r, 0);
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(20) {
            s.send_to(&discover(mac, xid), "255.255.255.255:67")
                .unwrap();
            let mut buf = [0u8; 1500];
            while let Ok(n) = s.recv(&mut buf) {
                if n > 240 && buf[0] == 2 && buf[4..8] == xid.to_be_bytes() {
                    return buf[..n].to_vec();
                }
            }
        }
        panic!("no DHCP answer within 20 s");
    })
    .join()
    .unwrap()
}

#[test]
#[ignore]
fn pxe_serves_the_ipxe_rom_by_tftp_and_answers_pxe_clients_then_stops_with_serve() {
    if !root() {
        return;
    }
    if !Path::new("/usr/lib/ipxe/undionly.kpxe").exists() {
        assert!(
            std::env::var_os("WRAITH_NO_SKIP").is_none(),
            "needs Debian's ipxe package"
        );
        eprintln!("SKIPPED: no /usr/lib/ipxe (Debian package ipxe)");
        return;
    }
    let lan = Lan::new("pxe", 78);
    let dir = tempfile::tempdir().unwrap();
    let boot = dir.path().join("boot");
    std::fs::create_dir(&boot).unwrap();
    std::fs::write(boot.join("vmlinuz"), b"kernel").unwrap();
    std::fs::write(boot.join("initramfs.zst"), b"initramfs").unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    let ip = lan.server_ip();
    let listen = format!("{ip}:0");
    let base_args = [
        s(&repo),
        "--listen",
        &listen,
        "--interface",
        "v0",
        "--pxe",
        "--boot-dir",
        s(&boot),
    ];

    // Proxy-DHCP (the default): boot information only, no address.
    let (mut child, out, started) = serve_in(lan.srv.name(), &base_args);
    assert_eq!(started["pxe"]["mode"], "proxy", "{started}");
    let dnsmasq = started["pxe"]["dnsmasq_pid"].as_u64().unwrap();
    let got = dir.path().join("undionly.kpxe");
    let o = lan
        .cli
        .command("curl")
        .args(["-s", "--max-time", "20"])
        .arg(format!("tftp://{ip}/undionly.kpxe"))
        .args(["-o", s(&got)])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "TFTP: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        std::fs::read(&got).unwrap(),
        std::fs::read("/usr/lib/ipxe/undionly.kpxe").unwrap(),
        "TFTP serves the iPXE ROM as it is"
    );
    let mac = [0x52, 0x54, 0x00, 0x77, 0x00, 0x01];
    let answer = ask(&lan, mac, 0x1234_5678);
    let opts = options(&answer);
    let opt = |c: u8| opts.iter().find(|(k, _)| *k == c).map(|(_, v)| v.clone());
    assert_eq!(opt(53), Some(vec![2]), "a DHCPOFFER: {opts:?}");
    assert_eq!(&answer[16..20], &[0, 0, 0, 0], "a proxy gives no address");
    assert_eq!(opt(60).as_deref(), Some(&b"PXEClient"[..]), "{opts:?}");
    let file = String::from_utf8_lossy(&answer[108..236]).to_string();
    let menu = opt(43)
        .map(|v| String::from_utf8_lossy(&v).to_string())
        .unwrap_or_default();
    assert!(
        file.contains("undionly.kpxe") || menu.contains("Wraith"),
        "the offer names the BIOS ROM or offers Wraith's boot service: file {file:?}, option 43 {menu:?}"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert!(term(&mut child).success());
    assert!(
        gone_within(dnsmasq, Duration::from_secs(5)),
        "dnsmasq stops with serve"
    );
    let mut rest = String::new();
    out.into_inner().read_to_string(&mut rest).unwrap();
    assert!(
        rest.lines()
            .any(|l| l.contains("52:54:00:77:00:01") && l.contains("\"client\"")),
        "the room shows the machine: {rest}"
    );

    // Full DHCP on an isolated LAN: an address from the pool and the ROM's name.
    let mut args = base_args.to_vec();
    args.extend(["--dhcp-range", "10.78.0.100,10.78.0.120"]);
    let (mut child, _out, started) = serve_in(lan.srv.name(), &args);
    assert_eq!(started["pxe"]["mode"], "dhcp");
    let dnsmasq = started["pxe"]["dnsmasq_pid"].as_u64().unwrap();
    let answer = ask(&lan, [0x52, 0x54, 0x00, 0x77, 0x00, 0x02], 0x0bad_cafe);
    let yiaddr = &answer[16..20];
    assert!(
        yiaddr[..3] == [10, 78, 0] && (100..=120).contains(&yiaddr[3]),
        "{yiaddr:?}"
    );
    // The boot file's name, in the header's field or (asked for) as option 67.
    let file = String::from_utf8_lossy(&answer[108..236]).to_string();
    let opts = options(&answer);
    let opt67 = opts
        .iter()
        .find(|(k, _)| *k == 67)
        .map(|(_, v)| String::from_utf8_lossy(v).to_string())
        .unwrap_or_default();
    assert!(
        file.starts_with("undionly.kpxe") || opt67.trim_end_matches('\0') == "undionly.kpxe",
        "file {file:?}, option 67 {opt67:?}"
    );
    // Killed outright, serve still takes dnsmasq with it (the kernel's parent-death signal).
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    assert!(
        gone_within(dnsmasq, Duration::from_secs(5)),
        "no dnsmasq outlives a killed serve"
    );
}

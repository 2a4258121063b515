//! The DHCP client against a real server: two network namespaces joined by a veth pair,
//! dnsmasq in one, `wraith-init --net` (the live system's networking code) in the other.
//! Short timers (T1 10 s, T2 20 s) make renewals happen within the test. Watched from the
//! kernel's side (`ip addr`), not only from what the client says about itself.
//!
//! A second test uses busybox udhcpd, whose leases can be 20 s, to let a lease expire.
//!
//! Needs root (namespaces, veth), `ip`, dnsmasq and busybox (`./build.sh deps`); `#[ignore]`d so a
//! plain `cargo test` as a user stays green; `./build.sh test` runs it when root.
#![allow(clippy::panic, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn run(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Namespaces `<tag>s` (server, 10.77.0.1/24 on `vs`) and `<tag>c` (client, `vc`).
struct Net {
    server_ns: String,
    client_ns: String,
    dir: tempfile::TempDir,
}

impl Net {
    fn new() -> Net {
        assert!(
            nix_is_root(),
            "this test needs root for network namespaces (run as root or via ./build.sh test)"
        );
        for tool in ["ip", "dnsmasq"] {
            assert!(
                Command::new("sh")
                    .args([
                        "-c",
                        &format!("command -v {tool} || test -x /usr/sbin/{tool}")
                    ])
                    .stdout(Stdio::null())
                    .status()
                    .unwrap()
                    .success(),
                "{tool} missing: run ./build.sh deps"
            );
        }
        // Unique per test: the tests of this file run in parallel threads of one process.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let tag = format!(
            "wdh{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let net = Net {
            server_ns: format!("{tag}s"),
            client_ns: format!("{tag}c"),
            dir: tempfile::tempdir().unwrap(),
        };
        run(&["ip", "netns", "add", &net.server_ns]);
        run(&["ip", "netns", "add", &net.client_ns]);
        run(&[
            "ip",
            "link",
            "add",
            "vs",
            "netns",
            &net.server_ns,
            "type",
            "veth",
            "peer",
            "name",
            "vc",
            "netns",
            &net.client_ns,
        ]);
        run(&[
            "ip",
            "-n",
            &net.server_ns,
            "addr",
            "add",
            "10.77.0.1/24",
            "dev",
            "vs",
        ]);
        run(&["ip", "-n", &net.server_ns, "link", "set", "vs", "up"]);
        net
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// dnsmasq as the DHCP server, handing out `range` with T1 10 s and T2 20 s.
    fn dnsmasq(&self, range: &str, leases: &str, log: &str) -> Proc {
        let log_file = std::fs::File::create(self.path(log)).unwrap();
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.server_ns,
                "dnsmasq",
                "--no-daemon",
                "--conf-file=/dev/null",
                "--port=0",
                "--interface=vs",
                "--bind-interfaces",
                "--dhcp-authoritative",
                "--log-dhcp",
            ])
            .arg(format!("--dhcp-range={range},2m"))
            .args([
                "--dhcp-option=option:T1,10",
                "--dhcp-option=option:T2,20",
                "--dhcp-option=option:dns-server,10.77.0.53",
                "--dhcp-option=option:domain-search,lab.example",
            ])
            .arg(format!("--dhcp-leasefile={}", self.path(leases).display()))
            .arg(format!(
                "--pid-file={}",
                self.path(&format!("{log}.pid")).display()
            ))
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap();
        Proc(child)
    }

    /// busybox udhcpd with a 20 s lease (dnsmasq's minimum is 2 minutes), so a lease can
    /// expire within the test.
    fn udhcpd(&self, log: &str) -> Proc {
        let conf = self.path("udhcpd.conf");
        let leases = self.path("udhcpd.leases");
        if !leases.exists() {
            std::fs::write(&leases, "").unwrap();
        }
        std::fs::write(
            &conf,
            format!(
                "start 10.77.0.50\nend 10.77.0.60\ninterface vs\nlease_file {}\nmin_lease 5\n\
                 opt lease 20\nopt subnet 255.255.255.0\nopt router 10.77.0.1\nopt dns 10.77.0.53\n",
                leases.display()
            ),
        )
        .unwrap();
        let log_file = std::fs::File::create(self.path(log)).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.server_ns, "busybox", "udhcpd", "-f"])
            .arg(&conf)
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap();
        Proc(child)
    }

    fn client(&self) -> Proc {
        let log = std::fs::File::create(self.path("client.log")).unwrap();
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.client_ns,
                env!("CARGO_BIN_EXE_wraith-init"),
                "--net",
                "dhcp,if=vc",
            ])
            .arg(self.path("state"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Proc(child)
    }

    /// The IPv4 addresses the kernel has on the client's `vc`.
    fn addresses(&self) -> Vec<String> {
        addresses(&self.client_ns)
    }

    fn state(&self) -> serde_json::Value {
        std::fs::read_to_string(self.path("state/net.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .map(|v| v["interfaces"][0].clone())
            .unwrap_or(serde_json::Value::Null)
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }

    /// Waits for `what` to hold, up to `secs`; the failure shows both sides' logs.
    fn wait(&self, secs: u64, what: &str, mut cond: impl FnMut(&Net) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !cond(self) {
            if Instant::now() > deadline {
                panic!(
                    "timed out after {secs} s waiting for {what}\nstate: {}\naddresses: {:?}\nclient log:\n{}",
                    self.state(),
                    self.addresses(),
                    self.log("client.log")
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in [&self.server_ns, &self.client_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn addresses(ns: &str) -> Vec<String> {
    let out = run(&["ip", "-n", ns, "-4", "-o", "addr", "show", "dev", "vc"]);
    // One line per address: "7: vc    inet 10.77.0.60/24 brd ... scope global vc ..."
    out.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace().skip_while(|w| *w != "inet");
            w.nth(1).map(str::to_string)
        })
        .collect()
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A child killed (and its `ip netns exec` wrapper with it) when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn count(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

/// Watches the client's address from the kernel's side every 100 ms and records every
/// moment it had none (after `armed`).
struct Watch {
    stop: Arc<AtomicBool>,
    armed: Arc<AtomicBool>,
    gaps: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watch {
    fn start(ns: &str) -> Watch {
        let (stop, armed) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let gaps = Arc::new(Mutex::new(Vec::new()));
        let (s, a, g, ns) = (stop.clone(), armed.clone(), gaps.clone(), ns.to_string());
        let thread = std::thread::spawn(move || {
            let t0 = Instant::now();
            while !s.load(Ordering::SeqCst) {
                if a.load(Ordering::SeqCst) && addresses(&ns).is_empty() {
                    g.lock()
                        .unwrap()
                        .push(format!("{:.1} s", t0.elapsed().as_secs_f64()));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Watch {
            stop,
            armed,
            gaps,
            thread: Some(thread),
        }
    }
    fn arm(&self, on: bool) {
        self.armed.store(on, Ordering::SeqCst);
    }
    fn gaps(&self) -> Vec<String> {
        self.gaps.lock().unwrap().clone()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn in_range(addr: &str, lo: u8, hi: u8) -> bool {
    addr.strip_prefix("10.77.0.")
        .and_then(|r| r.split('/').next())
        .and_then(|h| h.parse::<u8>().ok())
        .is_some_and(|h| (lo..=hi).contains(&h))
}

#[test]
#[ignore = "needs root, ip netns and dnsmasq: run by ./build.sh test as root"]
fn lease_is_renewed_rebound_after_a_server_outage_and_replaced_after_a_nak() {
    let net = Net::new();
    let server = net.dnsmasq("10.77.0.50,10.77.0.60", "leases", "dnsmasq1.log");
    let _client = net.client();
    let t0 = Instant::now();

    // 1. DISCOVER/OFFER/REQUEST/ACK: an address from the range, the router, DNS and search.
    net.wait(30, "a lease", |n| n.state()["state"] == "bound");
    let s = net.state();
    let addr = format!("{}/{}", s["address"].as_str().unwrap(), s["prefix"]);
    eprintln!("bound {addr} after {:.1} s", t0.elapsed().as_secs_f64());
    assert!(in_range(&addr, 50, 60), "{addr}");
    assert_eq!(net.addresses(), vec![addr.clone()]);
    let routes = run(&["ip", "-n", &net.client_ns, "route", "show", "default"]);
    assert!(routes.contains("via 10.77.0.1 dev vc"), "{routes}");
    let resolv = std::fs::read_to_string(net.path("state/resolv.conf")).unwrap();
    assert!(resolv.contains("nameserver 10.77.0.53\n"), "{resolv}");
    assert!(resolv.contains("search lab.example\n"), "{resolv}");
    assert!(net.path("state/net-ready").exists());

    // 2. RENEW at T1, unicast: two renewals ACKed by the server, the address never gone.
    let watch = Watch::start(&net.client_ns);
    watch.arm(true);
    let t_bound = Instant::now();
    net.wait(40, "two renewals", |n| {
        n.state()["renewals"].as_u64() >= Some(2)
    });
    eprintln!(
        "two renewals {:.1} s after binding",
        t_bound.elapsed().as_secs_f64()
    );
    let log = net.log("dnsmasq1.log");
    assert!(count(&log, "DHCPACK(vs)") >= 3, "{log}");
    assert_eq!(net.addresses(), vec![addr.clone()]);

    // 3. Server gone: the unicast RENEW at T1 goes unanswered; at T2 the client REBINDs by
    // broadcast, which a different server (10.77.0.2, taking over the subnet) answers. The
    // lease goes on with the same address, now from the new server and via its router.
    drop(server);
    let renewals = net.state()["renewals"].as_u64().unwrap();
    net.wait(30, "renewing", |n| n.state()["state"] == "renewing");
    run(&[
        "ip",
        "-n",
        &net.server_ns,
        "addr",
        "del",
        "10.77.0.1/24",
        "dev",
        "vs",
    ]);
    run(&[
        "ip",
        "-n",
        &net.server_ns,
        "addr",
        "add",
        "10.77.0.2/24",
        "dev",
        "vs",
    ]);
    let server = net.dnsmasq("10.77.0.50,10.77.0.60", "leases", "dnsmasq2.log");
    let t_out = Instant::now();
    net.wait(60, "the rebind to be answered by 10.77.0.2", |n| {
        let s = n.state();
        s["state"] == "bound" && s["server"] == "10.77.0.2"
    });
    eprintln!(
        "rebound {:.1} s after the new server started",
        t_out.elapsed().as_secs_f64()
    );
    assert!(net.state()["renewals"].as_u64() > Some(renewals));
    assert!(net.log("client.log").contains("rebinding"));
    let log2 = net.log("dnsmasq2.log");
    assert!(
        log2.contains(&format!(
            "DHCPREQUEST(vs) {}",
            addr.split('/').next().unwrap()
        )),
        "{log2}"
    );
    assert!(
        !log2.contains("DHCPDISCOVER"),
        "rebinding must not start over: {log2}"
    );
    assert_eq!(net.addresses(), vec![addr.clone()]);
    let routes = run(&["ip", "-n", &net.client_ns, "route", "show", "default"]);
    assert_eq!(routes.lines().count(), 1, "{routes}");
    assert!(routes.contains("via 10.77.0.2 dev vc"), "{routes}");
    assert!(
        watch.gaps().is_empty(),
        "the address vanished at {:?}",
        watch.gaps()
    );

    // 4. A server that no longer hands out this address NAKs the renewal: the client drops
    // it and discovers a new one.
    watch.arm(false);
    drop(server);
    let _server = net.dnsmasq("10.77.0.100,10.77.0.110", "leases-new", "dnsmasq3.log");
    net.wait(60, "a new address after the NAK", |n| {
        let a = n.addresses();
        a.len() == 1 && in_range(&a[0], 100, 110) && n.state()["state"] == "bound"
    });
    let log3 = net.log("dnsmasq3.log");
    assert!(log3.contains("DHCPNAK(vs)"), "{log3}");
    assert!(log3.contains("DHCPDISCOVER(vs)"), "{log3}");
    let client_log = net.log("client.log");
    assert!(client_log.contains("NAK"), "{client_log}");
    assert!(
        !net.addresses().contains(&addr),
        "the NAKed address is gone"
    );
    let resolv = std::fs::read_to_string(net.path("state/resolv.conf")).unwrap();
    assert!(resolv.contains("nameserver 10.77.0.53\n"), "{resolv}");
    eprintln!("client log:\n{client_log}");
}

#[test]
#[ignore = "needs root, ip netns and busybox: run by ./build.sh test as root"]
fn an_expired_lease_keeps_its_address_until_a_server_answers_again() {
    let net = Net::new();
    let server = net.udhcpd("udhcpd1.log");
    let _client = net.client();
    net.wait(30, "a lease", |n| n.state()["state"] == "bound");
    let s = net.state();
    assert_eq!(s["lease_secs"], 20, "{s}");
    let addr = format!("{}/{}", s["address"].as_str().unwrap(), s["prefix"]);
    let watch = Watch::start(&net.client_ns);
    watch.arm(true);

    // No server: renewing, rebinding, then the 20 s lease runs out and discovery starts
    // again, while the kernel keeps the address (transfers in flight survive).
    drop(server);
    let t = Instant::now();
    net.wait(40, "the lease to expire", |n| {
        n.log("client.log").contains("expired without an answer")
    });
    eprintln!(
        "expired {:.1} s after the server stopped",
        t.elapsed().as_secs_f64()
    );
    let log = net.log("client.log");
    for phase in ["renewing", "rebinding", "expired"] {
        assert!(
            log.contains(&format!(
                "lease of {} {phase}",
                s["address"].as_str().unwrap()
            )),
            "{phase}: {log}"
        );
    }
    net.wait(10, "discovering", |n| n.state()["state"] == "discovering");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        net.addresses(),
        vec![addr.clone()],
        "address kept after expiry"
    );

    // The server returns: DISCOVER asks for the address in use and gets it back.
    let _server = net.udhcpd("udhcpd2.log");
    net.wait(90, "a new lease", |n| n.state()["state"] == "bound");
    assert_eq!(net.addresses(), vec![addr.clone()]);
    let log2 = net.log("udhcpd2.log");
    assert!(
        log2.contains(&format!(
            "sending ACK to {}",
            addr.split('/').next().unwrap()
        )),
        "{log2}"
    );
    assert!(
        watch.gaps().is_empty(),
        "the address vanished at {:?}",
        watch.gaps()
    );
}

/// Writes a request file as the UIs do: beside, then renamed, so init never reads half.
fn request(net: &Net, id: &str, value: &str) {
    let tmp = net.path("state/.net-request.new");
    std::fs::write(&tmp, format!("id={id}\nnet={value}\n")).unwrap();
    std::fs::rename(&tmp, net.path("state/net-request")).unwrap();
}

fn request_answer(net: &Net) -> serde_json::Value {
    std::fs::read_to_string(net.path("state/net.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .map(|v| v["request"].clone())
        .unwrap_or(serde_json::Value::Null)
}

#[test]
#[ignore = "needs root, ip netns and dnsmasq: run by ./build.sh test as root"]
fn a_request_file_switches_an_interface_from_dhcp_to_static_and_back() {
    let net = Net::new();
    let _server = net.dnsmasq("10.77.0.50,10.77.0.60", "leases", "dnsmasq.log");
    let _client = net.client();
    net.wait(30, "a lease", |n| n.state()["state"] == "bound");
    let leased = format!(
        "{}/{}",
        net.state()["address"].as_str().unwrap(),
        net.state()["prefix"]
    );

    // To static: the DHCP client lets go of its lease, the static address and route come.
    let t0 = Instant::now();
    request(
        &net,
        "t-1",
        "static:10.77.0.9/24,gw=10.77.0.1,dns=10.77.0.53,if=vc",
    );
    net.wait(10, "the static address", |n| {
        n.addresses() == ["10.77.0.9/24"] && n.state()["state"] == "configured"
    });
    eprintln!("static after {:.1} s", t0.elapsed().as_secs_f64());
    let s = net.state();
    assert_eq!(s["method"], "static");
    assert_eq!(s["gateway"], "10.77.0.1");
    assert_eq!(s["dns"][0], "10.77.0.53");
    assert!(s["lease_secs"].is_null() && s["server"].is_null(), "{s}");
    let r = request_answer(&net);
    assert_eq!(
        (r["id"].as_str(), r["result"].as_str()),
        (Some("t-1"), Some("applied")),
        "{r}"
    );
    let routes = run(&["ip", "-n", &net.client_ns, "route", "show", "default"]);
    assert!(
        routes.contains("via 10.77.0.1 dev vc proto static"),
        "{routes}"
    );
    assert!(!net.addresses().contains(&leased));
    assert!(!net.path("state/net-request").exists());

    // A request naming an interface that is not there: refused, nothing changes.
    request(&net, "t-2", "dhcp,if=nope0");
    net.wait(5, "the refusal", |n| request_answer(n)["id"] == "t-2");
    let r = request_answer(&net);
    assert_eq!(r["result"], "refused");
    assert!(r["error"].as_str().unwrap().contains("nope0"), "{r}");
    assert_eq!(net.addresses(), ["10.77.0.9/24"]);

    // Back to DHCP: the static address goes, a lease comes.
    request(&net, "t-3", "dhcp,if=vc");
    net.wait(30, "a lease again", |n| {
        n.state()["state"] == "bound"
            && n.addresses().len() == 1
            && in_range(&n.addresses()[0], 50, 60)
    });
    assert_eq!(net.state()["method"], "dhcp");
    let routes = run(&["ip", "-n", &net.client_ns, "route", "show", "default"]);
    assert!(
        routes.contains("via 10.77.0.1 dev vc proto dhcp"),
        "{routes}"
    );
    assert!(net.log("client.log").contains("request t-1"));
}

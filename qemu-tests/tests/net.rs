//! The live system's networking in QEMU: the init's own DHCP client gets 10.0.2.15 from
//! QEMU's user-mode network (slirp), writes resolv.conf and /run/wraith/net.json, and the
//! guest fetches a file from an HTTP server the test runs on the host (10.0.2.2 in the guest).
//! `#[ignore]`d like boot.rs; `./build.sh test` runs it with `--ignored`.
#![allow(clippy::panic)] // tests report failures by panicking

use qemu_tests::{artifact, Boot, VmBuilder};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BOOT_TIMEOUT: Duration = Duration::from_secs(180);

/// `python3 -m http.server` on a free loopback port, killed on drop.
struct HttpServer {
    child: Child,
    port: u16,
}

impl HttpServer {
    fn start(dir: &std::path::Path) -> HttpServer {
        let mut child = Command::new("python3")
            .args([
                "-u",
                "-m",
                "http.server",
                "0",
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("python3 (./build.sh deps): {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read");
        // "Serving HTTP on 127.0.0.1 port 41873 (http://127.0.0.1:41873/) ..."
        let port = line
            .split_whitespace()
            .skip_while(|w| *w != "port")
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        HttpServer { child, port }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The live system with a shell on the serial console, once init's DHCP client logged the
/// lease it got from slirp (`lease` is the start of that line).
fn shell_vm(builder: impl FnOnce(VmBuilder) -> VmBuilder, lease: &str) -> qemu_tests::Vm {
    let kernel = artifact("WRAITH_KERNEL", "out/pxe/vmlinuz").unwrap_or_else(|e| panic!("{e}"));
    let initramfs =
        artifact("WRAITH_INITRAMFS", "out/pxe/initramfs.zst").unwrap_or_else(|e| panic!("{e}"));
    let mut vm = builder(
        VmBuilder::new(Boot::Kernel {
            kernel,
            initramfs,
            append: "console=ttyS0,115200 panic=-1 wraith.shell wraith.wait=0".into(),
        })
        .memory(256),
    )
    .start()
    .unwrap_or_else(|e| panic!("{e}"));
    vm.wait_for("WRAITH-READY", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    // The init's DHCP client logs the lease (the kernel prints it on the serial console).
    let secs = vm
        .wait_for(lease, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("lease after {secs:.1} s (QEMU start, TCG)");
    vm
}

/// Runs `cmd` in the guest's shell; the console output up to its end.
fn shell(vm: &mut qemu_tests::Vm, cmd: &str) -> String {
    vm.send(&format!("{cmd}; echo END-OF-CHECK\n"))
        .unwrap_or_else(|e| panic!("{e}"));
    // The echoed command line contains "END-OF-CHECK" too; its output ends a line with it.
    vm.wait_for("\nEND-OF-CHECK", Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}"));
    vm.output().replace('\r', "")
}

#[test]
#[ignore = "boots the real kernel: run by ./build.sh test"]
fn dhcp_from_qemu_user_network_and_a_file_fetched_from_the_host() {
    let www = tempfile::tempdir().expect("tempdir");
    // A token only the file holds: seeing it on the console proves the bytes came over TCP.
    let token = format!(
        "wraith-net-{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos()
    );
    std::fs::write(www.path().join("probe.txt"), format!("{token}\n")).expect("write");
    let http = HttpServer::start(www.path());

    let mut vm = shell_vm(
        // e1000 here (the other tests use virtio-net); slirp hands out a domain and a search
        // list.
        |b| b.nic("user,model=e1000,domainname=wraith.test,dnssearch=lab.example"),
        "net: eth0: 10.0.2.15/24 gateway 10.0.2.2 dns 10.0.2.3 from 10.0.2.2",
    );
    let out = shell(
        &mut vm,
        &format!(
            "cat /etc/resolv.conf /run/wraith/net.json; wget -q -O - http://10.0.2.2:{}/probe.txt",
            http.port
        ),
    );
    assert!(
        out.contains(&format!("\n{token}\n")),
        "no file from the host:\n{out}"
    );
    assert!(out.contains("\nnameserver 10.0.2.3\n"), "{out}");
    assert!(out.contains("\nsearch wraith.test lab.example\n"), "{out}");
    assert!(
        out.contains(r#""name": "eth0", "mac": "52:54:00:12:34:56", "link": true, "method": "dhcp", "state": "bound", "address": "10.0.2.15", "prefix": 24, "gateway": "10.0.2.2", "dns": ["10.0.2.3"]"#),
        "{out}"
    );
    assert!(out.contains("\"ready\": true"), "{out}");
}

#[test]
#[ignore = "boots the real kernel: run by ./build.sh test"]
fn a_job_naming_a_url_starts_only_once_the_network_is_up() {
    let kernel = artifact("WRAITH_KERNEL", "out/pxe/vmlinuz").unwrap_or_else(|e| panic!("{e}"));
    let initramfs =
        artifact("WRAITH_INITRAMFS", "out/pxe/initramfs.zst").unwrap_or_else(|e| panic!("{e}"));
    // Whether `wraith` can read this repository is not the point here (nothing listens on
    // port 9); that init holds the job until DHCP is done is.
    let mut vm = VmBuilder::new(Boot::Kernel {
        kernel,
        initramfs,
        append: "console=ttyS0,115200 panic=-1 wraith.wait=0 wraith.onfail=poweroff \
                 wraith.run=\"action=list repo=http://10.0.2.2:9/images\""
            .into(),
    })
    .memory(256)
    .start()
    .unwrap_or_else(|e| panic!("{e}"));
    vm.wait_for("WRAITH-JOB-EXIT", BOOT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    let out = vm.output();
    let at = |needle: &str| {
        out.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not on the console:\n{out}"))
    };
    let lease = at("net: eth0: 10.0.2.15/24");
    let job = at("starting /usr/bin/wraith");
    assert!(lease < job, "the job started before the lease:\n{out}");
    // Under TCG DHCP finishes about a second after WRAITH-READY, so init says it waits; on a
    // fast machine the lease may already be there, and then there is nothing to wait for.
    if let Some(waiting) = out.find("the job needs the network: waiting up to 60 s") {
        assert!(waiting < at("network ready after"), "{out}");
    }
}

#[test]
#[ignore = "boots the real kernel: run by ./build.sh test"]
fn a_request_file_switches_eth0_to_a_static_address() {
    let www = tempfile::tempdir().expect("tempdir");
    std::fs::write(www.path().join("probe.txt"), "static-works\n").expect("write");
    let http = HttpServer::start(www.path());
    let mut vm = shell_vm(|b| b, "net: eth0: 10.0.2.15/24");

    // What the network screen writes: beside, then renamed into place. Slirp answers any
    // address of 10.0.2.0/24, so the static address reaches the host as the lease did.
    vm.send(
        "printf 'id=vm-1\\nnet=static:10.0.2.50/24,gw=10.0.2.2,dns=10.0.2.3,if=eth0\\n' \
         > /run/wraith/.req && mv /run/wraith/.req /run/wraith/net-request\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    vm.wait_for(
        "net: eth0: 10.0.2.50/24 gateway 10.0.2.2 dns 10.0.2.3 (static)",
        Duration::from_secs(30),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = shell(
        &mut vm,
        &format!(
            "cat /run/wraith/net.json /run/wraith/net-ready; wget -q -O - http://10.0.2.2:{}/probe.txt",
            http.port
        ),
    );
    assert!(
        out.contains(r#""request": {"id": "vm-1", "net": "static:10.0.2.50/24,gw=10.0.2.2,dns=10.0.2.3,if=eth0", "result": "applied", "error": null}"#),
        "{out}"
    );
    assert!(
        out.contains(r#""name": "eth0", "mac": "52:54:00:12:34:56", "link": true, "method": "static", "state": "configured", "address": "10.0.2.50", "prefix": 24, "gateway": "10.0.2.2", "dns": ["10.0.2.3"]"#),
        "{out}"
    );
    assert!(out.contains("\neth0 10.0.2.50/24\n"), "{out}");
    // The lease was let go: the old address is in no state file any more.
    assert!(out.contains("net: eth0: removed 10.0.2.15/24"), "{out}");
    assert!(
        out.contains("\nstatic-works\n"),
        "no file over the static address:\n{out}"
    );
}

//! A room of one: a VM with no disk boot entry (`-boot n`) on a private LAN (a bridge and a
//! tap in a network namespace) boots from the host's `wraith serve --pxe --dhcp-range`: DHCP
//! from serve's dnsmasq, the NIC's iPXE fetches serve's script, the real kernel and initramfs
//! come over HTTP, init reaches WRAITH-READY and runs the machine's own job (a restore of a
//! saved image onto its virtual disk), whose result lands in the repository's `results/`.
//! The restored disk is checked on the host with fsck and its files. SeaBIOS and OVMF with
//! serve as the LAN's DHCP server, and SeaBIOS with serve as proxy-DHCP beside the site's.
//!
//! Needs root (network namespaces, tap) and the built artifacts: `#[ignore]`d like boot.rs;
//! `./build.sh test` runs it with `--ignored`.
#![allow(clippy::panic, clippy::unwrap_used)]

use qemu_tests::{artifact, Boot, Bus, Firmware, VmBuilder};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use wraith_testkit as kit;

fn sh(args: &[&str]) {
    let o = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A child process killed when the test ends, also when it fails half-way.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn room_boot(firmware: Firmware, net: u8, proxy: bool) {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc_getuid() } != 0 {
        eprintln!("SKIPPED: network boot on a private LAN needs root (namespaces, tap)");
        return;
    }
    let kernel = artifact("WRAITH_KERNEL", "out/pxe/vmlinuz").unwrap_or_else(|e| panic!("{e}"));
    let initramfs =
        artifact("WRAITH_INITRAMFS", "out/pxe/initramfs.zst").unwrap_or_else(|e| panic!("{e}"));
    let wraith = artifact("WRAITH_BIN", "target/release/wraith").unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let boot = dir.path().join("boot");
    std::fs::create_dir(&boot).unwrap();
    std::fs::copy(&kernel, boot.join("vmlinuz")).unwrap();
    std::fs::copy(&initramfs, boot.join("initramfs.zst")).unwrap();

    // The image the room gets, saved on the host as a technician would.
    let disk = kit::gpt_disk();
    let repo = dir.path().join("repo");
    let o = Command::new(&wraith)
        .args(["save", s(&disk.path), &format!("{}:lab", s(&repo))])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "save: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mac = format!("52:54:00:{net:02x}:00:01");
    std::fs::create_dir(repo.join("jobs")).unwrap();
    std::fs::write(
        repo.join("jobs")
            .join(format!("{}.toml", mac.replace(':', "-"))),
        "action = \"restore\"\nrepository = \"http://{server}/repo\"\nimage = \"lab\"\n\
         target = \"serial:PXE-TARGET\"\nverify = true\nafter = \"poweroff\"\n",
    )
    .unwrap();
    let target = kit::blank_disk(disk.size);

    // The LAN: a bridge with the server's address and the VM's tap.
    let ns = Netns(format!("wraith-pxe-{net}-{}", std::process::id()));
    sh(&["ip", "netns", "add", &ns.0]);
    let n = &ns.0;
    let server = format!("10.{net}.0.1");
    sh(&["ip", "-n", n, "link", "add", "br0", "type", "bridge"]);
    sh(&[
        "ip",
        "-n",
        n,
        "addr",
        "add",
        &format!("{server}/24"),
        "dev",
        "br0",
    ]);
    sh(&["ip", "-n", n, "link", "set", "br0", "up"]);
    sh(&["ip", "-n", n, "link", "set", "lo", "up"]);
    sh(&["ip", "-n", n, "tuntap", "add", "dev", "tap0", "mode", "tap"]);
    sh(&["ip", "-n", n, "link", "set", "tap0", "master", "br0"]);
    sh(&["ip", "-n", n, "link", "set", "tap0", "up"]);

    // With proxy-DHCP, the site's own DHCP server (another dnsmasq, on another "machine":
    // a namespace joined to the LAN by a veth pair) hands out the addresses.
    let site = Netns(format!("wraith-site-{net}-{}", std::process::id()));
    let mut site_dhcp = None;
    if proxy {
        sh(&["ip", "netns", "add", &site.0]);
        sh(&[
            "ip", "-n", n, "link", "add", "vsite", "type", "veth", "peer", "name", "vs", "netns",
            &site.0,
        ]);
        sh(&["ip", "-n", n, "link", "set", "vsite", "master", "br0"]);
        sh(&["ip", "-n", n, "link", "set", "vsite", "up"]);
        sh(&[
            "ip",
            "-n",
            &site.0,
            "addr",
            "add",
            &format!("10.{net}.0.2/24"),
            "dev",
            "vs",
        ]);
        sh(&["ip", "-n", &site.0, "link", "set", "vs", "up"]);
        site_dhcp = Some(Killed(
            Command::new("ip")
                .args(["netns", "exec", &site.0, "dnsmasq", "--keep-in-foreground"])
                .args([
                    "--conf-file=/dev/null",
                    "--port=0",
                    "--interface=vs",
                    "--bind-interfaces",
                ])
                .arg(format!("--dhcp-range=10.{net}.0.100,10.{net}.0.150,1h"))
                .args(["--leasefile-ro", "--user=root", "--group=root"])
                .arg(format!(
                    "--pid-file={}",
                    dir.path().join("site.pid").display()
                ))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        ));
    }
    let range = format!("10.{net}.0.100,10.{net}.0.150");
    let mut serve = Command::new("ip")
        .args(["netns", "exec", n])
        .arg(&wraith)
        .args(["--json", "serve", s(&repo), "--interface", "br0"])
        .args(["--listen", &format!("{server}:8080"), "--pxe"])
        .args(if proxy {
            vec![]
        } else {
            vec!["--dhcp-range", range.as_str()]
        })
        .args(["--boot-dir", s(&boot)])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(serve.stdout.take().unwrap());
    let serve = Killed(serve);
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.contains("\"serving\""), "{line}");

    let mut vm = VmBuilder::new(Boot::Network)
        .firmware(firmware)
        .memory(1024)
        .netns(n)
        .nic(&format!(
            "tap,ifname=tap0,script=no,downscript=no,model=virtio-net-pci,mac={mac}"
        ))
        .disk(&target.path, Bus::Virtio, "PXE-TARGET")
        .start()
        .unwrap();
    let ready = vm.wait_for("WRAITH-READY", Duration::from_secs(300));
    assert!(ready.is_ok(), "{ready:?}");
    let result = vm
        .result(Duration::from_secs(400))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(result["result"], "ok", "{result}");
    assert_eq!(result["verified"], true, "{result}");
    let _ = vm.wait_exit(Duration::from_secs(120));
    // SAFETY: kill(2) on our own child: SIGTERM, as a technician's Ctrl-C.
    unsafe { libc_kill(serve.0.id() as i32, 15) };
    drop(serve);
    drop(site_dhcp);

    kit::assert_same_filesystems(&disk, &target.path);
    let kept: Vec<String> = std::fs::read_dir(repo.join("results"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(
        kept.iter().any(|k| k.ends_with("-restore.json")),
        "{kept:?}"
    );
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(
        rest.lines()
            .any(|l| l.contains(&mac) && l.contains("\"done\"")),
        "the room saw the machine finish: {rest}"
    );
}

extern "C" {
    #[link_name = "getuid"]
    fn libc_getuid() -> u32;
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
#[ignore]
fn a_machine_boots_from_wraith_serve_under_seabios_and_runs_its_job() {
    room_boot(Firmware::SeaBios, 83, false);
}

#[test]
#[ignore]
fn a_machine_boots_from_wraith_serve_as_proxy_dhcp_beside_the_sites_dhcp_server() {
    room_boot(Firmware::SeaBios, 85, true);
}

#[test]
#[ignore]
fn a_machine_boots_from_wraith_serve_under_ovmf_and_runs_its_job() {
    room_boot(Firmware::Ovmf, 84, false);
}

//! Private networks for tests that need a LAN of their own (network boot, multicast, DHCP):
//! network namespaces deleted when the test ends, also when it fails half-way, and child
//! processes killed the same way. Needs root; the callers check and skip.

use std::process::{Child, Command};

/// Runs a command that must succeed (set-up steps: `ip link add ...`); panics with its stderr.
pub fn sh(args: &[&str]) {
    let o = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Whether this process runs as root (namespaces, taps, bridges).
pub fn is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}

/// A network namespace, named after the test and this process so parallel runs never meet,
/// with its loopback up. Deleted on drop.
pub struct Netns(String);

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let ns = Netns(format!("wraith-{tag}-{}", std::process::id()));
        sh(&["ip", "netns", "add", &ns.0]);
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn name(&self) -> &str {
        &self.0
    }

    /// `ip -n NS ARGS...`, which must succeed.
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["ip", "-n", &self.0];
        all.extend_from_slice(args);
        sh(&all);
    }

    /// A command to run inside the namespace (`ip netns exec NS PROGRAM`).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0]).arg(program);
        c
    }

    /// Adds a bridge `br` holding `addr` (CIDR), up: the LAN's switch and the server's port.
    pub fn bridge(&self, br: &str, addr: &str) {
        self.ip(&["link", "add", br, "type", "bridge"]);
        self.ip(&["addr", "add", addr, "dev", br]);
        self.ip(&["link", "set", br, "up"]);
    }

    /// Adds tap `tap` (for a VM's `-nic tap,ifname=...`) as a port of bridge `br`.
    pub fn tap_on(&self, tap: &str, br: &str) {
        self.ip(&["tuntap", "add", "dev", tap, "mode", "tap"]);
        self.ip(&["link", "set", tap, "master", br]);
        self.ip(&["link", "set", tap, "up"]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A child process killed (and reaped) when dropped.
pub struct Killed(pub Child);

impl Killed {
    /// Asks it to stop as a technician's Ctrl-C would (SIGTERM), then waits.
    pub fn terminate(&mut self) -> std::io::Result<std::process::ExitStatus> {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        self.0.wait()
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

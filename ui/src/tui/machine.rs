//! What the home screen shows about the machine. Collected here (the only place the TUI reads
//! /proc and /sys) so tests can inject a fixed description instead.

use std::path::Path;
use wraith_engine::disks::DiskInfo;

#[derive(Clone, Debug, Default)]
pub struct NetIf {
    pub name: String,
    pub state: String,
    pub mac: String,
    pub ipv4: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Machine {
    pub cpu: String,
    pub cpus: usize,
    pub mem_bytes: u64,
    pub nets: Vec<NetIf>,
    pub disks: Vec<DiskInfo>,
    /// Paths of disks holding the running Wraith system: never offered as targets.
    pub boot: Vec<String>,
    /// The console keymap loaded (`wraith.keymap=` or the picker); None: the kernel's (us).
    pub keymap: Option<String>,
}

impl Machine {
    pub fn is_boot(&self, d: &DiskInfo) -> bool {
        self.boot.contains(&d.path)
    }
}

/// Everything except the disks, which the caller lists (and refreshes) itself.
pub fn collect() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    let cpus = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let mem_bytes = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0);
    Machine {
        cpu,
        cpus,
        mem_bytes,
        nets: net_interfaces(),
        disks: Vec::new(),
        boot: wraith_engine::live::wraith_media()
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        keymap: None,
    }
}

/// The home screen's network lines from wraith-init's state: an interface with an address
/// shows it with how it got it (`dhcp`, `static`), one without shows why (`no-link`,
/// `discovering`, `off`). Interfaces init lists that /sys did not are added.
pub fn apply_net_state(nets: &mut Vec<NetIf>, st: &crate::net::NetState) {
    for i in &st.interfaces {
        let n = match nets.iter_mut().position(|n| n.name == i.name) {
            Some(k) => &mut nets[k],
            None => {
                nets.push(NetIf {
                    name: i.name.clone(),
                    mac: i.mac.clone(),
                    ..NetIf::default()
                });
                let last = nets.len() - 1;
                &mut nets[last]
            }
        };
        match i.cidr() {
            Some(c) => {
                n.state = i.method.clone();
                n.ipv4 = vec![c];
            }
            None => {
                n.state = i.state.clone();
                n.ipv4.clear();
            }
        }
    }
}

fn read_trim(p: &Path) -> String {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn net_interfaces() -> Vec<NetIf> {
    let Ok(dir) = std::fs::read_dir("/sys/class/net") else {
        return Vec::new();
    };
    let mut out: Vec<NetIf> = dir
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        // Loopback says nothing about how this machine reaches a repository.
        .filter(|n| n != "lo")
        .map(|name| {
            let base = Path::new("/sys/class/net").join(&name);
            NetIf {
                state: read_trim(&base.join("operstate")),
                mac: read_trim(&base.join("address")),
                ipv4: Vec::new(),
                name,
            }
        })
        // Tunnels (sit0 and the like) have no hardware address and reach nothing by themselves.
        .filter(|n| !n.mac.is_empty() && n.mac.bytes().any(|b| b != b'0' && b != b':'))
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    if let Ok(addrs) = nix::ifaddrs::getifaddrs() {
        for a in addrs {
            let Some(ip) = a.address.as_ref().and_then(|s| s.as_sockaddr_in()) else {
                continue;
            };
            if let Some(n) = out.iter_mut().find(|n| n.name == a.interface_name) {
                n.ipv4.push(ip.ip().to_string());
            }
        }
    }
    out
}

//! Where the live system keeps its run-time state. `/run` is a tmpfs that init mounts, so all
//! of this is gone at power-off. The UI may point [`STATE_DIR`] elsewhere for tests (its
//! `WRAITH_NET_DIR`); the file names inside stay these.

/// The state directory init writes and the UI reads.
pub const STATE_DIR: &str = "/run/wraith";
/// Network state, replaced atomically by init on every change ([`crate::state::NetState`]).
pub const NET_JSON: &str = "net.json";
/// Exists while at least one interface has an address; one `NAME ADDR/PREFIX` line each.
pub const NET_READY: &str = "net-ready";
/// A request from the UI to change the network ([`crate::state::NetRequest`]), written
/// beside and renamed into place by the requester, taken away by init.
pub const NET_REQUEST: &str = "net-request";
/// Name servers for glibc; /etc/resolv.conf in the live root file system links here
/// (rootfs/rootfs.toml).
pub const RESOLV_CONF: &str = "resolv.conf";
/// Where the engine mounts USB sticks, job media and network shares it opens itself.
pub const MOUNT_DIR: &str = "/run/wraith/mnt";
/// The `wraith` binary init runs on the console (placed there by rootfs/rootfs.toml).
pub const UI_BINARY: &str = "/usr/bin/wraith";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_live_inside_the_state_directory_on_the_run_tmpfs() {
        assert!(MOUNT_DIR.starts_with(STATE_DIR));
        assert!(STATE_DIR.starts_with("/run/"));
        for name in [NET_JSON, NET_READY, NET_REQUEST, RESOLV_CONF] {
            assert!(!name.contains('/'), "{name} is a file name in STATE_DIR");
        }
    }
}

//! A clean end: stop every process, flush and unmount file systems (an image repository on a
//! USB disk must not lose its last chunks), then reboot(2). Under QEMU with `-no-reboot`, a
//! power off makes QEMU exit with status 0, which the VM tests use as "done".

use std::time::{Duration, Instant};

use nix::sys::reboot::{reboot, RebootMode};
use nix::sys::signal::{kill, Signal};
use nix::unistd::{sync, Pid};

use crate::log::{self, error, info, warning};
use crate::{mounts, supervise};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerAction {
    Poweroff,
    Reboot,
}

impl PowerAction {
    pub fn name(self) -> &'static str {
        match self {
            PowerAction::Poweroff => "poweroff",
            PowerAction::Reboot => "reboot",
        }
    }
}

/// Grace period between SIGTERM and SIGKILL: enough for the UI to restore the terminal and
/// for a save to write its index, short enough that a power-off feels immediate.
const TERM_GRACE: Duration = Duration::from_secs(2);

/// Shuts down. Never returns: if reboot(2) itself fails, PID 1 sleeps forever rather than
/// exit (which would be a kernel panic).
pub fn shutdown(action: PowerAction) -> ! {
    log::set_console_echo(true);
    info!("{}: stopping all processes", action.name());
    // SIGHUP too: an interactive shell ignores SIGTERM but not a hangup. SIGCONT wakes
    // stopped processes so they can act on either.
    for sig in [Signal::SIGHUP, Signal::SIGCONT] {
        let _ = kill(Pid::from_raw(-1), sig);
    }
    kill_all(Signal::SIGTERM, TERM_GRACE);
    kill_all(Signal::SIGKILL, Duration::from_secs(1));
    sync();
    mounts::unmount_all();
    sync();
    log::console_line(&format!(
        "WRAITH-{} uptime={:.2}",
        match action {
            PowerAction::Poweroff => "POWEROFF",
            PowerAction::Reboot => "REBOOT",
        },
        log::uptime_secs()
    ));
    let mode = match action {
        PowerAction::Poweroff => RebootMode::RB_POWER_OFF,
        PowerAction::Reboot => RebootMode::RB_AUTOBOOT,
    };
    let Err(e) = reboot(mode);
    error!("reboot(2) failed: {}; halting here", e.desc());
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Sends `sig` to every process but PID 1 (kill(-1)), then reaps until none is left or the
/// time is up.
fn kill_all(sig: Signal, wait: Duration) {
    match kill(Pid::from_raw(-1), sig) {
        Ok(()) => {}
        // ESRCH: there was nobody left to signal.
        Err(nix::errno::Errno::ESRCH) => return,
        Err(e) => warning!("kill(-1, {sig}): {}", e.desc()),
    }
    let deadline = Instant::now() + wait;
    loop {
        supervise::reap_all();
        if supervise::no_children_left() {
            return;
        }
        if Instant::now() >= deadline {
            if sig == Signal::SIGKILL {
                warning!("some processes survived SIGKILL (stuck in the kernel?)");
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

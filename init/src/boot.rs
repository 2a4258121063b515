//! PID 1 proper: the boot sequence in order, then the supervision loop, and the fallbacks
//! that keep PID 1 alive whatever happens.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::log::{self, info, warning};
use crate::power::{self, PowerAction};
use crate::supervise::{self, Step};
use crate::{cmdline, disks, firmware, modules, mounts, net, udev};

/// PID 1 proper. Never returns.
pub fn boot() -> ! {
    let started = Instant::now();
    // Before anything else, so a ctrl-alt-del or a child's exit during boot is queued.
    supervise::setup_signals();
    std::panic::set_hook(Box::new(|info| log::emergency(&format!("PANIC: {info}"))));
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    let _ = std::env::set_current_dir("/");

    match catch_unwind(AssertUnwindSafe(|| bring_up_and_supervise(started))) {
        Ok(action) => power::shutdown(action),
        Err(_) => rescue_forever(),
    }
}

/// The boot sequence, in order, then the supervision loop.
fn bring_up_and_supervise(started: Instant) -> PowerAction {
    mounts::create(mounts::EARLY);
    fix_stdio();
    log::open_kmsg();
    info!("starting (wraith-init {})", env!("CARGO_PKG_VERSION"));
    mounts::create(mounts::NAMESPACE);
    log::open_kmsg(); // now /proc is there: lift the kmsg rate limit, read the console loglevel
                      // Ctrl-Alt-Del becomes SIGINT to us (a clean reboot) instead of an instant hard reset.
    if let Err(e) = nix::sys::reboot::set_cad_enabled(false) {
        warning!("cannot route ctrl-alt-del to init: {}", e.desc());
    }

    let cfg = read_cmdline();
    log::set_flags(cfg.quiet, cfg.debug);
    for w in &cfg.warnings {
        warning!("command line: {w}");
    }
    info!(
        "config: job={:?} shell={} wait={} ms after={} console={:?}",
        cfg.job,
        cfg.shell,
        cfg.wait_ms,
        cfg.after_success().name(),
        cfg.console
    );

    let boot = firmware::detect();
    modules::preload();
    let watch = disks::Watch::start();
    let udev = udev::start();
    // A job names its disks and needs them present; the interactive UI does not: it shows a
    // disk that comes late (USB storage takes about a second more) as it arrives, from udev.
    // So a technician gets the UI seconds sooner, every boot.
    let interactive = !cfg.shell && cfg.job.is_none();
    let wait = if interactive {
        Duration::ZERO
    } else {
        Duration::from_millis(cfg.wait_ms)
    };
    let mut found = disks::wait_for_disks(watch, started, wait);
    if let Some(u) = &udev {
        // Every disk's event handled, late disks' included, before anyone looks: the UI's
        // first screen and a job's `serial:` rules need the model and serial udev gives a
        // SATA or USB disk (sysfs has them only for virtio and NVMe). With only block
        // devices replayed (udev::start) this is a short wait.
        u.settle();
        found = disks::scan(std::path::Path::new("/sys/block"));
    }
    disks::log_disks(&found);
    // In the background: the UI starts while DHCP runs; a job that needs it waits below.
    let net = net::start(&cfg.net, Some(net::STATE_DIR.into()));

    log_memory();
    log::console_line(&format!(
        "WRAITH-READY uptime={:.2} disks={} boot={}",
        log::uptime_secs(),
        found.len(),
        boot.name()
    ));

    let first = if cfg.shell {
        Step::Shell
    } else if let Some(job) = cfg.job.clone() {
        if net::job_needs_network(&job) {
            wait_for_network(&net, cfg.net_wait_ms);
        }
        Step::Job(job)
    } else {
        Step::Ui
    };
    supervise::supervise(&cfg, first)
}

/// How much RAM the live system leaves to the UI and jobs once it is up (the initramfs lives
/// in it): the figure that decides whether a small machine (128 MiB) can run Wraith.
fn log_memory() {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mib = |key: &str| {
        meminfo
            .lines()
            .find_map(|l| {
                l.strip_prefix(key)?
                    .trim()
                    .strip_suffix(" kB")?
                    .parse::<u64>()
                    .ok()
            })
            .map_or_else(|| "?".to_string(), |kb| (kb / 1024).to_string())
    };
    info!(
        "memory: {} MiB, {} MiB available, {} MiB in tmpfs and page cache",
        mib("MemTotal:"),
        mib("MemAvailable:"),
        mib("Cached:")
    );
}

/// Before a job that names a URL: wait (bounded) until an interface has an address, so the
/// job's first request does not fail with "network unreachable". On timeout the job starts
/// anyway and reports its own, precise network error.
fn wait_for_network(net: &net::Shared, wait_ms: u64) {
    if net.ready() {
        return;
    }
    info!(
        "the job needs the network: waiting up to {} s for an address",
        wait_ms / 1000
    );
    let t = Instant::now();
    if net.wait_ready(Duration::from_millis(wait_ms)) {
        info!("network ready after {:.1} s", t.elapsed().as_secs_f64());
    } else {
        warning!(
            "no network address after {} s (wraith.netwait); starting the job anyway",
            wait_ms / 1000
        );
    }
}

fn read_cmdline() -> cmdline::Config {
    match std::fs::read("/proc/cmdline") {
        Ok(bytes) => cmdline::parse(&String::from_utf8_lossy(&bytes)),
        Err(e) => {
            warning!("cannot read /proc/cmdline ({e}); using defaults");
            cmdline::Config::default()
        }
    }
}

/// The kernel opens /dev/console as fds 0–2 only if it existed in the initramfs. If not,
/// connect them now: otherwise the first file we open would become "stdout".
fn fix_stdio() {
    let valid = |fd: i32| nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).is_ok();
    if (0..3).all(valid) {
        return;
    }
    let flags = nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY;
    let mode = nix::sys::stat::Mode::empty();
    let fd = match nix::fcntl::open("/dev/console", flags, mode)
        .or_else(|_| nix::fcntl::open("/dev/null", flags, mode))
    {
        Ok(fd) => fd,
        Err(_) => return,
    };
    for target in 0..3 {
        if target != fd && !valid(target) {
            let _ = nix::unistd::dup2(fd, target);
        }
    }
    if fd > 2 {
        let _ = nix::unistd::close(fd);
    }
}

/// After a panic in the boot sequence or the loop: offer the rescue shell for ever, and if
/// even that keeps panicking, keep PID 1 alive sleeping (and reaping).
fn rescue_forever() -> ! {
    let cfg = read_cmdline();
    loop {
        warning!("falling back to the rescue shell");
        log::set_console_echo(true);
        match catch_unwind(AssertUnwindSafe(|| supervise::supervise(&cfg, Step::Shell))) {
            Ok(action) => power::shutdown(action),
            Err(_) => {
                for _ in 0..50 {
                    supervise::reap_all();
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
}

//! Children of PID 1: spawning them on the console, reaping every zombie (PID 1 adopts all
//! orphans), and the policy that decides what runs next — the UI again, the rescue shell, or a
//! power action.
//!
//! All signals PID 1 cares about are blocked and taken synchronously with sigwait, so there
//! is no handler code racing the main loop, and all reaping happens on this one thread (std's
//! `Command::spawn` reaps a child whose exec failed and must not find it stolen).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::cmdline::{self, After, Config, JobSource, Terminal};
use crate::log::{self, debug, error, info, warning};
use crate::power::PowerAction;

pub const UI_PATH: &str = wraith_live::paths::UI_BINARY;
pub const SHELL_PATH: &str = "/bin/sh";
pub const CHILD_PATH_ENV: &str = "/usr/bin:/bin:/usr/sbin:/sbin";

/// Exit codes by which the UI (or `wraith job`) asks PID 1 for something: the one definition
/// in [`wraith_live::exit`], as `waitpid` reports them.
pub const EXIT_POWEROFF: i32 = wraith_live::exit::POWEROFF as i32;
pub const EXIT_REBOOT: i32 = wraith_live::exit::REBOOT as i32;
pub const EXIT_SHELL: i32 = wraith_live::exit::SHELL as i32;

/// More than this many abnormal UI exits within [`CRASH_WINDOW`] → rescue shell.
pub const MAX_CRASHES: usize = 3;
pub const CRASH_WINDOW: Duration = Duration::from_secs(30);

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Exited(i32),
    Signaled(i32),
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Exited(c) => write!(f, "exit={c}"),
            Status::Signaled(s) => write!(f, "signal={s}"),
        }
    }
}

/// What runs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Ui,
    Job(JobSource),
    Shell,
    Power(PowerAction),
}

fn after_to_step(a: After) -> Step {
    match a {
        After::Poweroff => Step::Power(PowerAction::Poweroff),
        After::Reboot => Step::Power(PowerAction::Reboot),
        After::Shell => Step::Shell,
    }
}

/// A request by exit code, honoured from the UI and from a job alike.
fn requested(status: Status) -> Option<Step> {
    let Status::Exited(code) = status else {
        return None;
    };
    Some(match wraith_live::exit::Request::from_code(code)? {
        wraith_live::exit::Request::Poweroff => Step::Power(PowerAction::Poweroff),
        wraith_live::exit::Request::Reboot => Step::Power(PowerAction::Reboot),
        wraith_live::exit::Request::Shell => Step::Shell,
    })
}

/// After `wraith job`: 0 → `wraith.after` (default power off), 100–102 → as requested (the
/// job's own `after=`), anything else → `wraith.onfail` (default shell).
pub fn after_job(status: Status, cfg: &Config) -> Step {
    if let Some(step) = requested(status) {
        return step;
    }
    match status {
        Status::Exited(0) => after_to_step(cfg.after_success()),
        _ => after_to_step(cfg.after_failure()),
    }
}

/// After the interactive UI: 0 → start it again (the user quit; there is nothing else to
/// show), 100–102 → as requested, anything else is a crash: restart unless it crashed more
/// than [`MAX_CRASHES`] times within [`CRASH_WINDOW`] (crash times in `crashes`, the new one
/// included), then the rescue shell.
pub fn after_ui(status: Status, crashes: &[Duration], now: Duration) -> Step {
    if let Some(step) = requested(status) {
        return step;
    }
    match status {
        Status::Exited(0) => Step::Ui,
        _ if too_many_crashes(crashes, now) => Step::Shell,
        _ => Step::Ui,
    }
}

pub fn too_many_crashes(crashes: &[Duration], now: Duration) -> bool {
    crashes
        .iter()
        .filter(|&&t| t <= now && now - t <= CRASH_WINDOW)
        .count()
        > MAX_CRASHES
}

pub fn is_abnormal(status: Status) -> bool {
    requested(status).is_none() && status != Status::Exited(0)
}

/// The signals PID 1 takes synchronously. Fault signals stay unblocked on purpose: blocking
/// them would turn a crash into a hang.
fn handled_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGPWR,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        set.add(s);
    }
    set
}

extern "C" fn ignore_signal(_: libc::c_int) {}

/// Blocks the handled signals and gives them a no-op handler. The kernel drops signals to
/// PID 1 whose disposition is SIG_DFL, so the handler makes sure they are queued even for a
/// moment when they are not blocked; exec resets both in children.
pub fn setup_signals() {
    let set = handled_signals();
    let action = SigAction::new(
        SigHandler::Handler(ignore_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for s in set.iter() {
        // SAFETY: the handler does nothing, so it is async-signal-safe.
        if let Err(e) = unsafe { sigaction(s, &action) } {
            warning!("sigaction({s}): {}", e.desc());
        }
    }
    if let Err(e) = nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None) {
        error!("cannot block signals: {}", e.desc());
    }
}

/// What a signal to PID 1 asks for, as busybox's halt/poweroff/reboot applets send them
/// (so `reboot` and `poweroff` typed in the rescue shell work): SIGTERM = reboot,
/// SIGUSR2 = power off, SIGUSR1 (halt) = power off too, since a halted box is only useful to
/// someone standing next to it. SIGINT is Ctrl-Alt-Del (after `set_cad_enabled(false)`).
pub fn signal_request(sig: Signal) -> Option<PowerAction> {
    match sig {
        Signal::SIGINT | Signal::SIGTERM => Some(PowerAction::Reboot),
        Signal::SIGUSR1 | Signal::SIGUSR2 | Signal::SIGPWR => Some(PowerAction::Poweroff),
        _ => None,
    }
}

/// Reaps every child that has ended, without blocking.
pub fn reap_all() -> Vec<(Pid, Status)> {
    let mut out = Vec::new();
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => out.push((pid, Status::Exited(code))),
            Ok(WaitStatus::Signaled(pid, sig, _)) => out.push((pid, Status::Signaled(sig as i32))),
            Ok(WaitStatus::StillAlive) => return out,
            Ok(_) => {} // stopped/continued: not an end
            Err(Errno::EINTR) => {}
            Err(_) => return out, // ECHILD: no children at all
        }
    }
}

/// True when PID 1 has no children left (all reaped).
pub fn no_children_left() -> bool {
    matches!(
        waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)),
        Err(Errno::ECHILD)
    )
}

fn log_orphans(reaped: &[(Pid, Status)], except: Option<Pid>) {
    for (pid, status) in reaped {
        if Some(*pid) != except {
            debug!("reaped pid {pid} ({status})");
        }
    }
}

/// Runs a helper (udevadm) to completion with a time limit, output on the console; None if
/// it could not be started or timed out (then it is killed).
pub fn run_sync(argv: &[&str], timeout: Duration) -> Option<Status> {
    let (prog, args) = argv.split_first()?;
    debug!("run: {}", argv.join(" "));
    let child = Command::new(prog)
        .args(args)
        .env_clear()
        .env("PATH", CHILD_PATH_ENV)
        .stdin(Stdio::null())
        .spawn();
    let pid = match child {
        Ok(c) => Pid::from_raw(c.id() as i32),
        Err(e) => {
            warning!("cannot start {prog}: {e}");
            return None;
        }
    };
    let deadline = Instant::now() + timeout;
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return Some(Status::Exited(code)),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Some(Status::Signaled(sig as i32)),
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => {
                warning!("waiting for {prog}: {}", e.desc());
                return None;
            }
        }
        if Instant::now() >= deadline {
            warning!(
                "{} did not finish within {timeout:?}; killed",
                argv.join(" ")
            );
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Opens the UI's terminal, falling back to /dev/console (which the kernel always routes
/// somewhere) when the chosen device is missing.
fn open_terminal(terminal: &Terminal) -> Option<(File, String)> {
    for dev in [terminal.device.as_str(), "/dev/console"] {
        // O_NOCTTY: PID 1 itself must never own a controlling terminal, or Ctrl-C would hit it.
        match OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(dev)
        {
            Ok(f) => return Some((f, dev.to_string())),
            Err(e) => warning!("cannot open {dev}: {e}"),
        }
    }
    None
}

/// Puts the terminal back into a usable cooked mode: a crashed full-screen UI leaves it raw
/// with echo off, and the next program (often the rescue shell) would look dead.
fn sane_terminal(tty: &File, reset_screen: bool) {
    use nix::sys::termios::{tcgetattr, tcsetattr, InputFlags, LocalFlags, OutputFlags, SetArg};
    if let Ok(mut t) = tcgetattr(tty) {
        t.local_flags |= LocalFlags::ICANON
            | LocalFlags::ECHO
            | LocalFlags::ECHOE
            | LocalFlags::ECHOK
            | LocalFlags::ISIG
            | LocalFlags::IEXTEN;
        t.output_flags |= OutputFlags::OPOST | OutputFlags::ONLCR;
        t.input_flags |= InputFlags::ICRNL;
        let _ = tcsetattr(tty, SetArg::TCSANOW, &t);
    }
    if reset_screen {
        // Reset attributes, show the cursor, leave the alternate screen. Only before the
        // shell: a UI redraws everything itself, and the codes clutter serial logs.
        let mut w: &File = tty;
        let _ = std::io::Write::write_all(&mut w, b"\x1b[0m\x1b[?25h\x1b[?1049l\r\n");
    }
}

/// Starts `argv` on the terminal as a session leader with the terminal as its controlling
/// tty, and a clean environment.
fn spawn_on_terminal(argv: &[String], terminal: &Terminal, cfg: &Config) -> Result<Pid, String> {
    let (prog, args) = argv.split_first().ok_or("empty command")?;
    if !std::path::Path::new(prog).exists() {
        return Err(format!("{prog} not found"));
    }
    let (tty, dev) = open_terminal(terminal).ok_or("no terminal to run on")?;
    sane_terminal(&tty, prog == SHELL_PATH);
    let stdio = || tty.try_clone().map(Stdio::from).map_err(|e| e.to_string());
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .env_clear()
        .env("TERM", terminal.term)
        .env("PATH", CHILD_PATH_ENV)
        .env("HOME", "/root")
        .env("WRAITH_TTY", &dev)
        .current_dir("/")
        .stdin(stdio()?)
        .stdout(stdio()?)
        .stderr(stdio()?);
    if cfg.debug {
        cmd.env("WRAITH_DEBUG", "1");
    }
    // SAFETY: only async-signal-safe calls (sigprocmask, setsid, ioctl) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Take the tty as controlling terminal; steal it (arg 1) if a dead session still
            // holds it. Failure is not fatal: the program then runs without job control.
            if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                libc::ioctl(0, libc::TIOCSCTTY, 1);
            }
            Ok(())
        });
    }
    // Logged before the start: the kernel echoes this line on the console, and afterwards it
    // would land in the middle of the UI's first screen.
    info!(
        "starting {} on {dev} (TERM={})",
        argv.join(" "),
        terminal.term
    );
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {prog}: {e}"))?;
    debug!("pid {}", child.id());
    Ok(Pid::from_raw(child.id() as i32))
}

/// How waiting for a child ended.
enum Ended {
    Child(Status),
    Power(PowerAction),
}

/// Waits for `child` to end, reaping orphans meanwhile; a power signal cuts the wait short
/// (the shutdown then kills the child with everything else).
fn wait_for(child: Pid) -> Ended {
    let set = handled_signals();
    loop {
        let reaped = reap_all();
        log_orphans(&reaped, Some(child));
        if let Some((_, status)) = reaped.iter().find(|(p, _)| *p == child) {
            return Ended::Child(*status);
        }
        match set.wait() {
            Ok(Signal::SIGCHLD) => {}
            Ok(sig) => match signal_request(sig) {
                Some(action) => {
                    info!("{sig} received: {}", action.name());
                    return Ended::Power(action);
                }
                None => debug!("{sig} ignored"),
            },
            Err(e) => {
                // sigwait cannot really fail with a valid set; do not spin if it does.
                warning!("sigwait: {}", e.desc());
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Runs a child on the terminal and waits for it, with console echo off meanwhile.
fn run_child(argv: &[String], terminal: &Terminal, cfg: &Config) -> Result<Ended, String> {
    let pid = spawn_on_terminal(argv, terminal, cfg)?;
    log::set_console_echo(false);
    let ended = wait_for(pid);
    log::set_console_echo(true);
    if let Ended::Child(status) = ended {
        info!("{} ended ({status})", argv.join(" "));
    }
    Ok(ended)
}

/// Waits without a child (nothing could be started): reaps and honours power signals.
fn idle(for_how_long: Duration) -> Option<PowerAction> {
    let deadline = Instant::now() + for_how_long;
    while Instant::now() < deadline {
        log_orphans(&reap_all(), None);
        if let Some(action) = pending_power_signal() {
            return Some(action);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// Takes any pending handled signal without blocking (sigtimedwait with a zero timeout).
fn pending_power_signal() -> Option<PowerAction> {
    let set = handled_signals();
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    loop {
        // SAFETY: valid set and timespec; a null siginfo pointer is allowed.
        let sig = unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &zero) };
        if sig <= 0 {
            return None;
        }
        if let Some(action) = Signal::try_from(sig).ok().and_then(signal_request) {
            return Some(action);
        }
    }
}

/// The supervision loop: returns only to power off or reboot.
pub fn supervise(cfg: &Config, first: Step) -> PowerAction {
    let terminal = cmdline::choose_terminal(cfg.console, &cfg.kernel_consoles);
    let started = Instant::now();
    let mut crashes: Vec<Duration> = Vec::new();
    let mut step = first;
    loop {
        step = match step {
            Step::Power(action) => return action,
            Step::Job(job) => {
                let argv = cmdline::ui_argv(UI_PATH, Some(&job));
                match run_child(&argv, &terminal, cfg) {
                    Ok(Ended::Power(a)) => return a,
                    Ok(Ended::Child(status)) => {
                        let next = after_job(status, cfg);
                        log::console_line(&format!(
                            "WRAITH-JOB-EXIT {status} next={}",
                            step_name(&next)
                        ));
                        next
                    }
                    Err(e) => {
                        error!("job: {e}");
                        log::console_line(&format!(
                            "WRAITH-JOB-EXIT not-started next={}",
                            step_name(&after_to_step(cfg.after_failure()))
                        ));
                        after_to_step(cfg.after_failure())
                    }
                }
            }
            Step::Ui => {
                // Warnings and worse only: a notice (the kernel's "random: crng init done"
                // comes seconds after boot, as the UI draws) scrolls the screen behind the
                // UI's back, which then draws on rows that moved.
                crate::log::set_kernel_console_level(5);
                let ended = run_child(&[UI_PATH.to_string()], &terminal, cfg);
                match ended {
                    Ok(Ended::Power(a)) => return a,
                    Ok(Ended::Child(status)) => {
                        let now = started.elapsed();
                        if is_abnormal(status) {
                            crashes.push(now);
                            crashes.retain(|&t| now.saturating_sub(t) <= CRASH_WINDOW);
                        }
                        let next = after_ui(status, &crashes, now);
                        if next == Step::Shell && is_abnormal(status) {
                            warning!(
                                "the UI failed {} times within {} s; starting the rescue shell",
                                crashes.len(),
                                CRASH_WINDOW.as_secs()
                            );
                        } else if next == Step::Ui && is_abnormal(status) {
                            // A short pause keeps a UI that dies at once from spinning the CPU.
                            if let Some(a) = idle(Duration::from_millis(500)) {
                                return a;
                            }
                        }
                        next
                    }
                    Err(e) => {
                        error!("UI: {e}; starting the rescue shell");
                        Step::Shell
                    }
                }
            }
            Step::Shell => {
                crashes.clear();
                let shell_started = Instant::now();
                match run_child(&[SHELL_PATH.to_string()], &terminal, cfg) {
                    Ok(Ended::Power(a)) => return a,
                    // Leaving the shell goes back to the UI; a shell that dies at once (no
                    // terminal input) must not spin the CPU when the UI is missing too.
                    Ok(Ended::Child(_)) => {
                        if shell_started.elapsed() < Duration::from_secs(2) {
                            if let Some(a) = idle(Duration::from_secs(1)) {
                                return a;
                            }
                        }
                        Step::Ui
                    }
                    Err(e) => {
                        error!("rescue shell: {e}; retrying in 5 s");
                        if let Some(a) = idle(Duration::from_secs(5)) {
                            return a;
                        }
                        Step::Ui
                    }
                }
            }
        };
    }
}

fn step_name(step: &Step) -> &'static str {
    match step {
        Step::Ui | Step::Job(_) => "ui",
        Step::Shell => "shell",
        Step::Power(a) => a.name(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn ui_quitting_normally_restarts_it() {
        assert_eq!(after_ui(Status::Exited(0), &[], s(5)), Step::Ui);
    }

    #[test]
    fn ui_exit_codes_request_power_actions_and_shell() {
        assert_eq!(
            after_ui(Status::Exited(100), &[], s(1)),
            Step::Power(PowerAction::Poweroff)
        );
        assert_eq!(
            after_ui(Status::Exited(101), &[], s(1)),
            Step::Power(PowerAction::Reboot)
        );
        assert_eq!(after_ui(Status::Exited(102), &[], s(1)), Step::Shell);
    }

    #[test]
    fn three_crashes_restart_the_fourth_within_30_s_gives_the_shell() {
        let crash = Status::Exited(1);
        assert_eq!(after_ui(crash, &[s(1)], s(1)), Step::Ui);
        assert_eq!(after_ui(crash, &[s(1), s(2), s(3)], s(3)), Step::Ui);
        assert_eq!(
            after_ui(Status::Signaled(11), &[s(1), s(2), s(3), s(4)], s(4)),
            Step::Shell
        );
    }

    #[test]
    fn crashes_spread_over_more_than_30_s_keep_restarting() {
        let crashes = [s(0), s(15), s(31), s(45)];
        assert_eq!(after_ui(Status::Exited(2), &crashes, s(45)), Step::Ui);
        let crashes = [s(15), s(31), s(40), s(45)];
        assert_eq!(after_ui(Status::Exited(2), &crashes, s(45)), Step::Shell);
    }

    #[test]
    fn requests_and_normal_exit_are_not_crashes() {
        assert!(!is_abnormal(Status::Exited(0)));
        assert!(!is_abnormal(Status::Exited(EXIT_SHELL)));
        assert!(is_abnormal(Status::Exited(2)));
        assert!(is_abnormal(Status::Signaled(9)));
    }

    #[test]
    fn job_success_follows_wraith_after_defaulting_to_poweroff() {
        let cfg = cmdline::parse("");
        assert_eq!(
            after_job(Status::Exited(0), &cfg),
            Step::Power(PowerAction::Poweroff)
        );
        let cfg = cmdline::parse("wraith.after=reboot");
        assert_eq!(
            after_job(Status::Exited(0), &cfg),
            Step::Power(PowerAction::Reboot)
        );
        let cfg = cmdline::parse("wraith.after=shell");
        assert_eq!(after_job(Status::Exited(0), &cfg), Step::Shell);
    }

    #[test]
    fn job_exit_code_request_beats_wraith_after() {
        let cfg = cmdline::parse("wraith.after=poweroff");
        assert_eq!(
            after_job(Status::Exited(EXIT_REBOOT), &cfg),
            Step::Power(PowerAction::Reboot)
        );
        assert_eq!(after_job(Status::Exited(EXIT_SHELL), &cfg), Step::Shell);
    }

    #[test]
    fn job_failure_follows_onfail_defaulting_to_shell() {
        let cfg = cmdline::parse("wraith.after=poweroff");
        assert_eq!(after_job(Status::Exited(2), &cfg), Step::Shell);
        assert_eq!(after_job(Status::Signaled(9), &cfg), Step::Shell);
        let cfg = cmdline::parse("wraith.onfail=poweroff");
        assert_eq!(
            after_job(Status::Exited(1), &cfg),
            Step::Power(PowerAction::Poweroff)
        );
    }

    #[test]
    fn busybox_signals_map_to_power_actions() {
        assert_eq!(signal_request(Signal::SIGTERM), Some(PowerAction::Reboot));
        assert_eq!(signal_request(Signal::SIGINT), Some(PowerAction::Reboot));
        assert_eq!(signal_request(Signal::SIGUSR2), Some(PowerAction::Poweroff));
        assert_eq!(signal_request(Signal::SIGUSR1), Some(PowerAction::Poweroff));
        assert_eq!(signal_request(Signal::SIGHUP), None);
        assert_eq!(signal_request(Signal::SIGCHLD), None);
    }
}

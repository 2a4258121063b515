//! Logging to /dev/kmsg (so `dmesg` has the whole boot story) and to the console.
//!
//! Each line goes to the kernel log with its level. We write a console copy only when the
//! kernel will not print that kmsg line itself (its level is at or above the console
//! loglevel), so a default boot does not show every line twice. Under `quiet` only warnings
//! and errors reach the console. While a child owns the console (the UI or a
//! shell), console echo is off: our lines would tear a full-screen UI.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 3,
    Warn = 4,
    Info = 6,
    Debug = 7,
}

struct State {
    kmsg: Option<File>,
    /// The kernel's console_loglevel: kmsg lines with a lower level are printed by the kernel.
    console_loglevel: u8,
    echo: bool,
    quiet: bool,
    debug: bool,
}

static STATE: Mutex<State> = Mutex::new(State {
    kmsg: None,
    // Until /proc is mounted assume the kernel default (7): info lines print themselves.
    console_loglevel: 7,
    echo: true,
    quiet: false,
    debug: false,
});

fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    // A poisoned lock only means a panic happened while logging; the state is still usable,
    // and PID 1 must keep logging whatever happened.
    let mut guard = match STATE.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    f(&mut guard)
}

/// (Re)opens /dev/kmsg once devtmpfs is mounted, and lifts the kernel's per-writer rate
/// limit (10 lines per 5 s by default) which would otherwise swallow most of the boot log.
pub fn open_kmsg() {
    let _ = std::fs::write("/proc/sys/kernel/printk_devkmsg", "on\n");
    let level = std::fs::read_to_string("/proc/sys/kernel/printk")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u8>().ok());
    let kmsg = OpenOptions::new().write(true).open("/dev/kmsg").ok();
    with_state(|s| {
        if kmsg.is_some() {
            s.kmsg = kmsg;
        }
        if let Some(l) = level {
            s.console_loglevel = l;
        }
    });
}

/// Sets which kernel messages reach the console (syslog(2) CONSOLE_LEVEL): while the UI owns
/// the screen, informational lines and notices (ours included, e.g. a DHCP lease) would
/// scroll it, so only warnings and worse are printed; our own copy follows the same level.
pub fn set_kernel_console_level(level: u8) {
    // SAFETY: SYSLOG_ACTION_CONSOLE_LEVEL (8) takes no buffer.
    let ok = unsafe { libc::klogctl(8, std::ptr::null_mut(), i32::from(level)) } == 0;
    if ok {
        with_state(|s| s.console_loglevel = level);
    }
}

pub fn set_flags(quiet: bool, debug: bool) {
    with_state(|s| {
        s.quiet = quiet;
        s.debug = debug;
    });
}

/// Turns our console copy off while a child owns the terminal, and back on afterwards.
pub fn set_console_echo(on: bool) {
    with_state(|s| s.echo = on);
}

pub fn log(level: Level, args: fmt::Arguments<'_>) {
    let msg = args.to_string();
    with_state(|s| {
        if level == Level::Debug && !s.debug {
            return;
        }
        let lvl = level as u8;
        if let Some(k) = s.kmsg.as_mut() {
            // One write() per record: /dev/kmsg takes each write as one log line.
            let _ = k.write_all(format!("<{lvl}>wraith-init: {msg}\n").as_bytes());
        }
        let kernel_prints_it = s.kmsg.is_some() && lvl < s.console_loglevel;
        let wanted = !s.quiet || level <= Level::Warn;
        if s.echo && wanted && !kernel_prints_it {
            console_write(&format!("{} wraith-init: {msg}\n", timestamp()));
        }
    });
}

/// A machine-readable line (`WRAITH-READY ...`): always on the console, exactly as given at
/// the start of a line, whatever the echo state; also in the kernel log at notice level, so
/// the kernel shows it on every other console too (a serial port watched by a test or a
/// technician while the UI runs on the screen).
pub fn console_line(line: &str) {
    with_state(|s| {
        if let Some(k) = s.kmsg.as_mut() {
            let _ = k.write_all(format!("<5>wraith-init: {line}\n").as_bytes());
        }
    });
    console_write(&format!("{line}\n"));
}

/// Writes to fd 2, which the kernel (or boot::fix_stdio) connected to /dev/console. Plain
/// write(2) on the raw fd: no buffering to lose, and usable from the panic hook.
pub fn console_write(text: &str) {
    let mut rest = text.as_bytes();
    while !rest.is_empty() {
        // SAFETY: writes from a valid buffer of the given length to fd 2.
        let n = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        rest = rest.get(n as usize..).unwrap_or_default();
    }
}

/// Used by the panic hook: logs without waiting for the lock, which the panicking code may
/// hold (waiting would hang PID 1 forever).
pub fn emergency(msg: &str) {
    let line = format!("wraith-init: {msg}");
    if let Ok(mut s) = STATE.try_lock() {
        if let Some(k) = s.kmsg.as_mut() {
            let _ = k.write_all(format!("<2>{line}\n").as_bytes());
        }
    }
    console_write(&format!("{} {line}\n", timestamp()));
}

/// Seconds since boot (CLOCK_BOOTTIME, the clock of the kernel's own timestamps).
pub fn uptime_secs() -> f64 {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME) {
        Ok(t) => t.tv_sec() as f64 + t.tv_nsec() as f64 / 1e9,
        Err(_) => 0.0,
    }
}

/// `[    3.141592]`, the kernel's own format, so our lines line up with dmesg output.
fn timestamp() -> String {
    format!("[{:12.6}]", uptime_secs())
}

macro_rules! info {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Info, format_args!($($arg)*)) };
}
macro_rules! warning {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Warn, format_args!($($arg)*)) };
}
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Error, format_args!($($arg)*)) };
}
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Debug, format_args!($($arg)*)) };
}
pub(crate) use {debug, error, info, warning};

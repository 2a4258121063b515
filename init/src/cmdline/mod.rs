//! The kernel command line turned into a [`Config`]. Pure: no I/O, so every rule is pinned by a
//! unit test and can be tried from a shell with `wraith-init --dry-run-cmdline "..."`.
//!
//! Its parts: [`wraith_live::cmdline`] splits the line into parameters as the kernel does; this module
//! applies them to a [`Config`]; [`job`] is what a job parameter means and how `wraith job` is
//! started; [`terminal`] picks the UI's console and TERM; [`json`] shows a [`Config`] for
//! `--dry-run-cmdline`.
//!
//! Grammar (see also init/README.md):
//! - The line is split into parameters the way the kernel does it ([`wraith_live::cmdline`]).
//! - `wraith.*` parameters configure the init; unknown ones give a warning, never a failure,
//!   because a typo in a boot menu must still boot into something usable.
//! - A repeated key: the last one wins (like the kernel's own `console=` choice of
//!   /dev/console).
//! - `console=` values are collected (the last one is /dev/console); `quiet` is noted.

pub mod job;
pub mod json;
pub mod terminal;

pub use job::{inline_job_fields, ui_argv, InlineError, JobSource};
pub use json::to_json;
pub use terminal::{choose_terminal, Terminal};
pub use wraith_live::cmdline::split_params;

use crate::net::config::{self as netcfg, NetMode};
use job::is_http_url;

/// Seconds to wait for late disks when `wraith.wait` is not given: a USB stick appears about
/// 1.2 s after init starts (usb-storage `delay_use` = 1 s), so 3 s leaves a margin.
pub const DEFAULT_WAIT_MS: u64 = 3_000;
/// Upper bound for `wraith.wait`: a larger value is almost certainly a typo (ms for s).
pub const MAX_WAIT_MS: u64 = 600_000;
/// How long a job that needs the network waits for an address when `wraith.netwait` is not
/// given: DHCP answers in a second, but a switch port running spanning tree forwards only
/// after 30 s.
pub const DEFAULT_NET_WAIT_MS: u64 = 60_000;

/// `wraith.console=`: which kind of terminal the UI should run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleKind {
    Tty,
    Serial,
}

/// What to do when a job has ended (`wraith.after=`, `wraith.onfail=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    Poweroff,
    Reboot,
    Shell,
}

impl After {
    pub fn name(self) -> &'static str {
        match self {
            After::Poweroff => "poweroff",
            After::Reboot => "reboot",
            After::Shell => "shell",
        }
    }

    fn parse(value: &str) -> Option<After> {
        match value {
            "poweroff" | "off" | "halt" => Some(After::Poweroff),
            "reboot" => Some(After::Reboot),
            "shell" => Some(After::Shell),
            _ => None,
        }
    }
}

/// Everything the init takes from the kernel command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub job: Option<JobSource>,
    pub console: Option<ConsoleKind>,
    /// `wraith.shell`: start the rescue shell instead of the UI.
    pub shell: bool,
    /// `wraith.debug`: more init logging; `WRAITH_DEBUG=1` for the UI.
    pub debug: bool,
    /// Kernel `quiet`: only warnings and the machine-readable lines on the console.
    pub quiet: bool,
    /// `wraith.wait=<seconds>` in milliseconds.
    pub wait_ms: u64,
    /// `wraith.after=`: after a successful job (default: power off).
    pub after: Option<After>,
    /// `wraith.onfail=`: after a failed job (default: rescue shell).
    pub onfail: Option<After>,
    /// `wraith.net=`: DHCP (default), off, or a static address (see net/config.rs).
    pub net: NetMode,
    /// `wraith.netwait=<seconds>` in milliseconds: how long a job that needs the network
    /// waits for an address before it starts anyway.
    pub net_wait_ms: u64,
    /// Every `console=` value in order; the last one is /dev/console.
    pub kernel_consoles: Vec<String>,
    /// Problems found while parsing; logged at boot, never fatal.
    pub warnings: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            job: None,
            console: None,
            shell: false,
            debug: false,
            quiet: false,
            wait_ms: DEFAULT_WAIT_MS,
            after: None,
            onfail: None,
            net: NetMode::default(),
            net_wait_ms: DEFAULT_NET_WAIT_MS,
            kernel_consoles: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

impl Config {
    /// What to do after a job that succeeded: power off unless told otherwise, because an
    /// unattended machine left running looks like one that is still working.
    pub fn after_success(&self) -> After {
        self.after.unwrap_or(After::Poweroff)
    }

    /// What to do after a job that failed: the rescue shell, so the failure stays on screen.
    pub fn after_failure(&self) -> After {
        self.onfail.unwrap_or(After::Shell)
    }
}
/// Parses a whole command line (the contents of /proc/cmdline).
pub fn parse(line: &str) -> Config {
    let mut cfg = Config::default();
    for (name, value) in split_params(line) {
        if name == "console" {
            match value {
                Some(v) if !v.is_empty() => cfg.kernel_consoles.push(v),
                _ => {}
            }
            continue;
        }
        if name == "quiet" {
            cfg.quiet = true;
            continue;
        }
        if let Some(key) = name.strip_prefix("wraith.") {
            apply_wraith_param(&mut cfg, key, value);
        }
    }
    cfg
}

fn apply_wraith_param(cfg: &mut Config, key: &str, value: Option<String>) {
    let warn = |cfg: &mut Config, msg: String| cfg.warnings.push(msg);
    match key {
        "job" | "run" => {
            let Some(value) = value.filter(|v| !v.is_empty()) else {
                warn(cfg, format!("wraith.{key} needs a value; ignored"));
                return;
            };
            let new = if key == "job" {
                if !(value.starts_with('/') || is_http_url(&value)) {
                    warn(
                        cfg,
                        format!("wraith.job={value} is neither an absolute path nor an http(s) URL; passed on as given"),
                    );
                }
                JobSource::File(value)
            } else {
                // Said at boot, where it can be fixed; `wraith job` refuses it with the same
                // words (one tokenizer, wraith_live::inline).
                if let Err(e) = inline_job_fields(&value) {
                    warn(cfg, format!("wraith.run: {e}"));
                }
                JobSource::Inline(value)
            };
            match (&cfg.job, &new) {
                (Some(JobSource::File(_)), JobSource::Inline(_))
                | (Some(JobSource::Inline(_)), JobSource::File(_)) => warn(
                    cfg,
                    format!("both wraith.job and wraith.run given; the later wraith.{key} wins"),
                ),
                _ => {}
            }
            cfg.job = Some(new);
        }
        "console" => match value.as_deref() {
            Some("tty") => cfg.console = Some(ConsoleKind::Tty),
            Some("serial") => cfg.console = Some(ConsoleKind::Serial),
            other => warn(
                cfg,
                format!(
                    "wraith.console={} is not tty or serial; ignored",
                    other.unwrap_or("")
                ),
            ),
        },
        "shell" | "debug" => match parse_flag(value.as_deref()) {
            Some(on) if key == "shell" => cfg.shell = on,
            Some(on) => cfg.debug = on,
            None => warn(
                cfg,
                format!(
                    "wraith.{key}={} is not a yes/no value; ignored",
                    value.unwrap_or_default()
                ),
            ),
        },
        "wait" => match value.as_deref().and_then(parse_seconds_ms) {
            Some(ms) => cfg.wait_ms = ms,
            None => warn(
                cfg,
                format!(
                    "wraith.wait={} is not a number of seconds (0 to {}); using {} s",
                    value.unwrap_or_default(),
                    MAX_WAIT_MS / 1000,
                    cfg.wait_ms as f64 / 1000.0
                ),
            ),
        },
        "after" | "onfail" => match value.as_deref().and_then(After::parse) {
            Some(a) if key == "after" => cfg.after = Some(a),
            Some(a) => cfg.onfail = Some(a),
            None => warn(
                cfg,
                format!(
                    "wraith.{key}={} is not poweroff, reboot or shell; ignored",
                    value.unwrap_or_default()
                ),
            ),
        },
        "net" => match netcfg::parse(value.as_deref().unwrap_or_default()) {
            Ok(mode) => cfg.net = mode,
            Err(e) => warn(
                cfg,
                format!("wraith.net={}: {e}; using dhcp", value.unwrap_or_default()),
            ),
        },
        "netwait" => match value.as_deref().and_then(parse_seconds_ms) {
            Some(ms) => cfg.net_wait_ms = ms,
            None => warn(
                cfg,
                format!(
                    "wraith.netwait={} is not a number of seconds (0 to {}); using {} s",
                    value.unwrap_or_default(),
                    MAX_WAIT_MS / 1000,
                    cfg.net_wait_ms / 1000
                ),
            ),
        },
        // For the UI, which reads it from /proc/cmdline and offers it on the repository list
        // (it may be given more than once). Only an empty one is worth a word at boot.
        "repo" => {
            if value.as_deref().is_none_or(|v| v.trim().is_empty()) {
                warn(
                    cfg,
                    "wraith.repo needs a location (smb://host/share/dir, label:IMAGES/dir …); \
                     ignored"
                        .to_string(),
                );
            }
        }
        _ => warn(cfg, format!("unknown parameter wraith.{key}; ignored")),
    }
}

/// A bare flag means yes; explicit values follow the usual boot-parameter spellings.
fn parse_flag(value: Option<&str>) -> Option<bool> {
    match value {
        None | Some("") => Some(true),
        Some("1" | "y" | "yes" | "true" | "on") => Some(true),
        Some("0" | "n" | "no" | "false" | "off") => Some(false),
        Some(_) => None,
    }
}

/// "3", "1.5", "0" seconds → milliseconds, rejecting negatives, NaN and absurd values.
fn parse_seconds_ms(value: &str) -> Option<u64> {
    let secs: f64 = value.trim_end_matches('s').parse().ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    let ms = (secs * 1000.0).round();
    if ms > MAX_WAIT_MS as f64 {
        return None;
    }
    Some(ms as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_example_line() {
        let cfg = parse(
            r#"BOOT_IMAGE=/boot/bzImage console=tty0 console=ttyS0,115200 quiet wraith.run="action=clone source=serial:ABC target=rule:only-internal after=poweroff" wraith.wait=5 wraith.after=reboot wraith.debug wraith.net=dhcp"#,
        );
        assert_eq!(
            cfg.job,
            Some(JobSource::Inline(
                "action=clone source=serial:ABC target=rule:only-internal after=poweroff".into()
            ))
        );
        assert_eq!(cfg.wait_ms, 5000);
        assert_eq!(cfg.after, Some(After::Reboot));
        assert!(cfg.debug);
        assert!(cfg.quiet);
        assert!(!cfg.shell);
        assert_eq!(cfg.net, NetMode::Dhcp { iface: None });
        assert_eq!(cfg.kernel_consoles, vec!["tty0", "ttyS0,115200"]);
        assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    }

    #[test]
    fn blank_lines_give_the_defaults() {
        assert_eq!(parse(""), Config::default());
        assert_eq!(parse("\n").wait_ms, DEFAULT_WAIT_MS);
    }

    #[test]
    fn job_file_path_and_url_are_kept_as_strings() {
        assert_eq!(
            parse("wraith.job=/jobs/clone.toml").job,
            Some(JobSource::File("/jobs/clone.toml".into()))
        );
        let cfg = parse("wraith.job=http://10.0.2.2:8080/job.toml?host=a&x=%20");
        assert_eq!(
            cfg.job,
            Some(JobSource::File(
                "http://10.0.2.2:8080/job.toml?host=a&x=%20".into()
            ))
        );
        assert!(cfg.warnings.is_empty());
    }

    #[test]
    fn relative_job_path_warns_but_is_passed_on() {
        let cfg = parse("wraith.job=job.toml");
        assert_eq!(cfg.job, Some(JobSource::File("job.toml".into())));
        assert_eq!(cfg.warnings.len(), 1);
    }

    #[test]
    fn job_without_value_is_ignored_with_a_warning() {
        for line in ["wraith.job", "wraith.job=", "wraith.run=\"\""] {
            let cfg = parse(line);
            assert_eq!(cfg.job, None, "{line}");
            assert_eq!(cfg.warnings.len(), 1, "{line}");
        }
    }

    #[test]
    fn repeated_keys_last_wins() {
        let cfg = parse("wraith.wait=1 wraith.after=shell wraith.wait=7 wraith.after=poweroff");
        assert_eq!(cfg.wait_ms, 7000);
        assert_eq!(cfg.after, Some(After::Poweroff));
        let cfg = parse("wraith.job=/a wraith.job=/b");
        assert_eq!(cfg.job, Some(JobSource::File("/b".into())));
        assert!(cfg.warnings.is_empty());
        let cfg = parse("wraith.shell wraith.shell=0");
        assert!(!cfg.shell);
    }

    #[test]
    fn an_inline_job_that_will_not_split_warns_at_boot_and_is_still_passed_on() {
        let cfg = parse("wraith.run=action=verify;repo=/x;image=a;verify");
        assert!(matches!(cfg.job, Some(JobSource::Inline(_))));
        assert_eq!(cfg.warnings.len(), 1, "{:?}", cfg.warnings);
        assert!(cfg.warnings[0].contains("`verify` is not key=value"));
    }

    #[test]
    fn job_and_run_together_later_wins_with_a_warning() {
        let cfg = parse("wraith.job=/a wraith.run=action=list");
        assert_eq!(cfg.job, Some(JobSource::Inline("action=list".into())));
        assert_eq!(cfg.warnings.len(), 1);
    }

    #[test]
    fn unknown_wraith_params_warn_and_others_are_ignored() {
        let cfg = parse("wraith.frobnicate=1 wraith.wiat=3 root=/dev/sda1 init=/init single");
        assert_eq!(cfg.warnings.len(), 2);
        assert!(cfg.warnings[0].contains("wraith.frobnicate"));
        assert_eq!(cfg.wait_ms, DEFAULT_WAIT_MS);
    }

    #[test]
    fn repositories_for_the_ui_are_known_parameters() {
        let cfg = parse("wraith.repo=smb://tech@10.0.2.2/images wraith.repo=label:IMAGES/lab");
        assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
        let cfg = parse("wraith.repo wraith.repo=");
        assert_eq!(cfg.warnings.len(), 2, "{:?}", cfg.warnings);
        assert!(cfg.warnings[0].contains("needs a location"));
    }

    #[test]
    fn bad_values_warn_and_keep_defaults() {
        let cfg = parse(
            "wraith.wait=soon wraith.wait=-1 wraith.wait=9999 wraith.after=explode wraith.console=vga wraith.shell=maybe",
        );
        assert_eq!(cfg.warnings.len(), 6, "{:?}", cfg.warnings);
        assert_eq!(cfg.wait_ms, DEFAULT_WAIT_MS);
        assert_eq!(cfg.after, None);
        assert_eq!(cfg.console, None);
        assert!(!cfg.shell);
    }

    #[test]
    fn wait_accepts_fractions_zero_and_a_seconds_suffix() {
        assert_eq!(parse("wraith.wait=1.5").wait_ms, 1500);
        assert_eq!(parse("wraith.wait=0").wait_ms, 0);
        assert_eq!(parse("wraith.wait=10s").wait_ms, 10_000);
    }

    #[test]
    fn flags_accept_yes_no_spellings() {
        assert!(parse("wraith.shell").shell);
        assert!(parse("wraith.shell=yes").shell);
        assert!(parse("wraith.debug=1").debug);
        assert!(!parse("wraith.debug=off").debug);
    }

    #[test]
    fn console_and_after_values() {
        assert_eq!(
            parse("wraith.console=serial").console,
            Some(ConsoleKind::Serial)
        );
        assert_eq!(parse("wraith.console=tty").console, Some(ConsoleKind::Tty));
        let cfg = parse("wraith.after=shell wraith.onfail=reboot");
        assert_eq!(cfg.after_success(), After::Shell);
        assert_eq!(cfg.after_failure(), After::Reboot);
        let cfg = parse("");
        assert_eq!(cfg.after_success(), After::Poweroff);
        assert_eq!(cfg.after_failure(), After::Shell);
    }

    #[test]
    fn net_modes_and_bad_values() {
        assert_eq!(parse("wraith.net").net, NetMode::Dhcp { iface: None });
        assert_eq!(parse("wraith.net=off").net, NetMode::Off);
        let cfg = parse("wraith.net=static:10.1.2.3/16,gw=10.1.0.1,dns=10.1.0.2 wraith.netwait=5");
        assert!(
            matches!(cfg.net, NetMode::Static(ref s) if s.prefix == 16),
            "{:?}",
            cfg.net
        );
        assert_eq!(cfg.net_wait_ms, 5000);
        assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
        // A typo keeps the default (DHCP) and says what was wrong.
        let cfg = parse("wraith.net=eth0:dhcp wraith.netwait=forever");
        assert_eq!(cfg.net, NetMode::Dhcp { iface: None });
        assert_eq!(cfg.net_wait_ms, DEFAULT_NET_WAIT_MS);
        assert_eq!(cfg.warnings.len(), 2, "{:?}", cfg.warnings);
        assert!(cfg.warnings[0].contains("eth0:dhcp"));
    }
}

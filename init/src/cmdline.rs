//! The kernel command line turned into a [`Config`]. Pure: no I/O, so every rule is pinned by a
//! unit test and can be tried from a shell with `wraith-init --dry-run-cmdline "..."`.
//!
//! Grammar (see also init/README.md):
//! - The line is split into parameters the way the kernel does it (`next_arg` in
//!   lib/cmdline.c): whitespace separates parameters except inside double quotes; a value that
//!   starts with `"` loses that quote and one trailing quote, as does a parameter that starts
//!   with `"` (`"wraith.run=a b"`). Quotes cannot be escaped: a value cannot contain `"`.
//! - `wraith.*` parameters configure the init; unknown ones give a warning, never a failure,
//!   because a typo in a boot menu must still boot into something usable.
//! - A repeated key: the last one wins (like the kernel's own `console=` choice of
//!   /dev/console).
//! - `console=` values are collected (the last one is /dev/console); `quiet` is noted.

use std::fmt::Write as _;

use crate::net::config::{self as netcfg, NetMode};

/// Seconds to wait for late disks when `wraith.wait` is not given: a USB stick appears about
/// 1.2 s after init starts (usb-storage `delay_use` = 1 s), so 3 s leaves a margin.
pub const DEFAULT_WAIT_MS: u64 = 3_000;
/// Upper bound for `wraith.wait`: a larger value is almost certainly a typo (ms for s).
pub const MAX_WAIT_MS: u64 = 600_000;
/// How long a job that needs the network waits for an address when `wraith.netwait` is not
/// given: DHCP answers in a second, but a switch port running spanning tree forwards only
/// after 30 s.
pub const DEFAULT_NET_WAIT_MS: u64 = 60_000;

/// Where an unattended job comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobSource {
    /// `wraith.job=`: an absolute path (boot medium or USB stick) or an http(s) URL, passed
    /// through as given; the `wraith job` subcommand fetches it.
    File(String),
    /// `wraith.run=`: the job text itself (see [`inline_job_fields`]).
    Inline(String),
}

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

/// Splits a command line into `(name, value)` pairs with the kernel's quoting rules.
pub fn split_params(line: &str) -> Vec<(String, Option<String>)> {
    let mut params = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return params;
        }
        let mut token = String::new();
        let mut in_quote = false;
        while let Some(&c) = chars.peek() {
            if c.is_ascii_whitespace() && !in_quote {
                break;
            }
            if c == '"' {
                in_quote = !in_quote;
            }
            token.push(c);
            chars.next();
        }
        params.push(unquote_param(&token));
    }
}

/// One raw token (quotes still in it) to a name and an optional value, as the kernel does.
fn unquote_param(token: &str) -> (String, Option<String>) {
    let (quoted, body) = match token.strip_prefix('"') {
        Some(rest) => (true, rest),
        None => (false, token),
    };
    let ends_with_quote = body.ends_with('"');
    match body.split_once('=') {
        Some((name, value)) => {
            // The kernel removes at most one trailing quote, whether the quote opened the
            // value or the whole parameter.
            let value = match value.strip_prefix('"') {
                Some(v) if ends_with_quote => strip_last_quote(v),
                Some(v) => v,
                None if quoted && ends_with_quote => strip_last_quote(value),
                None => value,
            };
            (name.to_string(), Some(value.to_string()))
        }
        None => {
            let name = if quoted && ends_with_quote {
                strip_last_quote(body)
            } else {
                body
            };
            (name.to_string(), None)
        }
    }
}

fn strip_last_quote(s: &str) -> &str {
    s.strip_suffix('"').unwrap_or(s)
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
        _ => warn(cfg, format!("unknown parameter wraith.{key}; ignored")),
    }
}

fn is_http_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
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

/// The inline job encoding (`wraith.run=`), a reference for the `wraith job` subcommand which
/// owns the job format: fields are separated by whitespace or `;` (so a job fits in one
/// unquoted parameter: `wraith.run=action=clone;source=serial:ABC`), each field is
/// `key=value`, and values are percent-decoded after splitting (`%20` space, `%22` quote,
/// `%3B` semicolon, `%25` percent). A field without `=` gets an empty value.
pub fn inline_job_fields(text: &str) -> Vec<(String, String)> {
    text.split(|c: char| c.is_ascii_whitespace() || c == ';')
        .filter(|f| !f.is_empty())
        .map(|field| match field.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(field), String::new()),
        })
        .collect()
}

/// `%XX` → byte; malformed escapes stay as they are, so a stray `%` is not an error.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            // Checked digit by digit: from_str_radix would also accept a sign ("%+1").
            let hex = bytes
                .get(i + 1..i + 3)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The terminal the UI runs on and the TERM it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminal {
    pub device: String,
    pub term: &'static str,
}

/// Picks the UI's terminal. A real device rather than /dev/console, because /dev/console
/// cannot be a controlling terminal on open, and job control (Ctrl-C in the UI or shell)
/// needs one. `wraith.console` overrides; otherwise the last `console=` (= /dev/console)
/// decides; with none, the kernel uses the first virtual terminal.
pub fn choose_terminal(wanted: Option<ConsoleKind>, kernel_consoles: &[String]) -> Terminal {
    let names: Vec<&str> = kernel_consoles
        .iter()
        .map(|c| c.split(',').next().unwrap_or(""))
        .collect();
    let vt = |name: &str| match name {
        "tty" | "tty0" => "/dev/tty1".to_string(),
        other => format!("/dev/{other}"),
    };
    let linux = |device: String| Terminal {
        device,
        term: "linux",
    };
    let serial = |device: String| Terminal {
        device,
        term: "vt100",
    };
    match wanted {
        Some(ConsoleKind::Serial) => serial(
            names
                .iter()
                .rev()
                .find(|n| console_class(n) == Class::Serial)
                .map_or("/dev/ttyS0".to_string(), |n| format!("/dev/{n}")),
        ),
        Some(ConsoleKind::Tty) => linux(
            names
                .iter()
                .rev()
                .find(|n| console_class(n) == Class::Vt)
                .map_or("/dev/tty1".to_string(), |n| vt(n)),
        ),
        None => match names.last() {
            None => linux("/dev/tty1".to_string()),
            Some(n) => match console_class(n) {
                Class::Vt => linux(vt(n)),
                Class::Serial => serial(format!("/dev/{n}")),
                // Unknown console drivers: let the kernel route /dev/console; vt100 is the
                // TERM that degrades most gracefully.
                Class::Other => serial("/dev/console".to_string()),
            },
        },
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Class {
    Vt,
    Serial,
    Other,
}

fn console_class(name: &str) -> Class {
    if let Some(rest) = name.strip_prefix("tty") {
        if rest.is_empty() || rest.bytes().all(|b| b.is_ascii_digit()) {
            return Class::Vt;
        }
        return Class::Serial;
    }
    if name.starts_with("hvc") {
        return Class::Serial;
    }
    Class::Other
}

/// The argv of the UI: no arguments for the interactive UI, `job --file|--inline` for a job.
pub fn ui_argv(ui_path: &str, job: Option<&JobSource>) -> Vec<String> {
    let mut argv = vec![ui_path.to_string()];
    match job {
        None => {}
        Some(JobSource::File(f)) => argv.extend(["job".into(), "--file".into(), f.clone()]),
        Some(JobSource::Inline(t)) => argv.extend(["job".into(), "--inline".into(), t.clone()]),
    }
    argv
}

/// The parsed configuration as JSON for `--dry-run-cmdline`; hand-written so the init stays
/// at two dependencies.
pub fn to_json(cfg: &Config, ui_path: &str) -> String {
    let terminal = choose_terminal(cfg.console, &cfg.kernel_consoles);
    let mut o = String::from("{\n");
    let job = match &cfg.job {
        None => "null".to_string(),
        Some(JobSource::File(f)) => format!("{{\"kind\": \"file\", \"value\": {}}}", js(f)),
        Some(JobSource::Inline(t)) => {
            format!("{{\"kind\": \"inline\", \"value\": {}}}", js(t))
        }
    };
    let _ = writeln!(o, "  \"job\": {job},");
    let fields = match &cfg.job {
        Some(JobSource::Inline(t)) => inline_job_fields(t)
            .iter()
            .map(|(k, v)| format!("[{}, {}]", js(k), js(v)))
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    };
    let _ = writeln!(o, "  \"job_fields\": [{fields}],");
    let console = match cfg.console {
        None => "null",
        Some(ConsoleKind::Tty) => "\"tty\"",
        Some(ConsoleKind::Serial) => "\"serial\"",
    };
    let _ = writeln!(o, "  \"console\": {console},");
    let _ = writeln!(o, "  \"shell\": {},", cfg.shell);
    let _ = writeln!(o, "  \"debug\": {},", cfg.debug);
    let _ = writeln!(o, "  \"quiet\": {},", cfg.quiet);
    let _ = writeln!(o, "  \"wait_ms\": {},", cfg.wait_ms);
    let _ = writeln!(o, "  \"after\": \"{}\",", cfg.after_success().name());
    let _ = writeln!(o, "  \"onfail\": \"{}\",", cfg.after_failure().name());
    let _ = writeln!(o, "  \"net\": {},", js(&cfg.net.to_string()));
    let _ = writeln!(o, "  \"net_wait_ms\": {},", cfg.net_wait_ms);
    let _ = writeln!(
        o,
        "  \"kernel_consoles\": {},",
        js_list(&cfg.kernel_consoles)
    );
    let _ = writeln!(
        o,
        "  \"terminal\": {{\"device\": {}, \"term\": {}}},",
        js(&terminal.device),
        js(terminal.term)
    );
    let _ = writeln!(
        o,
        "  \"ui_argv\": {},",
        js_list(&ui_argv(ui_path, cfg.job.as_ref()))
    );
    let _ = writeln!(o, "  \"warnings\": {}", js_list(&cfg.warnings));
    o.push('}');
    o
}

fn js_list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| js(s)).collect();
    format!("[{}]", inner.join(", "))
}

/// A JSON string literal.
pub(crate) fn js(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, value: Option<&str>) -> (String, Option<String>) {
        (name.to_string(), value.map(str::to_string))
    }

    #[test]
    fn splits_on_whitespace_including_newline_and_tabs() {
        assert_eq!(
            split_params("  ro\tquiet console=ttyS0,115200\n"),
            vec![
                p("ro", None),
                p("quiet", None),
                p("console", Some("ttyS0,115200"))
            ]
        );
    }

    #[test]
    fn empty_and_blank_lines_give_no_params_and_defaults() {
        assert!(split_params("").is_empty());
        assert!(split_params(" \n").is_empty());
        assert_eq!(parse(""), Config::default());
        assert_eq!(parse("\n").wait_ms, DEFAULT_WAIT_MS);
    }

    #[test]
    fn quoted_value_keeps_spaces_and_loses_its_quotes() {
        assert_eq!(
            split_params(r#"a=1 wraith.run="action=clone source=serial:ABC" b"#),
            vec![
                p("a", Some("1")),
                p("wraith.run", Some("action=clone source=serial:ABC")),
                p("b", None)
            ]
        );
    }

    #[test]
    fn wholly_quoted_param_loses_outer_quotes() {
        assert_eq!(
            split_params(r#""wraith.run=a b" x"#),
            vec![p("wraith.run", Some("a b")), p("x", None)]
        );
        assert_eq!(
            split_params(r#""flag with space""#),
            vec![p("flag with space", None)]
        );
    }

    #[test]
    fn quotes_in_the_middle_group_but_stay_like_the_kernel() {
        // The kernel only strips a quote that opens the value; inner quotes only group.
        assert_eq!(
            split_params(r#"k=a"b c"d e"#),
            vec![p("k", Some(r#"a"b c"d"#)), p("e", None)]
        );
    }

    #[test]
    fn unterminated_quote_runs_to_the_end_of_the_line() {
        assert_eq!(
            split_params(r#"wraith.run="a b c"#),
            vec![p("wraith.run", Some("a b c"))]
        );
    }

    #[test]
    fn empty_quoted_value_is_empty() {
        assert_eq!(split_params(r#"k="""#), vec![p("k", Some(""))]);
    }

    #[test]
    fn value_may_contain_equals_signs() {
        assert_eq!(
            split_params("wraith.run=action=clone"),
            vec![p("wraith.run", Some("action=clone"))]
        );
    }

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

    #[test]
    fn inline_job_fields_split_on_spaces_and_semicolons_and_decode() {
        assert_eq!(
            inline_job_fields("action=clone;source=serial:ABC  repo=/mnt/my%20images flag"),
            vec![
                ("action".to_string(), "clone".to_string()),
                ("source".to_string(), "serial:ABC".to_string()),
                ("repo".to_string(), "/mnt/my images".to_string()),
                ("flag".to_string(), String::new()),
            ]
        );
        assert!(inline_job_fields(" ; ").is_empty());
    }

    #[test]
    fn percent_decode_leaves_malformed_escapes() {
        assert_eq!(percent_decode("a%20b%22c%3bd%25"), "a b\"c;d%");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%+1"), "%+1");
        assert_eq!(percent_decode("%C3%A9"), "é");
    }

    fn consoles(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn term_is_vt100_on_a_serial_console_and_linux_on_a_vt() {
        let t = choose_terminal(None, &consoles(&["tty0", "ttyS0,115200n8"]));
        assert_eq!(
            t,
            Terminal {
                device: "/dev/ttyS0".into(),
                term: "vt100"
            }
        );
        let t = choose_terminal(None, &consoles(&["ttyS0,115200", "tty0"]));
        assert_eq!(
            t,
            Terminal {
                device: "/dev/tty1".into(),
                term: "linux"
            }
        );
        let t = choose_terminal(None, &consoles(&["tty2"]));
        assert_eq!(
            t,
            Terminal {
                device: "/dev/tty2".into(),
                term: "linux"
            }
        );
        let t = choose_terminal(None, &consoles(&["hvc0"]));
        assert_eq!(t.term, "vt100");
    }

    #[test]
    fn no_console_param_means_first_vt() {
        let t = choose_terminal(None, &[]);
        assert_eq!(
            t,
            Terminal {
                device: "/dev/tty1".into(),
                term: "linux"
            }
        );
    }

    #[test]
    fn wraith_console_overrides_the_kernel_choice() {
        let both = consoles(&["tty0", "ttyS1,9600"]);
        let t = choose_terminal(Some(ConsoleKind::Tty), &both);
        assert_eq!(
            t,
            Terminal {
                device: "/dev/tty1".into(),
                term: "linux"
            }
        );
        let t = choose_terminal(
            Some(ConsoleKind::Serial),
            &consoles(&["ttyS1,9600", "tty0"]),
        );
        assert_eq!(
            t,
            Terminal {
                device: "/dev/ttyS1".into(),
                term: "vt100"
            }
        );
        let t = choose_terminal(Some(ConsoleKind::Serial), &[]);
        assert_eq!(
            t,
            Terminal {
                device: "/dev/ttyS0".into(),
                term: "vt100"
            }
        );
    }

    #[test]
    fn unknown_console_driver_falls_back_to_dev_console() {
        let t = choose_terminal(None, &consoles(&["lp0"]));
        assert_eq!(
            t,
            Terminal {
                device: "/dev/console".into(),
                term: "vt100"
            }
        );
    }

    #[test]
    fn ui_argv_passes_the_job_through() {
        assert_eq!(ui_argv("/usr/bin/wraith", None), vec!["/usr/bin/wraith"]);
        assert_eq!(
            ui_argv("/usr/bin/wraith", Some(&JobSource::File("/j.toml".into()))),
            vec!["/usr/bin/wraith", "job", "--file", "/j.toml"]
        );
        assert_eq!(
            ui_argv(
                "/usr/bin/wraith",
                Some(&JobSource::Inline("a=b c=d".into()))
            ),
            vec!["/usr/bin/wraith", "job", "--inline", "a=b c=d"]
        );
    }

    #[test]
    fn json_escapes_and_lists_everything() {
        let cfg = parse(r#"console=ttyS0 wraith.run="a=\x b=%22" wraith.bogus"#);
        let json = to_json(&cfg, "/usr/bin/wraith");
        assert!(
            json.contains(r#""job": {"kind": "inline", "value": "a=\\x b=%22"}"#),
            "{json}"
        );
        assert!(
            json.contains(r#""job_fields": [["a", "\\x"], ["b", "\""]]"#),
            "{json}"
        );
        assert!(json.contains(r#""terminal": {"device": "/dev/ttyS0", "term": "vt100"}"#));
        assert!(json.contains(r#""warnings": ["unknown parameter wraith.bogus; ignored"]"#));
        assert!(json.starts_with('{') && json.ends_with('}'));
    }
}

//! `--dry-run-cmdline`: a [`Config`] as JSON, with what init would derive from it (the job's
//! fields, the terminal, the UI's argv), so a boot line can be checked from a shell.

use serde::Serialize;

use super::{choose_terminal, inline_job_fields, ui_argv, Config, ConsoleKind, JobSource};

#[derive(Serialize)]
struct DryRun<'a> {
    job: Option<JobShown<'a>>,
    /// The inline job's fields; empty without one, null when it does not split.
    job_fields: Option<Vec<(String, String)>>,
    console: Option<&'static str>,
    shell: bool,
    debug: bool,
    quiet: bool,
    wait_ms: u64,
    after: &'static str,
    onfail: &'static str,
    net: String,
    net_wait_ms: u64,
    kernel_consoles: &'a [String],
    terminal: Terminal<'a>,
    ui_argv: Vec<String>,
    warnings: &'a [String],
}

#[derive(Serialize)]
struct JobShown<'a> {
    kind: &'static str,
    value: &'a str,
}

#[derive(Serialize)]
struct Terminal<'a> {
    device: &'a str,
    term: &'static str,
}

/// The JSON document for `cfg`, with the UI at `ui_path`.
pub fn to_json(cfg: &Config, ui_path: &str) -> String {
    let terminal = choose_terminal(cfg.console, &cfg.kernel_consoles);
    let doc = DryRun {
        job: cfg.job.as_ref().map(|j| match j {
            JobSource::File(f) => JobShown {
                kind: "file",
                value: f,
            },
            JobSource::Inline(t) => JobShown {
                kind: "inline",
                value: t,
            },
        }),
        job_fields: match &cfg.job {
            Some(JobSource::Inline(t)) => inline_job_fields(t).ok(),
            _ => Some(Vec::new()),
        },
        console: cfg.console.map(|c| match c {
            ConsoleKind::Tty => "tty",
            ConsoleKind::Serial => "serial",
        }),
        shell: cfg.shell,
        debug: cfg.debug,
        quiet: cfg.quiet,
        wait_ms: cfg.wait_ms,
        after: cfg.after_success().name(),
        onfail: cfg.after_failure().name(),
        net: cfg.net.to_string(),
        net_wait_ms: cfg.net_wait_ms,
        kernel_consoles: &cfg.kernel_consoles,
        terminal: Terminal {
            device: &terminal.device,
            term: terminal.term,
        },
        ui_argv: ui_argv(ui_path, cfg.job.as_ref()),
        warnings: &cfg.warnings,
    };
    // Strings, numbers and bools only: serde_json cannot fail on them; an empty object would
    // still be JSON if it did.
    wraith_live::json::document(&doc).unwrap_or_else(|_| "{}".into())
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

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
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["console"], serde_json::Value::Null);
        assert_eq!(v["wait_ms"], 3000);
    }

    #[test]
    fn an_inline_job_that_does_not_split_shows_null_fields() {
        let json = to_json(&parse("wraith.run=action=list;oops"), "/w");
        assert!(json.contains("\"job_fields\": null,"), "{json}");
        let json = to_json(&parse("wraith.job=/j.toml"), "/w");
        assert!(json.contains("\"job_fields\": [],"), "{json}");
    }
}

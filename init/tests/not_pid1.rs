//! The binary run as an ordinary process (as in `cargo test`): it must refuse to act as an
//! init, and its dry-run mode must show what it would make of a command line.

use std::process::Command;

fn init() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wraith-init"))
}

#[test]
fn refuses_to_run_when_not_pid_1() {
    let out = init().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("wraith-init must run as PID 1"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn refuses_with_unknown_arguments_too() {
    // The kernel passes stray command-line words to init as arguments; outside PID 1 they
    // must not unlock anything.
    let out = init().args(["single", "--force"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn dry_run_prints_the_parsed_command_line_as_json() {
    let out = init()
        .args([
            "--dry-run-cmdline",
            r#"console=tty0 console=ttyS0,115200 wraith.run="action=clone source=serial:ABC" wraith.wait=1.5 wraith.nope"#,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let json = String::from_utf8(out.stdout).unwrap();
    for expected in [
        r#""job": {"kind": "inline", "value": "action=clone source=serial:ABC"}"#,
        r#""job_fields": [["action", "clone"], ["source", "serial:ABC"]]"#,
        r#""wait_ms": 1500"#,
        r#""after": "poweroff""#,
        r#""terminal": {"device": "/dev/ttyS0", "term": "vt100"}"#,
        r#""ui_argv": ["/usr/bin/wraith", "job", "--inline", "action=clone source=serial:ABC"]"#,
        r#""warnings": ["unknown parameter wraith.nope; ignored"]"#,
    ] {
        assert!(json.contains(expected), "missing {expected} in\n{json}");
    }
}

#[test]
fn dry_run_without_a_line_is_a_usage_error() {
    let out = init().arg("--dry-run-cmdline").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

//! The tool mode, when wraith-init is not PID 1 (tests, a curious user): it never mounts,
//! spawns or powers off anything.

use std::time::Duration;

use crate::{cmdline, net, supervise};

/// The tool mode for tests and curious users: never mounts, spawns or powers off anything.
pub fn run(args: Vec<String>) -> i32 {
    match args.first().map(String::as_str) {
        Some("--dry-run-cmdline") => match args.get(1) {
            Some(line) => {
                let cfg = cmdline::parse(line);
                println!("{}", cmdline::to_json(&cfg, supervise::UI_PATH));
                0
            }
            None => {
                eprintln!("usage: wraith-init --dry-run-cmdline \"<kernel command line>\"");
                2
            }
        },
        Some("--net") => run_net_only(&args[1..]),
        Some("--version") => {
            println!("wraith-init {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Some("--help" | "-h") => {
            println!(
                "wraith-init: PID 1 of the Wraith live system (see init/README.md).\n\
                 Not as PID 1 it only offers:\n  \
                 --dry-run-cmdline \"<cmdline>\"  print the parsed configuration as JSON\n  \
                 --net <wraith.net value> <state dir>  run only the networking (root; for tests)\n  \
                 --version"
            );
            0
        }
        _ => {
            eprintln!(
                "wraith-init must run as PID 1 (this is pid {}); nothing done. \
                 Try --dry-run-cmdline \"<kernel command line>\".",
                std::process::id()
            );
            2
        }
    }
}

/// `--net <wraith.net value> <state dir>`: the live system's networking, on this host (or,
/// as the tests use it, in a network namespace), until killed. Logs go to stderr.
fn run_net_only(args: &[String]) -> i32 {
    let (Some(value), Some(dir)) = (args.first(), args.get(1)) else {
        eprintln!("usage: wraith-init --net <dhcp|off|static:...> <state dir>");
        return 2;
    };
    let mode = match net::NetMode::parse(value) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("wraith.net={value}: {e}");
            return 2;
        }
    };
    let _net = net::start(&mode, Some(dir.into()));
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

//! `wraith`: the command line, the terminal UI and unattended jobs over wraith-engine.
//!
//! It owns argument parsing, confirmation prompts, rendering engine events as progress bars or
//! JSON lines, and exit codes. It must not contain imaging logic or safety decisions: those
//! belong to the engine, so every front end gets the same behaviour.
//!
//! A library, with `main.rs` a thin binary over it, so integration tests can drive the TUI's
//! state machine (`tui::app::App`) with keys as well as the binary's command line.

pub mod cli;
pub mod commands;
pub mod damage;
pub mod job;
pub mod keymap;
pub mod net;
pub mod render;
pub mod room_report;
pub mod tui;

use clap::Parser;
use std::process::ExitCode;

/// Exit codes (documented in `wraith --help`).
pub const EXIT_OK: u8 = 0;
pub const EXIT_MISMATCH: u8 = 1;
pub const EXIT_ERROR: u8 = 2;
/// The job completed but some source sectors stayed unreadable (zeros in the copy).
pub const EXIT_PARTIAL: u8 = 3;
pub const EXIT_CANCELLED: u8 = 130;

/// The whole program: parse the command line, run it, map the outcome to an exit code.
pub fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let cancel = render::install_ctrl_c();
    match commands::run(&args, &cancel) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let engine = e.downcast_ref::<wraith_engine::Error>();
            let cancelled = matches!(engine, Some(wraith_engine::Error::Cancelled));
            if args.json {
                let mut msg = serde_json::json!({ "result": if cancelled { "cancelled" } else { "error" }, "error": format!("{e:#}") });
                // Which rule refused, for a script (or a test) that must not parse the words.
                if let Some(i) = engine.and_then(wraith_engine::Error::interlock) {
                    msg["interlock"] = serde_json::json!(i);
                }
                println!("{msg}");
                // Under --json every line on stderr is an event, the final one included.
                let mut event = serde_json::json!({ "event": if cancelled { "cancelled" } else { "error" }, "message": format!("{e:#}") });
                if let Some(i) = msg.get("interlock") {
                    event["interlock"] = i.clone();
                }
                eprintln!("{event}");
                return ExitCode::from(if cancelled {
                    EXIT_CANCELLED
                } else {
                    EXIT_ERROR
                });
            }
            if cancelled {
                eprintln!("wraith: cancelled; nothing visible was left half-done (a re-run reuses what was stored)");
                ExitCode::from(EXIT_CANCELLED)
            } else {
                eprintln!("wraith: error: {e:#}");
                ExitCode::from(EXIT_ERROR)
            }
        }
    }
}

//! `wraith`: the command line (and, later, the terminal UI) over wraith-engine.
//!
//! It owns argument parsing, confirmation prompts, rendering engine events as progress bars or
//! JSON lines, and exit codes. It must not contain imaging logic or safety decisions: those
//! belong to the engine, so every front end gets the same behaviour.

mod cli;
mod commands;
mod damage;
mod job;
mod net;
mod render;
mod tui;

use clap::Parser;
use std::process::ExitCode;

/// Exit codes (documented in `wraith --help`).
pub const EXIT_OK: u8 = 0;
pub const EXIT_MISMATCH: u8 = 1;
pub const EXIT_ERROR: u8 = 2;
/// The job completed but some source sectors stayed unreadable (zeros in the copy).
pub const EXIT_PARTIAL: u8 = 3;
pub const EXIT_CANCELLED: u8 = 130;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let cancel = render::install_ctrl_c();
    match commands::run(&args, &cancel) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let cancelled = matches!(
                e.downcast_ref::<wraith_engine::Error>(),
                Some(wraith_engine::Error::Cancelled)
            );
            if args.json {
                let msg = serde_json::json!({ "result": if cancelled { "cancelled" } else { "error" }, "error": format!("{e:#}") });
                println!("{msg}");
                // Under --json every line on stderr is an event, the final one included.
                eprintln!(
                    "{}",
                    serde_json::json!({ "event": if cancelled { "cancelled" } else { "error" }, "message": format!("{e:#}") })
                );
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

//! `flogtool`, flog's command line: read flogfiles (`dump`, `filter`), talk to a
//! publisher's logport (`list`, `fetch`, `tail`), classify incidents the way the
//! gatherer does (`classify-incident`), show the whole flight recorder at work
//! (`demo`), and describe itself (`completions`, `man`).
//!
//! Exit codes: 0 success, 1 runtime failure, 2 usage error.

mod cli;
mod commands;
mod filter;
mod flogfiles;
mod inputs;
mod json;
mod logport;
mod print;
mod progress;
mod timefmt;
mod writing;

use std::io;
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser as _};

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_tracing();
    match commands::run(cli.command, cli::Cli::command) {
        Ok(()) => ExitCode::SUCCESS,
        // `flogtool dump big.flog | head` closes our stdout early: that is the
        // reader being done, not a failure worth a message.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("flogtool: error: {}", error_chain(&error));
            ExitCode::FAILURE
        }
    }
}

/// `{:#}` of the error, minus repeats: many library errors put their cause in
/// their own message *and* return it as `source()`, which would print it twice.
pub(crate) fn error_chain(error: &anyhow::Error) -> String {
    let mut out = String::new();
    let mut previous = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !previous.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        previous = text;
    }
    out
}

/// Diagnostics of the libraries (connection retries, gatherer polls) go to stderr,
/// quiet unless `RUST_LOG` asks for more, so stdout stays the command's output.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .try_init();
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

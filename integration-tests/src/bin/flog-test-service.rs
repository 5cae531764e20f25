//! A small service for the end-to-end tests that need a separate process to
//! kill: it logs, declares incidents and serves its logport.
//!
//! ```text
//! flog-test-service trigger LOGDIR   declare an incident that keeps recording
//!                                    trailing events for an hour; print
//!                                    "ready" once they are on disk; wait
//! flog-test-service serve LOGDIR     start on LOGDIR (recovering what a
//!                                    killed run left), serve the logport,
//!                                    print "url URL"; run until stdin closes
//! ```
//!
//! A logdir another logger holds is not a bug of this program: it says so
//! on stderr and exits with status 3 (other logdir problems: 1).

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use flog_core::{
    flogfile::{read_flogfile, RECORDING_SUFFIX},
    operational, weird, LogdirError, Logger,
};
use flog_publisher::Publisher;

/// Takes `logdir` for `logger`, or says why not and gives the exit status.
fn take_logdir(logger: &Logger, logdir: &Path) -> Result<(), ExitCode> {
    logger.set_logdir(logdir).map_err(|error| {
        eprintln!("flog-test-service: {error}");
        match error {
            LogdirError::InUse { .. } => ExitCode::from(3),
            _ => ExitCode::FAILURE,
        }
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(logdir)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: flog-test-service trigger|serve LOGDIR");
        return ExitCode::from(2);
    };
    let logdir = Path::new(logdir);
    match mode.as_str() {
        "trigger" => trigger(logdir),
        "serve" => serve(logdir),
        other => {
            eprintln!("flog-test-service: unknown mode {other}");
            ExitCode::from(2)
        }
    }
}

/// Fifty events, the trigger, three trailing events; then waits to be killed.
fn trigger(logdir: &Path) -> ExitCode {
    let logger = Logger::builder()
        .trailing_delay(Duration::from_secs(3600))
        .install()
        .expect("valid settings");
    if let Err(code) = take_logdir(&logger, logdir) {
        return code;
    }
    for i in 0..50 {
        operational!(facility = "app.work", "working {i}", i);
    }
    weird!(facility = "app.db", message = "the trigger");
    for i in 0..3 {
        operational!(facility = "app.work", "trailing {i}", i);
    }
    // Trailing events reach the file from the reporter thread: say "ready"
    // only once all 54 events are there, so the test knows what to expect.
    loop {
        let recording = std::fs::read_dir(logdir)
            .expect("the logdir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.to_string_lossy().ends_with(RECORDING_SUFFIX));
        if recording.is_some_and(|p| read_flogfile(&p).is_ok_and(|c| c.events.len() == 54)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    println!("ready");
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}

/// Serves the logport of a logger on `logdir` until stdin closes.
fn serve(logdir: &Path) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let logger = Logger::builder()
        .trailing(false)
        .install()
        .expect("valid settings");
    if let Err(code) = take_logdir(&logger, logdir) {
        return code;
    }
    let publisher = runtime
        .block_on(Publisher::builder(logger.clone()).start())
        .expect("the publisher starts");
    println!("url {}", publisher.url());
    let _ = std::io::stdout().flush();
    // Until the test closes our stdin (or kills us).
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
    }
    runtime.block_on(publisher.shutdown());
    ExitCode::SUCCESS
}

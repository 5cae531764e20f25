//! Running the binary and making real incident reports.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flog_core::{msg, Event, Level, Logger};

/// Generous: the machine is shared with other builds.
pub(crate) const DEADLINE: Duration = Duration::from_secs(60);

pub(crate) fn flogtool() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flogtool"));
    command.env_remove("RUST_LOG");
    command
}

#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

pub(crate) fn run_in(dir: Option<&Path>, args: &[&str]) -> Run {
    let mut command = flogtool();
    command.args(args);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let out = command.output().expect("flogtool runs");
    Run {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

pub(crate) fn run(args: &[&str]) -> Run {
    run_in(None, args)
}

pub(crate) fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Calls back with every finished incident's name and file.
pub(crate) fn incident_channel(logger: &Logger) -> mpsc::Receiver<(String, PathBuf)> {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    logger.add_incident_observer(Arc::new(move |name: &str, path: &Path, _: &Event| {
        let _ = tx
            .lock()
            .map(|tx| tx.send((name.to_owned(), path.to_owned())));
    }));
    rx
}

/// A logger with a logdir whose incidents finish at once (no trailing events).
pub(crate) fn quick_logger(logdir: &Path) -> Logger {
    let logger = Logger::builder().trailing(false).build().unwrap();
    logger.set_version("test-service", "1.2.3");
    logger.set_logdir(logdir).unwrap();
    logger
}

/// One real incident report: events at every level in a few facilities, one with
/// a failure, then a WEIRD trigger in `app.db`. Returns the `.flog.bz2`.
pub(crate) fn real_incident(logdir: &Path) -> PathBuf {
    let logger = quick_logger(logdir);
    let incidents = incident_channel(&logger);
    let start = msg!(
        logger = logger,
        Level::OPERATIONAL,
        facility = "app",
        "service starting"
    );
    for level in Level::NAMED.into_iter().filter(|l| *l < Level::WEIRD) {
        msg!(
            logger = logger,
            level,
            facility = "app.work",
            parent = start,
            "step at {level}",
            level = level.to_string()
        );
    }
    logger
        .event(Level::CURIOUS)
        .facility("app.web")
        .message("request failed")
        .error()
        .failure("Traceback: line one\nline two")
        .emit();
    msg!(
        logger = logger,
        Level::WEIRD,
        facility = "app.db.pool",
        parent = start,
        "pool exhausted after {waited_ms} ms",
        waited_ms = 250,
        pool = "main"
    );
    let (_, path) = incidents
        .recv_timeout(DEADLINE)
        .expect("the incident finishes");
    path
}

/// The uncompressed bytes of a flogfile.
pub(crate) fn decompressed(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    bzip2::read::BzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// The event lines of text output (not the `==` summary lines).
pub(crate) fn event_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| !l.starts_with("==") && !l.starts_with("    "))
        .collect()
}

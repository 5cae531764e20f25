//! Running the binary and making real incident reports.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::sync::Mutex;
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
    logger.add_incident_observer(move |incident: &flog_core::IncidentReport| {
        let name = incident.name.as_str();
        let path = incident.path.as_path();
        let _ = tx
            .lock()
            .map(|tx| tx.send((name.to_owned(), path.to_owned())));
    });
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

/// `python3` with foolscap, for the tests against foolscap's own files and
/// tools. CI installs foolscap (`.ci/run`), so there its absence fails the
/// test; elsewhere the test is skipped, saying so loudly.
pub(crate) fn foolscap_python() -> Option<&'static str> {
    let ok = Command::new("python3")
        .args(["-c", "import foolscap.logging.flogfile"])
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some("python3");
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but foolscap is not installed (python3 -m pip install foolscap)"
    );
    eprintln!(
        "\n=== SKIPPED: foolscap is not installed (python3 -m pip install foolscap): \
         this test checks flogtool against foolscap's own files ===\n"
    );
    None
}

/// Runs a Python script with `args` after it; panics with its output unless
/// it succeeds. Returns its stdout.
pub(crate) fn python(python: &str, script: &str, args: &[&str]) -> String {
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// foolscap's own `flogtool ARGS...`, its stdout.
pub(crate) fn foolscap_flogtool(python_bin: &str, args: &[&str]) -> String {
    let script = "import sys; from foolscap.logging.cli import run_flogtool; \
                  sys.argv = ['flogtool'] + sys.argv[1:]; run_flogtool()";
    python(python_bin, script, args)
}

/// Writes a plain flogfile holding `events` after `header`.
pub(crate) fn write_flogfile(path: &Path, header: &flog_core::flogfile::Header, events: &[Event]) {
    let file = std::fs::File::create(path).unwrap();
    let mut writer = flog_core::flogfile::FlogWriter::new(file, header).unwrap();
    for event in events {
        writer.write_event(event).unwrap();
    }
    writer.flush().unwrap();
}

/// What a run printed, its stderr on a terminal.
#[derive(Debug)]
pub(crate) struct TerminalRun {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    /// Everything written to the terminal (stderr), escape codes and all.
    pub(crate) terminal: String,
}

/// Runs flogtool with its stderr on a pseudo-terminal (stdout still a pipe),
/// as a person at a terminal who redirects the output would.
pub(crate) fn run_on_terminal(dir: Option<&Path>, args: &[&str]) -> TerminalRun {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let size = rustix::termios::Winsize {
        ws_row: 40,
        ws_col: 160,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(&master, size).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_str().unwrap())
        .unwrap();
    let child = {
        // The command holds its copy of the terminal's end until dropped:
        // dropped here, so the terminal closes when flogtool exits.
        let mut command = flogtool();
        command
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(slave);
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        command.spawn().unwrap()
    };
    let terminal = std::thread::spawn(move || {
        let mut master = std::fs::File::from(master);
        let mut bytes = Vec::new();
        let mut buf = [0u8; 4096];
        // Reading ends with EIO once every writer of the terminal is gone.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            bytes.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    });
    let out = child.wait_with_output().unwrap();
    TerminalRun {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        terminal: terminal.join().unwrap(),
    }
}

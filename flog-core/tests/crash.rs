//! Crash survival with real child processes: the test binary runs itself as the
//! crashing service (the ignored `crash_child` entry point).

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{files_in, wait_until};
use flog_core::{
    flogfile::{read_flogfile, FlogContents},
    Level, Logger,
};

const MODE: &str = "FLOG_CRASH_CHILD_MODE";
const DIR: &str = "FLOG_CRASH_CHILD_DIR";

/// The child's side. Ignored so that only a parent test runs it, on purpose.
#[test]
#[ignore = "entry point of the child processes of the crash tests"]
fn crash_child() {
    let mode = std::env::var(MODE).expect("run by the crash tests");
    let dir = std::env::var(DIR).unwrap();
    let logger = Logger::builder()
        .trailing_delay(Duration::from_secs(3600))
        .build()
        .unwrap();
    logger.set_logdir(&dir).unwrap();
    for i in 0..50 {
        logger
            .event(Level::OPERATIONAL)
            .format("working {i}")
            .field("i", i)
            .emit();
    }
    match mode.as_str() {
        "trigger" => {
            logger.msg(Level::WEIRD, "the trigger");
            for i in 0..3 {
                logger
                    .event(Level::OPERATIONAL)
                    .format("trailing {i}")
                    .field("i", i)
                    .emit();
            }
            println!("ready");
            loop {
                std::thread::park();
            }
        }
        "panic" => {
            flog_core::install_panic_hook(logger);
            // What `panic = "abort"` does: the hook runs, then the process aborts.
            let hook = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                hook(info);
                std::process::abort();
            }));
            let items: Vec<u32> = Vec::new();
            let _ = items[7];
        }
        other => panic!("unknown mode {other}"),
    }
}

fn child(mode: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "crash_child",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(MODE, mode)
    .env(DIR, dir)
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    cmd
}

/// A child that parks for ever must not outlive a failed test: it would hold
/// whatever the test process held (a build lock, a terminal).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn only_flog(dir: &Path) -> std::path::PathBuf {
    let names = files_in(dir);
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].ends_with(".flog"), "{names:?}");
    dir.join(&names[0])
}

fn texts(c: &FlogContents) -> Vec<String> {
    c.events.iter().map(|e| e.render().into_owned()).collect()
}

#[test]
fn killed_service_leaves_a_report_that_the_next_start_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let mut proc = KillOnDrop(child("trigger", dir.path()).spawn().unwrap());
    let mut out = BufReader::new(proc.0.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("ready") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "child ended early");
    }
    let flog = only_flog(dir.path());
    // The trailing events reach the file from the reporter thread.
    wait_until("trailing events on disk", || {
        read_flogfile(&flog).is_ok_and(|c| c.events.len() == 54)
    });
    proc.0.kill().unwrap();
    let status = proc.0.wait().unwrap();
    assert_eq!(status.signal(), Some(9));

    let before = read_flogfile(&flog).unwrap();
    assert!(before.damage.is_none() && before.trailer.is_none());
    assert_eq!(
        before
            .header
            .as_ref()
            .unwrap()
            .trigger
            .as_ref()
            .unwrap()
            .render(),
        "the trigger"
    );
    assert_eq!(texts(&before)[50], "the trigger");
    // Cut into the last record, as a write interrupted by the kill would.
    let len = std::fs::metadata(&flog).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&flog)
        .unwrap()
        .set_len(len - 3)
        .unwrap();

    let logger = Logger::new();
    logger.set_logdir(dir.path()).unwrap();
    let names = files_in(dir.path());
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].ends_with(".flog.bz2"));
    let after = read_flogfile(&dir.path().join(&names[0])).unwrap();
    assert!(after.damage.is_none());
    let trailer = after.trailer.clone().unwrap();
    assert!(trailer.recovered && trailer.truncated);
    // The trailing events the kill left, less the one cut in half.
    assert_eq!(trailer.trailing_events, 2, "{trailer:?}");
    assert_eq!(
        texts(&after),
        texts(&before)[..53],
        "all but the cut record"
    );
    assert_eq!(after.header, before.header);
}

#[test]
fn panicking_service_with_abort_leaves_an_incident_naming_the_panic() {
    let dir = tempfile::tempdir().unwrap();
    let status = child("panic", dir.path()).status().unwrap();
    assert_eq!(status.signal(), Some(6), "aborted: {status:?}");
    let report = read_flogfile(&only_flog(dir.path())).unwrap();
    let trigger = report.header.unwrap().trigger.unwrap();
    assert_eq!(trigger.level, Level::BAD);
    assert_eq!(trigger.facility(), "flog.panic");
    assert!(trigger.is_error);
    let text = trigger.render();
    assert!(
        text.contains("index out of bounds") && text.contains("crash.rs"),
        "{text}"
    );
    assert!(trigger
        .failure
        .as_deref()
        .unwrap_or("")
        .contains("crash_child"));
    assert_eq!(report.events.last().unwrap().num, trigger.num);
}

/// What a process killed while recording leaves: the dump, then trailing
/// events, no trailer. The recovered trailer counts what the file holds.
#[test]
fn a_recovered_report_counts_the_trailing_events_it_holds() {
    use flog_core::{
        flogfile::{FlogWriter, Header, INCIDENT_PREFIX},
        Event,
    };

    let dir = tempfile::tempdir().unwrap();
    let event = |num: u64, level: Level| Event {
        num,
        level,
        ..Event::default()
    };
    let header = Header {
        kind: flog_core::flogfile::HeaderKind::Incident.into(),
        name: Some(format!("{INCIDENT_PREFIX}x")),
        trigger: Some(event(5, Level::WEIRD)),
        ..Header::default()
    };
    let mut bytes = FlogWriter::new(Vec::new(), &header).unwrap();
    for num in [1, 3, 5, 6] {
        let level = if num == 5 { Level::WEIRD } else { Level::NOISY };
        bytes.write_event(&event(num, level)).unwrap();
    }
    // Trailing events, out of order as threads deliver them.
    for num in [8, 7, 9] {
        bytes.write_event(&event(num, Level::NOISY)).unwrap();
    }
    let stem = "incident-2026-01-01T00-00-00.000000Z-0000";
    std::fs::write(
        dir.path().join(format!("{stem}.flog")),
        bytes.into_inner().unwrap(),
    )
    .unwrap();

    let logger = Logger::new();
    logger.set_logdir(dir.path()).unwrap();
    let report = read_flogfile(&dir.path().join(format!("{stem}.flog.bz2"))).unwrap();
    let trailer = report.trailer.unwrap();
    assert!(trailer.recovered && !trailer.truncated);
    assert_eq!(trailer.triggers, [5]);
    assert_eq!(
        trailer.trailing_events, 4,
        "events numbered after the trigger"
    );
}

/// An orphan that is not a flogfile at all is set aside, not lost and not
/// retried at every start, and the problem reaches the error hook typed.
#[test]
fn an_unreadable_orphan_is_kept_aside_and_reported_as_unreadable() {
    use std::sync::{Arc, Mutex};

    use flog_core::{flogfile::INCIDENT_PREFIX, IncidentError, RecoverError};

    let dir = tempfile::tempdir().unwrap();
    let stem = format!("{INCIDENT_PREFIX}2026-01-01T00-00-00.000000Z-0000");
    let garbage = vec![b'x'; 200];
    std::fs::write(dir.path().join(format!("{stem}.flog")), &garbage).unwrap();

    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let logger = {
        let seen = Arc::clone(&seen);
        Logger::builder()
            .on_error(move |e: &IncidentError| {
                let kind = match e {
                    IncidentError::Recover {
                        source: RecoverError::Unreadable { .. },
                        ..
                    } => "unreadable",
                    _ => "other",
                };
                seen.lock().unwrap().push(format!("{kind}: {e}"));
            })
            .build()
            .unwrap()
    };
    logger.set_logdir(dir.path()).unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0].starts_with("unreadable: cannot recover incident"),
        "{seen:?}"
    );
    let kept = dir.path().join(format!("{stem}.flog.unreadable"));
    assert_eq!(std::fs::read(&kept).unwrap(), garbage);
    assert!(!dir.path().join(format!("{stem}.flog")).exists());
    assert!(!dir.path().join(format!("{stem}.flog.bz2")).exists());
}

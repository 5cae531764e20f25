#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use flog_core::{flogfile::FlogReader, Event, Logger};

/// Incidents as their observers report them: (name, path, trigger).
pub type Recorded = (String, PathBuf, Event);

pub fn watch_incidents(logger: &Logger) -> Receiver<Recorded> {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    logger.add_incident_observer(move |incident: &flog_core::IncidentReport| {
        let name = incident.name.as_str();
        let path = incident.path.as_path();
        let trigger = &incident.trigger;
        let _ = tx
            .lock()
            .unwrap()
            .send((name.to_owned(), path.to_owned(), trigger.clone()));
    });
    rx
}

/// Waits for the next recorded incident (bounded, so a bug fails the test).
pub fn next_incident(rx: &Receiver<Recorded>) -> Recorded {
    rx.recv_timeout(Duration::from_secs(30))
        .expect("an incident should have been recorded")
}

/// The files in a logdir, but for the owner record every logdir in use has.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != flog_core::flogfile::OWNER_FILE)
        .collect();
    names.sort();
    names
}

/// Polls `check` until it holds or the deadline passes.
pub fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Every file left in the logdir is one a reader handles.
pub fn all_readable(dir: &Path) {
    for name in files_in(dir) {
        let path = dir.join(&name);
        match FlogReader::open(&path) {
            Ok(reader) => {
                for record in reader {
                    if let Err(e) = record {
                        assert!(e.is_truncated(), "{name}: {e}");
                    }
                }
            }
            Err(e) => panic!("{name} is not readable: {e}"),
        }
    }
}

/// Logs `count` OPERATIONAL events, each with `width` hex digits of noise that
/// bzip2 squeezes only to about half, so reports are big and stay big.
pub fn log_hex_noise(
    logger: &flog_core::Logger,
    facility: &'static str,
    count: usize,
    width: usize,
) {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..count {
        let pad: String = (0..width)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from_digit((x % 16) as u32, 16).unwrap()
            })
            .collect();
        logger
            .event(flog_core::Level::OPERATIONAL)
            .facility(facility)
            .format("event {i} {pad}")
            .field("i", i)
            .field("pad", pad)
            .emit();
    }
}

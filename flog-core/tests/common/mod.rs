#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flog_core::{Event, Logger};

/// Incidents as their observers report them: (name, path, trigger).
pub type Recorded = (String, PathBuf, Event);

pub fn watch_incidents(logger: &Logger) -> Receiver<Recorded> {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    logger.add_incident_observer(Arc::new(move |name: &str, path: &Path, trigger: &Event| {
        let _ = tx
            .lock()
            .unwrap()
            .send((name.to_owned(), path.to_owned(), trigger.clone()));
    }));
    rx
}

/// Waits for the next recorded incident (bounded, so a bug fails the test).
pub fn next_incident(rx: &Receiver<Recorded>) -> Recorded {
    rx.recv_timeout(Duration::from_secs(30))
        .expect("an incident should have been recorded")
}

pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
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

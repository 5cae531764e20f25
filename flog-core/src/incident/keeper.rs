//! The keeper of a log directory: one named thread per directory in use,
//! which owns it (its lock lives as long as the keeper) and settles what the
//! reporters send when they are done: counts, retries of reports that could
//! not be compressed, retention, and the incident observers.
//!
//! One thread for all of it, so retention passes and retries never race over
//! the same files, and reporters never call back into the logger.

use std::io;
use std::path::Path;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::error::IncidentError;
use super::logdir::Logdir;
use super::outcome::{Health, Outcome};
use super::reporter::compress;
use super::retention;
use crate::event::Event;
use crate::flogfile::{FINISHED_SUFFIX, RECORDING_SUFFIX};
use crate::observer::{IncidentObserver, IncidentReport, Observers};

/// What the keeper needs besides its directory.
pub(crate) struct KeeperContext {
    pub(crate) health: Arc<Health>,
    pub(crate) observers: Arc<Observers<IncidentObserver>>,
    pub(crate) max_files: usize,
    pub(crate) max_bytes: u64,
}

/// A complete `.flog` whose compression failed (disk full, say).
struct Unfinished {
    name: String,
    trigger: Event,
}

struct Keeper {
    logdir: Logdir,
    cx: KeeperContext,
    unfinished: Vec<Unfinished>,
}

/// Starts the keeper of `logdir`; it ends once every sender of `outcomes` is
/// gone, releasing the directory.
pub(crate) fn spawn(
    logdir: Logdir,
    cx: KeeperContext,
    outcomes: Receiver<Outcome>,
) -> io::Result<JoinHandle<()>> {
    let keeper = Keeper {
        logdir,
        cx,
        unfinished: Vec::new(),
    };
    std::thread::Builder::new()
        .name("flog-logdir".into())
        .spawn(move || keeper.run(outcomes))
}

impl Keeper {
    fn run(mut self, outcomes: Receiver<Outcome>) {
        for outcome in outcomes {
            match outcome {
                Outcome::Recorded {
                    name,
                    path,
                    trigger,
                } => self.recorded(&name, &path, &trigger),
                Outcome::Failed(error) => self.cx.health.record_failure(&error),
                Outcome::Unfinished {
                    name,
                    trigger,
                    error,
                } => {
                    self.cx.health.record_failure(&error);
                    self.unfinished.push(Unfinished { name, trigger });
                }
                // The flusher sends only the first of a run: pass it on.
                Outcome::RingFlushFailed(error) => self.cx.health.tell(&error),
                Outcome::Sync(done) => {
                    let _ = done.send(());
                }
            }
        }
    }

    fn recorded(&mut self, name: &str, path: &Path, trigger: &Event) {
        self.cx.health.record_success();
        // Space has come back: finish what could not be compressed before.
        let dir = self.logdir.path();
        for u in std::mem::take(&mut self.unfinished) {
            let flog = dir.join(format!("{}{RECORDING_SUFFIX}", u.name));
            let finished = dir.join(format!("{}{FINISHED_SUFFIX}", u.name));
            match compress(&flog, &finished) {
                Ok(()) => {
                    self.cx.health.record_success();
                    self.notify(&u.name, &finished, &u.trigger);
                }
                Err(_) => self.unfinished.push(u),
            }
        }
        if let Err(source) = retention::enforce(dir, self.cx.max_files, self.cx.max_bytes) {
            self.cx.health.report(&IncidentError::Retention {
                dir: dir.to_owned(),
                source,
            });
        }
        self.notify(name, path, trigger);
    }

    /// Tells the incident observers; one that panics is removed and reported
    /// once through the error hook, and the keeper goes on.
    fn notify(&self, name: &str, path: &Path, trigger: &Event) {
        let report = IncidentReport::new(name, path.to_owned(), trigger);
        for panic in self.cx.observers.notify(|o| o(&report)) {
            self.cx
                .health
                .tell(&IncidentError::ObserverPanicked { panic });
        }
    }
}

/// Waits until the keeper behind `outcomes` has settled everything sent
/// before (or is gone).
pub(crate) fn sync(outcomes: &Sender<Outcome>) {
    let (tx, rx) = std::sync::mpsc::channel();
    if outcomes.send(Outcome::Sync(tx)).is_ok() {
        let _ = rx.recv();
    }
}

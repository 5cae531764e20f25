//! How recording an incident went: what reporters send the logdir's keeper,
//! and the counts and failure reports every part shares.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;

use super::error::{ErrorHook, IncidentError};
use crate::event::Event;

/// What a reporter thread sends when it is done.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The report is finished: `path` is the `.flog.bz2`.
    Recorded {
        name: String,
        path: PathBuf,
        trigger: Event,
    },
    /// The report could not be written; its `.flog` is gone or left for the
    /// next start.
    Failed(IncidentError),
    /// The `.flog` is complete but could not be compressed (disk full): to
    /// finish once an incident succeeds again.
    Unfinished {
        name: String,
        trigger: Event,
        error: IncidentError,
    },
    /// The crash ring's flusher failed (the first flush of a run of
    /// failures; it counts no incident as lost).
    RingFlushFailed(IncidentError),
    /// Answer once everything sent before is done (for an orderly shutdown).
    Sync(Sender<()>),
}

/// Counts of finished and failed incidents, and the error hook, which is
/// called once per run of failures rather than once per failure.
pub(crate) struct Health {
    recorded: AtomicU64,
    failed: AtomicU64,
    failing: AtomicBool,
    on_error: ErrorHook,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("recorded", &self.recorded())
            .field("failed", &self.failed())
            .finish_non_exhaustive()
    }
}

impl Health {
    pub(crate) fn new(on_error: ErrorHook) -> Health {
        Health {
            recorded: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            failing: AtomicBool::new(false),
            on_error,
        }
    }

    pub(crate) fn recorded(&self) -> u64 {
        self.recorded.load(Ordering::Relaxed)
    }

    pub(crate) fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// An incident was recorded: a run of failures is over.
    pub(crate) fn record_success(&self) {
        self.recorded.fetch_add(1, Ordering::Relaxed);
        self.failing.store(false, Ordering::Relaxed);
    }

    /// An incident was lost or left unfinished.
    pub(crate) fn record_failure(&self, error: &IncidentError) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.report(error);
    }

    /// Reports a problem (also one that loses no incident) once per run of
    /// failures.
    /// Passes on a problem that is not part of a run of failures (an
    /// observer that panicked, once, as it is removed then).
    pub(crate) fn tell(&self, error: &IncidentError) {
        (self.on_error)(error);
    }

    pub(crate) fn report(&self, error: &IncidentError) {
        if !self.failing.swap(true, Ordering::Relaxed) {
            (self.on_error)(error);
        }
    }
}

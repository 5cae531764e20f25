//! What the event log has written of each publisher since the gatherer
//! started: the figures `/metrics` shows. A leaf: the log's writer thread
//! adds to it, the dashboard reads it; neither calls the other.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

/// The event gatherer's counts of one publisher.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublisherEventFigures {
    /// Events written to the gathered files.
    pub events: u64,
    /// Gap records written (each a run of events not gathered).
    pub gaps: u64,
    /// Events those gaps cover.
    pub missing: u64,
}

/// The spool (`storage = "s3"`): closed event files waiting to be uploaded
/// to the bucket, and what was uploaded since the gatherer started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpoolFigures {
    /// Closed files waiting.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// `spool_bytes`: past it, the spool is full.
    pub limit: u64,
    /// Whether it is full: events are not written (but counted, as
    /// `not_written` gaps) until uploads make room.
    pub full: bool,
    /// Files uploaded.
    pub uploaded_files: u64,
    /// Their bytes.
    pub uploaded_bytes: u64,
}

/// The event gatherer's counts, by publisher id
/// ([`Gatherer::event_figures`](crate::Gatherer::event_figures)).
#[derive(Debug, Default)]
pub struct EventFigures {
    // A std mutex: taken for a moment by the writer thread per record and
    // by a metrics request, never across an await.
    by_publisher: Mutex<BTreeMap<String, PublisherEventFigures>>,
    spool: Mutex<SpoolFigures>,
    /// `spool.full`, read by the writer thread at every record: an atomic,
    /// not the mutex.
    spool_full: AtomicBool,
}

impl EventFigures {
    /// Every publisher's counts, by id.
    pub fn snapshot(&self) -> Vec<(String, PublisherEventFigures)> {
        self.lock()
            .iter()
            .map(|(id, figures)| (id.clone(), *figures))
            .collect()
    }

    /// The spool's figures (all zero with `storage = "dir"`).
    pub fn spool(&self) -> SpoolFigures {
        *self.spool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the spool is full (see [`SpoolFigures::full`]).
    pub(crate) fn spool_full(&self) -> bool {
        self.spool_full.load(Ordering::Acquire)
    }

    /// The uploader's new figures.
    pub(crate) fn set_spool(&self, figures: SpoolFigures) {
        *self.spool.lock().unwrap_or_else(PoisonError::into_inner) = figures;
        self.spool_full.store(figures.full, Ordering::Release);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, PublisherEventFigures>> {
        self.by_publisher
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn change(&self, from: &str, change: impl FnOnce(&mut PublisherEventFigures)) {
        let mut map = self.lock();
        match map.get_mut(from) {
            Some(figures) => change(figures),
            None => change(map.entry(from.to_owned()).or_default()),
        }
    }

    /// An event of `from` was written.
    pub(crate) fn event_written(&self, from: &str) {
        self.change(from, |f| f.events += 1);
    }

    /// A gap of `count` events of `from` was written.
    pub(crate) fn gap_written(&self, from: &str, count: u64) {
        self.change(from, |f| {
            f.gaps += 1;
            f.missing = f.missing.saturating_add(count);
        });
    }
}

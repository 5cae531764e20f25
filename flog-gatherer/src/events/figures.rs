//! What the event log has written of each publisher since the gatherer
//! started: the figures `/metrics` shows. A leaf: the log's writer thread
//! adds to it, the dashboard reads it; neither calls the other.

use std::collections::BTreeMap;
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

/// The event gatherer's counts, by publisher id
/// ([`Gatherer::event_figures`](crate::Gatherer::event_figures)).
#[derive(Debug, Default)]
pub struct EventFigures {
    // A std mutex: taken for a moment by the writer thread per record and
    // by a metrics request, never across an await.
    by_publisher: Mutex<BTreeMap<String, PublisherEventFigures>>,
}

impl EventFigures {
    /// Every publisher's counts, by id.
    pub fn snapshot(&self) -> Vec<(String, PublisherEventFigures)> {
        self.lock()
            .iter()
            .map(|(id, figures)| (id.clone(), *figures))
            .collect()
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

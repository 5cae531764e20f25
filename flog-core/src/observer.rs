//! Observers: code the application registers to see every event, or every
//! recorded incident, and the guards that keep a faulty one from breaking
//! logging.

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;

use crate::event::Event;

/// What an event observer is: called with every generated event, on the
/// logging thread. See [`Logger::add_event_observer`](crate::Logger::add_event_observer).
pub(crate) type EventObserver = dyn Fn(&Event) + Send + Sync;

/// What an incident observer is: called once each incident is recorded. See
/// [`Logger::add_incident_observer`](crate::Logger::add_incident_observer).
pub(crate) type IncidentObserver = dyn Fn(&IncidentReport) + Send + Sync;

/// A completely recorded incident, as its observers see it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IncidentReport {
    /// The incident name (`incident-2026-12-01--11-30-00.123456Z-0`).
    pub name: String,
    /// The finished `.flog.bz2` file.
    pub path: PathBuf,
    /// The event that declared the incident.
    pub trigger: Event,
}

impl IncidentReport {
    pub(crate) fn new(name: &str, path: PathBuf, trigger: &Event) -> IncidentReport {
        IncidentReport {
            name: name.to_owned(),
            path,
            trigger: trigger.clone(),
        }
    }
}

/// Identifies a registered observer so it can be removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ObserverId(u64);

/// A copy-on-write list of observers: notifying takes no lock.
pub(crate) struct Observers<T: ?Sized> {
    list: ArcSwap<Vec<(ObserverId, Arc<T>)>>,
    any: AtomicBool,
    next: AtomicU64,
    write: Mutex<()>,
}

impl<T: ?Sized> fmt::Debug for Observers<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observers")
            .field("count", &self.list.load().len())
            .finish()
    }
}

impl<T: ?Sized> Default for Observers<T> {
    fn default() -> Self {
        Observers {
            list: ArcSwap::from_pointee(Vec::new()),
            any: AtomicBool::new(false),
            next: AtomicU64::new(1),
            write: Mutex::new(()),
        }
    }
}

impl<T: ?Sized> Observers<T> {
    pub(crate) fn add(&self, observer: Arc<T>) -> ObserverId {
        let _w = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let id = ObserverId(self.next.fetch_add(1, Ordering::Relaxed));
        let mut list = Vec::clone(&self.list.load());
        list.push((id, observer));
        self.list.store(Arc::new(list));
        self.any.store(true, Ordering::Release);
        id
    }

    pub(crate) fn remove(&self, id: ObserverId) -> bool {
        let _w = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let mut list = Vec::clone(&self.list.load());
        let before = list.len();
        list.retain(|(i, _)| *i != id);
        self.any.store(!list.is_empty(), Ordering::Release);
        self.list.store(Arc::new(list));
        before != self.list.load().len()
    }

    #[inline]
    pub(crate) fn any(&self) -> bool {
        self.any.load(Ordering::Acquire)
    }

    /// Calls `f` with every observer. One that panics is removed, so that
    /// it fails once rather than with every event; the panic messages are
    /// returned for the caller to report (nothing is allocated when none
    /// panics).
    pub(crate) fn notify(&self, mut f: impl FnMut(&T)) -> Vec<String> {
        let mut panics = Vec::new();
        for (id, o) in self.list.load().iter() {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| f(o))) {
                self.remove(*id);
                panics.push(panic_message(&*payload));
            }
        }
        panics
    }
}

/// The text of a panic's payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-text panic payload)".to_owned())
}

thread_local! {
    /// Whether this thread is inside an event observer or the incident
    /// qualifier of some logger. Events logged meanwhile (by the observer,
    /// by a bridge the observer forwards to, by a panic hook) skip the
    /// observers and the qualifier: that is the loop guard.
    static INSIDE: Cell<Inside> = const { Cell::new(Inside { observer: false, qualifier: false }) };
}

#[derive(Clone, Copy)]
struct Inside {
    observer: bool,
    qualifier: bool,
}

/// Whether the current thread is running an event observer of a flog
/// logger: bridges that feed flog (`flog-tracing`, `flog-log`) drop such
/// events, so that an observer forwarding events to `tracing` or `log`
/// does not feed them back into flog.
pub fn inside_observer() -> bool {
    INSIDE.with(|i| i.get().observer)
}

pub(crate) fn inside_qualifier() -> bool {
    INSIDE.with(|i| i.get().qualifier)
}

/// Marks this thread as inside an observer (or the qualifier) until dropped.
pub(crate) struct Guard {
    before: Inside,
}

impl Guard {
    pub(crate) fn observer() -> Guard {
        Guard::enter(|i| i.observer = true)
    }

    pub(crate) fn qualifier() -> Guard {
        Guard::enter(|i| i.qualifier = true)
    }

    fn enter(set: impl FnOnce(&mut Inside)) -> Guard {
        let before = INSIDE.with(Cell::get);
        let mut now = before;
        set(&mut now);
        INSIDE.with(|i| i.set(now));
        Guard { before }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        INSIDE.with(|i| i.set(self.before));
    }
}

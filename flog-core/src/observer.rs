use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;

use crate::event::Event;

/// Called with every generated event, on the logging thread.
///
/// Keep it quick and never block: the publisher's live tail copies the event into a
/// bounded queue and returns.
pub trait EventObserver: Send + Sync {
    /// One generated event.
    fn on_event(&self, event: &Event);
}

impl<F: Fn(&Event) + Send + Sync> EventObserver for F {
    fn on_event(&self, event: &Event) {
        self(event)
    }
}

/// Called once an incident is completely recorded (compressed, renamed into place).
pub trait IncidentObserver: Send + Sync {
    /// `name` is the incident name, `path` the `.flog.bz2` file.
    fn on_incident(&self, name: &str, path: &Path, trigger: &Event);
}

impl<F: Fn(&str, &Path, &Event) + Send + Sync> IncidentObserver for F {
    fn on_incident(&self, name: &str, path: &Path, trigger: &Event) {
        self(name, path, trigger)
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

    pub(crate) fn for_each(&self, mut f: impl FnMut(&T)) {
        for (_, o) in self.list.load().iter() {
            f(o);
        }
    }
}

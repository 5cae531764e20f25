//! Live events for every `subscribe_to_all` of a publisher, at a cost to the
//! logging thread that does not grow with the number of subscribers.
//!
//! One event observer, registered while anyone subscribes, copies each event
//! into the bounded [`Ingress`] (or counts it as dropped) and wakes one
//! fan-out task. That task encodes each event once into the shared [`Ring`]
//! and wakes the subscribers waiting for news; each [`Subscriber`] reads the
//! ring from its own position at its own pace. Memory is the ring's and the
//! ingress's budgets plus the catch-up snapshots' (see [`snapshot`]), and is
//! returned when the last subscriber leaves.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use flog_core::{Event, Logger, ObserverId};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod ingress;
mod ring;
mod snapshot;

use self::ingress::{Ingress, Item};
pub(crate) use self::ring::Delivery;
use self::ring::{Cursor, Ring};
pub(crate) use self::snapshot::{CatchUpRefused, Snapshot};

/// Most entries a subscriber takes from the ring under one lock.
const READ_BATCH: usize = 64;

/// Sizes of a publisher's live-event machinery.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LiveLimits {
    /// Bytes of the ring; the ingress gets an eighth of it besides.
    pub(crate) memory: usize,
    /// How far, in events, a subscriber may fall behind the newest.
    pub(crate) lag: u64,
    /// Bytes of catch-up snapshots at once.
    pub(crate) catch_up_memory: usize,
}

/// A publisher's live events; see the module doc.
#[derive(Debug)]
pub(crate) struct Live {
    shared: Arc<Shared>,
    logger: Logger,
}

#[derive(Debug)]
struct Shared {
    ingress: Mutex<Ingress>,
    ring: Mutex<Ring>,
    /// Set while the fan-out task has a wake-up pending, so the logging
    /// thread notifies at most once per batch.
    wake_pending: AtomicBool,
    wake: Notify,
    /// Subscribers waiting for new entries.
    news: Notify,
    attached: Mutex<Attached>,
    limits: LiveLimits,
    snapshots: snapshot::Snapshots,
}

#[derive(Debug, Default)]
struct Attached {
    subscribers: usize,
    observer: Option<ObserverId>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while these locks are held: poison carries no meaning.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// On the logging thread, for every event: O(1) whatever the number of
    /// subscribers.
    fn observe(&self, event: &Event) {
        lock(&self.ingress).observe(event);
        if !self.wake_pending.swap(true, Ordering::AcqRel) {
            self.wake.notify_one();
        }
    }

    /// Moves what the ingress holds into the ring, encoding each event once.
    fn fan_out(&self) {
        self.wake_pending.store(false, Ordering::Release);
        let (items, epoch) = {
            let mut ingress = lock(&self.ingress);
            (ingress.take(), ingress.epoch())
        };
        if items.is_empty() {
            return;
        }
        let encoded: Vec<(u64, u64, Option<Bytes>)> = items
            .into_iter()
            .map(|item| match item {
                Item::Event(e) => (1, e.num, Some(Bytes::from(e.to_cbor()))),
                Item::Gap(n) => (n, 0, None),
            })
            .collect();
        {
            let mut ring = lock(&self.ring);
            // Taken before the last subscriber left: nobody wants it.
            if ring.epoch != epoch {
                return;
            }
            for (weight, num, event) in encoded {
                ring.push(weight, num, event);
            }
        }
        self.news.notify_waiters();
    }
}

impl Live {
    /// Starts the fan-out task on `tracker`; it ends with `shutdown`.
    pub(crate) fn start(
        logger: Logger,
        limits: LiveLimits,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> Live {
        let shared = Arc::new(Shared {
            ingress: Mutex::new(Ingress::new(limits.memory / 8)),
            ring: Mutex::new(Ring::new(limits.memory)),
            wake_pending: AtomicBool::new(false),
            wake: Notify::new(),
            news: Notify::new(),
            attached: Mutex::new(Attached::default()),
            snapshots: snapshot::Snapshots::new(limits.catch_up_memory),
            limits,
        });
        let task = Arc::clone(&shared);
        tracker.spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = task.wake.notified() => task.fan_out(),
                }
            }
        });
        Live { shared, logger }
    }

    /// A new subscriber, reading from the next event logged.
    pub(crate) fn subscribe(&self) -> Subscriber {
        let mut attached = lock(&self.shared.attached);
        if attached.subscribers == 0 {
            let shared = Arc::clone(&self.shared);
            let id = self
                .logger
                .add_event_observer(move |e: &Event| shared.observe(e));
            attached.observer = Some(id);
        }
        attached.subscribers += 1;
        let next = lock(&self.shared.ingress).observed();
        Subscriber {
            shared: Arc::clone(&self.shared),
            logger: self.logger.clone(),
            cursor: Cursor::at(next),
        }
    }

    /// How many subscribers there are (for tests and logs).
    #[cfg(test)]
    pub(crate) fn subscribers(&self) -> usize {
        lock(&self.shared.attached).subscribers
    }
}

/// One live subscription's place in the ring; leaving (dropping it) with no
/// subscriber left removes the observer and returns the ring's memory.
#[derive(Debug)]
pub(crate) struct Subscriber {
    shared: Arc<Shared>,
    logger: Logger,
    cursor: Cursor,
}

impl Subscriber {
    /// The events buffered now, to send before the live ones, and from here
    /// on only events after them. Refused when the catch-up budget is spent.
    pub(crate) async fn catch_up(&mut self) -> Result<Arc<Snapshot>, CatchUpRefused> {
        let (snapshot, cursor) = snapshot::take(&self.shared, &self.logger).await?;
        self.cursor = cursor;
        Ok(snapshot)
    }

    /// Waits for the next events (and gaps) and hands them to `out`.
    /// Cancel safe: what is not handed out stays in the ring.
    pub(crate) async fn next(&mut self, out: &mut Vec<Delivery>) {
        loop {
            let news = self.shared.news.notified();
            tokio::pin!(news);
            // Registered before looking, so an entry pushed meanwhile wakes us.
            news.as_mut().enable();
            lock(&self.shared.ring).read(&mut self.cursor, self.shared.limits.lag, READ_BATCH, out);
            if !out.is_empty() {
                return;
            }
            news.await;
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let mut attached = lock(&self.shared.attached);
        attached.subscribers -= 1;
        if attached.subscribers > 0 {
            return;
        }
        if let Some(id) = attached.observer.take() {
            self.logger.remove_event_observer(id);
        }
        let mut ingress = lock(&self.shared.ingress);
        ingress.clear();
        lock(&self.shared.ring).reset(ingress.observed());
    }
}

#[cfg(test)]
mod tests;

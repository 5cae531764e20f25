//! What the writer thread hands on, once written, to the gatherer's own
//! logport (`[logport]`, docs/gatherer.md "A logport of its own"): each
//! gathered event with its origin, into every subscriber's bounded queue.
//!
//! The writer publishes after each flush, under one lock with the *seam*:
//! the current file and its length at that flush. A subscriber registers
//! under the same lock and takes the seam, so every event is either in the
//! file before the seam (its catch-up reads exactly that much) or in its
//! queue, never both and never neither: no dedupe by number is needed, and
//! none could be exact, since a file may hold a publisher's numbers out of
//! order around a reconnect.
//!
//! Publishing never blocks: a subscriber whose queue is full in bytes loses
//! the event, counted, and is told of the gap where it is
//! ([`PushQueue`]'s accounting, the same as a publisher's).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use flog_core::flogfile::ReceivedEvent;
use flog_wire::{EncodedEvent, EventOrigin, PushQueue, QueueLimits};

use super::log::Gathered;

/// What a logport subscriber is handed, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Relayed {
    /// One gathered event (its CBOR body) and where it came from.
    Event {
        event: EncodedEvent,
        origin: EventOrigin,
    },
    /// This many events were lost here: the subscriber's queue was full.
    Dropped(u64),
    /// The gatherer stops relaying (it is shutting down).
    Ended(String),
}

impl Relayed {
    /// An event as the gathered file holds it, for the wire.
    pub(crate) fn of(received: &ReceivedEvent) -> Relayed {
        Relayed::Event {
            event: EncodedEvent::new(received.event.to_cbor()),
            origin: EventOrigin {
                from: received.receipt.from.clone(),
                rx_time: received.receipt.rx_time.0,
            },
        }
    }

    fn size(&self) -> usize {
        match self {
            Relayed::Event { event, origin } => event.as_bytes().len() + origin.from.len(),
            _ => 0,
        }
    }
}

/// One subscriber's queue.
pub(crate) type RelayQueue = Arc<PushQueue<Relayed>>;

/// Where the current file stood at the writer's last flush.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Seam {
    pub(crate) path: PathBuf,
    pub(crate) len: u64,
}

#[derive(Debug, Default)]
struct RelayState {
    seam: Option<Seam>,
    queues: Vec<RelayQueue>,
}

/// The writer's outlet to logport subscribers; see the module doc.
#[derive(Debug, Default)]
pub(crate) struct Relay {
    state: Mutex<RelayState>,
}

impl Relay {
    pub(crate) fn new() -> Arc<Relay> {
        Arc::new(Relay::default())
    }

    fn lock(&self) -> MutexGuard<'_, RelayState> {
        // Nothing panics while it is held: poison carries no meaning.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many subscribe now.
    #[cfg(test)]
    fn subscribers(&self) -> usize {
        self.lock().queues.len()
    }

    /// On the writer thread, after a flush: `current` (if any) is the file
    /// being written, `written` what that flush wrote (taken). Never
    /// blocks. Events are encoded only when someone subscribes; gaps and
    /// incarnation changes stay in the file.
    pub(crate) fn written(&self, current: Option<&Path>, written: &mut Vec<Gathered>) {
        // Statted outside the lock; only this thread changes the file.
        let seam = current.and_then(|path| {
            let len = std::fs::metadata(path).ok()?.len();
            Some(Seam {
                path: path.to_owned(),
                len,
            })
        });
        let mut state = self.lock();
        state.seam = seam;
        // Checked under the lock: a subscriber that came during the burst
        // has the previous seam, so it must get all of this flush.
        if !state.queues.is_empty() {
            for item in written.iter() {
                let Gathered::Event(received) = item else {
                    continue;
                };
                let event = Relayed::of(received);
                for queue in &state.queues {
                    queue.push(event.clone());
                }
            }
        }
        drop(state);
        written.clear();
    }

    /// A new subscriber: its queue, and the seam its catch-up reads up to.
    pub(crate) fn subscribe(&self, limits: QueueLimits) -> (RelayQueue, Option<Seam>) {
        let queue = Arc::new(PushQueue::new(
            limits,
            Relayed::Dropped,
            Relayed::Ended,
            Relayed::size,
        ));
        let mut state = self.lock();
        state.queues.push(Arc::clone(&queue));
        (queue, state.seam.clone())
    }

    /// The subscriber is gone.
    pub(crate) fn unsubscribe(&self, queue: &RelayQueue) {
        queue.close_receiver();
        let mut state = self.lock();
        state.queues.retain(|q| !Arc::ptr_eq(q, queue));
    }

    /// Ends every subscription (the gatherer stops).
    pub(crate) fn end_all(&self, reason: &str) {
        for queue in &self.lock().queues {
            queue.end(reason.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use flog_core::flogfile::Receipt;
    use flog_core::{Event, Level, Text, Timestamp};

    use super::*;

    fn received(n: u8) -> ReceivedEvent {
        ReceivedEvent {
            event: Event {
                num: u64::from(n),
                level: Level::OPERATIONAL,
                text: Text::Message("x".repeat(100).into()),
                ..Event::default()
            },
            receipt: Receipt {
                from: "p".into(),
                rx_time: Timestamp(7),
            },
        }
    }

    fn written(range: std::ops::Range<u8>) -> Vec<Gathered> {
        range
            .map(|n| Gathered::Event(Box::new(received(n))))
            .collect()
    }

    fn event(n: u8) -> Relayed {
        Relayed::of(&received(n))
    }

    #[tokio::test]
    async fn a_full_queue_counts_its_losses_and_never_blocks_the_writer() {
        let relay = Relay::new();
        let size = event(0).size();
        let (slow, _) = relay.subscribe(QueueLimits {
            pushes: 1000,
            bytes: 2 * size + 1,
        });
        let (fast, _) = relay.subscribe(QueueLimits {
            pushes: 1000,
            bytes: 1 << 20,
        });
        let mut batch = written(0..10);
        relay.written(None, &mut batch);
        assert!(batch.is_empty());
        // Two events fit; the other eight are a gap, told where it is.
        assert_eq!(slow.next().await, Some(event(0)));
        assert_eq!(slow.next().await, Some(event(1)));
        relay.written(None, &mut written(10..11));
        assert_eq!(slow.next().await, Some(Relayed::Dropped(8)));
        assert_eq!(slow.next().await, Some(event(10)));
        for n in 0..=10 {
            assert_eq!(fast.next().await, Some(event(n)));
        }
        let Some(Relayed::Event { origin, .. }) = Some(event(3)) else {
            unreachable!()
        };
        assert_eq!((origin.from.as_str(), origin.rx_time), ("p", 7));
        relay.unsubscribe(&slow);
        assert_eq!(relay.subscribers(), 1);
        relay.unsubscribe(&fast);
        assert_eq!(relay.subscribers(), 0);
    }

    #[test]
    fn the_seam_is_the_current_file_as_last_flushed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("current.flog");
        std::fs::write(&path, b"0123456789").unwrap();
        let relay = Relay::new();
        let limits = QueueLimits {
            pushes: 1,
            bytes: 1,
        };
        assert_eq!(relay.subscribe(limits).1, None);
        relay.written(Some(&path), &mut Vec::new());
        let (_, seam) = relay.subscribe(limits);
        assert_eq!(seam, Some(Seam { path, len: 10 }));
    }
}

//! Subscriptions: queues of pushes between the reader task and the caller.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use futures::Stream;

use super::router::Shared;
use crate::message::{EncodedEvent, IncidentInfo};

/// What an [`IncidentSubscription`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncidentUpdate {
    /// An incident exists: caught up on, or just recorded.
    New(IncidentInfo),
    /// Every incident that existed when subscribing was yielded; later ones
    /// are new.
    CatchupDone,
    /// This many notices were lost because the publisher's or this client's
    /// queue overflowed; list the incidents to catch up.
    Dropped {
        /// How many notices were lost.
        count: u64,
    },
    /// The subscription is over; nothing follows.
    Ended {
        /// Why, e.g. the publisher's reason or `unsubscribed`.
        reason: String,
    },
}

/// What an [`EventSubscription`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventUpdate {
    /// One log event.
    Event(EncodedEvent),
    /// This many events were lost here because the publisher's or this
    /// client's queue overflowed.
    Dropped {
        /// How many events were lost.
        count: u64,
    },
    /// The subscription is over; nothing follows.
    Ended {
        /// Why, e.g. the publisher's reason or `unsubscribed`.
        reason: String,
    },
}

/// A bounded queue of pushes that never blocks the reader task: when full it
/// counts what it discards and yields the count in place of the gap, the
/// same accounting the publisher does. Blocking instead would stall every
/// other request on the connection behind a subscriber that is not polled.
pub(super) struct PushQueue<T> {
    state: Mutex<QueueState<T>>,
    dropped: fn(u64) -> T,
    ended: fn(String) -> T,
}

struct QueueState<T> {
    items: VecDeque<T>,
    capacity: usize,
    /// Pushes discarded since the last queued item.
    dropped: u64,
    end: Option<String>,
    finished: bool,
    receiver_gone: bool,
    waker: Option<Waker>,
}

impl<T> PushQueue<T> {
    fn new(capacity: usize, dropped: fn(u64) -> T, ended: fn(String) -> T) -> Self {
        Self {
            state: Mutex::new(QueueState {
                items: VecDeque::new(),
                capacity: capacity.max(1),
                dropped: 0,
                end: None,
                finished: false,
                receiver_gone: false,
                waker: None,
            }),
            dropped,
            ended,
        }
    }

    fn lock(&self) -> MutexGuard<'_, QueueState<T>> {
        // Nothing panics while holding the lock, so poison carries no meaning.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wake(mut state: MutexGuard<'_, QueueState<T>>) {
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    pub(super) fn push(&self, item: T) {
        let mut state = self.lock();
        if state.receiver_gone || state.end.is_some() {
            return;
        }
        if state.items.len() >= state.capacity {
            state.dropped = state.dropped.saturating_add(1);
            return;
        }
        if state.dropped > 0 {
            // The gap marker may take the queue one past its capacity.
            let count = std::mem::take(&mut state.dropped);
            state.items.push_back((self.dropped)(count));
        }
        state.items.push_back(item);
        Self::wake(state);
    }

    pub(super) fn add_dropped(&self, count: u64) {
        let mut state = self.lock();
        if state.receiver_gone || state.end.is_some() || count == 0 {
            return;
        }
        state.dropped = state.dropped.saturating_add(count);
        Self::wake(state);
    }

    /// Ends the queue after what it holds; the first reason wins.
    pub(super) fn end(&self, reason: String) {
        let mut state = self.lock();
        if state.end.is_none() && !state.finished {
            state.end = Some(reason);
        }
        Self::wake(state);
    }

    fn is_ended(&self) -> bool {
        let state = self.lock();
        state.end.is_some() || state.finished
    }

    fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut state = self.lock();
        if let Some(item) = state.items.pop_front() {
            return Poll::Ready(Some(item));
        }
        if state.dropped > 0 {
            let count = std::mem::take(&mut state.dropped);
            return Poll::Ready(Some((self.dropped)(count)));
        }
        if let Some(reason) = state.end.take() {
            state.finished = true;
            return Poll::Ready(Some((self.ended)(reason)));
        }
        if state.finished {
            return Poll::Ready(None);
        }
        // Registered under the same lock pushes take, so no wake-up is lost.
        match &mut state.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    fn close_receiver(&self) {
        let mut state = self.lock();
        state.receiver_gone = true;
        state.items.clear();
    }
}

pub(super) fn incident_queue(capacity: usize) -> Arc<PushQueue<IncidentUpdate>> {
    Arc::new(PushQueue::new(
        capacity,
        |count| IncidentUpdate::Dropped { count },
        |reason| IncidentUpdate::Ended { reason },
    ))
}

pub(super) fn event_queue(capacity: usize) -> Arc<PushQueue<EventUpdate>> {
    Arc::new(PushQueue::new(
        capacity,
        |count| EventUpdate::Dropped { count },
        |reason| EventUpdate::Ended { reason },
    ))
}

/// Incident notices from [`LogportClient::subscribe_to_incidents`](crate::LogportClient::subscribe_to_incidents).
///
/// Poll it with [`next`](Self::next) or as a [`Stream`]. It buffers up to
/// the client's subscription buffer of notices and reports overflow as
/// [`IncidentUpdate::Dropped`]. It ends with one [`IncidentUpdate::Ended`],
/// also when the connection closes. Dropping it unsubscribes.
#[derive(Debug)]
pub struct IncidentSubscription {
    id: u64,
    queue: Arc<PushQueue<IncidentUpdate>>,
    shared: Arc<Shared>,
}

impl IncidentSubscription {
    pub(super) fn new(id: u64, queue: Arc<PushQueue<IncidentUpdate>>, shared: Arc<Shared>) -> Self {
        Self { id, queue, shared }
    }

    /// The publisher's id for this subscription.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The next notice, or `None` after [`IncidentUpdate::Ended`].
    pub async fn next(&mut self) -> Option<IncidentUpdate> {
        futures::future::poll_fn(|cx| self.queue.poll_next(cx)).await
    }
}

impl Stream for IncidentSubscription {
    type Item = IncidentUpdate;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<IncidentUpdate>> {
        self.queue.poll_next(cx)
    }
}

impl Drop for IncidentSubscription {
    fn drop(&mut self) {
        release(self.id, &*self.queue, &self.shared);
    }
}

/// Log events from [`LogportClient::subscribe_to_all`](crate::LogportClient::subscribe_to_all).
///
/// Poll it with [`next`](Self::next) or as a [`Stream`]. It buffers up to
/// the client's subscription buffer of events and reports overflow as
/// [`EventUpdate::Dropped`]. It ends with one [`EventUpdate::Ended`], also
/// when the connection closes. Dropping it unsubscribes.
#[derive(Debug)]
pub struct EventSubscription {
    id: u64,
    queue: Arc<PushQueue<EventUpdate>>,
    shared: Arc<Shared>,
}

impl EventSubscription {
    pub(super) fn new(id: u64, queue: Arc<PushQueue<EventUpdate>>, shared: Arc<Shared>) -> Self {
        Self { id, queue, shared }
    }

    /// The publisher's id for this subscription.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The next event or gap, or `None` after [`EventUpdate::Ended`].
    pub async fn next(&mut self) -> Option<EventUpdate> {
        futures::future::poll_fn(|cx| self.queue.poll_next(cx)).await
    }
}

impl Stream for EventSubscription {
    type Item = EventUpdate;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<EventUpdate>> {
        self.queue.poll_next(cx)
    }
}

impl Drop for EventSubscription {
    fn drop(&mut self) {
        release(self.id, &*self.queue, &self.shared);
    }
}

fn release<T>(id: u64, queue: &PushQueue<T>, shared: &Shared) {
    let active = !queue.is_ended();
    queue.close_receiver();
    if active {
        // Fire and forget: Drop cannot wait for the reply, and the reader
        // task retires the route when the publisher's Unsubscribed arrives.
        shared.send_unsubscribe(id);
    }
}

impl<T> std::fmt::Debug for PushQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("PushQueue")
            .field("queued", &state.items.len())
            .field("capacity", &state.capacity)
            .field("dropped", &state.dropped)
            .field("ended", &(state.end.is_some() || state.finished))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use futures::task::noop_waker_ref;

    use super::*;

    fn poll<T>(queue: &PushQueue<T>) -> Poll<Option<T>> {
        queue.poll_next(&mut Context::from_waker(noop_waker_ref()))
    }

    fn event(byte: u8) -> EventUpdate {
        EventUpdate::Event(EncodedEvent::new(vec![byte]))
    }

    #[test]
    fn overflow_is_counted_where_it_happened() {
        let queue = event_queue(2);
        for byte in 0..5 {
            queue.push(event(byte));
        }
        assert_eq!(poll(&queue), Poll::Ready(Some(event(0))));
        queue.push(event(5));
        assert_eq!(poll(&queue), Poll::Ready(Some(event(1))));
        // 2, 3 and 4 were dropped before 5.
        assert_eq!(
            poll(&queue),
            Poll::Ready(Some(EventUpdate::Dropped { count: 3 }))
        );
        assert_eq!(poll(&queue), Poll::Ready(Some(event(5))));
        assert_eq!(poll(&queue), Poll::Pending);
    }

    #[test]
    fn publisher_drops_merge_with_local_ones_and_end_comes_last() {
        let queue = event_queue(1);
        queue.push(event(0));
        queue.push(event(1));
        queue.add_dropped(4);
        queue.end("bye".into());
        queue.push(event(2));
        assert_eq!(poll(&queue), Poll::Ready(Some(event(0))));
        assert_eq!(
            poll(&queue),
            Poll::Ready(Some(EventUpdate::Dropped { count: 5 }))
        );
        assert_eq!(
            poll(&queue),
            Poll::Ready(Some(EventUpdate::Ended {
                reason: "bye".into()
            }))
        );
        assert_eq!(poll(&queue), Poll::Ready(None));
        queue.end("again".into());
        assert_eq!(poll(&queue), Poll::Ready(None));
    }
}

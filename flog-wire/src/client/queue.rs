//! The bounded queue of one subscription's pushes, between the reader task
//! and the caller: a leaf that the router fills and a subscription drains.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

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
    pub(super) fn new(capacity: usize, dropped: fn(u64) -> T, ended: fn(String) -> T) -> Self {
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

    pub(super) fn is_ended(&self) -> bool {
        let state = self.lock();
        state.end.is_some() || state.finished
    }

    pub(super) fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
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

    pub(super) fn close_receiver(&self) {
        let mut state = self.lock();
        state.receiver_gone = true;
        state.items.clear();
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
    use crate::client::subscription::{event_queue, EventUpdate};
    use crate::message::EncodedEvent;

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

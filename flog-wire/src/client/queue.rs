//! The bounded queue of one subscription's pushes, between the reader task
//! and the caller: a leaf that the router fills and a subscription drains.
//! Public, because a server relaying pushes (a gatherer's logport) bounds
//! each of its subscribers the same way.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// A queue of pushes bounded in count and in bytes (what a publisher sends
/// decides the size of each) that never blocks the reader task: when full it
/// counts what it discards and yields the count in place of the gap, the
/// same accounting the publisher does. Blocking instead would stall every
/// other request on the connection behind a subscriber that is not polled.
pub struct PushQueue<T> {
    state: Mutex<QueueState<T>>,
    dropped: fn(u64) -> T,
    ended: fn(String) -> T,
    size: fn(&T) -> usize,
}

/// How much one subscription's queue may hold.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    /// Pushes (at least 1).
    pub pushes: usize,
    /// Bytes of the pushes' contents. A push larger than this is still taken
    /// into an empty queue (the frame limit bounds it), so a subscription
    /// always makes progress.
    pub bytes: usize,
}

struct QueueState<T> {
    items: VecDeque<T>,
    capacity: usize,
    max_bytes: usize,
    /// The sizes of `items` added up.
    bytes: usize,
    /// Pushes discarded since the last queued item.
    dropped: u64,
    end: Option<String>,
    finished: bool,
    receiver_gone: bool,
    waker: Option<Waker>,
}

impl<T> PushQueue<T> {
    /// A queue within `limits`; `dropped` and `ended` make the items that
    /// stand for a gap and for the end, `size` weighs an item in bytes.
    pub fn new(
        limits: QueueLimits,
        dropped: fn(u64) -> T,
        ended: fn(String) -> T,
        size: fn(&T) -> usize,
    ) -> Self {
        Self {
            state: Mutex::new(QueueState {
                items: VecDeque::new(),
                capacity: limits.pushes.max(1),
                max_bytes: limits.bytes,
                bytes: 0,
                dropped: 0,
                end: None,
                finished: false,
                receiver_gone: false,
                waker: None,
            }),
            dropped,
            ended,
            size,
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

    /// Queues `item`, or, when the queue is full, counts it as dropped
    /// (yielded as a gap before the next item that fits). Never blocks.
    pub fn push(&self, item: T) {
        let mut state = self.lock();
        if state.receiver_gone || state.end.is_some() {
            return;
        }
        let size = (self.size)(&item);
        let full = state.items.len() >= state.capacity
            || (!state.items.is_empty() && state.bytes.saturating_add(size) > state.max_bytes);
        if full {
            state.dropped = state.dropped.saturating_add(1);
            return;
        }
        state.bytes += size;
        if state.dropped > 0 {
            // The gap marker may take the queue one past its capacity.
            let count = std::mem::take(&mut state.dropped);
            state.items.push_back((self.dropped)(count));
        }
        state.items.push_back(item);
        Self::wake(state);
    }

    /// Adds `count` pushes lost elsewhere (upstream) to the next gap.
    pub fn add_dropped(&self, count: u64) {
        let mut state = self.lock();
        if state.receiver_gone || state.end.is_some() || count == 0 {
            return;
        }
        state.dropped = state.dropped.saturating_add(count);
        Self::wake(state);
    }

    /// Ends the queue after what it holds; the first reason wins.
    pub fn end(&self, reason: String) {
        let mut state = self.lock();
        if state.end.is_none() && !state.finished {
            state.end = Some(reason);
        }
        Self::wake(state);
    }

    /// Whether [`end`](Self::end) was called (or the end yielded).
    pub fn is_ended(&self) -> bool {
        let state = self.lock();
        state.end.is_some() || state.finished
    }

    /// The next item: queued items, then a pending gap, then the end.
    pub fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut state = self.lock();
        if let Some(item) = state.items.pop_front() {
            state.bytes -= (self.size)(&item);
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

    /// The next push, waiting for one; `None` once the end was yielded.
    pub async fn next(&self) -> Option<T> {
        futures::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// The receiver is gone: what is queued is dropped, and pushes from
    /// now on are discarded.
    pub fn close_receiver(&self) {
        let mut state = self.lock();
        state.receiver_gone = true;
        state.items.clear();
        state.bytes = 0;
    }
}

impl<T> std::fmt::Debug for PushQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("PushQueue")
            .field("queued", &state.items.len())
            .field("capacity", &state.capacity)
            .field("bytes", &state.bytes)
            .field("max_bytes", &state.max_bytes)
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
        let queue = event_queue(QueueLimits {
            pushes: 2,
            bytes: usize::MAX,
        });
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
    fn the_queue_holds_a_bounded_number_of_bytes_not_only_of_pushes() {
        // Room for many pushes, but each is a whole megabyte: what the
        // publisher sends decides the size, so the bytes are bounded too.
        let queue = event_queue(QueueLimits {
            pushes: 1_000,
            bytes: 16 << 20,
        });
        let big = |byte: u8| EventUpdate::Event(EncodedEvent::new(vec![byte; 1 << 20]));
        for byte in 0..100 {
            queue.push(big(byte));
        }
        let mut held = 0;
        let mut dropped = 0;
        while let Poll::Ready(Some(update)) = poll(&queue) {
            match update {
                EventUpdate::Event(e) => held += e.as_bytes().len(),
                EventUpdate::Dropped { count } => dropped += count,
                EventUpdate::Ended { .. } | EventUpdate::Relayed { .. } => unreachable!(),
            }
        }
        assert!(held <= 16 << 20, "held {held} bytes");
        assert_eq!(dropped + (held >> 20) as u64, 100);
    }

    #[test]
    fn publisher_drops_merge_with_local_ones_and_end_comes_last() {
        let queue = event_queue(QueueLimits {
            pushes: 1,
            bytes: usize::MAX,
        });
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

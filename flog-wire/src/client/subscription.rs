//! Subscriptions: what the caller polls, one generic type for incident
//! notices and live events alike.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;

use super::outgoing::Outgoing;
use super::queue::{PushQueue, QueueLimits};
use crate::message::{EncodedEvent, EventOrigin, IncidentInfo};

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
    /// One log event relayed by a gatherer's logport, with where it came
    /// from (`log_event`'s `origin`, docs/protocol.md §4.3).
    Relayed {
        /// The event.
        event: EncodedEvent,
        /// The publisher it came from, and when the gatherer received it.
        origin: EventOrigin,
    },
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

pub(super) fn incident_queue(limits: QueueLimits) -> Arc<PushQueue<IncidentUpdate>> {
    Arc::new(PushQueue::new(
        limits,
        |count| IncidentUpdate::Dropped { count },
        |reason| IncidentUpdate::Ended { reason },
        |update| match update {
            IncidentUpdate::New(info) => info.name.len() + info.trigger.as_bytes().len(),
            _ => 0,
        },
    ))
}

pub(super) fn event_queue(limits: QueueLimits) -> Arc<PushQueue<EventUpdate>> {
    Arc::new(PushQueue::new(
        limits,
        |count| EventUpdate::Dropped { count },
        |reason| EventUpdate::Ended { reason },
        |update| match update {
            EventUpdate::Event(event) => event.as_bytes().len(),
            EventUpdate::Relayed { event, origin } => event.as_bytes().len() + origin.from.len(),
            _ => 0,
        },
    ))
}

/// Pushes of one subscription, as [`LogportClient::subscribe_to_incidents`](crate::LogportClient::subscribe_to_incidents)
/// ([`IncidentSubscription`]) and [`LogportClient::subscribe_to_all`](crate::LogportClient::subscribe_to_all)
/// ([`EventSubscription`]) return them.
///
/// Poll it with [`next`](Self::next) or as a [`Stream`]. It buffers up to
/// the client's subscription buffer of pushes and reports overflow as a
/// `Dropped` update where the gap is. It ends with one `Ended` update, also
/// when the connection closes. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription<T> {
    id: u64,
    queue: Arc<PushQueue<T>>,
    outgoing: Arc<Outgoing>,
}

/// Incident notices: [`IncidentUpdate`]s.
pub type IncidentSubscription = Subscription<IncidentUpdate>;

/// Live events: [`EventUpdate`]s.
pub type EventSubscription = Subscription<EventUpdate>;

impl<T> Subscription<T> {
    pub(super) fn new(id: u64, queue: Arc<PushQueue<T>>, outgoing: Arc<Outgoing>) -> Self {
        Self {
            id,
            queue,
            outgoing,
        }
    }

    /// The publisher's id for this subscription.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The next update, or `None` after the `Ended` one.
    pub async fn next(&mut self) -> Option<T> {
        futures::future::poll_fn(|cx| self.queue.poll_next(cx)).await
    }
}

impl<T> Stream for Subscription<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.queue.poll_next(cx)
    }
}

impl<T> Drop for Subscription<T> {
    fn drop(&mut self) {
        let active = !self.queue.is_ended();
        self.queue.close_receiver();
        if active {
            // Fire and forget: Drop cannot wait for the reply, and the reader
            // task retires the route when the publisher's Unsubscribed arrives.
            self.outgoing.unsubscribe(self.id);
        }
    }
}

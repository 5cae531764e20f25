//! Requests on their way to the writer task: a leaf that the router and the
//! subscriptions both send through.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use crate::message::{Message, Op, Request};

/// The writer task's queue and the request ids.
#[derive(Debug)]
pub(super) struct Outgoing {
    tx: mpsc::UnboundedSender<Message>,
    next_id: AtomicU64,
}

/// The writer task is gone.
#[derive(Debug)]
pub(super) struct WriterGone;

impl Outgoing {
    pub(super) fn new(tx: mpsc::UnboundedSender<Message>) -> Outgoing {
        Outgoing {
            tx,
            next_id: AtomicU64::new(1),
        }
    }

    /// A fresh request id.
    pub(super) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Queues request `id`.
    pub(super) fn send(&self, id: u64, op: Op) -> Result<(), WriterGone> {
        self.tx
            .send(Message::Request(Request { id, op }))
            .map_err(|_| WriterGone)
    }

    /// Asks the publisher to end `subscription`, answer unawaited. If the
    /// writer is gone, so is the subscription.
    pub(super) fn unsubscribe(&self, subscription: u64) {
        let _ = self.send(self.next_id(), Op::Unsubscribe { subscription });
    }
}

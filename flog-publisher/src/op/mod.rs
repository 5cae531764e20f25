//! One module per operation of docs/protocol.md §6-7, each applied with one
//! small [`Context`]: the shared state, the connection's outbox, and the
//! token and tracker that bound everything it starts.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use flog_wire::{ErrorCode, Op, Reply, Request};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::outbox::Outbox;
use crate::reply::{error, response};
use crate::state::State;

mod events;
mod fetch;
mod incidents;
mod info;
mod list;
mod snapshot;
#[cfg(test)]
mod testing;
mod unsubscribe;

/// Fetches one connection may run at once; more wait (reading pauses).
pub(crate) const FETCHES_PER_CONNECTION: usize = 4;

/// What an operation works with.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    pub(crate) state: Arc<State>,
    pub(crate) outbox: Outbox,
    /// Cancelled when the connection (or, for a subscription's forwarder,
    /// the subscription) ends; every wait of an operation ends with it.
    pub(crate) cancel: CancellationToken,
    /// The connection's tasks: fetches and forwarders, waited for before the
    /// connection's last word.
    pub(crate) tasks: TaskTracker,
    pub(crate) fetches: Arc<Semaphore>,
}

impl Context {
    /// A context for the connection whose outbox is `outbox`.
    pub(crate) fn new(state: Arc<State>, outbox: Outbox, cancel: CancellationToken) -> Context {
        Context {
            state,
            outbox,
            cancel,
            tasks: TaskTracker::new(),
            fetches: Arc::new(Semaphore::new(FETCHES_PER_CONNECTION)),
        }
    }

    /// The same context, cancelled also on its own: a subscription's.
    fn child(&self) -> Context {
        let cancel = self.cancel.child_token();
        Context {
            outbox: self.outbox.with_cancel(cancel.clone()),
            cancel,
            ..self.clone()
        }
    }

    async fn reply(&self, id: u64, reply: Reply) {
        let _ = self.outbox.send(response(id, reply)).await;
    }

    async fn fail(&self, id: u64, code: ErrorCode, message: impl Into<String>) {
        let _ = self.outbox.send(error(Some(id), code, message)).await;
    }
}

/// Applies one request.
pub(crate) async fn apply(Request { id, op }: Request, cx: &Context, subs: &mut Subscriptions) {
    match op {
        Op::GetVersions | Op::GetPid | Op::Ping => info::apply(id, &op, cx).await,
        Op::ListIncidents(query) => list::apply(id, &query, cx).await,
        Op::GetIncident {
            name,
            offset,
            chunk_size,
        } => {
            let fetch = fetch::Fetch {
                id,
                name,
                offset,
                chunk_size,
            };
            fetch.start(cx).await
        }
        Op::SubscribeToIncidents {
            catch_up,
            since_name,
        } => {
            let forward = |sub| incidents::forward(sub, catch_up, since_name);
            subs.start(id, cx, forward).await
        }
        Op::SubscribeToAll { catch_up } => {
            subs.start(id, cx, |sub| events::forward(sub, catch_up))
                .await
        }
        Op::Unsubscribe { subscription } => unsubscribe::apply(id, subscription, cx, subs).await,
        Op::Snapshot { reason } => snapshot::apply(id, reason, cx).await,
    }
}

/// A subscription's forwarder, as it starts.
#[derive(Debug)]
pub(crate) struct Subscription {
    /// Cancelled by `unsubscribe` and when the connection ends.
    pub(crate) cx: Context,
    /// The subscribe request.
    pub(crate) request: u64,
    /// The subscription's id.
    pub(crate) id: u64,
}

/// The running subscriptions of one connection.
#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    running: HashMap<u64, Running>,
    next: u64,
}

#[derive(Debug)]
struct Running {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Subscriptions {
    /// Starts the forwarder of a new subscription on the connection's
    /// tracker, unless the connection has as many as it may.
    async fn start<F, Fut>(&mut self, request: u64, cx: &Context, forward: F)
    where
        F: FnOnce(Subscription) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.running.retain(|_, r| !r.task.is_finished());
        if self.running.len() >= cx.state.config.max_subscriptions {
            let why = "too many subscriptions on this connection";
            return cx.fail(request, ErrorCode::Busy, why).await;
        }
        self.next += 1;
        let id = self.next;
        let sub = Subscription {
            cx: cx.child(),
            request,
            id,
        };
        let cancel = sub.cx.cancel.clone();
        let task = cx.tasks.spawn(forward(sub));
        self.running.insert(id, Running { cancel, task });
    }

    /// Ends subscription `id` and waits until its forwarder sent its last
    /// push; `false` if there is no such subscription.
    async fn end(&mut self, id: u64) -> bool {
        match self.running.remove(&id) {
            Some(r) => {
                r.cancel.cancel();
                let _ = r.task.await;
                true
            }
            None => false,
        }
    }

    /// Ends every subscription, as [`end`](Self::end) does.
    pub(crate) async fn end_all(&mut self) {
        for (_, r) in self.running.drain() {
            r.cancel.cancel();
            let _ = r.task.await;
        }
    }
}

//! The client's background tasks: one reads and routes, one writes.
//!
//! Reading and writing run in separate tasks so that a publisher streaming
//! a large reply can never deadlock against a client still sending requests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::error::{ClientError, ProtocolError};
use super::outgoing::Outgoing;
use super::queue::PushQueue;
use super::subscription::{EventUpdate, IncidentUpdate};
use crate::connection::{MessageReader, MessageWriter};
use crate::error::WireError;
use crate::message::{ErrorMessage, Message, Op, Reply, Response};

/// How many queued messages the writer task encodes before flushing.
const WRITE_BATCH: usize = 64;

/// Where the replies to one request go.
pub(super) enum Pending {
    /// A request answered by exactly one reply.
    Reply(oneshot::Sender<Result<Reply, ClientError>>),
    /// A request answered by chunks, then a final reply. Bounded, so that a
    /// slow consumer slows the socket instead of filling memory.
    Stream(mpsc::Sender<Result<Reply, ClientError>>),
    /// A subscribe request: its reply installs `route` before the reader
    /// reads the next frame, so that no push can overtake it.
    Subscribe {
        reply: oneshot::Sender<Result<Reply, ClientError>>,
        route: PushRoute,
    },
}

/// Where the pushes of one subscription go.
#[derive(Clone)]
pub(super) enum PushRoute {
    Incidents(Arc<PushQueue<IncidentUpdate>>),
    Events(Arc<PushQueue<EventUpdate>>),
}

impl PushRoute {
    fn end(&self, reason: String) {
        match self {
            PushRoute::Incidents(queue) => queue.end(reason),
            PushRoute::Events(queue) => queue.end(reason),
        }
    }

    fn add_dropped(&self, count: u64) {
        match self {
            PushRoute::Incidents(queue) => queue.add_dropped(count),
            PushRoute::Events(queue) => queue.add_dropped(count),
        }
    }
}

#[derive(Default)]
struct Routes {
    /// Set once, when the connection ends; later requests fail at once.
    closed: Option<String>,
    /// The last error the publisher sent without a request id; it usually
    /// explains why the publisher is about to close the connection.
    connection_error: Option<String>,
    requests: HashMap<u64, Pending>,
    subscriptions: HashMap<u64, PushRoute>,
}

/// State shared by the client, its subscriptions and its two tasks.
pub(crate) struct Shared {
    pub(super) outgoing: Arc<Outgoing>,
    routes: Mutex<Routes>,
    /// Cancelled when the client is dropped or either task ends.
    stop: CancellationToken,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let routes = self.lock();
        f.debug_struct("Shared")
            .field("closed", &routes.closed)
            .field("pending_requests", &routes.requests.len())
            .field("subscriptions", &routes.subscriptions.len())
            .finish()
    }
}

/// Removes a request's route when its caller stops waiting, whether it got
/// its answer, timed out, or was cancelled; later replies are then dropped.
pub(super) struct PendingRequest<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for PendingRequest<'_> {
    fn drop(&mut self) {
        self.shared.lock().requests.remove(&self.id);
    }
}

impl Shared {
    pub(super) fn new(outgoing: mpsc::UnboundedSender<Message>, stop: CancellationToken) -> Self {
        Self {
            outgoing: Arc::new(Outgoing::new(outgoing)),
            routes: Mutex::new(Routes::default()),
            stop,
        }
    }

    /// Whether anything waits on the connection: a request or a subscription.
    pub(super) fn in_use(&self) -> bool {
        let routes = self.lock();
        !routes.requests.is_empty() || !routes.subscriptions.is_empty()
    }

    /// Completes when the connection has ended.
    pub(super) async fn stopped(&self) {
        self.stop.cancelled().await;
    }

    fn lock(&self) -> MutexGuard<'_, Routes> {
        // Nothing panics while holding the lock, so poison carries no meaning.
        self.routes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers where the replies go, then sends the request.
    pub(super) fn start_request(
        &self,
        pending: Pending,
        op: Op,
    ) -> Result<PendingRequest<'_>, ClientError> {
        let id = self.outgoing.next_id();
        {
            let mut routes = self.lock();
            if let Some(reason) = &routes.closed {
                return Err(ClientError::Closed {
                    reason: reason.clone(),
                });
            }
            routes.requests.insert(id, pending);
        }
        let guard = PendingRequest { shared: self, id };
        if self.outgoing.send(id, op).is_err() {
            return Err(self.closed_error());
        }
        Ok(guard)
    }

    /// The error for an operation on a connection that has ended.
    pub(super) fn closed_error(&self) -> ClientError {
        let reason = self
            .lock()
            .closed
            .clone()
            .unwrap_or_else(|| "the connection's tasks have stopped".to_string());
        ClientError::Closed { reason }
    }

    fn send_unsubscribe(&self, subscription: u64) {
        if self.lock().closed.is_some() {
            return;
        }
        self.outgoing.unsubscribe(subscription);
    }

    /// Ends the connection for every waiter; the first reason wins.
    pub(super) fn close(&self, reason: String) {
        let (requests, subscriptions) = {
            let mut routes = self.lock();
            if routes.closed.is_some() {
                return;
            }
            let reason = match &routes.connection_error {
                Some(error) => format!("{reason} (after the publisher's error: {error})"),
                None => reason,
            };
            routes.closed = Some(reason);
            (
                std::mem::take(&mut routes.requests),
                std::mem::take(&mut routes.subscriptions),
            )
        };
        let error = || self.closed_error();
        for (_, pending) in requests {
            match pending {
                Pending::Reply(tx) | Pending::Subscribe { reply: tx, .. } => {
                    let _ = tx.send(Err(error()));
                }
                // A full channel means its consumer is busy; it will find the
                // channel closed once it drains it.
                Pending::Stream(tx) => {
                    let _ = tx.try_send(Err(error()));
                }
            }
        }
        if let ClientError::Closed { reason } = error() {
            for (_, route) in subscriptions {
                route.end(reason.clone());
            }
        }
        self.stop.cancel();
    }

    /// Delivers a reply or failure to the request `id`, if anyone still waits.
    async fn deliver(&self, id: u64, result: Result<Reply, ClientError>) {
        let more_follow = matches!(result, Ok(Reply::IncidentChunk { .. }));
        let target = {
            let mut routes = self.lock();
            let pending = if more_follow {
                match routes.requests.get(&id) {
                    Some(Pending::Stream(tx)) => Some(Pending::Stream(tx.clone())),
                    _ => routes.requests.remove(&id),
                }
            } else {
                routes.requests.remove(&id)
            };
            if let (
                Some(Pending::Subscribe { route, .. }),
                Ok(Reply::Subscribed { subscription }),
            ) = (&pending, &result)
            {
                routes.subscriptions.insert(*subscription, route.clone());
            }
            pending
        };
        match target {
            None => {
                debug!(id, "dropping a reply nobody waits for");
                if let Ok(Reply::Subscribed { subscription }) = result {
                    // The caller gave up before the publisher answered.
                    self.send_unsubscribe(subscription);
                }
            }
            Some(Pending::Reply(tx)) => {
                let _ = tx.send(result);
            }
            Some(Pending::Subscribe { reply, .. }) => {
                if let Err(Ok(Reply::Subscribed { subscription })) = reply.send(result) {
                    self.end_subscription(subscription, "the subscriber went away");
                    self.send_unsubscribe(subscription);
                }
            }
            Some(Pending::Stream(tx)) => {
                tokio::select! {
                    _ = self.stop.cancelled() => {}
                    sent = tx.send(result) => {
                        if sent.is_err() {
                            self.lock().requests.remove(&id);
                        }
                    }
                }
            }
        }
    }

    fn route_of(&self, subscription: u64) -> Option<PushRoute> {
        let route = self.lock().subscriptions.get(&subscription).cloned();
        if route.is_none() {
            debug!(subscription, "dropping a push for an unknown subscription");
        }
        route
    }

    fn push_incident(&self, subscription: u64, update: IncidentUpdate) {
        match self.route_of(subscription) {
            Some(PushRoute::Incidents(queue)) => queue.push(update),
            Some(PushRoute::Events(_)) => {
                debug!(
                    subscription,
                    "dropping an incident push for an event subscription"
                );
            }
            None => {}
        }
    }

    fn push_event(&self, subscription: u64, update: EventUpdate) {
        match self.route_of(subscription) {
            Some(PushRoute::Events(queue)) => queue.push(update),
            Some(PushRoute::Incidents(_)) => {
                debug!(
                    subscription,
                    "dropping an event push for an incident subscription"
                );
            }
            None => {}
        }
    }

    fn end_subscription(&self, subscription: u64, reason: &str) {
        let route = self.lock().subscriptions.remove(&subscription);
        if let Some(route) = route {
            route.end(reason.to_string());
        }
    }

    /// Handles one incoming message; `Some(reason)` ends the connection.
    async fn route(&self, message: Message) -> Option<String> {
        match message {
            Message::Response(Response { id, reply }) => {
                if let Reply::Unsubscribed { subscription } = reply {
                    // The publisher sends no push after this reply.
                    self.end_subscription(subscription, "unsubscribed");
                }
                self.deliver(id, Ok(reply)).await;
            }
            Message::Error(ErrorMessage {
                id: Some(id),
                code,
                message,
            }) => {
                self.deliver(id, Err(ClientError::Remote { code, message }))
                    .await;
            }
            Message::Error(ErrorMessage {
                id: None,
                code,
                message,
            }) => {
                debug!(%code, message, "the publisher reported a connection error");
                self.lock().connection_error = Some(format!("{code}: {message}"));
            }
            Message::NewIncident(push) => {
                self.push_incident(push.subscription, IncidentUpdate::New(push.incident));
            }
            Message::IncidentCatchupDone(push) => {
                self.push_incident(push.subscription, IncidentUpdate::CatchupDone);
            }
            Message::LogEvent(push) => {
                let update = match push.origin {
                    None => EventUpdate::Event(push.event),
                    Some(origin) => EventUpdate::Relayed {
                        event: push.event,
                        origin,
                    },
                };
                self.push_event(push.subscription, update);
            }
            Message::EventsDropped(push) => {
                if let Some(route) = self.route_of(push.subscription) {
                    route.add_dropped(push.count);
                }
            }
            Message::SubscriptionEnded(push) => {
                self.end_subscription(push.subscription, &push.reason);
            }
            Message::Goodbye(goodbye) => {
                return Some(format!("the publisher said goodbye: {}", goodbye.reason));
            }
            other @ (Message::Hello(_)
            | Message::Welcome(_)
            | Message::Request(_)
            | Message::Register(_)
            | Message::Registered(_)) => {
                return Some(format!(
                    "protocol violation: the publisher sent a {} message",
                    other.name()
                ));
            }
        }
        None
    }
}

/// Reads and routes messages until the connection or the client ends.
pub(super) async fn read_loop<R: AsyncRead + Unpin>(
    shared: Arc<Shared>,
    mut reader: MessageReader<R>,
) {
    let reason = loop {
        let next = tokio::select! {
            _ = shared.stop.cancelled() => break "the client was closed".to_string(),
            next = reader.read_message() => next,
        };
        match next {
            Ok(Some(message)) => {
                if let Some(reason) = shared.route(message).await {
                    break reason;
                }
            }
            Ok(None) => break "the publisher closed the connection".to_string(),
            Err(WireError::Malformed {
                error,
                request_id: Some(id),
            }) => {
                let error = ProtocolError::Undecodable(error).into();
                shared.deliver(id, Err(error)).await;
            }
            Err(error) if error.is_recoverable() => {
                debug!(%error, "ignoring an undecodable message from the publisher");
            }
            Err(error) => break format!("reading from the publisher failed: {error}"),
        }
    };
    shared.close(reason);
}

/// Writes queued messages until the connection or the client ends.
pub(super) async fn write_loop<W: AsyncWrite + Unpin>(
    shared: Arc<Shared>,
    mut writer: MessageWriter<W>,
    mut outgoing: mpsc::UnboundedReceiver<Message>,
) {
    let reason = loop {
        let first = tokio::select! {
            _ = shared.stop.cancelled() => return,
            first = outgoing.recv() => match first {
                Some(message) => message,
                None => return,
            },
        };
        let written = tokio::select! {
            _ = shared.stop.cancelled() => return,
            written = write_batch(&shared, &mut writer, first, &mut outgoing) => written,
        };
        if let Err(error) = written {
            break format!("writing to the publisher failed: {error}");
        }
    };
    shared.close(reason);
}

async fn write_batch<W: AsyncWrite + Unpin>(
    shared: &Shared,
    writer: &mut MessageWriter<W>,
    first: Message,
    outgoing: &mut mpsc::UnboundedReceiver<Message>,
) -> Result<(), WireError> {
    let mut next = Some(first);
    let mut batched = 0;
    while let Some(message) = next {
        match writer.feed(&message).await {
            Ok(()) => {}
            Err(error) if error.is_recoverable() => {
                // Only this message failed, e.g. a name too long for a frame.
                if let Message::Request(request) = &message {
                    shared.deliver(request.id, Err(error.into())).await;
                }
            }
            Err(error) => return Err(error),
        }
        batched += 1;
        next = if batched < WRITE_BATCH {
            outgoing.try_recv().ok()
        } else {
            None
        };
    }
    writer.flush().await
}

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use flog_wire::{
    Connection, ErrorCode, ErrorMessage, FlogCodec, Goodbye, Hello, Message, Op, Reply, Request,
    Response, Welcome, WireError, SUPPORTED_VERSIONS,
};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::fetch::stream_incident;
use crate::outbox::{write_loop, Outbox, OUTBOX_BYTES};
use crate::server::Shared;
use crate::subscribe::{forward_events, forward_incidents};

/// The largest incident chunk sent, whatever the client asks: two fit in the
/// byte budget, so a fetch keeps the socket busy while the next chunk is read.
const MAX_CHUNK: usize = OUTBOX_BYTES / 2;
/// The largest frame accepted from a client. Clients send only hellos and
/// requests, which take well under a kilobyte; the limit bounds what a peer,
/// authenticated or not, can make the publisher buffer per connection.
const MAX_INCOMING_FRAME: usize = 64 * 1024;
/// Fetches one connection may run at once; more wait (reading pauses).
const FETCHES_PER_CONNECTION: usize = 4;

/// Why a connection ended badly (logged where its task was spawned).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionError {
    #[error("{0}")]
    Wire(#[from] WireError),
    #[error("no hello within {0:?}")]
    HelloTimeout(Duration),
    #[error("the client accepted no data for {0:?}")]
    WriteTimeout(Duration),
    #[error("refused: {0}")]
    Refused(String),
}

pub(crate) fn error(id: Option<u64>, code: ErrorCode, message: impl Into<String>) -> Message {
    ErrorMessage {
        id,
        code,
        message: message.into(),
    }
    .into()
}

pub(crate) fn response(id: u64, reply: Reply) -> Message {
    Response { id, reply }.into()
}

/// Frames of up to `max_frame` bytes out, of up to [`MAX_INCOMING_FRAME`] in.
fn codec(max_frame: usize) -> FlogCodec {
    FlogCodec::with_max_frame(max_frame).with_max_incoming(MAX_INCOMING_FRAME.min(max_frame))
}

/// Tells a connection beyond the limit that the publisher is busy, and closes it.
pub(crate) async fn refuse_busy(stream: TcpStream, max_frame: usize) {
    let mut conn = Connection::with_codec(stream, codec(max_frame));
    let msg = error(None, ErrorCode::Busy, "too many connections");
    let _ = tokio::time::timeout(Duration::from_secs(1), conn.write_message(&msg)).await;
}

/// Serves one connection: hello, then requests until the client leaves, the
/// connection idles out or the publisher shuts down.
pub(crate) async fn serve(
    stream: TcpStream,
    shared: &Arc<Shared>,
    shutdown: &CancellationToken,
) -> Result<(), SessionError> {
    let mut conn = Connection::with_codec(stream, codec(shared.config.max_frame));
    let hello = tokio::select! {
        _ = shutdown.cancelled() => return Ok(()),
        read = tokio::time::timeout(shared.config.hello_timeout, conn.read_message()) => read,
    };
    let hello = match hello {
        Err(_) => {
            let msg = error(None, ErrorCode::Timeout, "no hello in time");
            let _ = conn.write_message(&msg).await;
            return Err(SessionError::HelloTimeout(shared.config.hello_timeout));
        }
        Ok(Ok(Some(Message::Hello(hello)))) => hello,
        Ok(Ok(None)) => return Ok(()),
        Ok(Ok(Some(other))) => {
            let why = format!("expected hello, got {}", other.name());
            conn.write_message(&error(None, ErrorCode::Unauthorized, &why))
                .await?;
            return Err(SessionError::Refused(why));
        }
        Ok(Err(e)) if e.is_recoverable() => {
            let why = format!("undecodable hello: {e}");
            let _ = conn
                .write_message(&error(None, ErrorCode::Malformed, &why))
                .await;
            return Err(SessionError::Refused(why));
        }
        Ok(Err(e)) => {
            if matches!(e, WireError::FrameTooLarge { .. }) {
                let _ = conn
                    .write_message(&error(None, ErrorCode::TooLarge, e.to_string()))
                    .await;
            }
            return Err(e.into());
        }
    };
    let version = match check_hello(&hello, shared) {
        Ok(version) => version,
        Err((code, why)) => {
            conn.write_message(&error(None, code, &why)).await?;
            return Err(SessionError::Refused(why));
        }
    };
    let welcome = Welcome {
        version,
        publisher_id: shared.identity.publisher_id.clone(),
        pid: std::process::id(),
        versions: shared.versions(),
        incarnation: shared.logger.incarnation().to_string(),
        server: format!("flog-publisher/{}", env!("CARGO_PKG_VERSION")),
        idle_timeout_ms: Some(
            shared
                .config
                .idle_timeout
                .as_millis()
                .try_into()
                .unwrap_or(u64::MAX),
        ),
    };
    conn.write_message(&welcome.into()).await?;
    tracing::debug!(client = %hello.client, "client connected");

    let (mut reader, writer) = conn.into_split();
    let (outbox, rx, budget) = Outbox::new();
    let writer = tokio::spawn(write_loop(
        writer,
        rx,
        budget,
        shared.config.write_timeout,
        shutdown.clone(),
    ));
    let mut session = Session {
        shared: Arc::clone(shared),
        outbox,
        cancel: shutdown.child_token(),
        fetches: Arc::new(Semaphore::new(FETCHES_PER_CONNECTION)),
        subscriptions: HashMap::new(),
        next_subscription: 1,
    };
    let result = loop {
        let idle = shared.config.idle_timeout;
        let read = tokio::select! {
            _ = shutdown.cancelled() => {
                session.quiesce().await;
                let bye = Goodbye { reason: "publisher shutting down".into() };
                let _ = session.outbox.send(bye.into()).await;
                break Ok(());
            }
            // The writer gave up on a client that does not read.
            _ = session.outbox.closed() => break Ok(()),
            read = tokio::time::timeout(idle, reader.read_message()) => read,
        };
        match read {
            Err(_) if session.subscriptions.is_empty() => {
                let _ = session
                    .outbox
                    .send(error(None, ErrorCode::Timeout, "idle"))
                    .await;
                break Ok(());
            }
            // Subscribed clients only listen; silence is not idleness.
            Err(_) => continue,
            Ok(Ok(Some(Message::Request(request)))) => session.dispatch(request).await,
            Ok(Ok(Some(other))) => {
                let msg = format!("a client must not send {}", other.name());
                let _ = session
                    .outbox
                    .send(error(None, ErrorCode::Malformed, msg))
                    .await;
            }
            Ok(Ok(None)) => break Ok(()),
            Ok(Err(WireError::Malformed {
                error: why,
                request_id,
            })) => {
                let msg = error(request_id, ErrorCode::Malformed, why);
                let _ = session.outbox.send(msg).await;
            }
            Ok(Err(e)) => {
                if matches!(e, WireError::FrameTooLarge { .. }) {
                    let _ = session
                        .outbox
                        .send(error(None, ErrorCode::TooLarge, e.to_string()))
                        .await;
                }
                break Err(e.into());
            }
        }
    };
    session.end_all().await;
    session.cancel.cancel();
    drop(session);
    // The writer ends once every sender is gone: after the last queued frame.
    let written = writer.await.unwrap_or(Ok(()));
    result.and(written)
}

fn check_hello(hello: &Hello, shared: &Shared) -> Result<u32, (ErrorCode, String)> {
    // The secret first: an unauthorised peer learns nothing, not even versions.
    if !shared.identity.secret_matches(&hello.secret) {
        return Err((ErrorCode::Unauthorized, "wrong secret".into()));
    }
    hello
        .versions
        .iter()
        .copied()
        .filter(|v| SUPPORTED_VERSIONS.contains(v))
        .max()
        .ok_or_else(|| {
            (
                ErrorCode::VersionMismatch,
                format!(
                    "client speaks versions {:?}, this publisher speaks {:?}",
                    hello.versions, SUPPORTED_VERSIONS
                ),
            )
        })
}

struct Subscription {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

struct Session {
    shared: Arc<Shared>,
    outbox: Outbox,
    cancel: CancellationToken,
    fetches: Arc<Semaphore>,
    subscriptions: HashMap<u64, Subscription>,
    next_subscription: u64,
}

impl Session {
    async fn reply(&self, id: u64, reply: Reply) {
        let _ = self.outbox.send(response(id, reply)).await;
    }

    async fn fail(&self, id: u64, code: ErrorCode, message: impl Into<String>) {
        let _ = self.outbox.send(error(Some(id), code, message)).await;
    }

    async fn dispatch(&mut self, Request { id, op }: Request) {
        match op {
            Op::GetVersions => {
                let versions = self.shared.versions();
                self.reply(id, Reply::Versions { versions }).await;
            }
            Op::GetPid => {
                let pid = std::process::id();
                self.reply(id, Reply::Pid { pid }).await;
            }
            Op::Ping => self.reply(id, Reply::Pong).await,
            Op::ListIncidents(query) if query.limit == Some(0) => {
                let why = "list_incidents: limit must be at least 1 (leave it out to let the publisher choose)";
                self.fail(id, ErrorCode::Malformed, why).await;
            }
            Op::ListIncidents(query) => {
                let (incidents, more) = self.shared.index.list(&query);
                let bytes = incidents
                    .iter()
                    .map(|i| i.name.len() + i.trigger.as_bytes().len() + 64)
                    .sum();
                let page = response(id, Reply::Incidents { incidents, more });
                let _ = self.outbox.send_large(page, bytes).await;
            }
            Op::GetIncident {
                name,
                offset,
                chunk_size,
            } => {
                if !flog_wire::is_valid_incident_name(&name) {
                    return self
                        .fail(
                            id,
                            ErrorCode::BadName,
                            format!("not an incident name: {name:?}"),
                        )
                        .await;
                }
                let Some(entry) = self.shared.index.get(&name) else {
                    return self
                        .fail(
                            id,
                            ErrorCode::UnknownIncident,
                            format!("no finished incident {name}"),
                        )
                        .await;
                };
                let Ok(permit) = Arc::clone(&self.fetches).acquire_owned().await else {
                    return;
                };
                let largest = MAX_CHUNK.min(self.shared.config.max_frame / 2) as u32;
                let chunk = chunk_size
                    .unwrap_or(self.shared.config.chunk_size)
                    .clamp(1024.min(largest), largest);
                let (shared, outbox, cancel) = (
                    Arc::clone(&self.shared),
                    self.outbox.clone(),
                    self.cancel.clone(),
                );
                tokio::spawn(async move {
                    stream_incident(&shared, entry, id, offset, chunk as usize, outbox, cancel)
                        .await;
                    drop(permit);
                });
            }
            Op::SubscribeToIncidents {
                catch_up,
                since_name,
            } => {
                self.subscribe(id, |shared, outbox, cancel, sub| {
                    forward_incidents(shared, outbox, cancel, id, sub, catch_up, since_name)
                })
                .await
            }
            Op::SubscribeToAll { catch_up } => {
                self.subscribe(id, |shared, outbox, cancel, sub| {
                    forward_events(shared, outbox, cancel, id, sub, catch_up)
                })
                .await
            }
            Op::Unsubscribe { subscription } => match self.subscriptions.remove(&subscription) {
                Some(sub) => {
                    // Wait for the forwarder so no push follows `unsubscribed`.
                    sub.cancel.cancel();
                    let _ = sub.task.await;
                    self.reply(id, Reply::Unsubscribed { subscription }).await;
                }
                None => {
                    self.fail(
                        id,
                        ErrorCode::Malformed,
                        format!("no subscription {subscription}"),
                    )
                    .await;
                }
            },
        }
    }

    /// Starts the forwarder of a new subscription (unless over the limit) on a
    /// task of its own, remembered so that unsubscribe can end it.
    async fn subscribe<F, Fut>(&mut self, id: u64, forward: F)
    where
        F: FnOnce(Arc<Shared>, Outbox, CancellationToken, u64) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        if let Some(sub) = self.new_subscription(id).await {
            let cancel = self.cancel.child_token();
            let forwarder = forward(
                Arc::clone(&self.shared),
                self.outbox.clone(),
                cancel.clone(),
                sub,
            );
            let task = tokio::spawn(forwarder);
            self.subscriptions
                .insert(sub, Subscription { cancel, task });
        }
    }

    async fn new_subscription(&mut self, id: u64) -> Option<u64> {
        self.subscriptions.retain(|_, s| !s.task.is_finished());
        if self.subscriptions.len() >= self.shared.config.max_subscriptions {
            self.fail(
                id,
                ErrorCode::Busy,
                "too many subscriptions on this connection",
            )
            .await;
            return None;
        }
        let sub = self.next_subscription;
        self.next_subscription += 1;
        Some(sub)
    }

    /// Stops every fetch and subscription and waits until they sent their last
    /// frame, so that what is queued after this is the connection's last word.
    async fn quiesce(&mut self) {
        self.cancel.cancel();
        self.end_all().await;
        let _ = self
            .fetches
            .acquire_many(FETCHES_PER_CONNECTION as u32)
            .await;
    }

    async fn end_all(&mut self) {
        for (_, sub) in self.subscriptions.drain() {
            sub.cancel.cancel();
            let _ = sub.task.await;
        }
    }
}

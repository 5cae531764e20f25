//! One client of the gatherer's logport: the hello (the secret first), the
//! welcome, then requests until the client leaves, falls silent, or the
//! gatherer stops. A writer task sends what the request loop and the
//! subscriptions queue; a subscription waits for the writer, never the
//! relay, whose queue absorbs (and counts) what a slow client cannot take.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use flog_wire::{
    Connection, ErrorCode, ErrorMessage, EventsDropped, FlogCodec, Goodbye, Hello, LogEvent,
    Message, MessageReader, MessageWriter, Op, QueueLimits, Reply, Request, Response, Stream,
    SubscriptionEnded, Welcome, WireError, DEFAULT_MAX_FRAME, SUPPORTED_VERSIONS,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::catch_up::{self, CatchUp};
use crate::events::{Relay, RelayQueue, Relayed};
use crate::listen::secrets_match;

/// The largest frame taken from a client: hellos and requests are small.
const MAX_INCOMING_FRAME: usize = 64 * 1024;
/// Frames queued for the writer; the relay queue holds the rest.
const OUTGOING: usize = 64;
/// Pushes one subscriber's relay queue holds at most, besides its bytes.
const QUEUE_PUSHES: usize = 65_536;
/// How long the client may send nothing; announced in the welcome, and
/// `flogtool tail` pings well within it.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long what is queued when a session ends may take to reach the client.
const CLOSING_GRACE: Duration = Duration::from_secs(2);
/// How long the client may accept nothing before it is given up on.
const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// What every session shares.
#[derive(Debug)]
pub(crate) struct SessionContext {
    pub(crate) gatherer_id: String,
    pub(crate) secret: String,
    /// Changes at every start of the gatherer.
    pub(crate) incarnation: String,
    pub(crate) relay: Arc<Relay>,
    /// Bytes of each subscriber's relay queue.
    pub(crate) queue_memory: usize,
    /// How long the hello may take.
    pub(crate) patience: Duration,
}

/// Why a session ended badly (logged at debug where it was spawned).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionError {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("refused: {0}")]
    Refused(&'static str),
    #[error("no hello within {0:?}")]
    HelloTimeout(Duration),
}

fn codec() -> FlogCodec {
    FlogCodec::with_max_frame(DEFAULT_MAX_FRAME).with_max_incoming(MAX_INCOMING_FRAME)
}

fn error(id: Option<u64>, code: ErrorCode, message: impl Into<String>) -> Message {
    ErrorMessage {
        id,
        code,
        message: message.into(),
    }
    .into()
}

fn response(id: u64, reply: Reply) -> Message {
    Response { id, reply }.into()
}

/// Tells a connection beyond the limit that the logport is busy.
pub(crate) async fn refuse_busy(stream: Stream) {
    let mut conn = Connection::with_codec(stream, codec());
    let msg = error(None, ErrorCode::Busy, "too many connections");
    let _ = tokio::time::timeout(Duration::from_secs(1), conn.write_message(&msg)).await;
}

/// Serves one connection.
pub(crate) async fn serve(
    cx: &SessionContext,
    stream: Stream,
    shutdown: CancellationToken,
) -> Result<(), SessionError> {
    let mut conn = Connection::with_codec(stream, codec());
    let read = tokio::select! {
        _ = shutdown.cancelled() => return Ok(()),
        read = tokio::time::timeout(cx.patience, conn.read_message()) => read,
    };
    let hello = match read {
        Err(_) => {
            let _ = conn
                .write_message(&error(None, ErrorCode::Timeout, "no hello in time"))
                .await;
            return Err(SessionError::HelloTimeout(cx.patience));
        }
        Ok(Ok(Some(Message::Hello(hello)))) => hello,
        Ok(Ok(None)) => return Ok(()),
        Ok(Ok(Some(_))) => {
            return refuse(&mut conn, ErrorCode::Unauthorized, "expected hello").await
        }
        Ok(Err(e)) if e.is_recoverable() => {
            return refuse(&mut conn, ErrorCode::Malformed, "undecodable hello").await
        }
        Ok(Err(e)) => return Err(e.into()),
    };
    let version = match check_hello(cx, &hello) {
        Ok(version) => version,
        Err((code, why)) => return refuse(&mut conn, code, why).await,
    };
    conn.write_message(&welcome(cx, version).into()).await?;
    tracing::debug!(client = %hello.client, "a logport client connected");
    let (reader, writer) = conn.into_split();
    let (out, queued) = mpsc::channel(OUTGOING);
    let ended = CancellationToken::new();
    let writing = tokio::spawn(write_loop(writer, queued, ended.clone()));
    let read = read_requests(cx, reader, &out, &shutdown, &ended).await;
    drop(out);
    // The writer ends once every subscription's sender is gone too; what
    // is still queued (a goodbye) gets a short grace, not the stall limit,
    // so that a client that reads nothing cannot hold up a shutdown.
    let mut writing = writing;
    if tokio::time::timeout(CLOSING_GRACE, &mut writing)
        .await
        .is_err()
    {
        writing.abort();
    }
    read
}

async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Connection<S>,
    code: ErrorCode,
    why: &'static str,
) -> Result<(), SessionError> {
    let _ = conn.write_message(&error(None, code, why)).await;
    Err(SessionError::Refused(why))
}

/// The version to speak; the secret first, so that an unauthorized peer
/// learns nothing, not even versions.
fn check_hello(cx: &SessionContext, hello: &Hello) -> Result<u32, (ErrorCode, &'static str)> {
    if !secrets_match(&cx.secret, &hello.secret) {
        return Err((ErrorCode::Unauthorized, "wrong secret"));
    }
    hello
        .versions
        .iter()
        .copied()
        .filter(|v| SUPPORTED_VERSIONS.contains(v))
        .max()
        .ok_or((ErrorCode::VersionMismatch, "no protocol version in common"))
}

fn versions() -> BTreeMap<String, String> {
    BTreeMap::from([(
        "flog-gatherer".to_owned(),
        env!("CARGO_PKG_VERSION").to_owned(),
    )])
}

fn welcome(cx: &SessionContext, version: u32) -> Welcome {
    Welcome {
        version,
        publisher_id: cx.gatherer_id.clone(),
        pid: std::process::id(),
        versions: versions(),
        incarnation: cx.incarnation.clone(),
        server: concat!("flog-gatherer/", env!("CARGO_PKG_VERSION")).to_owned(),
        idle_timeout_ms: Some(IDLE_TIMEOUT.as_millis() as u64),
    }
}

/// Sends what is queued, a burst per flush, until every sender is gone or
/// the client accepts nothing for [`STALL_TIMEOUT`]; then cancels `ended`.
async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: MessageWriter<W>,
    mut queued: mpsc::Receiver<Message>,
    ended: CancellationToken,
) {
    let _ended = ended.drop_guard();
    while let Some(first) = queued.recv().await {
        let burst = async {
            writer.feed(&first).await?;
            while let Ok(next) = queued.try_recv() {
                writer.feed(&next).await?;
            }
            writer.flush().await
        };
        match tokio::time::timeout(STALL_TIMEOUT, burst).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::debug!(%error, "a logport client went away: {error}");
                return;
            }
            Err(_) => {
                tracing::info!("a logport client accepted nothing for {STALL_TIMEOUT:?}; closing");
                return;
            }
        }
    }
}

/// The request loop; ends every subscription before it returns.
async fn read_requests<R: AsyncRead + Unpin>(
    cx: &SessionContext,
    mut reader: MessageReader<R>,
    out: &mpsc::Sender<Message>,
    shutdown: &CancellationToken,
    ended: &CancellationToken,
) -> Result<(), SessionError> {
    let mut subs = Subscriptions::default();
    let result = loop {
        let read = tokio::select! {
            _ = shutdown.cancelled() => {
                let bye = Goodbye { reason: "gatherer shutting down".into() };
                let _ = out.send(bye.into()).await;
                break Ok(());
            }
            _ = ended.cancelled() => break Ok(()),
            read = tokio::time::timeout(IDLE_TIMEOUT, reader.read_message()) => read,
        };
        let reply = match read {
            Err(_) => {
                let why = format!("no frame from the client for {IDLE_TIMEOUT:?}");
                let _ = out.send(error(None, ErrorCode::Timeout, why)).await;
                break Ok(());
            }
            Ok(Ok(None)) => break Ok(()),
            Ok(Ok(Some(Message::Request(request)))) => subs.apply(cx, request, out).await,
            Ok(Ok(Some(other))) => Some(error(
                None,
                ErrorCode::Malformed,
                format!("a client must not send {}", other.name()),
            )),
            Ok(Err(WireError::Malformed {
                error: why,
                request_id,
            })) => Some(error(request_id, ErrorCode::Malformed, why.to_string())),
            Ok(Err(e)) => break Err(e.into()),
        };
        if let Some(reply) = reply {
            if out.send(reply).await.is_err() {
                break Ok(());
            }
        }
    };
    subs.end_all().await;
    result
}

/// A connection's subscriptions.
#[derive(Default)]
struct Subscriptions {
    next_id: u64,
    live: HashMap<u64, Running>,
}

/// A subscription's task, and how to stop it.
struct Running {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

impl Subscriptions {
    /// Applies a request: the reply to send now, if any (a subscription
    /// sends its own `subscribed`, before its pushes).
    async fn apply(
        &mut self,
        cx: &SessionContext,
        request: Request,
        out: &mpsc::Sender<Message>,
    ) -> Option<Message> {
        let id = request.id;
        let reply = match request.op {
            Op::Ping => Reply::Pong,
            Op::GetVersions => Reply::Versions {
                versions: versions(),
            },
            Op::GetPid => Reply::Pid {
                pid: std::process::id(),
            },
            Op::SubscribeToAll { catch_up } => {
                self.subscribe(cx, id, catch_up, out);
                return None;
            }
            Op::Unsubscribe { subscription } => match self.live.remove(&subscription) {
                Some(running) => {
                    // Stopped first: no push of it follows `unsubscribed`.
                    running.stop().await;
                    Reply::Unsubscribed { subscription }
                }
                None => {
                    let why = format!("no subscription {subscription}");
                    return Some(error(Some(id), ErrorCode::Malformed, why));
                }
            },
            op @ (Op::ListIncidents(_)
            | Op::GetIncident { .. }
            | Op::SubscribeToIncidents { .. }
            | Op::Snapshot { .. }) => {
                let why = format!(
                    "a gatherer's logport serves its gathered events only (subscribe_to_all), \
                     not {}: ask the publishers, or read the gatherer's BASEDIR/incidents",
                    op.name()
                );
                return Some(error(Some(id), ErrorCode::Unsupported, why));
            }
        };
        Some(response(id, reply))
    }

    fn subscribe(
        &mut self,
        cx: &SessionContext,
        request: u64,
        catch_up: bool,
        out: &mpsc::Sender<Message>,
    ) {
        let subscription = self.next_id;
        self.next_id += 1;
        let limits = QueueLimits {
            pushes: QUEUE_PUSHES,
            bytes: cx.queue_memory,
        };
        // Registered now, before the reply: from here on nothing written
        // is missed (the seam).
        let (queue, seam) = cx.relay.subscribe(limits);
        let stop = CancellationToken::new();
        let push = Pushes {
            relay: Arc::clone(&cx.relay),
            queue,
            out: out.clone(),
            subscription,
        };
        let seam = catch_up.then_some(seam).flatten();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            tokio::select! {
                _ = stopped.cancelled() => {}
                _ = push.run(request, seam) => {}
            }
            push.relay.unsubscribe(&push.queue);
        });
        self.live.insert(subscription, Running { stop, task });
    }

    async fn end_all(self) {
        for (_, running) in self.live {
            running.stop().await;
        }
    }
}

/// One subscription's pushes.
struct Pushes {
    relay: Arc<Relay>,
    queue: RelayQueue,
    out: mpsc::Sender<Message>,
    subscription: u64,
}

impl Pushes {
    /// `subscribed`, the catch-up, then live until the relay ends or the
    /// client is gone.
    async fn run(&self, request: u64, seam: Option<crate::events::Seam>) {
        let subscribed = Reply::Subscribed {
            subscription: self.subscription,
        };
        if self.out.send(response(request, subscribed)).await.is_err() {
            return;
        }
        if let Some(seam) = seam {
            let mut file = catch_up::start(seam);
            loop {
                match file.next().await {
                    Some(CatchUp::Event(relayed)) => {
                        if self.push(relayed).await.is_err() {
                            return;
                        }
                    }
                    Some(CatchUp::Unreadable(why)) => {
                        tracing::info!("a logport catch-up stopped early: {why}");
                        break;
                    }
                    None => break,
                }
            }
        }
        while let Some(relayed) = self.queue.next().await {
            if self.push(relayed).await.is_err() {
                return;
            }
        }
    }

    async fn push(&self, relayed: Relayed) -> Result<(), mpsc::error::SendError<Message>> {
        let subscription = self.subscription;
        let message = match relayed {
            Relayed::Event { event, origin } => LogEvent {
                subscription,
                event,
                origin: Some(origin),
            }
            .into(),
            Relayed::Dropped(count) => EventsDropped {
                subscription,
                count,
            }
            .into(),
            Relayed::Ended(reason) => SubscriptionEnded {
                subscription,
                reason,
            }
            .into(),
        };
        self.out.send(message).await
    }
}

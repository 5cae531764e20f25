//! One connection, over any byte stream: the hello, then requests until the
//! client leaves, falls silent, or the publisher shuts down.

use std::sync::Arc;
use std::time::Duration;

use flog_wire::{
    Connection, ErrorCode, FlogCodec, Goodbye, Hello, Message, MessageReader, Welcome, WireError,
    SUPPORTED_VERSIONS,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use crate::op::{self, Context, Subscriptions};
use crate::outbox::{write_loop, Outbox, WriterEnd};
use crate::reply::error;
use crate::state::State;
use crate::stats::Stats;

/// Who is at the other end of a connection, which decides what authorizes
/// its hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    /// A client that connected to the logport: its hello must carry the
    /// secret.
    Client,
    /// A gatherer this publisher dialed out to, having checked its key
    /// against the gatherer URL it was configured with, and registered
    /// with: the publisher chose to serve it, so the hello's secret is not
    /// checked (the gatherer never learns the logport secret).
    DialedGatherer,
}

/// The largest frame accepted from a client. Clients send only hellos and
/// requests, which take well under a kilobyte; the limit bounds what a peer,
/// authenticated or not, can make the publisher buffer per connection.
const MAX_INCOMING_FRAME: usize = 64 * 1024;

/// Frames of up to `max_frame` bytes out, of up to [`MAX_INCOMING_FRAME`] in.
pub(crate) fn codec(max_frame: usize) -> FlogCodec {
    FlogCodec::with_max_frame(max_frame).with_max_incoming(MAX_INCOMING_FRAME.min(max_frame))
}

/// Why a connection ended badly (logged where its task was spawned).
#[derive(Debug, thiserror::Error)]
pub(crate) enum HandlerError {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("no hello within {0:?}")]
    HelloTimeout(Duration),
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Writer(#[from] WriterEnd),
}

/// Why a hello was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refusal {
    #[error("wrong secret")]
    WrongSecret,
    #[error("client speaks versions {offered:?}, this publisher speaks {SUPPORTED_VERSIONS:?}")]
    NoCommonVersion { offered: Vec<u32> },
    #[error("expected hello, got {0}")]
    NotAHello(&'static str),
    #[error("undecodable hello: {0}")]
    Undecodable(WireError),
}

impl Refusal {
    fn code(&self) -> ErrorCode {
        match self {
            Refusal::WrongSecret | Refusal::NotAHello(_) => ErrorCode::Unauthorized,
            Refusal::NoCommonVersion { .. } => ErrorCode::VersionMismatch,
            Refusal::Undecodable(_) => ErrorCode::Malformed,
        }
    }
}

/// Why the request loop stopped.
enum Ending {
    ClientLeft,
    WriterGone,
    Shutdown,
    Idle(Duration),
    Failed(WireError),
}

/// Serves one connection; generic over the stream so that TLS and dial-out
/// connections are served the same way as accepted TCP ones.
#[derive(Debug)]
pub(crate) struct Handler<S> {
    state: Arc<State>,
    conn: Connection<S>,
    peer: Peer,
    shutdown: CancellationToken,
}

impl<S: AsyncRead + AsyncWrite + Send + Unpin + 'static> Handler<S> {
    pub(crate) fn new(state: Arc<State>, stream: S, shutdown: CancellationToken) -> Handler<S> {
        let conn = Connection::with_codec(stream, codec(state.config.max_frame));
        Self::with_connection(state, conn, Peer::Client, shutdown)
    }

    /// Serves a connection that has already carried frames (a dial-out's
    /// registration), made with [`codec`].
    pub(crate) fn with_connection(
        state: Arc<State>,
        conn: Connection<S>,
        peer: Peer,
        shutdown: CancellationToken,
    ) -> Handler<S> {
        Handler {
            state,
            conn,
            peer,
            shutdown,
        }
    }

    /// The hello and the welcome: `Ok(false)` when the client left first or
    /// the publisher is shutting down.
    pub(crate) async fn handshake(&mut self) -> Result<bool, HandlerError> {
        let deadline = self.state.config.hello_timeout;
        let read = tokio::select! {
            _ = self.shutdown.cancelled() => return Ok(false),
            read = tokio::time::timeout(deadline, self.conn.read_message()) => read,
        };
        let hello = match read {
            Err(_) => {
                let msg = error(None, ErrorCode::Timeout, "no hello in time");
                let _ = self.conn.write_message(&msg).await;
                return Err(HandlerError::HelloTimeout(deadline));
            }
            Ok(Ok(Some(Message::Hello(hello)))) => hello,
            Ok(Ok(None)) => return Ok(false),
            Ok(Ok(Some(other))) => return self.refuse(Refusal::NotAHello(other.name())).await,
            Ok(Err(e)) if e.is_recoverable() => return self.refuse(Refusal::Undecodable(e)).await,
            Ok(Err(e)) => {
                if matches!(e, WireError::FrameTooLarge { .. }) {
                    let msg = error(None, ErrorCode::TooLarge, e.to_string());
                    let _ = self.conn.write_message(&msg).await;
                }
                return Err(e.into());
            }
        };
        Stats::count(&self.state.stats.hellos);
        let version = match check_hello(&hello, &self.state, self.peer) {
            Ok(version) => version,
            Err(refusal) => return self.refuse(refusal).await,
        };
        let welcome = self.welcome(version);
        self.conn.write_message(&welcome.into()).await?;
        Stats::count(&self.state.stats.welcomed);
        tracing::debug!(client = %hello.client, "client connected");
        Ok(true)
    }

    async fn refuse(&mut self, refusal: Refusal) -> Result<bool, HandlerError> {
        let msg = error(None, refusal.code(), refusal.to_string());
        let _ = self.conn.write_message(&msg).await;
        Err(refusal.into())
    }

    fn welcome(&self, version: u32) -> Welcome {
        let config = &self.state.config;
        Welcome {
            version,
            publisher_id: self.state.identity.publisher_id.clone(),
            pid: std::process::id(),
            versions: self.state.versions(),
            incarnation: self.state.logger.incarnation().to_string(),
            server: format!("flog-publisher/{}", env!("CARGO_PKG_VERSION")),
            idle_timeout_ms: Some(
                config
                    .idle_timeout
                    .as_millis()
                    .try_into()
                    .unwrap_or(u64::MAX),
            ),
        }
    }

    /// Serves requests after the welcome: one task reads and applies them,
    /// the writer sends what the operations queue, until the connection ends.
    pub(crate) async fn run(self) -> Result<(), HandlerError> {
        let Handler {
            state,
            conn,
            shutdown,
            ..
        } = self;
        let (reader, writer) = conn.into_split();
        // Cancelled when the connection ends, whatever ends it: everything
        // the connection started stops, and the writer's grace begins.
        let cancel = shutdown.child_token();
        let (outbox, queue) = Outbox::new(cancel.clone());
        let stall = state.config.write_timeout;
        let cx = Context::new(state, outbox, cancel.clone());
        let (served, written) = tokio::join!(
            serve_requests(reader, cx, &shutdown),
            write_loop(writer, queue, stall, cancel),
        );
        served.and(written.map_err(Into::into))
    }
}

/// Reads and applies requests, then ends the connection's operations and
/// queues its last word (a goodbye, a timeout, `too_large`). Dropping `cx`
/// at the end lets the writer finish.
async fn serve_requests<R: AsyncRead + Unpin>(
    mut reader: MessageReader<R>,
    cx: Context,
    shutdown: &CancellationToken,
) -> Result<(), HandlerError> {
    let mut subs = Subscriptions::default();
    let ending = read_requests(&mut reader, &cx, &mut subs, shutdown).await;
    cx.cancel.cancel();
    subs.end_all().await;
    cx.tasks.close();
    cx.tasks.wait().await;
    let (last, result) = match ending {
        Ending::ClientLeft | Ending::WriterGone => (None, Ok(())),
        Ending::Shutdown => {
            let bye = Goodbye {
                reason: "publisher shutting down".into(),
            };
            (Some(bye.into()), Ok(()))
        }
        Ending::Idle(idle) => {
            let why = format!("no frame from the client for {idle:?}");
            (Some(error(None, ErrorCode::Timeout, why)), Ok(()))
        }
        Ending::Failed(e) => {
            let too_large = matches!(e, WireError::FrameTooLarge { .. });
            let last = too_large.then(|| error(None, ErrorCode::TooLarge, e.to_string()));
            (last, Err(e.into()))
        }
    };
    if let Some(last) = last {
        let _ = cx.outbox.send_last(last).await;
    }
    result
}

async fn read_requests<R: AsyncRead + Unpin>(
    reader: &mut MessageReader<R>,
    cx: &Context,
    subs: &mut Subscriptions,
    shutdown: &CancellationToken,
) -> Ending {
    let idle = cx.state.config.idle_timeout;
    loop {
        let read = tokio::select! {
            _ = shutdown.cancelled() => return Ending::Shutdown,
            // The writer gave up on a client that does not read.
            _ = cx.outbox.closed() => return Ending::WriterGone,
            read = tokio::time::timeout(idle, reader.read_message()) => read,
        };
        let malformed = match read {
            // Subscribed or not: a client that wants to stay pings, so
            // silence means it is gone (or its host is).
            Err(_) => return Ending::Idle(idle),
            Ok(Ok(Some(Message::Request(request)))) => {
                op::apply(request, cx, subs).await;
                continue;
            }
            Ok(Ok(Some(other))) => error(
                None,
                ErrorCode::Malformed,
                format!("a client must not send {}", other.name()),
            ),
            Ok(Ok(None)) => return Ending::ClientLeft,
            Ok(Err(WireError::Malformed {
                error: why,
                request_id,
            })) => error(request_id, ErrorCode::Malformed, why.to_string()),
            Ok(Err(e)) => return Ending::Failed(e),
        };
        let _ = cx.outbox.send(malformed).await;
    }
}

fn check_hello(hello: &Hello, state: &State, peer: Peer) -> Result<u32, Refusal> {
    // The secret first: an unauthorised peer learns nothing, not even versions.
    if peer == Peer::Client && !state.identity.secret_matches(&hello.secret) {
        return Err(Refusal::WrongSecret);
    }
    hello
        .versions
        .iter()
        .copied()
        .filter(|v| SUPPORTED_VERSIONS.contains(v))
        .max()
        .ok_or_else(|| Refusal::NoCommonVersion {
            offered: hello.versions.clone(),
        })
}

/// Tells a connection beyond the limit that the publisher is busy, and closes it.
pub(crate) async fn refuse_busy<S: AsyncRead + AsyncWrite + Unpin>(stream: S, max_frame: usize) {
    let mut conn = Connection::with_codec(stream, codec(max_frame));
    let msg = error(None, ErrorCode::Busy, "too many connections");
    let _ = tokio::time::timeout(Duration::from_secs(1), conn.write_message(&msg)).await;
}

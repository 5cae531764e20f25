//! An async client for a publisher's logport.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::codec::{FlogCodec, DEFAULT_MAX_FRAME};
use crate::connection::Connection;
use crate::message::{
    Hello, IncidentInfo, ListQuery, Message, Op, Reply, SnapshotOutcome, Welcome,
    SUPPORTED_VERSIONS,
};
use crate::transport::Connector;
use crate::url::LogportUrl;

mod error;
mod fetch;
mod keepalive;
mod outgoing;
mod queue;
mod router;
mod subscription;

pub use self::error::{ClientError, ProtocolError};
pub use self::fetch::{FetchedIncident, ResumePoint};
pub use self::queue::{PushQueue, QueueLimits};
pub use self::subscription::{
    EventSubscription, EventUpdate, IncidentSubscription, IncidentUpdate, Subscription,
};

use self::router::{Pending, PushRoute, Shared};

/// How a [`LogportClient`] connects and waits.
///
/// ```
/// use std::time::Duration;
/// use flog_wire::ClientOptions;
///
/// let options = ClientOptions::new()
///     .request_timeout(Duration::from_secs(5))
///     .client_name("flog-gatherer/0.1.0");
/// ```
#[derive(Debug, Clone)]
pub struct ClientOptions {
    connect_timeout: Duration,
    request_timeout: Duration,
    max_frame: usize,
    client_name: String,
    chunk_size: Option<u32>,
    subscription_buffer: usize,
    subscription_buffer_bytes: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_frame: DEFAULT_MAX_FRAME,
            client_name: concat!("flog-wire/", env!("CARGO_PKG_VERSION")).to_string(),
            chunk_size: None,
            subscription_buffer: 16 * 1024,
            // Two frames of the default maximum: what a publisher sends
            // decides the size of each push.
            subscription_buffer_bytes: 2 * DEFAULT_MAX_FRAME,
        }
    }
}

impl ClientOptions {
    /// The defaults: 10 s to connect and be welcomed, 30 s per reply, the
    /// default maximum frame, chunk size chosen by the publisher, and room
    /// for 16384 pushes or 16 MiB per subscription.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long the TCP connect, the TLS handshake and the hello exchange
    /// may take together.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long to wait for each reply; for a fetch, for each chunk.
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The largest frame to accept or send, in bytes. Below the default,
    /// fetches ask for chunks small enough to fit.
    #[must_use]
    pub fn max_frame(mut self, max_frame: usize) -> Self {
        self.max_frame = max_frame;
        self
    }

    /// The agent name and version sent in the hello.
    #[must_use]
    pub fn client_name(mut self, name: impl Into<String>) -> Self {
        self.client_name = name.into();
        self
    }

    /// The chunk size to ask for when fetching incidents; `None` lets the
    /// publisher choose.
    #[must_use]
    pub fn chunk_size(mut self, chunk_size: Option<u32>) -> Self {
        self.chunk_size = chunk_size;
        self
    }

    /// How many pushes each subscription queues for its caller before it
    /// discards them and reports the gap (at least 1).
    #[must_use]
    pub fn subscription_buffer(mut self, pushes: usize) -> Self {
        self.subscription_buffer = pushes.max(1);
        self
    }

    /// How many bytes of pushes (events, incident notices) each subscription
    /// queues for its caller before it discards them and reports the gap;
    /// a single push larger than this is still queued when the queue is
    /// empty. Default 16 MiB.
    #[must_use]
    pub fn subscription_buffer_bytes(mut self, bytes: usize) -> Self {
        self.subscription_buffer_bytes = bytes;
        self
    }

    fn queue_limits(&self) -> QueueLimits {
        QueueLimits {
            pushes: self.subscription_buffer,
            bytes: self.subscription_buffer_bytes,
        }
    }
}

impl ClientOptions {
    /// The framing these options ask for: frames of at most
    /// [`max_frame`](Self::max_frame) bytes.
    pub fn codec(&self) -> FlogCodec {
        FlogCodec::with_max_frame(self.max_frame)
    }

    /// The chunk size to request: the configured one, capped so that a chunk
    /// fits the frame limit when that was lowered below the default, which
    /// the publisher's chunks are otherwise sized for.
    fn fetch_chunk_size(&self) -> Option<u32> {
        if self.max_frame >= DEFAULT_MAX_FRAME {
            return self.chunk_size;
        }
        let fits = self
            .max_frame
            .saturating_sub(fetch::CHUNK_FRAME_OVERHEAD)
            .max(1);
        let fits = u32::try_from(fits).unwrap_or(u32::MAX);
        Some(self.chunk_size.map_or(fits, |asked| asked.min(fits)))
    }
}

/// One page of [`LogportClient::list_incidents`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentPage {
    /// Incidents, ascending by name.
    pub incidents: Vec<IncidentInfo>,
    /// Whether more incidents match the query.
    pub more: bool,
}

/// The answer to [`LogportClient::snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// What the publisher's storm control made of the trigger.
    pub outcome: SnapshotOutcome,
    /// The new incident's name, when one was declared.
    pub incident: Option<String>,
}

/// A connection to a publisher's logport.
///
/// Requests may be issued concurrently from several tasks (the methods take
/// `&self`); they are pipelined on the one connection and each reply is
/// routed to its caller by request id. A background task reads and one
/// writes; dropping the client stops both and closes the connection.
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use flog_wire::{ListQuery, LogportClient, LogportUrl};
///
/// let url: LogportUrl = std::fs::read_to_string("logdir/logport")?.trim().parse()?;
/// let client = LogportClient::connect(&url).await?;
/// println!("connected to pid {}", client.welcome().pid);
/// for incident in client.list_all_incidents(ListQuery::default()).await? {
///     let bytes = client.get_incident_bytes(&incident.name).await?;
///     println!("{}: {} bytes", incident.name, bytes.len());
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct LogportClient {
    shared: Arc<Shared>,
    welcome: Welcome,
    options: ClientOptions,
    _stop: DropGuard,
}

impl LogportClient {
    /// Connects with the default [`ClientOptions`].
    pub async fn connect(url: &LogportUrl) -> Result<Self, ClientError> {
        Self::connect_with(url, ClientOptions::default()).await
    }

    /// Connects as the URL says (TLS with the URL's key pinned, or
    /// plaintext for `flog+insecure://`), sends the hello and checks the
    /// welcome: the publisher must choose a protocol version we offered and
    /// have the URL's publisher id. A publisher holding another key than the
    /// URL names is [`ClientError::Transport`] with
    /// [`TransportError::KeyMismatch`](crate::TransportError::KeyMismatch),
    /// and is sent nothing.
    pub async fn connect_with(
        url: &LogportUrl,
        options: ClientOptions,
    ) -> Result<Self, ClientError> {
        let connect = async {
            let stream = Connector::new()
                .timeout(options.connect_timeout)
                .connect(url)
                .await?;
            let connection = Connection::with_codec(stream, options.codec());
            handshake(connection, url.publisher_id(), url.secret(), &options).await
        };
        let (connection, welcome) =
            timeout(options.connect_timeout, connect)
                .await
                .map_err(|_| ClientError::Timeout {
                    operation: "connect",
                })??;
        Ok(Self::start(connection, welcome, options))
    }

    /// Runs the client side of a session on a stream that is already
    /// connected and secured: a gatherer does so on the connection a
    /// publisher dialed in on (`docs/protocol.md` §12.6). Sends the hello
    /// with `secret` and checks the welcome as [`connect_with`](Self::connect_with)
    /// does, `publisher_id` standing in for the URL's.
    pub async fn over_stream<S>(
        stream: S,
        publisher_id: &str,
        secret: &str,
        options: ClientOptions,
    ) -> Result<Self, ClientError>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let connection = Connection::with_codec(stream, options.codec());
        Self::over_connection(connection, publisher_id, secret, options).await
    }

    /// [`over_stream`](Self::over_stream) on a [`Connection`] that has
    /// already carried messages (a dial-out's registration), so that frames
    /// it has buffered are not lost. Make the connection with
    /// [`ClientOptions::codec`] for the options' frame limit to apply.
    pub async fn over_connection<S>(
        connection: Connection<S>,
        publisher_id: &str,
        secret: &str,
        options: ClientOptions,
    ) -> Result<Self, ClientError>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (connection, welcome) = timeout(
            options.connect_timeout,
            handshake(connection, publisher_id, secret, &options),
        )
        .await
        .map_err(|_| ClientError::Timeout {
            operation: "connect",
        })??;
        Ok(Self::start(connection, welcome, options))
    }

    fn start<S>(connection: Connection<S>, welcome: Welcome, options: ClientOptions) -> Self
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (reader, writer) = connection.into_split();
        let (outgoing, outgoing_rx) = mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        let shared = Arc::new(Shared::new(outgoing, stop.clone()));
        tokio::spawn(router::read_loop(shared.clone(), reader));
        tokio::spawn(router::write_loop(shared.clone(), writer, outgoing_rx));
        if let Some(idle) = welcome.idle_timeout_ms {
            let keepalive = keepalive::Keepalive {
                idle: Duration::from_millis(idle),
                answer_within: options.request_timeout,
            };
            tokio::spawn(keepalive.run(shared.clone()));
        }
        Self {
            shared,
            welcome,
            options,
            _stop: stop.drop_guard(),
        }
    }

    /// The publisher's welcome: its pid, versions and incarnation.
    pub fn welcome(&self) -> &Welcome {
        &self.welcome
    }

    /// The application's and libraries' versions in the publishing process.
    pub async fn get_versions(&self) -> Result<BTreeMap<String, String>, ClientError> {
        match self.call(Op::GetVersions, "get_versions").await? {
            Reply::Versions { versions } => Ok(versions),
            other => Err(unexpected("get_versions", &other)),
        }
    }

    /// The publishing process's id.
    pub async fn get_pid(&self) -> Result<u32, ClientError> {
        match self.call(Op::GetPid, "get_pid").await? {
            Reply::Pid { pid } => Ok(pid),
            other => Err(unexpected("get_pid", &other)),
        }
    }

    /// One page of the incidents matching `query`.
    pub async fn list_incidents(&self, query: &ListQuery) -> Result<IncidentPage, ClientError> {
        match self
            .call(Op::ListIncidents(query.clone()), "list_incidents")
            .await?
        {
            Reply::Incidents { incidents, more } => Ok(IncidentPage { incidents, more }),
            other => Err(unexpected("list_incidents", &other)),
        }
    }

    /// Every incident matching `query`, following pages; `query.limit` is
    /// the size of each page.
    pub async fn list_all_incidents(
        &self,
        mut query: ListQuery,
    ) -> Result<Vec<IncidentInfo>, ClientError> {
        let mut all = Vec::new();
        loop {
            let page = self.list_incidents(&query).await?;
            if !page.more {
                all.extend(page.incidents);
                return Ok(all);
            }
            let last = match page.incidents.last() {
                Some(last) => last.name.clone(),
                None => return Err(ProtocolError::EmptyPageWithMore.into()),
            };
            // A page that does not advance would have us ask forever.
            if query
                .since_name
                .as_ref()
                .is_some_and(|since| last <= *since)
            {
                return Err(ProtocolError::PageDidNotAdvance(last).into());
            }
            all.extend(page.incidents);
            query.since_name = Some(last);
        }
    }

    /// Subscribes to incident notices: with `catch_up`, first every existing
    /// incident (named after `since_name`, if given), then
    /// [`IncidentUpdate::CatchupDone`], then each new incident as it is recorded.
    pub async fn subscribe_to_incidents(
        &self,
        catch_up: bool,
        since_name: Option<String>,
    ) -> Result<IncidentSubscription, ClientError> {
        let queue = subscription::incident_queue(self.options.queue_limits());
        let op = Op::SubscribeToIncidents {
            catch_up,
            since_name,
        };
        let route = PushRoute::Incidents(queue.clone());
        let subscription = self.subscribe(op, route, "subscribe_to_incidents").await?;
        Ok(Subscription::new(
            subscription,
            queue,
            Arc::clone(&self.shared.outgoing),
        ))
    }

    /// Subscribes to every log event the publisher records: with `catch_up`,
    /// first those still in its buffers.
    pub async fn subscribe_to_all(&self, catch_up: bool) -> Result<EventSubscription, ClientError> {
        let queue = subscription::event_queue(self.options.queue_limits());
        let route = PushRoute::Events(queue.clone());
        let op = Op::SubscribeToAll { catch_up };
        let subscription = self.subscribe(op, route, "subscribe_to_all").await?;
        Ok(Subscription::new(
            subscription,
            queue,
            Arc::clone(&self.shared.outgoing),
        ))
    }

    /// Ends a subscription; its stream yields what was pushed before, then
    /// ends with reason `unsubscribed`. Dropping a subscription does the same
    /// without waiting.
    pub async fn unsubscribe(&self, subscription: u64) -> Result<(), ClientError> {
        match self
            .call(Op::Unsubscribe { subscription }, "unsubscribe")
            .await?
        {
            Reply::Unsubscribed {
                subscription: ended,
            } if ended == subscription => Ok(()),
            other => Err(unexpected("unsubscribe", &other)),
        }
    }

    /// Checks that the publisher answers.
    pub async fn ping(&self) -> Result<(), ClientError> {
        match self.call(Op::Ping, "ping").await? {
            Reply::Pong => Ok(()),
            other => Err(unexpected("ping", &other)),
        }
    }

    /// Asks the publisher to declare an incident now with `reason` as its
    /// trigger's text: what storm control made of it, and the new
    /// incident's name when one was declared.
    pub async fn snapshot(&self, reason: &str) -> Result<Snapshot, ClientError> {
        let op = Op::Snapshot {
            reason: reason.to_owned(),
        };
        match self.call(op, "snapshot").await? {
            Reply::Snapshot { outcome, incident } => Ok(Snapshot { outcome, incident }),
            other => Err(unexpected("snapshot", &other)),
        }
    }

    async fn call(&self, op: Op, operation: &'static str) -> Result<Reply, ClientError> {
        let (tx, rx) = oneshot::channel();
        let _pending = self.shared.start_request(Pending::Reply(tx), op)?;
        self.wait(rx, operation).await
    }

    async fn subscribe(
        &self,
        op: Op,
        route: PushRoute,
        operation: &'static str,
    ) -> Result<u64, ClientError> {
        let (tx, rx) = oneshot::channel();
        let pending = Pending::Subscribe { reply: tx, route };
        let _pending = self.shared.start_request(pending, op)?;
        match self.wait(rx, operation).await? {
            Reply::Subscribed { subscription } => Ok(subscription),
            other => Err(unexpected(operation, &other)),
        }
    }

    async fn wait(
        &self,
        rx: oneshot::Receiver<Result<Reply, ClientError>>,
        operation: &'static str,
    ) -> Result<Reply, ClientError> {
        match timeout(self.options.request_timeout, rx).await {
            Err(_) => Err(ClientError::Timeout { operation }),
            Ok(Err(_)) => Err(self.shared.closed_error()),
            Ok(Ok(result)) => result,
        }
    }
}

async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    mut connection: Connection<S>,
    publisher_id: &str,
    secret: &str,
    options: &ClientOptions,
) -> Result<(Connection<S>, Welcome), ClientError> {
    let hello = Hello {
        versions: SUPPORTED_VERSIONS.to_vec(),
        secret: secret.to_string(),
        client: options.client_name.clone(),
    };
    connection.write_message(&hello.into()).await?;
    let welcome = match connection.read_message().await? {
        Some(Message::Welcome(welcome)) => welcome,
        Some(Message::Error(error)) => {
            return Err(ClientError::Remote {
                code: error.code,
                message: error.message,
            })
        }
        Some(Message::Goodbye(goodbye)) => {
            return Err(ClientError::Closed {
                reason: format!("the publisher said goodbye: {}", goodbye.reason),
            })
        }
        Some(other) => return Err(ProtocolError::NotWelcome(other.name()).into()),
        None => {
            return Err(ClientError::Closed {
                reason: "the publisher closed the connection before welcoming us".into(),
            })
        }
    };
    if !SUPPORTED_VERSIONS.contains(&welcome.version) {
        return Err(ProtocolError::UnofferedVersion(welcome.version).into());
    }
    if welcome.publisher_id != publisher_id {
        return Err(ClientError::PublisherMismatch {
            expected: publisher_id.to_string(),
            actual: welcome.publisher_id,
        });
    }
    Ok((connection, welcome))
}

fn unexpected(operation: &'static str, reply: &Reply) -> ClientError {
    ProtocolError::UnexpectedReply {
        operation,
        reply: reply.name(),
    }
    .into()
}

#[cfg(test)]
mod tests;

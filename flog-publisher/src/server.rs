use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use flog_core::{Event, Logger, ObserverId};
use flog_wire::{IncidentInfo, LogportUrl, DEFAULT_MAX_FRAME};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::identity::{Identity, LOGPORT_FILE};
use crate::index::IncidentIndex;
use crate::session;

/// Limits and settings of a publisher.
#[derive(Debug, Clone)]
pub struct PublisherConfig {
    /// Most connections served at once; more are told `busy` and closed.
    pub max_connections: usize,
    /// How long a new connection has to send its hello.
    pub hello_timeout: Duration,
    /// How long a connection with no subscription may send nothing.
    pub idle_timeout: Duration,
    /// How long a client may take to accept one frame (read it off the
    /// socket) before the connection is closed: a client that reads too slowly
    /// or not at all holds its connection and its queued replies no longer.
    pub write_timeout: Duration,
    /// Largest frame sent. Frames from clients are refused above 64 KiB (or
    /// this, if smaller): clients only send small requests.
    pub max_frame: usize,
    /// Chunk size of incident fetches when the client names none. Chunks are
    /// at most 512 KiB whatever the client or this asks.
    pub chunk_size: u32,
    /// Events queued per live-tail subscriber before events are dropped (and
    /// the subscriber told how many).
    pub event_queue: usize,
    /// Most subscriptions per connection.
    pub max_subscriptions: usize,
}

impl Default for PublisherConfig {
    fn default() -> Self {
        PublisherConfig {
            max_connections: 256,
            hello_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            write_timeout: Duration::from_secs(60),
            max_frame: DEFAULT_MAX_FRAME,
            chunk_size: 256 * 1024,
            event_queue: 1024,
            max_subscriptions: 16,
        }
    }
}

/// Why a publisher could not start.
#[derive(Debug, thiserror::Error)]
pub enum PublisherError {
    /// The logger has no log directory, so there are no incidents to serve.
    #[error(
        "the logger has no log directory: call Logger::set_logdir before starting a publisher"
    )]
    NoLogdir,
    /// The identity files in the logdir could not be read or written.
    #[error("cannot load the publisher identity in {}: {source}", dir.display())]
    Identity {
        /// The logdir.
        dir: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The incident index could not be built.
    #[error("cannot read incidents in {}: {source}", dir.display())]
    Index {
        /// The logdir.
        dir: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The logport file could not be written.
    #[error("cannot write the logport file {}: {source}", path.display())]
    LogportFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// What every connection of one publisher shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) logger: Logger,
    pub(crate) identity: Identity,
    pub(crate) index: Arc<IncidentIndex>,
    pub(crate) incidents: broadcast::Sender<IncidentInfo>,
    pub(crate) config: PublisherConfig,
}

impl Shared {
    pub(crate) fn versions(&self) -> BTreeMap<String, String> {
        let mut versions = self.logger.versions();
        versions.insert("flog-publisher".into(), env!("CARGO_PKG_VERSION").into());
        versions
    }
}

/// Builds and starts a [`Publisher`].
#[derive(Debug)]
#[must_use]
pub struct PublisherBuilder {
    logger: Logger,
    listen: SocketAddr,
    advertise: Option<String>,
    config: PublisherConfig,
    shutdown: CancellationToken,
}

impl PublisherBuilder {
    /// Where to listen (default `127.0.0.1:0`: loopback, any free port). Listening
    /// on all interfaces is a choice to make explicitly.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }
    /// The host name put in the logport URL (default: the listening address).
    pub fn advertise(mut self, host: impl Into<String>) -> Self {
        self.advertise = Some(host.into());
        self
    }
    /// Limits and settings.
    pub fn config(mut self, config: PublisherConfig) -> Self {
        self.config = config;
        self
    }
    /// A token whose cancellation shuts the publisher down (it makes its own
    /// otherwise; see [`Publisher::shutdown`]).
    pub fn shutdown_token(mut self, token: CancellationToken) -> Self {
        self.shutdown = token;
        self
    }

    /// Binds the listening address and starts serving.
    pub async fn start(self) -> Result<Publisher, PublisherError> {
        let addr = self.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| PublisherError::Bind { addr, source })?;
        self.start_on(listener).await
    }

    /// Starts serving on a listener the caller bound.
    pub async fn start_on(self, listener: TcpListener) -> Result<Publisher, PublisherError> {
        let logdir = self.logger.logdir().ok_or(PublisherError::NoLogdir)?;
        let local = listener
            .local_addr()
            .map_err(|source| PublisherError::Bind {
                addr: self.listen,
                source,
            })?;
        let dir = logdir.clone();
        let (identity, index) = tokio::task::spawn_blocking(move || {
            let identity = Identity::load_or_create(&dir).map_err(|source| PublisherError::Identity {
                dir: dir.clone(),
                source,
            })?;
            let (index, skipped) = IncidentIndex::build(&dir)
                .map_err(|source| PublisherError::Index { dir: dir.clone(), source })?;
            for s in skipped {
                tracing::warn!(file = %s.path.display(), reason = %s.reason, "skipping unreadable incident");
            }
            Ok::<_, PublisherError>((identity, index))
        })
        .await
        .map_err(|e| PublisherError::Index {
            dir: logdir.clone(),
            source: std::io::Error::other(e.to_string()),
        })??;
        let host = self.advertise.unwrap_or_else(|| match local.ip() {
            ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
            ip => ip.to_string(),
        });
        let url = LogportUrl::new(host, local.port(), &identity.publisher_id, &identity.secret)
            .map_err(|e| PublisherError::Bind {
                addr: local,
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()),
            })?;
        let logport_file = logdir.join(LOGPORT_FILE);
        flog_core::fs::write_private_atomically(&logport_file, format!("{url}\n").as_bytes())
            .map_err(|source| PublisherError::LogportFile {
                path: logport_file.clone(),
                source,
            })?;

        let index = Arc::new(index);
        let (incidents, _) = broadcast::channel(1024);
        let observer = {
            let (index, incidents) = (Arc::clone(&index), incidents.clone());
            self.logger.add_incident_observer(Arc::new(
                move |name: &str, path: &std::path::Path, trigger: &Event| {
                    index.add_finished(name, path, trigger);
                    if let Some(entry) = index.get(name) {
                        // No subscriber is not an error.
                        let _ = incidents.send(entry.info.clone());
                    }
                },
            ))
        };
        let shared = Arc::new(Shared {
            logger: self.logger.clone(),
            identity,
            index,
            incidents,
            config: self.config,
        });
        let tracker = TaskTracker::new();
        tracker.spawn(run(
            listener,
            Arc::clone(&shared),
            self.shutdown.clone(),
            tracker.clone(),
        ));
        tracing::info!(addr = %local, url = %url.redacted(), "publisher listening");
        Ok(Publisher {
            local,
            url,
            logport_file,
            shutdown: self.shutdown,
            tracker,
            observer,
            logger: self.logger,
        })
    }
}

/// A running logport server.
#[derive(Debug)]
pub struct Publisher {
    local: SocketAddr,
    url: LogportUrl,
    logport_file: PathBuf,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    observer: ObserverId,
    logger: Logger,
}

impl Publisher {
    /// A publisher of `logger`'s incidents and events (its logdir must be set).
    pub fn builder(logger: Logger) -> PublisherBuilder {
        PublisherBuilder {
            logger,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            advertise: None,
            config: PublisherConfig::default(),
            shutdown: CancellationToken::new(),
        }
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The logport URL clients connect with (it holds the secret).
    pub fn url(&self) -> &LogportUrl {
        &self.url
    }

    /// The file in the logdir holding the URL (mode 0600).
    pub fn logport_file(&self) -> &std::path::Path {
        &self.logport_file
    }

    /// Stops accepting, tells every client goodbye after the frame it is
    /// sending, and waits for all connections to end.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        self.logger.remove_incident_observer(self.observer);
    }
}

/// Accepts connections until `shutdown`; each one is served on its own task, and
/// its errors end there.
async fn run(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let permits = Arc::new(Semaphore::new(shared.config.max_connections));
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        match Arc::clone(&permits).try_acquire_owned() {
            Ok(permit) => {
                let (shared, shutdown) = (Arc::clone(&shared), shutdown.clone());
                tracker.spawn(async move {
                    if let Err(error) = session::serve(stream, &shared, &shutdown).await {
                        tracing::debug!(%peer, %error, "connection ended with an error");
                    }
                    drop(permit);
                });
            }
            Err(_) => {
                tracing::warn!(%peer, "too many connections; refusing");
                tracker.spawn(session::refuse_busy(stream, shared.config.max_frame));
            }
        }
    }
}

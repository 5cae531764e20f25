//! The publisher's face: building, the accept loop, shutting down.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use flog_core::{Logger, ObserverId};
use flog_wire::LogportUrl;
use socket2::{SockRef, TcpKeepalive};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::PublisherConfig;
use crate::error::PublisherError;
use crate::handler::{refuse_busy, Handler, HandlerError};
use crate::identity::LOGPORT_FILE;
use crate::state::State;

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
        let local = listener
            .local_addr()
            .map_err(|source| PublisherError::Bind {
                addr: self.listen,
                source,
            })?;
        let tracker = TaskTracker::new();
        let state = State::start(
            self.logger.clone(),
            self.config.clone(),
            self.shutdown.clone(),
            &tracker,
        )
        .await?;
        let url = self.url(local, &state)?;
        let logport_file = self.logport_file(&url)?;
        let observer = state.observe_incidents();
        tracker.spawn(accept_loop(
            listener,
            Arc::clone(&state),
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

    fn url(&self, local: SocketAddr, state: &State) -> Result<LogportUrl, PublisherError> {
        let host = self.advertise.clone().unwrap_or_else(|| match local.ip() {
            ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
            ip => ip.to_string(),
        });
        let identity = &state.identity;
        LogportUrl::new(
            &host,
            local.port(),
            &identity.publisher_id,
            &identity.secret,
        )
        .map_err(|source| PublisherError::Advertise { host, source })
    }

    /// Writes the URL to the logdir's `logport` file (mode 0600).
    fn logport_file(&self, url: &LogportUrl) -> Result<PathBuf, PublisherError> {
        let logdir = self.logger.logdir().ok_or(PublisherError::NoLogdir)?;
        let path = logdir.join(LOGPORT_FILE);
        flog_core::fs::write_private_atomically(&path, format!("{url}\n").as_bytes()).map_err(
            |source| PublisherError::LogportFile {
                path: path.clone(),
                source,
            },
        )?;
        Ok(path)
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

/// Sets TCP keepalive, so the kernel too notices a peer whose host is gone.
fn configure(stream: &TcpStream, keepalive: Option<Duration>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    if let Some(time) = keepalive {
        let probes = TcpKeepalive::new()
            .with_time(time)
            .with_interval((time / 4).max(Duration::from_secs(1)));
        SockRef::from(stream).set_tcp_keepalive(&probes)?;
    }
    Ok(())
}

/// Accepts connections until `shutdown`; each one is served on its own task,
/// and its errors end there.
async fn accept_loop(
    listener: TcpListener,
    state: Arc<State>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let permits = Arc::new(Semaphore::new(state.config.max_connections));
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(50)) => continue,
                    }
                }
            },
        };
        if let Err(error) = configure(&stream, state.config.tcp_keepalive) {
            tracing::debug!(%peer, %error, "cannot set socket options");
        }
        match Arc::clone(&permits).try_acquire_owned() {
            Ok(permit) => {
                let (state, shutdown) = (Arc::clone(&state), shutdown.clone());
                tracker.spawn(async move {
                    if let Err(error) = serve(state, stream, shutdown).await {
                        tracing::debug!(%peer, %error, "connection ended with an error");
                    }
                    drop(permit);
                });
            }
            Err(_) => {
                tracing::warn!(%peer, "too many connections; refusing");
                tracker.spawn(refuse_busy(stream, state.config.max_frame));
            }
        }
    }
}

/// Serves one connection from its hello to its end.
async fn serve(
    state: Arc<State>,
    stream: TcpStream,
    shutdown: CancellationToken,
) -> Result<(), HandlerError> {
    let mut handler = Handler::new(state, stream, shutdown);
    if handler.handshake().await? {
        handler.run().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_sockets_get_keepalive() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (_client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (stream, _) = accepted.unwrap();
        assert!(!SockRef::from(&stream).keepalive().unwrap());
        configure(&stream, Some(Duration::from_secs(30))).unwrap();
        assert!(SockRef::from(&stream).keepalive().unwrap());
        assert!(stream.nodelay().unwrap());
    }
}

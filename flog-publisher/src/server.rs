//! The publisher's face: building, starting the accept loop and the
//! dial-outs, shutting down.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use flog_core::{Logger, ObserverId};
use flog_wire::{Acceptor, KeyFingerprint, LogportUrl, Security, ServerTls, TransportError};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::accept::{accept_loop, Listening};
use crate::config::PublisherConfig;
use crate::dial::dial_out;
use crate::error::PublisherError;
use crate::identity::LOGPORT_FILE;
use crate::state::State;
use crate::stats::PublisherStats;

/// The environment variable naming gatherers to dial out to, for services
/// that do not configure them in code: `flogs://` URLs separated by
/// whitespace or commas. Read by [`PublisherBuilder::start`] unless
/// [`PublisherBuilder::gatherers_from_env`] turned it off.
pub const GATHERERS_ENV: &str = "FLOG_GATHERERS";

/// Builds and starts a [`Publisher`].
#[derive(Debug)]
#[must_use]
pub struct PublisherBuilder {
    logger: Logger,
    listen: SocketAddr,
    advertise: Option<String>,
    config: PublisherConfig,
    shutdown: CancellationToken,
    insecure_plaintext: bool,
    gatherers: Vec<LogportUrl>,
    gatherers_from_env: bool,
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
    /// Serves the logport in plaintext, without TLS: its URL starts with
    /// `flog+insecure://`, and anyone on the path can read the secret and
    /// everything served. Only for a trusted network or a tunnel; the
    /// default is TLS with the logdir's key (`docs/protocol.md` §12.5).
    /// Dial-outs to gatherers stay TLS.
    pub fn insecure_plaintext(mut self) -> Self {
        self.insecure_plaintext = true;
        self
    }
    /// Dials out to the gatherer at `url` (a `flogs://` URL the gatherer
    /// wrote to its base directory) and serves it the logport over that
    /// connection, reconnecting with backoff for as long as the publisher
    /// runs; for publishers gatherers cannot reach (`docs/protocol.md`
    /// §12.6). May be given several times.
    pub fn gatherer(mut self, url: LogportUrl) -> Self {
        self.gatherers.push(url);
        self
    }
    /// Whether [`start`](Self::start) also dials the gatherers named in
    /// [`GATHERERS_ENV`] (default: yes).
    pub fn gatherers_from_env(mut self, read: bool) -> Self {
        self.gatherers_from_env = read;
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
        let gatherers = self.gatherers()?;
        let acceptor = if self.insecure_plaintext {
            tracing::warn!(addr = %local, "the logport is plaintext (insecure): anyone on the path can read its secret and incidents");
            Acceptor::insecure()
        } else {
            let tls = ServerTls::new(&state.key)
                .map_err(|e| PublisherError::Tls(TransportError::Config(e)))?;
            Acceptor::tls(tls)
        }
        .handshake_timeout(state.config.handshake_timeout);
        let logport_file = self.logport_file(&url)?;
        let observer = state.observe_incidents();
        tracker.spawn(accept_loop(Listening {
            listener,
            acceptor,
            state: Arc::clone(&state),
            shutdown: self.shutdown.clone(),
            tracker: tracker.clone(),
        }));
        tracing::info!(addr = %local, url = %url.redacted(), "publisher listening");
        for gatherer in gatherers {
            tracing::info!(gatherer = %gatherer.redacted(), "dialing out to gatherer {}", gatherer.redacted());
            tracker.spawn(dial_out(
                Arc::clone(&state),
                gatherer,
                self.shutdown.clone(),
            ));
        }
        Ok(Publisher {
            local,
            url,
            logport_file,
            shutdown: self.shutdown,
            tracker,
            observer,
            logger: self.logger,
            state,
        })
    }

    /// The gatherers to dial: the builder's, then the environment's. Each
    /// must be a `flogs://` URL, since a dial-out is always mutual TLS.
    fn gatherers(&self) -> Result<Vec<LogportUrl>, PublisherError> {
        let mut gatherers = self.gatherers.clone();
        if self.gatherers_from_env {
            if let Some(value) = std::env::var_os(GATHERERS_ENV) {
                let value = value.to_string_lossy();
                for text in value.split(|c: char| c == ',' || c.is_whitespace()) {
                    if text.is_empty() {
                        continue;
                    }
                    let url =
                        LogportUrl::parse(text).map_err(|source| PublisherError::GathererUrl {
                            var: GATHERERS_ENV,
                            source,
                        })?;
                    gatherers.push(url);
                }
            }
        }
        if let Some(plain) = gatherers
            .iter()
            .find(|url| !matches!(url.security(), Security::Tls(_)))
        {
            return Err(PublisherError::GathererNotTls {
                url: plain.redacted().to_string(),
            });
        }
        Ok(gatherers)
    }

    fn url(&self, local: SocketAddr, state: &State) -> Result<LogportUrl, PublisherError> {
        let host = self.advertise.clone().unwrap_or_else(|| match local.ip() {
            ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
            ip => ip.to_string(),
        });
        let identity = &state.identity;
        let (port, id, secret) = (local.port(), &identity.publisher_id, &identity.secret);
        if self.insecure_plaintext {
            LogportUrl::insecure(&host, port, id, secret)
        } else {
            LogportUrl::tls(state.key.fingerprint(), &host, port, id, secret)
        }
        .map_err(|source| PublisherError::Advertise { host, source })
    }

    /// Writes the URL to the logdir's `logport` file (mode 0600), replacing
    /// what an earlier start (perhaps from before TLS) wrote there.
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
    state: Arc<State>,
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
            insecure_plaintext: false,
            gatherers: Vec::new(),
            gatherers_from_env: true,
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

    /// The fingerprint of the logport's key: the `KEY` of its `flogs://`
    /// URL, and the identity it presents to gatherers it dials out to (also
    /// when its own port is plaintext).
    pub fn key_fingerprint(&self) -> KeyFingerprint {
        self.state.key.fingerprint()
    }

    /// What its connections have done so far.
    pub fn stats(&self) -> PublisherStats {
        self.state.stats.snapshot()
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

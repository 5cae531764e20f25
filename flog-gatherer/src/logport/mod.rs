//! The gatherer's own logport (`[logport]`; foolscap ticket #56): what it
//! gathers, served with the logport protocol of a publisher, so that
//! `flogtool tail` on its URL shows the merged live stream of the fleet,
//! each event with its origin (docs/gatherer.md, "A logport of its own").
//!
//! Same protocol, same TLS and secret rules as a publisher: TLS with the
//! gatherer's key (the one publishers dialing in pin), a secret of its own
//! (`BASEDIR/logport-secret`), checked in constant time before anything
//! else. It serves `subscribe_to_all` (catch-up from the current events
//! file, then live, through the writer's [`Relay`]), `unsubscribe`, `ping`,
//! `get_versions` and `get_pid`; anything else is refused as `unsupported`.
//!
//! Below: [`session`] (one connection), which uses [`catch_up`] (reading the
//! current file up to the seam).

mod catch_up;
mod session;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use flog_core::Incarnation;
use flog_wire::{Acceptor, LogportUrl, ServerTls};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::session::{refuse_busy, serve, SessionContext};
use crate::config::LogportConfig;
use crate::contain::blocking;
use crate::error::GatherError;
use crate::events::Relay;
use crate::listen::{accept, logport_secret, write_url_file, Identity, GATHERER_LOGPORT_FILE};

/// How long a client may take for its TLS handshake, and then its hello.
const PATIENCE: Duration = Duration::from_secs(10);

/// Connections beyond the limit still being told `busy`.
const MAX_BUSY_REFUSALS: usize = 16;

/// A bound logport, ready to run.
pub(crate) struct Logport {
    listener: TcpListener,
    acceptor: Acceptor,
    cx: Arc<SessionContext>,
    max_connections: usize,
}

impl std::fmt::Debug for Logport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logport")
            .field("listener", &self.listener.local_addr().ok())
            .finish_non_exhaustive()
    }
}

/// Binds the logport of `config`, loads (or creates) the gatherer's key,
/// id and logport secret, and writes the URL to `BASEDIR/logport`.
pub(crate) async fn bind(
    basedir: &Path,
    config: &LogportConfig,
    relay: Arc<Relay>,
) -> Result<(Logport, LogportUrl), GatherError> {
    let dir = basedir.to_owned();
    let (identity, secret) = blocking("load the gatherer's identity", move || {
        Ok::<_, GatherError>((Identity::load_or_create(&dir)?, logport_secret(&dir)?))
    })
    .await??;
    let addr = config.listen;
    let bind_error = |source| GatherError::LogportListen { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    let host = advertised(config.advertise.as_deref(), local);
    let url = LogportUrl::tls(
        identity.key.fingerprint(),
        &host,
        local.port(),
        &identity.gatherer_id,
        &secret,
    )
    .map_err(|source| GatherError::Advertise { host, source })?;
    write_url_file(basedir, GATHERER_LOGPORT_FILE, &url)?;
    let tls = ServerTls::new(&identity.key)
        .map_err(|e| GatherError::Tls(flog_wire::TransportError::Config(e)))?;
    let cx = SessionContext {
        gatherer_id: identity.gatherer_id.clone(),
        secret,
        incarnation: Incarnation::random().hex(),
        relay,
        queue_memory: config.queue_memory,
        patience: PATIENCE,
    };
    let logport = Logport {
        listener,
        acceptor: Acceptor::tls(tls).handshake_timeout(PATIENCE),
        cx: Arc::new(cx),
        max_connections: config.max_connections,
    };
    Ok((logport, url))
}

fn advertised(advertise: Option<&str>, local: SocketAddr) -> String {
    advertise.map_or_else(
        || match local.ip() {
            ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
            ip => ip.to_string(),
        },
        str::to_owned,
    )
}

/// Serves clients until `shutdown`, each connection on its own task of
/// `tracker`; no connection's failure reaches the loop.
pub(crate) async fn accept_loop(
    logport: Logport,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let Logport {
        listener,
        acceptor,
        cx,
        max_connections,
    } = logport;
    let permits = Arc::new(Semaphore::new(max_connections));
    let busy = Arc::new(Semaphore::new(MAX_BUSY_REFUSALS));
    loop {
        let Some((tcp, peer)) = accept(&listener, &shutdown, "a logport client").await else {
            return;
        };
        let _ = tcp.set_nodelay(true);
        // Beyond the limit a few are told `busy` (inside TLS, so they can
        // read it); past those, connections are closed without a word.
        let permit = match Arc::clone(&permits).try_acquire_owned() {
            Ok(permit) => Ok(permit),
            Err(_) => match Arc::clone(&busy).try_acquire_owned() {
                Ok(busy) => Err(busy),
                Err(_) => continue,
            },
        };
        let (acceptor, cx, shutdown) = (acceptor.clone(), Arc::clone(&cx), shutdown.clone());
        tracker.spawn(async move {
            let stream = match acceptor.accept(tcp).await {
                Ok(stream) => stream,
                Err(error) => {
                    tracing::info!(%peer, %error, "a logport client was refused: {error}");
                    return;
                }
            };
            match permit {
                Ok(_permit) => {
                    if let Err(error) = serve(&cx, stream, shutdown).await {
                        tracing::debug!(%peer, %error, "a logport connection ended: {error}");
                    }
                }
                Err(_busy) => refuse_busy(stream).await,
            }
        });
    }
}

#[cfg(test)]
mod tests;

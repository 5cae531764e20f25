//! The accept loop: each connection gets its own task, which secures it
//! (TLS, or plaintext when the operator opted out) and hands it to a
//! `Handler`; no connection's failure reaches the loop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use flog_wire::{Acceptor, TransportError};
use socket2::{SockRef, TcpKeepalive};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::handler::{refuse_busy, Handler, HandlerError};
use crate::state::State;
use crate::stats::Stats;

/// Connections beyond the limit that are still being told `busy`. Telling
/// one costs a TLS handshake, so a flood of them is capped too; past this,
/// extra connections are closed without a word.
const MAX_BUSY_REFUSALS: usize = 32;

/// What the accept loop runs with.
pub(crate) struct Listening {
    pub(crate) listener: TcpListener,
    pub(crate) acceptor: Acceptor,
    pub(crate) state: Arc<State>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) tracker: TaskTracker,
}

/// Sets TCP keepalive, so the kernel too notices a peer whose host is gone.
pub(crate) fn configure(stream: &TcpStream, keepalive: Option<Duration>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    if let Some(time) = keepalive {
        let probes = TcpKeepalive::new()
            .with_time(time)
            .with_interval((time / 4).max(Duration::from_secs(1)));
        SockRef::from(stream).set_tcp_keepalive(&probes)?;
    }
    Ok(())
}

/// Accepts connections until `shutdown`; each one is secured and served on
/// its own task, and its errors end there.
pub(crate) async fn accept_loop(listening: Listening) {
    let Listening {
        listener,
        acceptor,
        state,
        shutdown,
        tracker,
    } = listening;
    let permits = Arc::new(Semaphore::new(state.config.max_connections));
    let busy_permits = Arc::new(Semaphore::new(MAX_BUSY_REFUSALS));
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
        Stats::count(&state.stats.accepted);
        if let Err(error) = configure(&stream, state.config.tcp_keepalive) {
            tracing::debug!(%peer, %error, "cannot set socket options");
        }
        let (state, shutdown, acceptor) = (Arc::clone(&state), shutdown.clone(), acceptor.clone());
        match Arc::clone(&permits).try_acquire_owned() {
            Ok(permit) => {
                tracker.spawn(async move {
                    match acceptor.accept(stream).await {
                        Ok(stream) => {
                            if let Err(error) = serve(state, stream, shutdown).await {
                                tracing::debug!(%peer, %error, "connection ended with an error");
                            }
                        }
                        Err(error) => refused(&state, peer, &error),
                    }
                    drop(permit);
                });
            }
            Err(_) => {
                Stats::count(&state.stats.busy);
                tracing::warn!(%peer, "too many connections; refusing");
                let Ok(busy) = Arc::clone(&busy_permits).try_acquire_owned() else {
                    continue;
                };
                tracker.spawn(async move {
                    // Inside TLS on a TLS port, so that the client can read it.
                    match acceptor.accept(stream).await {
                        Ok(stream) => refuse_busy(stream, state.config.max_frame).await,
                        Err(error) => refused(&state, peer, &error),
                    }
                    drop(busy);
                });
            }
        }
    }
}

/// Counts and logs a connection refused before its session: one line per
/// connection, at info for what an operator can act on.
fn refused(state: &State, peer: SocketAddr, error: &TransportError) {
    Stats::count(&state.stats.transport_refused);
    match error {
        TransportError::KeyRefusedByPeer { .. } => {
            Stats::count(&state.stats.key_refused_by_peer);
            tracing::info!(%peer, %error, "a client refused this publisher's key: {error}");
        }
        TransportError::NotTls { .. } | TransportError::TlsOnPlaintextPort { .. } => {
            tracing::info!(%peer, %error, "refused a peer of the wrong kind: {error}");
        }
        _ => tracing::debug!(%peer, %error, "connection refused: {error}"),
    }
}

/// Serves one connection from its hello to its end.
async fn serve(
    state: Arc<State>,
    stream: flog_wire::Stream,
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

//! Dialing out to a gatherer (`docs/protocol.md` §12.6): connect over
//! mutual TLS, register, then serve the gatherer the logport session over
//! the same connection with the ordinary `Handler`; reconnect with backoff
//! and jitter, forever, in a background task. Nothing here is on the path of
//! a logging call, so a gatherer that is down costs the service only this
//! task.

use std::sync::Arc;
use std::time::Duration;

use flog_wire::{
    Backoff, Connection, Connector, ErrorCode, LogportUrl, Message, PeerRole, Register, Stream,
    TransportError, WireError, SUPPORTED_VERSIONS,
};
use tokio_util::sync::CancellationToken;

use crate::handler::{codec, Handler, Peer};
use crate::state::State;
use crate::stats::Stats;

/// Why a dial-out did not reach a session.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DialError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("the gatherer refused the registration: {code}: {message}")]
    Refused { code: ErrorCode, message: String },
    #[error("the gatherer did not answer the registration within {0:?}")]
    Timeout(Duration),
    #[error("the gatherer closed the connection before answering the registration")]
    Closed,
    #[error("expected registered, got {0}")]
    NotRegistered(&'static str),
    #[error("the gatherer chose protocol version {0}, which was not offered")]
    UnofferedVersion(u32),
    #[error("expected gatherer {expected:?} but reached {actual:?}")]
    GathererMismatch { expected: String, actual: String },
}

/// Dials the gatherer at `url` until `shutdown`.
pub(crate) async fn dial_out(state: Arc<State>, url: LogportUrl, shutdown: CancellationToken) {
    let connector = Connector::new()
        .client_key(state.key.clone())
        .peer_role(PeerRole::Gatherer)
        .timeout(state.config.dial_timeout);
    let config = &state.config;
    let mut backoff = Backoff::new(config.dial_min_backoff, config.dial_max_backoff);
    let mut report = FailureRun::default();
    let shown = url.redacted().to_string();
    loop {
        let registered = tokio::select! {
            _ = shutdown.cancelled() => return,
            registered = register(&state, &connector, &url) => registered,
        };
        match registered {
            Ok(conn) => {
                report.succeeded(&shown);
                backoff.reset();
                Stats::count(&state.stats.dialed_sessions);
                // The handler answers shutdown itself, with a goodbye.
                let ended = serve(Arc::clone(&state), conn, shutdown.clone()).await;
                if shutdown.is_cancelled() {
                    return;
                }
                match ended {
                    Ok(()) => {
                        tracing::info!(gatherer = %shown, "session with gatherer {shown} ended; dialing again")
                    }
                    Err(error) => {
                        tracing::info!(gatherer = %shown, %error, "session with gatherer {shown} ended: {error}; dialing again")
                    }
                }
            }
            Err(error) => {
                Stats::count(&state.stats.dial_failures);
                if report.failed(&shown, &error.to_string()) {
                    Stats::count(&state.stats.dial_failures_reported);
                }
            }
        }
        // After a session too: a gatherer that accepts and drops at once
        // must not make this a busy loop.
        let wait = backoff.next_wait();
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Connects, checks the gatherer's key (the connector does, before anything
/// is sent), presents this publisher's key and registers.
async fn register(
    state: &State,
    connector: &Connector,
    url: &LogportUrl,
) -> Result<Connection<Stream>, DialError> {
    let stream = connector.connect(url).await?;
    let mut conn = Connection::with_codec(stream, codec(state.config.max_frame));
    let register = Register {
        versions: SUPPORTED_VERSIONS.to_vec(),
        secret: url.secret().to_owned(),
        publisher_id: state.identity.publisher_id.clone(),
        client: format!("flog-publisher/{}", env!("CARGO_PKG_VERSION")),
    };
    conn.write_message(&register.into()).await?;
    let patience = state.config.hello_timeout;
    let answer = tokio::time::timeout(patience, conn.read_message())
        .await
        .map_err(|_| DialError::Timeout(patience))??;
    match answer {
        Some(Message::Registered(registered)) => {
            if !SUPPORTED_VERSIONS.contains(&registered.version) {
                return Err(DialError::UnofferedVersion(registered.version));
            }
            if registered.gatherer_id != url.publisher_id() {
                return Err(DialError::GathererMismatch {
                    expected: url.publisher_id().to_owned(),
                    actual: registered.gatherer_id,
                });
            }
            Ok(conn)
        }
        Some(Message::Error(error)) => Err(DialError::Refused {
            code: error.code,
            message: error.message,
        }),
        Some(other) => Err(DialError::NotRegistered(other.name())),
        None => Err(DialError::Closed),
    }
}

/// The logport session with the gatherer as the client, exactly as for a
/// client that connected.
async fn serve(
    state: Arc<State>,
    conn: Connection<Stream>,
    shutdown: CancellationToken,
) -> Result<(), crate::handler::HandlerError> {
    let mut handler = Handler::with_connection(state, conn, Peer::DialedGatherer, shutdown);
    if handler.handshake().await? {
        handler.run().await?;
    }
    Ok(())
}

/// Failed dial-outs in a row, told once per run: the first failure of a
/// kind is a warning, the same failure again only a debug line, and the
/// first success after failures says how many there were. A gatherer that
/// is down or refuses must not decide how much the service logs.
#[derive(Debug, Default)]
struct FailureRun {
    last: Option<String>,
    count: u64,
}

impl FailureRun {
    /// Whether this failure was reported (the first of its kind in a row).
    fn failed(&mut self, gatherer: &str, error: &str) -> bool {
        self.count += 1;
        if self.last.as_deref() == Some(error) {
            tracing::debug!(
                gatherer,
                error,
                "gatherer {gatherer} still failing: {error}"
            );
            return false;
        }
        self.last = Some(error.to_owned());
        tracing::warn!(
            gatherer,
            error,
            "cannot dial out to gatherer {gatherer}: {error}; retrying with backoff"
        );
        true
    }

    fn succeeded(&mut self, gatherer: &str) {
        if self.count > 0 {
            let failures = self.count;
            tracing::info!(
                gatherer,
                failures,
                "registered with gatherer {gatherer} after {failures} failed attempts"
            );
        } else {
            tracing::info!(gatherer, "registered with gatherer {gatherer}");
        }
        self.count = 0;
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_one_failure_warns_once_and_ends_with_the_count() {
        let mut run = FailureRun::default();
        assert!(run.failed("g", "refused"));
        assert!(!run.failed("g", "refused"));
        assert_eq!((run.count, run.last.as_deref()), (2, Some("refused")));
        assert!(run.failed("g", "unreachable"));
        assert_eq!(run.last.as_deref(), Some("unreachable"));
        run.succeeded("g");
        assert_eq!((run.count, run.last), (0, None));
    }
}

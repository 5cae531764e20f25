//! The accepting side: classify the peer, then run the TLS handshake, all
//! within a deadline.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_rustls::{TlsAcceptor, TlsStream};

use crate::tls::ServerTls;
use crate::transport::error::{Side, TransportError};
use crate::transport::sniff::{first_byte, refuse, FirstByte, PLAINTEXT_ONLY, TLS_REQUIRED};
use crate::transport::stream::Stream;

/// The default [`Acceptor::handshake_timeout`].
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Turns accepted TCP connections into logport [`Stream`]s: TLS with a
/// [`ServerTls`], or plaintext when the operator asked for it.
///
/// Call [`accept`](Self::accept) in the connection's own task, not in the
/// accept loop: a client that stalls mid-handshake then holds only its own
/// task, and only until the handshake deadline.
///
/// ```no_run
/// # async fn example(key: flog_wire::TlsKey) -> Result<(), Box<dyn std::error::Error>> {
/// use flog_wire::{Acceptor, Connection, ServerTls};
///
/// let acceptor = Acceptor::tls(ServerTls::new(&key)?);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// loop {
///     let (tcp, _) = listener.accept().await?;
///     let acceptor = acceptor.clone();
///     tokio::spawn(async move {
///         match acceptor.accept(tcp).await {
///             Ok(stream) => {
///                 let connection = Connection::new(stream);
///                 // serve the session, as before TLS
/// #               drop(connection);
///             }
///             Err(error) => eprintln!("refused: {error}"),
///         }
///     });
/// }
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Acceptor {
    tls: Option<ServerTls>,
    timeout: Duration,
}

impl Acceptor {
    /// Accepts TLS only, presenting `server`'s key.
    pub fn tls(server: ServerTls) -> Self {
        Self {
            tls: Some(server),
            timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// Accepts plaintext only: the explicit, insecure opt-out.
    pub fn insecure() -> Self {
        Self {
            tls: None,
            timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// How long a client may take to finish the handshake, from the moment
    /// [`accept`](Self::accept) is called (default 10 s).
    #[must_use]
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Whether this acceptor speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Classifies the peer by its first byte and, on a TLS port, runs the
    /// handshake, all before the deadline.
    ///
    /// A peer of the wrong kind (plaintext on a TLS port, TLS on a
    /// plaintext port) is sent a plaintext logport error frame saying so and
    /// is refused with [`TransportError::NotTls`] or
    /// [`TransportError::TlsOnPlaintextPort`]. On a plaintext port a peer
    /// that sends nothing before the deadline is handed over all the same:
    /// nothing was learned, and the session's own hello deadline deals with
    /// it.
    pub async fn accept(&self, tcp: TcpStream) -> Result<Stream, TransportError> {
        let deadline = Instant::now() + self.timeout;
        let peer = tcp
            .peer_addr()
            .map_or_else(|_| "an unknown peer".to_string(), |a| a.to_string());
        let _ = tcp.set_nodelay(true);
        let first = timeout_at(deadline, first_byte(&tcp)).await;
        let Some(server) = &self.tls else {
            if let Ok(Ok(FirstByte::Tls)) = first {
                refuse(tcp, PLAINTEXT_ONLY, deadline).await;
                return Err(TransportError::TlsOnPlaintextPort { peer });
            }
            return Ok(Stream::plain(tcp));
        };
        match first {
            Err(_) => return Err(self.timed_out(peer)),
            Ok(Err(source)) => return Err(TransportError::Io { peer, source }),
            Ok(Ok(FirstByte::Closed)) => {
                return Err(TransportError::ClosedDuringHandshake { peer })
            }
            Ok(Ok(FirstByte::NotTls)) => {
                refuse(tcp, TLS_REQUIRED, deadline).await;
                return Err(TransportError::NotTls { peer });
            }
            Ok(Ok(FirstByte::Tls)) => {}
        }
        let acceptor = TlsAcceptor::from(server.config());
        match timeout_at(deadline, acceptor.accept(tcp)).await {
            Err(_) => Err(self.timed_out(peer)),
            Ok(Err(e)) => Err(TransportError::from_handshake(e, peer, Side::Server)),
            Ok(Ok(tls)) => Ok(Stream::tls(TlsStream::Server(tls))),
        }
    }

    fn timed_out(&self, peer: String) -> TransportError {
        TransportError::HandshakeTimeout {
            peer,
            after: self.timeout,
        }
    }
}

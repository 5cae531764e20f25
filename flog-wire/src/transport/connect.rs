//! The connecting side: TCP, then TLS with the URL's pinned key.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_rustls::{TlsConnector, TlsStream};

use crate::tls::config::client_config;
use crate::tls::TlsKey;
use crate::transport::error::{PeerRole, Side, TransportError};
use crate::transport::stream::Stream;
use crate::url::{LogportUrl, Security};

/// The default [`Connector::timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens logport connections as a URL says: TLS checked against the URL's
/// key for `flogs://`, plaintext for `flog+insecure://`.
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use flog_wire::{Connection, Connector, LogportUrl, TransportError};
///
/// let url: LogportUrl = std::fs::read_to_string("logdir/logport")?.trim().parse()?;
/// match Connector::new().connect(&url).await {
///     Ok(stream) => {
///         let connection = Connection::new(stream);
///         // send the hello, as before TLS
/// #       drop(connection);
///     }
///     Err(TransportError::KeyMismatch { expected, actual, .. }) => {
///         eprintln!("stale URL or a man in the middle: wanted {expected}, met {actual}");
///     }
///     Err(other) => return Err(other.into()),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Connector {
    client_key: Option<TlsKey>,
    role: PeerRole,
    timeout: Duration,
}

impl Default for Connector {
    fn default() -> Self {
        Self {
            client_key: None,
            role: PeerRole::Publisher,
            timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

impl Connector {
    /// Dials publishers, presents no key, and allows 10 s for the TCP
    /// connect and the TLS handshake together.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long the TCP connect and the TLS handshake may take together.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Presents `key` as a client certificate (mutual TLS): a publisher
    /// dialing out to a gatherer proves its identity so.
    #[must_use]
    pub fn client_key(mut self, key: TlsKey) -> Self {
        self.client_key = Some(key);
        self
    }

    /// What kind of server is dialed, as named in
    /// [`TransportError::KeyMismatch`].
    #[must_use]
    pub fn peer_role(mut self, role: PeerRole) -> Self {
        self.role = role;
        self
    }

    /// Connects to the URL's host and port and secures the connection as
    /// the URL says. For `flogs://`, nothing but the TLS handshake is sent
    /// unless the server proves it holds the URL's key; a server with
    /// another key is [`TransportError::KeyMismatch`].
    pub async fn connect(&self, url: &LogportUrl) -> Result<Stream, TransportError> {
        let deadline = Instant::now() + self.timeout;
        let addr = url.authority();
        let connect_error = |source| TransportError::Connect {
            addr: addr.clone(),
            source,
        };
        let tcp = match timeout_at(deadline, TcpStream::connect(&addr)).await {
            Err(_) => return Err(connect_error(std::io::ErrorKind::TimedOut.into())),
            Ok(result) => result.map_err(connect_error)?,
        };
        self.secure(tcp, url, deadline).await
    }

    /// Secures a TCP connection the caller made to the URL's server, e.g.
    /// through a proxy. The handshake gets the whole [`timeout`](Self::timeout).
    pub async fn connect_over(
        &self,
        tcp: TcpStream,
        url: &LogportUrl,
    ) -> Result<Stream, TransportError> {
        self.secure(tcp, url, Instant::now() + self.timeout).await
    }

    async fn secure(
        &self,
        tcp: TcpStream,
        url: &LogportUrl,
        deadline: Instant,
    ) -> Result<Stream, TransportError> {
        // Requests are small frames flushed whole; Nagle would only delay them.
        let _ = tcp.set_nodelay(true);
        let key = match url.security() {
            Security::Tls(key) => key,
            Security::Insecure => return Ok(Stream::plain(tcp)),
        };
        let peer = url.authority();
        let connector = TlsConnector::from(Arc::new(
            client_config(key, self.client_key.as_ref()).map_err(TransportError::Config)?,
        ));
        let handshake = connector.connect(server_name(url), tcp);
        match timeout_at(deadline, handshake).await {
            Err(_) => Err(TransportError::HandshakeTimeout {
                peer,
                after: self.timeout,
            }),
            Ok(Err(e)) => Err(TransportError::from_handshake(
                e,
                peer,
                Side::Client(self.role),
            )),
            Ok(Ok(tls)) => {
                let stream = Stream::tls(TlsStream::Client(tls));
                debug_assert_eq!(stream.peer_key(), Some(key), "the verifier checked it");
                Ok(stream)
            }
        }
    }
}

/// The name sent in the handshake. The verifier ignores it, but rustls
/// needs one: the URL's host, which the URL grammar keeps a valid DNS name
/// or IP address.
fn server_name(url: &LogportUrl) -> ServerName<'static> {
    ServerName::try_from(url.host().to_string())
        .unwrap_or_else(|_| ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()))
}

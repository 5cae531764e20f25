//! One byte stream type for TLS and plaintext logport connections.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsStream;

use crate::fingerprint::KeyFingerprint;

/// A logport connection's byte stream, TLS or (explicitly insecure)
/// plaintext TCP, as [`Connector::connect`](crate::Connector::connect) and
/// [`Acceptor::accept`](crate::Acceptor::accept) return it. Wrap it in a
/// [`Connection`](crate::Connection) to read and write messages.
///
/// A TLS peer that closes the TCP connection without a TLS `close_notify`
/// reads as a clean end of stream, exactly as a plaintext close does: the
/// framing already reports a close inside a frame as
/// [`WireError::TruncatedFrame`](crate::WireError::TruncatedFrame), and the
/// protocol's own completion messages (an incident's digest, `goodbye`) say
/// whether everything arrived. Without this, every peer that simply drops its
/// connection would look like an error.
pub struct Stream {
    io: Io,
    peer_key: Option<KeyFingerprint>,
}

enum Io {
    Plain(TcpStream),
    // Boxed: a TLS session is large, and a plain stream should not pay for it.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    pub(crate) fn plain(tcp: TcpStream) -> Self {
        Self {
            io: Io::Plain(tcp),
            peer_key: None,
        }
    }

    /// Wraps a finished handshake, noting the key the peer's certificate
    /// holds (the handshake verified the signature made with it).
    pub(crate) fn tls(tls: TlsStream<TcpStream>) -> Self {
        let (_, state) = tls.get_ref();
        let peer_key = state
            .peer_certificates()
            .and_then(|certs| certs.first())
            .and_then(|cert| KeyFingerprint::of_certificate(cert.as_ref()));
        Self {
            io: Io::Tls(Box::new(tls)),
            peer_key,
        }
    }

    /// Whether the stream is encrypted.
    pub fn is_tls(&self) -> bool {
        matches!(self.io, Io::Tls(_))
    }

    /// The fingerprint of the peer's key, checked in the handshake: on the
    /// connecting side the server's (equal to the URL's key); on the
    /// accepting side the client's, when the port requires client keys
    /// (a publisher dialing out to a gatherer). `None` for plaintext and for
    /// clients that presented no key.
    pub fn peer_key(&self) -> Option<KeyFingerprint> {
        self.peer_key
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().local_addr()
    }

    // Not public: `TcpStream::try_write` takes `&self`, and a byte written
    // past rustls would break the TLS stream.
    fn tcp(&self) -> &TcpStream {
        match &self.io {
            Io::Plain(tcp) => tcp,
            Io::Tls(tls) => tls.get_ref().0,
        }
    }
}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stream")
            .field("tls", &self.is_tls())
            .field("peer", &self.peer_addr().ok())
            .field("peer_key", &self.peer_key)
            .finish()
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Io::Tls(tls) => match Pin::new(tls.as_mut()).poll_read(cx, buf) {
                // rustls's "closed without close_notify": an end of stream,
                // see the type's documentation.
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    Poll::Ready(Ok(()))
                }
                other => other,
            },
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Io::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(tcp) => Pin::new(tcp).poll_write_vectored(cx, bufs),
            Io::Tls(tls) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(tcp) => tcp.is_write_vectored(),
            Io::Tls(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Io::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Io::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}

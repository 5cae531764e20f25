//! Why a logport connection could not be set up.

use std::fmt;
use std::io;
use std::time::Duration;

use rustls::AlertDescription;

use crate::fingerprint::KeyFingerprint;
use crate::tls::KeyMismatch;

/// Which kind of server a client dials, for its errors: a gatherer, client
/// or `flogtool` dials a publisher; a publisher dialing out dials a gatherer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PeerRole {
    /// A publisher's logport.
    #[default]
    Publisher,
    /// A gatherer's port for publishers that dial out.
    Gatherer,
}

impl fmt::Display for PeerRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PeerRole::Publisher => "publisher",
            PeerRole::Gatherer => "gatherer",
        })
    }
}

/// Why a connection could not be made, accepted, or secured.
///
/// Every variant is something a caller may want to act on (report a wrong
/// URL, count a refused peer, retry later), so they are matched on, never
/// read from the message text. `peer` is the remote `HOST:PORT` (the URL's on
/// the connecting side, the socket's on the accepting side).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The TCP connection could not be made.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// `HOST:PORT` from the URL.
        addr: String,
        /// Why.
        source: io::Error,
    },

    /// The server holds another key than the URL names: the URL is stale
    /// (the key was rotated) or someone is in the middle. Nothing was sent
    /// but the TLS handshake.
    #[error("{role} key does not match the URL: expected {expected}, got {actual}")]
    KeyMismatch {
        /// What kind of server was dialed.
        role: PeerRole,
        /// The fingerprint in the URL.
        expected: KeyFingerprint,
        /// The fingerprint of the key the server presented.
        actual: KeyFingerprint,
    },

    /// On a TLS port, the peer's first bytes are not a TLS handshake: a
    /// plaintext client (`flog+insecure://`, or from before TLS) or garbage.
    /// It was told so in a plaintext logport error frame.
    #[error("peer is not speaking TLS: {peer} sent something other than a TLS handshake")]
    NotTls {
        /// The peer.
        peer: String,
    },

    /// On a plaintext port, the peer started a TLS handshake. It was told so
    /// (in bytes a TLS client reports as [`ServerNotTls`](Self::ServerNotTls)).
    #[error("peer spoke TLS to a plaintext logport: {peer} (its URL should be flog+insecure://)")]
    TlsOnPlaintextPort {
        /// The peer.
        peer: String,
    },

    /// The server answered the TLS handshake with bytes that are not TLS:
    /// a plaintext logport, or another kind of server.
    #[error(
        "{peer} is not speaking TLS: a plaintext logport (its URL would start \
         with flog+insecure://) or not a logport at all"
    )]
    ServerNotTls {
        /// The server.
        peer: String,
    },

    /// The peer closed the connection before the handshake was done.
    #[error("{peer} closed the connection during the TLS handshake")]
    ClosedDuringHandshake {
        /// The peer.
        peer: String,
    },

    /// The handshake did not finish in time: the peer stalled.
    #[error("no TLS handshake with {peer} within {after:?}")]
    HandshakeTimeout {
        /// The peer.
        peer: String,
        /// The deadline that passed.
        after: Duration,
    },

    /// The client refused this server's certificate: its URL names another
    /// key, typically one from before a rotation.
    #[error(
        "{peer} refused this server's key: its URL names another key (give it the current URL)"
    )]
    KeyRefusedByPeer {
        /// The client.
        peer: String,
    },

    /// The client presented no key to a port that requires one (mutual
    /// TLS, for publishers dialing out).
    #[error("{peer} presented no key, and this port requires one")]
    NoClientKey {
        /// The client.
        peer: String,
    },

    /// Any other TLS failure: a malformed handshake, no common algorithm, a
    /// bad signature.
    #[error("TLS handshake with {peer} failed: {source}")]
    Tls {
        /// The peer.
        peer: String,
        /// What rustls reported.
        source: rustls::Error,
    },

    /// The socket failed during the handshake.
    #[error("I/O error in the TLS handshake with {peer}: {source}")]
    Io {
        /// The peer.
        peer: String,
        /// Why.
        source: io::Error,
    },

    /// The rustls configuration could not be built.
    #[error("cannot configure TLS: {0}")]
    Config(#[source] rustls::Error),
}

/// Which end of the handshake an error was met on, as the same rustls error
/// means different things on each.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Side {
    Client(PeerRole),
    Server,
}

impl TransportError {
    /// Classifies a failed tokio-rustls handshake, which reports rustls
    /// errors wrapped in `io::Error`.
    pub(crate) fn from_handshake(error: io::Error, peer: String, side: Side) -> Self {
        if error.kind() == io::ErrorKind::UnexpectedEof {
            return TransportError::ClosedDuringHandshake { peer };
        }
        let Some(tls) = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        else {
            return TransportError::Io {
                peer,
                source: error,
            };
        };
        match (side, tls) {
            (
                Side::Client(role),
                rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)),
            ) => {
                if let Some(mismatch) = other.0.downcast_ref::<KeyMismatch>() {
                    return TransportError::KeyMismatch {
                        role,
                        expected: mismatch.expected,
                        actual: mismatch.actual,
                    };
                }
            }
            (Side::Client(_), rustls::Error::InvalidMessage(_)) => {
                return TransportError::ServerNotTls { peer };
            }
            // rustls clients send certificate_unknown when their verifier
            // refuses the key; others may say bad_certificate.
            (
                Side::Server,
                rustls::Error::AlertReceived(
                    AlertDescription::CertificateUnknown | AlertDescription::BadCertificate,
                ),
            ) => {
                return TransportError::KeyRefusedByPeer { peer };
            }
            (Side::Server, rustls::Error::NoCertificatesPresented) => {
                return TransportError::NoClientKey { peer };
            }
            _ => {}
        }
        TransportError::Tls {
            peer,
            source: tls.clone(),
        }
    }
}

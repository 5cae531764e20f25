//! Why a publisher could not start.

use std::net::SocketAddr;
use std::path::PathBuf;

use flog_wire::{KeyFileError, TransportError, UrlError};

/// Why a publisher could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// The listening socket could not be bound, or its address not read.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The host to advertise makes no valid logport URL.
    #[error("cannot advertise {host:?} in the logport URL: {source}")]
    Advertise {
        /// The host given to [`PublisherBuilder::advertise`](crate::PublisherBuilder::advertise).
        host: String,
        /// Why the URL refused it.
        source: UrlError,
    },
    /// The incident index could not be built.
    #[error("cannot read incidents in {}: {source}", dir.display())]
    Index {
        /// The logdir.
        dir: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The start-up work on a blocking thread (loading the identity, reading
    /// the logdir) panicked or was cancelled.
    #[error("the start-up task for {} failed: {source}", dir.display())]
    Startup {
        /// The logdir.
        dir: PathBuf,
        /// The task's failure.
        source: tokio::task::JoinError,
    },
    /// The logport's TLS key file could not be read, created, or used.
    #[error(transparent)]
    Key(#[from] KeyFileError),
    /// The TLS configuration could not be built from the key.
    #[error("cannot set up TLS: {0}")]
    Tls(#[source] TransportError),
    /// A gatherer URL to dial out to, from the environment, is not valid.
    #[error("invalid gatherer URL in ${var}: {source}")]
    GathererUrl {
        /// The environment variable.
        var: &'static str,
        /// Why the URL was refused (the message never quotes the secret).
        source: UrlError,
    },
    /// A gatherer URL to dial out to is not a `flogs://` URL: a dial-out is
    /// always mutual TLS, since the gatherer knows the publisher by its key.
    #[error(
        "cannot dial out to {url}: a gatherer URL starts with flogs:// (dial-outs are always TLS)"
    )]
    GathererNotTls {
        /// The URL, without its secret.
        url: String,
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

//! Why a publisher could not start.

use std::net::SocketAddr;
use std::path::PathBuf;

use flog_wire::UrlError;

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
    /// The logport file could not be written.
    #[error("cannot write the logport file {}: {source}", path.display())]
    LogportFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

//! The leaf of the publisher task: what every task shares ([`Context`]),
//! the state of one publisher ([`Publisher`]), and why a poll fails
//! ([`PollError`]). The steps (session, round, fetch) build on these.

use std::fmt;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use flog_wire::{ClientError, ClientOptions};
use tokio::sync::{mpsc, Semaphore};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use super::report::{FailureRun, Refusals};
use crate::bucket::{Bucket, BucketError};
use crate::classified::ClassifiedIndex;
use crate::config::Config;
use crate::contain::{blocking, Panicked};
use crate::observer::{GatherEvent, GatherObserver};
use crate::snapshot::SnapshotJob;
use crate::store::{Partial, PublisherStore, INCIDENTS_DIR};
use crate::units::human_duration;
use flog_wire::Backoff;

/// Incident notices each subscription may queue in the client. The notices
/// are read at once and kept as a flag, so one is enough; it bounds what a
/// publisher's pushes can make the gatherer hold to about a frame.
pub(crate) const NOTICE_BUFFER: usize = 1;

/// What every publisher task shares.
pub(crate) struct Context {
    pub(crate) basedir: PathBuf,
    pub(crate) config: Config,
    /// Turns at talking to publishers: each connect, listing page and fetch
    /// takes one, so `concurrency` bounds the network work at any moment.
    pub(crate) permits: Semaphore,
    pub(crate) index: Arc<ClassifiedIndex>,
    pub(crate) observer: Option<Arc<dyn GatherObserver>>,
    /// Where incidents are stored, with `storage = "s3"`; `None`: in the
    /// base directory. Fetches go through the base directory either way.
    pub(crate) bucket: Option<Bucket>,
    /// With a bucket: the publishers this gatherer holds the lease on, the
    /// only ones it polls (crate::leases).
    pub(crate) held: Option<Arc<crate::leases::Held>>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("basedir", &self.basedir)
            .field("permits", &self.permits.available_permits())
            .finish_non_exhaustive()
    }
}

impl Context {
    pub(crate) fn notify(&self, event: GatherEvent) {
        if let Some(observer) = &self.observer {
            observer.on_event(&event);
        }
    }

    pub(crate) fn client_options(&self) -> ClientOptions {
        ClientOptions::new()
            .connect_timeout(self.config.connect_timeout)
            .request_timeout(self.config.request_timeout)
            .chunk_size(self.config.chunk_size)
            .subscription_buffer(NOTICE_BUFFER)
            .client_name(concat!("flog-gatherer/", env!("CARGO_PKG_VERSION")))
    }
}

/// What a network step was doing, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Operation {
    Connecting,
    Subscribing,
    Listing,
    Fetching(String),
    Snapshot,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::Connecting => f.write_str("connecting"),
            Operation::Subscribing => f.write_str("subscribing"),
            Operation::Listing => f.write_str("listing incidents"),
            Operation::Fetching(name) => write!(f, "fetching incident {name}"),
            Operation::Snapshot => f.write_str("asking to record an incident now"),
        }
    }
}

/// A publisher broke the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Violation {
    #[error("a page of {got} incidents where at most {asked} were asked for")]
    PageTooLong { asked: u32, got: usize },
    #[error("a page of incidents claims more follow but held nothing usable")]
    NothingUsable,
}

/// Why a poll failed; the message names what was being done.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PollError {
    #[error("unreachable: {0}")]
    Unreachable(ClientError),
    #[error("refused: {0}")]
    Handshake(ClientError),
    #[error("{operation} failed: {source}")]
    Request {
        operation: Operation,
        source: ClientError,
    },
    #[error("{operation} timed out after {}", human_duration(*after))]
    Timeout {
        operation: Operation,
        after: Duration,
    },
    #[error("cannot {action} {}: {source}", path.display())]
    Store {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// The folder's store is not open: a task that had it failed, and the
    /// next connection reopens it.
    #[error("the incident folder {} is not open", folder.display())]
    StoreClosed { folder: PathBuf },
    /// The fetched file on disk is not what was received and verified:
    /// something else wrote to it.
    #[error("{} changed while it was written: the SHA-256 of its bytes is not the one received and verified; discarded", path.display())]
    Changed { path: PathBuf },
    #[error(transparent)]
    Bucket(#[from] BucketError),
    #[error("protocol violation: {0}")]
    Protocol(#[from] Violation),
    #[error(transparent)]
    Panicked(#[from] Panicked),
    #[error("stopped")]
    Stopped,
}

/// A typed summary of a [`PollError`], to tell a repeated failure from a new
/// one: which error, doing what, and the client error's variant and the I/O
/// error's kind underneath, but no text (whose details, an address or a
/// count, may differ between two attempts failing the same way).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FailureKind {
    error: std::mem::Discriminant<PollError>,
    operation: Option<Operation>,
    client: Option<std::mem::Discriminant<ClientError>>,
    io: Option<io::ErrorKind>,
}

impl PollError {
    /// What kind of failure this is (see [`FailureKind`]).
    pub(crate) fn kind(&self) -> FailureKind {
        let (operation, client) = match self {
            PollError::Unreachable(source) | PollError::Handshake(source) => (None, Some(source)),
            PollError::Request { operation, source } => (Some(operation.clone()), Some(source)),
            PollError::Timeout { operation, .. } => (Some(operation.clone()), None),
            _ => (None, None),
        };
        let mut io = None;
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(error) = cause {
            if let Some(found) = error.downcast_ref::<io::Error>() {
                io = Some(found.kind());
                break;
            }
            cause = error.source();
        }
        FailureKind {
            error: std::mem::discriminant(self),
            operation,
            client: client.map(std::mem::discriminant),
            io,
        }
    }

    /// Whether the connection broke (rather than the publisher misbehaving
    /// or the disk failing).
    pub(crate) fn is_connection_loss(&self) -> bool {
        self.keeps_partial() || matches!(self, PollError::Stopped)
    }

    /// Whether a fetch that failed so keeps what it received, to resume: a
    /// broken connection delivered whole, verified-later chunks.
    pub(crate) fn keeps_partial(&self) -> bool {
        match self {
            PollError::Request { source, .. } => matches!(
                source,
                ClientError::Closed { .. } | ClientError::Wire(_) | ClientError::Timeout { .. }
            ),
            PollError::Timeout { .. } => true,
            _ => false,
        }
    }
}

/// The state of one publisher's task, which only that task touches.
pub(crate) struct Publisher {
    pub(crate) cx: Arc<Context>,
    pub(crate) id: String,
    /// Opened on the first connection; `None` while a blocking task has it,
    /// and after one panicked with it (the next connection reopens it).
    store: Option<PublisherStore>,
    /// The temporary file of a fetch cut by a broken connection, to resume.
    pub(crate) partial: Option<Partial>,
    pub(crate) backoff: Backoff,
    pub(crate) failures: FailureRun<FailureKind>,
    pub(crate) refusals: Refusals,
    /// "Record an incident now" requests for this publisher.
    pub(crate) snapshots: mpsc::Receiver<SnapshotJob>,
    /// One taken while waiting to retry: the task connects at once for it.
    pub(crate) pending_snapshot: Option<SnapshotJob>,
}

impl Publisher {
    pub(crate) fn new(
        cx: Arc<Context>,
        id: String,
        snapshots: mpsc::Receiver<SnapshotJob>,
    ) -> Publisher {
        Publisher {
            snapshots,
            pending_snapshot: None,
            backoff: Backoff::new(cx.config.min_backoff, cx.config.max_backoff),
            cx,
            id,
            store: None,
            partial: None,
            failures: FailureRun::default(),
            refusals: Refusals::default(),
        }
    }

    /// The latest incident handled (stored or refused for good).
    pub(crate) fn latest(&self) -> Option<&str> {
        self.store.as_ref().and_then(PublisherStore::latest)
    }

    /// The store, open while polling.
    pub(crate) fn store(&self) -> Result<&PublisherStore, PollError> {
        self.store.as_ref().ok_or_else(|| self.store_gone())
    }

    /// The store, open while polling, to change.
    pub(crate) fn store_mut(&mut self) -> Result<&mut PublisherStore, PollError> {
        match self.store.as_mut() {
            Some(store) => Ok(store),
            None => Err(PollError::StoreClosed {
                folder: self.cx.basedir.join(INCIDENTS_DIR).join(&self.id),
            }),
        }
    }

    fn store_gone(&self) -> PollError {
        PollError::StoreClosed {
            folder: self.folder(),
        }
    }

    fn folder(&self) -> PathBuf {
        self.cx.basedir.join(INCIDENTS_DIR).join(&self.id)
    }

    /// Opens the store (recovering its folder) unless it is open.
    pub(crate) async fn open_store(&mut self) -> Result<(), PollError> {
        if self.store.is_some() {
            return Ok(());
        }
        let (basedir, id) = (self.cx.basedir.clone(), self.id.clone());
        let recovered = blocking("open the incident folder", move || {
            PublisherStore::recover(&basedir, &id)
        })
        .await?
        .map_err(|source| PollError::Store {
            action: "open the incident folder of",
            path: self.folder(),
            source,
        })?;
        self.store = Some(recovered.store);
        Ok(())
    }

    /// Closes the store: the next connection opens it again.
    pub(crate) fn close_store(&mut self) {
        self.store = None;
    }

    /// Runs blocking work on the store on a blocking thread. Should the work
    /// panic, the store is dropped with it and reopened (recovered from
    /// disk) at the next connection.
    pub(crate) async fn with_store<T: Send + 'static>(
        &mut self,
        task: &'static str,
        work: impl FnOnce(&mut PublisherStore) -> Result<T, PollError> + Send + 'static,
    ) -> Result<T, PollError> {
        let mut store = self.store.take().ok_or_else(|| self.store_gone())?;
        let (store, result) = blocking(task, move || {
            let result = work(&mut store);
            (store, result)
        })
        .await?;
        self.store = Some(store);
        result
    }

    /// Runs a network step: waits for a turn, then for `step` within
    /// `deadline`, giving up at once when stopped.
    pub(crate) async fn network<T>(
        &self,
        stop: &CancellationToken,
        deadline: Duration,
        operation: Operation,
        step: impl Future<Output = Result<T, ClientError>>,
    ) -> Result<T, PollError> {
        let _turn = tokio::select! {
            _ = stop.cancelled() => return Err(PollError::Stopped),
            turn = self.cx.permits.acquire() => turn.map_err(|_| PollError::Stopped)?,
        };
        tokio::select! {
            _ = stop.cancelled() => Err(PollError::Stopped),
            result = timeout(deadline, step) => match result {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(source)) => Err(PollError::Request { operation, source }),
                Err(_) => Err(PollError::Timeout { operation, after: deadline }),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_of_one_kind_match_whatever_their_details() {
        let timeout = |after| PollError::Timeout {
            operation: Operation::Listing,
            after: Duration::from_secs(after),
        };
        let store = |kind: io::ErrorKind, path: &str| PollError::Store {
            action: "write",
            path: path.into(),
            source: io::Error::new(kind, "x"),
        };
        assert_eq!(timeout(1).kind(), timeout(30).kind());
        assert_ne!(
            timeout(1).kind(),
            PollError::Timeout {
                operation: Operation::Connecting,
                after: Duration::from_secs(1),
            }
            .kind()
        );
        assert_eq!(
            store(io::ErrorKind::StorageFull, "/a").kind(),
            store(io::ErrorKind::StorageFull, "/b").kind()
        );
        assert_ne!(
            store(io::ErrorKind::StorageFull, "/a").kind(),
            store(io::ErrorKind::PermissionDenied, "/a").kind()
        );
        assert_ne!(timeout(1).kind(), store(io::ErrorKind::Other, "/a").kind());
    }
}

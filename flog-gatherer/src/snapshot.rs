//! "Record an incident now", relayed: a [`SnapshotHandle`] sends a request
//! to the running gatherer, which hands it to the publisher's task; the task
//! asks over the connection it has (polled or dialed in), or connects at
//! once when it was waiting to retry, answers on a oneshot, and polls.
//!
//! A leaf: the gatherer and the worker use it, it uses neither.

use std::time::Duration;

use flog_wire::{ClientError, ErrorCode, Snapshot, MAX_SNAPSHOT_REASON};
use tokio::sync::{mpsc, oneshot};

/// Snapshot requests waiting for the gatherer's loop, and for each
/// publisher's task: more at once are refused as busy.
pub(crate) const SNAPSHOT_QUEUE: usize = 4;

/// One request on its way to a publisher's task.
#[derive(Debug)]
pub(crate) struct SnapshotJob {
    pub(crate) publisher_id: String,
    pub(crate) reason: String,
    pub(crate) reply: oneshot::Sender<Result<Snapshot, SnapshotError>>,
}

impl SnapshotJob {
    /// Answers the request (a requester that gave up is no one's concern).
    pub(crate) fn answer(self, result: Result<Snapshot, SnapshotError>) {
        let _ = self.reply.send(result);
    }
}

/// Why a snapshot request got no outcome from the publisher.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The gatherer is not running (or stopped meanwhile).
    #[error("the gatherer is not running")]
    NotRunning,
    /// No publisher of this id is gathered from.
    #[error("no publisher {0:?} is gathered from")]
    UnknownPublisher(String),
    /// Too many requests are in flight already.
    #[error("too many requests to record an incident are in flight; try again")]
    Busy,
    /// The reason is longer than publishers take.
    #[error("the reason is {len} bytes, over the limit of {MAX_SNAPSHOT_REASON}")]
    ReasonTooLong {
        /// Its length.
        len: usize,
    },
    /// The publisher dials in and is not connected now: the gatherer cannot
    /// reach it until it dials in again.
    #[error("{publisher} dials in to the gatherer and is not connected now, so it cannot be asked until it dials in again")]
    NotConnected {
        /// The publisher.
        publisher: String,
    },
    /// The publisher could not be reached, or the request failed on the way.
    #[error("{0}")]
    Unreachable(String),
    /// The publisher answered with an error.
    #[error("{code}: {message}")]
    Refused {
        /// Its error code.
        code: ErrorCode,
        /// What it said.
        message: String,
    },
    /// No answer in time (the publisher's task may be busy with a fetch).
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
}

impl SnapshotError {
    /// The error of a request that reached the publisher's task and failed.
    pub(crate) fn of_client(error: ClientError) -> SnapshotError {
        match error {
            ClientError::Remote { code, message } => SnapshotError::Refused { code, message },
            other => SnapshotError::Unreachable(other.to_string()),
        }
    }
}

/// Asks the running gatherer to have a publisher declare an incident now
/// ([`Gatherer::snapshots`](crate::Gatherer::snapshots)).
#[derive(Debug, Clone)]
pub struct SnapshotHandle {
    pub(crate) jobs: mpsc::Sender<SnapshotJob>,
    /// How long to wait for the publisher's task to answer.
    pub(crate) patience: Duration,
}

impl SnapshotHandle {
    /// Asks publisher `publisher_id` to declare an incident with `reason` as
    /// its trigger (at most [`MAX_SNAPSHOT_REASON`] bytes; empty is "snapshot
    /// requested"). The publisher's storm control applies.
    pub async fn request(
        &self,
        publisher_id: &str,
        reason: &str,
    ) -> Result<Snapshot, SnapshotError> {
        if reason.len() > MAX_SNAPSHOT_REASON {
            return Err(SnapshotError::ReasonTooLong { len: reason.len() });
        }
        let (reply, answer) = oneshot::channel();
        let job = SnapshotJob {
            publisher_id: publisher_id.to_owned(),
            reason: reason.to_owned(),
            reply,
        };
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => return Err(SnapshotError::Busy),
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(SnapshotError::NotRunning),
        }
        match tokio::time::timeout(self.patience, answer).await {
            Ok(Ok(result)) => result,
            // The job was dropped: the gatherer or the task stopped.
            Ok(Err(_)) => Err(SnapshotError::NotRunning),
            Err(_) => Err(SnapshotError::TimedOut(self.patience)),
        }
    }
}

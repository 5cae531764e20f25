//! The dashboard's "record an incident now", relayed through the running
//! gatherer ([`SnapshotHandle`]), its errors turned into the dashboard's
//! outcomes.

use flog_web::{SnapshotFuture, SnapshotRelay, SnapshotResult};
use flog_wire::{SnapshotOutcome, MAX_SNAPSHOT_REASON};

use crate::snapshot::{SnapshotError, SnapshotHandle};

/// A [`SnapshotRelay`] over the gatherer's [`SnapshotHandle`].
#[derive(Debug, Clone)]
pub(super) struct Relay {
    handle: SnapshotHandle,
}

impl Relay {
    pub(super) fn new(handle: SnapshotHandle) -> Relay {
        Relay { handle }
    }
}

/// The dashboard's outcome of what the gatherer got.
fn outcome(result: Result<flog_wire::Snapshot, SnapshotError>) -> SnapshotResult {
    match result {
        Ok(snapshot) => match (snapshot.outcome, snapshot.incident) {
            (SnapshotOutcome::Declared, Some(incident)) => SnapshotResult::Declared { incident },
            // Declared without a name breaks the protocol: say what it said.
            (SnapshotOutcome::Declared, None) => SnapshotResult::Refused {
                message: "the publisher declared an incident but did not name it".into(),
            },
            (SnapshotOutcome::Joined, _) => SnapshotResult::Joined,
            (SnapshotOutcome::Suppressed, _) => SnapshotResult::Suppressed,
            (SnapshotOutcome::Unknown, _) => SnapshotResult::Unknown,
        },
        Err(SnapshotError::UnknownPublisher(_)) => SnapshotResult::UnknownPublisher,
        Err(error @ SnapshotError::Refused { .. }) => SnapshotResult::Refused {
            message: error.to_string(),
        },
        Err(error @ (SnapshotError::Unreachable(_) | SnapshotError::TimedOut(_))) => {
            SnapshotResult::Unreachable {
                message: error.to_string(),
            }
        }
        Err(error) => SnapshotResult::NotPossible {
            message: error.to_string(),
        },
    }
}

impl SnapshotRelay for Relay {
    fn max_reason(&self) -> usize {
        MAX_SNAPSHOT_REASON
    }

    fn request(&self, publisher: String, reason: String) -> SnapshotFuture {
        let handle = self.handle.clone();
        Box::pin(async move { outcome(handle.request(&publisher, &reason).await) })
    }
}

//! Catch-up: the events buffered when a subscription starts, encoded once
//! and shared by every catch-up that can use them.
//!
//! A snapshot is taken at a ring position: live delivery continues from
//! there, skipping the events the snapshot holds (an event is buffered before
//! it is observed, so one logged while the snapshot is taken can be in both,
//! and can reach the ring any time after). A later catch-up reuses a snapshot while the ring still
//! holds everything from its position, so a crowd of subscribers costs one
//! snapshot, not one each. The bytes of the snapshots in use are bounded by a
//! budget; a catch-up beyond it is refused with `busy`.

use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use flog_core::Logger;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::ring::Cursor;
use super::{lock, Shared};

/// Tries at taking a snapshot while the ring evicts its start, before
/// giving up: that takes logging faster than the ring's bytes per snapshot.
const ATTEMPTS: usize = 3;

/// The buffered events of one moment, encoded, oldest first.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) events: Vec<Bytes>,
    cursor: Cursor,
    _budget: OwnedSemaphorePermit,
}

/// Why a catch-up was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CatchUpRefused {
    #[error("catch-ups in progress hold the publisher's catch-up memory ({budget} bytes); retry later or subscribe without catch-up")]
    Budget { budget: usize },
    #[error("events are logged faster than a catch-up can be taken; subscribe without catch-up")]
    Overtaken,
    #[error("the catch-up snapshot could not be taken: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The snapshots of one publisher.
#[derive(Debug)]
pub(crate) struct Snapshots {
    latest: Mutex<Weak<Snapshot>>,
    /// One snapshot is taken at a time, so a crowd arriving together waits
    /// for the first and shares it.
    taking: tokio::sync::Mutex<()>,
    budget: Arc<Semaphore>,
    bytes: usize,
}

impl Snapshots {
    pub(crate) fn new(bytes: usize) -> Snapshots {
        Snapshots {
            latest: Mutex::new(Weak::new()),
            taking: tokio::sync::Mutex::new(()),
            budget: Arc::new(Semaphore::new(bytes.min(Semaphore::MAX_PERMITS))),
            bytes,
        }
    }

    /// The latest snapshot, if the ring still holds everything after it.
    fn reusable(&self, shared: &Shared) -> Option<Arc<Snapshot>> {
        let latest = lock(&self.latest).upgrade()?;
        (lock(&shared.ring).first_pos() <= latest.cursor.next).then_some(latest)
    }
}

/// A snapshot for a new catch-up, and where its live part starts.
pub(super) async fn take(
    shared: &Arc<Shared>,
    logger: &Logger,
) -> Result<(Arc<Snapshot>, Cursor), CatchUpRefused> {
    let snapshots = &shared.snapshots;
    if let Some(s) = snapshots.reusable(shared) {
        return Ok((Arc::clone(&s), s.cursor.clone()));
    }
    let _taking = snapshots.taking.lock().await;
    if let Some(s) = snapshots.reusable(shared) {
        return Ok((Arc::clone(&s), s.cursor.clone()));
    }
    for _ in 0..ATTEMPTS {
        if let Some(snapshot) = attempt(shared, logger).await? {
            let snapshot = Arc::new(snapshot);
            *lock(&snapshots.latest) = Arc::downgrade(&snapshot);
            let cursor = snapshot.cursor.clone();
            return Ok((snapshot, cursor));
        }
    }
    Err(CatchUpRefused::Overtaken)
}

/// Takes the buffered events between two ring positions and finds which
/// live entries in between are among them; `None` if the ring evicted the
/// start meanwhile.
async fn attempt(
    shared: &Arc<Shared>,
    logger: &Logger,
) -> Result<Option<Snapshot>, CatchUpRefused> {
    let start = lock(&shared.ingress).observed();
    let logger = logger.clone();
    // Copying and encoding every buffered event is work for a blocking thread.
    let buffered = tokio::task::spawn_blocking(move || {
        logger
            .buffered_events()
            .into_iter()
            .map(|e| (e.num, Bytes::from(e.to_cbor())))
            .collect::<Vec<_>>()
    })
    .await?;
    let end = lock(&shared.ingress).observed();
    let mut nums: Vec<u64> = buffered.iter().map(|(num, _)| *num).collect();
    nums.sort_unstable();
    // Wait until the fan-out moved everything up to `end` into the ring.
    loop {
        let news = shared.news.notified();
        tokio::pin!(news);
        news.as_mut().enable();
        if lock(&shared.ring).next_pos() >= end {
            break;
        }
        news.await;
    }
    let sent = {
        let ring = lock(&shared.ring);
        if ring.first_pos() > start {
            return Ok(None);
        }
        ring.positions_of(start, end, &nums)
    };
    let bytes: usize =
        buffered.iter().map(|(_, b)| b.len() + 64).sum::<usize>() + 8 * (sent.len() + nums.len());
    let permits = u32::try_from(bytes).unwrap_or(u32::MAX);
    let budget = Arc::clone(&shared.snapshots.budget)
        .try_acquire_many_owned(permits)
        .map_err(|_| CatchUpRefused::Budget {
            budget: shared.snapshots.bytes,
        })?;
    Ok(Some(Snapshot {
        events: buffered.into_iter().map(|(_, b)| b).collect(),
        cursor: Cursor {
            next: start,
            sent: Arc::from(sent),
            sent_nums: Arc::from(nums),
        },
        _budget: budget,
    }))
}

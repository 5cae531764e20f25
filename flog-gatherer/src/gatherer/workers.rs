//! The gatherer's publisher tasks: started, redirected and stopped to match
//! the publishers wanted, handed the sessions of publishers dialing in and
//! the operator's snapshot requests.

use std::collections::HashMap;
use std::sync::Arc;

use flog_wire::{LogportClient, LogportUrl};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::listen::DialIn;
use crate::publishers::Wanted;
use crate::snapshot::{SnapshotError, SnapshotJob, SNAPSHOT_QUEUE};
use crate::worker::{run_publisher, Context, Sources};

/// A running publisher task.
pub(super) struct Worker {
    /// `None` for a publisher known only by dialing in.
    url: watch::Sender<Option<LogportUrl>>,
    /// Sessions of the publisher dialing in; one waits while the task is
    /// busy with another connection.
    dialed: mpsc::Sender<LogportClient>,
    /// "Record an incident now" requests for this publisher.
    snapshots: mpsc::Sender<SnapshotJob>,
    pub(super) stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Worker {
    pub(super) fn start(
        id: &str,
        url: Option<LogportUrl>,
        tracker: &TaskTracker,
        cx: &Arc<Context>,
        shutdown: &CancellationToken,
    ) -> Worker {
        let (tx, url_rx) = watch::channel(url);
        let (dialed, dialed_rx) = mpsc::channel(1);
        let (snapshots, snapshots_rx) = mpsc::channel(SNAPSHOT_QUEUE);
        let stop = shutdown.child_token();
        let sources = Sources {
            url: url_rx,
            dialed: dialed_rx,
            snapshots: snapshots_rx,
        };
        let task = tracker.spawn(run_publisher(
            cx.clone(),
            id.to_owned(),
            sources,
            stop.clone(),
        ));
        Worker {
            url: tx,
            dialed,
            snapshots,
            stop,
            task,
        }
    }
}

/// Hands a publisher that dialed in to its task, started if it has none.
pub(super) fn route(
    workers: &mut HashMap<String, Worker>,
    dial_in: DialIn,
    tracker: &TaskTracker,
    cx: &Arc<Context>,
    shutdown: &CancellationToken,
) {
    let DialIn {
        publisher_id: id,
        client,
    } = dial_in;
    if workers.get(&id).is_some_and(|w| w.task.is_finished()) {
        workers.remove(&id);
    }
    let worker = workers.entry(id.clone()).or_insert_with(|| {
        tracing::info!(publisher = %id, "gathering from {id} (dialed in)");
        Worker::start(&id, None, tracker, cx, shutdown)
    });
    if worker.stop.is_cancelled() {
        // Still stopping: it must not share its folder; the publisher dials
        // again.
        return;
    }
    if worker.dialed.try_send(client).is_err() {
        // One session already waits: this publisher dials again later.
        tracing::debug!(publisher = %id, "{id} dialed in again while a session waits; closing");
    }
}

/// Hands a snapshot request to its publisher's task.
pub(super) fn route_snapshot(workers: &HashMap<String, Worker>, job: SnapshotJob) {
    let Some(worker) = workers
        .get(&job.publisher_id)
        .filter(|w| !w.stop.is_cancelled() && !w.task.is_finished())
    else {
        let id = job.publisher_id.clone();
        return job.answer(Err(SnapshotError::UnknownPublisher(id)));
    };
    match worker.snapshots.try_send(job) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(job)) => job.answer(Err(SnapshotError::Busy)),
        Err(mpsc::error::TrySendError::Closed(job)) => job.answer(Err(SnapshotError::NotRunning)),
    }
}

/// Starts, redirects and stops publisher tasks to match `wanted`.
pub(super) fn reconcile(
    workers: &mut HashMap<String, Worker>,
    wanted: Wanted,
    tracker: &TaskTracker,
    cx: &Arc<Context>,
    shutdown: &CancellationToken,
) {
    workers.retain(|id, worker| {
        if wanted.contains_key(id) || worker.task.is_finished() {
            return !worker.task.is_finished();
        }
        if worker.url.borrow().is_none() {
            // Known by dialing in, not by a URL: it stays.
            return true;
        }
        if !worker.stop.is_cancelled() {
            tracing::info!(publisher = %id, "no longer gathering from {id}");
            worker.stop.cancel();
        }
        true
    });
    for (id, (url, origin)) in wanted {
        match workers.get(&id) {
            // Still stopping: a new task must not share its folder, so it
            // starts at a later round.
            Some(worker) if worker.stop.is_cancelled() => {}
            Some(worker) => {
                if worker.url.borrow().as_ref() != Some(&url) {
                    tracing::info!(publisher = %id, url = %url.redacted(), "{id} moved to {}", url.redacted());
                    worker.url.send_replace(Some(url));
                }
            }
            None => {
                tracing::info!(publisher = %id, url = %url.redacted(), "gathering from {id} ({}, from {origin})", url.redacted());
                let worker = Worker::start(&id, Some(url), tracker, cx, shutdown);
                workers.insert(id, worker);
            }
        }
    }
}

//! One task per publisher: connect (or take the connection it dialed in
//! on), list what is new, fetch it in name order, wait for the next poll
//! (or a notice), and on failure back off and reconnect.
//!
//! The modules form a tree: this loop uses `session` (one connection),
//! which uses `notices` and `round` (one listing), which uses `fetch` (one
//! incident); all of them use the leaves `context` (shared state, the
//! publisher's state, errors) and `report` (what the operator is told).

mod bucket_store;
mod context;
mod fetch;
mod notices;
mod report;
mod round;
mod session;

use std::sync::Arc;

use flog_wire::{LogportClient, LogportUrl};
use tokio::sync::{mpsc, watch};
use tokio::time::sleep;
use tokio_util::sync::CancellationToken;

use self::session::{connect_and_serve, serve_dialed, Ended};
use crate::observer::GatherEvent;
use crate::snapshot::{SnapshotError, SnapshotJob};

pub(crate) use self::context::Context;
use self::context::Publisher;

/// Where publisher `id`'s connections come from: its URL (`None` for a
/// publisher known only by dialing in), and the sessions it dialed in on.
/// One task serves both, one connection at a time, so a publisher that is
/// polled and dials in too is stored once.
pub(crate) struct Sources {
    pub(crate) url: watch::Receiver<Option<LogportUrl>>,
    pub(crate) dialed: mpsc::Receiver<LogportClient>,
    /// "Record an incident now" requests (crate::snapshot).
    pub(crate) snapshots: mpsc::Receiver<SnapshotJob>,
}

/// The task of publisher `id`; returns when `stop` is cancelled.
pub(crate) async fn run_publisher(
    cx: Arc<Context>,
    id: String,
    sources: Sources,
    stop: CancellationToken,
) {
    let Sources {
        mut url,
        mut dialed,
        snapshots,
    } = sources;
    let mut publisher = Publisher::new(cx, id, snapshots);
    let mut waiting: Option<LogportClient> = None;
    loop {
        let current = url.borrow_and_update().clone();
        if current.is_none() && waiting.is_none() {
            // Taken for a URL that has gone meanwhile: nothing to connect to.
            if let Some(job) = publisher.pending_snapshot.take() {
                not_connected(&publisher.id, job);
            }
        }
        let ended = match (waiting.take(), current) {
            (Some(client), _) => serve_dialed(&mut publisher, client, &mut url, &stop).await,
            (None, Some(current)) => {
                connect_and_serve(&mut publisher, current, &mut url, &stop).await
            }
            (None, None) => tokio::select! {
                _ = stop.cancelled() => return,
                changed = url.changed() => match changed {
                    Ok(()) => continue,
                    Err(_) => { stop.cancelled().await; return; }
                },
                client = dialed.recv() => match client {
                    Some(client) => { waiting = Some(client); continue; }
                    None => { stop.cancelled().await; return; }
                },
                Some(job) = publisher.snapshots.recv() => {
                    not_connected(&publisher.id, job);
                    continue;
                }
            },
        };
        let wait = match ended {
            Ended::Stopped => return,
            Ended::UrlChanged => continue,
            Ended::Lost(error) => {
                let id = &publisher.id;
                tracing::info!(publisher = %id, %error, "connection to {id} lost ({error}); reconnecting");
                continue;
            }
            Ended::Failed(error) => {
                if let Some(job) = publisher.pending_snapshot.take() {
                    job.answer(Err(SnapshotError::Unreachable(error.to_string())));
                }
                let wait = publisher.backoff.next_wait();
                let shown = url
                    .borrow()
                    .as_ref()
                    .map_or_else(|| "dialed in".to_owned(), |u| u.redacted().to_string());
                let kind = error.kind();
                let error = error.to_string();
                publisher
                    .failures
                    .failed(&publisher.id, &shown, &error, kind, wait);
                publisher.cx.notify(GatherEvent::Failed {
                    publisher_id: publisher.id.clone(),
                    error,
                    retry_in: wait,
                });
                wait
            }
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = sleep(wait) => {}
            changed = url.changed() => {
                if changed.is_err() {
                    // The gatherer dropped this publisher; stop follows.
                    stop.cancelled().await;
                    return;
                }
                publisher.backoff.reset();
            }
            // A publisher dialing in is served at once, backoff or not.
            Some(client) = dialed.recv() => waiting = Some(client),
            // An operator asking is worth a connection now, if one can be
            // made; a publisher that dials in must dial first.
            Some(job) = publisher.snapshots.recv() => {
                if url.borrow().is_some() {
                    publisher.pending_snapshot = Some(job);
                } else {
                    not_connected(&publisher.id, job);
                }
            }
        }
    }
}

/// Answers a request for a publisher known only by dialing in, while it is
/// not connected: the gatherer has no way to reach it.
fn not_connected(id: &str, job: SnapshotJob) {
    job.answer(Err(SnapshotError::NotConnected {
        publisher: id.to_owned(),
    }));
}

//! One connection to a publisher: poll rounds, and between them a wait for
//! the next poll or a notice, until the connection fails, the publisher's
//! URL changes, or the gatherer stops.

use std::time::Duration;

use flog_wire::{ClientError, LogportClient, LogportUrl, TransportError};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::bucket_store::open_store;
use super::context::{Operation, PollError, Publisher};
use super::notices::{Notice, Notices, Pacer};
use super::round::round;
use crate::observer::{ConnectedBy, GatherEvent};
use crate::snapshot::{SnapshotError, SnapshotJob};
use crate::units::human_duration;

/// How a connection to a publisher ended.
pub(super) enum Ended {
    Stopped,
    /// The publisher's URL changed: reconnect at once.
    UrlChanged,
    /// A connection that had been working was lost: reconnect at once, once.
    Lost(PollError),
    Failed(PollError),
}

/// Connects to the publisher at `url`, then serves it.
pub(super) async fn connect_and_serve(
    publisher: &mut Publisher,
    url: LogportUrl,
    url_rx: &mut watch::Receiver<Option<LogportUrl>>,
    stop: &CancellationToken,
) -> Ended {
    if let Err(error) = open_store(publisher).await {
        return Ended::Failed(error);
    }
    let options = publisher.cx.client_options();
    let connect = LogportClient::connect_with(&url, options);
    let deadline = publisher.cx.config.connect_timeout + Duration::from_secs(1);
    let client = match publisher
        .network(stop, deadline, Operation::Connecting, connect)
        .await
    {
        Ok(client) => client,
        Err(PollError::Request { source, .. }) => {
            return Ended::Failed(if is_unreachable(&source) {
                PollError::Unreachable(source)
            } else {
                // A wrong key ("publisher key does not match the URL:
                // expected ..., got ...") is reported so, once per run.
                PollError::Handshake(source)
            });
        }
        Err(PollError::Stopped) => return Ended::Stopped,
        Err(error) => return Ended::Failed(error),
    };
    let (id, pid, shown) = (&publisher.id, client.welcome().pid, url.redacted());
    if publisher.failures.failing() {
        // Said once when it starts working, not at every retry.
        tracing::debug!(publisher = %id, url = %shown, pid, "connected to {id} ({shown}), pid {pid}");
    } else {
        tracing::info!(publisher = %id, url = %shown, pid, "connected to {id} ({shown}), pid {pid}");
    }
    serve(publisher, &client, url_rx, stop, ConnectedBy::Polling).await
}

/// Serves a publisher that dialed in and registered: the same rounds, on
/// the connection it made.
pub(super) async fn serve_dialed(
    publisher: &mut Publisher,
    client: LogportClient,
    url_rx: &mut watch::Receiver<Option<LogportUrl>>,
    stop: &CancellationToken,
) -> Ended {
    if let Err(error) = open_store(publisher).await {
        return Ended::Failed(error);
    }
    let (id, pid) = (&publisher.id, client.welcome().pid);
    if publisher.failures.failing() {
        tracing::debug!(publisher = %id, pid, "{id} dialed in, pid {pid}");
    } else {
        tracing::info!(publisher = %id, pid, "{id} dialed in, pid {pid}");
    }
    serve(publisher, &client, url_rx, stop, ConnectedBy::DialIn).await
}

/// Whether a failed connect means the publisher could not be reached (as
/// opposed to reached and refused, or not a TLS logport).
fn is_unreachable(error: &ClientError) -> bool {
    matches!(
        error,
        ClientError::Timeout { .. }
            | ClientError::Transport(
                TransportError::Connect { .. }
                    | TransportError::HandshakeTimeout { .. }
                    | TransportError::ClosedDuringHandshake { .. }
                    | TransportError::Io { .. }
            )
    )
}

/// Serves a connected publisher: rounds until the connection fails, the URL
/// changes, or stop. The connection may have been made either way; all that
/// counts here is the client.
async fn serve(
    publisher: &mut Publisher,
    client: &LogportClient,
    url_rx: &mut watch::Receiver<Option<LogportUrl>>,
    stop: &CancellationToken,
    by: ConnectedBy,
) -> Ended {
    publisher.cx.notify(GatherEvent::Connected {
        publisher_id: publisher.id.clone(),
        by,
    });
    let mut notices = subscribe(publisher, client, stop).await;
    if let Some(job) = publisher.pending_snapshot.take() {
        ask(publisher, client, stop, job).await;
    }
    let mut pacer = Pacer::new(publisher.cx.config.notice_interval, Instant::now());
    let mut worked = false;
    loop {
        let started = Instant::now();
        let result = round(publisher, client, stop).await;
        publisher.refusals.end_round(&publisher.id);
        match result {
            Ok(()) => {
                publisher.backoff.reset();
                publisher.failures.succeeded(&publisher.id);
                worked = true;
                publisher.cx.notify(GatherEvent::Polled {
                    publisher_id: publisher.id.clone(),
                    took: started.elapsed(),
                });
            }
            Err(PollError::Stopped) => return Ended::Stopped,
            // Publishers close idle connections and restart: a connection
            // that worked is worth one immediate retry.
            Err(error) if worked && error.is_connection_loss() => return Ended::Lost(error),
            Err(error) => return Ended::Failed(error),
        }
        let news = wait_for_news(publisher, client, &mut notices, &mut pacer, url_rx, stop);
        if let Some(ended) = news.await {
            return ended;
        }
    }
}

/// Subscribes to incident notices, if configured and the publisher agrees;
/// polling goes on either way.
async fn subscribe(
    publisher: &Publisher,
    client: &LogportClient,
    stop: &CancellationToken,
) -> Option<Notices> {
    if !publisher.cx.config.subscribe {
        return None;
    }
    // No catch-up: the round that follows lists everything before it.
    let subscribe = client.subscribe_to_incidents(false, None);
    let deadline = publisher.cx.config.request_timeout;
    match publisher
        .network(stop, deadline, Operation::Subscribing, subscribe)
        .await
    {
        Ok(subscription) => Some(Notices::start(subscription)),
        Err(error) => {
            let (id, every) = (
                &publisher.id,
                human_duration(publisher.cx.config.poll_interval),
            );
            tracing::info!(publisher = %id, %error, "{id}: no incident notices ({error}); polling every {every}");
            None
        }
    }
}

/// Waits for the next poll, or a notice of a new incident, as paced by
/// `pacer` however many notices come: `None` means poll now.
async fn wait_for_news(
    publisher: &mut Publisher,
    client: &LogportClient,
    notices: &mut Option<Notices>,
    pacer: &mut Pacer,
    url_rx: &mut watch::Receiver<Option<LogportUrl>>,
    stop: &CancellationToken,
) -> Option<Ended> {
    let poll = Instant::now() + publisher.cx.config.poll_interval;
    let mut next_round = poll;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return Some(Ended::Stopped),
            _ = tokio::time::sleep_until(next_round) => {
                if next_round < poll {
                    pacer.spend(next_round);
                }
                return None;
            }
            changed = url_rx.changed() => {
                return Some(if changed.is_err() { Ended::Stopped } else { Ended::UrlChanged });
            }
            notice = next_notice(notices) => match notice {
                // Notices only bring the next round forward.
                Notice::PollSoon => next_round = next_round.min(pacer.soonest(Instant::now())),
                Notice::Ended => {
                    // The next round tells whether the connection is gone.
                    *notices = None;
                    return None;
                }
            },
            Some(job) = publisher.snapshots.recv() => {
                ask(publisher, client, stop, job).await;
                // Poll now: with trailing events off the incident is there
                // already; otherwise its notice brings the next round.
                return None;
            }
        }
    }
}

/// Asks the publisher to record an incident now, on this connection, and
/// answers the request.
async fn ask(
    publisher: &Publisher,
    client: &LogportClient,
    stop: &CancellationToken,
    job: SnapshotJob,
) {
    let deadline = publisher.cx.config.request_timeout;
    let step = client.snapshot(&job.reason);
    let result = match publisher
        .network(stop, deadline, Operation::Snapshot, step)
        .await
    {
        Ok(snapshot) => Ok(snapshot),
        Err(PollError::Request { source, .. }) => Err(SnapshotError::of_client(source)),
        Err(PollError::Stopped) => Err(SnapshotError::NotRunning),
        Err(error) => Err(SnapshotError::Unreachable(error.to_string())),
    };
    let id = &publisher.id;
    match &result {
        Ok(snapshot) => {
            let (outcome, incident) =
                (snapshot.outcome, snapshot.incident.as_deref().unwrap_or(""));
            tracing::info!(publisher = %id, %outcome, incident, "asked {id} to record an incident now: {outcome} {incident}");
        }
        Err(error) => {
            tracing::info!(publisher = %id, %error, "asked {id} to record an incident now: {error}")
        }
    }
    job.answer(result);
}

async fn next_notice(notices: &Option<Notices>) -> Notice {
    match notices {
        Some(notices) => notices.next().await,
        None => std::future::pending().await,
    }
}

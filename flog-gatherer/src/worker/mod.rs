//! One task per publisher: connect, list what is new, fetch it in name
//! order, wait for the next poll (or a notice), and on failure back off and
//! reconnect.
//!
//! The modules form a tree: this loop uses `session` (one connection),
//! which uses `notices` and `round` (one listing), which uses `fetch` (one
//! incident); all of them use the leaves `context` (shared state, the
//! publisher's state, errors) and `report` (what the operator is told).

mod context;
mod fetch;
mod notices;
mod report;
mod round;
mod session;

use std::sync::Arc;

use flog_wire::LogportUrl;
use tokio::sync::watch;
use tokio::time::sleep;
use tokio_util::sync::CancellationToken;

use self::session::{connect_and_serve, Ended};
use crate::observer::GatherEvent;

pub(crate) use self::context::Context;
use self::context::Publisher;

/// The task of publisher `id`; returns when `stop` is cancelled.
pub(crate) async fn run_publisher(
    cx: Arc<Context>,
    id: String,
    mut url: watch::Receiver<LogportUrl>,
    stop: CancellationToken,
) {
    let mut publisher = Publisher::new(cx, id);
    loop {
        let wait = match connect_and_serve(&mut publisher, &mut url, &stop).await {
            Ended::Stopped => return,
            Ended::UrlChanged => continue,
            Ended::Lost(error) => {
                let id = &publisher.id;
                tracing::info!(publisher = %id, %error, "connection to {id} lost ({error}); reconnecting");
                continue;
            }
            Ended::Failed(error) => {
                let wait = publisher.backoff.next_wait();
                let redacted = url.borrow().redacted().to_string();
                let kind = error.kind();
                let error = error.to_string();
                publisher
                    .failures
                    .failed(&publisher.id, &redacted, &error, kind, wait);
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
        }
    }
}

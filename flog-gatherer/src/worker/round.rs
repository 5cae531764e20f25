//! One poll round: list the incidents after the latest one held, page by
//! page, refuse what a publisher should not have listed, and fetch the rest
//! in name order.

use std::time::Duration;

use flog_wire::{is_valid_incident_name, IncidentInfo, ListQuery, LogportClient};
use tokio_util::sync::CancellationToken;

use super::bucket_store::{refresh_latest, skip_in_bucket};
use super::context::{Operation, PollError, Publisher, Violation};
use super::fetch::fetch;
use crate::observer::{GatherEvent, Refusal};
use crate::store::INCIDENTS_DIR;

/// Lists and fetches until the publisher has nothing new.
pub(super) async fn round(
    publisher: &mut Publisher,
    client: &LogportClient,
    stop: &CancellationToken,
) -> Result<(), PollError> {
    let page_size = publisher.cx.config.page_size;
    if let Some(held) = &publisher.cx.held {
        // Another gatherer sharing the bucket polls this one.
        if !held.holds(&publisher.id) {
            return Ok(());
        }
    }
    refresh_latest(publisher).await?;
    loop {
        let since = publisher.latest().map(str::to_owned);
        let query = ListQuery {
            since_name: since.clone(),
            since_time: None,
            limit: Some(page_size),
        };
        let deadline = publisher.cx.config.request_timeout + Duration::from_secs(1);
        let page = publisher
            .network(
                stop,
                deadline,
                Operation::Listing,
                client.list_incidents(&query),
            )
            .await?;
        // Refusing the names of an oversized page one by one would let the
        // publisher choose how much work and log each round makes.
        if page.incidents.len() > page_size as usize {
            return Err(Violation::PageTooLong {
                asked: page_size,
                got: page.incidents.len(),
            }
            .into());
        }
        let mut previous = since.clone();
        for info in page.incidents {
            if let Some(reason) = refusal(&info, previous.as_deref()) {
                refuse(publisher, &info.name, reason);
                continue;
            }
            previous = Some(info.name.clone());
            let max = publisher.cx.config.max_incident_size;
            if info.size > max {
                let reason = Refusal::TooLarge {
                    size: info.size,
                    max,
                };
                refuse(publisher, &info.name, reason);
                skip(publisher, &info.name).await?;
                continue;
            }
            fetch(publisher, client, &info, stop).await?;
        }
        if !page.more {
            return Ok(());
        }
        if publisher.latest().map(str::to_owned) == since {
            return Err(Violation::NothingUsable.into());
        }
    }
}

/// Why a listed incident cannot be fetched, if it cannot: a publisher may
/// be hostile, and names become file names here.
fn refusal(info: &IncidentInfo, previous: Option<&str>) -> Option<Refusal> {
    if !is_valid_incident_name(&info.name) {
        return Some(Refusal::InvalidName);
    }
    match previous {
        Some(previous) if info.name.as_str() <= previous => Some(Refusal::NotAfter {
            previous: previous.to_owned(),
        }),
        _ => None,
    }
}

/// Counts a refusal, and tells of it in the first round of a run of them.
fn refuse(publisher: &mut Publisher, name: &str, reason: Refusal) {
    if publisher.refusals.refuse(name, &reason) {
        publisher.cx.notify(GatherEvent::Rejected {
            publisher_id: publisher.id.clone(),
            name: name.to_owned(),
            reason,
        });
    }
}

/// Records a refused incident as handled, so that later ones flow.
async fn skip(publisher: &mut Publisher, name: &str) -> Result<(), PollError> {
    if let Some(bucket) = publisher.cx.bucket.clone() {
        return skip_in_bucket(publisher, &bucket, name).await;
    }
    let name = name.to_owned();
    let path = publisher
        .cx
        .basedir
        .join(INCIDENTS_DIR)
        .join(&publisher.id)
        .join(crate::store::LATEST_FILE);
    publisher
        .with_store("record a skipped incident", move |store| {
            store.set_latest(&name).map_err(|source| PollError::Store {
                action: "record the latest incident in",
                path,
                source,
            })
        })
        .await
}

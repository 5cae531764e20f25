//! Fetching one incident into a temporary file of its own, verifying the
//! bytes on disk, and moving it into place.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use flog_wire::{FetchedIncident, IncidentInfo, LogportClient, ResumePoint};
use tokio::fs::{File, OpenOptions};
use tokio::io::AsyncWrite;
use tokio_util::sync::CancellationToken;

use super::bucket_store::store_in_bucket;
use super::context::{Operation, PollError, Publisher};
use crate::classified::ClassifiedIndex;
use crate::observer::{GatherEvent, Stored};
use crate::store::{Commit, Partial, PublisherStore};
use crate::units::human_size;

/// Fetches `info` (resuming a partial fetch of it cut earlier in this run),
/// verifies size and SHA-256, stores it, lists it and records it as the
/// latest.
pub(super) async fn fetch(
    publisher: &mut Publisher,
    client: &LogportClient,
    info: &IncidentInfo,
    stop: &CancellationToken,
) -> Result<(), PollError> {
    let name = info.name.as_str();
    let kept = publisher.partial.take();
    let (mut file, partial, from) =
        open_partial(publisher.store()?, kept, info)
            .await
            .map_err(|(path, source)| PollError::Store {
                action: "write",
                path,
                source,
            })?;
    let id = &publisher.id;
    if from.offset() > 0 {
        tracing::info!(publisher = %id, incident = name, offset = from.offset(), "resuming incident {name} from {id} at byte {}", from.offset());
    }
    let max = publisher.cx.config.max_incident_size;
    let mut limited = Limited {
        inner: &mut file,
        remaining: max.saturating_sub(from.offset()),
        max,
    };
    let transfer = client.resume_incident_to(name, from, &mut limited);
    let deadline = publisher.cx.config.fetch_timeout;
    let operation = Operation::Fetching(name.to_owned());
    let result = publisher.network(stop, deadline, operation, transfer).await;
    let fetched = match result {
        Ok(fetched) => fetched,
        Err(error) => {
            drop(file);
            // A broken connection leaves good bytes to resume from; any
            // other failure (a wrong digest, an oversized stream) may have
            // left bad ones, and after a stop nothing resumes (the next
            // start removes what is left anyway).
            if error.keeps_partial() {
                publisher.partial = Some(partial);
            } else {
                let _ = tokio::fs::remove_file(partial.path()).await;
            }
            return Err(error);
        }
    };
    if let Err(source) = file.sync_all().await {
        let _ = tokio::fs::remove_file(partial.path()).await;
        return Err(PollError::Store {
            action: "fsync",
            path: partial.path().to_owned(),
            source,
        });
    }
    drop(file);
    store_fetched(publisher, partial, fetched).await
}

/// Verifies, stores and lists a fetched file, then tells of it.
async fn store_fetched(
    publisher: &mut Publisher,
    partial: Partial,
    fetched: FetchedIncident,
) -> Result<(), PollError> {
    let index = publisher.cx.index.clone();
    let (name, size) = (fetched.name.clone(), fetched.size);
    let bucket = publisher.cx.bucket.clone();
    let (outcome, categories, relative) = match &bucket {
        Some(bucket) => store_in_bucket(publisher, bucket, partial, &fetched).await?,
        None => {
            publisher
                .with_store("store an incident", move |store| {
                    commit(store, &index, partial, &fetched)
                })
                .await?
        }
    };
    let id = &publisher.id;
    match (outcome, &bucket) {
        (Commit::Stored, _) => {}
        (Commit::AlreadyStored, None) => {
            tracing::warn!(publisher = %id, incident = name, "incident {name} from {id} was already stored; kept the stored file");
        }
        // Another gatherer sharing the bucket was first: expected, and the
        // digests matched.
        (Commit::AlreadyStored, Some(bucket)) => {
            tracing::info!(publisher = %id, incident = name, "incident {name} from {id} was already in {} with the same SHA-256; kept it", bucket.shown());
        }
    }
    let shown = if categories.is_empty() {
        "unknown".to_owned()
    } else {
        categories.join(", ")
    };
    tracing::info!(
        publisher = %id,
        incident = name,
        size,
        categories = ?categories,
        path = %relative,
        "fetched incident {name} ({}) from {id}, classified as [{shown}]",
        human_size(size),
    );
    publisher.cx.notify(GatherEvent::Stored(Stored {
        publisher_id: id.clone(),
        name,
        path: match &bucket {
            Some(bucket) => PathBuf::from(bucket.url_of(&relative)),
            None => publisher.cx.basedir.join(&relative),
        },
        size,
        categories,
    }));
    Ok(())
}

/// Opens the temporary file of a fetch of `info`, positioned at its end,
/// with the resume point of what it holds: the file `kept` from an earlier
/// attempt at the same incident, or a new one of its own. A kept file longer
/// than the incident cannot be a prefix of it and starts over; one of
/// another incident is removed.
async fn open_partial(
    store: &PublisherStore,
    kept: Option<Partial>,
    info: &IncidentInfo,
) -> Result<(File, Partial, ResumePoint), (PathBuf, io::Error)> {
    if let Some(partial) = kept {
        if partial.name() == info.name {
            let opened = OpenOptions::new()
                .read(true)
                .append(true)
                .open(partial.path())
                .await;
            if let Ok(mut file) = opened {
                let resumed = async {
                    if file.metadata().await?.len() > info.size {
                        file.set_len(0).await?;
                    }
                    ResumePoint::from_reader(&mut file).await
                }
                .await;
                return match resumed {
                    Ok(from) => Ok((file, partial, from)),
                    Err(e) => Err((partial.path().to_owned(), e)),
                };
            }
        } else {
            let _ = tokio::fs::remove_file(partial.path()).await;
        }
    }
    loop {
        let partial = store.new_partial(&info.name);
        // Exclusively: a file already there is someone else's.
        match OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(partial.path())
            .await
        {
            Ok(file) => return Ok((file, partial, ResumePoint::start())),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err((partial.path().to_owned(), e)),
        }
    }
}

/// The blocking end of a fetch: reads the trigger, moves the file into place
/// and lists it, then moves `latest` past it, in that order, so a crash
/// anywhere leaves either nothing stored or a stored file that start-up
/// recognises.
fn commit(
    store: &mut PublisherStore,
    index: &ClassifiedIndex,
    partial: Partial,
    fetched: &FetchedIncident,
) -> Result<(Commit, Vec<String>, String), PollError> {
    let result = verify_and_store(store, index, &partial, fetched);
    // Stored or not, the temporary file has served (a stored one is already
    // gone); one left behind would never be looked at again this run.
    let _ = std::fs::remove_file(partial.path());
    result
}

fn verify_and_store(
    store: &mut PublisherStore,
    index: &ClassifiedIndex,
    partial: &Partial,
    fetched: &FetchedIncident,
) -> Result<(Commit, Vec<String>, String), PollError> {
    let name = partial.name();
    // What is linked into place is the file, not the stream that was
    // verified: check the file's bytes, which anything else writing to it
    // would have changed.
    let (sha256, size) = partial.digest().map_err(|source| PollError::Store {
        action: "read back",
        path: partial.path().to_owned(),
        source,
    })?;
    if sha256 != fetched.sha256 || size != fetched.size {
        return Err(PollError::Changed {
            path: partial.path().to_owned(),
        });
    }
    let relative = store.relative_path(name);
    // Whatever reading the trigger does (fails, or panics), the file is
    // stored: an incident that cannot be classified is listed as unknown,
    // not fetched again and again.
    let trigger = index.trigger_of(partial.path(), &relative);
    let (outcome, categories) = index
        .store(&relative, trigger.as_ref(), || store.commit(partial))
        .map_err(|source| PollError::Store {
            action: "store",
            path: store.stored_path(name),
            source,
        })?;
    store.set_latest(name).map_err(|source| PollError::Store {
        action: "record the latest incident after",
        path: store.stored_path(name),
        source,
    })?;
    Ok((outcome, categories, relative))
}

/// The stream of an incident went past `max_incident_size`.
#[derive(Debug, thiserror::Error)]
#[error("the incident exceeds max_incident_size ({})", human_size(*max))]
struct TooLarge {
    max: u64,
}

/// Refuses writes beyond `max` bytes in all: a publisher that lists a small
/// incident and streams a huge one is cut off, not obeyed.
struct Limited<'a, W> {
    inner: &'a mut W,
    remaining: u64,
    max: u64,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Limited<'_, W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.len() as u64 > self.remaining {
            let too_large = TooLarge { max: self.max };
            return Poll::Ready(Err(io::Error::other(too_large)));
        }
        let written = Pin::new(&mut *self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &written {
            self.remaining -= *n as u64;
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.inner).poll_shutdown(cx)
    }
}

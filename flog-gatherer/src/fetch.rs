//! Fetching one incident into its temporary file, verifying it, and moving
//! it into place.

use std::io;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use flog_wire::{IncidentInfo, LogportClient, ResumePoint};
use tokio::fs::{File, OpenOptions};
use tokio::io::AsyncWrite;
use tokio_util::sync::CancellationToken;

use crate::classified::read_trigger;
use crate::observer::{GatherEvent, Stored};
use crate::poll::{PollError, Worker};
use crate::store::{Commit, PublisherStore};
use crate::units::human_size;

impl Worker {
    /// Fetches `info` (resuming a partial fetch of it cut earlier in this
    /// run), verifies size and SHA-256, stores it, lists it and records it as
    /// the latest.
    pub(crate) async fn fetch(
        &mut self,
        client: &LogportClient,
        info: &IncidentInfo,
        stop: &CancellationToken,
    ) -> Result<(), PollError> {
        let name = info.name.clone();
        let store = self
            .store
            .as_ref()
            .expect("the store is open while polling");
        let partial = store.partial_path(&name);
        let (mut file, from) =
            open_partial(&partial, info.size)
                .await
                .map_err(|source| PollError::Store {
                    action: "write",
                    path: partial.clone(),
                    source,
                })?;
        if from.offset() > 0 {
            tracing::info!(publisher = %self.id, incident = %name, offset = from.offset(), "resuming incident {name} from {} at byte {}", self.id, from.offset());
        }
        let max = self.cx.config.max_incident_size;
        let mut limited = Limited {
            inner: &mut file,
            remaining: max.saturating_sub(from.offset()),
            max,
        };
        let fetch = client.resume_incident_to(&name, from, &mut limited);
        let deadline = self.cx.config.fetch_timeout;
        let result = self
            .network(
                stop,
                deadline,
                || format!("fetching incident {name}"),
                fetch,
            )
            .await;
        let fetched = match result {
            Ok(fetched) => fetched,
            Err(error) => {
                drop(file);
                // A broken connection leaves good bytes to resume from; any
                // other failure (a wrong digest, an oversized stream) may
                // have left bad ones, and after a stop nothing resumes (the
                // next start removes what is left anyway).
                if !error.keeps_partial() {
                    let _ = tokio::fs::remove_file(&partial).await;
                }
                return Err(error);
            }
        };
        file.sync_all().await.map_err(|source| PollError::Store {
            action: "fsync",
            path: partial.clone(),
            source,
        })?;
        drop(file);

        let index = self.cx.index.clone();
        let basedir = self.cx.basedir.clone();
        let (outcome, categories, relative) = self
            .with_store(move |store| commit(store, &index, &partial, &name))
            .await?;
        let name = info.name.as_str();
        if outcome == Commit::AlreadyStored {
            tracing::warn!(publisher = %self.id, incident = name, "incident {name} from {} was already stored; kept the stored file", self.id);
        }
        let shown = if categories.is_empty() {
            "unknown".to_owned()
        } else {
            categories.join(", ")
        };
        tracing::info!(
            publisher = %self.id,
            incident = name,
            size = fetched.size,
            categories = ?categories,
            path = %relative,
            "fetched incident {name} ({}) from {}, classified as [{shown}]",
            human_size(fetched.size),
            self.id,
        );
        self.cx.notify(GatherEvent::Stored(Stored {
            publisher_id: self.id.clone(),
            name: name.to_owned(),
            path: basedir.join(&relative),
            size: fetched.size,
            categories,
        }));
        Ok(())
    }
}

/// Opens the temporary file of a fetch, positioned at its end, with the
/// resume point of what it holds. A partial file longer than the incident
/// cannot be a prefix of it and starts over.
async fn open_partial(path: &Path, size: u64) -> io::Result<(File, ResumePoint)> {
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .await?;
    if file.metadata().await?.len() > size {
        file.set_len(0).await?;
    }
    let from = ResumePoint::from_reader(&mut file).await?;
    Ok((file, from))
}

/// The blocking end of a fetch: reads the trigger, moves the file into place
/// and lists it, then moves `latest` past it, in that order, so a crash
/// anywhere leaves either nothing stored or a stored file that start-up
/// recognises.
fn commit(
    store: &mut PublisherStore,
    index: &crate::classified::ClassifiedIndex,
    partial: &Path,
    name: &str,
) -> Result<(Commit, Vec<String>, String), PollError> {
    let trigger = match read_trigger(partial) {
        Ok(trigger) => trigger,
        Err(error) => {
            tracing::warn!(publisher = store.id(), incident = name, %error, "cannot read the trigger of incident {name} from {}: {error}; classifying it as unknown", store.id());
            None
        }
    };
    let relative = store.relative_path(name);
    let (outcome, categories) = index
        .store(&relative, trigger.as_ref(), || store.commit(name))
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
            let message = format!(
                "the incident exceeds max_incident_size ({})",
                human_size(self.max)
            );
            return Poll::Ready(Err(io::Error::other(message)));
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

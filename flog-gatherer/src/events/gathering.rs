//! Event gathering as the gatherer runs it: the event log on its writer
//! thread, the compressor, with a bucket the uploader, a thread logging
//! their notices, and one [`run_subscriber`] task per wanted publisher.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use flog_core::{Clock, SystemClock};
use flog_wire::{ClientOptions, LogportUrl};
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::compress::{self, Retention};
use super::figures::EventFigures;
use super::log::{EventLog, LogNotice, Outlets, Rotation};
use super::names::{parse_name, EventFileName, EVENTS_DIR};
use super::positions::Positions;
use super::relay::Relay;
use super::subscriber::{run_subscriber, SubscriberContext};
use super::upload::Uploader;
use super::writer;
use crate::bucket::Bucket;
use crate::config::{Config, EventsConfig};
use crate::contain::blocking;
use crate::error::GatherError;

/// Events pushed by one publisher that its client may queue before they
/// are read; the publisher's ring and its `events_dropped` cover the rest.
const SUBSCRIPTION_BUFFER: usize = 16_384;

struct Task {
    url: watch::Sender<LogportUrl>,
    stop: CancellationToken,
}

/// Running event gathering; see the module doc.
pub(crate) struct EventGathering {
    cx: Arc<SubscriberContext>,
    positions: Positions,
    tasks: HashMap<String, Task>,
    tracker: TaskTracker,
    writer: Option<JoinHandle<std::io::Result<()>>>,
    compressor: Option<JoinHandle<()>>,
    uploader: Option<tokio::task::JoinHandle<()>>,
    reporter: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for EventGathering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventGathering")
            .field("publishers", &self.tasks.len())
            .finish_non_exhaustive()
    }
}

impl EventGathering {
    /// Opens the event log of `basedir` (closing what a crash left open)
    /// and starts its threads; with a `bucket`, the uploader too.
    pub(crate) async fn start(
        basedir: &Path,
        config: &Config,
        events: EventsConfig,
        figures: Arc<EventFigures>,
        relay: Option<Arc<Relay>>,
        bucket: Option<Bucket>,
    ) -> Result<EventGathering, GatherError> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let (notices, notices_rx) = mpsc::channel();
        let (closed, closed_rx) = mpsc::channel();
        let dir = basedir.join(EVENTS_DIR);
        let mut retention = Retention {
            files: events.keep_files,
            bytes: events.keep_bytes,
            age: events.keep_age,
        };
        let mut uploading = None;
        if let Some(bucket) = bucket {
            if retention.files.is_some() || retention.bytes.is_some() || retention.age.is_some() {
                tracing::warn!(bucket = %bucket.shown(), "keep_files, keep_bytes and keep_age do not apply with storage = \"s3\": closed event files leave the disk once uploaded to {}; the bucket's lifecycle rules keep them", bucket.shown());
            }
            // Never remove a file before it is uploaded.
            retention = Retention::default();
            let uploader = Uploader {
                bucket,
                part_size: usize::try_from(events.upload_part_size).unwrap_or(usize::MAX),
                limit: events.spool_bytes,
                min_backoff: config.min_backoff,
                max_backoff: config.max_backoff,
                figures: figures.clone(),
                notices: notices.clone(),
            };
            uploading = Some(start_uploads(uploader, &dir).await?);
        }
        let (uploads, uploader) = uploading.unzip();
        let compressor = compress::spawn(
            dir.clone(),
            events.compress,
            retention,
            clock.clone(),
            closed_rx,
            notices.clone(),
            uploads,
        )
        .map_err(GatherError::io("start the compressor for", &dir))?;
        let reporter = std::thread::Builder::new()
            .name("flog-gather-notices".into())
            .spawn(move || notices_rx.into_iter().for_each(|n| report(&n)))
            .map_err(GatherError::io("start the reporter for", &dir))?;
        let rotation = Rotation {
            every: events.rotate,
            size: events.rotate_size,
        };
        let outlets = Outlets {
            notices,
            closed: Some(closed),
            figures,
        };
        let (base, log_clock) = (basedir.to_owned(), clock.clone());
        let opened = blocking("open the event log", move || {
            EventLog::open(&base, rotation, log_clock, outlets)
        })
        .await?
        .map_err(GatherError::io("open the event log in", &dir))?;
        let positions = opened.positions().clone();
        let (handle, writer) =
            writer::spawn(opened, relay).map_err(GatherError::io("start the writer for", &dir))?;
        let options = ClientOptions::new()
            .connect_timeout(config.connect_timeout)
            .request_timeout(config.request_timeout)
            .subscription_buffer(SUBSCRIPTION_BUFFER)
            .client_name(concat!(
                "flog-gatherer/",
                env!("CARGO_PKG_VERSION"),
                " events"
            ));
        let cx = SubscriberContext {
            events,
            writer: handle,
            options,
            min_backoff: config.min_backoff,
            max_backoff: config.max_backoff,
            clock,
        };
        Ok(EventGathering {
            cx: Arc::new(cx),
            positions,
            tasks: HashMap::new(),
            tracker: TaskTracker::new(),
            writer: Some(writer),
            compressor: Some(compressor),
            uploader,
            reporter: Some(reporter),
        })
    }

    /// Starts, redirects and stops subscriber tasks to match `wanted`.
    pub(crate) fn reconcile(
        &mut self,
        wanted: &[(String, LogportUrl)],
        shutdown: &CancellationToken,
    ) {
        let wanted: Vec<&(String, LogportUrl)> = wanted
            .iter()
            .filter(|(id, _)| self.cx.events.gathers(id))
            .collect();
        self.tasks.retain(|id, task| {
            let keep = wanted.iter().any(|(w, _)| w == id);
            if !keep {
                task.stop.cancel();
            }
            keep
        });
        for (id, url) in wanted {
            if let Some(task) = self.tasks.get(id) {
                if *task.url.borrow() != *url {
                    task.url.send_replace(url.clone());
                }
                continue;
            }
            let (tx, rx) = watch::channel(url.clone());
            let stop = shutdown.child_token();
            let start = self.positions.0.get(id).cloned();
            let run = run_subscriber(self.cx.clone(), id.clone(), rx, start, stop.clone());
            self.tracker.spawn(run);
            self.tasks.insert(id.clone(), Task { url: tx, stop });
        }
    }

    /// Stops every subscriber, then closes the current file (trailer
    /// `shutdown`) and lets the compressor and the uploader finish (the
    /// uploader stops at its first failure: what it leaves waits for the
    /// next start).
    pub(crate) async fn stop(mut self) {
        for task in self.tasks.values() {
            task.stop.cancel();
        }
        self.tracker.close();
        self.tracker.wait().await;
        // The last sender of the writer goes with the context.
        drop(self.tasks);
        drop(self.cx);
        let threads = (self.writer.take(), self.compressor.take());
        let joined = blocking("stop event gathering", move || {
            if let Some(writer) = threads.0 {
                match writer.join() {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => {
                        tracing::error!(%error, "cannot close the current events file: {error}")
                    }
                    Err(_) => tracing::error!("the events writer panicked"),
                }
            }
            // The writer held the last sender of the compressor's, which
            // holds the uploader's.
            if let Some(compressor) = threads.1 {
                let _ = compressor.join();
            }
        })
        .await;
        if let Err(panicked) = joined {
            tracing::error!(error = %panicked, "{panicked}");
        }
        if let Some(uploader) = self.uploader.take() {
            if let Err(panicked) = uploader.await {
                tracing::error!(error = %panicked, "the event uploader failed: {panicked}");
            }
        }
        // The uploader held the last sender of the notices.
        if let Some(reporter) = self.reporter.take() {
            let _ = blocking("stop the event notices", move || reporter.join()).await;
        }
    }
}

/// Starts `uploader` on the files a previous run left in the spool; the
/// sender is the compressor's, to hand it each file once final.
async fn start_uploads(
    uploader: Uploader,
    dir: &Path,
) -> Result<(UnboundedSender<PathBuf>, tokio::task::JoinHandle<()>), GatherError> {
    let found = dir.to_owned();
    let waiting = blocking("find the event files waiting for upload", move || {
        waiting_for_upload(&found)
    })
    .await?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    Ok((tx, tokio::spawn(uploader.run(waiting, rx))))
}

/// The closed files a previous run left compressed but not uploaded
/// (uncompressed ones go through the compressor first, by the log's
/// recovery), oldest first.
fn waiting_for_upload(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut waiting: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).and_then(parse_name);
            matches!(
                name,
                Some(EventFileName::Closed {
                    compressed: true,
                    ..
                })
            )
        })
        .collect();
    waiting.sort();
    waiting
}

fn report(notice: &LogNotice) {
    let shown = |p: &PathBuf| p.display().to_string();
    match notice {
        LogNotice::Failing { path, error } => {
            tracing::error!(path = %shown(path), %error, "cannot write {}: {error}; event gathering pauses until a new file can be written (incidents are still gathered)", shown(path))
        }
        LogNotice::Resumed { path, unwritten } => {
            tracing::info!(path = %shown(path), unwritten, "writing events again, into {}; {unwritten} events were not written (recorded as gaps)", shown(path))
        }
        LogNotice::Closed { path } => tracing::info!(path = %shown(path), "closed {}", shown(path)),
        LogNotice::Recovered(r) => {
            let (path, truncated) = (shown(&r.path), r.truncated);
            match (&r.unfinished, r.events) {
                (None, Some(events)) => {
                    tracing::warn!(%path, truncated, events, "{path} was left open by a gatherer that stopped abruptly; closed with a `recovered` trailer ({events} events)")
                }
                (Some(error), _) => {
                    tracing::warn!(%path, %error, "{path} was left open by a gatherer that stopped abruptly; closed as it is, without a trailer: {error}")
                }
                (None, None) => {
                    tracing::warn!(%path, "{path} was left open by a gatherer that stopped abruptly; closed as it is (it is not a readable flogfile)")
                }
            }
        }
        LogNotice::Compressed { path } => {
            tracing::debug!(path = %shown(path), "compressed {}", shown(path))
        }
        LogNotice::CompressFailed { path, error } => {
            tracing::error!(path = %shown(path), %error, "cannot compress {}: {error}; it stays uncompressed", shown(path))
        }
        LogNotice::Removed { path } => {
            tracing::info!(path = %shown(path), "removed {} (retention)", shown(path))
        }
        LogNotice::Uploaded {
            path,
            url,
            bytes,
            parts,
        } => {
            tracing::info!(path = %shown(path), %url, bytes, parts, "uploaded {} to {url} ({bytes} bytes, {parts} part(s)); removed it from the spool", shown(path))
        }
        LogNotice::UploadFailing {
            path,
            error,
            retry_in,
        } => {
            let retry_in = format!("{retry_in:?}");
            tracing::error!(path = %shown(path), %error, %retry_in, "cannot upload {}: {error}; it stays in the spool and uploads are retried (first in {retry_in}, then less often)", shown(path))
        }
        LogNotice::UploadsResumed => tracing::info!("uploading event files again"),
        LogNotice::SpoolFull { bytes, limit } => {
            tracing::error!(bytes, limit, "the event spool is full: {bytes} bytes of closed files wait for the bucket (spool_bytes = {limit}); events are not written, but counted as not_written gaps, until uploads make room")
        }
        LogNotice::SpoolRoom { bytes, limit } => {
            tracing::info!(
                bytes,
                limit,
                "the event spool has room again ({bytes} of {limit} bytes); writing events again"
            )
        }
    }
}

//! The gatherer: recovery at start-up, one task per publisher, and the
//! publishers list kept current.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use flog_wire::LogportUrl;
use tokio::sync::{mpsc, watch, Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bucket::Bucket;
use crate::classified::ClassifiedIndex;
use crate::config::{Config, Storage};
use crate::contain::blocking;
use crate::error::GatherError;
use crate::events::{EventFigures, EventGathering, Relay};
use crate::leases::{Held, LeaseTask};
use crate::listen::DialIn;
use crate::lock::BasedirLock;
use crate::observer::{GatherEvent, GatherObserver};
use crate::publishers::PublisherScan;
use crate::snapshot::{SnapshotError, SnapshotHandle, SnapshotJob, SNAPSHOT_QUEUE};
use crate::store::{publisher_ids, relative_path, PublisherStore, INCIDENTS_DIR};
use crate::worker::Context;

use self::workers::{reconcile, route, route_snapshot, Worker};

/// Gathers incidents from publishers into a base directory.
///
/// ```no_run
/// # async fn example() -> Result<(), flog_gatherer::GatherError> {
/// use flog_gatherer::{Config, Gatherer};
/// use tokio_util::sync::CancellationToken;
///
/// let basedir = std::path::Path::new("/var/lib/flog-gatherer");
/// let gatherer = Gatherer::new(basedir, Config::load(basedir)?)?;
/// let shutdown = CancellationToken::new();
/// // Cancel `shutdown` (on SIGTERM, say) to stop; in-flight files are finished.
/// gatherer.run(shutdown).await?;
/// # Ok(())
/// # }
/// ```
pub struct Gatherer {
    basedir: PathBuf,
    config: Config,
    index: Arc<ClassifiedIndex>,
    observer: Option<Arc<dyn GatherObserver>>,
    /// The config's publishers; [`reload`](Gatherer::reload) replaces them.
    configured: Mutex<Vec<LogportUrl>>,
    /// Wakes the running gatherer to re-read the publishers at once.
    rescan: Notify,
    /// Two runs at once would fetch everything twice.
    running: AtomicBool,
    /// "Record an incident now" requests, for the running loop to route.
    snapshots: mpsc::Sender<SnapshotJob>,
    snapshot_jobs: Arc<tokio::sync::Mutex<mpsc::Receiver<SnapshotJob>>>,
    /// What the event gatherer wrote, for the dashboard's metrics.
    event_figures: Arc<EventFigures>,
    /// With `storage = "s3"`: where incidents are stored.
    bucket: Option<Bucket>,
    /// Its id among the gatherers sharing the bucket (new at each start).
    id: String,
    _lock: BasedirLock,
}

impl fmt::Debug for Gatherer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gatherer")
            .field("basedir", &self.basedir)
            .field("config", &self.config)
            .field("observer", &self.observer.is_some())
            .finish_non_exhaustive()
    }
}

/// Marks a gatherer as running until dropped.
struct Running<'a>(&'a AtomicBool);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl Gatherer {
    /// A gatherer for `basedir` (created if missing). Takes the base
    /// directory's lock, held until the gatherer is dropped: only one
    /// gatherer may use a base directory at a time.
    pub fn new(basedir: impl AsRef<Path>, config: Config) -> Result<Gatherer, GatherError> {
        let basedir = basedir.as_ref().to_owned();
        let incidents = basedir.join(INCIDENTS_DIR);
        std::fs::create_dir_all(&incidents)
            .map_err(GatherError::io("create directory", &incidents))?;
        let lock = BasedirLock::acquire(&basedir)?;
        let (snapshots, snapshot_jobs) = mpsc::channel(SNAPSHOT_QUEUE);
        let bucket = match &config.storage {
            Storage::Dir => None,
            Storage::S3(s3) => Some(Bucket::open(s3)?),
        };
        Ok(Gatherer {
            bucket,
            id: gatherer_id(),
            snapshots,
            snapshot_jobs: Arc::new(tokio::sync::Mutex::new(snapshot_jobs)),
            event_figures: Arc::new(EventFigures::default()),
            index: Arc::new(ClassifiedIndex::new(&basedir, config.classifier.clone())),
            configured: Mutex::new(config.publishers.clone()),
            basedir,
            config,
            observer: None,
            rescan: Notify::new(),
            running: AtomicBool::new(false),
            _lock: lock,
        })
    }

    /// With `reader` in place of the trigger reader, for tests of what a
    /// faulty one does.
    #[cfg(test)]
    pub(crate) fn with_trigger_reader(
        mut self,
        reader: crate::classified::TriggerReader,
    ) -> Gatherer {
        let index = ClassifiedIndex::new(&self.basedir, self.config.classifier.clone());
        self.index = Arc::new(index.with_trigger_reader(reader));
        self
    }

    /// Tells `observer` of every [`GatherEvent`].
    #[must_use]
    pub fn with_observer(mut self, observer: impl GatherObserver + 'static) -> Gatherer {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// The base directory.
    pub fn basedir(&self) -> &Path {
        &self.basedir
    }

    /// A handle to ask the running gatherer's publishers to record an
    /// incident now ("snapshot"), over the gatherer's own connections.
    pub fn snapshots(&self) -> SnapshotHandle {
        SnapshotHandle {
            jobs: self.snapshots.clone(),
            // Waiting for a round in progress, then connecting and asking.
            patience: self.config.fetch_timeout
                + self.config.connect_timeout
                + self.config.request_timeout * 2,
        }
    }

    /// What the event gatherer (`[events]`) has written of each publisher
    /// since the gatherer started; empty without one.
    pub fn event_figures(&self) -> Arc<EventFigures> {
        self.event_figures.clone()
    }

    /// Its id among the gatherers sharing a bucket (`g-` and 16 hex
    /// digits, new for each [`Gatherer`]); `None` with `storage = "dir"`.
    pub fn bucket_id(&self) -> Option<&str> {
        self.bucket.as_ref().map(|_| self.id.as_str())
    }

    /// The shared bucket and this gatherer's id in it (for the dashboard).
    #[cfg(feature = "dashboard")]
    pub(crate) fn shared_bucket(&self) -> Option<(Bucket, String)> {
        self.bucket.clone().map(|bucket| (bucket, self.id.clone()))
    }

    /// The configuration it started with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn notify(&self, event: GatherEvent) {
        if let Some(observer) = &self.observer {
            observer.on_event(&event);
        }
    }

    /// Gathers until `shutdown` is cancelled, then lets every publisher task
    /// finish the file it is storing and returns.
    ///
    /// It first recovers from whatever a crash left: temporary files are
    /// removed, each publisher's latest incident is worked out from what is
    /// stored, and the classification lists are repaired, or rebuilt when
    /// missing or built with other rules. It fails only when that recovery
    /// fails; problems with publishers are logged and retried.
    ///
    /// One run at a time: a second concurrent call fails with
    /// [`GatherError::AlreadyRunning`].
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), GatherError> {
        if self.running.swap(true, Ordering::SeqCst) {
            return Err(GatherError::AlreadyRunning);
        }
        let _running = Running(&self.running);
        // Dropping this future (rather than cancelling `shutdown`) stops the
        // publisher tasks too.
        let shutdown = shutdown.child_token();
        let _stop_on_drop = shutdown.clone().drop_guard();
        self.run_once(shutdown).await
    }

    async fn run_once(&self, shutdown: CancellationToken) -> Result<(), GatherError> {
        self.recover().await?;
        let cx = Arc::new(Context {
            basedir: self.basedir.clone(),
            config: self.config.clone(),
            permits: Semaphore::new(self.config.concurrency),
            index: self.index.clone(),
            observer: self.observer.clone(),
            bucket: self.bucket.clone(),
            held: self.bucket.as_ref().map(|_| Arc::new(Held::default())),
        });
        let tracker = TaskTracker::new();
        let (known, known_rx) = watch::channel(Vec::new());
        if let (Some(bucket), Some(held), Storage::S3(s3)) =
            (&self.bucket, &cx.held, &self.config.storage)
        {
            let task = LeaseTask {
                bucket: bucket.clone(),
                me: self.id.clone(),
                period: s3.lease,
                clock: Arc::new(flog_core::SystemClock),
                publishers: known_rx,
                held: held.clone(),
            };
            tracing::info!(gatherer = %task.me, "sharing the publishers with the other gatherers of {} as {}", bucket.shown(), task.me);
            tracker.spawn(task.run(shutdown.clone()));
        }
        let mut dial_ins = self.listen(&cx, &tracker, &shutdown).await?;
        let mut workers: HashMap<String, Worker> = HashMap::new();
        // Event gathering (`[events]`), beside the incident workers: its own
        // connections, its own files (crate::events).
        // The gatherer's own logport relays what event gathering writes;
        // bound first, so that a port in use fails the start before any
        // thread is started.
        let relay = self.config.logport.as_ref().map(|_| Relay::new());
        let logport = match (&self.config.logport, &relay) {
            (Some(config), Some(relay)) => {
                Some(crate::logport::bind(&self.basedir, config, Arc::clone(relay)).await?)
            }
            _ => None,
        };
        let mut events = match self.config.events.clone() {
            Some(events) => Some(
                EventGathering::start(
                    &self.basedir,
                    &self.config,
                    events,
                    self.event_figures.clone(),
                    relay,
                    self.bucket.clone(),
                )
                .await?,
            ),
            None => None,
        };
        if let Some((logport, url)) = logport {
            let file = self.basedir.join(crate::listen::GATHERER_LOGPORT_FILE);
            tracing::info!(url = %url.redacted(), "serving the gathered events at {} (the URL is in {})", url.redacted(), file.display());
            tracker.spawn(crate::logport::accept_loop(
                logport,
                shutdown.clone(),
                tracker.clone(),
            ));
        }
        // Only one run at a time holds it (see `running`).
        let mut snapshot_jobs = self.snapshot_jobs.clone().lock_owned().await;
        let mut scan = PublisherScan::default();
        let publishers_dir = self.config.publishers_dir_in(&self.basedir);
        loop {
            let configured = self
                .configured
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            let dir = publishers_dir.clone();
            let scanned = blocking("scan the publishers", move || {
                let wanted = scan.scan(&configured, &dir);
                (scan, wanted)
            })
            .await;
            match scanned {
                Ok((returned, wanted)) => {
                    scan = returned;
                    if let Some(events) = &mut events {
                        let urls: Vec<(String, LogportUrl)> = wanted
                            .iter()
                            .map(|(id, (url, _))| (id.clone(), url.clone()))
                            .collect();
                        events.reconcile(&urls, &shutdown);
                    }
                    reconcile(&mut workers, wanted, &tracker, &cx, &shutdown);
                    let mut ids: Vec<String> = workers.keys().cloned().collect();
                    ids.sort();
                    known.send_if_modified(|known| {
                        let changed = *known != ids;
                        *known = ids;
                        changed
                    });
                }
                Err(panicked) => {
                    // The running publishers go on; the next round scans
                    // again (and reports the folder's problems afresh).
                    tracing::error!(error = %panicked, "{panicked}; the publishers stay as they are");
                    scan = PublisherScan::default();
                }
            }
            let next_scan = tokio::time::Instant::now() + self.config.poll_interval;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep_until(next_scan) => break,
                    _ = self.rescan.notified() => break,
                    Some(dial_in) = next_dial_in(&mut dial_ins) => {
                        route(&mut workers, dial_in, &tracker, &cx, &shutdown);
                    }
                    Some(job) = snapshot_jobs.recv() => route_snapshot(&workers, job),
                }
            }
            if shutdown.is_cancelled() {
                break;
            }
        }
        for worker in workers.values() {
            worker.stop.cancel();
        }
        tracker.close();
        tracker.wait().await;
        while let Ok(job) = snapshot_jobs.try_recv() {
            job.answer(Err(SnapshotError::NotRunning));
        }
        if let Some(events) = events {
            events.stop().await;
        }
        tracing::info!("stopped");
        Ok(())
    }

    /// Starts listening for publishers dialing in, if configured.
    async fn listen(
        &self,
        cx: &Arc<Context>,
        tracker: &TaskTracker,
        shutdown: &CancellationToken,
    ) -> Result<Option<mpsc::Receiver<DialIn>>, GatherError> {
        let Some(addr) = self.config.listen else {
            return Ok(None);
        };
        let (listening, url) = crate::listen::bind(
            &self.basedir,
            addr,
            self.config.advertise.as_deref(),
            cx.client_options(),
            self.config.connect_timeout,
            self.observer.clone(),
        )
        .await?;
        let file = self.basedir.join(crate::listen::GATHERER_URL_FILE);
        tracing::info!(url = %url.redacted(), "listening for publishers at {} (the URL to give them is in {})", url.redacted(), file.display());
        self.notify(GatherEvent::Listening { url });
        let (tx, rx) = mpsc::channel(64);
        tracker.spawn(crate::listen::accept_loop(
            listening,
            tx,
            shutdown.clone(),
            tracker.clone(),
        ));
        Ok(Some(rx))
    }

    /// Applies a new configuration to a gatherer (running or not): its
    /// publishers replace the old ones at once, and its rules rebuild the
    /// classification lists. Returns how many incidents were classified.
    /// Other settings take effect at the next start.
    pub async fn reload(&self, config: Config) -> Result<usize, GatherError> {
        *self
            .configured
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = config.publishers.clone();
        self.rescan.notify_one();
        self.rebuild(config.classifier).await
    }

    /// Rebuilds the classification lists from the stored incidents with the
    /// current rules, without fetching anything. Returns how many incidents
    /// were classified.
    pub async fn reclassify(&self) -> Result<usize, GatherError> {
        if let Some(bucket) = &self.bucket {
            return Err(GatherError::ReclassifyBucket {
                bucket: bucket.shown().to_owned(),
            });
        }
        self.rebuild(self.current_classifier()).await
    }

    fn current_classifier(&self) -> crate::Classifier {
        self.index.classifier()
    }

    async fn rebuild(&self, classifier: crate::Classifier) -> Result<usize, GatherError> {
        if let Some(bucket) = &self.bucket {
            // Other gatherers may be listing into the same lists meanwhile,
            // perhaps with other rules: a rebuild needs them all stopped.
            self.index.set_classifier(classifier);
            tracing::warn!(bucket = %bucket.shown(), "the rules changed; incidents stored from now on are classified by them, but the lists in {} are not rebuilt", bucket.shown());
            return Ok(0);
        }
        let index = self.index.clone();
        let classified = self.basedir.join(crate::classified::CLASSIFIED_DIR);
        let count = blocking("reclassify", move || index.rebuild(classifier))
            .await?
            .map_err(GatherError::io("rebuild", &classified))?;
        tracing::info!(incidents = count, "reclassified {count} incidents");
        self.notify(GatherEvent::Reclassified { incidents: count });
        Ok(count)
    }

    /// Start-up recovery; see [`run`](Self::run).
    async fn recover(&self) -> Result<(), GatherError> {
        if let Some(bucket) = &self.bucket {
            return self.recover_for_bucket(bucket).await;
        }
        let basedir = self.basedir.clone();
        let index = self.index.clone();
        let rebuilt = blocking("recover", move || recover(&basedir, &index)).await??;
        if let Some(count) = rebuilt {
            tracing::info!(incidents = count, "classified {count} stored incidents");
            self.notify(GatherEvent::Reclassified { incidents: count });
        }
        Ok(())
    }
}

impl Gatherer {
    /// Start-up with a bucket: the local folders hold only temporary files
    /// of fetches, removed here; each publisher task recovers its incidents
    /// from the bucket. One request tells wrong credentials (fatal: nothing
    /// could be stored) from a server that is down (the tasks back off and
    /// catch up when it returns).
    async fn recover_for_bucket(&self, bucket: &Bucket) -> Result<(), GatherError> {
        let basedir = self.basedir.clone();
        blocking("recover", move || {
            for id in publisher_ids(&basedir).unwrap_or_default() {
                if let Err(error) = PublisherStore::recover(&basedir, &id) {
                    tracing::error!(publisher = %id, %error, "cannot clean the folder of {id}: {error}");
                }
            }
        })
        .await?;
        match bucket.check().await {
            Ok(()) => {
                tracing::info!(bucket = %bucket.shown(), "storing incidents in {}", bucket.shown());
                Ok(())
            }
            Err(error) if error.is_refused_credentials() => Err(error.into()),
            Err(error) => {
                tracing::warn!(bucket = %bucket.shown(), %error, "{error}; retrying with each publisher");
                Ok(())
            }
        }
    }
}

/// Recovers every publisher folder, then the classification lists; returns
/// the number of incidents classified when the lists were rebuilt.
fn recover(basedir: &Path, index: &ClassifiedIndex) -> Result<Option<usize>, GatherError> {
    let incidents = basedir.join(INCIDENTS_DIR);
    let mut stores = Vec::new();
    let mut unrecorded = Vec::new();
    for id in publisher_ids(basedir).map_err(GatherError::io("read", &incidents))? {
        let dir = incidents.join(&id);
        let recovered = match PublisherStore::recover(basedir, &id) {
            Ok(recovered) => recovered,
            Err(error) => {
                // One broken folder must not keep the others from being
                // gathered; its publisher's task reports it again and waits.
                tracing::error!(publisher = %id, %error, "cannot recover {}: {error}", dir.display());
                continue;
            }
        };
        if recovered.removed_temp_files > 0 {
            tracing::info!(publisher = %id, count = recovered.removed_temp_files, "removed {} unfinished files of {id}", recovered.removed_temp_files);
        }
        unrecorded.extend(
            recovered
                .unrecorded
                .iter()
                .map(|name| relative_path(&id, name)),
        );
        stores.push(recovered.store);
    }
    let classified = basedir.join(crate::classified::CLASSIFIED_DIR);
    let current = index
        .is_current()
        .map_err(GatherError::io("read", &classified))?;
    let rebuilt = if current {
        index
            .repair(&unrecorded)
            .map_err(GatherError::io("repair", &classified))?;
        None
    } else {
        tracing::info!(
            "classifying every stored incident (classified/ is missing or the rules changed)"
        );
        Some(
            index
                .rebuild(index.classifier())
                .map_err(GatherError::io("rebuild", &classified))?,
        )
    };
    // Only now, with every stored incident listed, may `latest` move past
    // the ones stored just before a crash.
    for mut store in stores {
        let path = incidents.join(store.id()).join(crate::store::LATEST_FILE);
        store
            .persist_latest()
            .map_err(GatherError::io("write", &path))?;
    }
    Ok(rebuilt)
}

/// A gatherer's name among those sharing a bucket: new at each start, so
/// that a restarted gatherer is never taken for its dead self.
fn gatherer_id() -> String {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("g-{hex}")
}

async fn next_dial_in(dial_ins: &mut Option<mpsc::Receiver<DialIn>>) -> Option<DialIn> {
    match dial_ins {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

mod workers;

#[cfg(test)]
mod tests;

//! The gatherer end to end: real loggers and publishers on loopback TCP, the
//! gatherer library, real files in temporary directories.

mod classify;
mod cut;
pub(crate) mod events;
mod exactly_once;
mod hostile;
mod many;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use flog_core::{Level, Logger};
use flog_gatherer::{Config, GatherError, GatherEvent, Gatherer, Stored};
use flog_publisher::Publisher;
use flog_wire::LogportUrl;
use tempfile::TempDir;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long any one expected thing may take before a test fails.
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

/// A service recording incidents, with its publisher.
pub(crate) struct Service {
    pub(crate) logger: Logger,
    logdir: TempDir,
    publisher: Option<Publisher>,
    finished: mpsc::UnboundedReceiver<String>,
}

impl Service {
    pub(crate) async fn start() -> Service {
        Service::start_with(|builder| builder).await
    }

    /// With its publisher built by `configure` (to dial out, say).
    pub(crate) async fn start_with(
        configure: impl FnOnce(flog_publisher::PublisherBuilder) -> flog_publisher::PublisherBuilder,
    ) -> Service {
        Service::start_in(tempfile::tempdir().unwrap(), configure).await
    }

    /// In `logdir`, which may hold an identity already.
    pub(crate) async fn start_in(
        logdir: TempDir,
        configure: impl FnOnce(flog_publisher::PublisherBuilder) -> flog_publisher::PublisherBuilder,
    ) -> Service {
        let logger = Logger::builder()
            .trailing(false)
            .incident_rate_limit(100_000, Duration::from_secs(1))
            .build()
            .unwrap();
        logger.set_logdir(logdir.path()).unwrap();
        let (tx, finished) = mpsc::unbounded_channel();
        logger.add_incident_observer(move |incident: &flog_core::IncidentReport| {
            let name = incident.name.as_str();
            let _ = tx.send(name.to_owned());
        });
        let publisher = configure(Publisher::builder(logger.clone()))
            .start()
            .await
            .unwrap();
        Service {
            logger,
            logdir,
            publisher: Some(publisher),
            finished,
        }
    }

    pub(crate) fn url(&self) -> &LogportUrl {
        self.publisher.as_ref().expect("the publisher runs").url()
    }

    pub(crate) fn publisher_addr(&self) -> std::net::SocketAddr {
        self.publisher
            .as_ref()
            .expect("the publisher runs")
            .local_addr()
    }

    pub(crate) fn publisher(&self) -> &Publisher {
        self.publisher.as_ref().expect("the publisher runs")
    }

    pub(crate) fn logdir(&self) -> &Path {
        self.logdir.path()
    }

    pub(crate) fn id(&self) -> String {
        self.url().publisher_id().to_owned()
    }

    /// The logdir's `logport` file: what an operator copies into the
    /// gatherer's publishers folder.
    pub(crate) fn logport_file(&self) -> PathBuf {
        self.logdir.path().join(flog_publisher::LOGPORT_FILE)
    }

    /// Declares an incident and returns its name once it is finished.
    pub(crate) async fn incident(
        &mut self,
        facility: &'static str,
        level: Level,
        text: &'static str,
    ) -> String {
        self.logger
            .event(level)
            .facility(facility)
            .message(text)
            .emit();
        self.finished().await
    }

    /// The name of the next incident to finish (declared by the caller).
    pub(crate) async fn finished(&mut self) -> String {
        tokio::time::timeout(PATIENCE, self.finished.recv())
            .await
            .expect("the incident finishes")
            .expect("the observer lives")
    }

    /// Declares an incident preceded by `blobs` events of 32 kB of noise
    /// each, which bzip2 cannot squeeze: a large incident file.
    pub(crate) async fn large_incident(&mut self, blobs: usize) -> String {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        for i in 0..blobs {
            let mut blob = Vec::with_capacity(32 * 1024);
            while blob.len() < 32 * 1024 {
                // xorshift
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                blob.extend_from_slice(&state.to_le_bytes());
            }
            // In values of flog_core::flogfile::MAX_VALUE_BYTES (the buffers cut longer
            // ones), spread over facilities so that no buffer passes its 100.
            for part in blob.chunks(flog_core::flogfile::MAX_VALUE_BYTES) {
                self.logger
                    .event(Level::OPERATIONAL)
                    .facility(format!("app.noise.{}", i / 8))
                    .format("sample {i}")
                    .field("i", i as u64)
                    .field("blob", part.to_vec())
                    .emit();
            }
        }
        self.incident("app.big", Level::WEIRD, "large incident")
            .await
    }

    /// The publisher's file of incident `name`.
    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.logdir.path().join(format!("{name}.flog.bz2"))
    }

    pub(crate) async fn stop(&mut self) {
        if let Some(publisher) = self.publisher.take() {
            publisher.shutdown().await;
        }
    }

    /// Stops the publisher and starts another on the same logdir (same
    /// publisher id and secret), on a new port.
    pub(crate) async fn restart(&mut self) {
        self.stop().await;
        let publisher = Publisher::builder(self.logger.clone())
            .start()
            .await
            .unwrap();
        self.publisher = Some(publisher);
    }
}

/// Settings that make tests quick: short polls, short waits.
pub(crate) fn quick_config() -> Config {
    let mut config = Config::default();
    config.poll_interval = Duration::from_millis(100);
    config.min_backoff = Duration::from_millis(20);
    config.max_backoff = Duration::from_millis(200);
    config.connect_timeout = Duration::from_secs(2);
    config.request_timeout = Duration::from_secs(2);
    config.fetch_timeout = Duration::from_secs(10);
    config
}

/// Points the gatherer at a publisher by a file in its publishers folder,
/// written beside and renamed, as an operator's deployment would.
pub(crate) fn drop_url_file(basedir: &Path, name: &str, url: &LogportUrl) {
    let dir = basedir.join(flog_gatherer::PUBLISHERS_DIR);
    fs::create_dir_all(&dir).unwrap();
    let temp = dir.join(format!(".{name}.tmp"));
    fs::write(&temp, format!("{url}\n")).unwrap();
    fs::rename(&temp, dir.join(name)).unwrap();
}

/// A gatherer running on its own task, with the events it reports.
pub(crate) struct Running {
    pub(crate) gatherer: Arc<Gatherer>,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), GatherError>>,
    events: mpsc::UnboundedReceiver<GatherEvent>,
    /// Every event seen so far.
    pub(crate) seen: Vec<GatherEvent>,
}

impl Running {
    pub(crate) fn start(basedir: &Path, config: Config) -> Running {
        Running::start_with(basedir, config, |_: &GatherEvent| {})
    }

    /// Started with `also` told of every event too (a dashboard's observer).
    pub(crate) fn start_with(
        basedir: &Path,
        config: Config,
        also: impl flog_gatherer::GatherObserver + 'static,
    ) -> Running {
        Running::run(Gatherer::new(basedir, config).unwrap(), also)
    }

    /// Runs `gatherer` (made by the caller, to hand it to a dashboard
    /// first), with `also` told of every event too.
    pub(crate) fn run(
        gatherer: Gatherer,
        also: impl flog_gatherer::GatherObserver + 'static,
    ) -> Running {
        let (tx, events) = mpsc::unbounded_channel();
        let gatherer = gatherer.with_observer(move |event: &GatherEvent| {
            also.on_event(event);
            let _ = tx.send(event.clone());
        });
        let gatherer = Arc::new(gatherer);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let (gatherer, shutdown) = (gatherer.clone(), shutdown.clone());
            async move { gatherer.run(shutdown).await }
        });
        Running {
            gatherer,
            shutdown,
            task,
            events,
            seen: Vec::new(),
        }
    }

    /// Returns the first event matching `wanted`, waiting for it if it has
    /// not come yet.
    pub(crate) async fn wait_for(
        &mut self,
        what: &str,
        wanted: impl Fn(&GatherEvent) -> bool,
    ) -> GatherEvent {
        if let Some(event) = self.seen.iter().find(|event| wanted(event)) {
            return event.clone();
        }
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("waited in vain for {what}; saw {:#?}", self.seen))
                .expect("the gatherer reports until it is dropped");
            self.seen.push(event.clone());
            if wanted(&event) {
                return event;
            }
        }
    }

    /// Waits until incident `name` of publisher `id` is stored.
    pub(crate) async fn stored(&mut self, id: &str, name: &str) -> Stored {
        let event = self
            .wait_for(&format!("{name} from {id}"), |event| {
                matches!(event, GatherEvent::Stored(s) if s.publisher_id == id && s.name == name)
            })
            .await;
        match event {
            GatherEvent::Stored(stored) => stored,
            _ => unreachable!(),
        }
    }

    /// Ends the gatherer as a crash would, mid-fetch: its run is dropped
    /// (which stops its tasks where they are), not shut down.
    pub(crate) async fn abort(mut self) -> Vec<GatherEvent> {
        self.task.abort();
        let _ = (&mut self.task).await;
        drop(self.gatherer);
        while let Ok(event) = self.events.try_recv() {
            self.seen.push(event);
        }
        self.seen
    }

    /// Stops the gatherer, waits for it, and returns every event it reported.
    pub(crate) async fn stop(mut self) -> Vec<GatherEvent> {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
        drop(self.gatherer);
        while let Some(event) = self.events.recv().await {
            self.seen.push(event);
        }
        self.seen
    }
}

/// The names stored for each `Stored` event, to check none came twice.
pub(crate) fn stored_names(events: &[GatherEvent]) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|event| match event {
            GatherEvent::Stored(s) => Some((s.publisher_id.clone(), s.name.clone())),
            _ => None,
        })
        .collect()
}

/// The files in a publisher's folder of the gatherer.
pub(crate) fn stored_files(basedir: &Path, id: &str) -> BTreeSet<String> {
    fs::read_dir(basedir.join(flog_gatherer::INCIDENTS_DIR).join(id))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

/// The temporary files of fetches of `name` in a publisher's folder of the
/// gatherer (`.<name>.flog.bz2.<unique>.part`).
pub(crate) fn partial_files(basedir: &Path, id: &str, name: &str) -> Vec<PathBuf> {
    let prefix = format!(".{name}.flog.bz2.");
    let Ok(entries) = fs::read_dir(basedir.join(flog_gatherer::INCIDENTS_DIR).join(id)) else {
        return Vec::new();
    };
    entries
        .map(|e| e.unwrap())
        .filter(|e| {
            let file = e.file_name().into_string().unwrap();
            file.starts_with(&prefix) && file.ends_with(".part")
        })
        .map(|e| e.path())
        .collect()
}

/// The lines of a classification list.
pub(crate) fn list(basedir: &Path, category: &str) -> Vec<String> {
    fs::read_to_string(basedir.join(flog_gatherer::CLASSIFIED_DIR).join(category))
        .map(|text| text.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// `incidents/<id>/<name>.flog.bz2`.
pub(crate) fn relative(id: &str, name: &str) -> String {
    format!("incidents/{id}/{name}.flog.bz2")
}

/// Asserts the gatherer's copy of `name` is byte for byte the publisher's.
pub(crate) fn assert_identical(basedir: &Path, service: &Service, name: &str) {
    let ours = fs::read(basedir.join(relative(&service.id(), name))).unwrap();
    let theirs = fs::read(service.file(name)).unwrap();
    assert!(ours == theirs, "{name} differs from the publisher's copy");
}

use std::path::Path;
use std::time::Duration;

use flog_core::{flogfile::ReadError, Event, Level, Logger};
use flog_publisher::Publisher;
use tokio::sync::mpsc;

use super::*;
use crate::observer::Stored;

const PATIENCE: Duration = Duration::from_secs(30);

/// A trigger reader with a bug that one kind of incident sets off.
fn reader_that_panics_on_poison(path: &Path) -> Result<Option<Event>, ReadError> {
    let trigger = crate::classified::read_trigger(path)?;
    if trigger
        .as_ref()
        .is_some_and(|t| t.facility() == "app.poison")
    {
        panic!("a reader bug met {}", path.display());
    }
    Ok(trigger)
}

/// A logger with a log directory, and its publisher.
struct Service {
    logger: Logger,
    publisher: Publisher,
    finished: std::sync::mpsc::Receiver<String>,
    _logdir: tempfile::TempDir,
}

impl Service {
    async fn start() -> Service {
        let logdir = tempfile::tempdir().unwrap();
        let logger = Logger::builder()
            .trailing(false)
            .incident_rate_limit(1000, Duration::from_secs(1))
            .build()
            .unwrap();
        logger.set_logdir(logdir.path()).unwrap();
        let publisher = Publisher::builder(logger.clone()).start().await.unwrap();
        let (tx, finished) = std::sync::mpsc::channel();
        let tx = std::sync::Mutex::new(tx);
        logger.add_incident_observer(move |incident: &flog_core::IncidentReport| {
            let name = incident.name.as_str();
            let _ = tx.lock().unwrap().send(name.to_owned());
        });
        Service {
            logger,
            publisher,
            finished,
            _logdir: logdir,
        }
    }

    /// Declares an incident and waits until it is finished, so that the
    /// next trigger is an incident of its own.
    fn incident(&self, facility: &'static str) -> String {
        self.logger
            .event(Level::WEIRD)
            .facility(facility)
            .message("something odd")
            .emit();
        self.finished.recv_timeout(PATIENCE).unwrap()
    }
}

/// Issue 9, item 5 (the gatherer's part): reading one incident's file must
/// fail alone, whatever the reader does. Here it panics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_whose_reading_panics_is_stored_as_unknown_and_nothing_else_stops() {
    let first = Service::start().await;
    let second = Service::start().await;
    let basedir = tempfile::tempdir().unwrap();
    let mut config = Config::from_toml(
        "[[rule]]\ncategory = \"database\"\nfacility = \"app.db\"\n",
        "gatherer.toml",
    )
    .unwrap();
    config.poll_interval = Duration::from_millis(100);
    config.min_backoff = Duration::from_millis(20);
    config.max_backoff = Duration::from_millis(100);
    config.publishers = vec![
        first.publisher.url().clone(),
        second.publisher.url().clone(),
    ];
    let (tx, mut events) = mpsc::unbounded_channel();
    let gatherer = Gatherer::new(basedir.path(), config)
        .unwrap()
        .with_trigger_reader(reader_that_panics_on_poison)
        .with_observer(move |event: &GatherEvent| {
            let _ = tx.send(event.clone());
        });
    let shutdown = CancellationToken::new();

    // Before, the poisoned one, and after it; and another publisher.
    first.incident("app.db");
    let poisoned = first.incident("app.poison");
    first.incident("app.db");
    second.incident("app.db");
    let collect = async {
        let mut stored: Vec<Stored> = Vec::new();
        let mut failures = Vec::new();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while stored.len() < 4 {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some(GatherEvent::Stored(s))) => stored.push(s),
                Ok(Some(GatherEvent::Failed { error, .. })) => failures.push(error),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => panic!(
                    "stored {stored:#?}; {} failures, the first {:?}",
                    failures.len(),
                    failures.first()
                ),
            }
        }
        shutdown.cancel();
        (stored, failures)
    };
    let (result, (stored, failures)) = tokio::join!(gatherer.run(shutdown.clone()), collect);
    result.unwrap();
    assert!(failures.is_empty(), "{failures:#?}");
    let unknown: Vec<&Stored> = stored.iter().filter(|s| s.categories.is_empty()).collect();
    assert_eq!(unknown.len(), 1, "{stored:#?}");
    assert_eq!(unknown[0].name, poisoned);
    let poisoned = format!("incidents/{}/{poisoned}.flog.bz2", unknown[0].publisher_id);
    let list = |name: &str| -> Vec<String> {
        std::fs::read_to_string(basedir.path().join("classified").join(name))
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(list("unknown"), std::slice::from_ref(&poisoned));
    assert_eq!(list("all").len(), 4);
    assert_eq!(list("database").len(), 3);

    // Reclassifying meets the same file: the same answer, not a panic.
    assert_eq!(gatherer.reclassify().await.unwrap(), 4);
    assert_eq!(list("unknown"), [poisoned]);
    assert_eq!(list("database").len(), 3);
    first.publisher.shutdown().await;
    second.publisher.shutdown().await;
}

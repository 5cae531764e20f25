//! The demo's sample service: a program embedding flog-core and a publisher,
//! doing some work and running into trouble three times.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use flog_core::{
    curious, infrequent, msg, noisy, operational, scary, unusual, weird, Level, Logger,
};
use flog_publisher::Publisher;
use flog_wire::LogportUrl;
use tokio::sync::mpsc;

/// How long each incident keeps recording after its trigger: short, so the demo
/// is quick, yet long enough for the events that follow a trigger to make it in.
pub(super) const TRAILING_DELAY: Duration = Duration::from_secs(1);

/// Bound on waiting for one incident report to be finished.
const INCIDENT_DEADLINE: Duration = Duration::from_secs(20);

/// A running sample service.
#[derive(Debug)]
pub(super) struct SampleService {
    logger: Logger,
    publisher: Publisher,
    finished: mpsc::UnboundedReceiver<String>,
}

impl SampleService {
    /// Starts logging into `logdir` and serving its logport on 127.0.0.1.
    pub(super) async fn start(logdir: &Path) -> anyhow::Result<SampleService> {
        let logger = Logger::builder()
            .trailing_delay(TRAILING_DELAY)
            .build()
            .context("cannot configure the sample service's logger")?;
        logger.set_version("demo-service", env!("CARGO_PKG_VERSION"));
        logger
            .set_logdir(logdir)
            .context("cannot use the sample service's log directory")?;
        let publisher = Publisher::builder(logger.clone())
            .start()
            .await
            .context("cannot start the sample service's publisher")?;
        let (tx, finished) = mpsc::unbounded_channel();
        logger.add_incident_observer(move |incident: &flog_core::IncidentReport| {
            let name = incident.name.as_str();
            // The demo may have given up waiting; nothing to do then.
            let _ = tx.send(name.to_owned());
        });
        Ok(SampleService {
            logger,
            publisher,
            finished,
        })
    }

    pub(super) fn url(&self) -> &LogportUrl {
        self.publisher.url()
    }

    pub(super) fn logport_file(&self) -> PathBuf {
        self.publisher.logport_file().to_owned()
    }

    /// The demo's last event, logged once the incidents are gathered: the
    /// demo waits until the event gatherer has written it. Its number.
    pub(super) fn last_word(&self) -> anyhow::Result<u64> {
        let logger = &self.logger;
        operational!(logger = logger, facility = "app", "demo service done")
            .context("the sample service's last event was not logged")
    }

    /// Ordinary work at every level: nothing here declares an incident, but it
    /// is all in the buffers when one comes, which is the point of a flight
    /// recorder.
    pub(super) fn work(&self) {
        let logger = &self.logger;
        let start = operational!(logger = logger, facility = "app", "demo service starting");
        noisy!(
            logger = logger,
            facility = "app.config",
            parent = start,
            "read {entries} settings",
            entries = 12
        );
        for (i, path) in ["/", "/login", "/cart"].into_iter().enumerate() {
            let request = operational!(
                logger = logger,
                facility = "app.web",
                "GET {path}",
                path,
                request_id = i
            );
            noisy!(
                logger = logger,
                facility = "app.db",
                parent = request,
                "query took {ms} ms",
                ms = 3 + i
            );
        }
        unusual!(
            logger = logger,
            facility = "app.web",
            "slow response for {path}: {ms} ms",
            path = "/cart",
            ms = 900
        );
        infrequent!(
            logger = logger,
            facility = "app.jobs",
            "nightly report job started"
        );
        curious!(
            logger = logger,
            facility = "app.db.pool",
            "pool at {used} of {size} connections",
            used = 9,
            size = 10
        );
    }

    /// Incident 1, two triggers in one report: the pool runs dry, and while the
    /// report still records its trailing events the primary database goes away
    /// too. That second trigger joins the incident under way.
    pub(super) async fn database_outage(&mut self) -> anyhow::Result<String> {
        let logger = &self.logger;
        let checkout = operational!(
            logger = logger,
            facility = "app.db",
            "checking out a connection for {request}",
            request = "/cart"
        );
        weird!(
            logger = logger,
            facility = "app.db.pool",
            parent = checkout,
            "pool exhausted after {waited_ms} ms",
            waited_ms = 250,
            pool = "main"
        );
        operational!(
            logger = logger,
            facility = "app.db",
            parent = checkout,
            "retrying on the primary"
        );
        scary!(
            logger = logger,
            facility = "app.db",
            parent = checkout,
            "primary {host} unreachable",
            host = "db1"
        );
        operational!(
            logger = logger,
            facility = "app.db",
            "serving reads from replica {host}",
            host = "db2"
        );
        self.next_incident().await
    }

    /// Incident 2, followed by recovery: the messages after the failure are the
    /// report's trailing events, so it shows how the story ended.
    pub(super) async fn web_failure_and_recovery(&mut self) -> anyhow::Result<String> {
        let logger = &self.logger;
        let request = operational!(
            logger = logger,
            facility = "app.web",
            "POST {path}",
            path = "/checkout"
        );
        logger
            .event(Level::BAD)
            .facility("app.web")
            .parent(request)
            .format("handler for {path} failed: {error}")
            .field("path", "/checkout")
            .field("error", "payment gateway timed out")
            .error()
            .failure("checkout::pay: gateway timed out after 5000 ms\n  at checkout::handle\n  at web::serve")
            .emit();
        unusual!(
            logger = logger,
            facility = "app.web",
            "circuit breaker open for the payment gateway"
        );
        operational!(
            logger = logger,
            facility = "app.web",
            "payment gateway answers again"
        );
        operational!(
            logger = logger,
            facility = "app.web",
            "circuit breaker closed: recovered"
        );
        self.next_incident().await
    }

    /// Incident 3: no classification rule knows about jobs, so the gatherer
    /// lists it as `unknown`.
    pub(super) async fn stalled_job(&mut self) -> anyhow::Result<String> {
        msg!(
            logger = self.logger,
            Level::WEIRD,
            facility = "app.jobs",
            "job {job} stalled for {secs} s",
            job = "nightly-report",
            secs = 30
        );
        self.next_incident().await
    }

    /// Waits for the report of the incident just declared to be finished.
    async fn next_incident(&mut self) -> anyhow::Result<String> {
        tokio::time::timeout(INCIDENT_DEADLINE, self.finished.recv())
            .await
            .ok()
            .flatten()
            .ok_or_else(|| {
                anyhow!(
                    "the sample service's incident was not recorded within {} s",
                    INCIDENT_DEADLINE.as_secs()
                )
            })
    }

    /// Stops serving and finishes any report still recording.
    pub(super) async fn stop(self) {
        self.publisher.shutdown().await;
        let logger = self.logger;
        // Joins reporter threads: keep it off the runtime's workers.
        let _ = tokio::task::spawn_blocking(move || logger.finish_incidents()).await;
    }
}

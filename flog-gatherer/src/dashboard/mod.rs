//! The gatherer's dashboard (the `dashboard` feature): flog-web's dashboard
//! pages over a [`GathererFleet`] that the gatherer's events keep current.
//!
//! Data flows one way: the gatherer tells its observer of events, the
//! observer sends them down a channel, and one task applies them to the
//! fleet, which the pages read.

mod fleet;
mod relay;
mod shared;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flog_web::{Dashboard, Fleet};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, HttpConfig};
use crate::contain::blocking;
use crate::observer::{GatherEvent, GatherObserver};
use crate::Gatherer;

pub use self::fleet::GathererFleet;
use self::relay::Relay;
use self::shared::SharedView;
pub use self::shared::{
    BUCKET_WAIT, MAX_SHOWN_GATHERERS, MAX_SHOWN_INCIDENTS, MAX_SHOWN_PUBLISHERS,
};

/// The gatherer's events the dashboard's task may have waiting: a burst
/// beyond (a flood of failures while the disk is slow, say) is dropped and
/// counted, and the task then re-reads the stored incidents, so that the
/// memory held stays bounded and no stored incident goes unlisted.
pub const DASHBOARD_QUEUE: usize = 1024;

/// The dashboard of one gatherer: give [`observer`](Self::observer) to the
/// [`Gatherer`](crate::Gatherer), then [`serve`](Self::serve).
#[derive(Debug)]
pub struct DashboardServer {
    fleet: Arc<GathererFleet>,
    token: Option<String>,
    events: mpsc::Sender<GatherEvent>,
    receiver: mpsc::Receiver<GatherEvent>,
    dropped: Arc<AtomicU64>,
    relay: Option<Relay>,
}

/// The gatherer's events for the dashboard, sent on to its task.
#[derive(Debug, Clone)]
pub struct DashboardObserver {
    events: mpsc::Sender<GatherEvent>,
    dropped: Arc<AtomicU64>,
}

impl GatherObserver for DashboardObserver {
    fn on_event(&self, event: &GatherEvent) {
        match self.events.try_send(event.clone()) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            // A dashboard that stopped just drops them.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

impl DashboardServer {
    /// The dashboard of the gatherer of `basedir`, with `http`'s token.
    pub fn new(basedir: &std::path::Path, config: &Config, http: &HttpConfig) -> DashboardServer {
        DashboardServer::with_queue(basedir, config, http, DASHBOARD_QUEUE)
    }

    /// The same with room for `queue` waiting events (for tests of a full one).
    pub fn with_queue(
        basedir: &std::path::Path,
        config: &Config,
        http: &HttpConfig,
        queue: usize,
    ) -> DashboardServer {
        let (events, receiver) = mpsc::channel(queue.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        DashboardServer {
            fleet: Arc::new(GathererFleet::new(basedir, config, dropped.clone())),
            token: http.token.clone(),
            events,
            receiver,
            dropped,
            relay: None,
        }
    }

    /// Shows `gatherer`'s event figures in the metrics, and offers "record
    /// an incident now", relayed over its connections to the publishers.
    /// With `storage = "s3"` it shows the whole fleet of the bucket, read
    /// at most every `dashboard_refresh`, and the event spool's figures.
    #[must_use]
    pub fn with_gatherer(mut self, gatherer: &Gatherer) -> DashboardServer {
        self.fleet.show_event_figures(gatherer.event_figures());
        if let (Some((bucket, me)), crate::config::Storage::S3(s3)) =
            (gatherer.shared_bucket(), &gatherer.config().storage)
        {
            let clock = Arc::new(flog_core::SystemClock);
            let view = SharedView::new(bucket, me, s3.dashboard_refresh, clock);
            self.fleet.show_shared(Arc::new(view));
            if gatherer.config().events.is_some() {
                self.fleet.show_spool();
            }
        }
        self.relay = Some(Relay::new(gatherer.snapshots()));
        self
    }

    /// The observer to give the gatherer.
    pub fn observer(&self) -> DashboardObserver {
        DashboardObserver {
            events: self.events.clone(),
            dropped: self.dropped.clone(),
        }
    }

    /// The fleet it shows.
    pub fn fleet(&self) -> Arc<GathererFleet> {
        self.fleet.clone()
    }

    /// Reads the stored incidents, then serves the dashboard on `listener`
    /// until `shutdown`, keeping it current with the gatherer's events.
    pub async fn serve(self, listener: TcpListener, shutdown: CancellationToken) -> io::Result<()> {
        let addr = listener.local_addr()?;
        let fleet = self.fleet.clone();
        match blocking("read the stored incidents", move || fleet.reload()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::error!(%error, "the dashboard cannot read the stored incidents: {error}")
            }
            Err(panicked) => tracing::error!(error = %panicked, "{panicked}"),
        }
        let follow = tokio::spawn(follow(self.fleet.clone(), self.receiver, self.dropped));
        let fleet: Arc<dyn Fleet> = self.fleet;
        let mut builder = Dashboard::builder(fleet);
        if let Some(relay) = self.relay {
            builder = builder.snapshots(Arc::new(relay));
        }
        match self.token {
            Some(token) => builder = builder.token(token),
            // Without a token only loopback is bound: answer only the names
            // of this address, so a web page elsewhere cannot read the
            // dashboard through a name it points here (DNS rebinding).
            None => builder = builder.allowed_hosts(loopback_hosts(addr)),
        }
        let dashboard = Arc::new(builder.build().map_err(io::Error::other)?);
        let served = axum::serve(listener, flog_web::dashboard_router(dashboard))
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        follow.abort();
        served
    }
}

/// The `Host` headers a browser sends to a loopback address.
fn loopback_hosts(addr: SocketAddr) -> Vec<String> {
    let port = addr.port();
    vec![
        addr.to_string(),
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
    ]
}

/// Applies the gatherer's events to the fleet, one at a time and off the
/// async runtime (a stored incident's trigger is read from disk). After
/// events were dropped it re-reads the stored incidents: an event is
/// dropped only while the queue is full, so at least one of the events
/// queued then is taken after the drop and sees it counted.
async fn follow(
    fleet: Arc<GathererFleet>,
    mut events: mpsc::Receiver<GatherEvent>,
    dropped: Arc<AtomicU64>,
) {
    let mut seen_dropped = 0;
    while let Some(event) = events.recv().await {
        let fleet = fleet.clone();
        let now_dropped = dropped.load(Ordering::Relaxed);
        let resync = now_dropped != seen_dropped;
        seen_dropped = now_dropped;
        let update = move || {
            fleet.apply(&event);
            if resync {
                if let Err(error) = fleet.reload() {
                    tracing::warn!(%error, "the dashboard cannot read the stored incidents: {error}");
                }
            }
        };
        if let Err(panicked) = blocking("update the dashboard", update).await {
            tracing::error!(error = %panicked, "{panicked}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::observer::Stored;
    use crate::store::INCIDENTS_DIR;
    use flog_core::flogfile::FINISHED_SUFFIX;

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_and_the_dashboard_catches_up() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::default();
        let http = Config::from_toml("http = \"127.0.0.1:0\"\n", "gatherer.toml")
            .unwrap()
            .http
            .unwrap();
        let server = DashboardServer::with_queue(dir.path(), &config, &http, 4);
        let observer = server.observer();
        let folder = dir.path().join(INCIDENTS_DIR).join("web-1");
        fs::create_dir_all(&folder).unwrap();
        // Ten incidents stored while nothing takes the events: four wait,
        // six are dropped (and counted), whatever else comes.
        for i in 0..10 {
            let name = format!("incident-2024-01-01T00-00-{i:02}.000000Z-{i:04}");
            let path = folder.join(format!("{name}{FINISHED_SUFFIX}"));
            fs::write(&path, b"not a flogfile: listed with no trigger").unwrap();
            observer.on_event(&GatherEvent::Stored(Stored {
                publisher_id: "web-1".into(),
                name,
                path,
                size: 38,
                categories: Vec::new(),
            }));
        }
        let fleet = server.fleet();
        assert_eq!(fleet.figures().dropped_updates, 6);
        assert!(fleet.incidents().is_empty());

        // Once the queue is taken, the drops make the dashboard re-read the
        // stored incidents: all ten are listed, not just the four queued.
        let DashboardServer {
            receiver,
            dropped,
            events,
            ..
        } = server;
        drop((events, observer));
        follow(fleet.clone(), receiver, dropped).await;
        assert_eq!(fleet.incidents().len(), 10);
        assert_eq!(fleet.figures().dropped_updates, 6);
    }
}

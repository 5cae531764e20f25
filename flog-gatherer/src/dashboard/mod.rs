//! The gatherer's dashboard (the `dashboard` feature): flog-web's dashboard
//! pages over a [`GathererFleet`] that the gatherer's events keep current.
//!
//! Data flows one way: the gatherer tells its observer of events, the
//! observer sends them down a channel, and one task applies them to the
//! fleet, which the pages read.

mod fleet;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use flog_web::{Dashboard, Fleet};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, HttpConfig};
use crate::contain::blocking;
use crate::observer::{GatherEvent, GatherObserver};

pub use self::fleet::GathererFleet;

/// The dashboard of one gatherer: give [`observer`](Self::observer) to the
/// [`Gatherer`](crate::Gatherer), then [`serve`](Self::serve).
#[derive(Debug)]
pub struct DashboardServer {
    fleet: Arc<GathererFleet>,
    token: Option<String>,
    events: mpsc::UnboundedSender<GatherEvent>,
    receiver: mpsc::UnboundedReceiver<GatherEvent>,
}

/// The gatherer's events for the dashboard, sent on to its task.
#[derive(Debug, Clone)]
pub struct DashboardObserver(mpsc::UnboundedSender<GatherEvent>);

impl GatherObserver for DashboardObserver {
    fn on_event(&self, event: &GatherEvent) {
        // The events are few (one per connection, round, incident or
        // failure) and the task applies them at once, so the queue stays
        // short; a dashboard that stopped just drops them.
        let _ = self.0.send(event.clone());
    }
}

impl DashboardServer {
    /// The dashboard of the gatherer of `basedir`, with `http`'s token.
    pub fn new(basedir: &std::path::Path, config: &Config, http: &HttpConfig) -> DashboardServer {
        let (events, receiver) = mpsc::unbounded_channel();
        DashboardServer {
            fleet: Arc::new(GathererFleet::new(basedir, config)),
            token: http.token.clone(),
            events,
            receiver,
        }
    }

    /// The observer to give the gatherer.
    pub fn observer(&self) -> DashboardObserver {
        DashboardObserver(self.events.clone())
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
        let follow = tokio::spawn(follow(self.fleet.clone(), self.receiver));
        let fleet: Arc<dyn Fleet> = self.fleet;
        let mut builder = Dashboard::builder(fleet);
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
/// async runtime (a stored incident's trigger is read from disk).
async fn follow(fleet: Arc<GathererFleet>, mut events: mpsc::UnboundedReceiver<GatherEvent>) {
    while let Some(event) = events.recv().await {
        let fleet = fleet.clone();
        if let Err(panicked) = blocking("update the dashboard", move || fleet.apply(&event)).await {
            tracing::error!(error = %panicked, "{panicked}");
        }
    }
}

//! What every connection of one publisher shares: a leaf below the handler
//! and the operations.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use flog_core::{Logger, ObserverId};
use flog_wire::{IncidentInfo, TlsKey};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::PublisherConfig;
use crate::error::PublisherError;
use crate::identity::{key_file, Identity};
use crate::index::IncidentIndex;
use crate::live::{Live, LiveLimits};
use crate::stats::Stats;

/// What every connection of one publisher shares.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) logger: Logger,
    pub(crate) identity: Identity,
    /// The logport's TLS key: presented to clients, and as the client
    /// certificate when dialing out to gatherers.
    pub(crate) key: TlsKey,
    pub(crate) stats: Stats,
    pub(crate) index: Arc<IncidentIndex>,
    /// Each incident as it is recorded, for incident subscriptions.
    pub(crate) incidents: broadcast::Sender<IncidentInfo>,
    pub(crate) live: Live,
    pub(crate) config: PublisherConfig,
}

impl State {
    /// Loads the identity and indexes the logdir's incidents (on a blocking
    /// thread), and starts the live-event fan-out on `tracker`.
    pub(crate) async fn start(
        logger: Logger,
        config: PublisherConfig,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> Result<Arc<State>, PublisherError> {
        let dir = logger.logdir().ok_or(PublisherError::NoLogdir)?;
        let loading = dir.clone();
        let (identity, key, index) = tokio::task::spawn_blocking(move || load(&loading))
            .await
            .map_err(|source| PublisherError::Startup { dir, source })??;
        let limits = LiveLimits {
            memory: config.live_memory,
            lag: config.event_queue.max(1) as u64,
            catch_up_memory: config.catch_up_memory,
        };
        let (incidents, _) = broadcast::channel(1024);
        Ok(Arc::new(State {
            live: Live::start(logger.clone(), limits, shutdown, tracker),
            logger,
            identity,
            key,
            stats: Stats::default(),
            index: Arc::new(index),
            incidents,
            config,
        }))
    }

    /// Keeps the index current and tells incident subscribers, from the
    /// logger's incident observer (remove it with the returned id).
    pub(crate) fn observe_incidents(&self) -> ObserverId {
        let (index, incidents) = (Arc::clone(&self.index), self.incidents.clone());
        self.logger
            .add_incident_observer(move |incident: &flog_core::IncidentReport| {
                let name = incident.name.as_str();
                let path = incident.path.as_path();
                let trigger = &incident.trigger;
                index.add_finished(name, path, trigger);
                if let Some(entry) = index.get(name) {
                    // No subscriber is not an error.
                    let _ = incidents.send(entry.info.clone());
                }
            })
    }

    /// The versions of the process, this publisher included.
    pub(crate) fn versions(&self) -> BTreeMap<String, String> {
        let mut versions = self.logger.versions();
        versions.insert("flog-publisher".into(), env!("CARGO_PKG_VERSION").into());
        versions
    }
}

fn load(dir: &Path) -> Result<(Identity, TlsKey, IncidentIndex), PublisherError> {
    let identity = Identity::load_or_create(dir).map_err(|source| PublisherError::Identity {
        dir: dir.to_owned(),
        source,
    })?;
    // A pre-TLS logdir keeps its id and secret and gains a key here
    // (docs/protocol.md §12.8); a damaged key file stops the start.
    let key = key_file(dir).load_or_create()?;
    let (index, skipped) = IncidentIndex::build(dir).map_err(|source| PublisherError::Index {
        dir: dir.to_owned(),
        source,
    })?;
    for s in skipped {
        tracing::warn!(file = %s.path.display(), reason = %s.reason, "skipping unreadable incident");
    }
    Ok((identity, key, index))
}

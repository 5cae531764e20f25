//! One task per publisher: connect, list what is new, fetch it in name
//! order, wait for the next poll (or a notice), and on failure back off and
//! reconnect.

use std::fmt;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use flog_wire::{
    is_valid_incident_name, ClientError, ClientOptions, IncidentInfo, IncidentSubscription,
    IncidentUpdate, ListQuery, LogportClient, LogportUrl,
};
use tokio::sync::{watch, Semaphore};
use tokio::time::{sleep, timeout, Instant};
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::classified::ClassifiedIndex;
use crate::config::Config;
use crate::observer::{GatherEvent, GatherObserver};
use crate::store::{Partial, PublisherStore};
use crate::units::{human_duration, human_size};

/// What every publisher task shares.
pub(crate) struct Context {
    pub(crate) basedir: PathBuf,
    pub(crate) config: Config,
    /// Turns at talking to publishers: each connect, listing page and fetch
    /// takes one, so `concurrency` bounds the network work at any moment.
    pub(crate) permits: Semaphore,
    pub(crate) index: Arc<ClassifiedIndex>,
    pub(crate) observer: Option<Arc<dyn GatherObserver>>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("basedir", &self.basedir)
            .field("permits", &self.permits.available_permits())
            .finish_non_exhaustive()
    }
}

impl Context {
    pub(crate) fn notify(&self, event: GatherEvent) {
        if let Some(observer) = &self.observer {
            observer.on_event(&event);
        }
    }

    fn client_options(&self) -> ClientOptions {
        ClientOptions::new()
            .connect_timeout(self.config.connect_timeout)
            .request_timeout(self.config.request_timeout)
            .chunk_size(self.config.chunk_size)
            .client_name(concat!("flog-gatherer/", env!("CARGO_PKG_VERSION")))
    }
}

/// Why a poll failed; the message names what was being done.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PollError {
    #[error("unreachable: {0}")]
    Unreachable(ClientError),
    #[error("refused: {0}")]
    Handshake(ClientError),
    #[error("{operation} failed: {source}")]
    Request {
        operation: String,
        source: ClientError,
    },
    #[error("{operation} timed out after {}", human_duration(*after))]
    Timeout { operation: String, after: Duration },
    #[error("cannot {action} {}: {source}", path.display())]
    Store {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// The fetched file on disk is not what was received and verified:
    /// something else wrote to it.
    #[error("{} changed while it was written: the SHA-256 of its bytes is not the one received and verified; discarded", path.display())]
    Changed { path: PathBuf },
    #[error("protocol violation: {0}")]
    Protocol(String),
    #[error("stopped")]
    Stopped,
}

impl PollError {
    /// Whether the connection broke (rather than the publisher misbehaving
    /// or the disk failing).
    pub(crate) fn is_connection_loss(&self) -> bool {
        self.keeps_partial() || matches!(self, PollError::Stopped)
    }

    /// Whether a fetch that failed so keeps what it received, to resume: a
    /// broken connection delivered whole, verified-later chunks.
    pub(crate) fn keeps_partial(&self) -> bool {
        match self {
            PollError::Request { source, .. } => matches!(
                source,
                ClientError::Closed { .. } | ClientError::Wire(_) | ClientError::Timeout { .. }
            ),
            PollError::Timeout { .. } => true,
            _ => false,
        }
    }
}

/// How a connection to a publisher ended.
enum Ended {
    Stopped,
    /// The publisher's URL changed: reconnect at once.
    UrlChanged,
    /// A connection that had been working was lost: reconnect at once, once.
    Lost(PollError),
    Failed(PollError),
}

/// The task of one publisher; returns when `stop` is cancelled.
pub(crate) async fn run_publisher(
    cx: Arc<Context>,
    id: String,
    mut url: watch::Receiver<LogportUrl>,
    stop: CancellationToken,
) {
    let mut worker = Worker {
        backoff: Backoff::new(cx.config.min_backoff, cx.config.max_backoff),
        cx,
        id,
        store: None,
        partial: None,
        last_failure: None,
    };
    loop {
        let wait = match worker.connection(&mut url, &stop).await {
            Ended::Stopped => return,
            Ended::UrlChanged => continue,
            Ended::Lost(error) => {
                tracing::info!(publisher = %worker.id, %error, "connection to {} lost ({error}); reconnecting", worker.id);
                continue;
            }
            Ended::Failed(error) => {
                let wait = worker.backoff.next_wait();
                let redacted = url.borrow().redacted().to_string();
                let text = error.to_string();
                if worker.last_failure.as_deref() == Some(text.as_str()) {
                    tracing::debug!(
                        publisher = %worker.id,
                        %error,
                        retry_in_ms = wait.as_millis() as u64,
                        "{} still failing ({error}); retrying in {}",
                        worker.id,
                        human_duration(wait),
                    );
                } else {
                    worker.last_failure = Some(text);
                    tracing::warn!(
                        publisher = %worker.id,
                        url = %redacted,
                        %error,
                        retry_in_ms = wait.as_millis() as u64,
                        "{} ({redacted}) {error}; retrying in {}",
                        worker.id,
                        human_duration(wait),
                    );
                }
                worker.cx.notify(GatherEvent::Failed {
                    publisher_id: worker.id.clone(),
                    error: error.to_string(),
                    retry_in: wait,
                });
                wait
            }
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = sleep(wait) => {}
            changed = url.changed() => {
                if changed.is_err() {
                    // The gatherer dropped this publisher; stop follows.
                    stop.cancelled().await;
                    return;
                }
                worker.backoff.reset();
            }
        }
    }
}

pub(crate) struct Worker {
    pub(crate) cx: Arc<Context>,
    pub(crate) id: String,
    /// Opened on the first connection; `None` while a blocking task has it.
    pub(crate) store: Option<PublisherStore>,
    /// The temporary file of a fetch cut by a broken connection, to resume.
    pub(crate) partial: Option<Partial>,
    backoff: Backoff,
    /// The failure last reported, so that a failure repeating at every retry
    /// (a dead publisher, a full disk) is reported once, not once per retry.
    last_failure: Option<String>,
}

impl Worker {
    /// One connection: poll rounds until it fails, the URL changes, or stop.
    async fn connection(
        &mut self,
        url_rx: &mut watch::Receiver<LogportUrl>,
        stop: &CancellationToken,
    ) -> Ended {
        let url = url_rx.borrow_and_update().clone();
        if let Err(error) = self.open_store().await {
            return Ended::Failed(error);
        }
        let options = self.cx.client_options();
        let connect = LogportClient::connect_with(&url, options);
        let deadline = self.cx.config.connect_timeout + Duration::from_secs(1);
        let client = match self
            .network(stop, deadline, || "connecting".into(), connect)
            .await
        {
            Ok(client) => client,
            Err(PollError::Request { source, .. }) => {
                return Ended::Failed(match source {
                    ClientError::Connect { .. } | ClientError::Timeout { .. } => {
                        PollError::Unreachable(source)
                    }
                    other => PollError::Handshake(other),
                })
            }
            Err(PollError::Stopped) => return Ended::Stopped,
            Err(error) => return Ended::Failed(error),
        };
        tracing::info!(
            publisher = %self.id,
            url = %url.redacted(),
            pid = client.welcome().pid,
            "connected to {} ({}), pid {}",
            self.id,
            url.redacted(),
            client.welcome().pid
        );
        self.cx.notify(GatherEvent::Connected {
            publisher_id: self.id.clone(),
        });
        let mut notices = self.subscribe(&client, stop).await;
        let mut worked = false;
        loop {
            match self.round(&client, stop).await {
                Ok(()) => {
                    self.backoff.reset();
                    worked = true;
                    if self.last_failure.take().is_some() {
                        tracing::info!(publisher = %self.id, "{} is working again", self.id);
                    }
                }
                Err(PollError::Stopped) => return Ended::Stopped,
                // Publishers close idle connections and restart: a
                // connection that worked is worth one immediate retry.
                Err(error) if worked && error.is_connection_loss() => return Ended::Lost(error),
                Err(error) => return Ended::Failed(error),
            }
            match self.wait_for_news(&mut notices, url_rx, stop).await {
                Some(ended) => return ended,
                None => continue,
            }
        }
    }

    /// Subscribes to incident notices, if configured and the publisher
    /// agrees; polling goes on either way.
    async fn subscribe(
        &self,
        client: &LogportClient,
        stop: &CancellationToken,
    ) -> Option<IncidentSubscription> {
        if !self.cx.config.subscribe {
            return None;
        }
        // No catch-up: the round that follows lists everything before it.
        let subscribe = client.subscribe_to_incidents(false, None);
        let deadline = self.cx.config.request_timeout;
        match self
            .network(stop, deadline, || "subscribing".into(), subscribe)
            .await
        {
            Ok(subscription) => Some(subscription),
            Err(error) => {
                tracing::info!(publisher = %self.id, %error, "{}: no incident notices ({error}); polling every {}", self.id, human_duration(self.cx.config.poll_interval));
                None
            }
        }
    }

    /// Waits for the next poll, or a notice of a new incident. `None` means
    /// poll now.
    async fn wait_for_news(
        &self,
        notices: &mut Option<IncidentSubscription>,
        url_rx: &mut watch::Receiver<LogportUrl>,
        stop: &CancellationToken,
    ) -> Option<Ended> {
        let next_poll = Instant::now() + self.cx.config.poll_interval;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return Some(Ended::Stopped),
                _ = tokio::time::sleep_until(next_poll) => return None,
                changed = url_rx.changed() => {
                    return Some(if changed.is_err() { Ended::Stopped } else { Ended::UrlChanged });
                }
                update = next_notice(notices) => match update {
                    Some(IncidentUpdate::New(info)) => {
                        let latest = self.store.as_ref().and_then(PublisherStore::latest);
                        if latest.is_none_or(|latest| info.name.as_str() > latest) {
                            return None;
                        }
                    }
                    Some(IncidentUpdate::CatchupDone) => {}
                    // Notices were lost: a listing finds what they said.
                    Some(IncidentUpdate::Dropped { .. }) => return None,
                    Some(IncidentUpdate::Ended { .. }) | None => {
                        // The next round tells whether the connection is gone.
                        *notices = None;
                        return None;
                    }
                },
            }
        }
    }

    /// Lists the incidents after the latest one held and fetches each, in
    /// name order, page by page.
    async fn round(
        &mut self,
        client: &LogportClient,
        stop: &CancellationToken,
    ) -> Result<(), PollError> {
        loop {
            let since = self.latest().map(str::to_owned);
            let query = ListQuery {
                since_name: since.clone(),
                since_time: None,
                limit: Some(self.cx.config.page_size),
            };
            let deadline = self.cx.config.request_timeout + Duration::from_secs(1);
            let page = self
                .network(
                    stop,
                    deadline,
                    || "listing incidents".into(),
                    client.list_incidents(&query),
                )
                .await?;
            let mut previous = since.clone();
            for info in page.incidents {
                if let Some(reason) = rejection(&info, previous.as_deref()) {
                    self.reject(&info.name, reason);
                    continue;
                }
                previous = Some(info.name.clone());
                if info.size > self.cx.config.max_incident_size {
                    let reason = format!(
                        "{} exceeds max_incident_size ({}); skipped",
                        human_size(info.size),
                        human_size(self.cx.config.max_incident_size)
                    );
                    self.reject(&info.name, reason);
                    self.skip(&info.name).await?;
                    continue;
                }
                self.fetch(client, &info, stop).await?;
            }
            if !page.more {
                return Ok(());
            }
            if self.latest().map(str::to_owned) == since {
                return Err(PollError::Protocol(
                    "a page of incidents claims more follow but held nothing usable".into(),
                ));
            }
        }
    }

    pub(crate) fn latest(&self) -> Option<&str> {
        self.store.as_ref().and_then(PublisherStore::latest)
    }

    fn reject(&self, name: &str, reason: String) {
        tracing::warn!(publisher = %self.id, incident = name, %reason, "{}: refused incident {name:?}: {reason}", self.id);
        self.cx.notify(GatherEvent::Rejected {
            publisher_id: self.id.clone(),
            name: name.to_owned(),
            reason,
        });
    }

    /// Runs a network step: waits for a turn, then for `step` within
    /// `deadline`, giving up at once when stopped.
    pub(crate) async fn network<T>(
        &self,
        stop: &CancellationToken,
        deadline: Duration,
        operation: impl FnOnce() -> String,
        step: impl Future<Output = Result<T, ClientError>>,
    ) -> Result<T, PollError> {
        let _turn = tokio::select! {
            _ = stop.cancelled() => return Err(PollError::Stopped),
            turn = self.cx.permits.acquire() => turn.map_err(|_| PollError::Stopped)?,
        };
        tokio::select! {
            _ = stop.cancelled() => Err(PollError::Stopped),
            result = timeout(deadline, step) => match result {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(source)) => Err(PollError::Request { operation: operation(), source }),
                Err(_) => Err(PollError::Timeout { operation: operation(), after: deadline }),
            },
        }
    }

    /// Runs blocking work on the store on a blocking thread.
    pub(crate) async fn with_store<T: Send + 'static>(
        &mut self,
        work: impl FnOnce(&mut PublisherStore) -> Result<T, PollError> + Send + 'static,
    ) -> Result<T, PollError> {
        let mut store = self.store.take().expect("the store is open while polling");
        let (store, result) = tokio::task::spawn_blocking(move || {
            let result = work(&mut store);
            (store, result)
        })
        .await
        .expect("store work does not panic");
        self.store = Some(store);
        result
    }

    async fn open_store(&mut self) -> Result<(), PollError> {
        if self.store.is_some() {
            return Ok(());
        }
        let (basedir, id) = (self.cx.basedir.clone(), self.id.clone());
        let recovered = tokio::task::spawn_blocking(move || {
            crate::store::PublisherStore::recover(&basedir, &id)
        })
        .await
        .expect("store recovery does not panic")
        .map_err(|source| PollError::Store {
            action: "open the incident folder of",
            path: self
                .cx
                .basedir
                .join(crate::store::INCIDENTS_DIR)
                .join(&self.id),
            source,
        })?;
        self.store = Some(recovered.store);
        Ok(())
    }

    /// Records a refused incident as handled, so that later ones flow.
    async fn skip(&mut self, name: &str) -> Result<(), PollError> {
        let name = name.to_owned();
        self.with_store(move |store| {
            store.set_latest(&name).map_err(|source| PollError::Store {
                action: "record the latest incident of",
                path: store.stored_path(&name),
                source,
            })
        })
        .await
    }
}

/// Why a listed incident cannot be fetched, if it cannot: a publisher may
/// be hostile, and names become file names here.
fn rejection(info: &IncidentInfo, previous: Option<&str>) -> Option<String> {
    if !is_valid_incident_name(&info.name) {
        return Some("not a valid incident name".into());
    }
    match previous {
        Some(previous) if info.name.as_str() <= previous => Some(format!(
            "not after {previous}, as asked and as names must be"
        )),
        _ => None,
    }
}

async fn next_notice(notices: &mut Option<IncidentSubscription>) -> Option<IncidentUpdate> {
    match notices {
        Some(subscription) => subscription.next().await,
        None => std::future::pending().await,
    }
}

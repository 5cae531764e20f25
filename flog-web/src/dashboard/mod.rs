//! The gatherer's dashboard: the fleet now, recent incidents, trends, an Atom
//! feed, JSON and Prometheus metrics, over a [`Fleet`] the caller implements.
//!
//! The dashboard knows nothing of how the state is gathered: the gatherer
//! feeds it through the small read-only [`Fleet`] trait, and incidents open in
//! the crate's own viewer, mounted at `/view`. The modules form a tree: the
//! router uses one module per kind of response (`feed`, `api`, `metrics`,
//! `snapshot` (the "record an incident now" POSTs, over a [`SnapshotRelay`]
//! the caller implements), and `pages`, whose link helpers the feed, the API
//! and `snapshot` share), which use
//! the leaves `query` (filters) and `trends` (counts).

mod api;
mod feed;
mod metrics;
mod pages;
mod query;
mod routes;
mod sharing;
mod snapshot;
mod trends;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use flog_core::{Clock, Level, SystemClock, Timestamp};
use serde::Serialize;

use crate::source::PathSource;
use crate::viewer::{ConfigError, Viewer};

pub use self::query::{IncidentQuery, QueryProblem, MAX_LIMIT};
pub use self::routes::dashboard_router;
pub use self::sharing::{
    BucketUnreachable, GathererStatus, LeaseStatus, NotShown, SharedBucket, SpoolCounts,
};
pub use self::snapshot::{SnapshotFuture, SnapshotRelay, SnapshotResult};
pub use self::trends::{Bucket, Trends};

/// How the gatherer reaches a publisher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Contact {
    /// The gatherer connects to the publisher's logport.
    Polled,
    /// The publisher connects to the gatherer.
    DialIn,
}

/// One publisher as the gatherer sees it now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublisherStatus {
    /// Its id.
    pub id: String,
    /// Polled or dial-in.
    pub contact: Contact,
    /// Whether a connection is open now.
    pub connected: bool,
    /// Whether the last attempt failed (no success since).
    pub failing: bool,
    /// When the last poll round succeeded.
    #[serde(serialize_with = "utc_opt")]
    pub last_poll: Option<Timestamp>,
    /// How long that round took.
    #[serde(serialize_with = "seconds")]
    pub last_poll_duration: Option<Duration>,
    /// The last error, and when it happened (kept after a success, for the record).
    pub last_error: Option<String>,
    /// When the last error happened.
    #[serde(serialize_with = "utc_opt")]
    pub last_error_at: Option<Timestamp>,
    /// Failed attempts since the gatherer started.
    pub failures: u64,
    /// Successful poll rounds since the gatherer started.
    pub polls: u64,
    /// The time those rounds took, in all.
    #[serde(serialize_with = "seconds_total")]
    pub poll_time: Duration,
    /// Incidents stored from it.
    pub incidents: usize,
    /// Whether this gatherer gathers from it (false: known only from the
    /// shared bucket, and the fields above say nothing).
    pub local: bool,
    /// Its lease in the shared bucket (`storage = "s3"`), if it has one.
    pub lease: Option<LeaseStatus>,
    /// Its `latest` marker in the shared bucket: the latest incident handled
    /// by any gatherer.
    pub latest: Option<String>,
}

/// Times in JSON are RFC 3339 UTC text, as everywhere else people read them.
pub(crate) fn utc<S: serde::Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(t)
}

pub(crate) fn utc_opt<S: serde::Serializer>(
    t: &Option<Timestamp>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.collect_str(t),
        None => s.serialize_none(),
    }
}

pub(crate) fn utc_all<S: serde::Serializer>(ts: &[Timestamp], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(ts.iter().map(Timestamp::to_string))
}

fn seconds<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

fn seconds_total<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl PublisherStatus {
    /// A publisher not heard from yet.
    pub fn new(id: impl Into<String>, contact: Contact) -> PublisherStatus {
        PublisherStatus {
            id: id.into(),
            contact,
            connected: false,
            failing: false,
            last_poll: None,
            last_poll_duration: None,
            last_error: None,
            last_error_at: None,
            failures: 0,
            polls: 0,
            poll_time: Duration::ZERO,
            incidents: 0,
            local: true,
            lease: None,
            latest: None,
        }
    }

    /// A publisher known only from the shared bucket.
    pub fn in_bucket(id: impl Into<String>) -> PublisherStatus {
        PublisherStatus {
            local: false,
            ..PublisherStatus::new(id, Contact::Polled)
        }
    }

    /// Broken: failing, or not connected; one known only from the bucket,
    /// when no live gatherer holds its lease. Broken ones are listed first.
    pub fn is_broken(&self) -> bool {
        if self.local {
            self.failing || !self.connected
        } else {
            self.lease.as_ref().is_none_or(|lease| lease.expired)
        }
    }
}

/// One stored incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentEntry {
    /// The publisher it came from.
    pub publisher: String,
    /// The incident's name.
    pub name: String,
    /// The stored file (not shown: the dashboard opens it in the viewer).
    #[serde(skip)]
    pub path: PathBuf,
    /// When it was triggered: the trigger's time, else the name's.
    #[serde(serialize_with = "utc")]
    pub time: Timestamp,
    /// Its categories (`unknown` when no rule matched).
    pub categories: Vec<String>,
    /// The trigger's level, when the trigger could be read.
    #[serde(serialize_with = "level_name")]
    pub level: Option<Level>,
    /// The trigger's facility.
    pub facility: String,
    /// The trigger's text, rendered and cut to [`MAX_TRIGGER_TEXT`] bytes.
    pub trigger: String,
}

/// The longest trigger text kept per incident, in bytes: a publisher must not
/// decide how much memory the dashboard holds per incident.
pub const MAX_TRIGGER_TEXT: usize = 1024;

fn level_name<S: serde::Serializer>(level: &Option<Level>, s: S) -> Result<S::Ok, S::Error> {
    match level {
        Some(level) => s.serialize_some(&level.to_string()),
        None => s.serialize_none(),
    }
}

impl IncidentEntry {
    /// `text` cut at a character boundary to at most [`MAX_TRIGGER_TEXT`] bytes.
    pub fn cut_trigger(text: &str) -> String {
        if text.len() <= MAX_TRIGGER_TEXT {
            return text.to_owned();
        }
        let mut end = MAX_TRIGGER_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &text[..end])
    }
}

/// What the event gatherer wrote of one publisher since the gatherer started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EventCounts {
    /// Events written to the gathered files.
    pub events: u64,
    /// Gap records written (each a run of events not gathered).
    pub gaps: u64,
    /// Events those gaps cover.
    pub missing: u64,
}

/// The gatherer's own figures, beside the publishers' (for `/metrics`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetFigures {
    /// The event gatherer's counts, by publisher id (empty without one).
    pub events: Vec<(String, EventCounts)>,
    /// Updates of the dashboard's state that were dropped because its
    /// queue was full (the dashboard then re-reads the stored incidents).
    pub dropped_updates: u64,
    /// The event spool (`storage = "s3"` with `[events]`); `None` without.
    pub spool: Option<SpoolCounts>,
}

/// What [`Fleet::refresh`] returns.
pub type RefreshFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// What the dashboard shows: the gatherer's state, read on every request.
/// The calls must be quick (no I/O): keep the state in memory.
pub trait Fleet: Send + Sync + fmt::Debug {
    /// Every publisher, in any order.
    fn publishers(&self) -> Vec<PublisherStatus>;

    /// Every stored incident, in any order.
    fn incidents(&self) -> Arc<Vec<IncidentEntry>>;

    /// The gatherer's own figures; none by default.
    fn figures(&self) -> FleetFigures {
        FleetFigures::default()
    }

    /// The shared bucket's gatherers and what was left out of its listing
    /// (`storage = "s3"`); none by default.
    fn shared_bucket(&self) -> Option<SharedBucket> {
        None
    }

    /// Called before a page or the JSON reads the fleet: a fleet whose
    /// state is partly elsewhere (a shared bucket) may bring it up to date,
    /// within a bounded wait. The default does nothing.
    fn refresh(&self) -> RefreshFuture<'_> {
        Box::pin(std::future::ready(()))
    }
}

/// The dashboard: a [`Fleet`], the viewer its incidents open in, and who may
/// see it. Share it as an `Arc` with [`dashboard_router`].
#[derive(Debug)]
pub struct Dashboard {
    fleet: Arc<dyn Fleet>,
    viewer: Arc<Viewer>,
    token: Option<String>,
    allowed_hosts: Option<Vec<String>>,
    clock: Arc<dyn Clock>,
    /// Incident file -> its number in the viewer, added on first opening.
    opened: Mutex<HashMap<PathBuf, usize>>,
    /// Where "record an incident now" goes; without, there is no button.
    snapshots: Option<Arc<dyn SnapshotRelay>>,
    /// Proves a form was served by this process (against cross-site posts).
    form_token: String,
}

/// Where the viewer is mounted inside the dashboard.
pub const VIEW_BASE: &str = "/view";

/// Builds a [`Dashboard`].
#[must_use]
#[derive(Debug)]
pub struct DashboardBuilder {
    fleet: Arc<dyn Fleet>,
    token: Option<String>,
    allowed_hosts: Option<Vec<String>>,
    clock: Arc<dyn Clock>,
    snapshots: Option<Arc<dyn SnapshotRelay>>,
}

impl DashboardBuilder {
    /// Offer "record an incident now" for each publisher, relayed by `relay`.
    pub fn snapshots(mut self, relay: Arc<dyn SnapshotRelay>) -> Self {
        self.snapshots = Some(relay);
        self
    }

    /// Require this token: as `Authorization: Bearer TOKEN`, as `?token=TOKEN`
    /// (which also sets a cookie, so the pages' links work), or that cookie.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Answer only these `Host` headers (`host:port`), against DNS rebinding;
    /// by default any.
    pub fn allowed_hosts(mut self, hosts: impl IntoIterator<Item = String>) -> Self {
        self.allowed_hosts = Some(hosts.into_iter().collect());
        self
    }

    /// The clock the trends end at (by default the system's).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The dashboard.
    pub fn build(self) -> Result<Dashboard, ConfigError> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(ConfigError::Random)?;
        let form_token = data_encoding::HEXLOWER.encode(&bytes);
        Ok(Dashboard {
            snapshots: self.snapshots,
            form_token,
            fleet: self.fleet,
            viewer: Arc::new(Viewer::builder().base_path(VIEW_BASE).build()?),
            token: self.token,
            allowed_hosts: self.allowed_hosts,
            clock: self.clock,
            opened: Mutex::new(HashMap::new()),
        })
    }
}

impl Dashboard {
    /// A builder over `fleet`.
    pub fn builder(fleet: Arc<dyn Fleet>) -> DashboardBuilder {
        DashboardBuilder {
            fleet,
            token: None,
            allowed_hosts: None,
            clock: Arc::new(SystemClock),
            snapshots: None,
        }
    }

    /// The fleet shown.
    pub fn fleet(&self) -> &dyn Fleet {
        &*self.fleet
    }

    /// Publishers, broken ones first, then by id.
    pub fn publishers_sorted(&self) -> Vec<PublisherStatus> {
        let mut publishers = self.fleet.publishers();
        publishers.sort_by(|a, b| {
            b.is_broken()
                .cmp(&a.is_broken())
                .then_with(|| a.id.cmp(&b.id))
        });
        publishers
    }

    /// The viewer file of an incident, added on first use.
    fn open(&self, entry: &IncidentEntry) -> usize {
        let mut opened = self.opened.lock().unwrap_or_else(PoisonError::into_inner);
        *opened
            .entry(entry.path.clone())
            .or_insert_with(|| self.viewer.add(PathSource::new(&entry.path)))
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn token_ok(&self, offered: Option<&str>) -> bool {
        match (&self.token, offered) {
            (None, _) => true,
            (Some(token), Some(offered)) => constant_time_eq(token.as_bytes(), offered.as_bytes()),
            (Some(_), None) => false,
        }
    }

    fn host_allowed(&self, host: Option<&str>) -> bool {
        match (&self.allowed_hosts, host) {
            (None, _) => true,
            (Some(hosts), Some(host)) => hosts.iter().any(|h| h.eq_ignore_ascii_case(host)),
            (Some(_), None) => false,
        }
    }
}

/// Compares without stopping at the first difference, so the time taken does
/// not tell how much of a guessed token was right.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trigger_text_is_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_TRIGGER_TEXT);
        let cut = IncidentEntry::cut_trigger(&long);
        assert!(cut.len() <= MAX_TRIGGER_TEXT + '…'.len_utf8());
        assert!(cut.ends_with('…'));
        assert_eq!(IncidentEntry::cut_trigger("short"), "short");
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}

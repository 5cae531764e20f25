//! What a gatherer sharing a bucket with others knows of the whole fleet
//! (its [`Fleet`](super::Fleet) gives a [`SharedBucket`]), and its event
//! spool's figures. A leaf: plain data the pages, the JSON and the metrics
//! read.

use serde::Serialize;

use flog_core::Timestamp;

use super::{utc, utc_opt};

/// A publisher's lease in the shared bucket: which gatherer polls it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaseStatus {
    /// The holding gatherer's id (`g-...`).
    pub holder: String,
    /// When the lease runs out unless renewed.
    #[serde(serialize_with = "utc")]
    pub expires: Timestamp,
    /// Whether it had run out when the bucket was read.
    pub expired: bool,
}

/// One gatherer of the bucket, as its heartbeat says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GathererStatus {
    /// Its id (`g-...`, new at each start).
    pub id: String,
    /// When its heartbeat runs out; `null` when it cannot be read.
    #[serde(serialize_with = "utc_opt")]
    pub expires: Option<Timestamp>,
    /// Whether the heartbeat had not run out when the bucket was read.
    pub live: bool,
    /// Whether it is the gatherer serving this dashboard.
    pub this: bool,
}

/// Since when the bucket cannot be read, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BucketUnreachable {
    /// The first failed read of this run of failures.
    #[serde(serialize_with = "utc")]
    pub since: Timestamp,
    /// The last failure.
    pub error: String,
}

/// The bucket several gatherers share, as last read: the gatherers, and
/// what of the listing was left out to keep memory bounded. The publishers
/// and incidents it holds are in [`Fleet::publishers`](super::Fleet::publishers)
/// and [`Fleet::incidents`](super::Fleet::incidents).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SharedBucket {
    /// `s3://BUCKET/PREFIX`.
    pub bucket: String,
    /// The id of the gatherer serving this dashboard; `null` before it runs.
    pub this_gatherer: Option<String>,
    /// When the data shown was read; `null` before a read succeeded.
    #[serde(serialize_with = "utc_opt")]
    pub read_at: Option<Timestamp>,
    /// Set while reads fail: the data shown is then that of `read_at`.
    pub unreachable: Option<BucketUnreachable>,
    /// The gatherers with a heartbeat in the bucket, by id.
    pub gatherers: Vec<GathererStatus>,
    /// Gatherers, publishers and incidents in the bucket beyond those
    /// kept (and shown).
    pub not_shown: NotShown,
}

/// What a bounded read of the bucket left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NotShown {
    /// Gatherers.
    pub gatherers: usize,
    /// Publishers.
    pub publishers: usize,
    /// Incidents (the oldest are left out).
    pub incidents: usize,
}

impl NotShown {
    /// Whether anything was left out.
    pub fn any(&self) -> bool {
        self.gatherers + self.publishers + self.incidents > 0
    }
}

/// The event spool of a gatherer storing into a bucket: closed event files
/// waiting for upload, and what was uploaded since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SpoolCounts {
    /// Closed files waiting.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// The most bytes waiting before the spool is full (`spool_bytes`).
    pub limit: u64,
    /// Whether it is full (events are then counted, not written).
    pub full: bool,
    /// Files uploaded since the gatherer started.
    pub uploaded_files: u64,
    /// Their bytes.
    pub uploaded_bytes: u64,
}

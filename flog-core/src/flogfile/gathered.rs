//! What a gatherer adds to a flogfile: each event's receipt (who sent it,
//! when it arrived), gap records and incarnation changes (docs/flogfile.md,
//! "Gathered files").
//!
//! All of it is shaped so that a reader that predates it skips it: a receipt
//! is a third element of an event record (readers skip elements after the
//! second), gaps and incarnation changes are record types of their own
//! (readers skip record types they do not know).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::time::Timestamp;

/// Where a gathered event came from and when the gatherer received it: the
/// third element of its event record, foolscap's `from`/`rx_time` wrapper.
///
/// The sending logger's incarnation is the event's own (`inc`, `inc_seq`),
/// so it is not repeated here.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Receipt {
    /// The publisher's id (its logport's id, or a foolscap tub id).
    pub from: String,
    /// When the gatherer received the event.
    pub rx_time: Timestamp,
}

/// An event with its receipt, as a gathered file holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceivedEvent {
    /// The event as the publisher sent it.
    pub event: Event,
    /// Who sent it and when it arrived.
    pub receipt: Receipt,
}

/// Why events of a publisher are missing from a gathered file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum GapReason {
    /// The publisher (or the gatherer's client) had to drop them: its queue
    /// for this subscriber overflowed (`events_dropped` on the wire).
    Dropped,
    /// They were logged while the gatherer was not connected and were no
    /// longer in the publisher's buffers when it reconnected (or they fell
    /// out of those buffers before the catch-up reached them).
    NotBuffered,
    /// The gatherer received them but could not write them: its queue for
    /// the file was full (a slow disk), or the disk was full.
    NotWritten,
    /// A reason this reader does not know.
    Unknown(String),
}

impl GapReason {
    /// The name as files carry it.
    pub fn as_str(&self) -> &str {
        match self {
            GapReason::Dropped => "dropped",
            GapReason::NotBuffered => "not_buffered",
            GapReason::NotWritten => "not_written",
            GapReason::Unknown(other) => other,
        }
    }
}

impl fmt::Display for GapReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<String> for GapReason {
    fn from(s: String) -> GapReason {
        match s.as_str() {
            "dropped" => GapReason::Dropped,
            "not_buffered" => GapReason::NotBuffered,
            "not_written" => GapReason::NotWritten,
            _ => GapReason::Unknown(s),
        }
    }
}

impl From<GapReason> for String {
    fn from(r: GapReason) -> String {
        match r {
            GapReason::Unknown(s) => s,
            known => known.as_str().to_owned(),
        }
    }
}

impl Default for GapReason {
    fn default() -> Self {
        GapReason::Unknown(String::new())
    }
}

impl Serialize for GapReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for GapReason {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<GapReason, D::Error> {
        String::deserialize(d).map(GapReason::from)
    }
}

/// A `gap` record: `count` events of one publisher's incarnation that the
/// file does not hold, where they would have been.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Gap {
    /// The publisher's id, as in [`Receipt::from`].
    pub from: String,
    /// The publisher's logger incarnation (as in the header's
    /// `incarnation`: 16 hex digits, `:N` with a counter).
    pub incarnation: String,
    /// How many events are missing.
    pub count: u64,
    /// The lowest missing `num`, when the numbers are known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<u64>,
    /// The highest missing `num`, when the numbers are known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last: Option<u64>,
    /// Why they are missing.
    pub reason: GapReason,
    /// When the gatherer noticed.
    pub rx_time: Timestamp,
}

/// An `incarnation` record: from here on, events of publisher `from` come
/// from a new logger incarnation (the service restarted), whose numbers
/// start afresh.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct IncarnationChange {
    /// The publisher's id.
    pub from: String,
    /// The new incarnation.
    pub incarnation: String,
    /// The incarnation this gatherer last stored events of, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// The publisher's process id, from its welcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// When the gatherer noticed.
    pub rx_time: Timestamp,
}

//! What flog keeps in a crash ring file (see [`crate::mapped`], payload-
//! agnostic), read back as flog's: the writer's meta as [`RingMeta`], and
//! what reading its records as events gives ([`RingEvents`], made by
//! [`ring_events`](crate::ring_events), beside the buffers that wrote them).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::incarnation::Incarnation;
use crate::mapped::{RingContents, RingWarning};
use crate::time::Timestamp;

/// The file a crash ring lives in, in the logdir.
pub const RING_FILE: &str = "ring";
/// What an unreadable ring file is renamed to, for a person to look at.
pub const UNREADABLE_RING_FILE: &str = "ring.unreadable";

/// What a ring file's writer says about itself (its meta bytes, CBOR): what
/// a crash report's header carries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RingMeta {
    /// Process id.
    pub pid: Option<u32>,
    /// The logger's incarnation.
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "crate::incarnation::optional_text"
    )]
    pub incarnation: Option<Incarnation>,
    /// Host name.
    pub host: Option<String>,
    /// When the logger started.
    pub started: Option<Timestamp>,
    /// Versions of the service's components, when the ring was made.
    pub versions: BTreeMap<String, String>,
}

impl RingMeta {
    /// The meta bytes; versions are left out if they would not fit the
    /// 4 KiB a ring file keeps.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = ciborium::into_writer(self, &mut out);
        if out.len() > 4096 {
            out.clear();
            let short = RingMeta {
                versions: BTreeMap::new(),
                ..self.clone()
            };
            let _ = ciborium::into_writer(&short, &mut out);
        }
        out
    }

    /// The meta of `contents`; what cannot be read is left out (the pid and
    /// start time in the file's fixed header still serve).
    pub fn of(contents: &RingContents) -> RingMeta {
        let mut meta: RingMeta =
            ciborium::from_reader(contents.meta.as_slice()).unwrap_or_default();
        meta.pid = meta.pid.or(Some(contents.pid));
        meta.started = meta.started.or(Some(Timestamp(contents.started)));
        meta
    }
}

/// The events of a ring file, from [`ring_events`](crate::ring_events).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RingEvents {
    /// Every complete event, in `num` order, each once.
    pub events: Vec<Event>,
    /// Records that were complete but are no event this reader knows.
    pub undecodable: usize,
    /// Events left out as already recorded in an incident report.
    pub excluded: usize,
    /// What was wrong with the records or the dictionary they name.
    pub warnings: Vec<RingWarning>,
}

//! What a file is, in a few lines: the summary page and `summary.json`.

use std::collections::BTreeMap;

use flog_core::{
    flogfile::{EndReason, FlogContents},
    Level, Timestamp,
};
use serde::Serialize;

use crate::file::LoadedFile;

/// A trailer's `end` for people.
fn describe_end(end: Option<&EndReason>) -> String {
    match end {
        Some(EndReason::EventLimit) => "the trailing-event limit was reached".into(),
        Some(EndReason::Delay) => "the trailing delay ran out".into(),
        Some(EndReason::Immediate) => "no trailing events were asked for".into(),
        Some(EndReason::Shutdown) => "the logger shut down while recording".into(),
        Some(EndReason::Recovered) => {
            "the process died while recording; a later start finished the file".into()
        }
        Some(EndReason::Failed) => "writing the report failed".into(),
        Some(EndReason::Killed) => {
            "a crash report: the process died without closing its crash ring".into()
        }
        Some(other) => format!("\"{other}\""),
        None => "the trailer does not say".into(),
    }
}

/// Events at one level.
#[derive(Debug, Clone, Serialize)]
pub struct LevelCount {
    /// The level's number.
    pub level: u16,
    /// Its name (`WEIRD`, or `LEVEL17` for an unnamed one).
    pub name: String,
    /// How many events.
    pub count: usize,
}

/// One trigger of an incident.
#[derive(Debug, Clone, Serialize)]
pub struct TriggerSummary {
    /// Its number.
    pub num: u64,
    /// Its key in the viewer's URLs, when the event is in the file.
    pub key: Option<String>,
    /// `facility: message` (from the event, or the header's copy of it).
    pub text: Option<String>,
    /// Its level name.
    pub level: Option<String>,
}

/// The trailer, for people.
#[derive(Debug, Clone, Serialize)]
pub struct TrailerSummary {
    /// The raw `end` value.
    pub end: String,
    /// Why recording ended, in words.
    pub why: String,
    /// Events recorded after the trigger.
    pub trailing_events: u64,
    /// The process died and a later start finished the file.
    pub recovered: bool,
    /// A partial last record was dropped while recovering.
    pub truncated: bool,
    /// When recording ended (epoch µs).
    pub finished_us: Option<i64>,
}

/// A file at a glance.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The file's label.
    pub label: String,
    /// The header's `type` (`incident`, `tail`, `gathered`, ...), `None` without
    /// a header.
    pub kind: Option<String>,
    /// The incident name.
    pub name: Option<String>,
    /// Process id.
    pub pid: Option<u32>,
    /// Host name.
    pub host: Option<String>,
    /// Logger incarnation.
    pub incarnation: Option<String>,
    /// Component versions.
    pub versions: BTreeMap<String, String>,
    /// When recording started (epoch µs).
    pub started_us: Option<i64>,
    /// How many events.
    pub events: usize,
    /// The earliest event time (epoch µs).
    pub first_us: Option<i64>,
    /// The latest event time (epoch µs).
    pub last_us: Option<i64>,
    /// `last - first`, in seconds.
    pub covering_seconds: f64,
    /// Events per level, lowest level first.
    pub levels: Vec<LevelCount>,
    /// The incident's triggers, the first one first.
    pub triggers: Vec<TriggerSummary>,
    /// Triggers dropped by storm control before this incident.
    pub suppressed_triggers: u64,
    /// The trailer, if the file has one.
    pub trailer: Option<TrailerSummary>,
    /// The file ends inside a record: still being written, or its writer died.
    pub truncated: bool,
    /// What went wrong reading it, if anything (the events before are shown).
    pub damage: Option<String>,
    /// Records of kinds this viewer does not know, skipped.
    pub unknown_records: u64,
    /// Distinct origins of the events (empty when the file has one source).
    pub origins: Vec<String>,
}

impl Summary {
    /// Sums up a loaded file.
    pub fn of(file: &LoadedFile) -> Summary {
        let contents: &FlogContents = &file.contents;
        let header = contents.header.as_ref();
        let events = &contents.events;
        let first = events.iter().map(|e| e.time).min();
        let last = events.iter().map(|e| e.time).max();
        let covering_seconds = match (first, last) {
            (Some(Timestamp(a)), Some(Timestamp(b))) => (b - a) as f64 / 1e6,
            _ => 0.0,
        };
        let mut levels: BTreeMap<Level, usize> = BTreeMap::new();
        for e in events {
            *levels.entry(e.level).or_default() += 1;
        }
        let trailer = contents.trailer.as_ref().map(|t| TrailerSummary {
            end: t.end.as_ref().map_or_else(String::new, ToString::to_string),
            why: describe_end(t.end.as_ref()),
            trailing_events: t.trailing_events,
            recovered: t.recovered,
            truncated: t.truncated,
            finished_us: t.finished.map(|f| f.0),
        });
        Summary {
            label: file.label.clone(),
            kind: header.map(|h| {
                h.kind
                    .as_ref()
                    .map_or_else(String::new, ToString::to_string)
            }),
            name: header.and_then(|h| h.name.clone()),
            pid: header.and_then(|h| h.pid),
            host: header.and_then(|h| h.host.clone()),
            incarnation: header.and_then(|h| h.incarnation).map(|i| i.to_string()),
            versions: header.map(|h| h.versions.clone()).unwrap_or_default(),
            started_us: header.and_then(|h| h.started).map(|s| s.0),
            events: events.len(),
            first_us: first.map(|t| t.0),
            last_us: last.map(|t| t.0),
            covering_seconds,
            levels: levels
                .into_iter()
                .map(|(level, count)| LevelCount {
                    level: level.0,
                    name: level.to_string(),
                    count,
                })
                .collect(),
            triggers: triggers(file),
            suppressed_triggers: header.map_or(0, |h| h.suppressed_triggers),
            trailer,
            truncated: contents.damage.as_ref().is_some_and(|d| d.is_truncated()),
            damage: contents.damage.as_ref().map(|d| d.to_string()),
            unknown_records: contents.unknown_records,
            origins: file.origin_names().to_vec(),
        }
    }
}

fn triggers(file: &LoadedFile) -> Vec<TriggerSummary> {
    let header_trigger = file
        .contents
        .header
        .as_ref()
        .and_then(|h| h.trigger.as_ref());
    file.trigger_nums()
        .iter()
        .map(|&num| {
            let index = file.trigger_index(num);
            let event = index
                .map(|i| &file.contents.events[i])
                .or(header_trigger.filter(|t| t.num == num));
            TriggerSummary {
                num,
                key: index.map(|i| file.key(i)),
                text: event.map(|e| match &e.facility {
                    Some(f) => format!("{f}: {}", e.render()),
                    None => e.render().into_owned(),
                }),
                level: event.map(|e| e.level.to_string()),
            }
        })
        .collect()
}

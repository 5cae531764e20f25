use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, IgnoredAny, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::gathered::{Gap, IncarnationChange, Receipt, ReceivedEvent};
use super::kinds::{EndReason, HeaderKind};
use crate::event::Event;
use crate::incarnation::Incarnation;
use crate::time::Timestamp;

/// The first record of a flogfile: what the file is and where it came from.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Header {
    /// What the file is: `incident`, `tail`, `gathered`, ...; `None` when
    /// the header does not say.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<HeaderKind>,
    /// The incident name, for incident reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The event that declared the incident.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Event>,
    /// Process id of the service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Versions of the service's components.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub versions: BTreeMap<String, String>,
    /// The logger incarnation (written as hex, with `:seq` when it has a
    /// counter; a text that is not one reads as `None`).
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "crate::incarnation::optional_text"
    )]
    pub incarnation: Option<Incarnation>,
    /// Host name of the machine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// When recording started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started: Option<Timestamp>,
    /// Triggers suppressed by storm control since the previous incident.
    #[serde(skip_serializing_if = "is_zero")]
    pub suppressed_triggers: u64,
}

/// The last record of a finished incident report.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Trailer {
    /// `num` of every trigger recorded by this incident, the first one first.
    pub triggers: Vec<u64>,
    /// How many events were recorded after the trigger.
    pub trailing_events: u64,
    /// Why recording ended; `None` when the trailer does not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<EndReason>,
    /// The process died while recording; a later start finished the file.
    #[serde(skip_serializing_if = "is_false")]
    pub recovered: bool,
    /// The recovered file ended in a partial record, which was dropped.
    #[serde(skip_serializing_if = "is_false")]
    pub truncated: bool,
    /// When recording ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished: Option<Timestamp>,
    /// How many events the file holds, where its writer counted them (a
    /// gathered file closed by recovery); `None` when the trailer does not
    /// say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<u64>,
    /// A crash report: events numbered up to this one were in an incident
    /// report the process recorded itself, so they are left out here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excluded_through: Option<u64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
fn is_false(b: &bool) -> bool {
    !*b
}

/// One record of a flogfile.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// The file header.
    Header(Box<Header>),
    /// An event.
    Event(Box<Event>),
    /// The trailer.
    Trailer(Trailer),
    /// An event with the receipt a gatherer added (an event record with a
    /// third element).
    Received(Box<ReceivedEvent>),
    /// Events of a publisher that a gathered file does not hold.
    Gap(Box<Gap>),
    /// A publisher's events come from a new incarnation from here on.
    IncarnationChange(Box<IncarnationChange>),
    /// A record type this reader does not know (skipped, kept for the count).
    Unknown(String),
}

impl Record {
    /// The event this record holds, with or without a receipt.
    pub fn event(&self) -> Option<&Event> {
        match self {
            Record::Event(event) => Some(event),
            Record::Received(received) => Some(&received.event),
            _ => None,
        }
    }
}

/// A record borrowed for writing: `[type, body]`.
pub(crate) struct RecordRef<'a, T>(pub(crate) &'static str, pub(crate) &'a T);

impl<T: Serialize> Serialize for RecordRef<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(self.0)?;
        t.serialize_element(self.1)?;
        t.end()
    }
}

/// An event record borrowed for writing with its receipt: `["event", body,
/// receipt]`; readers that know no receipts skip the third element.
pub(crate) struct ReceivedRef<'a>(pub(crate) &'a Event, pub(crate) &'a Receipt);

impl Serialize for ReceivedRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(3)?;
        t.serialize_element("event")?;
        t.serialize_element(self.0)?;
        t.serialize_element(self.1)?;
        t.end()
    }
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Record, D::Error> {
        d.deserialize_seq(RecordVisitor)
    }
}

struct RecordVisitor;

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = Record;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a [type, body] record")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Record, A::Error> {
        let kind: Cow<'de, str> = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let missing = || de::Error::invalid_length(1, &RecordVisitor);
        let record = match kind.as_ref() {
            "event" => {
                let event: Event = seq.next_element()?.ok_or_else(missing)?;
                match seq.next_element::<Receipt>()? {
                    None => Record::Event(Box::new(event)),
                    Some(receipt) => Record::Received(Box::new(ReceivedEvent { event, receipt })),
                }
            }
            "gap" => Record::Gap(Box::new(seq.next_element()?.ok_or_else(missing)?)),
            "incarnation" => {
                Record::IncarnationChange(Box::new(seq.next_element()?.ok_or_else(missing)?))
            }
            "header" => Record::Header(Box::new(seq.next_element()?.ok_or_else(missing)?)),
            "trailer" => Record::Trailer(seq.next_element()?.ok_or_else(missing)?),
            other => {
                let other = other.to_owned();
                seq.next_element::<IgnoredAny>()?;
                Record::Unknown(other)
            }
        };
        // Later versions may append elements to a record; skip them.
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(record)
    }
}

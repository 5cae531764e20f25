use std::borrow::Cow;
use std::fmt::{self, Write as _};

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use smallvec::SmallVec;

use crate::incarnation::Incarnation;
use crate::level::Level;
use crate::time::Timestamp;
use crate::value::{serialize_entries, visit_entries, Value};

/// An event's structured fields, in the order they were given.
///
/// Up to four fields live inline, so a typical call site allocates nothing for them.
pub type Fields = SmallVec<[(Cow<'static, str>, Value); 4]>;

/// The text of an event: plain, or a format string rendered only when displayed.
#[derive(Clone, Debug, PartialEq)]
pub enum Text {
    /// Plain text, shown as is.
    Message(Cow<'static, str>),
    /// `{name}` placeholders filled from the event's fields when rendered;
    /// `{{` and `}}` stand for literal braces.
    Format(Cow<'static, str>),
}

impl Default for Text {
    fn default() -> Self {
        Text::Message(Cow::Borrowed(""))
    }
}

/// One log event.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Event {
    /// Sequence number, strictly increasing per logger incarnation.
    pub num: u64,
    /// When it was generated (UTC).
    pub time: Timestamp,
    /// Which logger run generated it.
    pub incarnation: Incarnation,
    /// Severity.
    pub level: Level,
    /// Dotted hierarchical name, e.g. `app.db.pool`.
    pub facility: Option<Cow<'static, str>>,
    /// The message or lazy format string.
    pub text: Text,
    /// Structured fields.
    pub fields: Fields,
    /// The `num` of the event this one follows from.
    pub parent: Option<u64>,
    /// Whether this event reports an error.
    pub is_error: bool,
    /// Failure or backtrace text.
    pub failure: Option<String>,
    /// A stack trace captured on request.
    pub stack: Option<String>,
}

impl Event {
    /// The facility, or `""` when the event has none.
    pub fn facility(&self) -> &str {
        self.facility.as_deref().unwrap_or("")
    }

    /// The value of a field.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|(k, _)| k.as_ref() == name)
            .map(|(_, v)| v)
    }

    /// The raw text: the message, or the format string unrendered.
    pub fn raw_text(&self) -> &str {
        match &self.text {
            Text::Message(m) | Text::Format(m) => m,
        }
    }

    /// The event's text for people: format placeholders substituted from the
    /// fields. Never fails: a missing field or a malformed format string gives the
    /// raw text followed by a `[flog: ...]` marker saying what was wrong.
    pub fn render(&self) -> Cow<'_, str> {
        match &self.text {
            Text::Message(m) => Cow::Borrowed(m),
            Text::Format(f) => match render_format(f, &self.fields) {
                Ok(s) => Cow::Owned(s),
                Err(problem) => Cow::Owned(format!("{f} [flog: {problem}]")),
            },
        }
    }
}

/// An event body could not be decoded from CBOR.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot decode event: {0}")]
pub struct DecodeError(String);

impl Event {
    /// The event body as CBOR: the encoding of an event record's body in a
    /// flogfile, and of an event on the logport.
    pub fn to_cbor(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        // Writing to a Vec cannot fail and every Event can be encoded.
        let _ = ciborium::into_writer(self, &mut out);
        out
    }

    /// Decodes an event body encoded by [`to_cbor`](Self::to_cbor).
    pub fn from_cbor(bytes: &[u8]) -> Result<Event, DecodeError> {
        ciborium::from_reader(bytes).map_err(|e| DecodeError(e.to_string()))
    }
}

fn render_format(format: &str, fields: &[(Cow<'static, str>, Value)]) -> Result<String, String> {
    let mut out = String::with_capacity(format.len() + 16);
    let mut rest = format;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let brace = rest.as_bytes()[i];
        let after = &rest[i + 1..];
        if after.as_bytes().first() == Some(&brace) {
            out.push(brace as char);
            rest = &after[1..];
            continue;
        }
        if brace == b'}' {
            return Err(format!(
                "unmatched '}}' at byte {}",
                format.len() - rest.len() + i
            ));
        }
        let end = after
            .find(['{', '}'])
            .filter(|&j| after.as_bytes()[j] == b'}')
            .ok_or_else(|| "unclosed '{'".to_owned())?;
        let name = after[..end].trim();
        if name.is_empty() {
            return Err("empty placeholder '{}'".to_owned());
        }
        let value = fields
            .iter()
            .find(|(k, _)| k.as_ref() == name)
            .map(|(_, v)| v)
            .ok_or_else(|| format!("missing field '{name}'"))?;
        let _ = write!(out, "{value}");
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl fmt::Display for Event {
    /// `TIME LEVEL facility: text`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.time, self.level)?;
        if let Some(fac) = &self.facility {
            write!(f, " {fac}")?;
        }
        write!(f, ": {}", self.render())
    }
}

// Events are encoded by hand rather than derived: optional keys are left out, the
// text is one of two keys, and decoding skips keys it does not know, which is what
// lets the flogfile format grow.
impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let len = 5
            + usize::from(self.incarnation.sequential.is_some())
            + usize::from(self.facility.is_some())
            + usize::from(!self.fields.is_empty())
            + usize::from(self.parent.is_some())
            + usize::from(self.is_error)
            + usize::from(self.failure.is_some())
            + usize::from(self.stack.is_some());
        let mut map = s.serialize_map(Some(len))?;
        map.serialize_entry("num", &self.num)?;
        map.serialize_entry("time", &self.time.0)?;
        map.serialize_entry("inc", &Bytes8(&self.incarnation.unique))?;
        if let Some(seq) = self.incarnation.sequential {
            map.serialize_entry("inc_seq", &seq)?;
        }
        map.serialize_entry("level", &self.level.0)?;
        if let Some(fac) = &self.facility {
            map.serialize_entry("facility", fac.as_ref())?;
        }
        match &self.text {
            Text::Message(m) => map.serialize_entry("message", m.as_ref())?,
            Text::Format(f) => map.serialize_entry("format", f.as_ref())?,
        }
        if !self.fields.is_empty() {
            map.serialize_entry("fields", &FieldsRef(&self.fields))?;
        }
        if let Some(parent) = self.parent {
            map.serialize_entry("parent", &parent)?;
        }
        if self.is_error {
            map.serialize_entry("is_error", &true)?;
        }
        if let Some(failure) = &self.failure {
            map.serialize_entry("failure", failure)?;
        }
        if let Some(stack) = &self.stack {
            map.serialize_entry("stack", stack)?;
        }
        map.end()
    }
}

struct Bytes8<'a>(&'a [u8; 8]);
impl Serialize for Bytes8<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

struct FieldsRef<'a>(&'a Fields);
impl Serialize for FieldsRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_entries(self.0, s)
    }
}

struct FieldsOwned(Fields);
impl<'de> Deserialize<'de> for FieldsOwned {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FieldsOwned;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of fields")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FieldsOwned, A::Error> {
                Ok(FieldsOwned(visit_entries(map)?.into()))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Event, D::Error> {
        d.deserialize_map(EventVisitor)
    }
}

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = Event;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
        let mut event = Event::default();
        let mut have_num = false;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "num" => {
                    event.num = map.next_value()?;
                    have_num = true;
                }
                "time" => event.time = Timestamp(map.next_value()?),
                "inc" => {
                    let bytes: serde_bytes::ByteBuf = map.next_value()?;
                    let n = bytes.len().min(8);
                    event.incarnation.unique[..n].copy_from_slice(&bytes[..n]);
                }
                "inc_seq" => event.incarnation.sequential = map.next_value()?,
                "level" => event.level = Level(map.next_value()?),
                "facility" => event.facility = map.next_value::<Option<String>>()?.map(Cow::Owned),
                "message" => event.text = Text::Message(Cow::Owned(map.next_value()?)),
                "format" => event.text = Text::Format(Cow::Owned(map.next_value()?)),
                "fields" => event.fields = map.next_value::<FieldsOwned>()?.0,
                "parent" => event.parent = map.next_value()?,
                "is_error" => event.is_error = map.next_value()?,
                "failure" => event.failure = map.next_value()?,
                "stack" => event.stack = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !have_num {
            return Err(de::Error::missing_field("num"));
        }
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt_event(format: &'static str, fields: &[(&'static str, Value)]) -> Event {
        Event {
            text: Text::Format(format.into()),
            fields: fields
                .iter()
                .map(|(k, v)| ((*k).into(), v.clone()))
                .collect(),
            ..Event::default()
        }
    }

    #[test]
    fn lazy_format_substitutes_fields() {
        let e = fmt_event(
            "pool exhausted after {waited_ms} ms ({who})",
            &[("waited_ms", 250.into()), ("who", "db".into())],
        );
        assert_eq!(e.render(), "pool exhausted after 250 ms (db)");
        let braces = fmt_event("{{literal}} {x}}}", &[("x", 1.into())]);
        assert_eq!(braces.render(), "{literal} 1}");
        assert_eq!(
            fmt_event("no placeholders", &[]).render(),
            "no placeholders"
        );
        assert_eq!(fmt_event("", &[]).render(), "");
        assert_eq!(
            fmt_event("{ spaced }", &[("spaced", true.into())]).render(),
            "true"
        );
        assert_eq!(
            fmt_event("ünïcödé {x}", &[("x", "✓".into())]).render(),
            "ünïcödé ✓"
        );
    }

    #[test]
    fn bad_formats_render_raw_text_with_a_marker() {
        let cases = [
            ("{missing}", "{missing} [flog: missing field 'missing']"),
            ("open {", "open { [flog: unclosed '{']"),
            ("close }", "close } [flog: unmatched '}' at byte 6]"),
            ("{}", "{} [flog: empty placeholder '{}']"),
            ("{a{b}", "{a{b} [flog: unclosed '{']"),
        ];
        for (format, want) in cases {
            assert_eq!(fmt_event(format, &[("a", 1.into())]).render(), want);
        }
        let plain = Event {
            text: Text::Message("a {b} c".into()),
            ..Event::default()
        };
        assert_eq!(plain.render(), "a {b} c", "messages are never formatted");
    }

    #[test]
    fn events_round_trip_and_unknown_keys_are_ignored() {
        let mut e = fmt_event("x={x}", &[("x", 3.into())]);
        e.num = 42;
        e.time = Timestamp(1_700_000_000_123_456);
        e.incarnation = Incarnation {
            unique: [1, 2, 3, 4, 5, 6, 7, 8],
            sequential: Some(9),
        };
        e.level = Level::WEIRD;
        e.facility = Some("app.db".into());
        e.parent = Some(41);
        e.is_error = true;
        e.failure = Some("boom".into());
        let mut buf = Vec::new();
        ciborium::into_writer(&e, &mut buf).unwrap();
        let back: Event = ciborium::from_reader(buf.as_slice()).unwrap();
        assert_eq!(back, e);

        let extended = ciborium::Value::Map(vec![
            ("num".into(), 7.into()),
            ("future_key".into(), ciborium::Value::Array(vec![1.into()])),
            ("message".into(), "hi".into()),
        ]);
        let mut buf = Vec::new();
        ciborium::into_writer(&extended, &mut buf).unwrap();
        let back: Event = ciborium::from_reader(buf.as_slice()).unwrap();
        assert_eq!((back.num, back.render().as_ref()), (7, "hi"));

        let no_num = ciborium::Value::Map(vec![("message".into(), "hi".into())]);
        let mut buf = Vec::new();
        ciborium::into_writer(&no_num, &mut buf).unwrap();
        assert!(ciborium::from_reader::<Event, _>(buf.as_slice()).is_err());
    }
}

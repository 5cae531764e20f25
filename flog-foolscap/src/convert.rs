//! Event and header mapping between flog and foolscap (see `docs/flogfile.md`).

use std::borrow::Cow;

use flog_core::{
    flogfile::{Header, HeaderKind},
    Event, Level, Text, Timestamp, Value,
};
use serde_json::{json, Map, Number, Value as Json};

use crate::printf::{self, Args};

/// Keys of a foolscap event dict that are not structured fields.
const RESERVED: &[&str] = &[
    "num",
    "time",
    "incarnation",
    "level",
    "facility",
    "message",
    "format",
    "args",
    "isError",
    "failure",
    "stacktrace",
    "parent",
];

/// What a flog field is called in foolscap: its own name unless that is taken.
fn export_name(name: &str) -> String {
    if RESERVED.contains(&name) || name.starts_with('_') {
        format!("flog_{name}")
    } else {
        name.to_owned()
    }
}

fn value_to_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => json!(i),
        Value::UInt(u) => json!(u),
        // JSON has no NaN or infinities: keep them as text rather than lose them.
        Value::Float(f) => {
            Number::from_f64(*f).map_or_else(|| Json::String(f.to_string()), Json::Number)
        }
        Value::Text(t) => Json::String(t.to_string()),
        Value::Bytes(b) => {
            json!({"@": "Bytes", "hex": data_encoding::HEXLOWER.encode(b)})
        }
        Value::List(items) => Json::Array(items.iter().map(value_to_json).collect()),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| (k.to_string(), value_to_json(v)))
                .collect(),
        ),
    }
}

fn json_to_value(j: &Json) -> Value {
    match j {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => n
            .as_i64()
            .map(Value::Int)
            .or_else(|| n.as_u64().map(Value::UInt))
            .unwrap_or_else(|| Value::Float(n.as_f64().unwrap_or(f64::NAN))),
        Json::String(s) => Value::Text(Cow::Owned(s.clone())),
        Json::Array(items) => Value::List(items.iter().map(json_to_value).collect()),
        Json::Object(m) => {
            if m.get("@").and_then(Json::as_str) == Some("Bytes") {
                if let Some(bytes) = m.get("hex").and_then(Json::as_str).and_then(unhex) {
                    return Value::Bytes(bytes);
                }
            }
            Value::Map(
                m.iter()
                    .map(|(k, v)| (Cow::Owned(k.clone()), json_to_value(v)))
                    .collect(),
            )
        }
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn seconds(t: Timestamp) -> Json {
    json!(t.as_micros() as f64 / 1e6)
}

pub(crate) fn timestamp(j: Option<&Json>) -> Timestamp {
    Timestamp(
        j.and_then(Json::as_f64)
            .map_or(0, |s| (s * 1e6).round() as i64),
    )
}

/// A flog event as a foolscap event dict.
pub fn event_to_foolscap(e: &Event) -> Json {
    let mut d = Map::new();
    d.insert("num".into(), json!(e.num));
    d.insert("time".into(), seconds(e.time));
    d.insert(
        "incarnation".into(),
        json!([e.incarnation.hex(), e.incarnation.sequential]),
    );
    d.insert("level".into(), json!(e.level.number()));
    if let Some(f) = &e.facility {
        d.insert("facility".into(), json!(f));
    }
    match &e.text {
        Text::Message(m) => {
            d.insert("message".into(), json!(m));
        }
        Text::Format(f) => match printf::from_flog_format(f, export_name) {
            Some(pf) => {
                d.insert("format".into(), json!(pf));
            }
            // Unconvertible (malformed) formats travel as their rendering.
            None => {
                d.insert("message".into(), json!(e.render()));
            }
        },
    }
    for (k, v) in &e.fields {
        d.insert(export_name(k), value_to_json(v));
    }
    if let Some(p) = e.parent {
        d.insert("parent".into(), json!(p));
    }
    if e.is_error {
        d.insert("isError".into(), json!(1));
    }
    if let Some(f) = &e.failure {
        let first = f.lines().next().unwrap_or_default();
        d.insert(
            "failure".into(),
            json!({"@": "Failure", "str": first, "repr": first, "traceback": f}),
        );
    }
    if let Some(s) = &e.stack {
        d.insert("stacktrace".into(), json!(s.lines().collect::<Vec<_>>()));
    }
    Json::Object(d)
}

/// A foolscap event dict as a flog event. Lenient, as a reader of files from
/// many foolscap versions must be: missing keys take defaults.
pub fn event_from_foolscap(d: &Map<String, Json>) -> Event {
    let mut e = Event {
        num: d.get("num").and_then(Json::as_u64).unwrap_or(0),
        time: timestamp(d.get("time")),
        level: Level(
            d.get("level")
                .and_then(Json::as_u64)
                .map_or(20, |l| l.min(u64::from(u16::MAX)) as u16),
        ),
        facility: d
            .get("facility")
            .and_then(Json::as_str)
            .map(|f| Cow::Owned(f.to_owned())),
        parent: d.get("parent").and_then(Json::as_u64),
        is_error: d
            .get("isError")
            .is_some_and(|v| v.as_i64().unwrap_or(0) != 0 || v == &json!(true)),
        ..Event::default()
    };
    if let Some(Json::Array(inc)) = d.get("incarnation") {
        if let Some(bytes) = inc.first().and_then(Json::as_str).and_then(unhex) {
            let n = bytes.len().min(8);
            e.incarnation.unique[..n].copy_from_slice(&bytes[..n]);
        }
        e.incarnation.sequential = inc.get(1).and_then(Json::as_u64);
    }
    let fields: Map<String, Json> = d
        .iter()
        .filter(|(k, _)| !RESERVED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    e.text = if let Some(format) = d.get("format").and_then(Json::as_str) {
        match printf::to_flog_format(format, &fields) {
            Some(f) => Text::Format(Cow::Owned(f)),
            None => Text::Message(Cow::Owned(
                printf::render(format, Args::Map(d))
                    .unwrap_or_else(|| format!("{format} [flog: cannot render foolscap format]")),
            )),
        }
    } else {
        let message = d.get("message").map(printf::py_str).unwrap_or_default();
        match d.get("args").and_then(Json::as_array) {
            Some(args) if !args.is_empty() => Text::Message(Cow::Owned(
                printf::render(&message, Args::Tuple(args)).unwrap_or(message),
            )),
            _ => Text::Message(Cow::Owned(message)),
        }
    };
    e.fields = fields
        .iter()
        .map(|(k, v)| (Cow::Owned(k.clone()), json_to_value(v)))
        .collect();
    if let Some(args) = d
        .get("args")
        .filter(|a| a.as_array().is_some_and(|a| !a.is_empty()))
    {
        e.fields.push((Cow::Borrowed("args"), json_to_value(args)));
    }
    e.failure = d.get("failure").map(|f| match f {
        Json::Object(m) => ["traceback", "str", "repr"]
            .iter()
            .find_map(|k| m.get(*k).and_then(Json::as_str))
            .unwrap_or("failure")
            .to_owned(),
        other => printf::py_str(other),
    });
    e.stack = d.get("stacktrace").map(|s| match s {
        Json::Array(lines) => lines
            .iter()
            .map(printf::py_str)
            .collect::<Vec<_>>()
            .join("\n"),
        other => printf::py_str(other),
    });
    e
}

/// A flog header as a foolscap header dict (flog-only keys are kept; foolscap
/// ignores keys it does not know).
pub fn header_to_foolscap(h: &Header) -> Json {
    let mut m = Map::new();
    // foolscap's tools read `type` from every header, so it is always there.
    let kind = match &h.kind {
        Some(HeaderKind::Gathered) => "gatherer",
        Some(kind) => kind.as_str(),
        None => "",
    };
    m.insert("type".into(), json!(kind));
    if let Some(t) = &h.trigger {
        m.insert("trigger".into(), event_to_foolscap(t));
    }
    if let Some(pid) = h.pid {
        m.insert("pid".into(), json!(pid));
    }
    m.insert("versions".into(), json!(h.versions));
    if let Some(name) = &h.name {
        m.insert("flog_name".into(), json!(name));
    }
    if let Some(host) = &h.host {
        m.insert("flog_host".into(), json!(host));
    }
    if let Some(inc) = &h.incarnation {
        m.insert("flog_incarnation".into(), json!(inc.to_string()));
    }
    if let Some(t) = h.started {
        m.insert("start".into(), seconds(t));
    }
    if h.suppressed_triggers > 0 {
        m.insert(
            "flog_suppressed_triggers".into(),
            json!(h.suppressed_triggers),
        );
    }
    Json::Object(m)
}

/// A foolscap header dict as a flog header.
pub fn header_from_foolscap(m: &Map<String, Json>) -> Header {
    let kind = m.get("type").and_then(Json::as_str).map(|kind| match kind {
        "gatherer" => HeaderKind::Gathered,
        other => HeaderKind::from(other),
    });
    Header {
        kind,
        name: m.get("flog_name").and_then(Json::as_str).map(str::to_owned),
        trigger: m
            .get("trigger")
            .and_then(Json::as_object)
            .map(event_from_foolscap),
        pid: m
            .get("pid")
            .and_then(Json::as_u64)
            .and_then(|p| u32::try_from(p).ok()),
        versions: m
            .get("versions")
            .and_then(Json::as_object)
            .map(|v| {
                v.iter()
                    .map(|(k, v)| (k.clone(), printf::py_str(v)))
                    .collect()
            })
            .unwrap_or_default(),
        incarnation: m
            .get("flog_incarnation")
            .and_then(Json::as_str)
            .and_then(|inc| inc.parse().ok()),
        host: m.get("flog_host").and_then(Json::as_str).map(str::to_owned),
        started: m.get("start").map(|s| timestamp(Some(s))),
        suppressed_triggers: m
            .get("flog_suppressed_triggers")
            .and_then(Json::as_u64)
            .unwrap_or(0),
    }
}

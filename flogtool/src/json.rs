//! Events, headers and trailers as JSON objects, one per line (`--json`).
//!
//! Every object has a `record` key (`header`, `event`, `trailer`, `dropped`) so a
//! consumer tells them apart without guessing; times are RFC 3339 strings, with
//! the exact microseconds beside them.

use flog_core::{
    flogfile::{EndReason, Header, HeaderKind, Trailer},
    Event, Text, Timestamp, Value,
};
use serde_json::{json, Map, Value as Json};

use crate::flogfiles::Mark;

/// An event with every field. `trigger` is present (and true) on triggers only.
pub(crate) fn event_json(event: &Event, is_trigger: bool) -> Json {
    let mut object = Map::new();
    object.insert("record".into(), "event".into());
    object.extend(event_fields(event));
    if is_trigger {
        object.insert("trigger".into(), true.into());
    }
    Json::Object(object)
}

/// An event object with what its file says of its receipt: `rx_time` (RFC
/// 3339, with `rx_time_us` beside it) and `from`, each where known.
pub(crate) fn with_receipt(
    mut event: Json,
    rx_time: Option<Timestamp>,
    from: Option<&str>,
) -> Json {
    if let Json::Object(object) = &mut event {
        if let Some(rx) = rx_time {
            object.insert("rx_time".into(), rx.to_string().into());
            object.insert("rx_time_us".into(), rx.as_micros().into());
        }
        if let Some(from) = from {
            object.insert("from".into(), from.into());
        }
    }
    event
}

/// A gathered file's gap (`record: "gap"`) or incarnation change (`record:
/// "incarnation"`), with its keys as the file has them.
pub(crate) fn mark_json(mark: &Mark) -> Json {
    let (record, mut object) = match mark {
        Mark::Gap(gap) => {
            let mut o = Map::new();
            o.insert("from".into(), gap.from.clone().into());
            o.insert("incarnation".into(), gap.incarnation.clone().into());
            o.insert("count".into(), gap.count.into());
            if let Some(first) = gap.first {
                o.insert("first".into(), first.into());
            }
            if let Some(last) = gap.last {
                o.insert("last".into(), last.into());
            }
            o.insert("reason".into(), gap.reason.as_str().into());
            ("gap", with_rx(o, gap.rx_time))
        }
        Mark::Incarnation(change) => {
            let mut o = Map::new();
            o.insert("from".into(), change.from.clone().into());
            o.insert("incarnation".into(), change.incarnation.clone().into());
            if let Some(previous) = &change.previous {
                o.insert("previous".into(), previous.clone().into());
            }
            if let Some(pid) = change.pid {
                o.insert("pid".into(), pid.into());
            }
            ("incarnation", with_rx(o, change.rx_time))
        }
    };
    object.insert("record".into(), record.into());
    Json::Object(object)
}

fn with_rx(mut object: Map<String, Json>, rx: Timestamp) -> Map<String, Json> {
    object.insert("rx_time".into(), rx.to_string().into());
    object.insert("rx_time_us".into(), rx.as_micros().into());
    object
}

/// An event's keys without the `record` tag, for events inside other objects (a
/// header's or an incident's trigger).
pub(crate) fn event_object(event: &Event) -> Json {
    Json::Object(event_fields(event))
}

fn event_fields(event: &Event) -> Map<String, Json> {
    let mut object = Map::new();
    object.insert("num".into(), event.num.into());
    object.insert("time".into(), event.time.to_string().into());
    object.insert("time_us".into(), event.time.as_micros().into());
    object.insert("level".into(), event.level.number().into());
    object.insert("level_name".into(), event.level.to_string().into());
    if let Some(facility) = &event.facility {
        object.insert("facility".into(), facility.as_ref().into());
    }
    object.insert("message".into(), event.render().into_owned().into());
    if let Text::Format(format) = &event.text {
        object.insert("format".into(), format.as_ref().into());
    }
    if !event.fields.is_empty() {
        let fields = event
            .fields
            .iter()
            .map(|(name, value)| (name.to_string(), value_json(value)))
            .collect();
        object.insert("fields".into(), Json::Object(fields));
    }
    if let Some(parent) = event.parent {
        object.insert("parent".into(), parent.into());
    }
    object.insert("incarnation".into(), event.incarnation.to_string().into());
    if event.is_error {
        object.insert("is_error".into(), true.into());
    }
    if let Some(failure) = &event.failure {
        object.insert("failure".into(), failure.as_str().into());
    }
    if let Some(stack) = &event.stack {
        object.insert("stack".into(), stack.as_str().into());
    }
    object
}

/// A field value in JSON's nearest terms: bytes become `0x`-prefixed hex text and
/// non-finite floats `null`, since JSON has neither.
pub(crate) fn value_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(i) => (*i).into(),
        Value::UInt(u) => (*u).into(),
        Value::Float(x) => serde_json::Number::from_f64(*x).map_or(Json::Null, Json::Number),
        Value::Text(text) => text.as_ref().into(),
        Value::Bytes(_) => value.to_string().into(),
        Value::List(items) => Json::Array(items.iter().map(value_json).collect()),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| (k.to_string(), value_json(v)))
                .collect(),
        ),
    }
}

/// A header, with the file it came from when known.
pub(crate) fn header_json(header: &Header, file: Option<&str>) -> Json {
    let mut object = Map::new();
    object.insert("record".into(), "header".into());
    if let Some(file) = file {
        object.insert("file".into(), file.into());
    }
    let kind = header.kind.as_ref().map_or("", HeaderKind::as_str);
    object.insert("type".into(), kind.into());
    let optional = [
        ("name", header.name.clone().map(Json::from)),
        ("pid", header.pid.map(Json::from)),
        ("host", header.host.clone().map(Json::from)),
        (
            "incarnation",
            header.incarnation.map(|i| i.to_string().into()),
        ),
        ("started", header.started.map(|t| t.to_string().into())),
        ("trigger", header.trigger.as_ref().map(event_object)),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            object.insert(key.into(), value);
        }
    }
    object.insert("versions".into(), json!(header.versions));
    object.insert(
        "suppressed_triggers".into(),
        header.suppressed_triggers.into(),
    );
    Json::Object(object)
}

/// A trailer.
pub(crate) fn trailer_json(trailer: &Trailer) -> Json {
    json!({
        "record": "trailer",
        "end": trailer.end.as_ref().map_or("", EndReason::as_str),
        "triggers": trailer.triggers,
        "trailing_events": trailer.trailing_events,
        "finished": trailer.finished.map(|t| t.to_string()),
        "recovered": trailer.recovered,
        "truncated": trailer.truncated,
        "events": trailer.events,
    })
}

/// A gap in a live tail: `count` events were dropped here.
pub(crate) fn dropped_json(count: u64) -> Json {
    json!({ "record": "dropped", "count": count })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flog_core::Level;

    #[test]
    fn events_keep_every_field() {
        let event = Event {
            num: 7,
            time: Timestamp(1_700_000_000_000_001),
            level: Level(17),
            facility: Some("app".into()),
            text: Text::Format("x={x}".into()),
            fields: [
                ("x".into(), Value::from(1)),
                ("raw".into(), Value::Bytes(vec![0xab, 0x01])),
                ("nan".into(), Value::Float(f64::NAN)),
                (
                    "list".into(),
                    Value::List(vec![Value::Null, Value::from("a")]),
                ),
            ]
            .into_iter()
            .collect(),
            parent: Some(6),
            is_error: true,
            ..Event::default()
        };
        let j = event_json(&event, true);
        assert_eq!(j["record"], "event");
        assert_eq!(j["num"], 7);
        assert_eq!(j["time"], "2023-11-14T22:13:20.000001Z");
        assert_eq!(j["time_us"], 1_700_000_000_000_001_i64);
        assert_eq!(
            (j["level"].clone(), j["level_name"].clone()),
            (json!(17), json!("LEVEL17"))
        );
        assert_eq!(j["message"], "x=1");
        assert_eq!(j["format"], "x={x}");
        assert_eq!(
            j["fields"],
            json!({"x": 1, "raw": "0xab01", "nan": null, "list": [null, "a"]})
        );
        assert_eq!(
            (j["parent"].clone(), j["is_error"].clone()),
            (json!(6), json!(true))
        );
        assert_eq!(j["trigger"], true);
        assert!(event_json(&event, false).get("trigger").is_none());
    }
}

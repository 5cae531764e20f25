//! The Chrome trace export on files made for the edge cases: clocks that step
//! back, values JSON lacks, nothing at all.

use flog_core::{flogfile::FlogContents, Event, Text, Timestamp, Value};
use flog_web::{write_chrome_trace, LoadedFile, TraceStats};
use serde_json::Value as Json;

fn event(num: u64, parent: Option<u64>, time: i64) -> Event {
    Event {
        num,
        parent,
        time: Timestamp(time),
        facility: Some("app".into()),
        text: Text::Message(format!("event {num}").into()),
        ..Event::default()
    }
}

fn trace(events: Vec<Event>) -> (Json, TraceStats) {
    let file = LoadedFile::new(
        "test".into(),
        1,
        FlogContents {
            events,
            ..FlogContents::default()
        },
    );
    let mut out = Vec::new();
    let stats = write_chrome_trace(&file, &mut out).unwrap();
    (serde_json::from_slice(&out).unwrap(), stats)
}

#[test]
fn a_child_stamped_before_its_parent_gets_no_arrow_and_no_dangling_start() {
    // #2 follows from #1 but its clock read earlier.
    let (json, stats) = trace(vec![
        event(1, None, 100),
        event(2, Some(1), 50),
        event(3, Some(1), 150),
    ]);
    assert_eq!(
        stats,
        TraceStats {
            instants: 2,
            slices: 1,
            flows: 1
        }
    );
    let records = json["traceEvents"].as_array().unwrap();
    let starts = records.iter().filter(|r| r["ph"] == "s").count();
    let ends = records.iter().filter(|r| r["ph"] == "f").count();
    assert_eq!((starts, ends), (1, 1));
    let slice = records.iter().find(|r| r["ph"] == "X").unwrap();
    assert_eq!(
        (slice["ts"].as_i64(), slice["dur"].as_i64()),
        (Some(100), Some(51))
    );
}

#[test]
fn values_json_lacks_become_text_and_numbers_stay_exact() {
    let mut e = event(1, None, 0);
    e.fields = [
        ("nan".into(), Value::Float(f64::NAN)),
        ("big".into(), Value::UInt(u64::MAX)),
        ("small".into(), Value::Int(-3)),
        ("bytes".into(), Value::Bytes(vec![0xde, 0xad])),
        ("dup".into(), Value::Bool(true)),
        ("dup".into(), Value::Null),
        (
            "list".into(),
            Value::List(vec![Value::Int(1), Value::Text("a".into())]),
        ),
    ]
    .into_iter()
    .collect();
    let (json, _) = trace(vec![e]);
    let fields = &json["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ph"] == "i")
        .unwrap()["args"]["fields"];
    assert_eq!(fields["nan"], "NaN");
    assert_eq!(fields["big"], u64::MAX.to_string());
    assert_eq!(fields["small"], -3);
    assert_eq!(fields["bytes"], "0xdead");
    assert_eq!(
        (fields["dup"].clone(), fields["dup#2"].clone()),
        (Json::Bool(true), Json::Null)
    );
    assert_eq!(fields["list"], serde_json::json!([1, "a"]));
}

#[test]
fn an_empty_file_is_an_empty_trace() {
    let (json, stats) = trace(Vec::new());
    assert_eq!(stats, TraceStats::default());
    assert_eq!(json["traceEvents"], serde_json::json!([]));
}

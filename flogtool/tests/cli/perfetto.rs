//! `flogtool convert --to perfetto`: a Chrome trace whose records, tracks and
//! flow arrows match the incident it came from.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use flog_core::{msg, Level, Logger, ManualClock, Timestamp};
use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt as _;

use crate::util::{incident_channel, path_str, run, DEADLINE};

/// A real incident of spans (flog-tracing) and plain events, two requests
/// overlapping in time in the same facility:
///
/// ```text
/// #0 service starting                          app
/// #1 request{id=1}                             app.http
///    #2 query{table="users"}                   app.db
///       #3 slow query                          app.db
/// #4 request{id=2}                             app.http   (overlaps #1)
///    #5 pool exhausted (WEIRD, the trigger)    app.db.pool
/// #6 done with request 1                       app.http   (trailing, child of #1)
/// ```
fn spans_incident(logdir: &Path) -> PathBuf {
    let clock = Arc::new(ManualClock::new(Timestamp(1_772_600_767_000_000)));
    let logger = Logger::builder()
        .clock(clock.clone())
        .trailing_event_limit(1)
        .trailing_delay(Duration::from_secs(3600))
        .build()
        .unwrap();
    logger.set_logdir(logdir).unwrap();
    let incidents = incident_channel(&logger);
    let tick = |ms| clock.advance(Duration::from_millis(ms));
    msg!(
        logger = logger,
        Level::OPERATIONAL,
        facility = "app",
        "service starting"
    );
    let subscriber =
        tracing_subscriber::registry().with(flog_tracing::FlogLayer::new(logger.clone()));
    tracing::subscriber::with_default(subscriber, || {
        tick(1);
        let first = tracing::info_span!(target: "app::http", "request", id = 1);
        tick(2);
        let second_span;
        {
            let _first = first.enter();
            let query = tracing::info_span!(target: "app::db", "query", table = "users");
            let _query = query.enter();
            tick(5);
            tracing::info!(target: "app::db", rows = 3, "slow query");
            tick(1);
            second_span = {
                // A second request, begun while the first is open.
                drop(_query);
                drop(_first);
                tracing::info_span!(target: "app::http", "request", id = 2)
            };
        }
        tick(3);
        {
            let _second = second_span.enter();
            tracing::warn!(target: "app::db::pool", waited_ms = 250, "pool exhausted");
        }
        tick(20);
        let _first = first.enter();
        tracing::info!(target: "app::http", "done with request 1");
    });
    incidents
        .recv_timeout(DEADLINE)
        .expect("the incident finishes")
        .1
}

// Long on purpose: one scenario whose steps build on the state the earlier ones left (real processes, sockets or a browser), so it reads top to bottom.
#[test]
fn a_trace_holds_every_event_its_spans_and_its_parent_links() {
    let dir = tempfile::tempdir().unwrap();
    let incident = spans_incident(&dir.path().join("logs"));
    let truth = flog_core::flogfile::read_flogfile(&incident).unwrap();
    assert_eq!(truth.events.len(), 7, "{:#?}", truth.events);
    let out_path = dir.path().join("trace.json");
    let out = run(&[
        "convert",
        "--to",
        "perfetto",
        path_str(&incident),
        path_str(&out_path),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "only logs/ and trace.json: {names:?}");

    let trace: Value = serde_json::from_slice(&std::fs::read(&out_path).unwrap()).unwrap();
    let records = trace["traceEvents"].as_array().unwrap();
    let track_names: HashMap<(u64, u64), String> = records
        .iter()
        .filter(|r| r["ph"] == "M" && r["name"] == "thread_name")
        .map(|r| {
            (
                (id(r, "pid"), id(r, "tid")),
                r["args"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(records
        .iter()
        .any(|r| r["ph"] == "M" && r["name"] == "process_name"));

    // Every event once, on its facility's track; parents as slices lasting
    // until the last event below them, the rest as instants.
    let by_num: HashMap<u64, &Value> = records
        .iter()
        .filter(|r| r["ph"] == "X" || (r["ph"] == "i" && r["s"] == "t"))
        .map(|r| (r["args"]["num"].as_u64().unwrap(), r))
        .collect();
    assert_eq!(by_num.len(), truth.events.len());
    for event in &truth.events {
        let record = by_num[&event.num];
        assert_eq!(record["ts"].as_i64(), Some(event.time.0), "{record}");
        let track = &track_names[&(id(record, "pid"), id(record, "tid"))];
        assert!(
            track.split(" #").next() == Some(event.facility()),
            "{track} for {record}"
        );
        assert_eq!(record["args"]["message"], event.render().as_ref());
        let below: Vec<_> = descendants(&truth.events, event.num);
        if below.is_empty() {
            assert_eq!(record["ph"], "i", "{record}");
        } else {
            // Until just past the last event below it.
            let end = below
                .iter()
                .map(|e| e.time.0)
                .max()
                .unwrap()
                .max(event.time.0)
                + 1;
            assert_eq!(record["ph"], "X", "{record}");
            assert_eq!(record["dur"].as_i64(), Some(end - event.time.0), "{record}");
        }
    }
    // The two requests overlap: the second went to a track of its own.
    let (first, second) = (by_num[&1], by_num[&4]);
    assert_ne!(id(first, "tid"), id(second, "tid"));
    assert_eq!(
        track_names[&(id(second, "pid"), id(second, "tid"))],
        "app.http #2"
    );
    assert_slices_nest(records);

    // A flow arrow for each parent link, bound to the parent and the child:
    // each flow record right after its event's record on the same track.
    let links: BTreeSet<(u64, u64)> = truth
        .events
        .iter()
        .filter_map(|e| Some((e.parent?, e.num)))
        .collect();
    assert_eq!(links.len(), 4);
    let mut flows: HashMap<u64, (Option<u64>, Option<u64>)> = HashMap::new();
    let mut last_on_track: HashMap<(u64, u64), u64> = HashMap::new();
    for record in records {
        let track = (id(record, "pid"), id(record, "tid"));
        match record["ph"].as_str().unwrap() {
            "X" | "i" if record["s"] != "g" => {
                last_on_track.insert(track, record["args"]["num"].as_u64().unwrap());
            }
            ph @ ("s" | "f") => {
                let bound = last_on_track[&track];
                let entry = flows.entry(id(record, "id")).or_default();
                if ph == "s" {
                    assert!(entry.0.replace(bound).is_none());
                } else {
                    assert_eq!(record["bp"], "e");
                    assert!(entry.1.replace(bound).is_none());
                }
            }
            _ => {}
        }
    }
    let arrows: BTreeSet<(u64, u64)> = flows
        .values()
        .map(|(s, f)| (s.expect("a start"), f.expect("an end")))
        .collect();
    assert_eq!(arrows, links);

    // The trigger: coloured, flagged, and a line across all tracks.
    let trigger = truth.header.as_ref().unwrap().trigger.as_ref().unwrap();
    let record = by_num[&trigger.num];
    assert_eq!(record["cname"], "terrible");
    assert_eq!(record["args"]["trigger"], true);
    assert_eq!(record["args"]["fields"]["waited_ms"], 250);
    assert!(records
        .iter()
        .any(|r| r["ph"] == "i" && r["s"] == "g" && r["ts"].as_i64() == Some(trigger.time.0)));
    // In time order, so that nothing needs re-sorting (which would reorder
    // records of the same time).
    let times: Vec<i64> = records
        .iter()
        .filter(|r| r["ph"] != "M")
        .map(|r| r["ts"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn a_damaged_input_converts_what_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let incident = spans_incident(&dir.path().join("logs"));
    let plain = dir.path().join("plain.flog");
    let bytes = crate::util::decompressed(&incident);
    std::fs::write(&plain, &bytes[..bytes.len() - 5]).unwrap();
    let out_path = dir.path().join("trace.json");
    let out = run(&[
        "convert",
        "--to",
        "perfetto",
        path_str(&plain),
        path_str(&out_path),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("truncated"), "{}", out.stderr);
    let trace: Value = serde_json::from_slice(&std::fs::read(&out_path).unwrap()).unwrap();
    assert!(trace["traceEvents"].as_array().unwrap().len() > 5);
}

fn id(record: &Value, key: &str) -> u64 {
    record[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} in {record}"))
}

fn descendants(events: &[flog_core::Event], num: u64) -> Vec<&flog_core::Event> {
    let mut out = Vec::new();
    let mut frontier = vec![num];
    while let Some(n) = frontier.pop() {
        for child in events.iter().filter(|e| e.parent == Some(n)) {
            out.push(child);
            frontier.push(child.num);
        }
    }
    out
}

/// On every track, two slices are apart or one holds the other.
fn assert_slices_nest(records: &[Value]) {
    let mut by_track: HashMap<(u64, u64), Vec<(i64, i64)>> = HashMap::new();
    for r in records.iter().filter(|r| r["ph"] == "X") {
        let start = r["ts"].as_i64().unwrap();
        by_track
            .entry((id(r, "pid"), id(r, "tid")))
            .or_default()
            .push((start, start + r["dur"].as_i64().unwrap()));
    }
    for slices in by_track.values() {
        for a in slices {
            for b in slices {
                let apart = a.1 <= b.0 || b.1 <= a.0;
                let nested = (a.0 <= b.0 && b.1 <= a.1) || (b.0 <= a.0 && a.1 <= b.1);
                assert!(apart || nested, "{a:?} and {b:?} overlap");
            }
        }
    }
}

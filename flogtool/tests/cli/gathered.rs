//! flogtool on gathered files: origins in `dump`, `--from` and
//! `--strip-facility` in `dump` and `filter`, gap and incarnation lines, and
//! `convert` to foolscap and back keeping each event's sender.

use std::path::{Path, PathBuf};

use flog_core::{
    flogfile::{
        FlogReader, FlogWriter, Gap, GapReason, Header, IncarnationChange, Receipt, Record,
    },
    Event, Text, Timestamp,
};

use crate::util::{event_lines, foolscap_flogtool, foolscap_python, path_str, python, run};

fn event(num: u64, facility: &str) -> Event {
    Event {
        num,
        time: Timestamp(1_700_000_000_000_000 + num as i64),
        facility: Some(facility.to_owned().into()),
        text: Text::Message(format!("event {num}").into()),
        ..Event::default()
    }
}

/// A gathered file from publishers `alpha` and `beta`, with a gap of alpha's
/// and a new incarnation of beta's.
fn gathered(dir: &Path) -> PathBuf {
    let path = dir.join("from-x---to-present.flog");
    let header = Header {
        kind: Some(flog_core::flogfile::HeaderKind::Gathered),
        ..Header::default()
    };
    let mut w = FlogWriter::new(std::fs::File::create(&path).unwrap(), &header).unwrap();
    let rx = |from: &str, t: i64| Receipt {
        from: from.into(),
        rx_time: Timestamp(1_700_000_001_000_000 + t),
    };
    w.write_received(&event(1, "app.web"), &rx("alpha", 1))
        .unwrap();
    w.write_received(&event(1, "app.db"), &rx("beta", 2))
        .unwrap();
    w.write_gap(&Gap {
        from: "alpha".into(),
        incarnation: "0000000000000000".into(),
        count: 2,
        first: Some(2),
        last: Some(3),
        reason: GapReason::Dropped,
        rx_time: Timestamp(1_700_000_001_000_003),
    })
    .unwrap();
    w.write_received(&event(4, "app.db.pool"), &rx("alpha", 4))
        .unwrap();
    w.write_incarnation_change(&IncarnationChange {
        from: "beta".into(),
        incarnation: "0000000000000001".into(),
        previous: Some("0000000000000000".into()),
        pid: Some(77),
        rx_time: Timestamp(1_700_000_001_000_005),
    })
    .unwrap();
    w.write_received(&event(1, "app.web"), &rx("beta", 6))
        .unwrap();
    w.flush().unwrap();
    path
}

#[test]
fn dump_names_each_events_publisher_and_shows_gaps_where_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let file = gathered(dir.path());
    let out = run(&["dump", "-t", "epoch", path_str(&file)]);
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("== gathered"), "{}", out.stdout);
    assert!(
        lines[1].starts_with("1700000000.000001 [alpha] OPERATIONAL app.web: event 1"),
        "{}",
        out.stdout
    );
    assert!(lines[2].contains("[beta]"), "{}", out.stdout);
    assert!(
        lines[3].starts_with(
            "== gap: 2 events of [alpha] incarnation 0000000000000000 missing (#2..=#3): dropped"
        ),
        "{}",
        out.stdout
    );
    assert!(lines[4].contains("[alpha] OPERATIONAL app.db.pool: event 4"));
    assert!(
        lines[5].starts_with(
            "== [beta] new incarnation 0000000000000001 (was 0000000000000000), pid 77"
        ),
        "{}",
        out.stdout
    );
    assert!(
        lines[6].contains("[beta] OPERATIONAL app.web"),
        "{}",
        out.stdout
    );

    let json = run(&["dump", "--json", path_str(&file)]);
    let records: Vec<serde_json::Value> = json
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records[1]["from"], "alpha");
    assert_eq!(records[1]["rx_time_us"], 1_700_000_001_000_001_i64);
    assert_eq!(records[3]["record"], "gap");
    assert_eq!(records[3]["count"], 2);
    assert_eq!(records[5]["record"], "incarnation");
    assert_eq!(records[5]["pid"], 77);
}

#[test]
fn from_and_strip_facility_select_in_dump_and_filter() {
    let dir = tempfile::tempdir().unwrap();
    let file = gathered(dir.path());
    let out = run(&["dump", "--from", "alpha", path_str(&file)]);
    assert_eq!(out.code, 0, "{out:?}");
    let events = event_lines(&out.stdout);
    assert_eq!(events.len(), 2, "{}", out.stdout);
    assert!(
        events.iter().all(|l| l.contains("[alpha]")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("== gap: 2 events of [alpha]"));
    assert!(!out.stdout.contains("new incarnation"), "beta's is dropped");

    let out = run(&["dump", "--strip-facility", "app.db", path_str(&file)]);
    let events = event_lines(&out.stdout);
    assert_eq!(events.len(), 2, "{}", out.stdout);
    assert!(
        events.iter().all(|l| l.contains("app.web")),
        "{}",
        out.stdout
    );

    let new = dir.path().join("beta.flog");
    let out = run(&[
        "filter",
        "-v",
        "--from",
        "beta",
        "--strip-facility",
        "app.web",
        path_str(&file),
        path_str(&new),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("kept 1 of 4 events"), "{}", out.stdout);
    assert!(
        out.stdout.contains("dropped by --from: 1"),
        "{}",
        out.stdout
    );
    let records: Vec<Record> = FlogReader::open(&new)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let kinds: Vec<String> = records.iter().map(kind).collect();
    assert_eq!(kinds, ["header", "received beta #1", "incarnation beta"]);
}

fn kind(record: &Record) -> String {
    match record {
        Record::Header(_) => "header".into(),
        Record::Received(r) => format!("received {} #{}", r.receipt.from, r.event.num),
        Record::Gap(g) => format!("gap {}", g.from),
        Record::IncarnationChange(c) => format!("incarnation {}", c.from),
        other => format!("{other:?}"),
    }
}

#[test]
fn convert_to_foolscap_keeps_the_sender_as_from_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let file = gathered(dir.path());
    let fool = dir.path().join("fool.flog");
    let out = run(&[
        "convert",
        "--to",
        "foolscap",
        path_str(&file),
        path_str(&fool),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let text = std::fs::read_to_string(&fool).unwrap();
    let wrappers: Vec<serde_json::Value> = text
        .lines()
        .skip(2)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let froms: Vec<&str> = wrappers
        .iter()
        .map(|w| w["from"].as_str().unwrap())
        .collect();
    assert_eq!(froms, ["alpha", "beta", "alpha", "beta"]);
    assert_eq!(wrappers[0]["rx_time"], 1_700_000_001.000001);

    let back = dir.path().join("back.flog");
    let out = run(&["convert", "--to", "flog", path_str(&fool), path_str(&back)]);
    assert_eq!(out.code, 0, "{out:?}");
    let records: Vec<Record> = FlogReader::open(&back)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let kinds: Vec<String> = records.iter().map(kind).collect();
    assert_eq!(
        kinds,
        [
            "header",
            "received alpha #1",
            "received beta #1",
            "received alpha #4",
            "received beta #1"
        ]
    );
    let Record::Received(first) = &records[1] else {
        unreachable!()
    };
    assert_eq!(first.receipt.rx_time, Timestamp(1_700_000_001_000_001));
}

/// foolscap's own gatherer file format (its `flogfile` module writing the
/// wrappers a log gatherer writes) converts into a gathered flogfile with
/// every sender and receipt time, and back into one foolscap's flogtool
/// dumps with the same senders.
const FOOLSCAP_GATHERED: &str = r#"
import sys
from foolscap.logging import flogfile
out = open(sys.argv[1], "wb")
out.write(flogfile.MAGIC)
flogfile.serialize_header(out, "gatherer", start=1700000000.0)
for i, tub in enumerate(["tubaaaa", "tubbbbb", "tubaaaa"]):
    e = {"num": i, "time": 1700000000.5 + i, "incarnation": ["0a0b0c0d0e0f1011", None],
         "level": 20, "facility": "app", "message": "m%d" % i}
    flogfile.serialize_wrapper(out, e, from_=tub, rx_time=1700000000.75 + i)
out.close()
"#;

#[test]
fn foolscaps_gathered_file_round_trips_through_ours() {
    let Some(py) = foolscap_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let theirs = dir.path().join("theirs.flog");
    python(py, FOOLSCAP_GATHERED, &[path_str(&theirs)]);
    let ours = dir.path().join("ours.flog");
    let out = run(&[
        "convert",
        "--to",
        "flog",
        path_str(&theirs),
        path_str(&ours),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let records: Vec<Record> = FlogReader::open(&ours)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let Record::Header(header) = &records[0] else {
        panic!("{records:?}")
    };
    assert_eq!(header.kind, Some(flog_core::flogfile::HeaderKind::Gathered));
    let kinds: Vec<String> = records[1..].iter().map(kind).collect();
    assert_eq!(
        kinds,
        [
            "received tubaaaa #0",
            "received tubbbbb #1",
            "received tubaaaa #2"
        ]
    );
    let Record::Received(second) = &records[2] else {
        unreachable!()
    };
    assert_eq!(second.receipt.rx_time, Timestamp(1_700_000_001_750_000));

    let out = run(&["dump", "--from", "tubbbbb", path_str(&ours)]);
    assert_eq!(event_lines(&out.stdout).len(), 1, "{}", out.stdout);

    let again = dir.path().join("again.flog");
    let out = run(&[
        "convert",
        "--to",
        "foolscap",
        path_str(&ours),
        path_str(&again),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let dumped = foolscap_flogtool(py, &["dump", "--verbose", path_str(&again)]);
    for tub in ["tubaaaa", "tubbbbb"] {
        assert!(dumped.contains(tub), "{dumped}");
    }
    let again_text = std::fs::read_to_string(&again).unwrap();
    let theirs_text = std::fs::read_to_string(&theirs).unwrap();
    let wrappers = |text: &str| -> Vec<(String, f64)> {
        text.lines()
            .skip(2)
            .map(|l| {
                let w: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    w["from"].as_str().unwrap().to_owned(),
                    w["rx_time"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(wrappers(&again_text), wrappers(&theirs_text));
}

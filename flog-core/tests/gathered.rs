//! Gathered files: receipts, gaps and incarnation changes written and read
//! back, and what a reader that knows none of them (one that reads events as
//! two-element records, as version 1 readers do) makes of the same bytes.

use flog_core::{
    flogfile::{
        read_flogfile, FlogReader, FlogWriter, Gap, GapReason, Header, IncarnationChange, Receipt,
        Record,
    },
    Event, Text, Timestamp,
};

fn event(num: u64) -> Event {
    Event {
        num,
        text: Text::Message(format!("event {num}").into()),
        ..Event::default()
    }
}

fn gathered_file() -> Vec<u8> {
    let header = Header {
        kind: Some(flog_core::flogfile::HeaderKind::Gathered),
        ..Header::default()
    };
    let mut w = FlogWriter::new(Vec::new(), &header).unwrap();
    w.write_incarnation_change(&IncarnationChange {
        from: "pub-a".into(),
        incarnation: "0102030405060708:3".into(),
        previous: None,
        pid: Some(42),
        rx_time: Timestamp(5),
    })
    .unwrap();
    let receipt = |from: &str, t| Receipt {
        from: from.into(),
        rx_time: Timestamp(t),
    };
    w.write_received(&event(1), &receipt("pub-a", 10)).unwrap();
    w.write_gap(&Gap {
        from: "pub-a".into(),
        incarnation: "0102030405060708:3".into(),
        count: 3,
        first: Some(2),
        last: Some(4),
        reason: GapReason::Dropped,
        rx_time: Timestamp(11),
    })
    .unwrap();
    w.write_received(&event(5), &receipt("pub-a", 12)).unwrap();
    w.write_received(&event(1), &receipt("pub-b", 13)).unwrap();
    w.into_inner().unwrap()
}

#[test]
fn receipts_gaps_and_incarnation_changes_read_back() {
    let records: Vec<Record> = FlogReader::new(std::io::Cursor::new(gathered_file()))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let Record::IncarnationChange(change) = &records[1] else {
        panic!("{:?}", records[1]);
    };
    assert_eq!(change.incarnation, "0102030405060708:3");
    assert_eq!(change.pid, Some(42));
    let Record::Received(first) = &records[2] else {
        panic!("{:?}", records[2]);
    };
    assert_eq!(first.event.num, 1);
    assert_eq!(first.receipt.from, "pub-a");
    assert_eq!(first.receipt.rx_time, Timestamp(10));
    let Record::Gap(gap) = &records[3] else {
        panic!("{:?}", records[3]);
    };
    assert_eq!((gap.count, gap.first, gap.last), (3, Some(2), Some(4)));
    assert_eq!(gap.reason, GapReason::Dropped);
    let origins: Vec<(&str, u64)> = records
        .iter()
        .filter_map(|r| match r {
            Record::Received(r) => Some((r.receipt.from.as_str(), r.event.num)),
            _ => None,
        })
        .collect();
    assert_eq!(origins, [("pub-a", 1), ("pub-a", 5), ("pub-b", 1)]);
}

#[test]
fn a_reader_that_knows_no_receipts_still_reads_every_event() {
    // What an old reader does with a record: take the type and the body,
    // skip what follows.
    let bytes = gathered_file();
    let mut rest = &bytes[flog_core::flogfile::MAGIC.len()..];
    let mut events = Vec::new();
    let mut skipped = Vec::new();
    while !rest.is_empty() {
        let value: ciborium::Value = ciborium::from_reader(&mut rest).unwrap();
        let items = value.into_array().unwrap();
        let kind = items[0].as_text().unwrap().to_owned();
        if kind == "event" {
            let mut body = Vec::new();
            ciborium::into_writer(&items[1], &mut body).unwrap();
            events.push(Event::from_cbor(&body).unwrap().num);
        } else if kind != "header" {
            skipped.push(kind);
        }
    }
    assert_eq!(events, [1, 5, 1]);
    assert_eq!(skipped, ["incarnation", "gap"]);
    // And flog-core's whole-file reader keeps the events.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.flog");
    std::fs::write(&path, &bytes).unwrap();
    let contents = read_flogfile(&path).unwrap();
    assert_eq!(contents.events.len(), 3);
    assert_eq!(contents.unknown_records, 0);
}

#[test]
fn unknown_gap_reasons_survive() {
    let reason = GapReason::from("solar_flare".to_owned());
    assert_eq!(reason, GapReason::Unknown("solar_flare".into()));
    assert_eq!(String::from(reason), "solar_flare");
    for known in [
        GapReason::Dropped,
        GapReason::NotBuffered,
        GapReason::NotWritten,
    ] {
        assert_eq!(GapReason::from(known.as_str().to_owned()), known);
    }
}

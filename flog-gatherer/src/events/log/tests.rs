use std::fs;
use std::io::Write;
use std::sync::mpsc;
use std::time::Duration;

use flog_core::{
    flogfile::{FlogReader, Receipt, Record, Trailer},
    Event, ManualClock, Text,
};

use super::*;
use crate::events::compress::{self, Retention};
use crate::events::recovery::Recovered;
use flog_core::flogfile::{Gap, GapReason, ReceivedEvent};

const T0: Timestamp = Timestamp(1_764_588_600_000_000);

fn received(from: &str, num: u64) -> Gathered {
    Gathered::Event(Box::new(ReceivedEvent {
        event: Event {
            num,
            text: Text::Message(format!("{from} {num}").into()),
            ..Event::default()
        },
        receipt: Receipt {
            from: from.into(),
            rx_time: T0,
        },
    }))
}

struct Fixture {
    _base: tempfile::TempDir,
    basedir: PathBuf,
    clock: Arc<ManualClock>,
    notices: mpsc::Receiver<LogNotice>,
    closed: mpsc::Receiver<PathBuf>,
    outlets: Outlets,
}

fn fixture() -> Fixture {
    let base = tempfile::tempdir().unwrap();
    let (ntx, notices) = mpsc::channel();
    let (ctx, closed) = mpsc::channel();
    Fixture {
        basedir: base.path().to_owned(),
        _base: base,
        clock: Arc::new(ManualClock::new(T0)),
        notices,
        closed,
        outlets: Outlets {
            figures: Default::default(),
            notices: ntx,
            closed: Some(ctx),
        },
    }
}

impl Fixture {
    fn open(&self, rotation: Rotation) -> EventLog {
        EventLog::open(
            &self.basedir,
            rotation,
            self.clock.clone(),
            self.outlets.clone(),
        )
        .unwrap()
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.basedir.join(EVENTS_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("from-"))
            .collect();
        names.sort();
        names
    }
}

fn records(path: &Path) -> Vec<Record> {
    FlogReader::open(path)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn origins(records: &[Record]) -> Vec<(String, u64)> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Received(r) => Some((r.receipt.from.clone(), r.event.num)),
            _ => None,
        })
        .collect()
}

#[test]
fn events_of_several_publishers_land_in_arrival_order_with_origins() {
    let f = fixture();
    let mut log = f.open(Rotation::default());
    let order = [("a", 1), ("b", 1), ("c", 7), ("a", 2), ("c", 8), ("b", 2)];
    for (from, num) in order {
        log.append(received(from, num));
    }
    log.flush();
    let path = log.current_path().unwrap().to_owned();
    assert!(path
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .ends_with("---to-present.flog"));
    let recs = records(&path);
    let Record::Header(header) = &recs[0] else {
        panic!("{recs:?}")
    };
    assert_eq!(header.kind, Some(flog_core::flogfile::HeaderKind::Gathered));
    assert_eq!(header.started, Some(T0));
    let want: Vec<(String, u64)> = order.iter().map(|(f, n)| (f.to_string(), *n)).collect();
    assert_eq!(origins(&recs), want);
    assert_eq!(log.positions().0["c"].num, 8);
}

#[test]
fn rotation_by_injected_clock_names_closes_and_compresses() {
    let f = fixture();
    let rotation = Rotation {
        every: Some(Duration::from_secs(3600)),
        size: None,
    };
    let mut log = f.open(rotation);
    log.append(received("a", 1));
    f.clock.advance(Duration::from_secs(3599));
    log.tick();
    assert_eq!(f.names().len(), 1, "not yet due");
    f.clock.advance(Duration::from_secs(1));
    log.append(received("a", 2));
    log.flush();
    let names = f.names();
    assert_eq!(
        names,
        [
            "from-2025-12-01T11-30-00.000000Z---to-2025-12-01T12-30-00.000000Z.flog",
            "from-2025-12-01T12-30-00.000000Z---to-present.flog",
        ]
    );
    let dir = f.basedir.join(EVENTS_DIR);
    let first = records(&dir.join(&names[0]));
    assert_eq!(origins(&first), [("a".to_owned(), 1)]);
    let Some(Record::Trailer(trailer)) = first.last() else {
        panic!("{first:?}")
    };
    assert_eq!(trailer.end, Some(flog_core::flogfile::EndReason::Rotated));
    assert_eq!(
        origins(&records(&dir.join(&names[1]))),
        [("a".to_owned(), 2)]
    );

    // The compressor takes what was closed, off this thread.
    let closed = f.closed.try_recv().unwrap();
    assert_eq!(closed, dir.join(&names[0]));
    let (ctx, crx) = mpsc::channel();
    ctx.send(closed).unwrap();
    drop(ctx);
    let (ntx, nrx) = mpsc::channel();
    compress::spawn(
        dir.clone(),
        true,
        Retention::default(),
        f.clock.clone(),
        crx,
        ntx,
        None,
    )
    .unwrap()
    .join()
    .unwrap();
    assert!(matches!(nrx.recv().unwrap(), LogNotice::Compressed { .. }));
    let names = f.names();
    assert!(names[0].ends_with(".flog.bz2"), "{names:?}");
    let compressed = FlogReader::open(&dir.join(&names[0])).unwrap();
    assert!(compressed.is_compressed());
    assert_eq!(
        origins(&records(&dir.join(&names[0]))),
        [("a".to_owned(), 1)]
    );
}

#[test]
fn rotation_by_size() {
    let f = fixture();
    let rotation = Rotation {
        every: None,
        size: Some(400),
    };
    let mut log = f.open(rotation);
    for num in 0..40 {
        log.append(received("a", num));
    }
    log.shutdown().unwrap();
    let names = f.names();
    assert!(names.len() >= 3, "{names:?}");
    assert!(names.iter().all(|n| !n.contains("present")), "{names:?}");
    let dir = f.basedir.join(EVENTS_DIR);
    let mut all = Vec::new();
    for name in &names {
        let size = fs::metadata(dir.join(name)).unwrap().len();
        // One record past the limit at most.
        assert!(size < 400 + 200, "{name}: {size}");
        all.extend(origins(&records(&dir.join(name))));
    }
    let want: Vec<(String, u64)> = (0..40).map(|n| ("a".to_owned(), n)).collect();
    assert_eq!(all, want, "every event once, in order, across the files");
    let last = records(&dir.join(names.last().unwrap()));
    let Some(Record::Trailer(trailer)) = last.last() else {
        panic!()
    };
    assert_eq!(trailer.end, Some(flog_core::flogfile::EndReason::Shutdown));
}

/// The trailer a recovered file ends with, and every record before it.
fn recovered_trailer(path: &Path) -> (Trailer, Vec<Record>) {
    let mut recs = records(path);
    let Some(Record::Trailer(trailer)) = recs.pop() else {
        panic!("{path:?} does not end with a trailer: {recs:?}")
    };
    assert!(
        !recs.iter().any(|r| matches!(r, Record::Trailer(_))),
        "two trailers"
    );
    (trailer, recs)
}

#[test]
fn a_file_left_open_is_cut_to_its_last_record_and_closed_recovered_and_its_positions_count() {
    let f = fixture();
    let mut log = f.open(Rotation::default());
    for num in 1..=5 {
        log.append(received("a", num));
    }
    log.append(received("b", 9));
    log.flush();
    let left = log.current_path().unwrap().to_owned();
    // What a SIGKILL in the middle of a write leaves: no trailer, and part
    // of a record at the end.
    std::mem::forget(log);
    let complete = fs::read(&left).unwrap();
    let mut file = OpenOptions::new().append(true).open(&left).unwrap();
    file.write_all(&[0x83, 0x65, b'e', b'v']).unwrap();
    drop(file);

    f.clock.advance(Duration::from_secs(10));
    let log = f.open(Rotation::default());
    let names = f.names();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(!names[0].contains("present"), "{names:?}");
    assert!(names[1].contains("present"), "{names:?}");
    assert_eq!(log.positions().0["a"].num, 5);
    assert_eq!(log.positions().0["b"].num, 9);
    let notices: Vec<LogNotice> = f.notices.try_iter().collect();
    assert!(
        notices.iter().any(|n| matches!(
            n,
            LogNotice::Recovered(Recovered {
                truncated: true,
                events: Some(6),
                unfinished: None,
                ..
            })
        )),
        "{notices:?}"
    );
    // Nothing complete rewritten: the complete records as they were, the
    // cut one cut off, then the trailer.
    let closed = f.basedir.join(EVENTS_DIR).join(&names[0]);
    let bytes = fs::read(&closed).unwrap();
    assert!(bytes.starts_with(&complete), "the complete records changed");
    assert!(!bytes[complete.len()..].starts_with(&[0x83, 0x65, b'e', b'v']));
    let (trailer, recs) = recovered_trailer(&closed);
    assert_eq!(trailer.end, Some(flog_core::flogfile::EndReason::Recovered));
    assert!(trailer.recovered && trailer.truncated, "{trailer:?}");
    assert_eq!(trailer.events, Some(6));
    assert_eq!(origins(&recs).len(), 6);
    // Readable to its end now.
    let contents = flog_core::flogfile::read_flogfile(&closed).unwrap();
    assert!(contents.damage.is_none(), "{:?}", contents.damage);
    assert_eq!(contents.events.len(), 6);
    // Queued for compression once.
    let queued: Vec<PathBuf> = f.closed.try_iter().collect();
    assert_eq!(queued.len(), 1, "{queued:?}");
}

#[test]
fn a_recovery_cut_short_is_finished_by_the_next_start_with_one_trailer() {
    let f = fixture();
    let mut log = f.open(Rotation::default());
    for num in 0..3 {
        log.append(received("a", num));
    }
    log.flush();
    let left = log.current_path().unwrap().to_owned();
    std::mem::forget(log);
    // A clean end (the kill fell between records): nothing is cut.
    let complete = fs::read(&left).unwrap();
    let recovered = f.open(Rotation::default());
    let names = f.names();
    let closed = f.basedir.join(EVENTS_DIR).join(&names[0]);
    let (trailer, _) = recovered_trailer(&closed);
    assert!(!trailer.truncated, "{trailer:?}");
    assert_eq!(trailer.events, Some(3));
    assert!(fs::read(&closed).unwrap().starts_with(&complete));

    // A death after the trailer was synced and before the rename leaves a
    // `---to-present` file ending in a trailer: it is only renamed.
    let left_again = recovered.current_path().unwrap().to_owned();
    std::mem::forget(recovered);
    fs::remove_file(&left_again).unwrap();
    fs::rename(&closed, &left).unwrap();
    let before = fs::read(&left).unwrap();
    f.clock.advance(Duration::from_secs(1));
    let _log = f.open(Rotation::default());
    let names = f.names();
    let closed: Vec<&String> = names.iter().filter(|n| !n.contains("present")).collect();
    assert_eq!(closed.len(), 1, "{names:?}");
    let closed = f.basedir.join(EVENTS_DIR).join(closed[0]);
    assert_eq!(fs::read(&closed).unwrap(), before, "a second trailer");
    recovered_trailer(&closed);
}

#[test]
fn a_left_file_that_is_no_flogfile_is_renamed_as_it_is() {
    let f = fixture();
    let dir = f.basedir.join(EVENTS_DIR);
    fs::create_dir_all(&dir).unwrap();
    // Killed before the header was out.
    let left = dir.join(crate::events::names::present_name(T0));
    fs::write(&left, b"# flog fl").unwrap();
    f.clock.advance(Duration::from_secs(1));
    let _log = f.open(Rotation::default());
    let names = f.names();
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(fs::read(dir.join(&names[0])).unwrap(), b"# flog fl");
    let notices: Vec<LogNotice> = f.notices.try_iter().collect();
    assert!(
        notices
            .iter()
            .any(|n| matches!(n, LogNotice::Recovered(Recovered { events: None, .. }))),
        "{notices:?}"
    );
}

#[test]
fn retention_removes_the_oldest_closed_files() {
    let f = fixture();
    let rotation = Rotation {
        every: None,
        size: Some(1),
    };
    let mut log = f.open(rotation);
    for num in 0..5 {
        log.append(received("a", num));
        f.clock.advance(Duration::from_secs(1));
    }
    log.flush();
    let before = f.names();
    let (ntx, nrx) = mpsc::channel();
    let retention = Retention {
        files: Some(2),
        ..Retention::default()
    };
    compress::retain(
        &f.basedir.join(EVENTS_DIR),
        retention,
        f.clock.now(),
        &[],
        &ntx,
    );
    let after = f.names();
    let closed: Vec<&String> = after.iter().filter(|n| !n.contains("present")).collect();
    assert_eq!(closed.len(), 2, "{after:?}");
    assert_eq!(*closed[1], before[before.len() - 2], "the newest kept");
    assert!(after.iter().any(|n| n.contains("present")));
    assert_eq!(nrx.try_iter().count(), before.len() - 3);
}

#[test]
fn holes_a_dead_gatherer_left_open_are_in_its_positions_for_the_restart() {
    let f = fixture();
    let mut log = f.open(Rotation::default());
    // "a": 7 never came (a hole still open); "b": 4 is inside a gap record.
    for num in (1..=10).filter(|n| *n != 7) {
        log.append(received("a", num));
    }
    for num in (3..=6).filter(|n| *n != 4) {
        log.append(received("b", num));
    }
    log.append(Gathered::Gap(Gap {
        from: "b".into(),
        incarnation: Event::default().incarnation.to_string(),
        count: 1,
        first: Some(4),
        last: Some(4),
        reason: GapReason::Dropped,
        rx_time: T0,
    }));
    log.flush();
    // Killed: no trailer, nothing closed.
    std::mem::forget(log);

    let log = f.open(Rotation::default());
    let a = &log.positions().0["a"];
    assert_eq!((a.num, a.holes.as_slice()), (10, &[(7, 7)][..]));
    // Below "b"'s first number (3) is in earlier files, not a hole; 4 is
    // accounted for by its gap.
    let b = &log.positions().0["b"];
    assert_eq!((b.num, b.holes.as_slice()), (6, &[][..]));
}

#[test]
fn while_the_spool_is_full_events_are_counted_and_written_as_a_gap_once_it_has_room() {
    let f = fixture();
    let figures = f.outlets.figures.clone();
    let mut log = f.open(Rotation::default());
    log.append(received("a", 1));
    let full = crate::events::SpoolFigures {
        full: true,
        ..Default::default()
    };
    figures.set_spool(full);
    for num in 2..=5 {
        log.append(received("a", num));
    }
    log.tick();
    log.flush();
    let path = log.current_path().unwrap().to_owned();
    assert_eq!(origins(&records(&path)), [("a".to_owned(), 1)]);
    figures.set_spool(crate::events::SpoolFigures::default());
    log.tick();
    log.append(received("a", 6));
    log.flush();
    let records = records(&path);
    assert_eq!(
        origins(&records),
        [("a".to_owned(), 1), ("a".to_owned(), 6)]
    );
    let gaps: Vec<&Box<Gap>> = records
        .iter()
        .filter_map(|r| match r {
            Record::Gap(g) => Some(g),
            _ => None,
        })
        .collect();
    assert_eq!(gaps.len(), 1, "{records:?}");
    assert_eq!(gaps[0].reason, GapReason::NotWritten);
    assert_eq!(
        (gaps[0].count, gaps[0].first, gaps[0].last),
        (4, Some(2), Some(5))
    );
    let resumed = f.notices.try_iter().find_map(|n| match n {
        LogNotice::Resumed { unwritten, .. } => Some(unwritten),
        _ => None,
    });
    assert_eq!(resumed, Some(4));
}

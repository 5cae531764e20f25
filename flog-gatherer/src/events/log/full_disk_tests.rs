//! The log on a disk that fills up: every event appended is in a file once
//! or inside a `not_written` gap, and the other gaps (the publisher's own)
//! are not lost with the buffer that held them.

use std::collections::BTreeMap;
use std::fs;
use std::sync::mpsc;

use flog_core::{
    flogfile::{FlogReader, Receipt, Record},
    Event, ManualClock, Text,
};

use super::*;
use flog_core::flogfile::{Gap, GapReason, ReceivedEvent};

const T0: Timestamp = Timestamp(1_764_588_600_000_000);

fn event(num: u64, pad: usize) -> Gathered {
    Gathered::Event(Box::new(ReceivedEvent {
        event: Event {
            num,
            text: Text::Message(format!("{num:0pad$}").into()),
            ..Event::default()
        },
        receipt: Receipt {
            from: "p".into(),
            rx_time: T0,
        },
    }))
}

fn dropped(first: u64, last: u64) -> Gathered {
    Gathered::Gap(Gap {
        from: "p".into(),
        incarnation: Event::default().incarnation.to_string(),
        count: last - first + 1,
        first: Some(first),
        last: Some(last),
        reason: GapReason::Dropped,
        rx_time: T0,
    })
}

/// Every record of every file in `dir`, each read up to its last complete
/// record (a file closed by a failure may end in a cut one).
fn everything(dir: &Path) -> Vec<Record> {
    let mut names: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("from-")
        })
        .collect();
    names.sort();
    let mut all = Vec::new();
    for path in names {
        let Ok(reader) = FlogReader::open(&path) else {
            continue;
        };
        all.extend(reader.map_while(Result::ok));
    }
    all
}

struct Run {
    notices: Vec<LogNotice>,
    appended: Vec<u64>,
    /// The publisher-dropped numbers appended as gaps.
    dropped: Vec<(u64, u64)>,
    /// The events the log said landed (what a relay hands on).
    landed: Vec<u64>,
}

/// Appends batches (flushing after each, as the writer thread does) until
/// the disk has been full for a while; then makes room and goes on.
fn fill_and_resume(disk: &flog_testkit::SmallDisk) -> (Run, PathBuf) {
    let (ntx, nrx) = mpsc::channel();
    let clock = Arc::new(ManualClock::new(T0));
    let outlets = Outlets {
        notices: ntx,
        closed: None,
        figures: Arc::default(),
    };
    let basedir = disk.path.join("base");
    let mut log = EventLog::open(&basedir, Rotation::default(), clock.clone(), outlets).unwrap();
    log.relay_landed();
    let mut run = Run {
        notices: Vec::new(),
        appended: Vec::new(),
        dropped: Vec::new(),
        landed: Vec::new(),
    };
    let take = |log: &mut EventLog, run: &mut Run| {
        run.landed
            .extend(log.take_landed().1.drain(..).map(|g| match g {
                Gathered::Event(r) => r.event.num,
                other => panic!("only events land for the relay: {other:?}"),
            }));
    };
    let mut num = 0;
    let mut batch = |log: &mut EventLog, run: &mut Run, size: u64| {
        for _ in 0..size {
            num += 1;
            log.append(event(num, 300));
            run.appended.push(num);
        }
        // Numbers the publisher dropped, as its gap.
        num += 1;
        log.append(dropped(num, num + 2));
        run.dropped.push((num, num + 2));
        num += 2;
        log.flush();
        take(log, run);
        run.notices.extend(nrx.try_iter());
    };
    let failing = |run: &Run| {
        run.notices
            .iter()
            .any(|n| matches!(n, LogNotice::Failing { .. }))
    };
    while !failing(&run) {
        assert!(run.appended.len() < 100_000, "the small disk never filled");
        batch(&mut log, &mut run, 7);
    }
    // Some more while full: a retry that fails again too.
    for _ in 0..3 {
        batch(&mut log, &mut run, 5);
        clock.advance(RETRY);
    }
    disk.resize("16m");
    clock.advance(RETRY);
    for _ in 0..3 {
        batch(&mut log, &mut run, 5);
    }
    take(&mut log, &mut run);
    log.shutdown().unwrap();
    run.notices.extend(nrx.try_iter());
    (run, basedir.join(EVENTS_DIR))
}

#[test]
fn on_a_full_disk_every_event_is_stored_once_or_in_a_not_written_gap() {
    let Some(disk) = flog_testkit::SmallDisk::mount("64k") else {
        return;
    };
    let (run, dir) = fill_and_resume(&disk);
    let records = everything(&dir);

    let mut stored: BTreeMap<u64, usize> = BTreeMap::new();
    let mut gaps: Vec<(GapReason, u64, u64, u64)> = Vec::new();
    for r in &records {
        match r {
            Record::Received(r) => *stored.entry(r.event.num).or_default() += 1,
            Record::Gap(g) => {
                gaps.push((g.reason.clone(), g.first.unwrap(), g.last.unwrap(), g.count))
            }
            _ => {}
        }
    }
    let twice: Vec<_> = stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    let not_written = |n: u64| {
        gaps.iter()
            .any(|(r, f, l, _)| *r == GapReason::NotWritten && *f <= n && n <= *l)
    };
    for &n in &run.appended {
        let kept = stored.contains_key(&n);
        assert!(
            kept != not_written(n),
            "#{n}: stored {kept}, in a not_written gap {}; gaps {gaps:?}",
            not_written(n)
        );
    }
    // A relay hands on exactly the events the files hold, once each.
    let in_files: Vec<u64> = stored.keys().copied().collect();
    let mut landed = run.landed.clone();
    landed.sort_unstable();
    assert_eq!(landed, in_files, "what landed is what the files hold");
    // The publisher's own gaps survive the failure too.
    for &(first, last) in &run.dropped {
        assert!(
            gaps.iter()
                .any(|(r, f, l, _)| *r == GapReason::Dropped && *f == first && *l == last),
            "the dropped gap {first}..={last} was lost; gaps {gaps:?}"
        );
    }
    // One report of the failure, one of resuming; the latter counts
    // exactly what the not_written gaps hold.
    let failing = run
        .notices
        .iter()
        .filter(|n| matches!(n, LogNotice::Failing { .. }))
        .count();
    assert_eq!(failing, 1, "{:?}", run.notices);
    let unwritten: Vec<u64> = run
        .notices
        .iter()
        .filter_map(|n| match n {
            LogNotice::Resumed { unwritten, .. } => Some(*unwritten),
            _ => None,
        })
        .collect();
    assert_eq!(unwritten.len(), 1, "{:?}", run.notices);
    let in_gaps: u64 = gaps
        .iter()
        .filter(|(r, ..)| *r == GapReason::NotWritten)
        .map(|(.., c)| c)
        .sum();
    assert!(unwritten[0] > 0);
    assert_eq!(unwritten[0], in_gaps, "{gaps:?}");
}

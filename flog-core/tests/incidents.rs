//! Foolscap's incident scenarios, and more, over real files.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{files_in, next_incident, wait_until, watch_incidents};
use flog_core::{
    flogfile::read_flogfile, msg, Clock, Event, IncidentQualifier, Level, Logger, ManualClock,
    Timestamp,
};

fn quiet() -> flog_core::LoggerBuilder {
    Logger::builder().on_error(|e| panic!("unexpected reporter failure: {e}"))
}

#[test]
fn no_logdir_no_incident() {
    let logger = quiet().build().unwrap();
    logger.msg(Level::BAD, "very bad");
    assert_eq!(logger.incident_stats().declared, 0);
    assert_eq!(logger.buffered_events().len(), 1);
}

#[test]
fn flog_holds_events_up_to_the_trigger_while_recording() {
    let dir = tempfile::tempdir().unwrap();
    let logger = quiet()
        .trailing_delay(Duration::from_secs(600))
        .build()
        .unwrap();
    logger.set_logdir(dir.path()).unwrap();
    logger.msg(Level::OPERATIONAL, "one");
    logger.msg(Level::NOISY, "two");
    let trigger = logger.msg(Level::WEIRD, "three").unwrap();

    // Right after the call returns, before any trailing event: readable, complete.
    let names = files_in(dir.path());
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].starts_with("incident-") && names[0].ends_with(".flog"));
    let report = read_flogfile(&dir.path().join(&names[0])).unwrap();
    assert!(report.damage.is_none());
    let header = report.header.unwrap();
    assert_eq!(header.kind, Some(flog_core::flogfile::HeaderKind::Incident));
    assert_eq!(header.trigger.as_ref().unwrap().num, trigger);
    assert_eq!(header.pid, Some(std::process::id()));
    assert!(header.versions.contains_key("flog-core"));
    assert_eq!(
        report
            .events
            .iter()
            .map(|e| e.render().into_owned())
            .collect::<Vec<_>>(),
        ["one", "two", "three"]
    );
    assert!(report.trailer.is_none(), "still recording");
    logger.finish_incidents();
}

#[test]
fn finished_report_holds_buffered_and_trailing_events_and_flog_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let logger = quiet().trailing_event_limit(3).build().unwrap();
    logger.set_logdir(dir.path()).unwrap();
    let rx = watch_incidents(&logger);
    logger.msg(Level::OPERATIONAL, "before");
    let trigger = logger.msg(Level::WEIRD, "trigger").unwrap();
    for i in 0..5 {
        logger
            .event(Level::NOISY)
            .format("after {i}")
            .field("i", i)
            .emit();
    }
    let (name, path, trig) = next_incident(&rx);
    assert_eq!(trig.num, trigger);
    assert_eq!(files_in(dir.path()), [format!("{name}.flog.bz2")]);
    assert_eq!(path, dir.path().join(format!("{name}.flog.bz2")));
    let report = read_flogfile(&path).unwrap();
    assert!(report.damage.is_none());
    let texts: Vec<_> = report
        .events
        .iter()
        .map(|e| e.render().into_owned())
        .collect();
    assert_eq!(
        texts,
        ["before", "trigger", "after 0", "after 1", "after 2"]
    );
    let trailer = report.trailer.unwrap();
    assert_eq!(
        (trailer.trailing_events, trailer.end),
        (3, Some(flog_core::flogfile::EndReason::EventLimit))
    );
    assert_eq!(trailer.triggers, [trigger]);
    let stats = logger.incident_stats();
    assert_eq!((stats.declared, stats.recorded), (1, 1));
}

#[test]
fn trailing_delay_ends_recording() {
    let dir = tempfile::tempdir().unwrap();
    let logger = quiet()
        .trailing_delay(Duration::from_millis(50))
        .build()
        .unwrap();
    logger.set_logdir(dir.path()).unwrap();
    let rx = watch_incidents(&logger);
    logger.msg(Level::BAD, "trigger");
    logger.msg(Level::OPERATIONAL, "trailing");
    let (_, path, _) = next_incident(&rx);
    let report = read_flogfile(&path).unwrap();
    let trailer = report.trailer.unwrap();
    assert_eq!(trailer.end, Some(flog_core::flogfile::EndReason::Delay));
    assert_eq!(trailer.trailing_events, 1);
    assert_eq!(report.events.len(), 2);
}

#[derive(Debug)]
struct WordQualifier(&'static str);

impl IncidentQualifier for WordQualifier {
    fn check_event(&self, event: &Event) -> bool {
        event.render().contains(self.0)
    }
}

#[test]
fn custom_qualifier_fires_on_a_word() {
    let dir = tempfile::tempdir().unwrap();
    let logger = quiet().trailing(false).build().unwrap();
    // Replaceable before the logdir is set, and it sees rendered text.
    logger.set_qualifier(WordQualifier("llama"));
    logger.set_logdir(dir.path()).unwrap();
    let rx = watch_incidents(&logger);
    logger.msg(Level::BAD, "bad but no word");
    assert_eq!(logger.incident_stats().declared, 0);
    logger
        .event(Level::NOISY)
        .format("a {animal} appeared")
        .field("animal", "llama")
        .emit();
    let (_, _, trigger) = next_incident(&rx);
    assert_eq!(trigger.render(), "a llama appeared");
    // Replaceable after, too.
    logger.set_qualifier(WordQualifier("alpaca"));
    logger.msg(Level::NOISY, "llama again");
    logger.msg(Level::NOISY, "alpaca");
    assert_eq!(next_incident(&rx).2.render(), "alpaca");
    assert_eq!(logger.incident_stats().declared, 2);
}

#[test]
fn limit_of_three_trailing_events_records_exactly_three() {
    let dir = tempfile::tempdir().unwrap();
    let logger = quiet()
        .trailing_event_limit(3)
        .trailing_delay(Duration::from_secs(1))
        .build()
        .unwrap();
    logger.set_logdir(dir.path()).unwrap();
    let rx = watch_incidents(&logger);
    logger.msg(Level::WEIRD, "trigger");
    for i in 0..10 {
        logger.msg(Level::OPERATIONAL, format!("t{i}"));
    }
    let (_, path, _) = next_incident(&rx);
    let report = read_flogfile(&path).unwrap();
    let trailing: Vec<_> = report.events[1..]
        .iter()
        .map(|e| e.render().into_owned())
        .collect();
    assert_eq!(trailing, ["t0", "t1", "t2"]);
    assert_eq!(report.trailer.unwrap().trailing_events, 3);
}

#[test]
fn overlapping_triggers_give_one_file_holding_both() {
    let dir = tempfile::tempdir().unwrap();
    let logger = quiet().trailing_event_limit(4).build().unwrap();
    logger.set_logdir(dir.path()).unwrap();
    let rx = watch_incidents(&logger);
    let first = logger.msg(Level::WEIRD, "first").unwrap();
    logger.msg(Level::OPERATIONAL, "between");
    let second = logger.msg(Level::BAD, "second").unwrap();
    logger.msg(Level::OPERATIONAL, "after");
    logger.msg(Level::OPERATIONAL, "last");
    let (_, path, trigger) = next_incident(&rx);
    assert_eq!(trigger.num, first);
    let report = read_flogfile(&path).unwrap();
    assert_eq!(report.trailer.unwrap().triggers, [first, second]);
    assert_eq!(report.events.len(), 5);
    assert_eq!(files_in(dir.path()).len(), 1);
    let stats = logger.incident_stats();
    assert_eq!((stats.declared, stats.joined, stats.recorded), (2, 1, 1));
}

#[test]
fn non_trailing_reporter_finishes_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let logger = quiet().trailing(false).build().unwrap();
    logger.set_logdir(dir.path()).unwrap();
    let rx = watch_incidents(&logger);
    logger.msg(Level::WEIRD, "trigger");
    let (_, path, _) = next_incident(&rx);
    let report = read_flogfile(&path).unwrap();
    assert_eq!(report.events.len(), 1);
    assert_eq!(
        report.trailer.unwrap().end,
        Some(flog_core::flogfile::EndReason::Immediate)
    );
    // A second trigger is a new incident, not a joined one.
    logger.msg(Level::WEIRD, "again");
    let (_, second, _) = next_incident(&rx);
    assert!(second > path);
}

#[test]
fn facility_thresholds_skip_generation_and_argument_evaluation() {
    let logger = quiet().threshold(Level::OPERATIONAL).build().unwrap();
    logger.set_facility_threshold("app", Some(Level::NOISY));
    logger.set_facility_threshold("app.chatty", Some(Level::UNUSUAL));
    let evaluated = std::cell::Cell::new(0);
    let arg = || {
        evaluated.set(evaluated.get() + 1);
        1
    };
    assert!(msg!(
        logger = logger,
        Level::NOISY,
        facility = "other",
        "x {a}",
        a = arg()
    )
    .is_none());
    assert!(msg!(
        logger = logger,
        Level::OPERATIONAL,
        facility = "app.chatty.sub",
        "x {a}",
        a = arg()
    )
    .is_none());
    assert_eq!(
        evaluated.get(),
        0,
        "arguments of suppressed events are not evaluated"
    );
    let n = msg!(
        logger = logger,
        Level::NOISY,
        facility = "app.db",
        "x {a}",
        a = arg()
    )
    .unwrap();
    assert_eq!(n, 0, "suppressed events consumed no sequence number");
    assert_eq!(evaluated.get(), 1);
    let events = logger.buffered_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].render(), "x 1");
}

#[test]
fn chatter_does_not_evict_rare_events() {
    let logger = quiet().buffer_size(Level::NOISY, 10).build().unwrap();
    let rare = logger
        .event(Level::UNUSUAL)
        .facility("app")
        .message("rare")
        .emit()
        .unwrap();
    for _ in 0..1000 {
        logger
            .event(Level::NOISY)
            .facility("app")
            .message("chatter")
            .emit();
    }
    let events = logger.buffered_events();
    assert_eq!(events.len(), 11);
    assert_eq!(events[0].num, rare);
    assert!(events.windows(2).all(|w| w[0].num < w[1].num));
}

#[test]
fn concurrent_logging_during_a_dump_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Buffers (and a memory budget) large enough that nothing is evicted.
    let logger = quiet()
        .buffer_size(Level::OPERATIONAL, 1_000_000)
        .memory_budget(1 << 30)
        .trailing_event_limit(usize::MAX)
        .trailing_delay(Duration::from_secs(600))
        .build()
        .unwrap();
    logger.set_logdir(dir.path()).unwrap();
    let rx = watch_incidents(&logger);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..3)
        .map(|t| {
            let (logger, stop) = (logger.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let facility = ["a", "b", "c"][t];
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    logger
                        .event(Level::OPERATIONAL)
                        .facility(facility)
                        .message("work")
                        .emit();
                }
            })
        })
        .collect();
    wait_until("workers to log", || logger.buffered_events().len() > 2_000);
    let trigger = logger.msg(Level::WEIRD, "trigger").unwrap();
    wait_until("more events after the trigger", || {
        logger.buffered_events().last().unwrap().num > trigger + 2_000
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    workers.into_iter().for_each(|w| w.join().unwrap());
    // Every event is generated; ending capture now must leave all of them recorded.
    let generated = logger.buffered_events().last().unwrap().num + 1;
    logger.finish_incidents();
    let (_, path, _) = next_incident(&rx);

    let report = read_flogfile(&path).unwrap();
    let nums: Vec<u64> = report.events.iter().map(|e| e.num).collect();
    let mut sorted = nums.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), nums.len(), "no event twice");
    // Nothing was evicted, so the report holds every event from 0 up to its last.
    let last = *sorted.last().unwrap();
    let gaps: Vec<u64> = (0..=last)
        .filter(|n| sorted.binary_search(n).is_err())
        .collect();
    assert!(
        gaps.is_empty(),
        "no event lost: missing {gaps:?} of 0..={last}, trigger {trigger}"
    );
    assert_eq!(last + 1, generated);
    let trailer = report.trailer.unwrap();
    assert_eq!(trailer.end, Some(flog_core::flogfile::EndReason::Shutdown));
    assert!(trailer.trailing_events > 2_000);
}

#[test]
fn names_keep_increasing_when_the_clock_steps_back() {
    let dir = tempfile::tempdir().unwrap();
    let start = Timestamp::parse("2026-11-27T12:00:00Z").unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let logger = quiet()
        .clock(clock.clone())
        .trailing(false)
        .build()
        .unwrap();
    logger.set_logdir(dir.path()).unwrap();
    let rx = watch_incidents(&logger);
    let mut names = Vec::new();
    for step in [0i64, 0, -3_600_000_000, 1] {
        clock.set(Timestamp(clock.now().0 + step));
        logger.msg(Level::WEIRD, "x");
        names.push(next_incident(&rx).0);
    }
    assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");
    assert!(names[0].starts_with("incident-2026-11-27T12-00-00.000000Z-"));
    // A new logger on the same logdir (once the first is gone: a logdir has
    // one owner) continues after the existing names.
    drop(logger);
    clock.set(start);
    let again = quiet().clock(clock).trailing(false).build().unwrap();
    again.set_logdir(dir.path()).unwrap();
    let rx = watch_incidents(&again);
    again.msg(Level::WEIRD, "x");
    assert!(next_incident(&rx).0 > *names.last().unwrap());
}

#[test]
fn storm_control_limits_incidents_and_reports_suppressed_triggers() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp::parse("2026-01-01").unwrap()));
    let logger = quiet()
        .clock(clock.clone())
        .trailing(false)
        .incident_rate_limit(2, Duration::from_secs(60))
        .build()
        .unwrap();
    logger.set_logdir(dir.path()).unwrap();
    let rx = watch_incidents(&logger);
    for _ in 0..5 {
        logger.msg(Level::BAD, "storm");
    }
    next_incident(&rx);
    next_incident(&rx);
    let stats = logger.incident_stats();
    assert_eq!((stats.declared, stats.suppressed), (5, 3));
    clock.advance(Duration::from_secs(61));
    logger.msg(Level::BAD, "later");
    let (_, path, _) = next_incident(&rx);
    assert_eq!(
        read_flogfile(&path)
            .unwrap()
            .header
            .unwrap()
            .suppressed_triggers,
        3
    );
    assert_eq!(files_in(dir.path()).len(), 3);
}

#[test]
fn retention_keeps_the_newest_files() {
    let dir = tempfile::tempdir().unwrap();
    let logger = quiet()
        .trailing(false)
        .retention(2, u64::MAX)
        .build()
        .unwrap();
    logger.set_logdir(dir.path()).unwrap();
    let rx = watch_incidents(&logger);
    let mut names = Vec::new();
    for i in 0..4 {
        logger.msg(Level::BAD, format!("n{i}"));
        names.push(format!("{}.flog.bz2", next_incident(&rx).0));
    }
    assert_eq!(files_in(dir.path()), names[2..]);

    // A byte budget deletes the oldest too, but never the newest (a new
    // logger: the first must let go of the logdir).
    drop(logger);
    let logger = quiet().trailing(false).retention(100, 1).build().unwrap();
    logger.set_logdir(dir.path()).unwrap();
    let rx = watch_incidents(&logger);
    logger.msg(Level::BAD, "big");
    let newest = format!("{}.flog.bz2", next_incident(&rx).0);
    assert_eq!(files_in(dir.path()), [newest]);
}

#[test]
fn set_logdir_is_idempotent_and_creates_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b");
    let logger = quiet().trailing(false).build().unwrap();
    logger.set_logdir(&nested).unwrap();
    logger.set_logdir(&nested).unwrap();
    assert!(nested.is_dir());
    assert_eq!(logger.logdir().as_deref(), Some(nested.as_path()));
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let err = quiet()
        .build()
        .unwrap()
        .set_logdir(file.join("sub"))
        .unwrap_err();
    assert!(
        err.to_string().contains("cannot use log directory"),
        "{err}"
    );
}

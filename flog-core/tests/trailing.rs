//! What an incident report holds after its trigger: every event numbered
//! after it, exactly once, however other threads log meanwhile, and a trailing
//! window that follows the logger's clock.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::{next_incident, wait_until, watch_incidents};
use flog_core::{flogfile::read_flogfile, Level, Logger};

const LOGGERS: usize = 4;
const ROUNDS: usize = 25;

/// One round: four threads log into facilities of their own (buffers of one
/// event, so whatever is not captured is lost at once) while a fifth declares
/// an incident; the trailing window outlasts the round.
fn one_round(round: usize) {
    let dir = tempfile::tempdir().unwrap();
    let logger = Logger::builder()
        .on_error(|e| panic!("unexpected reporter failure: {e}"))
        .buffer_size(Level::OPERATIONAL, 1)
        .trailing_delay(Duration::from_secs(3600))
        .trailing_event_limit(usize::MAX)
        .build()
        .unwrap();
    logger.set_logdir(dir.path()).unwrap();
    let rx = watch_incidents(&logger);
    let stop = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(LOGGERS + 1));
    let workers: Vec<_> = (0..LOGGERS)
        .map(|t| {
            let (logger, stop, start) = (logger.clone(), Arc::clone(&stop), Arc::clone(&start));
            std::thread::spawn(move || {
                let facility = ["a", "b", "c", "d"][t];
                start.wait();
                while !stop.load(Ordering::Relaxed) {
                    logger
                        .event(Level::OPERATIONAL)
                        .facility(facility)
                        .message("work")
                        .emit();
                }
            })
        })
        .collect();
    start.wait();
    let newest = || logger.buffered_events().last().map_or(0, |e| e.num);
    wait_until("the loggers to get going", || newest() > 500);
    let trigger = std::thread::scope(|s| {
        s.spawn(|| logger.msg(Level::WEIRD, "trigger").unwrap())
            .join()
            .unwrap()
    });
    wait_until("events after the trigger", || newest() > trigger + 2_000);
    stop.store(true, Ordering::Relaxed);
    workers.into_iter().for_each(|w| w.join().unwrap());
    let generated = newest();
    logger.finish_incidents();
    let (_, path, _) = next_incident(&rx);

    let report = read_flogfile(&path).unwrap();
    assert!(report.damage.is_none());
    let mut nums: Vec<u64> = report.events.iter().map(|e| e.num).collect();
    let total = nums.len();
    nums.sort_unstable();
    nums.dedup();
    assert_eq!(
        nums.len(),
        total,
        "round {round}: an event is in the report twice"
    );
    let missing: Vec<u64> = (trigger..=generated)
        .filter(|n| nums.binary_search(n).is_err())
        .collect();
    assert!(
        missing.is_empty(),
        "round {round}: {} events from the trigger {trigger} on are missing: {:?}...",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    let trailer = report.trailer.unwrap();
    assert_eq!(trailer.end, Some(flog_core::flogfile::EndReason::Shutdown));
    // Nothing numbered after the last generated event, and the trailer counts
    // every event after the trigger, in the dump or appended.
    let after_trigger = nums.iter().filter(|&&n| n > trigger).count() as u64;
    assert_eq!(after_trigger, generated - trigger, "round {round}");
    assert_eq!(
        trailer.trailing_events, after_trigger,
        "round {round}: {trailer:?}"
    );
}

#[test]
fn every_event_from_the_trigger_on_is_in_the_report_once_whatever_other_threads_do() {
    for round in 0..ROUNDS {
        one_round(round);
    }
}

/// The trailing window runs on the logger's clock: with a `ManualClock` it
/// ends when the clock is moved past it, at once, with no real waiting.
#[test]
fn the_trailing_window_follows_the_injected_clock() {
    use flog_core::{Clock, ManualClock, Timestamp};

    let dir = tempfile::tempdir().unwrap();
    let start = Timestamp::parse("2026-11-27T12:00:00Z").unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let delay = Duration::from_secs(3600);
    let logger = Logger::builder()
        .on_error(|e| panic!("unexpected reporter failure: {e}"))
        .clock(clock.clone())
        .trailing_delay(delay)
        .trailing_event_limit(1000)
        .build()
        .unwrap();
    logger.set_logdir(dir.path()).unwrap();
    let rx = watch_incidents(&logger);
    logger.msg(Level::WEIRD, "trigger").unwrap();
    let flog = common::files_in(dir.path())
        .into_iter()
        .find(|n| n.ends_with(".flog"))
        .map(|n| dir.path().join(n))
        .expect("the report in progress");
    let on_disk = |text: &str| {
        read_flogfile(&flog).is_ok_and(|c| c.events.iter().any(|e| e.render() == text))
    };

    // All but a second of the window.
    clock.advance(delay - Duration::from_secs(1));
    logger.msg(Level::OPERATIONAL, "inside the window");
    wait_until("the trailing event on disk", || {
        on_disk("inside the window")
    });
    assert!(rx.try_recv().is_err(), "the window is still open");

    clock.advance(Duration::from_secs(1));
    let (_, path, _) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the report finishes as soon as the clock passes the window");
    logger.msg(Level::OPERATIONAL, "after the window");
    let report = read_flogfile(&path).unwrap();
    let texts: Vec<String> = report
        .events
        .iter()
        .map(|e| e.render().into_owned())
        .collect();
    assert_eq!(texts, ["trigger", "inside the window"]);
    let trailer = report.trailer.unwrap();
    assert_eq!(
        (trailer.end, trailer.trailing_events),
        (Some(flog_core::flogfile::EndReason::Delay), 1)
    );
    assert_eq!(trailer.finished, Some(clock.now()));
}

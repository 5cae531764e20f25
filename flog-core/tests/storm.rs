//! A storm: thousands of triggers at once from several threads, with the
//! default incident settings. Storm control holds the number of incidents,
//! retention the disk they take, and no logging call waits long.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{files_in, log_hex_noise, next_incident, watch_incidents};
use flog_core::{flogfile::read_flogfile, IncidentError, Level, Logger, ManualClock, Timestamp};

const THREADS: usize = 4;
const TRIGGERS_PER_THREAD: usize = 2500;
/// Retention: room for two or three of the reports of the storm (some 7 kB
/// each: the default 100 events per buffer, with 100 characters of noise).
const MAX_BYTES: u64 = 20 * 1024;

// Long on purpose: one scenario whose steps build on the state the earlier ones left (a real logdir and its files), so it reads top to bottom.
#[test]
fn a_burst_of_ten_thousand_triggers_is_held_by_storm_control_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    // A clock that stands still: the whole burst falls in one rate window
    // however slow the machine.
    let clock = Arc::new(ManualClock::new(Timestamp::parse("2026-01-01").unwrap()));
    let errors = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&errors);
    // Default trailing (5 s or 100 events) and storm control (10 a minute).
    let logger = Logger::builder()
        .clock(clock.clone())
        .retention(1000, MAX_BYTES)
        .on_error(move |e: &IncidentError| {
            eprintln!("{e}");
            seen.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    logger.set_logdir(dir.path()).unwrap();
    let rx = watch_incidents(&logger);
    // Buffers worth dumping, of hex noise that bzip2 squeezes only to half:
    // every report carries them.
    log_hex_noise(&logger, "app.work", 500, 100);

    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (logger, start) = (logger.clone(), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                let mut slowest = Duration::ZERO;
                let began = Instant::now();
                for i in 0..TRIGGERS_PER_THREAD {
                    let call = Instant::now();
                    logger
                        .event(Level::WEIRD)
                        .facility("app.storm")
                        .format("storm {t}/{i}")
                        .field("t", t as u64)
                        .field("i", i as u64)
                        .emit();
                    slowest = slowest.max(call.elapsed());
                }
                (slowest, began.elapsed())
            })
        })
        .collect();
    let timings: Vec<(Duration, Duration)> =
        threads.into_iter().map(|t| t.join().unwrap()).collect();
    logger.finish_incidents();

    let stats = logger.incident_stats();
    let triggers = (THREADS * TRIGGERS_PER_THREAD) as u64;
    assert_eq!(stats.declared, triggers);
    assert_eq!(stats.recorded, 10, "{stats:?}");
    assert_eq!(stats.failed, 0);
    assert_eq!(stats.recorded + stats.joined + stats.suppressed, triggers);
    assert!(stats.suppressed > triggers / 2, "{stats:?}");
    for _ in 0..10 {
        next_incident(&rx);
    }

    // Retention kept the newest reports within the byte budget (the newest
    // is always kept, whatever its size).
    let files = files_in(dir.path());
    let bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(dir.path().join(f)).unwrap().len())
        .sum();
    assert!(
        files.len() == 1 || bytes <= MAX_BYTES,
        "{} files, {bytes} bytes",
        files.len()
    );
    assert!(files.len() < 10, "retention deleted old reports: {files:?}");
    eprintln!("{} reports kept, {bytes} bytes", files.len());
    assert_eq!(errors.load(Ordering::SeqCst), 0);

    let slowest = timings.iter().map(|t| t.0).max().unwrap();
    let longest = timings.iter().map(|t| t.1).max().unwrap();
    eprintln!(
        "{triggers} triggers from {THREADS} threads in {longest:?}; slowest call {slowest:?}; {stats:?}"
    );
    // The slowest calls are the ten that write a report's dump before
    // returning; a generous bound, for loaded CI machines.
    assert!(slowest < Duration::from_secs(2), "a call took {slowest:?}");

    // The next window's first incident says how many triggers were dropped.
    clock.advance(Duration::from_secs(61));
    logger.msg(Level::WEIRD, "after the storm");
    logger.finish_incidents();
    let (_, path, trigger) = next_incident(&rx);
    assert_eq!(trigger.render(), "after the storm");
    let header = read_flogfile(&path).unwrap().header.unwrap();
    assert_eq!(header.suppressed_triggers, stats.suppressed);
}

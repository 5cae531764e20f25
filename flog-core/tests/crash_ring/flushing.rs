//! The crash ring with periodic flushing (`crash_ring_flush`): the period
//! is checked when the logger is built, the flusher runs on the logger's
//! clock, stops at once when the logger lets go of its logdir, and a
//! service killed while it flushes leaves the same crash report as one
//! without flushing.

use std::time::{Duration, Instant};

use flog_core::{ConfigError, ManualClock, Timestamp, MAX_CRASH_RING_FLUSH, MIN_CRASH_RING_FLUSH};

use super::common::wait_until;
use super::*;

/// The thread that flushes, by the name it is given.
const FLUSHER: &str = "flog-ring-flush";

fn flushing_logger(dir: &Path, period: Duration) -> Logger {
    Logger::builder()
        .logdir(dir)
        .crash_ring(true)
        .crash_ring_flush(period)
        .memory_budget(BUDGET)
        .max_buffers(MAX_BUFFERS)
        .trailing(false)
        .version("ring-child", "1.2.3")
        .build()
        .unwrap()
}

/// How many threads of this process have `name` (Linux names them in
/// `/proc/self/task/*/comm`).
fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}

/// The child's side for the `flushing-*` modes.
pub(super) fn child(mode: &str, dir: &Path) {
    match mode {
        "forever" => {
            let logger = flushing_logger(dir, MIN_CRASH_RING_FLUSH);
            // Flushing is under way before the parent's clock starts.
            let flushed = || logger.crash_ring_stats().unwrap().flushes > 0;
            wait_until("a first flush", flushed);
            println!("READY");
            log_from_threads(&logger, None);
        }
        // Alone in its process, so that its threads can be counted.
        "shutdown" => {
            let logger = flushing_logger(dir, MAX_CRASH_RING_FLUSH);
            println!("READY");
            // The thread names itself as it starts.
            wait_until("the flusher running", || threads_named(FLUSHER) == 1);
            log_from_threads(&logger, Some(20));
            let started = Instant::now();
            logger.shutdown();
            // Woken in the middle of a day-long period, not slept out.
            println!("SHUTDOWN {}", started.elapsed().as_millis());
            assert_eq!(logger.crash_ring_stats(), None);
            // Joined by then; the kernel may show the task a moment longer.
            wait_until("the flusher gone", || threads_named(FLUSHER) == 0);
            println!("FLUSHER GONE");
        }
        other => panic!("unknown mode flushing-{other}"),
    }
}

#[test]
fn a_flushing_period_outside_its_bounds_fails_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let build = |period| {
        Logger::builder()
            .logdir(dir.path())
            .crash_ring(true)
            .crash_ring_flush(period)
            .build()
    };
    let day = Duration::from_secs(24 * 60 * 60);
    for period in [
        Duration::ZERO,
        Duration::from_millis(9),
        day + Duration::from_nanos(1),
        Duration::MAX,
    ] {
        match build(period) {
            Err(ConfigError::CrashRingFlushPeriod { period: got }) => assert_eq!(got, period),
            other => panic!("{period:?}: {other:?}"),
        }
    }
    for period in [MIN_CRASH_RING_FLUSH, Duration::from_secs(1), day] {
        let logger = build(period).unwrap();
        let stats = logger.crash_ring_stats().unwrap();
        assert_eq!(stats.flush_period, Some(period));
    }
    let no_ring = Logger::builder()
        .logdir(dir.path())
        .crash_ring_flush(Duration::from_secs(1))
        .build();
    assert!(matches!(
        no_ring,
        Err(ConfigError::CrashRingFlushWithoutRing)
    ));
    assert!(matches!(
        Logger::builder()
            .crash_ring(true)
            .crash_ring_flush(Duration::from_secs(1))
            .build(),
        Err(ConfigError::CrashRingWithoutLogdir)
    ));
    // Without flushing: a ring, no flusher.
    let plain = logger(dir.path(), true);
    let stats = plain.crash_ring_stats().unwrap();
    assert_eq!((stats.flush_period, stats.flushes), (None, 0));
    drop(plain);
    assert_eq!(logger(dir.path(), false).crash_ring_stats(), None);
}

/// The flusher follows the logger's clock: a flush for each period the
/// clock is moved through, while the events go on into the ring.
#[test]
fn the_ring_is_flushed_once_a_period_of_the_loggers_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000_000)));
    let logger = Logger::builder()
        .clock(clock.clone())
        .logdir(dir.path())
        .crash_ring(true)
        .crash_ring_flush(Duration::from_secs(1))
        .memory_budget(BUDGET)
        .max_buffers(MAX_BUFFERS)
        .build()
        .unwrap();
    for n in 1..=3 {
        for i in 0..10 {
            log_one(&logger, 0, i);
        }
        clock.advance(Duration::from_millis(700));
        clock.advance(Duration::from_millis(300));
        wait_until("a flush", || {
            logger.crash_ring_stats().unwrap().flushes >= n
        });
        let stats = logger.crash_ring_stats().unwrap();
        assert_eq!((stats.flushes, stats.failed_flushes), (n, 0));
        assert!(stats.last_flush.is_some());
    }
    logger.shutdown();
    assert_eq!(logger.crash_ring_stats(), None);
    let ring = read_ring_file(&dir.path().join(RING_FILE)).unwrap();
    assert_eq!(ring.state, RingState::Closed);
    assert_eq!(ring_events(&ring, None).events.len(), 30);
}

/// `shutdown` stops the flusher at once, in the middle of its period, and
/// waits for it: no thread of that name is left, and the ring is closed.
#[test]
fn shutdown_stops_the_flusher_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = Service::start("flushing-shutdown", dir.path());
    let mut took = None;
    let mut line = String::new();
    while service.out.read_line(&mut line).unwrap() > 0 {
        if let Some(ms) = line.trim_end().split("SHUTDOWN ").nth(1) {
            took = Some(ms.parse::<u64>().unwrap());
        }
        if line.ends_with("FLUSHER GONE\n") {
            break;
        }
        line.clear();
    }
    assert!(
        line.ends_with("FLUSHER GONE\n"),
        "the child failed: {line:?}"
    );
    assert!(took.unwrap() < 5_000, "shutdown took {took:?} ms");
    assert!(service.child.wait().unwrap().success());
    let ring = read_ring_file(&dir.path().join(RING_FILE)).unwrap();
    assert_eq!(ring.state, RingState::Closed);
    drop(logger(dir.path(), false));
    assert_eq!(crash_reports(dir.path()).len(), 0);
}

/// Killed at random moments while its ring is flushed every 10 ms: the
/// next start reports exactly the newest events, as without flushing (a
/// flush that caught a slot half-written changes nothing in the pages).
#[test]
fn killed_while_flushing_the_next_start_reports_the_newest_events() {
    let mut rng = rounds_rng();
    for round in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let mut service = Service::start("flushing-forever", dir.path());
        let pid = service.child.id();
        let mut reported = Reported::default();
        // Long enough for flushes to run meanwhile (10 ms apart).
        let wanted = 2000 + rng() % 3000;
        let mut seen = 0;
        service.read_until(
            |_| {
                seen += 1;
                seen >= wanted
            },
            &mut reported,
        );
        service.child.kill().unwrap();
        assert_eq!(service.child.wait().unwrap().signal(), Some(9));
        service.finish(&mut reported);
        let caps = capacities(dir.path());
        drop(logger(dir.path(), false));
        let report = only_crash_report(dir.path());
        check_header(&report, pid);
        check_newest(&report, &reported, &caps);
        assert!(!report.events.is_empty(), "round {round}");
    }
}

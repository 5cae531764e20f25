//! The cost of logging: enabled events (also with the crash ring, flushed or
//! not), suppressed events, two threads at once, how long a trigger blocks
//! its caller with 10,000 events buffered, and how long one msync of a full
//! crash ring takes.
//!
//! Run with `cargo bench -p flog-core --bench logging`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use flog_core::{msg, Level, Logger, ManualClock, Timestamp, DEFAULT_MAX_BUFFERS};

/// Returns the event number, or `u64::MAX` when not generated. (A plain `u64`, as
/// `black_box` of an `Option<u64>` costs a store-forwarding stall that would
/// dominate the below-threshold figure.)
fn log_one(logger: &Logger, i: u64) -> u64 {
    msg!(
        logger = logger,
        Level::OPERATIONAL,
        facility = "app.db.pool",
        "checked out {conn} after {waited_us} us (pool {pool}, ok {ok})",
        conn = i,
        waited_us = 17u32,
        pool = "main",
        ok = true
    )
    .unwrap_or(u64::MAX)
}

const FACILITY: &str = "app.db.pool";

/// [`log_one`] with the facility a `const`, as a module would name its own.
fn log_one_const(logger: &Logger, i: u64) -> u64 {
    msg!(
        logger = logger,
        Level::OPERATIONAL,
        facility = FACILITY,
        "checked out {conn} after {waited_us} us (pool {pool}, ok {ok})",
        conn = i,
        waited_us = 17u32,
        pool = "main",
        ok = true
    )
    .unwrap_or(u64::MAX)
}

fn single_thread(c: &mut Criterion) {
    let logger = Logger::new();
    let mut i = 0u64;
    c.bench_function("enabled_event_4_fields", |b| {
        b.iter(|| {
            i += 1;
            black_box(log_one(&logger, i))
        })
    });

    let plain = Logger::builder().redaction(None).build().unwrap();
    c.bench_function("enabled_event_4_fields_no_redaction", |b| {
        b.iter(|| {
            i += 1;
            black_box(log_one(&plain, i))
        })
    });

    let dir = tempfile::tempdir().unwrap();
    let with_logdir = Logger::new();
    with_logdir.set_logdir(dir.path()).unwrap();
    c.bench_function("enabled_event_4_fields_logdir_set", |b| {
        b.iter(|| {
            i += 1;
            black_box(log_one(&with_logdir, i))
        })
    });

    // The same with the crash ring: every buffered record copied into the
    // mapped file as well (issue 17; target within 1.2x of the above).
    let ring_dir = tempfile::tempdir().unwrap();
    let with_ring = Logger::builder()
        .logdir(ring_dir.path())
        .crash_ring(true)
        .build()
        .unwrap();
    c.bench_function("enabled_event_4_fields_crash_ring", |b| {
        b.iter(|| {
            i += 1;
            black_box(log_one(&with_ring, i))
        })
    });

    // And with the ring flushed to disk every period by its own thread:
    // the logging thread pays for the page faults that follow each flush
    // (a written-back page is write-protected again) and for sharing the
    // machine with the msync.
    for (name, period) in [
        (
            "enabled_event_4_fields_crash_ring_flush_1s",
            Duration::from_secs(1),
        ),
        (
            "enabled_event_4_fields_crash_ring_flush_100ms",
            Duration::from_millis(100),
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let flushed = Logger::builder()
            .logdir(dir.path())
            .crash_ring(true)
            .crash_ring_flush(period)
            .build()
            .unwrap();
        c.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                black_box(log_one(&flushed, i))
            })
        });
        let stats = flushed.crash_ring_stats().unwrap();
        eprintln!(
            "{name}: {} flushes, the last {:?}",
            stats.flushes, stats.last_flush
        );
    }

    let quiet = Logger::builder().threshold(Level::UNUSUAL).build().unwrap();
    c.bench_function("below_threshold", |b| {
        b.iter(|| {
            i += 1;
            black_box(log_one(black_box(&quiet), i))
        })
    });

    quiet.set_facility_threshold("other", Some(Level::NOISY));
    c.bench_function("below_threshold_with_facility_thresholds", |b| {
        b.iter(|| {
            i += 1;
            black_box(log_one(black_box(&quiet), i))
        })
    });
    c.bench_function(
        "below_threshold_with_facility_thresholds_const_facility",
        |b| {
            b.iter(|| {
                i += 1;
                black_box(log_one_const(black_box(&quiet), i))
            })
        },
    );
}

/// One event at facility `t0`..`t3` or `shared`, each a literal (as a
/// module names its own facility), so each is its own constant call site.
fn log_literal(logger: &Logger, facility: usize, i: u64) -> Option<u64> {
    macro_rules! at {
        ($facility:literal) => {
            msg!(
                logger = logger,
                Level::OPERATIONAL,
                facility = $facility,
                "checked out {conn} after {waited_us} us (pool {pool}, ok {ok})",
                conn = i,
                waited_us = 17u32,
                pool = "main",
                ok = true
            )
        };
    }
    match facility {
        0 => at!("t0"),
        1 => at!("t1"),
        2 => at!("t2"),
        3 => at!("t3"),
        _ => at!("shared"),
    }
}

/// Functions logging one event at `facility`, a `&'static str` variable:
/// one call site for every facility, interned only for the first it sees
/// (so each bench gets a call site of its own).
macro_rules! variable_site {
    ($($name:ident),*) => {$(
        fn $name(logger: &Logger, facility: &'static str, i: u64) -> Option<u64> {
            msg!(
                logger = logger,
                Level::OPERATIONAL,
                facility = facility,
                "checked out {conn} after {waited_us} us (pool {pool}, ok {ok})",
                conn = i,
                waited_us = 17u32,
                pool = "main",
                ok = true
            )
        }
    )*};
}
variable_site!(variable_1, variable_own, variable_shared);

type Variable = fn(&Logger, &'static str, u64) -> Option<u64>;

/// The calling thread's CPU time so far.
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// How [`concurrent`] times its threads.
#[derive(Clone, Copy)]
enum Timing {
    /// Wall-clock time: what a caller waits, the machine's other work
    /// included (two threads share one core when another process holds
    /// the other).
    Wall,
    /// The thread's own CPU time: what its events cost it, cache lines
    /// moving between the cores included, time spent descheduled not.
    Cpu,
}

/// Per-thread cost of one event with `threads` threads logging at once; each
/// thread uses its own facility when `own_facility`, else all share one
/// buffer; through a literal facility per call site, or one `variable`
/// call site with the facility in a variable.
fn concurrent(
    threads: usize,
    own_facility: bool,
    variable: Option<Variable>,
    timing: Timing,
    iters: u64,
) -> Duration {
    let logger = Logger::new();
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (logger, barrier) = (logger.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let which = if own_facility { t % 4 } else { 4 };
                let name = ["t0", "t1", "t2", "t3", "shared"][which];
                barrier.wait();
                let (start, cpu) = (Instant::now(), thread_cpu());
                for i in 0..iters {
                    if let Some(log) = variable {
                        black_box(log(&logger, name, i));
                    } else {
                        black_box(log_literal(&logger, which, i));
                    }
                }
                match timing {
                    Timing::Wall => start.elapsed(),
                    Timing::Cpu => thread_cpu() - cpu,
                }
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .max()
        .unwrap()
}

fn two_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("per_thread_event");
    for (name, threads, own, variable, timing) in [
        ("1_thread", 1, true, None, Timing::Wall),
        ("2_threads_own_facility", 2, true, None, Timing::Wall),
        ("2_threads_shared_facility", 2, false, None, Timing::Wall),
        ("1_thread_cpu", 1, true, None, Timing::Cpu),
        ("2_threads_own_facility_cpu", 2, true, None, Timing::Cpu),
        ("2_threads_shared_facility_cpu", 2, false, None, Timing::Cpu),
        (
            "1_thread_variable_facility",
            1,
            true,
            Some(variable_1 as Variable),
            Timing::Wall,
        ),
        (
            "2_threads_own_facility_variable",
            2,
            true,
            Some(variable_own),
            Timing::Wall,
        ),
        (
            "2_threads_shared_facility_variable",
            2,
            false,
            Some(variable_shared),
            Timing::Wall,
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|n| concurrent(threads, own, variable, timing, n))
        });
    }
    g.finish();
}

fn trigger_with_10k_buffered(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let logger = Logger::builder()
        .buffer_size(Level::OPERATIONAL, 10_000)
        .trailing(false)
        .incident_rate_limit(usize::MAX, Duration::from_secs(1))
        .retention(5, u64::MAX)
        .build()
        .unwrap();
    for i in 0..10_000u64 {
        log_one(&logger, i);
    }
    logger.set_logdir(dir.path()).unwrap();
    let mut g = c.benchmark_group("trigger");
    g.sample_size(20);
    g.bench_function("10k_buffered_events", |b| {
        b.iter_custom(|iters| {
            let mut blocked = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                black_box(logger.msg(Level::WEIRD, "trigger"));
                blocked += start.elapsed();
                // Compression runs on the reporter thread; keep it out of the
                // next measurement.
                logger.finish_incidents();
            }
            blocked
        })
    });
    g.finish();
}

/// How long one msync of a full crash ring of the default budget (32 MiB,
/// every page dirty) takes, as the flusher thread times it: each iteration
/// rewrites every buffer's segment (1024 buffers and the overflow one, more
/// events than a segment holds) and moves the logger's clock one period on,
/// so the flusher flushes; only the flush is measured.
fn crash_ring_msync(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000_000)));
    let period = Duration::from_secs(1);
    let logger = Logger::builder()
        .clock(clock.clone())
        .logdir(dir.path())
        .crash_ring(true)
        .crash_ring_flush(period)
        .buffer_size(Level::OPERATIONAL, 200)
        .build()
        .unwrap();
    let facilities: Vec<String> = (0..DEFAULT_MAX_BUFFERS + 100)
        .map(|f| format!("app.f{f}"))
        .collect();
    let fill = |round: u64| {
        for i in 0..200 {
            for facility in &facilities {
                logger
                    .event(Level::OPERATIONAL)
                    .facility(facility.clone())
                    .format("event {i} of round {round}")
                    .field("i", i)
                    .field("round", round)
                    .emit();
            }
        }
    };
    let mut round = 0;
    let mut g = c.benchmark_group("crash_ring");
    g.sample_size(10);
    g.bench_function("msync_full_32mib_ring", |b| {
        b.iter_custom(|iters| {
            let mut flushing = Duration::ZERO;
            for _ in 0..iters {
                round += 1;
                fill(round);
                let before = logger.crash_ring_stats().unwrap().flushes;
                clock.advance(period);
                let deadline = Instant::now() + Duration::from_secs(60);
                let stats = loop {
                    let stats = logger.crash_ring_stats().unwrap();
                    if stats.flushes > before {
                        break stats;
                    }
                    assert!(Instant::now() < deadline, "the flusher never flushed");
                    std::thread::yield_now();
                };
                flushing += stats.last_flush.unwrap();
            }
            flushing
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    single_thread,
    two_threads,
    trigger_with_10k_buffered,
    crash_ring_msync
);
criterion_main!(benches);

//! The cost of logging: enabled events, suppressed events, two threads at once, and
//! how long a trigger blocks its caller with 10,000 events buffered.
//!
//! Run with `cargo bench -p flog-core --bench logging`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use flog_core::{msg, Level, Logger};

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

/// Per-thread cost of one event with `threads` threads logging at once; each
/// thread uses its own facility when `own_facility`, else all share one buffer.
fn concurrent(threads: usize, own_facility: bool, iters: u64) -> Duration {
    let logger = Logger::new();
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (logger, barrier) = (logger.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let facility = if own_facility {
                    ["t0", "t1", "t2", "t3"][t % 4]
                } else {
                    "shared"
                };
                barrier.wait();
                let start = Instant::now();
                for i in 0..iters {
                    black_box(msg!(
                        logger = logger,
                        Level::OPERATIONAL,
                        facility = facility,
                        "checked out {conn} after {waited_us} us (pool {pool}, ok {ok})",
                        conn = i,
                        waited_us = 17u32,
                        pool = "main",
                        ok = true
                    ));
                }
                start.elapsed()
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
    g.bench_function("1_thread", |b| b.iter_custom(|n| concurrent(1, true, n)));
    g.bench_function("2_threads_own_facility", |b| {
        b.iter_custom(|n| concurrent(2, true, n))
    });
    g.bench_function("2_threads_shared_facility", |b| {
        b.iter_custom(|n| concurrent(2, false, n))
    });
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

criterion_group!(
    benches,
    single_thread,
    two_threads,
    trigger_with_10k_buffered
);
criterion_main!(benches);

//! Measures event gathering (`[events]`) by the real daemon: N publishers
//! in this process, each logging R events a second (the 4-field event of
//! `flog-core`'s `enabled_event_4_fields` bench) for S seconds, over TLS on
//! loopback. Reports what reached the files (stored, in gaps, missing), the
//! daemon's CPU per 100k events/s and its peak RSS, and the delay from an
//! event being logged to the gatherer receiving it (the receipt's `rx_time`
//! minus the event's `time`; the write follows within one burst). Ignored
//! by default; run it with
//!
//! ```text
//! cargo test --release -p flog-gatherer --test daemon event_load:: -- --ignored --nocapture
//! ```
//!
//! `FLOG_LOAD_PUBLISHERS`, `FLOG_LOAD_RATE` (per publisher) and
//! `FLOG_LOAD_SECONDS` change the defaults (50, 20000, 5). The publishers
//! share this process's two cores with the daemon: at high rates the
//! loggers themselves are part of what the machine has to carry.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flog_core::flogfile::{FlogReader, Record};
use flog_core::{msg, Level, Logger};

use crate::support::{add_publisher, add_rule, cpu_time, create, memory, Daemon, Service};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn log_one(logger: &Logger, i: u64) -> Option<u64> {
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
}

/// Logs `rate` events a second into each of `loggers` until `stop`, paced
/// in 5 ms steps; returns the numbers logged, per logger.
fn log_paced(loggers: Vec<Logger>, rate: u64, stop: Arc<AtomicBool>) -> Vec<Vec<u64>> {
    const STEP: Duration = Duration::from_millis(5);
    let per_step = (rate * STEP.as_millis() as u64 / 1000).max(1);
    let mut logged: Vec<Vec<u64>> = vec![Vec::new(); loggers.len()];
    let started = Instant::now();
    let mut step = 0u32;
    while !stop.load(Ordering::Relaxed) {
        for (logger, nums) in loggers.iter().zip(&mut logged) {
            for _ in 0..per_step {
                let i = nums.len() as u64;
                nums.extend(log_one(logger, i));
            }
        }
        step += 1;
        // Pacing, not waiting for anything: the rate is the point.
        if let Some(ahead) = (started + STEP * step).checked_duration_since(Instant::now()) {
            std::thread::sleep(ahead);
        }
    }
    logged
}

#[derive(Default)]
struct Tally {
    stored: u64,
    twice: u64,
    gap_events: u64,
    /// Gap events by reason.
    reasons: BTreeMap<String, u64>,
    delays_us: Vec<i64>,
}

/// Reads every gathered file once.
fn tally(events: &Path) -> (Tally, BTreeMap<String, Vec<u64>>) {
    let mut t = Tally::default();
    let mut seen: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut names: Vec<_> = fs::read_dir(events)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().unwrap().contains("/from-"))
        .collect();
    names.sort();
    for path in names {
        for record in FlogReader::open(&path).unwrap().map_while(Result::ok) {
            match record {
                Record::Received(r) => {
                    t.stored += 1;
                    let nums = seen.entry(r.receipt.from.clone()).or_default();
                    nums.push(r.event.num);
                    if r.event.num % 16 == 0 {
                        t.delays_us.push(r.receipt.rx_time.0 - r.event.time.0);
                    }
                }
                Record::Gap(g) => {
                    t.gap_events += g.count;
                    *t.reasons.entry(g.reason.as_str().to_owned()).or_default() += g.count;
                }
                _ => {}
            }
        }
    }
    for nums in seen.values_mut() {
        let len = nums.len();
        nums.sort_unstable();
        nums.dedup();
        t.twice += (len - nums.len()) as u64;
    }
    t.delays_us.sort_unstable();
    (t, seen)
}

/// Waits until the current file stops growing (polled, with a deadline):
/// the daemon has written what it was sent.
fn wait_quiet(events: &Path, deadline: Duration) {
    let size = || -> u64 {
        fs::read_dir(events)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum()
    };
    let until = Instant::now() + deadline;
    let mut last = size();
    let mut still = 0;
    while still < 4 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(250));
        let now = size();
        still = if now == last { still + 1 } else { 0 };
        last = now;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run with --ignored --nocapture"]
async fn publishers_logging_at_a_rate_into_the_event_gatherer() {
    let publishers = env_or("FLOG_LOAD_PUBLISHERS", 50) as usize;
    let rate = env_or("FLOG_LOAD_RATE", 20_000);
    let seconds = env_or("FLOG_LOAD_SECONDS", 5);
    let mut services = Vec::new();
    for _ in 0..publishers {
        services.push(Service::start().await);
    }
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path().join("g");
    create(&basedir, &[("poll_interval", "\"60s\"")]);
    add_rule(&basedir, "[events]\ncompress = false\n");
    for (i, s) in services.iter().enumerate() {
        add_publisher(
            &basedir,
            &format!("p{i:03}.url"),
            &s.publisher.url().to_string(),
        );
    }
    let mut daemon = Daemon::start(&basedir);
    for _ in 0..publishers {
        daemon.wait_line(&["gathering events of"]);
    }
    let pid = daemon.pid();

    let stop = Arc::new(AtomicBool::new(false));
    // Two logging threads, each with half the publishers.
    let halves: Vec<Vec<Logger>> = services
        .chunks(publishers.div_ceil(2))
        .map(|c| c.iter().map(|s| s.logger.clone()).collect())
        .collect();
    let cpu_before = cpu_time(pid);
    let started = Instant::now();
    let threads: Vec<_> = halves
        .into_iter()
        .map(|loggers| {
            let stop = stop.clone();
            std::thread::spawn(move || log_paced(loggers, rate, stop))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let logged: Vec<Vec<u64>> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let window = started.elapsed();
    let events = basedir.join(flog_gatherer::EVENTS_DIR);
    wait_quiet(&events, Duration::from_secs(120));
    let drained = started.elapsed();
    let cpu = cpu_time(pid) - cpu_before;
    let (_, peak_kib) = memory(pid);
    assert_eq!(daemon.stop().code(), Some(0));

    let (t, seen) = tally(&events);
    let total_logged: u64 = logged.iter().map(|l| l.len() as u64).sum();
    let mut missing = 0u64;
    for (s, nums) in services.iter().zip(&logged) {
        let got = seen.get(&s.id()).map_or(&[][..], Vec::as_slice);
        missing += nums
            .iter()
            .filter(|n| got.binary_search(n).is_err())
            .count() as u64;
    }
    let achieved = total_logged as f64 / window.as_secs_f64();
    let pct = |p: f64| {
        let d = &t.delays_us;
        if d.is_empty() {
            return 0.0;
        }
        d[((d.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0
    };
    println!(
        "{publishers} publishers x {rate}/s for {:.1}s: logged {total_logged} ({:.0}/s), stored {} \
         (twice {}), not stored {missing}, in gaps {} {:?}; daemon CPU {:.2}s until drained \
         at {:.1}s = {:.1}% of a core per 100k events/s; peak RSS {} MiB; delay logged->received \
         p50 {:.1} ms, p99 {:.1} ms",
        window.as_secs_f64(),
        achieved,
        t.stored,
        t.twice,
        t.gap_events,
        t.reasons,
        cpu.as_secs_f64(),
        drained.as_secs_f64(),
        100.0 * cpu.as_secs_f64() / window.as_secs_f64() / (achieved / 100_000.0),
        peak_kib / 1024,
        pct(0.5),
        pct(0.99),
    );
    for s in services {
        s.publisher.shutdown().await;
    }
}

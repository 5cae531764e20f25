//! The buffers' memory budget, measured with a counting allocator: hostile
//! facility names and huge values from several threads never take the
//! buffers past it; and which events a buffer keeps when many threads log to
//! it at once (docs/flogfile.md, "Buffered events").

use std::alloc::System;
use std::borrow::Cow;
use std::sync::{Arc, Barrier, Mutex};

use flog_core::{flogfile::MAX_VALUE_BYTES, msg, Event, Level, Logger, Value};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The counting allocator counts every thread, so the tests that measure run
/// one at a time.
static MEASURING: Mutex<()> = Mutex::new(());

fn live(region: &Region<'_, System>) -> i64 {
    let s = region.change();
    s.bytes_allocated as i64 - s.bytes_deallocated as i64
}

/// A facility no one would choose: long, multi-byte, dotted, distinct per `i`.
fn hostile_facility(t: usize, i: usize) -> String {
    format!("{}.ünï{t}.{i}.{}", "ä.".repeat(3000), "x".repeat(5000))
}

fn hostile_event(logger: &Logger, t: usize, i: usize) {
    let huge_text = "€".repeat(400_000); // 1.2 MB
    let many: Vec<Value> = (0..20_000).map(Value::from).collect();
    let mut deep = Value::Null;
    for _ in 0..500 {
        deep = Value::List(vec![deep]);
    }
    let level = [Level::NOISY, Level::OPERATIONAL, Level::WEIRD][i % 3];
    logger
        .event(level)
        .facility(hostile_facility(t, i % 8))
        .message(huge_text.clone())
        .field(Cow::Owned("k".repeat(50_000)), huge_text)
        .field("bytes", vec![0xa5u8; 300_000])
        .field("many", many)
        .field("deep", deep)
        .failure("f".repeat(100_000))
        .emit();
    logger.msg(level, "a small one after it");
    // Call sites with constant parts fill the call-site dictionary: each
    // has an entry per level it logs at.
    let level = Level(20 + (i % 236) as u16);
    macro_rules! call_sites {
        ($($format:literal),*) => {$(
            msg!(logger = logger, level, facility = "app.dictionary.of.a.long.facility.name",
                 $format, a = i, b = t, c = "text");
        )*};
    }
    call_sites!(
        "one {a} {b} {c} and a format string long enough to count",
        "two {a} {b} {c} and a format string long enough to count",
        "three {a} {b} {c} and a format string long enough to count",
        "four {a} {b} {c} and a format string long enough to count",
        "five {a} {b} {c} and a format string long enough to count",
        "six {a} {b} {c} and a format string long enough to count",
        "seven {a} {b} {c} and a format string long enough to count",
        "eight {a} {b} {c} and a format string long enough to count"
    );
}

#[test]
fn hostile_names_and_huge_values_never_pass_the_budget() {
    let _one = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    const BUDGET: usize = 2 << 20;
    let region = Region::new(GLOBAL);
    let empty = Logger::builder()
        .memory_budget(BUDGET)
        .max_buffers(32)
        .buffer_size(Level::NOISY, 100_000)
        .buffer_size(Level::OPERATIONAL, 100_000)
        .buffer_size(Level::WEIRD, 100_000)
        .overflow_size(100_000)
        .build()
        .unwrap();
    let logger = empty.clone();
    let at_start = live(&region);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let logger = logger.clone();
            std::thread::spawn(move || {
                for i in 0..600 {
                    hostile_event(&logger, t, i);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let held = live(&region) - at_start;
    println!("the buffers hold {held} bytes of a budget of {BUDGET}");
    assert!(
        held <= BUDGET as i64,
        "the buffers hold {held} bytes, past the budget of {BUDGET}"
    );
    // They are full, not empty: the budget was used, and what is kept is cut.
    assert!(held > (BUDGET / 2) as i64, "only {held} bytes held");
    let events = logger.buffered_events();
    assert!(events.len() > 1000, "{} events kept", events.len());
    let (interned, events): (Vec<&Event>, Vec<&Event>) = events
        .iter()
        .partition(|e| e.facility() == "app.dictionary.of.a.long.facility.name");
    assert!(!interned.is_empty());
    for e in interned {
        assert!(
            e.render()
                .ends_with(" text and a format string long enough to count"),
            "{e:?}"
        );
    }
    let big = events
        .iter()
        .filter(|e| e.fields.len() > 1)
        .collect::<Vec<_>>();
    for e in &big {
        assert!(e.facility().len() < MAX_VALUE_BYTES + 100);
        let Some(Value::Text(t)) = e.fields.iter().map(|(_, v)| v).next() else {
            panic!("the huge text field is missing: {e:?}");
        };
        assert!(
            t.ends_with("[flog: truncated, 1200000 bytes in all]"),
            "{t:.80}"
        );
    }
    // Events too large for their buffer even cut are kept as a stub that says so.
    let stubs = events
        .iter()
        .filter(|e| e.raw_text().starts_with("[flog: an event of "))
        .count();
    assert!(
        big.len() + stubs >= 1,
        "the huge events are neither kept cut nor as stubs"
    );
}

#[test]
fn the_default_budget_is_thirty_two_mebibytes_and_too_small_a_one_is_refused() {
    assert_eq!(flog_core::DEFAULT_MEMORY_BUDGET, 32 << 20);
    let err = Logger::builder()
        .memory_budget(1 << 20)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("memory budget"), "{err}");
    Logger::builder()
        .memory_budget(1 << 20)
        .max_buffers(16)
        .build()
        .unwrap();
}

/// Many threads into one (facility, level): the buffer keeps exactly its
/// size of events, each thread's kept events are its newest, and every
/// event kept is newer than every event of the same thread that was evicted.
#[test]
fn many_threads_into_one_buffer_keep_the_newest_of_each_and_n_in_all() {
    const THREADS: usize = 8;
    const EACH: usize = 2_000;
    const SIZE: usize = 300;
    for _ in 0..20 {
        let logger = Logger::builder()
            .buffer_size(Level::OPERATIONAL, SIZE)
            .build()
            .unwrap();
        let start = Arc::new(Barrier::new(THREADS));
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let (logger, start) = (logger.clone(), Arc::clone(&start));
                std::thread::spawn(move || {
                    start.wait();
                    (0..EACH)
                        .map(|i| {
                            msg!(
                                logger = logger,
                                Level::OPERATIONAL,
                                facility = "app.web",
                                "request {i} on {t}",
                                i = i,
                                t = t
                            )
                            .unwrap()
                        })
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        let logged: Vec<Vec<u64>> = threads.into_iter().map(|h| h.join().unwrap()).collect();
        logger.msg(Level::WEIRD, "elsewhere");
        let kept: Vec<Event> = logger.buffered_events();
        let nums: Vec<u64> = kept.iter().map(|e| e.num).collect();
        assert!(
            nums.windows(2).all(|w| w[0] < w[1]),
            "not in number order, or twice"
        );
        let web: Vec<&Event> = kept.iter().filter(|e| e.facility() == "app.web").collect();
        assert_eq!(web.len(), SIZE);
        assert_eq!(kept.len(), SIZE + 1, "the WEIRD event has its own buffer");
        for (t, own) in logged.iter().enumerate() {
            let kept_own: Vec<u64> = web
                .iter()
                .filter(|e| e.field("t") == Some(&Value::Int(t as i64)))
                .map(|e| e.num)
                .collect();
            assert_eq!(
                kept_own,
                own[own.len() - kept_own.len()..],
                "thread {t} kept events that are not its newest"
            );
        }
    }
}

/// The same with compact and whole records in one buffer: each thread logs
/// from a constant call site (compact records) and, every third event,
/// with a message made at run time (whole records). Whatever the kind, the
/// buffer keeps its size of the newest events, each once, in number order,
/// and of each thread its newest.
#[test]
fn many_threads_mixing_compact_and_whole_records_keep_the_newest() {
    const THREADS: usize = 6;
    const EACH: usize = 1_500;
    const SIZE: usize = 250;
    // Its allocations would count in a measuring test's figure.
    let _measuring = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..20 {
        let logger = Logger::builder()
            .buffer_size(Level::OPERATIONAL, SIZE)
            .build()
            .unwrap();
        let start = Arc::new(Barrier::new(THREADS));
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let (logger, start) = (logger.clone(), Arc::clone(&start));
                std::thread::spawn(move || {
                    start.wait();
                    (0..EACH)
                        .map(|i| {
                            if i % 3 == 0 {
                                msg!(
                                    logger = logger,
                                    Level::OPERATIONAL,
                                    facility = "app.web",
                                    message = format!("whole {i} on {t}"),
                                    i = i,
                                    t = t
                                )
                            } else {
                                msg!(
                                    logger = logger,
                                    Level::OPERATIONAL,
                                    facility = "app.web",
                                    "compact {i} on {t}",
                                    i = i,
                                    t = t
                                )
                            }
                            .unwrap()
                        })
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        let logged: Vec<Vec<u64>> = threads.into_iter().map(|h| h.join().unwrap()).collect();
        let kept: Vec<Event> = logger.buffered_events();
        let nums: Vec<u64> = kept.iter().map(|e| e.num).collect();
        assert!(
            nums.windows(2).all(|w| w[0] < w[1]),
            "not in number order, or twice"
        );
        assert_eq!(kept.len(), SIZE);
        // The newest SIZE of all logged, give or take the order in which
        // threads took the lock: every kept event is newer than every
        // evicted one of its own thread.
        for (t, own) in logged.iter().enumerate() {
            let kept_own: Vec<&Event> = kept
                .iter()
                .filter(|e| e.field("t") == Some(&Value::Int(t as i64)))
                .collect();
            let nums: Vec<u64> = kept_own.iter().map(|e| e.num).collect();
            assert_eq!(nums, own[own.len() - nums.len()..], "thread {t}");
            for e in kept_own {
                let Some(Value::Int(i)) = e.field("i") else {
                    panic!("{e:?}")
                };
                let kind = if i % 3 == 0 { "whole" } else { "compact" };
                assert_eq!(e.render(), format!("{kind} {i} on {t}"));
                assert_eq!(e.num, own[*i as usize]);
            }
        }
    }
}

//! Heap bytes per buffered event: one million events of the benches' shape
//! (`msg!` with a facility, a format string and 4 scalar fields) logged into
//! one buffer large enough to keep them all, counted by a counting global
//! allocator. Prints the figure; not a criterion bench.
//!
//! Run with `cargo bench -p flog-core --bench memory`.
#![allow(missing_docs)]

use std::alloc::System;

use flog_core::{msg, Level, Logger};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const EVENTS: usize = 1_000_000;

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter that does not name us.
    if std::env::args()
        .skip(1)
        .any(|a| a != "--bench" && !"memory".contains(&*a))
    {
        return;
    }
    let region = Region::new(GLOBAL);
    let logger = Logger::builder()
        .buffer_size(Level::OPERATIONAL, EVENTS)
        .memory_budget(1 << 30)
        .build()
        .unwrap();
    let before = region.change();
    for i in 0..EVENTS as u64 {
        msg!(
            logger = logger,
            Level::OPERATIONAL,
            facility = "app.db.pool",
            "checked out {conn} after {waited_us} us (pool {pool}, ok {ok})",
            conn = i,
            waited_us = 17u32,
            pool = "main",
            ok = true
        );
    }
    let after = region.change();
    // `realloc` growth counts in `bytes_allocated` (and again, apart, in
    // `bytes_reallocated`, which is left out).
    let live = |s: stats_alloc::Stats| s.bytes_allocated as i64 - s.bytes_deallocated as i64;
    let bytes = live(after) - live(before);
    assert_eq!(logger.buffered_events().len(), EVENTS, "all events kept");
    println!(
        "memory/buffered_event_4_fields: {:.1} heap bytes per buffered event ({EVENTS} events, {} MiB live)",
        bytes as f64 / EVENTS as f64,
        bytes / (1 << 20)
    );
}

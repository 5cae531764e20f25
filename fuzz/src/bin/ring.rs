//! Fuzzes the crash ring reader: any bytes, read as a ring file's words,
//! give a ring's valid contents with warnings, or an error; never a panic,
//! and every event read from it renders.
use std::sync::atomic::AtomicU64;

use flog_core::flogfile::{read_ring_words, RingMeta};
use flog_core::ring_events;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        // As `read_ring_file` takes a file: whole words, in native order.
        let words: Vec<AtomicU64> = data
            .chunks_exact(8)
            .map(|c| AtomicU64::new(u64::from_ne_bytes(c.try_into().unwrap())))
            .collect();
        if let Ok(contents) = read_ring_words(&words) {
            let _ = RingMeta::of(&contents);
            for warning in &contents.warnings {
                let _ = warning.to_string();
            }
            let ring = ring_events(&contents, None);
            for warning in &ring.warnings {
                let _ = warning.to_string();
            }
            for event in ring.events {
                let _ = event.render();
            }
        }
    });
}

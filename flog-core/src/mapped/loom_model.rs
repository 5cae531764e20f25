//! A loom model of the slot protocol: one writer writes and overwrites
//! slots while a reader reads them, and loom runs every interleaving (and
//! every value the memory model lets a relaxed load see) up to a bound. The
//! reader must never accept a torn record: each one it returns is whole and
//! was written; anything else it reports as torn or skips.
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p flog-core --lib --release mapped::loom`
//! (see docs/reliability.md). Preemptions are bounded at 2 unless
//! `LOOM_MAX_PREEMPTIONS` says otherwise, which keeps a run under a minute.

use ::loom::model::Builder;
use ::loom::sync::Arc;
use ::loom::thread;

use super::atomic::AtomicU64;
use super::slots::{read_slots, SlotWriter, SlotsRead, SLOT_HEAD};

/// One word of data a slot: a record of 8 bytes takes one slot, of 16 two.
const SLOT_WORDS: usize = SLOT_HEAD + 1;

fn record(num: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (num as u8).wrapping_mul(37) ^ i as u8)
        .collect()
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

/// Every record read is one the writer wrote, byte for byte, and they come
/// in the order written.
fn check(read: &SlotsRead, len: usize) {
    for r in &read.records {
        assert_eq!(r.bytes, record(r.num, len), "record {} torn", r.num);
        assert_eq!(r.seq, r.num, "one record a seq");
    }
    assert!(read.records.windows(2).all(|p| p[0].num < p[1].num));
    assert_eq!(read.corrupt, 0, "a live writer's slot read as corrupt");
}

/// Writes records `1..=count` of `len` bytes into `slots` slots, while a
/// reader reads once; then the newest `keep` are all there.
fn writer_and_reader(slots: usize, count: u64, len: usize, keep: &'static [u64]) {
    model(move || {
        let area: Arc<Vec<AtomicU64>> =
            Arc::new((0..slots * SLOT_WORDS).map(|_| AtomicU64::new(0)).collect());
        let writer = {
            let area = Arc::clone(&area);
            thread::spawn(move || {
                let w = SlotWriter::new(SLOT_WORDS, slots);
                for num in 1..=count {
                    assert!(w.push(&area, num, &record(num, len)));
                }
            })
        };
        check(&read_slots(&area, SLOT_WORDS), len);
        writer.join().unwrap();
        let after = read_slots(&area, SLOT_WORDS);
        check(&after, len);
        let nums: Vec<u64> = after.records.iter().map(|r| r.num).collect();
        assert_eq!(nums, keep);
        assert_eq!(after.torn, 0);
    });
}

#[test]
fn one_slot_records_overwritten_while_read() {
    // Two slots, three records: the third overwrites the first.
    writer_and_reader(2, 3, 8, &[2, 3]);
}

#[test]
fn a_two_part_record_overwriting_another_while_read() {
    // Three slots: record 1 takes slots 0-1; record 2 does not fit in slot
    // 2, which is emptied, and overwrites slots 0-1 part by part.
    writer_and_reader(3, 2, 16, &[2]);
}

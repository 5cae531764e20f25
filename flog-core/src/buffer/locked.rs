//! One buffer as the logger uses it: its bytes behind a lock, its crash
//! ring segment, and the push of an event's record into both.

use std::sync::{Mutex, MutexGuard, PoisonError};

use super::compact::{self, Parts};
use super::record::{encode_buffered, encode_record, with_scratch};
use super::ring::{Pool, RingBytes};
use crate::event::Event;
use crate::mapped::Segment;
use crate::value::Value;

/// One bounded circular buffer. A std mutex is enough: each one is held for a
/// copy of the encoded event's bytes (encoding happens before, unlocked), and
/// threads logging to different (facility, level) pairs never meet.
// Aligned to two cache lines so that the locks of rings allocated side by side
// never share a line: threads logging to different buffers would otherwise
// slow each other down (adjacent-line prefetch pairs lines, hence 128).
#[derive(Debug)]
#[repr(align(128))]
pub(super) struct Ring {
    inner: Mutex<RingBytes>,
    /// The longest record this ring always has room for; a longer event is
    /// kept as a stub (see [`stub`]).
    record_limit: usize,
    /// This ring's segment of the crash ring file, if the logger has one.
    mapped: Option<Segment>,
    /// Its place in the buffers' slots, if it has one (see `Buffers::slots`).
    pub(super) slot: Option<u32>,
}

impl Ring {
    pub(super) fn new(
        capacity: usize,
        floor: usize,
        mapped: Option<Segment>,
        slot: Option<u32>,
    ) -> Ring {
        Ring {
            inner: Mutex::new(RingBytes::new(capacity, floor)),
            record_limit: RingBytes::record_limit(floor),
            mapped,
            slot,
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, RingBytes> {
        // A panic in an observer cannot leave a ring half-updated: every update
        // is a single push or pop, so a poisoned ring is still consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores `event`: as a compact record of its entry `site` in the
    /// call-site dictionary when it has one, else whole.
    #[inline(always)]
    pub(super) fn push(
        &self,
        event: &Event,
        site: Option<u32>,
        pool: &Pool,
        while_held: impl FnOnce(&Event),
    ) {
        with_scratch(|record| {
            encode_record(event, site, self.record_limit, record);
            self.store(event.num, record, pool, || while_held(event));
        });
    }

    /// Stores the encoded `record` of event `num` and calls `while_held`
    /// with the ring still locked.
    #[inline(always)]
    fn store(&self, num: u64, record: &[u8], pool: &Pool, while_held: impl FnOnce()) {
        let mut ring = self.lock();
        // The crash ring's copy of what the buffer keeps, under the same
        // lock (one writer per segment); the in-memory ring stays the
        // source of dumps and snapshots.
        if let (true, Some(mapped)) = (ring.push(record, pool), &self.mapped) {
            mapped.push(num, record);
        }
        while_held();
    }

    /// Stores the compact record of `parts` and `values` (a `msg!` call's
    /// event, with no [`Event`] made for it): as [`push`](Self::push) does,
    /// but `whole` makes the event only if the record is too long for this
    /// ring (it is then stored whole, or as its stub).
    #[inline(always)]
    pub(super) fn push_compact(
        &self,
        parts: &Parts<'_>,
        values: &[Value],
        pool: &Pool,
        whole: &dyn Fn() -> Event,
        while_held: impl FnOnce(),
    ) {
        with_scratch(|record| {
            record.clear();
            compact::encode_parts(parts, values.iter(), record);
            if record.len() > self.record_limit {
                encode_buffered(&whole(), self.record_limit, record);
            }
            self.store(parts.num, record, pool, while_held);
        });
    }

    pub(super) fn resize(&self, capacity: usize) {
        self.lock().resize(capacity);
    }
}

//! The shared ring of encoded live events, and what one subscriber reads
//! from it.
//!
//! Every event observed gets a *position*: its index among all events the
//! publisher observed. The ring holds the newest positions, bounded in bytes;
//! an entry is one encoded event, or a gap standing for events the logging
//! thread had to drop. A subscriber reads from its own position on, so where
//! it loses events (evicted before it read them, beyond its lag limit, or
//! dropped before they reached the ring) is known exactly.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

/// Bookkeeping counted against the byte budget for each entry.
const ENTRY_OVERHEAD: usize = 64;

#[derive(Debug)]
struct Entry {
    pos: u64,
    /// Events this entry stands for: 1 for an event, the count for a gap.
    weight: u64,
    /// The event's number, to recognise events a catch-up already sent.
    num: u64,
    /// `None` for a gap.
    event: Option<Bytes>,
}

/// The newest live events, bounded in bytes.
#[derive(Debug)]
pub(crate) struct Ring {
    entries: VecDeque<Entry>,
    /// The position of the first entry (or `next_pos` when empty).
    first_pos: u64,
    next_pos: u64,
    bytes: usize,
    max_bytes: usize,
    /// Bumped by [`reset`](Self::reset), so that a batch taken from the
    /// ingress before a reset is not pushed after it.
    pub(crate) epoch: u64,
}

/// What a subscriber is handed, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// An encoded event.
    Event(Bytes),
    /// This many events were lost here.
    Gap(u64),
}

/// Where a subscriber reads next, and which events to skip because its
/// catch-up sent them already.
#[derive(Debug, Clone)]
pub(crate) struct Cursor {
    pub(crate) next: u64,
    /// Sorted positions of events the catch-up held, among those the ring
    /// had when it was taken (to count losses exactly).
    pub(crate) sent: Arc<[u64]>,
    /// Sorted numbers of the events the catch-up held: an event is buffered
    /// before it is observed, so one the catch-up holds can still reach the
    /// ring after the catch-up was taken.
    pub(crate) sent_nums: Arc<[u64]>,
}

impl Cursor {
    pub(crate) fn at(next: u64) -> Cursor {
        Cursor {
            next,
            sent: Arc::from([]),
            sent_nums: Arc::from([]),
        }
    }

    fn already_sent(&self, entry: &Entry) -> bool {
        self.sent.binary_search(&entry.pos).is_ok()
            || self.sent_nums.binary_search(&entry.num).is_ok()
    }

    /// How many of the positions in `from..to` the catch-up already sent.
    fn sent_in(&self, from: u64, to: u64) -> u64 {
        let a = self.sent.partition_point(|&p| p < from);
        let b = self.sent.partition_point(|&p| p < to);
        (b - a) as u64
    }
}

impl Ring {
    pub(crate) fn new(max_bytes: usize) -> Ring {
        Ring {
            entries: VecDeque::new(),
            first_pos: 0,
            next_pos: 0,
            bytes: 0,
            max_bytes,
            epoch: 0,
        }
    }

    /// The position the next entry gets.
    pub(crate) fn next_pos(&self) -> u64 {
        self.next_pos
    }

    /// The oldest position still held.
    pub(crate) fn first_pos(&self) -> u64 {
        self.first_pos
    }

    /// Appends an event (or, with `event` `None`, a gap of `weight` events),
    /// evicting the oldest entries beyond the byte budget.
    pub(crate) fn push(&mut self, weight: u64, num: u64, event: Option<Bytes>) {
        self.bytes += ENTRY_OVERHEAD + event.as_ref().map_or(0, Bytes::len);
        self.entries.push_back(Entry {
            pos: self.next_pos,
            weight,
            num,
            event,
        });
        self.next_pos += weight;
        while self.bytes > self.max_bytes && self.entries.len() > 1 {
            self.evict();
        }
    }

    fn evict(&mut self) {
        if let Some(e) = self.entries.pop_front() {
            self.bytes -= ENTRY_OVERHEAD + e.event.as_ref().map_or(0, Bytes::len);
            self.first_pos = self.entries.front().map_or(self.next_pos, |f| f.pos);
        }
    }

    /// Forgets everything and continues at `pos` (the ingress's count of
    /// events observed), returning the memory.
    pub(crate) fn reset(&mut self, pos: u64) {
        self.entries = VecDeque::new();
        self.bytes = 0;
        self.first_pos = pos;
        self.next_pos = pos;
        self.epoch += 1;
    }

    /// Positions in `from..to` whose event is one of `nums` (sorted).
    pub(crate) fn positions_of(&self, from: u64, to: u64, nums: &[u64]) -> Vec<u64> {
        self.entries
            .iter()
            .filter(|e| e.pos >= from && e.pos < to && e.event.is_some())
            .filter(|e| nums.binary_search(&e.num).is_ok())
            .map(|e| e.pos)
            .collect()
    }

    /// Hands up to `max` events from `cursor` on to `out`, with a gap before
    /// any lost ones: those evicted before the subscriber got to them, those
    /// more than `lag` behind the newest, and gaps from the ingress.
    pub(crate) fn read(&self, cursor: &mut Cursor, lag: u64, max: usize, out: &mut Vec<Delivery>) {
        let mut lost = 0;
        let floor = self.first_pos.max(self.next_pos.saturating_sub(lag));
        if cursor.next < floor {
            // Skip to the first whole entry at or after the floor.
            let i = self.entries.partition_point(|e| e.pos < floor);
            let target = self.entries.get(i).map_or(self.next_pos, |e| e.pos);
            lost += (target - cursor.next) - cursor.sent_in(cursor.next, target);
            cursor.next = target;
        }
        let start = self.entries.partition_point(|e| e.pos < cursor.next);
        let mut handed = 0;
        for e in self.entries.range(start..) {
            if handed >= max {
                break;
            }
            cursor.next = e.pos + e.weight;
            match &e.event {
                None => lost += e.weight,
                Some(_) if cursor.already_sent(e) => {}
                Some(event) => {
                    if lost > 0 {
                        out.push(Delivery::Gap(std::mem::take(&mut lost)));
                    }
                    out.push(Delivery::Event(event.clone()));
                    handed += 1;
                }
            }
        }
        if lost > 0 {
            out.push(Delivery::Gap(lost));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: u8) -> Option<Bytes> {
        Some(Bytes::from(vec![n]))
    }

    fn read_all(ring: &Ring, cursor: &mut Cursor, lag: u64) -> Vec<Delivery> {
        let mut out = Vec::new();
        ring.read(cursor, lag, usize::MAX, &mut out);
        out
    }

    #[test]
    fn gaps_sit_where_events_were_lost() {
        let mut ring = Ring::new(1 << 20);
        for n in 0..3 {
            ring.push(1, n as u64, ev(n));
        }
        ring.push(5, 0, None);
        ring.push(1, 8, ev(8));
        let mut cursor = Cursor::at(0);
        assert_eq!(
            read_all(&ring, &mut cursor, u64::MAX),
            [
                Delivery::Event(Bytes::from(vec![0])),
                Delivery::Event(Bytes::from(vec![1])),
                Delivery::Event(Bytes::from(vec![2])),
                Delivery::Gap(5),
                Delivery::Event(Bytes::from(vec![8])),
            ]
        );
        assert_eq!(cursor.next, 9);
        assert!(read_all(&ring, &mut cursor, u64::MAX).is_empty());
    }

    #[test]
    fn eviction_and_lag_count_exactly_what_the_subscriber_missed() {
        // Room for two entries of one byte.
        let mut ring = Ring::new(2 * (ENTRY_OVERHEAD + 1));
        for n in 0..10 {
            ring.push(1, n, ev(n as u8));
        }
        assert_eq!(ring.first_pos(), 8);
        let mut cursor = Cursor::at(3);
        assert_eq!(
            read_all(&ring, &mut cursor, u64::MAX),
            [
                Delivery::Gap(5),
                Delivery::Event(Bytes::from(vec![8])),
                Delivery::Event(Bytes::from(vec![9])),
            ]
        );
        let mut ring = Ring::new(1 << 20);
        for n in 0..10 {
            ring.push(1, n, ev(n as u8));
        }
        let mut cursor = Cursor::at(0);
        assert_eq!(
            read_all(&ring, &mut cursor, 3)[..2],
            [Delivery::Gap(7), Delivery::Event(Bytes::from(vec![7]))]
        );
    }

    #[test]
    fn events_the_catch_up_sent_are_skipped_and_not_counted_as_lost() {
        let mut ring = Ring::new(2 * (ENTRY_OVERHEAD + 1));
        for n in 0..6 {
            ring.push(1, n, ev(n as u8));
        }
        // Positions 1 and 2 were in the catch-up; 0..4 were evicted.
        let mut cursor = Cursor {
            next: 0,
            sent: Arc::from([1, 2]),
            sent_nums: Arc::from([]),
        };
        assert_eq!(read_all(&ring, &mut cursor, u64::MAX)[0], Delivery::Gap(2));
        let ring = {
            let mut r = Ring::new(1 << 20);
            for n in 0..4 {
                r.push(1, n, ev(n as u8));
            }
            r
        };
        assert_eq!(ring.positions_of(0, 4, &[1, 3, 7]), [1, 3]);
        let mut cursor = Cursor {
            next: 0,
            sent: Arc::from([1, 3]),
            sent_nums: Arc::from([]),
        };
        assert_eq!(
            read_all(&ring, &mut cursor, u64::MAX),
            [
                Delivery::Event(Bytes::from(vec![0])),
                Delivery::Event(Bytes::from(vec![2])),
            ]
        );
    }

    #[test]
    fn events_the_catch_up_sent_are_skipped_wherever_they_reach_the_ring() {
        let mut ring = Ring::new(1 << 20);
        // Event 7 was buffered (and so in the catch-up) before it was
        // observed: it reaches the ring after events numbered above it.
        for (pos, num) in [8u8, 7, 9].into_iter().enumerate() {
            ring.push(1, u64::from(num), ev(pos as u8));
        }
        let mut cursor = Cursor {
            next: 0,
            sent: Arc::from([]),
            sent_nums: Arc::from([5, 7]),
        };
        assert_eq!(
            read_all(&ring, &mut cursor, u64::MAX),
            [
                Delivery::Event(Bytes::from(vec![0])),
                Delivery::Event(Bytes::from(vec![2])),
            ]
        );
    }
}

//! One circular buffer: encoded event records back to back in one byte
//! queue, bounded by a count of events and by the bytes it may allocate.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::queue::ByteQueue;

/// The shared part of the memory budget: bytes a buffer may take beyond its
/// floor, first come, first served. A buffer keeps what it took.
#[derive(Debug)]
pub(super) struct Pool(AtomicUsize);

impl Pool {
    pub(super) fn new(bytes: usize) -> Pool {
        Pool(AtomicUsize::new(bytes))
    }

    /// Takes up to `n` bytes; returns how many it got.
    fn take(&self, n: usize) -> usize {
        match self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                (left > 0).then(|| left - left.min(n))
            }) {
            Ok(left) => left.min(n),
            Err(_) => 0,
        }
    }

    #[cfg(test)]
    pub(super) fn left(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// Each record is stored after its length, 4 bytes little-endian.
const LEN: usize = 4;
/// The first allocation of a buffer's bytes.
const FIRST_ALLOCATION: usize = 2048;

/// The events of one (facility, level), oldest first.
///
/// Once full (by count or by bytes) a new event evicts the oldest ones; the
/// bytes stay allocated for the next. Memory never grows past `floor` plus
/// what the ring took from the [`Pool`].
#[derive(Debug)]
pub(super) struct RingBytes {
    /// The most events kept.
    capacity: usize,
    count: usize,
    bytes: ByteQueue,
    /// Bytes this ring may always allocate, whatever the pool has left.
    floor: usize,
    /// Bytes taken from the pool.
    granted: usize,
}

impl RingBytes {
    pub(super) fn new(capacity: usize, floor: usize) -> RingBytes {
        RingBytes {
            capacity,
            count: 0,
            bytes: ByteQueue::default(),
            floor,
            granted: 0,
        }
    }

    /// The longest record this ring is sure to find room for.
    pub(super) fn record_limit(floor: usize) -> usize {
        floor.saturating_sub(LEN)
    }

    /// Stores `record`, evicting the oldest as needed; false if it keeps none
    /// (a size of 0, or a record past [`record_limit`](Self::record_limit)).
    #[inline]
    pub(super) fn push(&mut self, record: &[u8], pool: &Pool) -> bool {
        let need = record.len() + LEN;
        if self.capacity == 0 || need > self.floor.max(self.allocated()) {
            return false;
        }
        while self.count >= self.capacity {
            self.pop();
        }
        while self.bytes.len() + need > self.bytes.capacity() {
            if self.grow(need, pool) {
                break;
            }
            self.pop();
        }
        self.bytes.push_array((record.len() as u32).to_le_bytes());
        self.bytes.push(record);
        self.count += 1;
        true
    }

    /// Bytes allocated now (what the budget counts).
    pub(super) fn allocated(&self) -> usize {
        self.bytes.capacity()
    }

    /// Grows the allocation to make room for `need` more bytes, doubling
    /// within the floor and what the pool gives; false when it cannot.
    #[cold]
    fn grow(&mut self, need: usize, pool: &Pool) -> bool {
        let have = self.bytes.capacity();
        let want = (have * 2)
            .max(self.bytes.len() + need)
            .max(FIRST_ALLOCATION);
        let mut allowed = self.floor + self.granted;
        if want > allowed {
            let got = pool.take(want - allowed);
            self.granted += got;
            allowed += got;
        }
        let target = want.min(allowed);
        if target <= have || self.bytes.len() + need > target {
            return false;
        }
        self.bytes.resize(target);
        true
    }

    fn pop(&mut self) {
        let len = self.bytes.peek::<LEN>().map_or(0, u32::from_le_bytes) as usize;
        self.bytes.advance(LEN + len);
        self.count -= 1;
    }

    /// Keeps at most `capacity` events from now on, dropping the oldest.
    pub(super) fn resize(&mut self, capacity: usize) {
        self.capacity = capacity;
        while self.count > capacity {
            self.pop();
        }
    }

    /// Appends the ring's records, oldest first, each after its length, to
    /// `out`: two copies at most (the queue's two halves), so that a
    /// snapshot holds the lock only that long; [`framed`] reads them.
    pub(super) fn copy_into(&self, out: &mut Vec<u8>) {
        let (front, back) = self.bytes.as_slices();
        out.reserve(front.len() + back.len());
        out.extend_from_slice(front);
        out.extend_from_slice(back);
    }

    /// Calls `f` with the bytes of every record, oldest first.
    #[cfg(test)]
    pub(super) fn for_each(&mut self, mut f: impl FnMut(&[u8])) {
        let mut bytes = Vec::new();
        self.copy_into(&mut bytes);
        for (start, end) in framed(&bytes, 0) {
            f(&bytes[start..end]);
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.count
    }
}

/// Where each record is in `bytes[from..]`, records as
/// [`RingBytes::copy_into`] wrote them: `(start, end)` in `bytes`.
pub(super) fn framed(bytes: &[u8], from: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut at = from;
    std::iter::from_fn(move || {
        let len = bytes.get(at..at + LEN)?;
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let start = at + LEN;
        let end = start.checked_add(len).filter(|&end| end <= bytes.len())?;
        at = end;
        Some((start, end))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flogfile::record_num;

    fn record(num: u64, len: usize) -> Vec<u8> {
        // The head of an event record up to its num, as `record_num` reads it.
        let mut r = vec![
            0x82, 0x65, b'e', b'v', b'e', b'n', b't', 0xa5, 0x63, b'n', b'u', b'm',
        ];
        r.push(0x1b);
        r.extend_from_slice(&num.to_be_bytes());
        r.resize(len.max(r.len()), 0);
        r
    }

    fn nums(ring: &mut RingBytes) -> Vec<u64> {
        let mut out = Vec::new();
        ring.for_each(|r| out.push(record_num(r)));
        out
    }

    /// A snapshot's copy of a ring that has wrapped (its queue in two
    /// halves) reads back as the same records, oldest first, after what
    /// was there before.
    #[test]
    fn a_copy_of_a_wrapped_ring_reads_back_whole() {
        let pool = Pool::new(0);
        let mut ring = RingBytes::new(1000, 4096);
        let mut n = 0;
        loop {
            assert!(ring.push(&record(n, 30 + n as usize % 7), &pool));
            let (front, back) = ring.bytes.as_slices();
            if !front.is_empty() && !back.is_empty() {
                break;
            }
            n += 1;
            assert!(n < 10_000, "never wrapped");
        }
        let mut copy = b"kept".to_vec();
        ring.copy_into(&mut copy);
        let copied: Vec<u64> = framed(&copy, 4)
            .map(|(start, end)| record_num(&copy[start..end]))
            .collect();
        assert_eq!(&copy[..4], b"kept");
        assert_eq!(copied, nums(&mut ring));
        assert_eq!(*copied.last().unwrap(), n);
    }

    #[test]
    fn keeps_the_newest_by_count() {
        let pool = Pool::new(1 << 20);
        let mut ring = RingBytes::new(3, 4096);
        for n in 0..10 {
            assert!(ring.push(&record(n, 30), &pool));
        }
        assert_eq!(nums(&mut ring), vec![7, 8, 9]);
        ring.resize(1);
        assert_eq!(nums(&mut ring), vec![9]);
    }

    #[test]
    fn keeps_the_newest_that_fit_its_floor_when_the_pool_is_empty() {
        let pool = Pool::new(0);
        let mut ring = RingBytes::new(1000, 4096);
        for n in 0..100 {
            assert!(ring.push(&record(n, 100), &pool));
            assert!(ring.allocated() <= 4096, "{}", ring.allocated());
        }
        // 104 bytes a record: 39 fit in 4096.
        assert_eq!(nums(&mut ring), (61..100).collect::<Vec<_>>());
    }

    #[test]
    fn takes_from_the_pool_and_never_more_than_it_has() {
        let pool = Pool::new(10_000);
        let mut ring = RingBytes::new(1000, 4096);
        for n in 0..1000 {
            ring.push(&record(n, 100), &pool);
        }
        assert_eq!(ring.allocated(), 4096 + 10_000, "all the pool, no more");
        assert_eq!(pool.left(), 0);
        assert_eq!(ring.len(), ring.allocated() / 104);
        assert_eq!(*nums(&mut ring).last().unwrap(), 999);
    }

    #[test]
    fn a_record_past_the_limit_or_a_size_of_zero_keeps_nothing() {
        let pool = Pool::new(1 << 20);
        let mut ring = RingBytes::new(10, 4096);
        assert!(ring.push(&record(1, RingBytes::record_limit(4096)), &pool));
        assert!(!ring.push(&record(2, 4093), &pool));
        let mut none = RingBytes::new(0, 4096);
        assert!(!none.push(&record(3, 20), &pool));
        assert_eq!(nums(&mut none), Vec::<u64>::new());
    }
}

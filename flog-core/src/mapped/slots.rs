//! The slot protocol of one segment: fixed-size slots, each of which
//! validates on its own, written by one writer at a time (the buffer's lock
//! is held) and read by anyone, in this process or another, at any moment.
//!
//! A slot is `[seq, num, meta, check, data...]` in words:
//!
//! - `seq`: the record's sequence number in its segment (from 1); 0 while the
//!   slot is empty or being written. The writer clears it, then writes the
//!   rest, then publishes the new `seq` with `Release`; a reader loads it
//!   (`Acquire`), copies the slot, and loads it again after an `Acquire`
//!   fence: a different value means the copy may be torn (a seqlock).
//! - `num`: the caller's number for the record (flog: the event's `num`).
//! - `meta`: the record's whole length (32 bits), this slot's part and the
//!   number of parts (16 bits each): a record longer than one slot's data
//!   takes consecutive slots, each carrying the same `seq`.
//! - `check`: the length of this slot's part (32 bits) and a checksum
//!   (32 bits, see [`SlotHash`]) of `seq`, `num`, `meta`, that length and
//!   the part's words.
//!
//! A reader accepts a record only when every one of its parts was copied
//! untorn, checksums right and agrees with the first. Nothing read is
//! trusted: a length, part or count that does not fit is a corrupt slot.

use super::atomic::{fence, AtomicU64, AtomicUsize, Ordering};

/// Words of a slot before its data.
pub(super) const SLOT_HEAD: usize = 4;
const SEQ: usize = 0;
const NUM: usize = 1;
const META: usize = 2;
const CHECK: usize = 3;

/// Packs a record's length and a part's place in it.
fn meta(total: u32, part: u16, parts: u16) -> u64 {
    u64::from(total) | u64::from(part) << 32 | u64::from(parts) << 48
}

fn unpack_meta(meta: u64) -> (u32, u16, u16) {
    (meta as u32, (meta >> 32) as u16, (meta >> 48) as u16)
}

/// The slot checksum: two multiply-xor lanes over the slot's words (its
/// part padded with zeros), folded to 32 bits, computed from the words as
/// they are stored. Not CRC-32 (which the header and descriptors use): on
/// the hot path it was about a third of what the ring added (measured), and
/// this runs for every buffered event. Each step is a
/// bijection of its lane, so a change to any one word changes the lanes;
/// the fold to 32 bits lets a random change through about once in 2^32.
#[derive(Clone, Copy)]
struct SlotHash {
    lanes: [u64; 2],
    words: usize,
}

const K: [u64; 3] = [
    0x9e37_79b9_7f4a_7c15,
    0xc2b2_ae3d_27d4_eb4f,
    0x1656_67b1_9e37_79f9,
];

impl SlotHash {
    fn new(seq: u64, num: u64, meta: u64, len: usize) -> SlotHash {
        let mut h = SlotHash {
            lanes: [K[2] ^ len as u64, K[1]],
            words: 0,
        };
        h.add(seq);
        h.add(num);
        h.add(meta);
        h
    }

    #[inline(always)]
    fn add(&mut self, word: u64) {
        let lane = self.words & 1;
        self.lanes[lane] = (self.lanes[lane] ^ word).wrapping_mul(K[lane]);
        self.words += 1;
    }

    fn finish(self) -> u32 {
        let f = (self.lanes[0] ^ self.lanes[1].rotate_left(29)).wrapping_mul(K[2]);
        (f >> 32) as u32
    }
}

fn checksum(seq: u64, num: u64, meta: u64, words: &[u64], len: usize) -> u32 {
    let mut h = SlotHash::new(seq, num, meta, len);
    for &w in words {
        h.add(w);
    }
    h.finish()
}

/// The writing side of one segment. Its counters are atomics only so that
/// the segment can be shared; they are changed with the buffer's lock held,
/// so one writer at a time ever runs [`push`](Self::push).
#[derive(Debug)]
pub(super) struct SlotWriter {
    slot_words: usize,
    slots: usize,
    next_slot: AtomicUsize,
    next_seq: AtomicU64,
}

impl SlotWriter {
    /// A writer for `slots` slots of `slot_words` words each (more than
    /// [`SLOT_HEAD`]), starting over from an empty segment.
    pub(super) fn new(slot_words: usize, slots: usize) -> SlotWriter {
        debug_assert!(slot_words > SLOT_HEAD);
        SlotWriter {
            slot_words,
            slots,
            next_slot: AtomicUsize::new(0),
            next_seq: AtomicU64::new(1),
        }
    }

    fn part_bytes(&self) -> usize {
        (self.slot_words - SLOT_HEAD) * 8
    }

    /// Writes `record` into the next slots of `area` (the segment's slots,
    /// `slots * slot_words` words), overwriting the oldest. False if it can
    /// never fit (then nothing changed).
    pub(super) fn push(&self, area: &[AtomicU64], num: u64, record: &[u8]) -> bool {
        let part_bytes = self.part_bytes();
        let parts = record.len().div_ceil(part_bytes).max(1);
        let (Ok(total), Ok(count)) = (u32::try_from(record.len()), u16::try_from(parts)) else {
            return false;
        };
        if parts > self.slots || area.len() < self.slots * self.slot_words {
            return false;
        }
        let mut at = self.next_slot.load(Ordering::Relaxed);
        if at + parts > self.slots {
            // A record never wraps: the slots left at the end are emptied,
            // so what a reader finds is always the newest records, with no
            // older one kept past a gap.
            for slot in at..self.slots {
                self.slot(area, slot)[SEQ].store(0, Ordering::Relaxed);
            }
            at = 0;
        }
        let seq = self.next_seq.load(Ordering::Relaxed);
        self.next_seq.store(seq + 1, Ordering::Relaxed);
        let mut chunks = record.chunks(part_bytes);
        for part in 0..count {
            let bytes = chunks.next().unwrap_or(&[]);
            let slot = self.slot(area, at + usize::from(part));
            write_part(slot, seq, num, meta(total, part, count), bytes);
        }
        self.next_slot
            .store((at + parts) % self.slots, Ordering::Relaxed);
        true
    }

    fn slot<'a>(&self, area: &'a [AtomicU64], slot: usize) -> &'a [AtomicU64] {
        &area[slot * self.slot_words..(slot + 1) * self.slot_words]
    }
}

fn write_part(slot: &[AtomicU64], seq: u64, num: u64, meta: u64, bytes: &[u8]) {
    // Cleared first, and ordered before the data by the fence: a reader that
    // sees any of the new data sees the slot as changed (see the module).
    slot[SEQ].store(0, Ordering::Relaxed);
    fence(Ordering::Release);
    slot[NUM].store(num, Ordering::Relaxed);
    slot[META].store(meta, Ordering::Relaxed);
    let mut hash = SlotHash::new(seq, num, meta, bytes.len());
    // Whole words as plain loads; a copy of a variable length per word
    // would be a call to memcpy each (most of the cost, measured).
    let full = bytes.chunks_exact(8);
    let rest = full.remainder();
    let data = &slot[SLOT_HEAD..];
    for (word, chunk) in data.iter().zip(full) {
        let w = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        hash.add(w);
        word.store(w, Ordering::Relaxed);
    }
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        let w = u64::from_le_bytes(w);
        hash.add(w);
        data[bytes.len() / 8].store(w, Ordering::Relaxed);
    }
    let check = bytes.len() as u64 | u64::from(hash.finish()) << 32;
    slot[CHECK].store(check, Ordering::Relaxed);
    slot[SEQ].store(seq, Ordering::Release);
}

/// What one slot held when it was read.
#[derive(Debug, PartialEq, Eq)]
enum Slot {
    Empty,
    /// Changed while it was read: a live writer's.
    Torn,
    /// Its checksum or a length is wrong.
    Corrupt,
    Part {
        seq: u64,
        num: u64,
        meta: u64,
        bytes: Vec<u8>,
    },
}

fn read_slot(slot: &[AtomicU64]) -> Slot {
    let seq = slot[SEQ].load(Ordering::Acquire);
    if seq == 0 {
        return Slot::Empty;
    }
    let num = slot[NUM].load(Ordering::Relaxed);
    let meta = slot[META].load(Ordering::Relaxed);
    let check = slot[CHECK].load(Ordering::Relaxed);
    let len = check as u32 as usize;
    let data = &slot[SLOT_HEAD..];
    let fits = len <= data.len() * 8;
    let words: Vec<u64> = if fits {
        data[..len.div_ceil(8)]
            .iter()
            .map(|w| w.load(Ordering::Relaxed))
            .collect()
    } else {
        Vec::new()
    };
    fence(Ordering::Acquire);
    if slot[SEQ].load(Ordering::Relaxed) != seq {
        return Slot::Torn;
    }
    if !fits || checksum(seq, num, meta, &words, len) != (check >> 32) as u32 {
        return Slot::Corrupt;
    }
    let mut bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    bytes.truncate(len);
    Slot::Part {
        seq,
        num,
        meta,
        bytes,
    }
}

/// A complete record read back from a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotRecord {
    /// Its sequence number in its segment: records were written in this order.
    pub seq: u64,
    /// The number its writer gave it (flog: the event's `num`).
    pub num: u64,
    /// The record's bytes, exactly as written.
    pub bytes: Vec<u8>,
}

/// What reading a segment's slots found.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct SlotsRead {
    /// The complete records, oldest first.
    pub(super) records: Vec<SlotRecord>,
    /// Slots changed while they were read (a live writer's).
    pub(super) torn: usize,
    /// Slots whose checksum or lengths are wrong, and records whose parts
    /// do not agree.
    pub(super) corrupt: usize,
}

/// Reads every complete record in `area`, slots of `slot_words` words.
/// Bounded: it keeps at most the bytes of the area.
pub(super) fn read_slots(area: &[AtomicU64], slot_words: usize) -> SlotsRead {
    let mut out = SlotsRead::default();
    if slot_words <= SLOT_HEAD {
        return out;
    }
    let mut slots: Vec<Slot> = area.chunks_exact(slot_words).map(read_slot).collect();
    let mut i = 0;
    while i < slots.len() {
        let (seq, num, meta) = match slots[i] {
            Slot::Part { seq, num, meta, .. } => (seq, num, meta),
            Slot::Torn | Slot::Corrupt | Slot::Empty => {
                match slots[i] {
                    Slot::Torn => out.torn += 1,
                    Slot::Corrupt => out.corrupt += 1,
                    _ => {}
                }
                i += 1;
                continue;
            }
        };
        let (total, part, parts) = unpack_meta(meta);
        if part != 0 {
            // The rest of a record whose start was overwritten (or is
            // checked as part of its record below).
            i += 1;
            continue;
        }
        let parts = usize::from(parts);
        match assemble(&mut slots[i..], seq, num, total, parts) {
            Some(bytes) => {
                out.records.push(SlotRecord { seq, num, bytes });
                i += parts;
            }
            None => {
                // Torn across slots while a writer overwrote it, or corrupt;
                // a record overwritten by a newer one is simply gone.
                i += 1;
            }
        }
    }
    out.records.sort_unstable_by_key(|r| r.seq);
    out.records.dedup_by_key(|r| r.seq);
    out
}

/// The record whose first part is `slots[0]`, if all its parts are there.
fn assemble(slots: &mut [Slot], seq: u64, num: u64, total: u32, parts: usize) -> Option<Vec<u8>> {
    if parts == 0 || parts > slots.len() {
        return None;
    }
    let mut bytes = Vec::new();
    for (k, slot) in slots[..parts].iter_mut().enumerate() {
        let Slot::Part {
            seq: s,
            num: n,
            meta: m,
            bytes: b,
        } = slot
        else {
            return None;
        };
        let (t, p, c) = unpack_meta(*m);
        if *s != seq || *n != num || t != total || usize::from(p) != k || usize::from(c) != parts {
            return None;
        }
        bytes.append(b);
    }
    (bytes.len() == total as usize).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area(slots: usize, slot_words: usize) -> Vec<AtomicU64> {
        (0..slots * slot_words).map(|_| AtomicU64::new(0)).collect()
    }

    fn record(n: u64, len: usize) -> Vec<u8> {
        (0..len).map(|i| (n as usize * 31 + i) as u8).collect()
    }

    fn nums(read: &SlotsRead) -> Vec<u64> {
        read.records.iter().map(|r| r.num).collect()
    }

    #[test]
    fn keeps_the_newest_records_in_order_across_wraps() {
        let a = area(8, 8);
        let w = SlotWriter::new(8, 8);
        for n in 0..100u64 {
            // 1 to 3 slots each (32 data bytes a slot).
            let len = (n as usize * 7) % 90;
            assert!(w.push(&a, n, &record(n, len)));
            let read = read_slots(&a, 8);
            let got = nums(&read);
            assert_eq!(got.last(), Some(&n));
            // A suffix of what was written, in order, every byte right.
            let first = got[0];
            assert_eq!(got, (first..=n).collect::<Vec<_>>());
            for r in &read.records {
                assert_eq!(r.bytes, record(r.num, (r.num as usize * 7) % 90));
            }
            assert_eq!((read.torn, read.corrupt), (0, 0));
        }
    }

    #[test]
    fn a_record_too_long_for_the_segment_changes_nothing() {
        let a = area(4, 8);
        let w = SlotWriter::new(8, 4);
        assert!(w.push(&a, 1, &record(1, 10)));
        assert!(!w.push(&a, 2, &record(2, 4 * 32 + 1)));
        assert!(w.push(&a, 3, &record(3, 4 * 32)));
        assert_eq!(nums(&read_slots(&a, 8)), vec![3]);
    }

    #[test]
    fn a_half_written_record_is_never_read() {
        let a = area(4, 8);
        let w = SlotWriter::new(8, 4);
        assert!(w.push(&a, 1, &record(1, 20)));
        // The writer died after clearing the next slot and writing part of it.
        a[8].store(0, Ordering::Relaxed);
        a[8 + NUM].store(2, Ordering::Relaxed);
        assert_eq!(nums(&read_slots(&a, 8)), vec![1]);
        // ... or died between the parts of a long record: its first part is
        // published, its second still holds an older record's.
        assert!(w.push(&a, 2, &record(2, 20)));
        assert!(w.push(&a, 3, &record(3, 60)));
        a[3 * 8 + SEQ].store(0, Ordering::Relaxed);
        assert_eq!(nums(&read_slots(&a, 8)), vec![1, 2]);
    }

    #[test]
    fn corrupt_bytes_and_lengths_are_counted_and_skipped() {
        let a = area(4, 8);
        let w = SlotWriter::new(8, 4);
        for n in 1..=4 {
            assert!(w.push(&a, n, &record(n, 20)));
        }
        a[SLOT_HEAD].fetch_xor(1, Ordering::Relaxed);
        a[8 + CHECK].store(u64::from(u32::MAX), Ordering::Relaxed);
        a[2 * 8 + META].store(meta(20, 0, 9), Ordering::Relaxed);
        let read = read_slots(&a, 8);
        assert_eq!(nums(&read), vec![4]);
        assert_eq!(read.corrupt, 3);
        // Junk throughout reads as nothing, without a panic.
        for (i, word) in a.iter().enumerate() {
            word.store(
                (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                Ordering::Relaxed,
            );
        }
        assert_eq!(nums(&read_slots(&a, 8)), Vec::<u64>::new());
        assert_eq!(read_slots(&a, 3), SlotsRead::default());
    }

    #[test]
    fn a_reader_beside_a_live_writer_accepts_only_whole_records() {
        let a = area(6, 6);
        let w = SlotWriter::new(6, 6);
        let total = if cfg!(miri) { 60 } else { 20_000 };
        std::thread::scope(|s| {
            s.spawn(|| {
                for n in 1..=total {
                    assert!(w.push(&a, n, &record(n, (n as usize * 13) % 70)));
                }
            });
            let mut seen = 0;
            while seen < total {
                let read = read_slots(&a, 6);
                for r in &read.records {
                    assert_eq!(r.bytes, record(r.num, (r.num as usize * 13) % 70));
                    assert_eq!(r.seq, r.num, "one record a seq");
                }
                let nums = nums(&read);
                assert!(nums.windows(2).all(|p| p[0] < p[1]), "{nums:?}");
                assert_eq!(read.corrupt, 0);
                seen = seen.max(nums.last().copied().unwrap_or(0));
            }
        });
    }
}

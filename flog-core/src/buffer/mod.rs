//! The circular buffers: one per (facility, level), each holding its newest
//! events as encoded flogfile records within a logger-wide memory budget.

mod compact;
mod rescued;
mod ring;
mod sites;
mod snapshot;

use std::cell::Cell;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arc_swap::ArcSwap;
use hashbrown::{DefaultHashBuilder, Equivalent};

pub use self::rescued::ring_events;
use self::ring::{Pool, RingBytes};
use self::sites::Sites;
pub(crate) use self::snapshot::EncodedSnapshot;
use crate::callsite::Callsite;
use crate::event::{Event, Fields, Text};
use crate::flogfile::{event_record, Limits, Record, MAX_VALUE_BYTES};
use crate::incarnation::Incarnation;
use crate::level::Level;
use crate::mapped::{RingFile, Segment};

/// Default size of each circular buffer (foolscap's).
pub const DEFAULT_BUFFER_SIZE: usize = 100;
/// Default cap on distinct (facility, level) buffers before events overflow.
pub const DEFAULT_MAX_BUFFERS: usize = 1024;
/// Default size of the shared overflow buffer.
pub const DEFAULT_OVERFLOW_SIZE: usize = 1000;

/// The key of a buffer: facility (`""` for none) and level.
#[derive(Clone, Debug, PartialEq, Eq)]
struct BufKey {
    facility: Box<str>,
    level: Level,
}

// Hashing must agree with `LookupKey`, so both hash the facility as `str` first.
impl Hash for BufKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        LookupKey {
            facility: &self.facility,
            level: self.level,
        }
        .hash(state);
    }
}

/// A borrowed key, so a lookup on the hot path allocates nothing.
#[derive(Hash)]
struct LookupKey<'a> {
    facility: &'a str,
    level: Level,
}

impl Equivalent<BufKey> for LookupKey<'_> {
    fn equivalent(&self, key: &BufKey) -> bool {
        self.level == key.level && self.facility == &*key.facility
    }
}

type BufMap = hashbrown::HashMap<BufKey, Arc<Ring>, DefaultHashBuilder>;

/// One bounded circular buffer. A std mutex is enough: each one is held for a
/// copy of the encoded event's bytes (encoding happens before, unlocked), and
/// threads logging to different (facility, level) pairs never meet.
// Aligned to two cache lines so that the locks of rings allocated side by side
// never share a line: threads logging to different buffers would otherwise
// slow each other down (adjacent-line prefetch pairs lines, hence 128).
#[derive(Debug)]
#[repr(align(128))]
struct Ring {
    inner: Mutex<RingBytes>,
    /// The longest record this ring always has room for; a longer event is
    /// kept as a stub (see [`stub`]).
    record_limit: usize,
    /// This ring's segment of the crash ring file, if the logger has one.
    mapped: Option<Segment>,
}

impl Ring {
    fn new(capacity: usize, floor: usize, mapped: Option<Segment>) -> Ring {
        Ring {
            inner: Mutex::new(RingBytes::new(capacity, floor)),
            record_limit: RingBytes::record_limit(floor),
            mapped,
        }
    }

    fn lock(&self) -> MutexGuard<'_, RingBytes> {
        // A panic in an observer cannot leave a ring half-updated: every update
        // is a single push or pop, so a poisoned ring is still consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores `event`: as a compact record of its entry `site` in the
    /// call-site dictionary when it has one, else whole.
    #[inline(always)]
    fn push(&self, event: &Event, site: Option<u32>, pool: &Pool, while_held: impl FnOnce(&Event)) {
        with_scratch(|record| {
            encode_record(event, site, self.record_limit, record);
            let mut ring = self.lock();
            let kept = ring.push(record, pool);
            // The crash ring's copy of what the buffer keeps, under the same
            // lock (one writer per segment); the in-memory ring stays the
            // source of dumps and snapshots.
            if let (true, Some(mapped)) = (kept, &self.mapped) {
                mapped.push(event.num, record);
            }
            while_held(event);
        });
    }

    fn resize(&self, capacity: usize) {
        self.lock().resize(capacity);
    }
}

/// Encodes `event` as its buffer keeps it: compact when it has an entry in
/// the call-site dictionary and the record is no longer than `limit`, else
/// as [`encode_buffered`] does.
#[inline(always)]
fn encode_record(event: &Event, site: Option<u32>, limit: usize, out: &mut Vec<u8>) {
    if let Some(site) = site {
        out.clear();
        compact::encode(event, site, out);
        if out.len() <= limit {
            return;
        }
    }
    encode_buffered(event, limit, out);
}

/// Encodes `event` whole as its buffer keeps it: long values cut, and a stub in its
/// place if it is still longer than `limit`.
#[inline(always)]
fn encode_buffered(event: &Event, limit: usize, out: &mut Vec<u8>) {
    out.clear();
    let limits = Limits {
        record_bytes: limit,
        ..Limits::BUFFERED
    };
    if event_record(event, &limits, out).is_err() {
        let size = out.len();
        out.clear();
        // MIN_FLOOR leaves room for any stub.
        let _ = event_record(&stub(event, size), &Limits::BUFFERED, out);
    }
}

/// What a buffer keeps of an event too large for it: everything but its
/// fields and long texts, and a message that says so.
#[cold]
fn stub(event: &Event, size: usize) -> Event {
    let mut shown = event.raw_text();
    let mut cut = shown.len().min(STUB_TEXT_BYTES);
    while !shown.is_char_boundary(cut) {
        cut -= 1;
    }
    shown = &shown[..cut];
    Event {
        num: event.num,
        time: event.time,
        incarnation: event.incarnation,
        level: event.level,
        facility: event.facility.clone(),
        text: Text::Message(
            format!("[flog: an event of {size} bytes or more, too large for its buffer; its text began] {shown}")
                .into(),
        ),
        fields: Fields::new(),
        parent: event.parent,
        is_error: event.is_error,
        failure: None,
        stack: None,
    }
}

/// How much of a dropped event's text its stub shows.
const STUB_TEXT_BYTES: usize = 256;

/// Runs `f` with this thread's encoding buffer, so that encoding allocates
/// nothing once a thread has logged.
#[inline(always)]
fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    thread_local! {
        static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    }
    // Taken out of the cell rather than borrowed, so nothing can panic on a
    // nested use; after a thread's TLS is gone a fresh buffer serves.
    let mut scratch = SCRATCH.try_with(Cell::take).unwrap_or_default();
    let out = f(&mut scratch);
    // A huge event must not pin its size for the thread's lifetime.
    if scratch.capacity() > MAX_SCRATCH {
        scratch = Vec::new();
    }
    let _ = SCRATCH.try_with(|s| s.set(scratch));
    out
}

const MAX_SCRATCH: usize = 64 * 1024;

/// Buffer sizes: a default per level and overrides per (level, facility).
#[derive(Clone, Debug, Default)]
struct Sizes {
    per_level: HashMap<Level, usize>,
    per_facility: HashMap<(Box<str>, Level), usize>,
}

impl Sizes {
    fn size_for(&self, facility: &str, level: Level) -> usize {
        self.per_facility
            .get(&(facility.into(), level))
            .or_else(|| self.per_level.get(&level))
            .copied()
            .unwrap_or(DEFAULT_BUFFER_SIZE)
    }
}

/// The default logger-wide memory budget of the buffers, in bytes.
pub const DEFAULT_MEMORY_BUDGET: usize = 32 << 20;
/// The overflow buffer's floor counts as this many buffers' floors.
pub(crate) const OVERFLOW_SHARES: usize = 10;
/// The least floor a budget may give each buffer: room for the stub of an
/// event with a facility of [`MAX_VALUE_BYTES`] and its fixed costs.
pub(crate) const MIN_FLOOR: usize = 3 * MAX_VALUE_BYTES;

/// How a budget divides: half is floors, one per possible buffer (the
/// overflow buffer counts as [`OVERFLOW_SHARES`]), that every buffer may
/// always use; a sixteenth is the call-site dictionary's; the rest is a pool
/// that buffers draw on first come, first served, once they pass their
/// floor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BudgetSplit {
    pub(crate) floor: usize,
    pub(crate) pool: usize,
    pub(crate) sites: usize,
}

impl BudgetSplit {
    /// `None` when the budget leaves a buffer less than [`MIN_FLOOR`].
    pub(crate) fn new(budget: usize, max_buffers: usize) -> Option<BudgetSplit> {
        let shares = max_buffers.checked_add(OVERFLOW_SHARES)?;
        let floor = budget / 2 / shares;
        let sites = budget / 16;
        (floor >= MIN_FLOOR).then(|| BudgetSplit {
            floor,
            pool: budget - floor * shares - sites,
            sites,
        })
    }
}

/// What a buffer costs besides its events, taken from its floor: the ring
/// itself, its key's text, and its place in the map (key, `Arc`, table slot).
fn fixed_cost(facility: &str) -> usize {
    std::mem::size_of::<Ring>() + facility.len() + 3 * std::mem::size_of::<BufKey>()
}

/// A facility as it keys a buffer: cut like any long text.
fn key_facility(facility: &str) -> &str {
    let mut cut = facility.len().min(MAX_VALUE_BYTES);
    while !facility.is_char_boundary(cut) {
        cut -= 1;
    }
    &facility[..cut]
}

/// All the circular buffers of one logger.
///
/// The map of buffers is read through an `ArcSwap` so the hot path takes no
/// shared lock; it is copied on write, which happens once per new (facility,
/// level) pair.
#[derive(Debug)]
pub(crate) struct Buffers {
    map: ArcSwap<BufMap>,
    // Serialises the rare writers of `map` and `sizes`.
    config: Mutex<Sizes>,
    overflow: Ring,
    max_buffers: usize,
    split: BudgetSplit,
    pool: Pool,
    sites: Sites,
    /// The crash ring file each new buffer takes a segment of.
    crash_ring: Option<Arc<RingFile>>,
    /// The last dump's snapshot and output buffer, emptied, for the next
    /// one (see [`EncodedSnapshot::recycle`]).
    spare: Mutex<(EncodedSnapshot, Vec<u8>)>,
}

impl Buffers {
    /// Buffers for the events of the logger `incarnation` names (every
    /// event they hold is of that incarnation), with no crash ring.
    #[cfg(test)]
    pub(crate) fn new(
        max_buffers: usize,
        overflow_size: usize,
        split: BudgetSplit,
        incarnation: Incarnation,
    ) -> Buffers {
        Buffers::with_crash_ring(max_buffers, overflow_size, split, incarnation, None)
    }

    /// Buffers for the events of the logger `incarnation` names that also
    /// keep a copy of their records in `crash_ring`: one share of it for
    /// each buffer, [`OVERFLOW_SHARES`] for the overflow one, and every
    /// call-site dictionary entry in its dictionary.
    pub(crate) fn with_crash_ring(
        max_buffers: usize,
        overflow_size: usize,
        split: BudgetSplit,
        incarnation: Incarnation,
        crash_ring: Option<Arc<RingFile>>,
    ) -> Buffers {
        let mapped = crash_ring
            .as_ref()
            .and_then(|r| r.segment("", 0, OVERFLOW_SHARES, true));
        Buffers {
            sites: Sites::new(incarnation, split.sites, crash_ring.clone()),
            map: ArcSwap::from_pointee(BufMap::default()),
            config: Mutex::new(Sizes::default()),
            overflow: Ring::new(overflow_size, split.floor * OVERFLOW_SHARES, mapped),
            max_buffers,
            split,
            pool: Pool::new(split.pool),
            crash_ring,
            spare: Mutex::default(),
        }
    }

    /// Stores an event, evicting the oldest of its own buffer when full, and calls
    /// `while_held` with it while the buffer is still locked, so a reader that
    /// locks the buffer after `while_held` ran is sure to see the event.
    /// With the `callsite` of a `msg!` whose event is as the call site made
    /// it (no redaction hook changed it), its constant parts are interned.
    #[inline(always)]
    pub(crate) fn push(
        &self,
        event: Event,
        callsite: Option<&Callsite>,
        while_held: impl FnOnce(&Event),
    ) {
        let site = callsite.and_then(|c| self.sites.resolve(c, &event));
        let map = self.map.load();
        let key = LookupKey {
            facility: key_facility(event.facility()),
            level: event.level,
        };
        // The event stays here and the rings read it: moving its ~400 bytes
        // down the calls was a tenth of the cost.
        if let Some(ring) = map.get(&key) {
            return ring.push(&event, site, &self.pool, while_held);
        }
        drop(map);
        match self.create(key.facility, key.level) {
            Some(ring) => ring.push(&event, site, &self.pool, while_held),
            None => self.overflow.push(&event, site, &self.pool, while_held),
        }
    }

    #[cold]
    fn create(&self, facility: &str, level: Level) -> Option<Arc<Ring>> {
        let sizes = self.config.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.map.load();
        let key = LookupKey { facility, level };
        if let Some(ring) = current.get(&key) {
            return Some(Arc::clone(ring));
        }
        if current.len() >= self.max_buffers {
            return None;
        }
        let floor = self.split.floor - fixed_cost(facility);
        let mapped = self
            .crash_ring
            .as_ref()
            .and_then(|r| r.segment(facility, level.0, 1, false));
        let ring = Arc::new(Ring::new(sizes.size_for(facility, level), floor, mapped));
        let mut next = BufMap::clone(&current);
        next.insert(
            BufKey {
                facility: facility.into(),
                level,
            },
            Arc::clone(&ring),
        );
        self.map.store(Arc::new(next));
        Some(ring)
    }

    /// Sets the size of every buffer at `level` (those with their own per-facility
    /// size keep it).
    pub(crate) fn set_level_size(&self, level: Level, size: usize) {
        let mut sizes = self.config.lock().unwrap_or_else(PoisonError::into_inner);
        sizes.per_level.insert(level, size);
        self.apply(&sizes);
    }

    /// Sets the size of the buffer for one (facility, level).
    pub(crate) fn set_facility_size(&self, facility: &str, level: Level, size: usize) {
        let mut sizes = self.config.lock().unwrap_or_else(PoisonError::into_inner);
        sizes
            .per_facility
            .insert((key_facility(facility).into(), level), size);
        self.apply(&sizes);
    }

    fn apply(&self, sizes: &Sizes) {
        for (key, ring) in self.map.load().iter() {
            ring.resize(sizes.size_for(&key.facility, key.level));
        }
    }

    fn rings<'a>(map: &'a BufMap, overflow: &'a Ring) -> impl Iterator<Item = &'a Ring> {
        map.values().map(|r| &**r).chain(std::iter::once(overflow))
    }

    /// Every buffered event's record as its buffer holds it, copied from each
    /// buffer in turn (each locked only for the copy), with the index of the
    /// records in `num` order. [`write_records`](Self::write_records) turns
    /// them into flogfile records.
    pub(crate) fn snapshot_encoded(&self) -> EncodedSnapshot {
        let map = self.map.load_full();
        let mut snap = std::mem::take(&mut self.spare().0);
        for ring in Buffers::rings(&map, &self.overflow) {
            // Locked for a copy of its bytes only; indexed after.
            let from = snap.copy_ring(&ring.lock());
            snap.index_from(from);
        }
        snap.index.sort_unstable_by_key(|&(num, _, _)| num);
        snap
    }

    /// An empty buffer of at least `capacity` bytes for a dump's output:
    /// the last dump's, when it gave it back with [`recycle`](Self::recycle).
    pub(crate) fn dump_buffer(&self, capacity: usize) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.spare().1);
        out.reserve(capacity);
        out
    }

    /// Keeps a dump's snapshot and output buffer, emptied, for the next
    /// dump (unless they grew large).
    pub(crate) fn recycle(&self, snap: EncodedSnapshot, mut out: Vec<u8>) {
        out.clear();
        if out.capacity() > snapshot::MAX_KEPT {
            out = Vec::new();
        }
        *self.spare() = (snap.recycle(), out);
    }

    fn spare(&self) -> MutexGuard<'_, (EncodedSnapshot, Vec<u8>)> {
        // Only ever replaced whole: a poisoned one is consistent.
        self.spare.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends the flogfile record of every event in `snap`, in `num` order,
    /// to `out` (compact records expanded, whole ones copied), handing `out`
    /// to `flush` and clearing it each time it holds `chunk` bytes or more.
    /// What is left in `out` at the end is the caller's to write.
    pub(crate) fn write_records<E>(
        &self,
        snap: &EncodedSnapshot,
        out: &mut Vec<u8>,
        chunk: usize,
        mut flush: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        // Every entry a record names was added before the record was
        // stored, so the table as it is now has them all.
        let table = self.sites.table();
        let mut expander = compact::Expander::new(&table);
        for record in snap.in_order() {
            if !compact::is_compact(record) {
                out.extend_from_slice(record);
            } else {
                expander.expand(record, out);
            }
            if out.len() >= chunk {
                flush(out)?;
                out.clear();
            }
        }
        Ok(())
    }

    /// Every buffered event, in `num` order, decoded from its buffer.
    pub(crate) fn snapshot(&self) -> Vec<Event> {
        let snap = self.snapshot_encoded();
        let table = self.sites.table();
        let mut expander = compact::Expander::new(&table);
        let mut whole = Vec::new();
        let events = snap
            .in_order()
            .filter_map(|record| {
                if !compact::is_compact(record) {
                    return decode_record(record);
                }
                whole.clear();
                expander.expand(record, &mut whole);
                decode_record(&whole)
            })
            .collect::<Vec<_>>();
        self.spare().0 = snap.recycle();
        events
    }

    /// Bytes the buffers hold allocated for events now.
    #[cfg(test)]
    pub(crate) fn allocated(&self) -> usize {
        let map = self.map.load_full();
        Buffers::rings(&map, &self.overflow)
            .map(|r| r.lock().allocated())
            .sum()
    }

    /// How many (facility, level) buffers exist, not counting the overflow one.
    #[cfg(test)]
    pub(crate) fn buffer_count(&self) -> usize {
        self.map.load().len()
    }
}

/// A record the buffers wrote, read back; they only hold event records.
fn decode_record(record: &[u8]) -> Option<Event> {
    match ciborium::from_reader::<Record, _>(record) {
        Ok(Record::Event(event)) => Some(*event),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    fn ev(num: u64, facility: &'static str, level: Level) -> Event {
        Event {
            num,
            level,
            facility: (!facility.is_empty()).then_some(facility.into()),
            ..Event::default()
        }
    }

    fn buffers(max_buffers: usize, overflow_size: usize) -> Buffers {
        let split = BudgetSplit::new(DEFAULT_MEMORY_BUDGET, max_buffers).unwrap();
        Buffers::new(max_buffers, overflow_size, split, Incarnation::default())
    }

    fn nums(b: &Buffers) -> Vec<u64> {
        b.snapshot().iter().map(|e| e.num).collect()
    }

    #[test]
    fn each_facility_and_level_evicts_only_its_own_events() {
        let b = buffers(DEFAULT_MAX_BUFFERS, 10);
        b.set_level_size(Level::NOISY, 3);
        b.push(ev(0, "app", Level::BAD), None, |_| {});
        b.push(ev(1, "other", Level::NOISY), None, |_| {});
        for n in 2..10 {
            b.push(ev(n, "app", Level::NOISY), None, |_| {});
        }
        // Chatter at NOISY kept its last 3 and evicted nothing else.
        assert_eq!(nums(&b), vec![0, 1, 7, 8, 9]);
    }

    #[test]
    fn per_facility_sizes_override_and_shrinking_drops_oldest() {
        let b = buffers(DEFAULT_MAX_BUFFERS, 10);
        b.set_facility_size("db", Level::OPERATIONAL, 2);
        for n in 0..5 {
            b.push(ev(n, "db", Level::OPERATIONAL), None, |_| {});
            b.push(ev(100 + n, "web", Level::OPERATIONAL), None, |_| {});
        }
        assert_eq!(nums(&b), vec![3, 4, 100, 101, 102, 103, 104]);
        b.set_level_size(Level::OPERATIONAL, 1);
        assert_eq!(nums(&b), vec![3, 4, 104], "db keeps its own size");
        b.set_facility_size("db", Level::OPERATIONAL, 0);
        b.push(ev(9, "db", Level::OPERATIONAL), None, |_| {});
        assert_eq!(nums(&b), vec![104]);
    }

    #[test]
    fn facilities_beyond_the_cap_share_the_overflow_buffer() {
        let b = buffers(2, 3);
        let names: Vec<&'static str> = (0..10)
            .map(|i| &*Box::leak(format!("f{i}").into_boxed_str()))
            .collect();
        for (n, name) in names.iter().enumerate() {
            b.push(ev(n as u64, name, Level::OPERATIONAL), None, |_| {});
        }
        assert_eq!(b.buffer_count(), 2);
        assert_eq!(nums(&b), vec![0, 1, 7, 8, 9]);
    }

    #[test]
    fn busy_buffers_draw_on_the_pool_and_all_stay_within_the_budget() {
        let split = BudgetSplit::new(1 << 20, 8).unwrap();
        let b = Buffers::new(8, 100, split, Incarnation::default());
        b.set_level_size(Level::OPERATIONAL, 100_000);
        let text: &'static str = "x".repeat(1000).leak();
        for n in 0..20_000u64 {
            let mut e = ev(n, ["a", "b", "c"][n as usize % 3], Level::OPERATIONAL);
            e.text = Text::Message(text.into());
            b.push(e, None, |_| {});
        }
        let floors = split.floor * 3;
        let allocated = b.allocated();
        assert!(
            allocated > floors,
            "{allocated} bytes: the pool was not used"
        );
        assert!(allocated <= floors + split.pool, "{allocated} bytes");
        assert_eq!(b.pool.left(), 0, "busy buffers take all the pool");
    }

    /// A snapshot made with the last one's buffers given back holds the
    /// buffers as they are now, not what the last one held.
    #[test]
    fn a_recycled_snapshot_holds_only_the_new_records() {
        let b = buffers(4, 4);
        for n in 0..3 {
            b.push(ev(n, "x", Level::WEIRD), None, |_| {});
        }
        let first = b.snapshot_encoded();
        assert_eq!(first.nums(), vec![0, 1, 2]);
        b.recycle(first, vec![1; 10]);
        assert!(b.dump_buffer(16).is_empty());
        b.push(ev(7, "y", Level::WEIRD), None, |_| {});
        assert_eq!(b.snapshot_encoded().nums(), vec![0, 1, 2, 7]);
        assert_eq!(nums(&b), vec![0, 1, 2, 7]);
    }

    #[test]
    fn while_held_sees_the_pushed_event() {
        let b = buffers(4, 4);
        let mut seen = None;
        b.push(ev(5, "x", Level::WEIRD), None, |e| seen = Some(e.num));
        assert_eq!(seen, Some(5));
    }
}

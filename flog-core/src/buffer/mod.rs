//! The circular buffers: one per (facility, level), each holding its newest
//! events as encoded flogfile records within a logger-wide memory budget.

mod budget;
mod compact;
mod locked;
mod queue;
mod record;
mod rescued;
mod ring;
mod sites;
mod snapshot;

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use arc_swap::ArcSwap;
use hashbrown::{DefaultHashBuilder, Equivalent};

use self::budget::{key_facility, Sizes};
pub(crate) use self::budget::{BudgetSplit, MIN_FLOOR, OVERFLOW_SHARES};
pub use self::budget::{DEFAULT_BUFFER_SIZE, DEFAULT_MEMORY_BUDGET};
pub(crate) use self::compact::Parts;
use self::locked::Ring;
pub use self::rescued::ring_events;
use self::ring::Pool;
use self::sites::Sites;
pub(crate) use self::snapshot::EncodedSnapshot;
use crate::callsite::Callsite;
use crate::event::Event;
use crate::flogfile::Record;
use crate::incarnation::Incarnation;
use crate::level::Level;
use crate::mapped::RingFile;
use crate::value::Value;

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

/// What a buffer costs besides its events, taken from its floor: the ring
/// itself, its key's text, and its place in the map (key, `Arc`, table slot).
fn fixed_cost(facility: &str) -> usize {
    std::mem::size_of::<Ring>() + facility.len() + 3 * std::mem::size_of::<BufKey>()
}

/// The most buffers a call site can find by its cached slot (see
/// [`Buffers::ring_at`]); those created after are found through the map.
const MAX_SLOTS: usize = 4096;
/// A call site's cached buffer word: buffers id << 32 | level << 24 | slot.
const SLOT_BITS: u64 = 0xff_ffff;

/// All the circular buffers of one logger.
///
/// The map of buffers is read through an `ArcSwap` so the hot path takes no
/// shared lock; it is copied on write, which happens once per new (facility,
/// level) pair. A `msg!` call site whose facility and level are constant
/// also remembers its buffer's slot (rings are never removed, so a slot once
/// set holds its ring for the buffers' lifetime) and skips the map.
#[derive(Debug)]
pub(crate) struct Buffers {
    map: ArcSwap<BufMap>,
    /// The rings in the order they were made, for call sites' cached slots.
    slots: Box<[OnceLock<Arc<Ring>>]>,
    /// Tags this logger's slots in call-site caches; 0 (ids used up)
    /// caches nothing.
    id: u64,
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
        let id = sites::next_id();
        let mapped = crash_ring
            .as_ref()
            .and_then(|r| r.segment("", 0, OVERFLOW_SHARES, true));
        Buffers {
            sites: Sites::new(id, incarnation, split.sites, crash_ring.clone()),
            map: ArcSwap::from_pointee(BufMap::default()),
            slots: (0..max_buffers.min(MAX_SLOTS))
                .map(|_| OnceLock::new())
                .collect(),
            id,
            config: Mutex::new(Sizes::default()),
            overflow: Ring::new(overflow_size, split.floor * OVERFLOW_SHARES, mapped, None),
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
        let callsite = callsite.filter(|c| c.interns(event.facility.as_ref()));
        let site = callsite.and_then(|c| self.sites.resolve(c, &event));
        // The event stays here and the rings read it: moving its ~400 bytes
        // down the calls was a tenth of the cost.
        self.with_ring(callsite, event.level, event.facility(), |ring| {
            ring.push(&event, site, &self.pool, while_held)
        });
    }

    /// The entry of `callsite`'s constant parts in the call-site dictionary
    /// for `facility` at `level`, when the call site has it cached (it has
    /// after its first event with that facility, if it interns it): then
    /// its events need no [`Event`] to be stored.
    #[inline(always)]
    pub(crate) fn cached_site(
        &self,
        callsite: &Callsite,
        facility: Option<&Cow<'static, str>>,
        level: Level,
    ) -> Option<u32> {
        self.sites.cached(callsite, facility, level)
    }

    /// Stores the compact record of a `msg!` call's event, made of `parts`
    /// and `values` with no [`Event`]: as [`push`](Self::push) does, but
    /// `whole` makes the event only if it must be stored whole, and
    /// `while_held` runs with the buffer locked. `parts.site` is from
    /// [`cached_site`](Self::cached_site), so `callsite` interns `facility`.
    #[inline(always)]
    pub(crate) fn push_compact(
        &self,
        callsite: &Callsite,
        (facility, level): (&str, Level),
        (parts, values): (&Parts<'_>, &[Value]),
        whole: &dyn Fn() -> Event,
        while_held: impl FnOnce(),
    ) {
        self.with_ring(Some(callsite), level, facility, |ring| {
            ring.push_compact(parts, values, &self.pool, whole, while_held)
        });
    }

    /// Calls `f` with the ring of (facility, level), made if need be (the
    /// overflow ring once there are as many as allowed). A `callsite`,
    /// given only where it interns `facility` (see [`Callsite::interns`]),
    /// finds it by the slot it cached, and caches it when it has none (or
    /// one of another logger's, or another level's).
    #[inline(always)]
    fn with_ring<R>(
        &self,
        callsite: Option<&Callsite>,
        level: Level,
        facility: &str,
        f: impl FnOnce(&Ring) -> R,
    ) -> R {
        let tag = sites::cache_tag(self.id, level);
        let cache = callsite.zip(tag);
        if let Some((callsite, tag)) = cache {
            let cached = callsite.ring.load(Ordering::Relaxed);
            if cached & !SLOT_BITS == tag {
                let slot = self.slots.get((cached & SLOT_BITS) as usize);
                if let Some(ring) = slot.and_then(OnceLock::get) {
                    return f(ring);
                }
            }
        }
        let key = LookupKey {
            facility: key_facility(facility),
            level,
        };
        let map = self.map.load();
        if let Some(ring) = map.get(&key) {
            if let (Some((callsite, tag)), Some(slot)) = (cache, ring.slot) {
                callsite
                    .ring
                    .store(tag | u64::from(slot), Ordering::Relaxed);
            }
            return f(ring);
        }
        drop(map);
        match self.create(key.facility, key.level) {
            Some(ring) => f(&ring),
            None => f(&self.overflow),
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
        let slot = u32::try_from(current.len())
            .ok()
            .filter(|&s| (s as usize) < self.slots.len());
        let ring = Arc::new(Ring::new(
            sizes.size_for(facility, level),
            floor,
            mapped,
            slot,
        ));
        if let Some(slot) = slot {
            let _ = self.slots[slot as usize].set(Arc::clone(&ring));
        }
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
    use crate::event::{Event, Text};

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

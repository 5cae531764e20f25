use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arc_swap::ArcSwap;
use hashbrown::{DefaultHashBuilder, Equivalent};

use crate::event::Event;
use crate::level::Level;

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
/// push and threads logging to different (facility, level) pairs never meet.
// Aligned to two cache lines so that the locks of rings allocated side by side
// never share a line: threads logging to different buffers would otherwise
// slow each other down (adjacent-line prefetch pairs lines, hence 128).
#[derive(Debug)]
#[repr(align(128))]
struct Ring {
    inner: Mutex<RingInner>,
}

/// A fixed-capacity ring over a `Vec`: once full, a new event overwrites the
/// oldest in place, so a push moves the event once and never shifts others.
#[derive(Debug)]
struct RingInner {
    capacity: usize,
    slots: Vec<Event>,
    /// Index of the oldest event once the ring is full.
    head: usize,
}

impl RingInner {
    #[inline(always)]
    fn push(&mut self, event: Event) -> &Event {
        if self.slots.len() < self.capacity {
            self.slots.push(event);
            return self.slots.last().expect("just pushed");
        }
        let at = self.head;
        self.slots[at] = event;
        self.head = (at + 1) % self.slots.len();
        &self.slots[at]
    }

    fn iter(&self) -> impl Iterator<Item = &Event> {
        self.slots[self.head..]
            .iter()
            .chain(&self.slots[..self.head])
    }

    fn resize(&mut self, capacity: usize) {
        self.slots.rotate_left(self.head);
        self.head = 0;
        let excess = self.slots.len().saturating_sub(capacity);
        self.slots.drain(..excess);
        self.capacity = capacity;
    }
}

impl Ring {
    fn new(capacity: usize) -> Ring {
        Ring {
            inner: Mutex::new(RingInner {
                capacity,
                slots: Vec::new(),
                head: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, RingInner> {
        // A panic in an observer cannot leave a ring half-updated: every update
        // is a single push or pop, so a poisoned ring is still consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[inline(always)]
    fn push(&self, event: Event, while_held: impl FnOnce(&Event)) {
        let mut ring = self.lock();
        if ring.capacity == 0 {
            while_held(&event);
            return;
        }
        while_held(ring.push(event));
    }

    fn resize(&self, capacity: usize) {
        self.lock().resize(capacity);
    }
}

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
}

impl Buffers {
    pub(crate) fn new(max_buffers: usize, overflow_size: usize) -> Buffers {
        Buffers {
            map: ArcSwap::from_pointee(BufMap::default()),
            config: Mutex::new(Sizes::default()),
            overflow: Ring::new(overflow_size),
            max_buffers,
        }
    }

    /// Stores an event, evicting the oldest of its own buffer when full, and calls
    /// `while_held` with it while the buffer is still locked, so a reader that
    /// locks the buffer after `while_held` ran is sure to see the event.
    #[inline(always)]
    pub(crate) fn push(&self, event: Event, while_held: impl FnOnce(&Event)) {
        let map = self.map.load();
        let key = LookupKey {
            facility: event.facility(),
            level: event.level,
        };
        if let Some(ring) = map.get(&key) {
            return ring.push(event, while_held);
        }
        drop(map);
        match self.create(event.facility(), event.level) {
            Some(ring) => ring.push(event, while_held),
            None => self.overflow.push(event, while_held),
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
        let ring = Arc::new(Ring::new(sizes.size_for(facility, level)));
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
        sizes.per_facility.insert((facility.into(), level), size);
        self.apply(&sizes);
    }

    fn apply(&self, sizes: &Sizes) {
        for (key, ring) in self.map.load().iter() {
            ring.resize(sizes.size_for(&key.facility, key.level));
        }
    }

    /// Every buffered event, encoded by `encode` while its buffer is locked, and
    /// the index of the encodings in `num` order. Encoding in place saves cloning
    /// every event before writing it, which is most of what a trigger costs.
    pub(crate) fn snapshot_encoded<E>(
        &self,
        mut encode: impl FnMut(&Event, &mut Vec<u8>) -> Result<(), E>,
    ) -> Result<EncodedSnapshot, E> {
        let map = self.map.load_full();
        let mut snap = EncodedSnapshot::default();
        for ring in map
            .values()
            .map(|r| &**r)
            .chain(std::iter::once(&self.overflow))
        {
            for event in ring.lock().iter() {
                snap.push(event, &mut encode)?;
            }
        }
        snap.index.sort_unstable_by_key(|&(num, _, _)| num);
        Ok(snap)
    }

    /// Every buffered event, in `num` order.
    pub(crate) fn snapshot(&self) -> Vec<Event> {
        let map = self.map.load_full();
        let mut events = Vec::new();
        for ring in map
            .values()
            .map(|r| &**r)
            .chain(std::iter::once(&self.overflow))
        {
            events.extend(ring.lock().iter().cloned());
        }
        events.sort_unstable_by_key(|e| e.num);
        events
    }

    /// How many (facility, level) buffers exist, not counting the overflow one.
    #[cfg(test)]
    pub(crate) fn buffer_count(&self) -> usize {
        self.map.load().len()
    }
}

/// Encoded events and where each one is, by `num`.
#[derive(Debug, Default)]
pub(crate) struct EncodedSnapshot {
    bytes: Vec<u8>,
    /// `(num, start, end)` of each event in `bytes`, sorted by `num`.
    index: Vec<(u64, usize, usize)>,
}

impl EncodedSnapshot {
    fn push<E>(
        &mut self,
        event: &Event,
        encode: &mut impl FnMut(&Event, &mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let start = self.bytes.len();
        encode(event, &mut self.bytes)?;
        self.index.push((event.num, start, self.bytes.len()));
        Ok(())
    }

    /// Adds one more event in its `num` place.
    pub(crate) fn insert<E>(
        &mut self,
        event: &Event,
        mut encode: impl FnMut(&Event, &mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.push(event, &mut encode)?;
        self.index.sort_unstable_by_key(|&(num, _, _)| num);
        Ok(())
    }

    /// Whether an event with this `num` is in the snapshot.
    pub(crate) fn contains(&self, num: u64) -> bool {
        self.index
            .binary_search_by_key(&num, |&(n, _, _)| n)
            .is_ok()
    }

    /// The `num`s, in order.
    pub(crate) fn nums(&self) -> Vec<u64> {
        self.index.iter().map(|&(num, _, _)| num).collect()
    }

    /// Total encoded size.
    pub(crate) fn len_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// The encoded events in `num` order.
    pub(crate) fn in_order(&self) -> impl Iterator<Item = &[u8]> {
        self.index
            .iter()
            .map(|&(_, start, end)| &self.bytes[start..end])
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

    fn nums(b: &Buffers) -> Vec<u64> {
        b.snapshot().iter().map(|e| e.num).collect()
    }

    #[test]
    fn each_facility_and_level_evicts_only_its_own_events() {
        let b = Buffers::new(DEFAULT_MAX_BUFFERS, 10);
        b.set_level_size(Level::NOISY, 3);
        b.push(ev(0, "app", Level::BAD), |_| {});
        b.push(ev(1, "other", Level::NOISY), |_| {});
        for n in 2..10 {
            b.push(ev(n, "app", Level::NOISY), |_| {});
        }
        // Chatter at NOISY kept its last 3 and evicted nothing else.
        assert_eq!(nums(&b), vec![0, 1, 7, 8, 9]);
    }

    #[test]
    fn per_facility_sizes_override_and_shrinking_drops_oldest() {
        let b = Buffers::new(DEFAULT_MAX_BUFFERS, 10);
        b.set_facility_size("db", Level::OPERATIONAL, 2);
        for n in 0..5 {
            b.push(ev(n, "db", Level::OPERATIONAL), |_| {});
            b.push(ev(100 + n, "web", Level::OPERATIONAL), |_| {});
        }
        assert_eq!(nums(&b), vec![3, 4, 100, 101, 102, 103, 104]);
        b.set_level_size(Level::OPERATIONAL, 1);
        assert_eq!(nums(&b), vec![3, 4, 104], "db keeps its own size");
        b.set_facility_size("db", Level::OPERATIONAL, 0);
        b.push(ev(9, "db", Level::OPERATIONAL), |_| {});
        assert_eq!(nums(&b), vec![104]);
    }

    #[test]
    fn facilities_beyond_the_cap_share_the_overflow_buffer() {
        let b = Buffers::new(2, 3);
        let names: Vec<&'static str> = (0..10)
            .map(|i| &*Box::leak(format!("f{i}").into_boxed_str()))
            .collect();
        for (n, name) in names.iter().enumerate() {
            b.push(ev(n as u64, name, Level::OPERATIONAL), |_| {});
        }
        assert_eq!(b.buffer_count(), 2);
        assert_eq!(nums(&b), vec![0, 1, 7, 8, 9]);
    }

    #[test]
    fn while_held_sees_the_pushed_event() {
        let b = Buffers::new(4, 4);
        let mut seen = None;
        b.push(ev(5, "x", Level::WEIRD), |e| seen = Some(e.num));
        assert_eq!(seen, Some(5));
    }
}

//! The call-site dictionary: one logger's constant parts of events (level,
//! facility, text, field names), each stored once and numbered, so that a
//! buffered event's record holds only its number and its own values (see
//! `compact.rs`).
//!
//! Entries are plain bytes, appended and never changed (the layout is in
//! `docs/flogfile.md`, "buffered events"): a record can be read back from
//! its bytes and the dictionary's bytes alone, in this process or, mirrored
//! to a file, in another. Which call site has which entry is cached at the
//! call site (its [`Callsite`]), so an event costs one atomic load here.
//!
//! With a crash ring, every entry is also appended to the ring file's
//! dictionary as it is added here, under the same lock and before its id is
//! handed out: entry N of the file is entry N here, and no record naming an
//! entry reaches a segment of the file before the entry does.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::callsite::Callsite;
use crate::event::{Event, Text};
use crate::flogfile::{encode_text, encode_uint, item_end, item_head};
use crate::incarnation::Incarnation;
use crate::level::Level;
use crate::mapped::RingFile;

/// The most entries a dictionary holds (the call-site cache keeps 24 bits).
const MAX_ENTRIES: usize = 1 << 24;
/// A call-site cache word: dictionary id << 32 | level << 24 | entry.
const ENTRY_BITS: u64 = 0xff_ffff;

/// A new id for one logger's buffers and dictionary, tagging their words
/// in call-site caches; 0 once the ids (32 bits) are used up, which caches
/// nothing.
pub(super) fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    if id > u64::from(u32::MAX) {
        0
    } else {
        id
    }
}

/// The tag of a call-site cache word for the buffers or dictionary `id` at
/// `level`: `id << 32 | level << 24`, the low 24 bits left for what is
/// cached. `None` when nothing can be cached (no id, or a level past 8 bits).
#[inline(always)]
pub(super) fn cache_tag(id: u64, level: Level) -> Option<u64> {
    (id != 0 && level.0 <= 0xff).then(|| (id << 32) | (u64::from(level.0) << 24))
}

/// One entry, read from its bytes: where each part's encoded item is.
#[derive(Debug)]
pub(super) struct Site {
    bytes: Box<[u8]>,
    pub(super) level: u16,
    facility: Option<Range<usize>>,
    pub(super) is_format: bool,
    text: Range<usize>,
    names: Vec<Range<usize>>,
}

impl Site {
    /// The encoded facility item, if any.
    pub(super) fn facility(&self) -> Option<&[u8]> {
        self.facility.clone().map(|r| &self.bytes[r])
    }

    /// The encoded text item.
    pub(super) fn text(&self) -> &[u8] {
        &self.bytes[self.text.clone()]
    }

    /// The encoded field names, in order.
    pub(super) fn names(&self) -> impl ExactSizeIterator<Item = &[u8]> {
        self.names.iter().map(|r| &self.bytes[r.clone()])
    }

    /// Reads an entry: `None` unless `bytes` are exactly one well-formed one.
    pub(super) fn parse(bytes: Box<[u8]>) -> Option<Site> {
        let item = |at: usize| -> Option<Range<usize>> { Some(at..item_end(&bytes, at)?) };
        let (major, level, mut at) = item_head(&bytes, 0)?;
        if major != 0 {
            return None;
        }
        let facility = match item_head(&bytes, at)? {
            (7, 22, next) => {
                at = next;
                None
            }
            (3, _, _) => {
                let r = item(at)?;
                at = r.end;
                Some(r)
            }
            _ => return None,
        };
        let kind = item(at)?;
        let is_format = match &bytes[kind.clone()] {
            b"\x66format" => true,
            b"\x67message" => false,
            _ => return None,
        };
        let text = item(kind.end)?;
        let (3, _, _) = item_head(&bytes, text.start)? else {
            return None;
        };
        let (0, count, mut at) = item_head(&bytes, text.end)? else {
            return None;
        };
        let mut names = Vec::with_capacity((count as usize).min(bytes.len()));
        for _ in 0..count {
            let (3, _, _) = item_head(&bytes, at)? else {
                return None;
            };
            let r = item(at)?;
            at = r.end;
            names.push(r);
        }
        (at == bytes.len()).then_some(Site {
            level: u16::try_from(level).ok()?,
            facility,
            is_format,
            text,
            names,
            bytes,
        })
    }

    /// The entry of `event`'s constant parts.
    fn bytes_of(event: &Event) -> Vec<u8> {
        let mut out = Vec::with_capacity(96);
        encode_uint(u64::from(event.level.0), &mut out);
        match &event.facility {
            Some(facility) => encode_text(facility, &mut out),
            None => out.push(0xf6),
        }
        let (kind, text) = match &event.text {
            Text::Format(f) => ("format", f),
            Text::Message(m) => ("message", m),
        };
        encode_text(kind, &mut out);
        encode_text(text, &mut out);
        encode_uint(event.fields.len() as u64, &mut out);
        for (name, _) in &event.fields {
            encode_text(name, &mut out);
        }
        out
    }

    /// What the entry costs the memory budget besides its place in the
    /// table and the index (counted when room is made): its bytes twice (the
    /// entry and its index key) and its ranges.
    fn cost(bytes: usize, names: usize) -> usize {
        2 * bytes + names * std::mem::size_of::<Range<usize>>()
    }
}

/// What room for one more entry costs in the index: a slot and its control
/// byte, three times over (hashbrown keeps at most 7/8 of a power of two
/// full, and may double when it grows).
const INDEX_SLOT: usize = 3 * (std::mem::size_of::<(Box<[u8]>, u32)>() + 1);

/// The entries, and an index by content so that call sites (or loggers)
/// with the same constant parts share one.
#[derive(Debug)]
pub(super) struct Table {
    pub(super) incarnation: Incarnation,
    entries: Vec<Site>,
    index: HashMap<Box<[u8]>, u32>,
    /// Bytes the entries cost ([`Site::cost`]), slack included.
    used: usize,
}

impl Table {
    pub(super) fn get(&self, id: u32) -> Option<&Site> {
        self.entries.get(id as usize)
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The table of a crash ring file's dictionary `entries` (in the file's
    /// order, which is the ids' order), for reading its records back. An
    /// entry that does not read as one ends the table, as the ids after it
    /// could not be trusted: records naming it, or a later one, expand to
    /// nothing. Returns the table and the index of the entry that ended it.
    pub(super) fn of_entries(
        incarnation: Incarnation,
        entries: &[Vec<u8>],
    ) -> (Table, Option<usize>) {
        let sites: Vec<Site> = entries
            .iter()
            .take(MAX_ENTRIES)
            .map_while(|bytes| Site::parse(bytes.as_slice().into()))
            .collect();
        let bad = (sites.len() < entries.len()).then_some(sites.len());
        let table = Table {
            incarnation,
            entries: sites,
            index: HashMap::new(),
            used: 0,
        };
        (table, bad)
    }
}

/// A logger's call-site dictionary, bounded in bytes.
#[derive(Debug)]
pub(super) struct Sites {
    /// Tags this dictionary's entries in call-site caches (its buffers'
    /// id); 0 (ids used up) caches nothing.
    id: u64,
    /// The most bytes the entries may cost.
    limit: usize,
    table: Mutex<Table>,
    /// The crash ring file whose dictionary mirrors this one, if any.
    mirror: Option<Arc<RingFile>>,
}

impl Sites {
    /// A dictionary tagged `id` (from [`next_id`]).
    pub(super) fn new(
        id: u64,
        incarnation: Incarnation,
        limit: usize,
        mirror: Option<Arc<RingFile>>,
    ) -> Sites {
        Sites {
            id,
            limit,
            table: Mutex::new(Table {
                incarnation,
                entries: Vec::new(),
                index: HashMap::new(),
                used: 0,
            }),
            mirror,
        }
    }

    /// The entry of `event`, logged at `callsite`: the call site's cached
    /// one, else found or added. `None` when the call site's parts are not
    /// constant, or the dictionary is full: the event is then stored whole.
    #[inline(always)]
    pub(super) fn resolve(&self, callsite: &Callsite, event: &Event) -> Option<u32> {
        if !callsite.interns(event.facility.as_ref()) {
            return None;
        }
        // The level is part of the tag: a call site with a level
        // expression has an entry per level.
        let tag = cache_tag(self.id, event.level)?;
        let cached = callsite.site.load(Ordering::Relaxed);
        if cached & !ENTRY_BITS == tag {
            return Some((cached & ENTRY_BITS) as u32);
        }
        let id = self.intern(event)?;
        callsite.site.store(tag | u64::from(id), Ordering::Relaxed);
        Some(id)
    }

    /// The entry cached at `callsite` for an event with `facility` at
    /// `level`, if this dictionary made it; no event needed. `None` means:
    /// resolve it with an event (the first call of a call site, or another
    /// logger's), or it cannot be interned (another facility).
    #[inline(always)]
    pub(super) fn cached(
        &self,
        callsite: &Callsite,
        facility: Option<&Cow<'static, str>>,
        level: Level,
    ) -> Option<u32> {
        if !callsite.interns(facility) {
            return None;
        }
        let tag = cache_tag(self.id, level)?;
        let cached = callsite.site.load(Ordering::Relaxed);
        (cached & !ENTRY_BITS == tag).then_some((cached & ENTRY_BITS) as u32)
    }

    #[cold]
    #[inline(never)]
    fn intern(&self, event: &Event) -> Option<u32> {
        let bytes = Site::bytes_of(event);
        let mut table = self.table();
        if let Some(&id) = table.index.get(&*bytes) {
            return Some(id);
        }
        let id = table.entries.len();
        if id >= MAX_ENTRIES {
            return None;
        }
        // Room is made for entries in steps that are counted, so the
        // table's own growth never passes the limit either.
        let mut used = table.used + Site::cost(bytes.len(), event.fields.len());
        let grow = table.entries.len() == table.entries.capacity();
        let more = table.entries.capacity().max(8);
        if grow {
            used += more * (std::mem::size_of::<Site>() + INDEX_SLOT);
        }
        if used > self.limit {
            return None;
        }
        let site = Site::parse(bytes.clone().into_boxed_slice())?;
        // The file's copy last of all that may refuse, so that the file and
        // the table never hold different entries under one id; a file with
        // no room refuses the entry here too (its events are stored whole,
        // which the file holds as they are).
        if let Some(ring) = &self.mirror {
            ring.append_dict(&bytes)?;
        }
        if grow {
            table.entries.reserve_exact(more);
            table.index.reserve(more);
        }
        table.entries.push(site);
        table.index.insert(bytes.into_boxed_slice(), id as u32);
        table.used = used;
        Some(id as u32)
    }

    /// The table, locked: for reading records back.
    pub(super) fn table(&self) -> MutexGuard<'_, Table> {
        // Every update is a single push: a poisoned table is consistent.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes the entries cost now.
    #[cfg(test)]
    pub(super) fn used(&self) -> usize {
        self.table().used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(facility: &'static str, level: Level, names: &[&'static str]) -> Event {
        let mut e = Event {
            level,
            facility: Some(Cow::Borrowed(facility)),
            text: Text::Format(Cow::Borrowed("a constant format string {x}")),
            ..Event::default()
        };
        for name in names {
            e.fields.push((Cow::Borrowed(*name), 1.into()));
        }
        e
    }

    fn callsite() -> &'static Callsite {
        Box::leak(Box::new(Callsite::new(true)))
    }

    /// Hostile call sites (thousands, with facilities of 4 KiB) fill the
    /// dictionary up to its limit in bytes and no further: the rest are
    /// refused (their events are stored whole), and every entry made
    /// reads back as it was given.
    #[test]
    fn the_dictionary_stays_within_its_bytes() {
        const LIMIT: usize = 256 << 10;
        let sites = Sites::new(next_id(), Incarnation::default(), LIMIT, None);
        let (mut kept, mut refused) = (0, 0);
        for i in 0..2_000 {
            let facility: &'static str = format!("{i:04}{}", "f".repeat(4100)).leak();
            match sites.resolve(callsite(), &event(facility, Level::WEIRD, &["x"])) {
                Some(id) => {
                    assert_eq!(id, kept);
                    kept += 1;
                }
                None => refused += 1,
            }
            assert!(sites.used() <= LIMIT, "{} bytes", sites.used());
        }
        assert!(kept > 10 && refused > 0, "{kept} kept, {refused} refused");
        // Short call sites still fit in what is left, until it is used up.
        let before = sites.table().len();
        for i in 0..10_000 {
            let facility: &'static str = format!("s{i}").leak();
            sites.resolve(callsite(), &event(facility, Level::WEIRD, &["x"]));
            assert!(sites.used() <= LIMIT, "{} bytes", sites.used());
        }
        let table = sites.table();
        assert!(table.len() > before);
        for id in 0..table.len() as u32 {
            let site = table.get(id).unwrap();
            assert_eq!(site.level, Level::WEIRD.0);
            assert_eq!(site.names().len(), 1);
            assert!(Site::parse(site.bytes.clone()).is_some());
        }
    }

    /// Call sites with the same constant parts share one entry; the level
    /// of a call site is part of its entry; a dictionary's entries are its
    /// own (another logger's cache word is not taken for one of ours).
    #[test]
    fn entries_are_shared_by_content_and_told_apart_by_level_and_dictionary() {
        let (a, b) = (
            Sites::new(next_id(), Incarnation::default(), 1 << 20, None),
            Sites::new(next_id(), Incarnation::default(), 1 << 20, None),
        );
        let (one, two) = (callsite(), callsite());
        let e = event("app", Level::WEIRD, &["x", "y"]);
        assert_eq!(a.resolve(one, &e), Some(0));
        assert_eq!(a.resolve(two, &e), Some(0), "same parts, same entry");
        let other = event("app", Level::BAD, &["x", "y"]);
        assert_eq!(a.resolve(one, &other), Some(1), "another level");
        assert_eq!(b.resolve(one, &event("b", Level::BAD, &[])), Some(0));
        assert_eq!(a.resolve(one, &other), Some(1), "back to a");
        assert_eq!(a.table().len(), 2);
        assert_eq!(
            a.resolve(&Callsite::new(false), &e),
            None,
            "parts that change between calls are not interned"
        );
        let levelled = Event {
            level: Level(256),
            ..e
        };
        assert_eq!(a.resolve(one, &levelled), None, "a level past 8 bits");
    }

    /// An entry is read from its bytes alone, and bytes that are not one
    /// are refused.
    #[test]
    fn entries_read_back_from_their_bytes_and_others_are_refused() {
        let e = event("app.db", Level::WEIRD, &["conn", "pool"]);
        let bytes = Site::bytes_of(&e);
        let site = Site::parse(bytes.clone().into_boxed_slice()).unwrap();
        assert_eq!(site.facility(), Some(&b"\x66app.db"[..]));
        assert_eq!(
            site.names().collect::<Vec<_>>(),
            [&b"\x64conn"[..], b"\x64pool"]
        );
        assert!(site.is_format);
        for cut in 0..bytes.len() {
            assert!(Site::parse(bytes[..cut].into()).is_none(), "{cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Site::parse(longer.into()).is_none());
    }
}

//! The flog call site of each tracing event callsite: what every event of
//! the callsite shares (its facility, its field names, its text when that
//! is the same in every call), and the [`Callsite`] caches through which
//! flog stores its events as compact records, as it does `msg!`'s.
//!
//! Shared by every layer of the process: tracing callsites are `static`,
//! and a flog [`Callsite`] tags what it caches with the logger it was made
//! for. The table is bounded ([`MAX_CALLSITES`]); past that, a callsite's
//! events take the layer's general path, which builds an [`Event`](flog_core::Event).

use std::cell::Cell;
use std::sync::{LazyLock, Mutex, OnceLock, PoisonError};

use arc_swap::ArcSwap;
use flog_core::Callsite;
use hashbrown::HashMap;
use tracing::callsite::Identifier;
use tracing::Metadata;

use crate::facility::Facility;

/// The most tracing callsites given a flog call site. Each costs about
/// 200 bytes and its field names, plus its text (at most [`MAX_TEXT`]),
/// kept for the life of the process.
pub(crate) const MAX_CALLSITES: usize = 4096;

/// The longest text kept as a callsite's own; a longer one is copied into
/// each of its events.
pub(crate) const MAX_TEXT: usize = 256;

/// One tracing event callsite, as flog sees it.
#[derive(Debug)]
pub(crate) struct Site {
    pub(crate) facility: Facility,
    /// The names of the fields other than `message`, in the callsite's
    /// order: the names of an event that records every one of them.
    pub(crate) names: &'static [&'static str],
    /// The callsite's text: that of its first event with a text of at most
    /// [`MAX_TEXT`] bytes.
    text: OnceLock<&'static str>,
    /// For events whose text is `text`, stored compactly.
    pub(crate) constant: Callsite,
    /// For events with another text, stored whole.
    pub(crate) varying: Callsite,
}

impl Site {
    /// The callsite's text, if it has one yet.
    pub(crate) fn text(&self) -> Option<&'static str> {
        self.text.get().copied()
    }

    /// The callsite's text, made `text` if it has none yet and `text` is
    /// short enough to keep.
    #[cold]
    pub(crate) fn keep_text(&self, text: &str) -> Option<&'static str> {
        if text.len() > MAX_TEXT {
            return self.text();
        }
        // Leaked at most once per site: the number of sites is bounded.
        Some(self.text.get_or_init(|| String::from(text).leak()))
    }
}

type Table = HashMap<Identifier, &'static Site>;

/// Read by every event on every thread, so an `ArcSwap` (no shared counter
/// written per read); written once per callsite, under `ADDING` so that no
/// site is made twice.
static SITES: LazyLock<ArcSwap<Table>> = LazyLock::new(|| ArcSwap::from_pointee(Table::new()));
static ADDING: Mutex<()> = Mutex::new(());

/// How many sites a thread remembers.
const RECENT: usize = 64;

type Recent = Cell<Option<(&'static Metadata<'static>, &'static Site)>>;

thread_local! {
    /// The sites this thread looked up last, by the address of their
    /// callsite's `'static` metadata (one per callsite), one per slot: the
    /// table's `ArcSwap` load was a locked instruction or two per event.
    /// Sites never change, so nothing here goes stale.
    static RECENT_SITES: [Recent; RECENT] = const { [const { Cell::new(None) }; RECENT] };
}

/// The site of an event callsite; `None` once [`MAX_CALLSITES`] others
/// have one.
#[inline]
pub(crate) fn site(metadata: &'static Metadata<'static>) -> Option<&'static Site> {
    let slot = (std::ptr::from_ref(metadata) as usize >> 4) % RECENT;
    let recent = RECENT_SITES.try_with(|recent| {
        let slot = &recent[slot];
        match slot.get() {
            Some((m, site)) if std::ptr::eq(m, metadata) => Some(site),
            _ => {
                let site = lookup(metadata)?;
                slot.set(Some((metadata, site)));
                Some(site)
            }
        }
    });
    // A thread's own storage is gone while it exits.
    recent.unwrap_or_else(|_| lookup(metadata))
}

fn lookup(metadata: &'static Metadata<'static>) -> Option<&'static Site> {
    let table = SITES.load();
    match table.get(&metadata.callsite()) {
        Some(site) => Some(site),
        // Full: no lock taken for each event of the callsites left out.
        None if table.len() >= MAX_CALLSITES => None,
        None => add(metadata),
    }
}

#[cold]
fn add(metadata: &'static Metadata<'static>) -> Option<&'static Site> {
    let _adding = ADDING.lock().unwrap_or_else(PoisonError::into_inner);
    let table = SITES.load_full();
    let id = metadata.callsite();
    if let Some(site) = table.get(&id) {
        return Some(site);
    }
    if table.len() >= MAX_CALLSITES {
        return None;
    }
    let names: Vec<&'static str> = metadata
        .fields()
        .iter()
        .map(|field| field.name())
        .filter(|name| *name != "message")
        .collect();
    let site: &'static Site = Box::leak(Box::new(Site {
        facility: Facility::of(metadata),
        names: names.leak(),
        text: OnceLock::new(),
        constant: Callsite::new(true),
        varying: Callsite::new(false),
    }));
    let mut grown = Table::clone(&table);
    grown.insert(id, site);
    SITES.store(grown.into());
    Some(site)
}

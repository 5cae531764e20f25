//! The buffers' records in a crash ring file, read back as events: the one
//! conversion that rescue, peek and crash reports share. The file holds the
//! records as the buffers keep them (compact or whole) and a copy of the
//! call-site dictionary; the dictionary is rebuilt from the file's entries
//! and compact records are expanded as a dump expands them, so a crash
//! report holds the same flogfile records an ordinary dump would have.

use super::compact::{self, Expander};
use super::sites::Table;
use crate::flogfile::{Record, RingEvents, RingMeta};
use crate::mapped::{RingContents, RingWarning};

/// The events of a ring file's records, leaving out those numbered up to
/// `excluded_through`. Compact records whose dictionary entry the file does
/// not hold whole are left out with a
/// [`RingWarning::MissingEntries`]; the file is taken as hostile (what it
/// makes is bounded by its size, and nothing in it can panic this).
pub fn ring_events(contents: &RingContents, excluded_through: Option<u64>) -> RingEvents {
    // Compact records carry no incarnation: it is the writer's, from its
    // meta (whole records carry their own).
    let incarnation = RingMeta::of(contents).incarnation.unwrap_or_default();
    let (table, bad_entry) = Table::of_entries(incarnation, &contents.dictionary);
    let mut out = RingEvents::default();
    if let Some(index) = bad_entry {
        out.warnings.push(RingWarning::DictionaryEntry { index });
    }
    let mut expander = Expander::new(&table);
    let mut expanded = Vec::new();
    let mut missing = 0;
    for segment in &contents.segments {
        for record in &segment.records {
            if excluded_through.is_some_and(|n| record.num <= n) {
                out.excluded += 1;
                continue;
            }
            let bytes = if compact::is_compact(&record.bytes) {
                expanded.clear();
                if !expander.expand(&record.bytes, &mut expanded) {
                    missing += 1;
                    continue;
                }
                &expanded[..]
            } else {
                &record.bytes[..]
            };
            match ciborium::from_reader::<Record, _>(bytes) {
                Ok(Record::Event(event)) if event.num == record.num => out.events.push(*event),
                _ => out.undecodable += 1,
            }
        }
    }
    if missing > 0 {
        out.warnings
            .push(RingWarning::MissingEntries { records: missing });
    }
    out.events.sort_by_key(|e| e.num);
    out.events.dedup_by_key(|e| e.num);
    out
}

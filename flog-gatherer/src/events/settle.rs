//! What is known to be in the event log's file: records appended since the
//! last flush that succeeded are pending, and only the file's length tells
//! which of them a failed write or flush left there (what was still
//! buffered is lost with the buffer). [`Settlement`] settles them: events
//! in the file are stored (and, for a relay, handed on), the others counted
//! into their `not_written` gap; gaps and incarnation changes not written
//! are held for when writing resumes.

use std::collections::BTreeMap;

use flog_core::{
    flogfile::{Gap, GapReason, ReceivedEvent},
    Timestamp,
};

use super::figures::EventFigures;
use super::gathered::Gathered;
use super::positions::Positions;

/// A record appended but not yet known to be in the file.
#[derive(Debug)]
pub(crate) struct Pending {
    /// The file offset its record ends at.
    pub(crate) end: u64,
    pub(crate) item: Gathered,
}

/// Events not written while the disk failed, per publisher and incarnation.
#[derive(Debug, Default)]
struct Unwritten {
    count: u64,
    first: Option<u64>,
    last: Option<u64>,
}

/// Most gaps and incarnation changes held while writing fails; past this,
/// gaps of one publisher, incarnation and reason merge into one (its count
/// exact, its range the union), so memory stays bounded however long the
/// disk stays full.
const MAX_HELD: usize = 4096;

/// What a failing disk left unwritten, and what landed for a relay; see the
/// module doc.
#[derive(Debug, Default)]
pub(crate) struct Settlement {
    /// Events not written, per publisher and incarnation.
    unwritten: BTreeMap<(String, String), Unwritten>,
    /// Gaps and incarnation changes not written while writing failed, in
    /// arrival order, written first when writing resumes.
    held: Vec<Gathered>,
    /// Whether events that land are kept in `landed` (for a relay).
    relaying: bool,
    /// Events known to be in the file since the last [`landed`](Self::landed).
    landed: Vec<Gathered>,
}

impl Settlement {
    /// From now on, keeps each event known to be in the file for
    /// [`landed`](Self::landed).
    pub(crate) fn relay_landed(&mut self) {
        self.relaying = true;
    }

    /// The events that landed since they were last taken from here.
    pub(crate) fn landed(&mut self) -> &mut Vec<Gathered> {
        &mut self.landed
    }

    /// What writing resumes with: the held gaps and incarnation changes in
    /// the order they came, then a `not_written` gap (noticed `now`) per
    /// publisher and incarnation; and how many events those gaps count.
    pub(crate) fn take_for_resume(&mut self, now: Timestamp) -> (Vec<Gathered>, u64) {
        let mut records = std::mem::take(&mut self.held);
        let unwritten = std::mem::take(&mut self.unwritten);
        let total = unwritten.values().map(|u| u.count).sum();
        for ((from, incarnation), u) in unwritten {
            records.push(Gathered::Gap(Gap {
                from,
                incarnation,
                count: u.count,
                first: u.first,
                last: u.last,
                reason: GapReason::NotWritten,
                rx_time: now,
            }));
        }
        (records, total)
    }

    /// Counts `item` as not written: an event into its `not_written` gap,
    /// a gap or incarnation change held for when writing resumes.
    pub(crate) fn count_unwritten(&mut self, item: Gathered) {
        match item {
            Gathered::Event(r) => self.count_unwritten_event(&r),
            mark => self.hold(mark),
        }
    }

    fn count_unwritten_event(&mut self, r: &ReceivedEvent) {
        let key = (r.receipt.from.clone(), r.event.incarnation.to_string());
        let num = r.event.num;
        let u = self.unwritten.entry(key).or_default();
        u.count += 1;
        u.first = Some(u.first.map_or(num, |f| f.min(num)));
        u.last = Some(u.last.map_or(num, |l| l.max(num)));
    }

    /// Keeps a gap or incarnation change for when writing resumes.
    fn hold(&mut self, mark: Gathered) {
        if self.held.len() < MAX_HELD {
            self.held.push(mark);
            return;
        }
        let Gathered::Gap(gap) = mark else {
            // Past the bound an incarnation change is let go: the events'
            // own `inc` still tells where the incarnation changed.
            return;
        };
        let same = self.held.iter_mut().find_map(|held| match held {
            Gathered::Gap(g)
                if g.from == gap.from
                    && g.incarnation == gap.incarnation
                    && g.reason == gap.reason =>
            {
                Some(g)
            }
            _ => None,
        });
        match same {
            Some(g) => {
                g.count = g.count.saturating_add(gap.count);
                g.first = g.first.zip(gap.first).map(|(a, b)| a.min(b));
                g.last = g.last.zip(gap.last).map(|(a, b)| a.max(b));
            }
            // A key not held yet: past the bound there is at most one gap
            // per publisher, incarnation and reason, so this stays bounded
            // by the fleet, not by how long the disk stays full.
            None => self.held.push(Gathered::Gap(gap)),
        }
    }

    /// Settles the pending records of a file that holds `len` bytes: those
    /// whose record ends within it are in the file (events stored), the
    /// others are not (events counted as not written, marks held).
    pub(crate) fn settle(
        &mut self,
        pending: Vec<Pending>,
        len: u64,
        positions: &mut Positions,
        figures: &EventFigures,
    ) {
        for Pending { end, item } in pending {
            let landed = end <= len;
            match item {
                Gathered::Event(r) if landed => {
                    let inc = r.event.incarnation.to_string();
                    positions.store(&r.receipt.from, &inc, r.event.num);
                    figures.event_written(&r.receipt.from);
                    if self.relaying {
                        self.landed.push(Gathered::Event(r));
                    }
                }
                Gathered::Event(r) => self.count_unwritten_event(&r),
                Gathered::Gap(g) if landed => figures.gap_written(&g.from, g.count),
                _ if landed => {}
                mark => self.hold(mark),
            }
        }
    }
}

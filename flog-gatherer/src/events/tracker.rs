//! What has been seen of one publisher's incarnation, by event number:
//! which arriving events are new, which are duplicates (a catch-up on
//! reconnect sends again what is still buffered), and which numbers are
//! missing, reported as gaps.
//!
//! Numbers are dense per incarnation (each logging call takes the next), so
//! a number skipped is an event lost. Events of different threads may reach
//! the publisher's stream slightly out of order, so a skipped number stays
//! an open *hole* until the stream is [`REORDER_WINDOW`] events past it,
//! [`HOLE_PATIENCE`] has passed (on the gatherer's clock: a quiet publisher's
//! gap is not left unreported), or the connection ends; only then is it
//! reported as a gap.

use std::collections::BTreeMap;

use std::time::Duration;

use flog_core::{flogfile::GapReason, Timestamp};

/// How far past a missing number the stream may go before it is a gap.
pub(crate) const REORDER_WINDOW: u64 = 1024;

/// How long a missing number may stay missing before it is a gap: far
/// longer than events of two threads are ever apart in a stream.
pub(crate) const HOLE_PATIENCE: Duration = Duration::from_secs(5);

/// Most open holes kept; past this the oldest is reported at once, so that
/// memory stays bounded whatever a publisher sends.
const MAX_HOLES: usize = 4096;

/// A run of missing numbers, reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Missing {
    pub(crate) first: u64,
    pub(crate) last: u64,
    pub(crate) reason: GapReason,
}

impl Missing {
    pub(crate) fn count(&self) -> u64 {
        self.last - self.first + 1
    }
}

/// What to do with an arriving event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Not seen before: keep it.
    New,
    /// Already stored (or already reported missing): drop it.
    Duplicate,
}

/// The record of one incarnation; see the module doc.
#[derive(Debug, Clone)]
pub(crate) struct Tracker {
    /// The highest number seen, `None` before the first.
    high: Option<u64>,
    /// Open holes: first -> (last, reason, when it opened).
    holes: BTreeMap<u64, (u64, GapReason, Timestamp)>,
    /// Whether the next event is the first of a connection (what is missing
    /// before it was not buffered any more).
    connected: bool,
    /// Events the publisher reported dropped since the last event.
    dropped: u64,
}

impl Tracker {
    /// A tracker for an incarnation of which `stored` is the highest number
    /// already stored (`None`: nothing yet).
    pub(crate) fn new(stored: Option<u64>) -> Tracker {
        Tracker {
            high: stored,
            holes: BTreeMap::new(),
            connected: true,
            dropped: 0,
        }
    }

    /// A tracker resuming after a gatherer died: `stored` is the highest
    /// number stored, `holes` the runs below it that were still open (what
    /// the file it left holds neither as events nor in gaps). They fill
    /// like any hole if the catch-up still holds them, and are reported as
    /// `not_buffered` gaps otherwise.
    pub(crate) fn resume(stored: Option<u64>, holes: &[(u64, u64)], now: Timestamp) -> Tracker {
        let mut tracker = Tracker::new(stored);
        for &(first, last) in holes.iter().take(MAX_HOLES) {
            tracker
                .holes
                .insert(first, (last, GapReason::NotBuffered, now));
        }
        tracker
    }

    /// A new connection begins: the next event comes from its catch-up.
    pub(crate) fn connected(&mut self) {
        self.connected = true;
    }

    /// The publisher reported `count` events dropped here.
    pub(crate) fn dropped(&mut self, count: u64) {
        self.dropped = self.dropped.saturating_add(count);
    }

    /// Takes event `num`, arriving `now`; `confirmed` receives the holes
    /// that became gaps.
    pub(crate) fn arrive(
        &mut self,
        num: u64,
        now: Timestamp,
        confirmed: &mut Vec<Missing>,
    ) -> Verdict {
        let reason = if self.connected {
            GapReason::NotBuffered
        } else if self.dropped > 0 {
            GapReason::Dropped
        } else {
            GapReason::NotBuffered
        };
        self.connected = false;
        self.dropped = 0;
        let next = self.high.map_or(0, |h| h + 1);
        let verdict = if num >= next {
            if num > next {
                self.holes.insert(next, (num - 1, reason, now));
            }
            self.high = Some(num);
            Verdict::New
        } else if self.fill(num) {
            Verdict::New
        } else {
            Verdict::Duplicate
        };
        self.confirm(confirmed, false);
        verdict
    }

    /// Removes `num` from the hole holding it; `false` when none does.
    fn fill(&mut self, num: u64) -> bool {
        let Some((&first, &(last, ref reason, opened))) = self.holes.range(..=num).next_back()
        else {
            return false;
        };
        if num > last {
            return false;
        }
        let reason = reason.clone();
        self.holes.remove(&first);
        if first < num {
            self.holes.insert(first, (num - 1, reason.clone(), opened));
        }
        if num < last {
            self.holes.insert(num + 1, (last, reason, opened));
        }
        true
    }

    /// Moves holes that can no longer fill (or every one, with `all`) to
    /// `confirmed`.
    fn confirm(&mut self, confirmed: &mut Vec<Missing>, all: bool) {
        let high = self.high.unwrap_or(0);
        while let Some((&first, &(last, ..))) = self.holes.iter().next() {
            let stale = high.saturating_sub(last) > REORDER_WINDOW;
            if !(all || stale || self.holes.len() > MAX_HOLES) {
                break;
            }
            let (last, reason, _) = self.holes.remove(&first).expect("just seen");
            confirmed.push(Missing {
                first,
                last,
                reason,
            });
        }
    }

    /// Whether a hole is open (the owner then calls [`expire`](Self::expire)
    /// now and then, however quiet the stream).
    pub(crate) fn has_holes(&self) -> bool {
        !self.holes.is_empty()
    }

    /// Moves the holes open for [`HOLE_PATIENCE`] or longer at `now` to
    /// `confirmed`.
    pub(crate) fn expire(&mut self, now: Timestamp, confirmed: &mut Vec<Missing>) {
        let due: Vec<u64> = self
            .holes
            .iter()
            .filter(|(_, (_, _, opened))| now >= opened.saturating_add(HOLE_PATIENCE))
            .map(|(&first, _)| first)
            .collect();
        for first in due {
            let (last, reason, _) = self.holes.remove(&first).expect("just seen");
            confirmed.push(Missing {
                first,
                last,
                reason,
            });
        }
    }

    /// The connection ended: every open hole is a gap now.
    pub(crate) fn disconnected(&mut self, confirmed: &mut Vec<Missing>) {
        self.confirm(confirmed, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hole_left_open_by_a_quiet_stream_is_a_gap_once_its_patience_is_over() {
        let t0 = Timestamp(1_764_588_600_000_000);
        let mut t = Tracker::new(Some(0));
        let mut gaps = Vec::new();
        assert_eq!(t.arrive(1, t0, &mut gaps), Verdict::New);
        assert_eq!(t.arrive(3, t0, &mut gaps), Verdict::New);
        assert!(t.has_holes());
        let almost = t0.saturating_add(HOLE_PATIENCE - Duration::from_micros(1));
        t.expire(almost, &mut gaps);
        assert!(gaps.is_empty(), "not yet: {gaps:?}");
        // A late event before that fills its place.
        assert_eq!(t.arrive(5, almost, &mut gaps), Verdict::New);
        t.expire(t0.saturating_add(HOLE_PATIENCE), &mut gaps);
        assert_eq!(
            gaps,
            [Missing {
                first: 2,
                last: 2,
                reason: GapReason::NotBuffered
            }]
        );
        // The hole opened later (4) waits for its own patience; a late 2
        // is a duplicate now, already reported missing.
        assert!(t.has_holes());
        assert_eq!(t.arrive(2, almost, &mut gaps), Verdict::Duplicate);
        gaps.clear();
        t.expire(almost.saturating_add(HOLE_PATIENCE), &mut gaps);
        assert_eq!((gaps[0].first, gaps[0].last), (4, 4));
        assert!(!t.has_holes());
    }

    #[test]
    fn holes_open_when_a_gatherer_died_are_filled_by_the_catch_up_or_reported() {
        let mut t = Tracker::resume(Some(10), &[(7, 7), (3, 4)], Timestamp(0));
        t.connected();
        let (kept, gaps) = run(&mut t, &[3, 5, 6, 7, 8, 9, 10, 11]);
        assert_eq!(
            kept,
            [3, 7, 11],
            "the holes' numbers are new, the rest stored"
        );
        assert!(gaps.is_empty());
        let mut gaps = Vec::new();
        t.disconnected(&mut gaps);
        assert_eq!(
            gaps,
            [Missing {
                first: 4,
                last: 4,
                reason: GapReason::NotBuffered
            }],
            "what the catch-up no longer held"
        );
    }

    fn run(t: &mut Tracker, nums: &[u64]) -> (Vec<u64>, Vec<Missing>) {
        let mut kept = Vec::new();
        let mut gaps = Vec::new();
        for &n in nums {
            if t.arrive(n, Timestamp(0), &mut gaps) == Verdict::New {
                kept.push(n);
            }
        }
        (kept, gaps)
    }

    #[test]
    fn a_catch_up_after_reconnect_keeps_only_what_is_new() {
        let mut t = Tracker::new(Some(4));
        t.connected();
        let (kept, gaps) = run(&mut t, &[2, 3, 4, 5, 6]);
        assert_eq!(kept, [5, 6]);
        assert!(gaps.is_empty());
    }

    #[test]
    fn what_the_catch_up_no_longer_holds_is_a_not_buffered_gap() {
        let mut t = Tracker::new(Some(4));
        t.connected();
        let (kept, _) = run(&mut t, &[9, 10]);
        assert_eq!(kept, [9, 10]);
        let mut gaps = Vec::new();
        t.disconnected(&mut gaps);
        assert_eq!(
            gaps,
            [Missing {
                first: 5,
                last: 8,
                reason: GapReason::NotBuffered
            }]
        );
        // A fresh incarnation starts at 0.
        let mut t = Tracker::new(None);
        run(&mut t, &[3]);
        let mut gaps = Vec::new();
        t.disconnected(&mut gaps);
        assert_eq!((gaps[0].first, gaps[0].count()), (0, 3));
    }

    #[test]
    fn reordered_events_fill_their_hole_and_dropped_ones_say_so() {
        let mut t = Tracker::new(Some(0));
        let (kept, gaps) = run(&mut t, &[1, 3, 2, 4]);
        assert_eq!(kept, [1, 3, 2, 4]);
        assert!(gaps.is_empty());
        t.dropped(3);
        let (kept, gaps) = run(&mut t, &[8, 2, 5]);
        assert_eq!(
            kept,
            [8, 5],
            "2 is a duplicate; 5 is late and fills its place"
        );
        assert!(gaps.is_empty());
        let mut gaps = Vec::new();
        t.disconnected(&mut gaps);
        assert_eq!(
            gaps,
            [Missing {
                first: 6,
                last: 7,
                reason: GapReason::Dropped,
            }]
        );
    }

    #[test]
    fn holes_become_gaps_once_the_stream_is_far_past_them() {
        let mut t = Tracker::new(Some(0));
        let (_, gaps) = run(&mut t, &[2]);
        assert!(gaps.is_empty());
        let nums: Vec<u64> = (3..=REORDER_WINDOW + 3).collect();
        let (_, gaps) = run(&mut t, &nums);
        assert_eq!(gaps.len(), 1);
        assert_eq!((gaps[0].first, gaps[0].last), (1, 1));
        // Too late: reported missing, so not stored twice over.
        let (kept, _) = run(&mut t, &[1]);
        assert!(kept.is_empty());
    }

    #[test]
    fn holes_are_bounded_in_number() {
        let mut t = Tracker::new(None);
        let nums: Vec<u64> = (0..(MAX_HOLES as u64 + 10)).map(|i| i * 2 + 1).collect();
        let (_, gaps) = run(&mut t, &nums);
        assert!(t.holes.len() <= MAX_HOLES + 1);
        assert!(!gaps.is_empty());
    }
}

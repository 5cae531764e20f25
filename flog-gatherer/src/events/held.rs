//! Gaps a subscription could not hand to the writer yet, because its
//! publisher's budget was spent (a slow disk, a burst): held here, merged
//! by reason, so that what waits stays a few records however long the
//! writer is slow, and written once the budget has room again.
//!
//! Counts stay exact when runs merge; `first` and `last` become the bounds
//! of the merged runs, so numbers between them may have been stored, or
//! filtered out by level, or be missing for another reason (counted by that
//! reason's own gap).

use flog_core::flogfile::GapReason;

/// One reason's missing events, merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeldGap {
    pub(crate) reason: GapReason,
    pub(crate) first: u64,
    pub(crate) last: u64,
    pub(crate) count: u64,
}

/// The held gaps, in the order their reasons first came (at most one per
/// reason).
#[derive(Debug, Default)]
pub(crate) struct HeldGaps(Vec<HeldGap>);

impl HeldGaps {
    /// Holds `count` events of `reason` numbered `first..=last`.
    pub(crate) fn add(&mut self, reason: GapReason, (first, last): (u64, u64), count: u64) {
        match self.0.iter_mut().find(|g| g.reason == reason) {
            Some(g) => {
                g.first = g.first.min(first);
                g.last = g.last.max(last);
                g.count = g.count.saturating_add(count);
            }
            None => self.0.push(HeldGap {
                reason,
                first,
                last,
                count,
            }),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The oldest held gap, taken out.
    pub(crate) fn pop(&mut self) -> Option<HeldGap> {
        (!self.0.is_empty()).then(|| self.0.remove(0))
    }

    /// Puts back a gap just popped (it did not fit after all).
    pub(crate) fn unpop(&mut self, gap: HeldGap) {
        self.0.insert(0, gap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_one_reason_merge_with_exact_counts_and_reasons_stay_apart() {
        let mut held = HeldGaps::default();
        assert!(held.is_empty());
        held.add(GapReason::NotWritten, (10, 10), 1);
        held.add(GapReason::Dropped, (12, 14), 3);
        held.add(GapReason::NotWritten, (11, 11), 1);
        held.add(GapReason::NotWritten, (20, 29), 7);
        let first = held.pop().unwrap();
        assert_eq!(
            first,
            HeldGap {
                reason: GapReason::NotWritten,
                first: 10,
                last: 29,
                count: 9
            }
        );
        held.unpop(first.clone());
        assert_eq!(held.pop(), Some(first));
        assert_eq!(
            held.pop().map(|g| (g.first, g.last, g.count)),
            Some((12, 14, 3))
        );
        assert_eq!(held.pop(), None);
    }
}

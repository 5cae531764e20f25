//! Event numbers: one counter per logger, written by every logging thread.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::event::Event;

/// Hands out event numbers, on cache lines of its own so that its traffic
/// does not evict the read-mostly fields beside it.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct EventCounter(AtomicU64);

impl EventCounter {
    /// Gives `event` the next number.
    ///
    /// Acquire-release, not relaxed: a trigger switches trailing capture on
    /// just before it takes its number (see `incident::capture`), and every
    /// event numbered after it must see that switch when it reaches its buffer.
    /// The numbers form a release sequence, so an event whose number is higher
    /// synchronises with the trigger's. It costs nothing more on x86 (the
    /// same locked add) and little elsewhere.
    #[inline(always)]
    pub(crate) fn number(&self, event: &mut Event) {
        event.num = self.next();
    }

    /// The next number, for an event stored with no [`Event`] made (see
    /// [`number`](Self::number) for the ordering).
    #[inline(always)]
    pub(crate) fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::AcqRel)
    }

    /// The number the next event will get.
    pub(crate) fn peek(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

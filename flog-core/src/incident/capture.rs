//! Trailing capture: which events an incident records after its trigger.
//!
//! An incident's report must hold the trigger and every event numbered after
//! it, each once, however other threads log meanwhile, until its trailing
//! window ends. Threads number their events before they reach their buffers,
//! and a buffer may evict an event before the trigger's dump copies it, so
//! "the events after the trigger" cannot be whatever happens to arrive after
//! capture is switched on. A capture is a range of event numbers instead:
//!
//! - The trigger switches capture on and takes its number `T` in one step,
//!   under this module's lock (see [`CaptureGuard::number_trigger`]). Every
//!   event numbered after `T` therefore sees capture on when it reaches its
//!   buffer (the counter is acquire-release: see `EventCounter::number`) and
//!   is offered to the capture while its buffer is locked.
//! - The capture takes the events numbered `T+1 ..= T+limit`, whatever order
//!   they arrive in. Each event reaches its buffer exactly once, so the
//!   capture knows when it has seen them all, and ends ("event_limit").
//! - When the trailing delay passes (or the logger shuts down) first, the
//!   range is cut at the newest number seen so far, `M`: events numbered up
//!   to `M` still on their way to a buffer are still taken, later ones are
//!   not. So the report holds `T ..= M` without a gap. The reporter waits for
//!   those on their way up to a second of real time after the last arrived:
//!   they are logging calls between taking their number and buffering the
//!   event (microseconds); one that died there (a panicking event observer)
//!   never comes.
//! - An event numbered before `T` that reaches its buffer only after capture
//!   went on (its logging call took its number before the trigger's and was
//!   slower) may be missed by the dump, so it is offered too.
//! - The reporter writes what the dump did not already hold, by number: each
//!   event is in the dump or in the trailing part, never both.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::counter::EventCounter;
use crate::event::Event;
use crate::flogfile::EndReason;

/// What a reporter receives while it records trailing events.
#[derive(Debug)]
pub(crate) enum ReporterMsg {
    /// An event numbered in the capture's range.
    Event(Box<Event>),
    /// Another trigger joined this incident.
    Trigger(u64),
    /// Capture is over, for this reason: nothing follows.
    End(EndReason),
    /// The window was cut (shutdown) with events numbered inside it still on
    /// their way: only those are to come, then `End`.
    Cut,
    /// The logger's clock was moved (a clock that wakes its waiters).
    ClockMoved,
}

/// Identifies one capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CaptureId(u64);

struct Capture {
    id: CaptureId,
    /// The trigger's number.
    after: u64,
    /// The last number taken: `after + limit` until the window is cut.
    upto: u64,
    /// How many events numbered in `(after, upto]` were seen.
    seen: u64,
    /// The newest number seen, or `after`.
    newest: u64,
    /// Set when the window was cut; no trigger joins it after that.
    closed: Option<EndReason>,
    tx: Sender<ReporterMsg>,
}

impl Capture {
    /// Whether `num` is in the trailing window.
    fn holds(&self, num: u64) -> bool {
        self.after < num && num <= self.upto
    }

    fn complete(&self) -> bool {
        self.seen >= self.upto - self.after
    }
}

#[derive(Default)]
struct CaptureList {
    captures: Vec<Capture>,
    next_id: u64,
}

/// The trailing captures of one logger: usually none, one while an incident
/// records, more only while a cut one waits for its last events.
#[derive(Default)]
pub(crate) struct Captures {
    /// Whether any capture is on. Read with every event, so an atomic in
    /// front of the list's mutex; written only under the mutex.
    on: AtomicBool,
    list: Mutex<CaptureList>,
}

impl std::fmt::Debug for Captures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Captures")
            .field("on", &self.on.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Captures {
    fn lock_list(&self) -> MutexGuard<'_, CaptureList> {
        // Every update of the list is complete before anything that could panic.
        self.list.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The lock a trigger holds while it is numbered and joins or opens a capture.
    pub(crate) fn lock(&self) -> CaptureGuard<'_> {
        CaptureGuard {
            list: self.lock_list(),
            on: &self.on,
        }
    }

    /// Called with every event while its buffer is locked.
    #[inline]
    pub(crate) fn offer(&self, event: &Event) {
        if self.on.load(Ordering::Acquire) {
            self.offer_slow(event);
        }
    }

    /// [`offer`](Self::offer) of the event `make` makes, made only when a
    /// capture is on.
    #[inline]
    pub(crate) fn offer_with(&self, make: impl FnOnce() -> Event) {
        if self.on.load(Ordering::Acquire) {
            self.offer_slow(&make());
        }
    }

    #[cold]
    fn offer_slow(&self, event: &Event) {
        let mut list = self.lock_list();
        // The oldest capture whose range reaches this number: an event
        // numbered before its trigger, buffered only now, is one the dump may
        // have missed, so it goes to the report too (the reporter drops it if
        // the dump has it).
        let Some(i) = list.captures.iter().position(|c| event.num <= c.upto) else {
            return;
        };
        let c = &mut list.captures[i];
        let _ = c.tx.send(ReporterMsg::Event(Box::new(event.clone())));
        if !c.holds(event.num) {
            return;
        }
        c.seen += 1;
        c.newest = c.newest.max(event.num);
        if c.complete() {
            let reason = c.closed.clone().unwrap_or(EndReason::EventLimit);
            self.finish(&mut list, i, reason);
        }
    }

    /// Cuts the window of capture `id` at the newest event seen (see the
    /// module docs); it ends once the events numbered up to there are in.
    pub(crate) fn close(&self, id: CaptureId, reason: EndReason) {
        let mut list = self.lock_list();
        if let Some(i) = list.captures.iter().position(|c| c.id == id) {
            self.close_at(&mut list, i, reason);
        }
    }

    /// [`close`](Self::close) for every capture (shutdown).
    pub(crate) fn close_all(&self, reason: EndReason) {
        let mut list = self.lock_list();
        // Back to front: closing may remove the capture at `i`.
        for i in (0..list.captures.len()).rev() {
            self.close_at(&mut list, i, reason.clone());
        }
    }

    fn close_at(&self, list: &mut CaptureList, i: usize, reason: EndReason) {
        let c = &mut list.captures[i];
        let first = c.closed.is_none();
        // The first reason given is the one the trailer keeps.
        let reason = c.closed.get_or_insert(reason).clone();
        if first {
            c.upto = c.upto.min(c.newest);
            if !c.complete() {
                let _ = c.tx.send(ReporterMsg::Cut);
            }
        }
        if c.complete() {
            self.finish(list, i, reason);
        }
    }

    /// Wakes the reporter of capture `id` to look at the clock again.
    pub(crate) fn nudge(&self, id: CaptureId) {
        let list = self.lock_list();
        if let Some(c) = list.captures.iter().find(|c| c.id == id) {
            let _ = c.tx.send(ReporterMsg::ClockMoved);
        }
    }

    /// Ends capture `id` now, whatever is still on its way.
    pub(crate) fn abandon(&self, id: CaptureId, reason: EndReason) {
        let mut list = self.lock_list();
        if let Some(i) = list.captures.iter().position(|c| c.id == id) {
            let reason = list.captures[i].closed.clone().unwrap_or(reason);
            self.finish(&mut list, i, reason);
        }
    }

    fn finish(&self, list: &mut CaptureList, i: usize, reason: EndReason) {
        // `remove`, not `swap_remove`: the list stays in the order captures
        // were opened, which is the order of their triggers.
        let c = list.captures.remove(i);
        let _ = c.tx.send(ReporterMsg::End(reason));
        if list.captures.is_empty() {
            self.on.store(false, Ordering::Release);
        }
    }
}

/// The capture list, locked for a trigger.
pub(crate) struct CaptureGuard<'a> {
    list: MutexGuard<'a, CaptureList>,
    on: &'a AtomicBool,
}

impl CaptureGuard<'_> {
    /// Numbers a trigger with capture on, so that every event numbered after
    /// it is offered to the captures; returns whether it joined an open
    /// capture (one whose window holds its number). Call
    /// [`open`](Self::open) next for a trigger that starts an incident of its
    /// own; capture switches off again when dropped if nothing needs it.
    pub(crate) fn number_trigger(&mut self, trigger: &mut Event, counter: &EventCounter) -> bool {
        // Before the number is taken: see the module docs.
        self.on.store(true, Ordering::Release);
        counter.number(trigger);
        let num = trigger.num;
        match self
            .list
            .captures
            .iter()
            .find(|c| c.closed.is_none() && c.holds(num))
        {
            Some(c) => {
                let _ = c.tx.send(ReporterMsg::Trigger(num));
                true
            }
            None => false,
        }
    }

    /// Opens a capture of the `limit` events numbered after `trigger`, which
    /// [`number_trigger`](Self::number_trigger) numbered under this same lock.
    pub(crate) fn open(
        &mut self,
        trigger: &Event,
        limit: usize,
    ) -> (CaptureId, Receiver<ReporterMsg>) {
        let (tx, rx) = mpsc::channel();
        let id = CaptureId(self.list.next_id);
        self.list.next_id += 1;
        let after = trigger.num;
        self.list.captures.push(Capture {
            id,
            after,
            upto: after.saturating_add(u64::try_from(limit).unwrap_or(u64::MAX)),
            seen: 0,
            newest: after,
            closed: None,
            tx,
        });
        (id, rx)
    }
}

impl Drop for CaptureGuard<'_> {
    fn drop(&mut self) {
        if self.list.captures.is_empty() {
            self.on.store(false, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(num: u64) -> Event {
        Event {
            num,
            ..Event::default()
        }
    }

    /// Five events, then a trigger opening a capture of `limit`.
    fn trigger(
        captures: &Captures,
        counter: &EventCounter,
        limit: usize,
    ) -> (u64, CaptureId, Receiver<ReporterMsg>) {
        for _ in 0..5 {
            counter.number(&mut Event::default());
        }
        let mut t = Event::default();
        let mut guard = captures.lock();
        assert!(!guard.number_trigger(&mut t, counter));
        let (id, rx) = guard.open(&t, limit);
        (t.num, id, rx)
    }

    fn drain(rx: &Receiver<ReporterMsg>) -> (Vec<u64>, Option<EndReason>) {
        let mut nums = Vec::new();
        while let Ok(msg) = rx.try_recv() {
            match msg {
                ReporterMsg::Event(e) => nums.push(e.num),
                ReporterMsg::End(reason) => return (nums, Some(reason)),
                _ => {}
            }
        }
        (nums, None)
    }

    #[test]
    fn the_limit_counts_numbers_not_arrivals() {
        let (captures, counter) = (Captures::default(), EventCounter::default());
        let (t, _, rx) = trigger(&captures, &counter, 3);
        // Out of order, with an event from before the trigger among them.
        for num in [t + 2, t - 1, t + 4, t + 3] {
            captures.offer(&event(num));
        }
        assert_eq!(
            drain(&rx),
            (vec![t + 2, t - 1, t + 3], None),
            "t+1 is still on its way; t-1, buffered late, is offered too; t+4 is beyond"
        );
        captures.offer(&event(t + 1));
        assert_eq!(drain(&rx), (vec![t + 1], Some(EndReason::EventLimit)));
        assert!(!captures.on.load(Ordering::Relaxed));
    }

    #[test]
    fn a_cut_window_waits_for_the_numbers_below_its_newest() {
        let (captures, counter) = (Captures::default(), EventCounter::default());
        let (t, id, rx) = trigger(&captures, &counter, 100);
        captures.offer(&event(t + 1));
        captures.offer(&event(t + 3));
        captures.close(id, EndReason::Delay);
        // A trigger now (after t+1 ..= t+4 were numbered) is not joined to
        // the cut window.
        for _ in 0..4 {
            counter.number(&mut Event::default());
        }
        let mut late = Event::default();
        let mut guard = captures.lock();
        assert!(!guard.number_trigger(&mut late, &counter));
        drop(guard);
        captures.offer(&event(t + 4));
        assert_eq!(drain(&rx), (vec![t + 1, t + 3], None));
        captures.offer(&event(t + 2));
        assert_eq!(drain(&rx), (vec![t + 2], Some(EndReason::Delay)));
    }

    #[test]
    fn joining_needs_a_number_inside_an_open_window() {
        let (captures, counter) = (Captures::default(), EventCounter::default());
        let (_, id, rx) = trigger(&captures, &counter, 5);
        let mut second = Event::default();
        assert!(captures.lock().number_trigger(&mut second, &counter));
        assert!(matches!(rx.try_recv(), Ok(ReporterMsg::Trigger(n)) if n == second.num));
        captures.abandon(id, EndReason::Failed);
        assert!(matches!(
            rx.try_recv(),
            Ok(ReporterMsg::End(EndReason::Failed))
        ));
        let mut third = Event::default();
        assert!(!captures.lock().number_trigger(&mut third, &counter));
        assert!(
            !captures.on.load(Ordering::Relaxed),
            "nothing left to capture"
        );
    }
}

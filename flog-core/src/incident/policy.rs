//! Incident policy: which events declare an incident (the qualifier), how
//! many incidents may start (storm control), their names, and what a trigger
//! does: join the incident recording, be suppressed, or start a new one.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arc_swap::ArcSwap;

use super::capture::{CaptureId, Captures, ReporterMsg};
use super::config::IncidentConfig;
use crate::counter::EventCounter;
use crate::event::Event;
use crate::flogfile::NameGen;
use crate::level::Level;
use crate::qualifier::{IncidentQualifier, ThresholdQualifier};
use crate::time::{Clock, Timestamp};

/// `Policy::min_level` when the qualifier has none.
const NO_MIN_LEVEL: u32 = u32::MAX;

/// What a trigger did.
#[derive(Debug)]
pub(crate) enum Declared {
    /// It joined the incident whose trailing window holds it.
    Joined,
    /// Storm control dropped it (counted for the next incident's header).
    Suppressed,
    /// It starts a new incident, to be recorded.
    New(NewIncident),
}

/// A new incident, named, its trailing capture open.
#[derive(Debug)]
pub(crate) struct NewIncident {
    pub(crate) name: String,
    /// Triggers suppressed since the previous incident.
    pub(crate) suppressed: u64,
    /// `None` when trailing capture is off.
    pub(crate) capture: Option<(CaptureId, Receiver<ReporterMsg>)>,
}

#[derive(Default)]
struct State {
    names: NameGen,
    /// Start times of the incidents in the current rate window.
    recent: VecDeque<Timestamp>,
    suppressed: u64,
}

#[derive(Default)]
struct Counts {
    declared: AtomicU64,
    joined: AtomicU64,
    suppressed: AtomicU64,
}

pub(crate) struct Policy {
    config: IncidentConfig,
    clock: Arc<dyn Clock>,
    qualifier: ArcSwap<Box<dyn IncidentQualifier>>,
    /// The qualifier's [`min_level`](IncidentQualifier::min_level), or
    /// [`NO_MIN_LEVEL`]: read without loading the qualifier.
    min_level: AtomicU32,
    state: Mutex<State>,
    captures: Arc<Captures>,
    counts: Counts,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("qualifier", &self.qualifier.load())
            .field("captures", &self.captures)
            .finish_non_exhaustive()
    }
}

impl Policy {
    pub(crate) fn new(config: IncidentConfig, clock: Arc<dyn Clock>) -> Policy {
        Policy {
            config,
            clock,
            qualifier: ArcSwap::from_pointee(Box::new(ThresholdQualifier::default())),
            min_level: AtomicU32::new(u32::from(ThresholdQualifier::default().min_level.0)),
            state: Mutex::new(State::default()),
            captures: Arc::new(Captures::default()),
            counts: Counts::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update of the state is complete before any call that could panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn captures(&self) -> &Arc<Captures> {
        &self.captures
    }

    pub(crate) fn set_qualifier(&self, q: Box<dyn IncidentQualifier>) {
        // Two at once would leave one's qualifier with the other's level.
        let _one_at_a_time = self.lock();
        // Not a level at first, so that no event skips the new qualifier
        // while the old one's level is still there.
        self.min_level.store(NO_MIN_LEVEL, Ordering::SeqCst);
        let min = q.min_level().map_or(NO_MIN_LEVEL, |l| u32::from(l.0));
        self.qualifier.store(Arc::new(q));
        self.min_level.store(min, Ordering::SeqCst);
    }

    /// Whether an event at `level` declares an incident, when the
    /// qualifier decides by the level alone; `None` when it must see the
    /// event.
    #[inline]
    pub(crate) fn qualifies_level(&self, level: Level) -> Option<bool> {
        match self.min_level.load(Ordering::Acquire) {
            NO_MIN_LEVEL => None,
            min => Some(u32::from(level.0) >= min),
        }
    }

    #[inline]
    pub(crate) fn qualifies(&self, event: &Event) -> bool {
        self.qualifier.load().check_event(event)
    }

    /// Takes account of a file already in the logdir, so new names sort after it.
    pub(crate) fn observe_name(&self, file_name: &str) {
        self.lock()
            .names
            .observe(file_name.split(".flog").next().unwrap_or(file_name));
    }

    /// (declared, joined, suppressed) so far.
    pub(crate) fn counts(&self) -> (u64, u64, u64) {
        let c = &self.counts;
        (
            c.declared.load(Ordering::Relaxed),
            c.joined.load(Ordering::Relaxed),
            c.suppressed.load(Ordering::Relaxed),
        )
    }

    /// Declares an incident for `trigger`, which is not numbered yet: it is
    /// numbered here, under the capture lock, so that trailing capture starts
    /// exactly after it (see `capture`).
    pub(crate) fn declare(&self, trigger: &mut Event, counter: &EventCounter) -> Declared {
        self.counts.declared.fetch_add(1, Ordering::Relaxed);
        let mut state = self.lock();
        let mut captures = self.captures.lock();
        if captures.number_trigger(trigger, counter) {
            self.counts.joined.fetch_add(1, Ordering::Relaxed);
            return Declared::Joined;
        }
        let now = self.clock.now();
        let window = self.config.rate_window.as_micros() as i64;
        state
            .recent
            .retain(|t| t.0 > now.0.saturating_sub(window) && t.0 <= now.0);
        if state.recent.len() >= self.config.max_per_window {
            state.suppressed += 1;
            self.counts.suppressed.fetch_add(1, Ordering::Relaxed);
            return Declared::Suppressed;
        }
        state.recent.push_back(now);
        let capture = self
            .config
            .trailing
            .then(|| captures.open(trigger, self.config.trailing_event_limit));
        Declared::New(NewIncident {
            name: state.names.next(now),
            suppressed: std::mem::take(&mut state.suppressed),
            capture,
        })
    }
}

//! The [`Logger`]: generating events, buffering them, declaring incidents.
//!
//! [`builder`] configures one, [`global`] installs one for the whole
//! process, [`event_builder`] is the plain method API.

mod builder;
mod compact_emit;
mod event_builder;
mod flogfile_env;
mod global;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwapOption;

pub use builder::{ConfigError, LoggerBuilder};
pub(crate) use compact_emit::Call;
pub use compact_emit::SiteEvent;
pub use event_builder::EventBuilder;
pub use global::{logger, set_global, LoggerGuard, SetGlobalError};

use crate::buffer::Buffers;
use crate::callsite::Callsite;
use crate::counter::EventCounter;
use crate::event::{Event, Text};
use crate::home::expand_home;
use crate::incarnation::Incarnation;
use crate::incident::{Declaration, IncidentStats, Incidents, LogdirError};
use crate::level::Level;
use crate::mapped::CrashRingStats;
use crate::observer::{
    inside_observer, inside_qualifier, panic_message, EventObserver, Guard, IncidentReport,
    ObserverId, Observers,
};
use crate::qualifier::{IncidentQualifier, ThresholdQualifier};
use crate::redact::{redaction_tag, Redaction, UNCACHEABLE};
use crate::threshold::{CallsiteCache, Thresholds};
use crate::time::Clock;
use crate::value::Value;

/// A flight recorder: generates events, keeps them in circular buffers and
/// declares incidents.
///
/// Cheap to clone (clones share everything) and `Send + Sync`.
#[derive(Clone)]
pub struct Logger {
    shared: Arc<Shared>,
}

struct Shared {
    thresholds: Thresholds,
    redaction: ArcSwapOption<Redaction>,
    /// The policy's [`tag`](Redaction::tag) ([`NO_POLICY`] for none), read
    /// by a `msg!` call's event instead of loading the policy.
    redaction_tag: AtomicU64,
    /// Serialises [`Logger::set_redaction`], so that the tag is the policy's.
    redaction_writer: Mutex<()>,
    next_num: EventCounter,
    incarnation: Incarnation,
    clock: Arc<dyn Clock>,
    buffers: Buffers,
    observers: Observers<EventObserver>,
    incidents: Arc<Incidents>,
}

impl fmt::Debug for Logger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logger")
            .field("incarnation", &self.shared.incarnation)
            .field("threshold", &self.shared.thresholds.global())
            .field("next_num", &self.shared.next_num.peek())
            .field("logdir", &self.logdir())
            .finish_non_exhaustive()
    }
}

impl Default for Logger {
    fn default() -> Self {
        Logger::new()
    }
}

/// Observers and qualifiers that panicked while one event was generated, to
/// report once it is done.
#[derive(Default)]
struct Faults(Vec<(&'static str, String)>);

impl Logger {
    /// An independent logger with default settings.
    pub fn new() -> Logger {
        Logger::builder()
            .build()
            .expect("the default configuration is valid")
    }

    /// A builder for a logger with other settings.
    pub fn builder() -> LoggerBuilder {
        LoggerBuilder::new()
    }

    /// Whether an event at `level` in `facility` would be generated. Costs one
    /// atomic load when no facility has a threshold of its own.
    #[inline(always)]
    pub fn enabled(&self, level: Level, facility: Option<&str>) -> bool {
        self.shared.thresholds.enabled(level, facility)
    }

    /// [`enabled`](Self::enabled) for a call site with a literal facility,
    /// caching the verdict at the call site. Used by [`msg!`](crate::msg).
    #[doc(hidden)]
    #[inline(always)]
    pub fn enabled_at(&self, cache: &CallsiteCache, level: Level, facility: &'static str) -> bool {
        self.shared
            .thresholds
            .enabled_cached(cache, level, facility)
    }

    /// [`enabled_at`](Self::enabled_at) for a call site whose facility is a
    /// `&'static str` expression, which may differ between calls.
    #[doc(hidden)]
    #[inline(always)]
    pub fn enabled_at_static(
        &self,
        cache: &CallsiteCache,
        level: Level,
        facility: &'static str,
    ) -> bool {
        self.shared
            .thresholds
            .enabled_cached_static(cache, level, facility)
    }

    /// Starts an event for the plain method API; see [`EventBuilder`].
    pub fn event(&self, level: Level) -> EventBuilder<'_> {
        EventBuilder::new(self, level)
    }

    /// Logs a plain message; returns its number, or `None` below the threshold.
    pub fn msg(&self, level: Level, message: impl Into<Cow<'static, str>>) -> Option<u64> {
        self.event(level).message(message).emit()
    }

    /// Generates `event` without checking its threshold (the caller checked
    /// [`enabled`](Self::enabled) first; bridges from other logging APIs
    /// do): assigns its time, incarnation and number, overwriting what the
    /// event held, runs the incident qualifier, buffers it, records the
    /// incident it triggers and then tells the observers. Returns the number. [`msg!`](crate::msg) and
    /// [`EventBuilder::emit`] check the threshold and call this.
    #[inline(always)]
    pub fn emit_unchecked(&self, event: Event) -> u64 {
        self.emit_inner(event, None).0
    }

    /// [`emit_unchecked`](Self::emit_unchecked) for an event of a `msg!`
    /// call site, whose constant parts' verdicts `callsite` caches.
    #[inline(always)]
    pub(crate) fn emit_at(&self, event: Event, callsite: &Callsite) -> u64 {
        self.emit_inner(event, Some(callsite)).0
    }

    /// Generates `event` as [`emit_unchecked`](Self::emit_unchecked) does,
    /// and says what it did for incidents: for callers that declare one on
    /// purpose (a publisher's `snapshot` request) and must tell whether storm
    /// control let it through, and the name it will be recorded under.
    pub fn emit_declaring(&self, event: Event) -> (u64, Declaration) {
        self.emit_inner(event, None)
    }

    #[inline(always)]
    fn emit_inner(&self, mut event: Event, callsite: Option<&Callsite>) -> (u64, Declaration) {
        let s = &*self.shared;
        let mut faults = Faults::default();
        event.time = s.clock.now();
        event.incarnation = s.incarnation;
        // Before anything else sees the event: buffers, observers (the live
        // tail), incident files and so the wire never hold the raw values.
        // A hook may change anything in the event; the call site's constant
        // parts are interned only for an event as the call site made it.
        let mut interned = callsite;
        if let Some(policy) = &*s.redaction.load() {
            match callsite {
                Some(callsite) => policy.apply_at(&mut event, callsite),
                None => policy.apply(&mut event),
            }
            if policy.has_hook() {
                interned = None;
            }
        }
        // A trigger is numbered by the incident policy, in one step with
        // switching trailing capture on: every event numbered after it is then
        // captured (see `Incidents::declare`). So the qualifier runs first.
        let (declaration, declared) = if !s.incidents.active() {
            s.next_num.number(&mut event);
            (Declaration::NoLogdir, None)
        } else if self.qualifies(&event, &mut faults) {
            s.incidents.declare(&mut event, &s.next_num)
        } else {
            s.next_num.number(&mut event);
            (Declaration::NotQualified, None)
        };
        let num = event.num;
        // Observers see the event only once it is buffered: a live tail
        // starting with a catch-up from the buffers then finds every event it
        // has not observed in them (one it has seen in both, it recognises by
        // number), however long this thread is preempted in between. An event
        // an observer logs (or a bridge it forwards to) reaches no observer:
        // that would loop.
        let observed = (s.observers.any() && !inside_observer()).then(|| event.clone());
        let trigger = declared.as_ref().map(|_| event.clone());
        // The capture check runs while the event's buffer is locked, so the
        // dump either finds the event in its buffer or the capture has it.
        s.buffers.push(event, interned, |e| s.incidents.capture(e));
        if let (Some(declared), Some(trigger)) = (declared, trigger) {
            s.incidents.record(declared, trigger, &s.buffers);
        }
        // Last, so that even a panicking observer (caught, but it is cut
        // short) cannot keep an event out of the buffers or an incident from
        // being recorded.
        if let Some(event) = observed {
            let _inside = Guard::observer();
            for panic in s.observers.notify(|o| o(&event)) {
                faults.0.push(("an event observer", panic));
            }
        }
        if !faults.0.is_empty() {
            self.report(faults);
        }
        (num, declaration)
    }

    /// Runs the qualifier. One that panics is replaced by the default, so
    /// that it fails once; the event that found it out does not qualify.
    fn qualifies(&self, event: &Event, faults: &mut Faults) -> bool {
        // An event logged from inside the qualifier (a panic hook reporting
        // its panic) is not qualified: that would fail again, in the hook.
        if inside_qualifier() {
            return false;
        }
        let _inside = Guard::qualifier();
        let incidents = &self.shared.incidents;
        match catch_unwind(AssertUnwindSafe(|| incidents.qualifies(event))) {
            Ok(verdict) => verdict,
            Err(payload) => {
                incidents.set_qualifier(Box::new(ThresholdQualifier::default()));
                faults
                    .0
                    .push(("the incident qualifier", panic_message(&*payload)));
                false
            }
        }
    }

    /// Logs each fault as a WEIRD `flog.internal` event, as foolscap logs its
    /// own internal errors, so it is in the next incident report (by default
    /// it declares one).
    #[cold]
    #[inline(never)]
    fn report(&self, faults: Faults) {
        for (what, panic) in faults.0 {
            let done = if what == "the incident qualifier" {
                "was replaced by the default qualifier (level >= WEIRD)"
            } else {
                "was removed"
            };
            let mut event = Event {
                level: Level::WEIRD,
                facility: Some(Cow::Borrowed("flog.internal")),
                text: Text::Format(Cow::Borrowed("{what} panicked and {done}: {panic}")),
                is_error: true,
                ..Event::default()
            };
            event
                .fields
                .push((Cow::Borrowed("what"), Value::from(what)));
            event
                .fields
                .push((Cow::Borrowed("done"), Value::from(done)));
            event
                .fields
                .push((Cow::Borrowed("panic"), Value::from(panic)));
            if self.enabled(event.level, event.facility.as_deref()) {
                self.emit_unchecked(event);
            }
        }
    }

    /// Replaces the redaction policy; `None` turns redaction off.
    pub fn set_redaction(&self, policy: Option<Redaction>) {
        let s = &*self.shared;
        let _one_at_a_time = s
            .redaction_writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // No tag while the policy changes: an event meanwhile loads the
        // policy, so none is redacted by verdicts of a policy not set.
        s.redaction_tag.store(UNCACHEABLE, Ordering::SeqCst);
        let tag = redaction_tag(policy.as_ref());
        s.redaction.store(policy.map(Arc::new));
        s.redaction_tag.store(tag, Ordering::SeqCst);
    }

    /// Sets the global generation threshold.
    pub fn set_threshold(&self, level: Level) {
        self.shared.thresholds.set_global(level);
    }

    /// The global generation threshold.
    pub fn threshold(&self) -> Level {
        self.shared.thresholds.global()
    }

    /// Sets the threshold of a facility and its dotted children (`app` covers
    /// `app.db` unless `app.db` has its own); `None` removes it.
    pub fn set_facility_threshold(&self, facility: &str, level: Option<Level>) {
        self.shared.thresholds.set_facility(facility, level);
    }

    /// Sets the buffer size for `level` in every facility.
    pub fn set_buffer_size(&self, level: Level, size: usize) {
        self.shared.buffers.set_level_size(level, size);
    }

    /// Sets the buffer size for one (facility, level).
    pub fn set_facility_buffer_size(&self, facility: &str, level: Level, size: usize) {
        self.shared.buffers.set_facility_size(facility, level, size);
    }

    /// Every buffered event, in `num` order, as the buffers keep it: read back
    /// from its encoding, as a reader of an incident report would see it
    /// (so a small unsigned integer reads as [`Value::Int`](crate::Value::Int), and text past
    /// [`MAX_VALUE_BYTES`](crate::flogfile::MAX_VALUE_BYTES) is cut, with a marker).
    pub fn buffered_events(&self) -> Vec<Event> {
        self.shared.buffers.snapshot()
    }

    /// Sets the log directory, creating it, and starts declaring incidents.
    ///
    /// A leading `~` stands for the home directory (`$HOME`), as in
    /// foolscap's `setLogDir`; `~user` is not expanded.
    ///
    /// The directory is this logger's for as long as it lives: it is locked
    /// (flock(2) on the directory; its [`OWNER_FILE`](crate::flogfile::OWNER_FILE) names
    /// the holder for people), and another logger, in this process or
    /// another, is refused with [`LogdirError::InUse`] until this one is
    /// dropped or its process ends. Only then are reports left unfinished by a
    /// process that died while recording finished ("recovered"): never one
    /// whose writer still runs.
    ///
    /// Setting the same directory again does nothing. Setting another moves
    /// new incidents there; the previous directory is released once the
    /// incidents still recording into it are done. Fails with
    /// [`LogdirError::Unusable`] when the directory cannot be created or
    /// written to (a file in the way, a read-only mount, `~` without `$HOME`).
    pub fn set_logdir(&self, dir: impl AsRef<Path>) -> Result<(), LogdirError> {
        let dir = dir.as_ref();
        let dir = expand_home(dir).map_err(|source| LogdirError::Unusable {
            path: dir.to_owned(),
            source,
        })?;
        self.shared.incidents.set_logdir(&dir, None, None).map(drop)
    }

    /// The log directory, once set.
    pub fn logdir(&self) -> Option<PathBuf> {
        self.shared.incidents.logdir()
    }

    /// Replaces the incident qualifier (default: level >= WEIRD).
    ///
    /// A qualifier that panics is replaced by the default, and the panic is
    /// logged once as a WEIRD `flog.internal` event; logging goes on.
    pub fn set_qualifier(&self, qualifier: impl IncidentQualifier + 'static) {
        self.shared.incidents.set_qualifier(Box::new(qualifier));
    }

    /// Registers an immediate observer, called with every generated event on
    /// the logging thread. Keep it quick and never block (the publisher's
    /// live tail copies the event into a bounded queue and returns).
    ///
    /// Events logged from inside an observer reach no observer. One that
    /// panics is removed, and the panic is logged once as a WEIRD
    /// `flog.internal` event; logging goes on.
    pub fn add_event_observer(
        &self,
        observer: impl Fn(&Event) + Send + Sync + 'static,
    ) -> ObserverId {
        self.shared.observers.add(Arc::new(observer))
    }

    /// Removes an event observer; returns whether it was registered.
    pub fn remove_event_observer(&self, id: ObserverId) -> bool {
        self.shared.observers.remove(id)
    }

    /// Registers an incident observer, called once each incident is recorded
    /// (compressed and renamed into place), on the logdir's keeper thread.
    ///
    /// One that panics is removed and reported once through the error hook
    /// ([`LoggerBuilder::on_error`]).
    pub fn add_incident_observer(
        &self,
        observer: impl Fn(&IncidentReport) + Send + Sync + 'static,
    ) -> ObserverId {
        self.shared.incidents.observers().add(Arc::new(observer))
    }

    /// Removes an incident observer; returns whether it was registered.
    pub fn remove_incident_observer(&self, id: ObserverId) -> bool {
        self.shared.incidents.observers().remove(id)
    }

    /// Records a component version for incident headers and the logport.
    pub fn set_version(&self, component: impl Into<String>, version: impl Into<String>) {
        self.shared
            .incidents
            .set_version(component.into(), version.into());
    }

    /// The versions map (always holds `flog-core`).
    pub fn versions(&self) -> BTreeMap<String, String> {
        self.shared.incidents.versions()
    }

    /// This logger's incarnation.
    pub fn incarnation(&self) -> Incarnation {
        self.shared.incarnation
    }

    /// What the crash ring's periodic flushing has done (see
    /// [`LoggerBuilder::crash_ring_flush`]): all zero when the ring is not
    /// flushed; `None` when this logger writes no crash ring (or has let go
    /// of its logdir).
    pub fn crash_ring_stats(&self) -> Option<CrashRingStats> {
        self.shared.incidents.ring_stats()
    }

    /// Counts of incidents declared, recorded, joined and suppressed.
    pub fn incident_stats(&self) -> IncidentStats {
        self.shared.incidents.stats()
    }

    /// Ends trailing capture now and waits until every incident in progress is
    /// written and compressed, and its observers were called. For orderly
    /// shutdown; dropping the last clone of a logger does the same, and
    /// releases its log directory.
    pub fn finish_incidents(&self) {
        self.shared.incidents.finish_all();
    }

    /// What dropping the last clone does, for a logger that is never dropped
    /// (the process-wide one: its [`LoggerGuard`] calls this): finishes the
    /// incidents in progress, marks the crash ring cleanly closed, so the
    /// next start makes no `crash` report, and releases the log directory.
    /// The logger still buffers events afterwards, but records no incident
    /// until [`set_logdir`](Self::set_logdir) gives it a directory again.
    pub fn shutdown(&self) {
        self.shared.incidents.close();
    }
}

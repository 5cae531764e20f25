use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwapOption;

use crate::buffer::{
    BudgetSplit, Buffers, DEFAULT_MAX_BUFFERS, DEFAULT_MEMORY_BUDGET, DEFAULT_OVERFLOW_SIZE,
    MIN_FLOOR,
};
use crate::counter::EventCounter;
use crate::event::{Event, Fields, Incarnation, Text};
use crate::incident::{
    ErrorHook, IncidentConfig, IncidentError, IncidentStats, Incidents, LogdirError,
};
use crate::level::Level;
use crate::observer::{EventObserver, IncidentObserver, ObserverId, Observers};
use crate::qualifier::IncidentQualifier;
use crate::redact::Redaction;
use crate::threshold::Thresholds;
use crate::time::{Clock, SystemClock};
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
    next_num: EventCounter,
    incarnation: Incarnation,
    clock: Arc<dyn Clock>,
    buffers: Buffers,
    observers: Observers<dyn EventObserver>,
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

/// The process-wide logger used by [`msg!`](crate::msg) when no logger is named.
pub fn logger() -> &'static Logger {
    static DEFAULT: OnceLock<Logger> = OnceLock::new();
    DEFAULT.get_or_init(Logger::new)
}

/// A configuration value was out of range.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid logger configuration: {0}")]
pub struct ConfigError(String);

/// Builds a [`Logger`] with non-default settings.
#[must_use]
pub struct LoggerBuilder {
    clock: Arc<dyn Clock>,
    threshold: Level,
    level_sizes: Vec<(Level, usize)>,
    max_buffers: usize,
    overflow_size: usize,
    memory_budget: usize,
    sequential: Option<u64>,
    redaction: Option<Redaction>,
    incidents: IncidentConfig,
    on_error: Option<ErrorHook>,
}

impl fmt::Debug for LoggerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoggerBuilder")
            .field("clock", &self.clock)
            .field("threshold", &self.threshold)
            .field("incidents", &self.incidents)
            .finish_non_exhaustive()
    }
}

impl LoggerBuilder {
    /// Where times come from (tests inject a [`ManualClock`](crate::ManualClock)).
    ///
    /// Everything that depends on time follows it: event times, incident
    /// names, storm control, [`RateQualifier`](crate::RateQualifier), and the
    /// trailing delay, whose reporter waits on this clock as [`Clock`]
    /// describes (with a `ManualClock`, the window ends when the clock is
    /// moved past it, without real waiting).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
    /// The global generation threshold (default NOISY: everything is generated).
    pub fn threshold(mut self, level: Level) -> Self {
        self.threshold = level;
        self
    }
    /// Buffer size for `level` in every facility (default 100).
    pub fn buffer_size(mut self, level: Level, size: usize) -> Self {
        self.level_sizes.push((level, size));
        self
    }
    /// Cap on (facility, level) buffers; events beyond it share the overflow buffer.
    pub fn max_buffers(mut self, n: usize) -> Self {
        self.max_buffers = n;
        self
    }
    /// Size of the shared overflow buffer (default 1000).
    pub fn overflow_size(mut self, n: usize) -> Self {
        self.overflow_size = n;
        self
    }
    /// The most bytes the buffers may hold, all of them together (default
    /// [`DEFAULT_MEMORY_BUDGET`](crate::DEFAULT_MEMORY_BUDGET), 32 MiB); never
    /// exceeded. Half is split evenly into a floor for each of the
    /// [`max_buffers`](Self::max_buffers) buffers (the overflow buffer counts
    /// as ten), the rest is a pool that buffers draw on first come, first
    /// served, past their floor. A buffer that can get no more room keeps its
    /// newest events that fit. See `docs/flogfile.md`, "Buffered events".
    pub fn memory_budget(mut self, bytes: usize) -> Self {
        self.memory_budget = bytes;
        self
    }
    /// The redaction policy (default: [`Redaction::default`], which masks fields
    /// named like passwords, tokens, secrets and credentials); `None` turns it off.
    pub fn redaction(mut self, policy: Option<Redaction>) -> Self {
        self.redaction = policy;
        self
    }
    /// A sequential counter to record in the incarnation (e.g. a restart count).
    pub fn incarnation_counter(mut self, n: u64) -> Self {
        self.sequential = Some(n);
        self
    }
    /// How long to keep recording after a trigger (default 5 s), on the
    /// logger's [`clock`](Self::clock).
    pub fn trailing_delay(mut self, d: Duration) -> Self {
        self.incidents.trailing_delay = d;
        self
    }
    /// How many events to record after a trigger at most (default 100): the
    /// events numbered right after it, whichever thread logged them.
    pub fn trailing_event_limit(mut self, n: usize) -> Self {
        self.incidents.trailing_event_limit = n;
        self
    }
    /// Whether to record trailing events at all (default yes). Without, an
    /// incident finishes as soon as the buffers are written.
    pub fn trailing(mut self, on: bool) -> Self {
        self.incidents.trailing = on;
        self
    }
    /// Storm control: at most `n` incidents per `window` (default 10 per minute);
    /// further triggers are counted, and the count is in the next incident header.
    pub fn incident_rate_limit(mut self, n: usize, window: Duration) -> Self {
        self.incidents.max_per_window = n;
        self.incidents.rate_window = window;
        self
    }
    /// Retention: keep at most `files` incident files and `bytes` bytes of them in
    /// the logdir (default 1000 files, 512 MiB); the oldest go first.
    pub fn retention(mut self, files: usize, bytes: u64) -> Self {
        self.incidents.max_files = files;
        self.incidents.max_bytes = bytes;
        self
    }
    /// Called when recording an incident fails (disk full, logdir gone); once per
    /// run of failures, not once per event. Default: a line on stderr.
    pub fn on_error(mut self, f: impl Fn(&IncidentError) + Send + Sync + 'static) -> Self {
        self.on_error = Some(Arc::new(f));
        self
    }

    /// Builds the logger.
    pub fn build(self) -> Result<Logger, ConfigError> {
        let c = &self.incidents;
        if c.trailing && c.trailing_event_limit == 0 {
            return Err(ConfigError(
                "trailing_event_limit must be at least 1 (or turn trailing off)".into(),
            ));
        }
        if c.max_per_window == 0 || c.rate_window.is_zero() {
            return Err(ConfigError(
                "the incident rate limit needs a count and a window above zero".into(),
            ));
        }
        if c.max_files == 0 {
            return Err(ConfigError("retention must keep at least one file".into()));
        }
        let split = BudgetSplit::new(self.memory_budget, self.max_buffers).ok_or_else(|| {
            ConfigError(format!(
                "a memory budget of {} bytes leaves less than {MIN_FLOOR} bytes for each of \
                 {} buffers: raise it or lower max_buffers",
                self.memory_budget, self.max_buffers
            ))
        })?;
        let buffers = Buffers::new(self.max_buffers, self.overflow_size, split);
        for (level, size) in &self.level_sizes {
            buffers.set_level_size(*level, *size);
        }
        let mut incarnation = Incarnation::random();
        incarnation.sequential = self.sequential;
        let on_error = self.on_error.unwrap_or_else(|| {
            Arc::new(|e: &IncidentError| eprintln!("flog: incident reporting failed: {e}"))
        });
        let incidents = Incidents::new(
            self.incidents,
            Arc::clone(&self.clock),
            incarnation,
            on_error,
        );
        Ok(Logger {
            shared: Arc::new(Shared {
                thresholds: Thresholds::new(self.threshold),
                redaction: ArcSwapOption::from(self.redaction.map(Arc::new)),
                next_num: EventCounter::default(),
                incarnation,
                clock: self.clock,
                buffers,
                observers: Observers::default(),
                incidents: Arc::new(incidents),
            }),
        })
    }
}

impl Logger {
    /// An independent logger with default settings.
    pub fn new() -> Logger {
        Logger::builder()
            .build()
            .expect("the default configuration is valid")
    }

    /// A builder for a logger with other settings.
    pub fn builder() -> LoggerBuilder {
        LoggerBuilder {
            clock: Arc::new(SystemClock),
            threshold: Level::NOISY,
            level_sizes: Vec::new(),
            max_buffers: DEFAULT_MAX_BUFFERS,
            overflow_size: DEFAULT_OVERFLOW_SIZE,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            sequential: None,
            redaction: Some(Redaction::default()),
            incidents: IncidentConfig::default(),
            on_error: None,
        }
    }

    /// Whether an event at `level` in `facility` would be generated. Costs one
    /// atomic load when no facility has a threshold of its own.
    #[inline(always)]
    pub fn enabled(&self, level: Level, facility: Option<&str>) -> bool {
        self.shared.thresholds.enabled(level, facility)
    }

    /// [`enabled`](Self::enabled) for a call site with a fixed facility, caching
    /// the verdict at the call site. Used by [`msg!`](crate::msg).
    #[doc(hidden)]
    #[inline(always)]
    pub fn enabled_at(
        &self,
        cache: &crate::threshold::CallsiteCache,
        level: Level,
        facility: &'static str,
    ) -> bool {
        self.shared
            .thresholds
            .enabled_cached(cache, level, facility)
    }

    /// Starts an event for the plain method API; see [`EventBuilder`].
    pub fn event(&self, level: Level) -> EventBuilder<'_> {
        EventBuilder {
            logger: self,
            event: Event {
                level,
                ..Event::default()
            },
            stack: false,
        }
    }

    /// Logs a plain message; returns its number, or `None` below the threshold.
    pub fn msg(&self, level: Level, message: impl Into<Cow<'static, str>>) -> Option<u64> {
        self.event(level).message(message).emit()
    }

    /// Generates `event` unconditionally (callers check [`enabled`](Self::enabled)
    /// first): assigns its time, incarnation and number, tells the observers,
    /// buffers it and runs the incident qualifier. Returns the number.
    #[inline(always)]
    pub fn emit(&self, mut event: Event) -> u64 {
        let s = &*self.shared;
        event.time = s.clock.now();
        event.incarnation = s.incarnation;
        // Before anything else sees the event: buffers, observers (the live
        // tail), incident files and so the wire never hold the raw values.
        if let Some(policy) = &*s.redaction.load() {
            policy.apply(&mut event);
        }
        // A trigger is numbered by the incident policy, in one step with
        // switching trailing capture on: every event numbered after it is then
        // captured (see `Incidents::declare`). So the qualifier runs first.
        let declared = if s.incidents.qualifies(&event) {
            s.incidents.declare(&mut event, &s.next_num)
        } else {
            s.next_num.number(&mut event);
            None
        };
        let num = event.num;
        if s.observers.any() {
            s.observers.for_each(|o| o.on_event(&event));
        }
        let trigger = declared.as_ref().map(|_| event.clone());
        // The capture check runs while the event's buffer is locked, so the
        // dump either finds the event in its buffer or the capture has it.
        s.buffers.push(event, |e| s.incidents.capture(e));
        if let (Some(declared), Some(trigger)) = (declared, trigger) {
            s.incidents.record(declared, trigger, &s.buffers);
        }
        num
    }

    /// Replaces the redaction policy; `None` turns redaction off.
    pub fn set_redaction(&self, policy: Option<Redaction>) {
        self.shared.redaction.store(policy.map(Arc::new));
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
    /// (so a small unsigned integer reads as [`Value::Int`], and text past
    /// [`MAX_VALUE_BYTES`](crate::MAX_VALUE_BYTES) is cut, with a marker).
    pub fn buffered_events(&self) -> Vec<Event> {
        self.shared.buffers.snapshot()
    }

    /// Sets the log directory, creating it, and starts declaring incidents.
    ///
    /// The directory is this logger's for as long as it lives: it is locked
    /// (flock(2) on the directory; its [`OWNER_FILE`](crate::OWNER_FILE) names
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
    /// written to (a file in the way, a read-only mount).
    pub fn set_logdir(&self, dir: impl AsRef<Path>) -> Result<(), LogdirError> {
        self.shared.incidents.set_logdir(dir.as_ref())
    }

    /// The log directory, once set.
    pub fn logdir(&self) -> Option<PathBuf> {
        self.shared.incidents.logdir()
    }

    /// Replaces the incident qualifier (default: level >= WEIRD).
    pub fn set_qualifier(&self, qualifier: impl IncidentQualifier + 'static) {
        self.shared.incidents.set_qualifier(Box::new(qualifier));
    }

    /// Registers an immediate observer, called with every generated event.
    pub fn add_event_observer(&self, observer: Arc<dyn EventObserver>) -> ObserverId {
        self.shared.observers.add(observer)
    }

    /// Removes an event observer; returns whether it was registered.
    pub fn remove_event_observer(&self, id: ObserverId) -> bool {
        self.shared.observers.remove(id)
    }

    /// Registers an incident observer, called once each incident is recorded.
    pub fn add_incident_observer(&self, observer: Arc<dyn IncidentObserver>) -> ObserverId {
        self.shared.incidents.observers().add(observer)
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
}

/// The plain method API: `logger.event(level).facility(..).format(..).field(..).emit()`.
///
/// Arguments given here are evaluated even when the event is below its threshold;
/// call sites that care use [`msg!`](crate::msg), which checks first.
#[must_use = "an event is only generated by emit()"]
#[derive(Debug)]
pub struct EventBuilder<'a> {
    logger: &'a Logger,
    event: Event,
    stack: bool,
}

impl EventBuilder<'_> {
    /// The dotted facility name.
    pub fn facility(mut self, facility: impl Into<Cow<'static, str>>) -> Self {
        self.event.facility = Some(facility.into());
        self
    }
    /// Plain text.
    pub fn message(mut self, text: impl Into<Cow<'static, str>>) -> Self {
        self.event.text = Text::Message(text.into());
        self
    }
    /// A format string with `{field}` placeholders, rendered lazily.
    pub fn format(mut self, format: impl Into<Cow<'static, str>>) -> Self {
        self.event.text = Text::Format(format.into());
        self
    }
    /// Adds a structured field.
    pub fn field(mut self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) -> Self {
        self.event.fields.push((key.into(), value.into()));
        self
    }
    /// Replaces all fields.
    pub fn fields(mut self, fields: Fields) -> Self {
        self.event.fields = fields;
        self
    }
    /// The event this one follows from.
    pub fn parent(mut self, parent: impl Into<Option<u64>>) -> Self {
        self.event.parent = parent.into();
        self
    }
    /// Marks the event as reporting an error.
    pub fn error(mut self) -> Self {
        self.event.is_error = true;
        self
    }
    /// Failure or backtrace text.
    pub fn failure(mut self, text: impl Into<String>) -> Self {
        self.event.failure = Some(text.into());
        self
    }
    /// Captures a stack trace into the event.
    pub fn stack_trace(mut self) -> Self {
        self.stack = true;
        self
    }
    /// Generates the event unless it is below its threshold; returns its number.
    pub fn emit(mut self) -> Option<u64> {
        if !self
            .logger
            .enabled(self.event.level, self.event.facility.as_deref())
        {
            return None;
        }
        if self.stack {
            self.event.stack = Some(std::backtrace::Backtrace::force_capture().to_string());
        }
        Some(self.logger.emit(self.event))
    }
}

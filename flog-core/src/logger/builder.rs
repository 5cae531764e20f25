//! [`LoggerBuilder`]: every setting of a [`Logger`], given before it starts.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;

use super::{Logger, SetGlobalError, Shared};
use crate::buffer::{
    BudgetSplit, Buffers, DEFAULT_MAX_BUFFERS, DEFAULT_MEMORY_BUDGET, DEFAULT_OVERFLOW_SIZE,
    MIN_FLOOR, OVERFLOW_SHARES,
};
use crate::counter::EventCounter;
use crate::event::Event;
use crate::home::expand_home;
use crate::incarnation::Incarnation;
use crate::incident::{ErrorHook, IncidentConfig, IncidentError, Incidents, LogdirError};
use crate::level::Level;
use crate::mapped::{RingFile, RingSpec, MAX_CRASH_RING_FLUSH, MIN_CRASH_RING_FLUSH};
use crate::observer::{EventObserver, IncidentObserver, IncidentReport, Observers};
use crate::qualifier::IncidentQualifier;
use crate::redact::{redaction_tag, Redaction};
use crate::threshold::Thresholds;
use crate::time::{Clock, SystemClock};

/// A logger could not be built or installed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Trailing is on but may record no event.
    #[error("invalid logger configuration: trailing_event_limit must be at least 1 (or turn trailing off)")]
    TrailingLimit,
    /// The storm control window or count is zero.
    #[error("invalid logger configuration: the incident rate limit needs a count and a window above zero")]
    RateLimit,
    /// Retention would keep no file.
    #[error("invalid logger configuration: retention must keep at least one file")]
    Retention,
    /// The [`logdir`](LoggerBuilder::logdir) cannot be used.
    #[error(transparent)]
    Logdir(#[from] LogdirError),
    /// The [`flogfile`](LoggerBuilder::flogfile) (or `FLOGFILE`) cannot be created.
    #[error("cannot create the flogfile {}: {source}", path.display())]
    Flogfile {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A [`crash_ring`](LoggerBuilder::crash_ring) was asked for without a
    /// [`logdir`](LoggerBuilder::logdir) to keep it in.
    #[error("invalid logger configuration: a crash ring needs a logdir")]
    CrashRingWithoutLogdir,
    /// [`crash_ring_flush`](LoggerBuilder::crash_ring_flush) was asked for
    /// without a [`crash_ring`](LoggerBuilder::crash_ring) to flush.
    #[error("invalid logger configuration: crash ring flushing needs crash_ring(true)")]
    CrashRingFlushWithoutRing,
    /// The [`crash_ring_flush`](LoggerBuilder::crash_ring_flush) period is
    /// zero, too short or too long.
    #[error(
        "invalid logger configuration: a crash ring flushing period of {period:?} is outside \
         {MIN_CRASH_RING_FLUSH:?} ..= {MAX_CRASH_RING_FLUSH:?}"
    )]
    CrashRingFlushPeriod {
        /// The period asked for.
        period: Duration,
    },
    /// [`install`](LoggerBuilder::install) found a process-wide logger in place.
    #[error(transparent)]
    Install(#[from] SetGlobalError),
    /// The [`memory_budget`](LoggerBuilder::memory_budget) is too small for
    /// [`max_buffers`](LoggerBuilder::max_buffers).
    #[error(
        "invalid logger configuration: a memory budget of {budget} bytes leaves less than \
         {min_floor} bytes for each of {buffers} buffers: raise it or lower max_buffers"
    )]
    MemoryBudget {
        /// The budget asked for, in bytes.
        budget: usize,
        /// The buffers it must serve.
        buffers: usize,
        /// The least room each buffer needs, in bytes.
        min_floor: usize,
    },
}

/// Builds a [`Logger`] with non-default settings; [`install`](Self::install)
/// makes it the process-wide one.
#[must_use]
pub struct LoggerBuilder {
    clock: Arc<dyn Clock>,
    threshold: Level,
    facility_thresholds: Vec<(String, Level)>,
    level_sizes: Vec<(Level, usize)>,
    facility_sizes: Vec<(String, Level, usize)>,
    max_buffers: usize,
    overflow_size: usize,
    memory_budget: usize,
    sequential: Option<u64>,
    redaction: Option<Redaction>,
    incidents: IncidentConfig,
    on_error: Option<ErrorHook>,
    qualifier: Option<Box<dyn IncidentQualifier>>,
    event_observers: Vec<Arc<EventObserver>>,
    incident_observers: Vec<Arc<IncidentObserver>>,
    versions: Vec<(String, String)>,
    logdir: Option<PathBuf>,
    flogfile: Option<(PathBuf, Level)>,
    crash_ring: bool,
    crash_ring_flush: Option<Duration>,
}

impl fmt::Debug for LoggerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoggerBuilder")
            .field("clock", &self.clock)
            .field("threshold", &self.threshold)
            .field("incidents", &self.incidents)
            .field("qualifier", &self.qualifier)
            .field("logdir", &self.logdir)
            .finish_non_exhaustive()
    }
}

impl LoggerBuilder {
    pub(super) fn new() -> LoggerBuilder {
        LoggerBuilder {
            clock: Arc::new(SystemClock),
            threshold: Level::NOISY,
            facility_thresholds: Vec::new(),
            level_sizes: Vec::new(),
            facility_sizes: Vec::new(),
            max_buffers: DEFAULT_MAX_BUFFERS,
            overflow_size: DEFAULT_OVERFLOW_SIZE,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            sequential: None,
            redaction: Some(Redaction::default()),
            incidents: IncidentConfig::default(),
            on_error: None,
            qualifier: None,
            event_observers: Vec::new(),
            incident_observers: Vec::new(),
            versions: Vec::new(),
            logdir: None,
            flogfile: None,
            crash_ring: false,
            crash_ring_flush: None,
        }
    }

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
    /// The threshold of a facility and its dotted children, as
    /// [`Logger::set_facility_threshold`] sets it.
    pub fn facility_threshold(mut self, facility: impl Into<String>, level: Level) -> Self {
        self.facility_thresholds.push((facility.into(), level));
        self
    }
    /// Buffer size for `level` in every facility (default 100).
    pub fn buffer_size(mut self, level: Level, size: usize) -> Self {
        self.level_sizes.push((level, size));
        self
    }
    /// Buffer size for one (facility, level), as
    /// [`Logger::set_facility_buffer_size`] sets it.
    pub fn facility_buffer_size(
        mut self,
        facility: impl Into<String>,
        level: Level,
        size: usize,
    ) -> Self {
        self.facility_sizes.push((facility.into(), level, size));
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
    /// The incident qualifier (default: level >= WEIRD), as
    /// [`Logger::set_qualifier`] sets it.
    pub fn qualifier(mut self, qualifier: impl IncidentQualifier + 'static) -> Self {
        self.qualifier = Some(Box::new(qualifier));
        self
    }
    /// Adds an event observer, as [`Logger::add_event_observer`] does.
    pub fn event_observer(mut self, observer: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.event_observers.push(Arc::new(observer));
        self
    }
    /// Adds an incident observer, as [`Logger::add_incident_observer`] does.
    pub fn incident_observer(
        mut self,
        observer: impl Fn(&IncidentReport) + Send + Sync + 'static,
    ) -> Self {
        self.incident_observers.push(Arc::new(observer));
        self
    }
    /// Records a component version, as [`Logger::set_version`] does.
    pub fn version(mut self, component: impl Into<String>, version: impl Into<String>) -> Self {
        self.versions.push((component.into(), version.into()));
        self
    }
    /// The log directory (`~` is the home directory), set when the logger is
    /// built, after everything else, as [`Logger::set_logdir`] sets it; a
    /// directory that cannot be used fails the build with
    /// [`ConfigError::Logdir`].
    pub fn logdir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.logdir = Some(dir.into());
        self
    }

    /// Saves every event at or above `min` to a new flogfile at `path` (`~`
    /// is the home directory) as it is generated, as foolscap's `FLOGFILE`
    /// does; [`install`](Self::install) reads the `FLOGFILE` and `FLOGLEVEL`
    /// environment variables into this. The file is a stream, flushed after
    /// each event, not an incident report: read it with `flogtool dump`.
    pub fn flogfile(mut self, path: impl Into<PathBuf>, min: Level) -> Self {
        self.flogfile = Some((path.into(), min));
        self
    }

    /// Keeps a copy of the buffered events in a crash ring: a file in the
    /// [`logdir`](Self::logdir) (`ring`), the size of the
    /// [`memory_budget`](Self::memory_budget), mapped into memory, whose
    /// pages outlive the process however it dies (default off). The next
    /// logger to take the logdir after a death writes them as an incident of
    /// kind `crash`; `flogtool peek` reads them from a live, wedged process.
    /// Dropping the logger closes the ring (no crash report). Needs a
    /// logdir ([`ConfigError::CrashRingWithoutLogdir`]); a logdir set later
    /// with [`Logger::set_logdir`] gets none. A kernel panic or power loss
    /// may lose the pages, unless [`crash_ring_flush`](Self::crash_ring_flush)
    /// writes them out every period. See `docs/reliability.md`.
    pub fn crash_ring(mut self, on: bool) -> Self {
        self.crash_ring = on;
        self
    }

    /// Flushes the [`crash_ring`](Self::crash_ring) to disk every `period`
    /// (default never), so that its events survive a kernel panic or a
    /// power loss as well as the death of the process: all but those of
    /// the last period, on a disk that honours the flush. One named thread
    /// (`flog-ring-flush`) calls `msync` on the mapping, never a logging
    /// thread; it stops when the logger lets go of its logdir (drop,
    /// [`Logger::shutdown`]). The period is measured on the logger's
    /// [`clock`](Self::clock). A flush that fails is reported through
    /// [`on_error`](Self::on_error), once per run of failures, and counted
    /// in [`Logger::crash_ring_stats`]. A period outside
    /// [`MIN_CRASH_RING_FLUSH`](crate::MIN_CRASH_RING_FLUSH) ..=
    /// [`MAX_CRASH_RING_FLUSH`](crate::MAX_CRASH_RING_FLUSH) (10 ms to a day)
    /// fails the build with [`ConfigError::CrashRingFlushPeriod`]; without
    /// `crash_ring(true)`, with [`ConfigError::CrashRingFlushWithoutRing`].
    /// What it costs is in `docs/performance.md`, what it buys in
    /// `docs/reliability.md`.
    pub fn crash_ring_flush(mut self, period: Duration) -> Self {
        self.crash_ring_flush = Some(period);
        self
    }

    /// `FLOGFILE` and `FLOGLEVEL`, if set, as [`flogfile`](Self::flogfile).
    pub(super) fn flogfile_from_env(mut self) -> Self {
        if let Some(file) = super::flogfile_env::from_env() {
            self.flogfile = Some(file);
        }
        self
    }

    /// Builds the logger.
    pub fn build(mut self) -> Result<Logger, ConfigError> {
        if let Some((path, min)) = self.flogfile.take() {
            let writer = super::flogfile_env::writer(&path, min)
                .map_err(|source| ConfigError::Flogfile { path, source })?;
            self.event_observers.push(Arc::new(writer));
        }
        let c = &self.incidents;
        if c.trailing && c.trailing_event_limit == 0 {
            return Err(ConfigError::TrailingLimit);
        }
        if c.max_per_window == 0 || c.rate_window.is_zero() {
            return Err(ConfigError::RateLimit);
        }
        if c.max_files == 0 {
            return Err(ConfigError::Retention);
        }
        if let Some(period) = self.crash_ring_flush {
            if !self.crash_ring {
                return Err(ConfigError::CrashRingFlushWithoutRing);
            }
            if !(MIN_CRASH_RING_FLUSH..=MAX_CRASH_RING_FLUSH).contains(&period) {
                return Err(ConfigError::CrashRingFlushPeriod { period });
            }
        }
        let split = BudgetSplit::new(self.memory_budget, self.max_buffers).ok_or(
            ConfigError::MemoryBudget {
                budget: self.memory_budget,
                buffers: self.max_buffers,
                min_floor: MIN_FLOOR,
            },
        )?;
        let mut incarnation = Incarnation::random();
        incarnation.sequential = self.sequential;
        let thresholds = Thresholds::new(self.threshold);
        for (facility, level) in &self.facility_thresholds {
            thresholds.set_facility(facility, Some(*level));
        }
        let on_error = self.on_error.unwrap_or_else(|| {
            Arc::new(|e: &IncidentError| eprintln!("flog: incident reporting failed: {e}"))
        });
        let incidents = Incidents::new(
            self.incidents,
            Arc::clone(&self.clock),
            incarnation,
            on_error,
        );
        if let Some(qualifier) = self.qualifier {
            incidents.set_qualifier(qualifier);
        }
        for (component, version) in self.versions {
            incidents.set_version(component, version);
        }
        for observer in self.incident_observers {
            incidents.observers().add(observer);
        }
        // With a crash ring the logdir is taken first: the ring lives there,
        // and every buffer takes a segment of it as it is made.
        let crash_ring = match (&self.logdir, self.crash_ring) {
            (None, true) => return Err(ConfigError::CrashRingWithoutLogdir),
            (Some(dir), true) => {
                let size = (self.memory_budget, self.max_buffers);
                let ring = start_crash_ring(dir, size, self.crash_ring_flush, &incidents)?;
                self.logdir = None;
                ring
            }
            _ => None,
        };
        let buffers = Buffers::with_crash_ring(
            self.max_buffers,
            self.overflow_size,
            split,
            incarnation,
            crash_ring,
        );
        for (level, size) in &self.level_sizes {
            buffers.set_level_size(*level, *size);
        }
        for (facility, level, size) in &self.facility_sizes {
            buffers.set_facility_size(facility, *level, *size);
        }
        let observers = Observers::default();
        for observer in self.event_observers {
            observers.add(observer);
        }
        let logger = Logger {
            shared: Arc::new(Shared {
                thresholds,
                redaction_tag: AtomicU64::new(redaction_tag(self.redaction.as_ref())),
                redaction: ArcSwapOption::from(self.redaction.map(Arc::new)),
                redaction_writer: Mutex::new(()),
                next_num: EventCounter::default(),
                incarnation,
                clock: self.clock,
                buffers,
                observers,
                incidents: Arc::new(incidents),
            }),
        };
        if let Some(dir) = self.logdir {
            logger.set_logdir(dir)?;
        }
        Ok(logger)
    }
}

/// Takes `dir` as the logdir with a crash ring the size of the memory
/// budget: a share for each possible buffer, ten for the overflow one, and
/// a sixteenth for the dictionary.
/// `flush_every`, when set, starts its flusher.
fn start_crash_ring(
    dir: &std::path::Path,
    (budget, max_buffers): (usize, usize),
    flush_every: Option<Duration>,
    incidents: &Incidents,
) -> Result<Option<Arc<RingFile>>, ConfigError> {
    let dir = expand_home(dir).map_err(|source| LogdirError::Unusable {
        path: dir.to_owned(),
        source,
    })?;
    let (pid, started, meta) = incidents.ring_meta();
    let spec = RingSpec {
        file_bytes: budget,
        units: max_buffers + OVERFLOW_SHARES,
        max_segments: max_buffers + 1,
        dict_bytes: budget / 16,
        pid,
        started,
        meta,
    };
    Ok(incidents.set_logdir(&dir, Some(&spec), flush_every)?)
}

//! Declaring incidents and recording them to the logdir.
//!
//! Three parts, each used by the one above it and none calling back into it:
//!
//! - the policy ([`policy`]): the qualifier, storm control, names, and the
//!   trailing captures ([`capture`]), which hold the exactly-once logic;
//! - the recorder ([`recorder`], [`reporter`]): the dump, written on the
//!   logging thread, and a reporter thread per incident, which sends its
//!   outcome over a channel when it is done;
//! - the logdir ([`logdir`], [`keeper`]): the lock, recovery, retention and
//!   retries, kept by one thread per directory, which receives the outcomes.
//!
//! [`Incidents`] wires them up for one logger.

mod capture;
mod config;
mod crash;
mod error;
mod keeper;
mod logdir;
mod outcome;
mod policy;
mod recorder;
mod recovery;
mod reporter;
mod retention;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{JoinHandle, ThreadId};
use std::time::Duration;

pub(crate) use config::IncidentConfig;
pub use crash::{rescue_crash, RescueError, Rescued};
pub(crate) use error::ErrorHook;
pub use error::{CrashError, IncidentError, LogdirError, RecoverError};

use crate::buffer::Buffers;
use crate::counter::EventCounter;
use crate::event::Event;
use crate::flogfile::{EndReason, Header, HeaderKind, LogdirOwner, RingMeta};
use crate::incarnation::Incarnation;
use crate::level::Level;
use crate::mapped::{CrashRingStats, RingFile, RingFlusher, RingSpec};
use crate::observer::{IncidentObserver, Observers};
use crate::qualifier::IncidentQualifier;
use crate::time::Clock;
use keeper::KeeperContext;
use logdir::Logdir;
use outcome::{Health, Outcome};
use policy::{Declared, NewIncident, Policy};
use reporter::{Job, Trailing};

/// Counts of what happened to triggers since the logger started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IncidentStats {
    /// Triggers seen with a logdir set.
    pub declared: u64,
    /// Incidents completely recorded.
    pub recorded: u64,
    /// Triggers that joined an incident already recording.
    pub joined: u64,
    /// Triggers dropped by storm control.
    pub suppressed: u64,
    /// Incidents that could not be written.
    pub failed: u64,
}

/// What an event did for incidents, as [`Logger::emit_declaring`](crate::Logger::emit_declaring)
/// reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Declaration {
    /// It started a new incident, to be recorded under this name.
    Declared {
        /// The incident's name (its file name without `.flog`/`.flog.bz2`).
        name: String,
    },
    /// It joined the incident whose trailing window was open.
    Joined,
    /// Storm control dropped it; the next incident's header counts it.
    Suppressed,
    /// The qualifier did not take it.
    NotQualified,
    /// The logger has no logdir, so nothing can be recorded.
    NoLogdir,
}

/// What incident headers and owner records say about the process.
struct About {
    incarnation: Incarnation,
    host: String,
    versions: Mutex<BTreeMap<String, String>>,
}

/// A log directory in use: its keeper and the reporters writing into it.
struct InUse {
    path: PathBuf,
    /// Device and inode, so another spelling of the same path is the same.
    identity: Option<(u64, u64)>,
    /// `None` once another directory took its place.
    outcomes: Option<Sender<Outcome>>,
    /// The crash ring written in it, told what incidents recorded.
    ring: Option<Arc<RingFile>>,
    /// Flushes the ring every period, when asked to. Stopped (dropped)
    /// before the keeper is waited for: it holds a sender of the keeper's.
    flusher: Option<RingFlusher>,
    keeper: JoinHandle<()>,
    reporters: Vec<JoinHandle<()>>,
}

#[derive(Default)]
struct Logdirs {
    current: Option<InUse>,
    /// Directories left for another that still have reporters writing.
    retired: Vec<InUse>,
}

/// An incident declared on a logging thread, to record once its trigger is
/// buffered.
#[derive(Debug)]
pub(crate) struct Pending {
    incident: NewIncident,
    dir: PathBuf,
    outcomes: Sender<Outcome>,
}

pub(crate) struct Incidents {
    config: IncidentConfig,
    clock: Arc<dyn Clock>,
    policy: Policy,
    health: Arc<Health>,
    observers: Arc<Observers<IncidentObserver>>,
    about: About,
    logdirs: Mutex<Logdirs>,
    // Set once a logdir is; read with every event.
    enabled: AtomicBool,
}

impl fmt::Debug for Incidents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incidents")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// This machine's host name, as incident headers (and gathered files) carry
/// it; `unknown` when none can be found.
pub fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| fs::read_to_string(p).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

fn identity(dir: &Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}

impl Incidents {
    pub(crate) fn new(
        config: IncidentConfig,
        clock: Arc<dyn Clock>,
        incarnation: Incarnation,
        on_error: ErrorHook,
    ) -> Incidents {
        let mut versions = BTreeMap::new();
        versions.insert("flog-core".to_owned(), env!("CARGO_PKG_VERSION").to_owned());
        Incidents {
            policy: Policy::new(config.clone(), Arc::clone(&clock)),
            config,
            clock,
            health: Arc::new(Health::new(on_error)),
            observers: Arc::new(Observers::default()),
            about: About {
                incarnation,
                host: host_name(),
                versions: Mutex::new(versions),
            },
            logdirs: Mutex::new(Logdirs::default()),
            enabled: AtomicBool::new(false),
        }
    }

    fn logdirs(&self) -> MutexGuard<'_, Logdirs> {
        // Every update is complete before any call that could panic.
        self.logdirs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn observers(&self) -> &Observers<IncidentObserver> {
        &self.observers
    }

    pub(crate) fn set_qualifier(&self, q: Box<dyn IncidentQualifier>) {
        self.policy.set_qualifier(q);
    }

    pub(crate) fn set_version(&self, component: String, version: String) {
        self.about
            .versions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(component, version);
    }

    pub(crate) fn versions(&self) -> BTreeMap<String, String> {
        self.about
            .versions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn logdir(&self) -> Option<PathBuf> {
        self.logdirs().current.as_ref().map(|c| c.path.clone())
    }

    pub(crate) fn stats(&self) -> IncidentStats {
        let (declared, joined, suppressed) = self.policy.counts();
        IncidentStats {
            declared,
            recorded: self.health.recorded(),
            joined,
            suppressed,
            failed: self.health.failed(),
        }
    }

    /// What a new crash ring says about this logger, and when it started.
    pub(crate) fn ring_meta(&self) -> (u32, i64, Vec<u8>) {
        let started = self.clock.now();
        let meta = RingMeta {
            pid: Some(std::process::id()),
            incarnation: Some(self.about.incarnation),
            host: Some(self.about.host.clone()),
            started: Some(started),
            versions: self.versions(),
        };
        (std::process::id(), started.as_micros(), meta.encode())
    }

    /// Takes `dir` as the logdir (see [`Logger::set_logdir`](crate::Logger::set_logdir)),
    /// starting a crash ring in it when `ring` asks for one (and returning
    /// it), flushed every `flush_every` when that is set.
    pub(crate) fn set_logdir(
        &self,
        dir: &Path,
        ring: Option<&RingSpec>,
        flush_every: Option<Duration>,
    ) -> Result<Option<Arc<RingFile>>, LogdirError> {
        let unusable = |source| LogdirError::Unusable {
            path: dir.to_owned(),
            source,
        };
        fs::create_dir_all(dir).map_err(unusable)?;
        let id = identity(dir);
        if let Some(current) = &self.logdirs().current {
            if current.path == dir || (id.is_some() && current.identity == id) {
                return Ok(current.ring.clone());
            }
        }
        let owner = LogdirOwner {
            pid: Some(std::process::id()),
            incarnation: Some(self.about.incarnation),
            host: Some(self.about.host.clone()),
            started: Some(self.clock.now()),
            released: None,
        };
        let (logdir, problems) = Logdir::open(dir, owner, Arc::clone(&self.clock), ring)?;
        let ring = logdir.ring().cloned();
        for problem in &problems {
            self.health.report(problem);
        }
        for name in logdir::file_names(dir).map_err(unusable)? {
            self.policy.observe_name(&name);
        }
        let (outcomes, rx) = mpsc::channel();
        let cx = KeeperContext {
            health: Arc::clone(&self.health),
            observers: Arc::clone(&self.observers),
            max_files: self.config.max_files,
            max_bytes: self.config.max_bytes,
        };
        // The flusher first: should the keeper fail to start, dropping the
        // flusher stops it; the other way round would leave a keeper thread
        // running, detached, holding the logdir.
        let flusher = match (&ring, flush_every) {
            (Some(ring), Some(period)) => Some(
                self.start_flusher(ring, period, dir, &outcomes)
                    .map_err(unusable)?,
            ),
            _ => None,
        };
        let keeper = keeper::spawn(logdir, cx, rx).map_err(unusable)?;
        let now = InUse {
            path: dir.to_owned(),
            identity: id,
            outcomes: Some(outcomes),
            ring: ring.clone(),
            flusher,
            keeper,
            reporters: Vec::new(),
        };
        let mut stopped = None;
        let idle = {
            let mut logdirs = self.logdirs();
            let previous = logdirs.current.replace(now);
            self.enabled.store(true, Ordering::SeqCst);
            previous.and_then(|mut old| {
                old.outcomes = None;
                // A ring left behind is closed: flushing it is over (stopped
                // below, outside the lock: a flush may be under way).
                stopped = old.flusher.take();
                old.reporters.retain(|r| !r.is_finished());
                if old.reporters.is_empty() {
                    Some(old)
                } else {
                    logdirs.retired.push(old);
                    None
                }
            })
        };
        drop(stopped);
        // The directory left behind is released now if nothing writes into
        // it any more, else once its last reporter is done.
        if let Some(old) = idle {
            join_keeper(old.keeper);
        }
        Ok(ring)
    }

    /// Starts flushing `ring` every `period`; a failed flush goes to the
    /// keeper as an outcome, which reports it.
    fn start_flusher(
        &self,
        ring: &Arc<RingFile>,
        period: Duration,
        dir: &Path,
        outcomes: &Sender<Outcome>,
    ) -> std::io::Result<RingFlusher> {
        let path = dir.join(crate::flogfile::RING_FILE);
        let outcomes = outcomes.clone();
        let failed = move |source| {
            let error = IncidentError::RingFlush {
                path: path.clone(),
                source,
            };
            let _ = outcomes.send(Outcome::RingFlushFailed(error));
        };
        RingFlusher::spawn(Arc::clone(ring), period, Arc::clone(&self.clock), failed)
    }

    /// What the crash ring of the current logdir is and does; `None`
    /// without one.
    pub(crate) fn ring_stats(&self) -> Option<CrashRingStats> {
        let logdirs = self.logdirs();
        let current = logdirs.current.as_ref().filter(|c| c.ring.is_some())?;
        Some(
            current
                .flusher
                .as_ref()
                .map(RingFlusher::stats)
                .unwrap_or_default(),
        )
    }

    /// Whether a logdir is set, so that events are qualified.
    #[inline]
    pub(crate) fn active(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    #[inline]
    pub(crate) fn qualifies(&self, event: &Event) -> bool {
        self.active() && self.policy.qualifies(event)
    }

    /// Declares an incident for `trigger`, which qualified and is not numbered
    /// yet: this numbers it. Returns the incident to [`record`](Self::record)
    /// once the trigger is in its buffer, if it starts one.
    ///
    /// What the report then holds, however other threads log meanwhile: the
    /// trigger and every event numbered after it up to the end of the
    /// trailing window, each exactly once. With the event limit `N` that is
    /// exactly the events numbered `T+1 ..= T+N`; when the delay or a shutdown
    /// ends the window first, those up to the newest one seen by then. It
    /// holds because the trigger is numbered in one step with switching
    /// capture on, and capture takes events by number, not by arrival (see
    /// `capture`): each event numbered after the trigger is offered to the
    /// capture while its buffer is locked, and the reporter writes those the
    /// dump did not already copy. Events numbered before the trigger are in
    /// the report if they were still in their buffers when it was dumped, or
    /// reached them only later, while the window was open.
    pub(crate) fn declare(
        &self,
        trigger: &mut Event,
        counter: &EventCounter,
    ) -> (Declaration, Option<Pending>) {
        let target = self.logdirs().current.as_ref().and_then(|c| {
            let outcomes = c.outcomes.clone()?;
            Some((c.path.clone(), outcomes))
        });
        let Some((dir, outcomes)) = target else {
            counter.number(trigger);
            return (Declaration::NoLogdir, None);
        };
        match self.policy.declare(trigger, counter) {
            Declared::New(incident) => {
                let name = incident.name.clone();
                let pending = Pending {
                    incident,
                    dir,
                    outcomes,
                };
                (Declaration::Declared { name }, Some(pending))
            }
            Declared::Joined => (Declaration::Joined, None),
            Declared::Suppressed => (Declaration::Suppressed, None),
        }
    }

    /// Called with every event while its buffer is locked.
    #[inline]
    pub(crate) fn capture(&self, event: &Event) {
        self.policy.captures().offer(event);
    }

    /// [`capture`](Self::capture) for an event stored with no [`Event`]
    /// made for it: `make` makes it, only if a capture is on.
    #[inline]
    pub(crate) fn capture_with(&self, make: impl FnOnce() -> Event) {
        self.policy.captures().offer_with(make);
    }

    /// Whether an event at `level` declares an incident, when that is
    /// decided by the level alone (see [`IncidentQualifier::min_level`]):
    /// `Some(false)` when no logdir is set. `None`: the qualifier must
    /// see the event.
    #[inline]
    pub(crate) fn qualifies_level(&self, level: Level) -> Option<bool> {
        if !self.active() {
            return Some(false);
        }
        self.policy.qualifies_level(level)
    }

    /// Records a declared incident: writes the dump before returning and
    /// leaves the rest to a reporter thread.
    pub(crate) fn record(&self, pending: Pending, trigger: Event, buffers: &Buffers) {
        let Pending {
            incident,
            dir,
            outcomes,
        } = pending;
        let started = self.clock.now();
        let header = Header {
            kind: Some(HeaderKind::Incident),
            name: Some(incident.name.clone()),
            trigger: Some(trigger.clone()),
            pid: Some(std::process::id()),
            versions: self.versions(),
            incarnation: Some(self.about.incarnation),
            host: Some(self.about.host.clone()),
            started: Some(started),
            suppressed_triggers: incident.suppressed,
        };
        let captures = self.policy.captures();
        let capture_id = incident.capture.as_ref().map(|(id, _)| *id);
        let ring = self.logdirs().current.as_ref().and_then(|c| {
            let here = c.path == dir;
            c.ring.clone().filter(|_| here)
        });
        let job = Job {
            name: incident.name,
            dir: dir.clone(),
            trigger,
            trailing: incident.capture.map(|(id, rx)| Trailing {
                id,
                rx,
                captures: Arc::clone(captures),
                started,
                delay: self.config.trailing_delay,
            }),
            clock: Arc::clone(&self.clock),
            outcomes,
            ring,
        };
        match recorder::start(job, &header, buffers) {
            Ok(reporter) => {
                let mut logdirs = self.logdirs();
                let Logdirs { current, retired } = &mut *logdirs;
                if let Some(in_use) = current.iter_mut().chain(retired).find(|u| u.path == dir) {
                    in_use.reporters.retain(|r| !r.is_finished());
                    in_use.reporters.push(reporter);
                }
            }
            Err(error) => {
                if let Some(id) = capture_id {
                    captures.abandon(id, EndReason::Failed);
                }
                match error {
                    // The report is complete up to the trigger and the next
                    // start recovers it: a problem, not a lost incident.
                    IncidentError::Finish { .. } => self.health.report(&error),
                    _ => self.health.record_failure(&error),
                }
            }
        }
    }

    /// Ends trailing capture now and waits until every incident in progress
    /// is written, compressed and settled by its keeper.
    pub(crate) fn finish_all(&self) {
        self.policy.captures().close_all(EndReason::Shutdown);
        let (reporters, current, retired) = {
            let mut logdirs = self.logdirs();
            let Logdirs { current, retired } = &mut *logdirs;
            let reporters: Vec<JoinHandle<()>> = current
                .iter_mut()
                .chain(retired.iter_mut())
                .flat_map(|u| std::mem::take(&mut u.reporters))
                .collect();
            let current = current
                .as_ref()
                .and_then(|c| Some((c.outcomes.clone()?, c.keeper.thread().id())));
            (reporters, current, std::mem::take(retired))
        };
        for reporter in reporters {
            let _ = reporter.join();
        }
        if let Some((outcomes, keeper)) = current {
            // An incident observer calling this runs on the keeper itself.
            if !on(keeper) {
                keeper::sync(&outcomes);
            }
        }
        for old in retired {
            join_keeper(old.keeper);
        }
    }
}

fn on(thread: ThreadId) -> bool {
    std::thread::current().id() == thread
}

/// Waits for a keeper whose senders are all gone: it settles what is left and
/// releases its directory.
fn join_keeper(keeper: JoinHandle<()>) {
    if !on(keeper.thread().id()) {
        let _ = keeper.join();
    }
}

impl Incidents {
    /// Finishes every incident in progress, then lets go of the logdir: its
    /// keeper settles what is left, marks the crash ring cleanly closed and
    /// releases the directory before this returns, so a new logger can take
    /// it at once (and makes no crash report). Later triggers record nothing
    /// until a logdir is set again.
    pub(crate) fn close(&self) {
        self.finish_all();
        let current = self.logdirs().current.take();
        self.enabled.store(false, Ordering::Relaxed);
        if let Some(mut current) = current {
            current.outcomes = None;
            // Stopped first, at once (it waits on a channel, not a sleep):
            // it holds a sender the keeper would wait for.
            current.flusher = None;
            for reporter in current.reporters {
                let _ = reporter.join();
            }
            join_keeper(current.keeper);
        }
    }
}

impl Drop for Incidents {
    /// A logger's logdir is its own for as long as it lives, and no longer.
    fn drop(&mut self) {
        self.close();
    }
}

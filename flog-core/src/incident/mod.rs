//! Declaring incidents and recording them to the logdir.

mod names;
mod recovery;
mod reporter;
mod retention;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;

pub use names::{
    incident_name, parse_incident_name, FINISHED_SUFFIX, INCIDENT_PREFIX, RECORDING_SUFFIX,
};

use crate::buffer::Buffers;
use crate::event::{Event, Incarnation};
use crate::flogfile::{FlogWriter, Header, HEADER_INCIDENT};
use crate::observer::{IncidentObserver, Observers};
use crate::qualifier::{IncidentQualifier, ThresholdQualifier};
use crate::time::{Clock, Timestamp};
use names::NameGen;
use reporter::{Job, ReporterMsg};

/// Incident settings (see [`LoggerBuilder`](crate::LoggerBuilder)).
#[derive(Debug, Clone)]
pub(crate) struct IncidentConfig {
    pub(crate) trailing: bool,
    pub(crate) trailing_delay: Duration,
    pub(crate) trailing_event_limit: usize,
    pub(crate) max_per_window: usize,
    pub(crate) rate_window: Duration,
    pub(crate) max_files: usize,
    pub(crate) max_bytes: u64,
}

impl Default for IncidentConfig {
    fn default() -> Self {
        IncidentConfig {
            trailing: true,
            trailing_delay: Duration::from_secs(5),
            trailing_event_limit: 100,
            max_per_window: 10,
            rate_window: Duration::from_secs(60),
            max_files: 1000,
            max_bytes: 512 * 1024 * 1024,
        }
    }
}

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

/// Recording an incident failed.
#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    /// Writing the uncompressed report failed.
    #[error("cannot write incident {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Compressing or renaming the finished report failed; the `.flog` is kept and
    /// is finished by the next start.
    #[error("cannot finish incident {}: {source}", path.display())]
    Finish {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// An orphaned report could not be recovered.
    #[error("cannot recover incident {}: {detail}", path.display())]
    Recover {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// Old incidents could not be deleted.
    #[error("cannot apply retention in {}: {source}", dir.display())]
    Retention {
        /// The logdir.
        dir: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// What a logger calls when recording an incident fails.
pub(crate) type ErrorHook = Arc<dyn Fn(&IncidentError) + Send + Sync>;

/// The log directory could not be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot use log directory {}: {source}", path.display())]
pub struct LogdirError {
    path: PathBuf,
    source: io::Error,
}

struct Active {
    name: String,
    tx: Sender<ReporterMsg>,
    trailing: usize,
}

#[derive(Default)]
struct State {
    logdir: Option<PathBuf>,
    active: Option<Active>,
    names: NameGen,
    recent: VecDeque<Timestamp>,
    suppressed: u64,
    reporters: Vec<JoinHandle<()>>,
    /// Complete `.flog` files whose compression failed (disk full, say), to
    /// finish once an incident succeeds again: space has come back.
    unfinished: Vec<Unfinished>,
}

pub(crate) struct Unfinished {
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
    pub(crate) trigger: Event,
}

#[derive(Default)]
struct Counters {
    declared: AtomicU64,
    recorded: AtomicU64,
    joined: AtomicU64,
    suppressed: AtomicU64,
    failed: AtomicU64,
}

pub(crate) struct Incidents {
    config: IncidentConfig,
    clock: Arc<dyn Clock>,
    qualifier: ArcSwap<Box<dyn IncidentQualifier>>,
    enabled: AtomicBool,
    // Set while an incident records trailing events; read on every event, so it
    // is an atomic in front of the state mutex.
    capturing: AtomicBool,
    state: Mutex<State>,
    observers: Observers<dyn IncidentObserver>,
    counters: Counters,
    failing: AtomicBool,
    retention: Mutex<()>,
    on_error: ErrorHook,
    incarnation: Incarnation,
    host: String,
    versions: Mutex<BTreeMap<String, String>>,
}

impl fmt::Debug for Incidents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incidents")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| fs::read_to_string(p).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
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
            config,
            clock,
            qualifier: ArcSwap::from_pointee(Box::new(ThresholdQualifier::default())),
            enabled: AtomicBool::new(false),
            capturing: AtomicBool::new(false),
            state: Mutex::new(State::default()),
            observers: Observers::default(),
            counters: Counters::default(),
            failing: AtomicBool::new(false),
            retention: Mutex::new(()),
            on_error,
            incarnation,
            host: host_name(),
            versions: Mutex::new(versions),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update of the state is complete before any call that could panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn observers(&self) -> &Observers<dyn IncidentObserver> {
        &self.observers
    }

    pub(crate) fn set_qualifier(&self, q: Box<dyn IncidentQualifier>) {
        self.qualifier.store(Arc::new(q));
    }

    pub(crate) fn set_version(&self, component: String, version: String) {
        self.versions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(component, version);
    }

    pub(crate) fn versions(&self) -> BTreeMap<String, String> {
        self.versions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn logdir(&self) -> Option<PathBuf> {
        self.lock().logdir.clone()
    }

    pub(crate) fn stats(&self) -> IncidentStats {
        let c = &self.counters;
        IncidentStats {
            declared: c.declared.load(Ordering::Relaxed),
            recorded: c.recorded.load(Ordering::Relaxed),
            joined: c.joined.load(Ordering::Relaxed),
            suppressed: c.suppressed.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn set_logdir(&self, dir: &Path) -> Result<(), LogdirError> {
        let err = |source| LogdirError {
            path: dir.to_owned(),
            source,
        };
        fs::create_dir_all(dir).map_err(err)?;
        if self.lock().logdir.as_deref() == Some(dir) {
            return Ok(());
        }
        // A directory we cannot write to (a read-only mount; permissions, for
        // a user other than root) must fail here, where the caller can say so,
        // not at the first incident.
        probe_writable(dir).map_err(err)?;
        for problem in recovery::recover_orphans(dir).map_err(err)? {
            self.report(problem);
        }
        let mut state = self.lock();
        for entry in fs::read_dir(dir).map_err(err)? {
            if let Some(name) = entry.map_err(err)?.file_name().to_str() {
                state
                    .names
                    .observe(name.split(".flog").next().unwrap_or(name));
            }
        }
        state.logdir = Some(dir.to_owned());
        self.enabled.store(true, Ordering::SeqCst);
        Ok(())
    }

    #[inline]
    pub(crate) fn qualifies(&self, event: &Event) -> bool {
        self.enabled.load(Ordering::Relaxed) && self.qualifier.load().check_event(event)
    }

    /// Called with every event while its buffer is locked.
    #[inline]
    pub(crate) fn capture(&self, event: &Event) {
        if self.capturing.load(Ordering::SeqCst) {
            self.capture_slow(event);
        }
    }

    #[cold]
    fn capture_slow(&self, event: &Event) {
        let mut state = self.lock();
        let Some(active) = state.active.as_mut() else {
            return;
        };
        let _ = active.tx.send(ReporterMsg::Event(Box::new(event.clone())));
        active.trailing += 1;
        if active.trailing >= self.config.trailing_event_limit {
            self.close_active(&mut state, reporter::END_EVENT_LIMIT);
        }
    }

    fn close_active(&self, state: &mut State, reason: &'static str) {
        if let Some(active) = state.active.take() {
            let _ = active.tx.send(ReporterMsg::End(reason));
        }
        self.capturing.store(false, Ordering::SeqCst);
    }

    /// Ends trailing capture of `name` if it is still the active incident.
    pub(crate) fn close_if_active(&self, name: &str, reason: &'static str) {
        let mut state = self.lock();
        if state.active.as_ref().is_some_and(|a| a.name == name) {
            self.close_active(&mut state, reason);
        }
    }

    /// Declares an incident for `trigger`, already in its buffer.
    ///
    /// Every event ends up in the report exactly once, however other threads log
    /// meanwhile: `capturing` is set before the buffers are read, and each event's
    /// capture check runs while its buffer is locked. So an event is either in a
    /// buffer when it is read, or sees `capturing` and is sent on as a trailing
    /// event, or both; the reporter drops trailing events already written.
    pub(crate) fn declare(self: &Arc<Self>, trigger: Event, buffers: &Buffers) {
        self.counters.declared.fetch_add(1, Ordering::Relaxed);
        let (name, dir, suppressed, rx) = {
            let mut state = self.lock();
            let Some(dir) = state.logdir.clone() else {
                return;
            };
            if let Some(active) = &state.active {
                let _ = active.tx.send(ReporterMsg::Trigger(trigger.num));
                self.counters.joined.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let now = self.clock.now();
            let window = self.config.rate_window.as_micros() as i64;
            state
                .recent
                .retain(|t| t.0 > now.0.saturating_sub(window) && t.0 <= now.0);
            if state.recent.len() >= self.config.max_per_window {
                state.suppressed += 1;
                self.counters.suppressed.fetch_add(1, Ordering::Relaxed);
                return;
            }
            state.recent.push_back(now);
            let name = state.names.next(now);
            let (tx, rx) = mpsc::channel();
            if self.config.trailing {
                state.active = Some(Active {
                    name: name.clone(),
                    tx,
                    trailing: 0,
                });
                self.capturing.store(true, Ordering::SeqCst);
            }
            (name, dir, std::mem::take(&mut state.suppressed), rx)
        };

        let header = Header {
            kind: HEADER_INCIDENT.to_owned(),
            name: Some(name.clone()),
            trigger: Some(trigger.clone()),
            pid: Some(std::process::id()),
            versions: self.versions(),
            incarnation: Some(self.incarnation.to_string()),
            host: Some(self.host.clone()),
            started: Some(self.clock.now()),
            suppressed_triggers: suppressed,
        };
        let path = dir.join(format!("{name}{RECORDING_SUFFIX}"));
        let dump = write_dump(&dir, &path, &header, buffers, &trigger);
        let (writer, dumped) = match dump {
            Ok(writer) => writer,
            Err(source) => {
                let _ = fs::remove_file(&path);
                self.close_if_active(&name, reporter::END_FAILED);
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                self.report(IncidentError::Write { path, source });
                return;
            }
        };
        let job = Job {
            name,
            dir,
            writer,
            dumped,
            rx,
            trigger,
            trailing: self.config.trailing,
            delay: self.config.trailing_delay,
        };
        let me = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("flog-incident-reporter".into())
            .spawn(move || reporter::run(&me, job));
        let mut state = self.lock();
        match spawned {
            Ok(handle) => {
                state.reporters.retain(|h| !h.is_finished());
                state.reporters.push(handle);
            }
            Err(e) => {
                // The uncompressed report is complete up to the trigger and the
                // next start recovers it.
                self.close_active(&mut state, reporter::END_FAILED);
                drop(state);
                self.report(IncidentError::Finish { path, source: e });
            }
        }
    }

    pub(crate) fn finish_all(&self) {
        let handles = {
            let mut state = self.lock();
            self.close_active(&mut state, reporter::END_SHUTDOWN);
            std::mem::take(&mut state.reporters)
        };
        for handle in handles {
            let _ = handle.join();
        }
    }

    /// Reports a failure once per run of failures.
    fn report(&self, error: IncidentError) {
        if !self.failing.swap(true, Ordering::Relaxed) {
            (self.on_error)(&error);
        }
    }

    pub(crate) fn unfinished(&self, incident: Unfinished) {
        self.lock().unfinished.push(incident);
    }

    fn recorded(&self, name: &str, path: &Path, trigger: &Event, dir: &Path) {
        self.counters.recorded.fetch_add(1, Ordering::Relaxed);
        self.failing.store(false, Ordering::Relaxed);
        let retry = std::mem::take(&mut self.lock().unfinished);
        for u in retry {
            let flog = u.dir.join(format!("{}{RECORDING_SUFFIX}", u.name));
            let finished = u.dir.join(format!("{}{FINISHED_SUFFIX}", u.name));
            match reporter::compress(&flog, &finished) {
                Ok(()) => {
                    self.counters.recorded.fetch_add(1, Ordering::Relaxed);
                    self.observers
                        .for_each(|o| o.on_incident(&u.name, &finished, &u.trigger));
                }
                Err(_) => self.lock().unfinished.push(u),
            }
        }
        // Reporters of overlapping incidents finish on their own threads; one
        // retention pass at a time, so two never race over the same files.
        let pass = self
            .retention
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let kept = retention::enforce(dir, self.config.max_files, self.config.max_bytes);
        drop(pass);
        if let Err(source) = kept {
            self.report(IncidentError::Retention {
                dir: dir.to_owned(),
                source,
            });
        }
        self.observers
            .for_each(|o| o.on_incident(name, path, trigger));
    }
}

/// Creates and removes a file in `dir`. The temporary name is one that
/// recovery removes, should the process die in between.
fn probe_writable(dir: &Path) -> io::Result<()> {
    let probe = crate::fs::temp_path_for(&dir.join("probe"));
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)?;
    fs::remove_file(&probe)
}

/// Writes header and buffered events, and hands the data to the operating system
/// before returning, so the report survives the process dying right after.
/// Returns the writer to append to and the `num`s written.
fn write_dump(
    dir: &Path,
    path: &Path,
    header: &Header,
    buffers: &Buffers,
    trigger: &Event,
) -> io::Result<(FlogWriter<BufWriter<File>>, Vec<u64>)> {
    let encode = |e: &Event, out: &mut Vec<u8>| FlogWriter::append_to(out).write_event(e);
    let mut snapshot = buffers.snapshot_encoded(encode)?;
    // The trigger can only be missing if other threads flooded its buffer
    // between its push and now; it must be in its own report regardless.
    if !snapshot.contains(trigger.num) {
        snapshot.insert(trigger, encode)?;
    }
    let mut out = Vec::with_capacity(snapshot.len_bytes() + 4096);
    FlogWriter::new(&mut out, header)?;
    for event in snapshot.in_order() {
        out.extend_from_slice(event);
    }
    // Recreate a logdir deleted under us rather than lose the incident.
    fs::create_dir_all(dir)?;
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    // One write: the whole dump reaches the OS in a single system call.
    file.write_all(&out)?;
    let writer = FlogWriter::append_to(BufWriter::with_capacity(64 * 1024, file));
    Ok((writer, snapshot.nums()))
}

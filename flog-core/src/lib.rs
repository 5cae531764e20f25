//! flog-core: a flight recorder for services.
//!
//! Log everything, keep it cheaply in memory, write it down only when something
//! goes wrong. Every log call makes a structured [`Event`]; events live in bounded
//! circular buffers, one per (facility, [`Level`]), so chatter never evicts rare,
//! important events. Once a log directory is set, an [`IncidentQualifier`] watches
//! every event (by default: level >= WEIRD) and declares an *incident*: the buffers
//! are written to `NAME.flog` before the logging call returns, trailing events are
//! recorded for a while, and the report ends up as `NAME.flog.bz2`.
//!
//! No async runtime is needed: reporters run on named threads.
//!
//! ```
//! use flog_core::{flogfile::read_flogfile, operational, weird, Logger};
//! use std::sync::mpsc;
//!
//! let dir = tempfile::tempdir()?;
//! let (tx, rx) = mpsc::channel();
//! // A service calls `.install()` instead of `.build()` (and keeps the guard
//! // it returns until main returns), and its calls then
//! // need no `logger = ...`: they log to the process-wide logger.
//! let logger = Logger::builder()
//!     .logdir(dir.path())
//!     .trailing(false)
//!     .incident_observer(move |incident| {
//!         let _ = tx.send(incident.path.clone());
//!     })
//!     .build()?;
//!
//! let host = String::from("db1");
//! operational!(logger = logger, facility = "app.db", "connected to {host}", host = host.as_str());
//! let ms = 250;
//! weird!(logger = logger, facility = "app.db", "pool exhausted after {ms} ms", ms);
//!
//! let report = read_flogfile(&rx.recv()?)?;
//! assert_eq!(report.events.len(), 2);
//! assert_eq!(report.events[1].render(), "pool exhausted after 250 ms");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod buffer;
mod callsite;
mod counter;
mod event;
mod facility;
mod failure;
pub mod flogfile;
mod forward;
pub mod fs;
mod home;
mod incarnation;
mod incident;
mod level;
mod level_map;
mod logger;
#[doc(hidden)]
pub mod macros;
mod mapped;
mod observer;
mod panic;
mod placeholders;
mod qualifier;
mod redact;
mod threshold;
mod time;
mod value;

pub use crate::buffer::{
    ring_events, DEFAULT_BUFFER_SIZE, DEFAULT_MAX_BUFFERS, DEFAULT_MEMORY_BUDGET,
    DEFAULT_OVERFLOW_SIZE,
};
pub use crate::callsite::Callsite;
pub use crate::event::{DecodeError, Event, Fields, Text};
pub use crate::facility::{facility_from_target, MAX_INTERNED_TARGETS};
pub use crate::failure::error_chain;
pub use crate::forward::{forward_to_stderr, forward_to_writer};
pub use crate::incarnation::{Incarnation, ParseIncarnationError};
pub use crate::incident::{
    host_name, rescue_crash, CrashError, Declaration, IncidentError, IncidentStats, LogdirError,
    RecoverError, RescueError, Rescued,
};
pub use crate::level::Level;
pub use crate::level_map::{LevelMap, LevelOrderError, Severity};
pub use crate::logger::{
    logger, set_global, ConfigError, EventBuilder, Logger, LoggerBuilder, LoggerGuard,
    SetGlobalError, SiteEvent,
};
pub use crate::mapped::{CrashRingStats, MAX_CRASH_RING_FLUSH, MIN_CRASH_RING_FLUSH};
pub use crate::observer::{inside_observer, IncidentReport, ObserverId};
pub use crate::panic::install_panic_hook;
pub use crate::qualifier::{
    facility_has_prefix, FacilityQualifier, IncidentQualifier, RateQualifier, ThresholdQualifier,
};
pub use crate::redact::{Redaction, DEFAULT_SENSITIVE, REDACTED};
pub use crate::time::{Clock, ManualClock, Passage, SystemClock, Timestamp};
pub use crate::value::Value;

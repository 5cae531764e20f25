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
//! use flog_core::{msg, Level, Logger, read_flogfile};
//! use std::sync::{mpsc, Arc};
//!
//! let dir = tempfile::tempdir()?;
//! let logger = Logger::builder().trailing(false).build()?;
//! logger.set_logdir(dir.path())?;
//! let (tx, rx) = mpsc::channel();
//! let tx = std::sync::Mutex::new(tx);
//! logger.add_incident_observer(Arc::new(move |name: &str, path: &std::path::Path, _: &flog_core::Event| {
//!     tx.lock().unwrap().send(path.to_owned()).unwrap();
//! }));
//!
//! msg!(logger = logger, Level::OPERATIONAL, facility = "app.db", "connected to {host}", host = "db1");
//! msg!(logger = logger, Level::WEIRD, facility = "app.db", "pool exhausted after {ms} ms", ms = 250);
//!
//! let report = read_flogfile(&rx.recv()?)?;
//! assert_eq!(report.events.len(), 2);
//! assert_eq!(report.events[1].render(), "pool exhausted after 250 ms");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod buffer;
mod counter;
mod event;
mod facility;
mod flogfile;
pub mod fs;
mod incident;
mod level;
mod logger;
#[doc(hidden)]
pub mod macros;
mod observer;
mod panic;
mod qualifier;
mod redact;
mod threshold;
mod time;
mod value;

pub use crate::buffer::{DEFAULT_BUFFER_SIZE, DEFAULT_MAX_BUFFERS, DEFAULT_OVERFLOW_SIZE};
pub use crate::event::{DecodeError, Event, Fields, Incarnation, Text};
pub use crate::facility::{facility_from_target, MAX_INTERNED_TARGETS};
pub use crate::flogfile::{
    file_kind, identify, read_flogfile, read_trigger, FileKind, FlogContents, FlogReader,
    FlogWriter, Gap, GapReason, Header, IncarnationChange, ReadError, Receipt, ReceivedEvent,
    Record, Trailer, HEADER_GATHERED, HEADER_INCIDENT, HEADER_TAIL, MAGIC, MAX_RECORD_BYTES,
    MAX_RECORD_DEPTH,
};
pub use crate::incident::{
    host_name, incident_name, parse_incident_name, IncidentError, IncidentStats, LogdirError,
    LogdirOwner, FINISHED_SUFFIX, INCIDENT_PREFIX, OWNER_FILE, RECORDING_SUFFIX,
};
pub use crate::level::Level;
pub use crate::logger::{logger, ConfigError, EventBuilder, Logger, LoggerBuilder};
pub use crate::observer::{EventObserver, IncidentObserver, ObserverId};
pub use crate::panic::install_panic_hook;
pub use crate::qualifier::{
    facility_has_prefix, FacilityQualifier, IncidentQualifier, RateQualifier, ThresholdQualifier,
};
pub use crate::redact::{Redaction, DEFAULT_SENSITIVE, REDACTED};
pub use crate::time::{Clock, ManualClock, Passage, SystemClock, Timestamp};
pub use crate::value::Value;

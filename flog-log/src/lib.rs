//! flog-log: record the `log` crate's records in a flog flight recorder.
//!
//! [`FlogLogger`] implements [`log::Log`] with the same mapping as flog-tracing:
//! the target becomes the facility (`::` → `.`), `Warn` becomes WEIRD (which
//! declares an incident by default), the message becomes the text and
//! key-values become typed fields. Install it in one call with [`init`]:
//!
//! ```
//! use flog_core::{Level, Logger};
//!
//! let logger = Logger::new();
//! flog_log::init(logger.clone(), log::LevelFilter::Debug)?;
//!
//! log::info!(target: "app::db", rows = 3; "fetched {} rows", 3);
//! log::trace!("not passed on: above the maximum level given to init");
//!
//! let events = logger.buffered_events();
//! assert_eq!(events.len(), 1);
//! assert_eq!(events[0].facility(), "app.db");
//! assert_eq!(events[0].level, Level::OPERATIONAL);
//! assert_eq!(events[0].render(), "fetched 3 rows");
//! assert_eq!(events[0].field("rows"), Some(&flog_core::Value::Int(3)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `log` has one global logger per process. To feed both flog and another
//! `log` backend, or to use flog beside `tracing`, prefer flog-tracing's layer
//! and let `tracing-log` forward `log` records to tracing.

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod levels;
mod logger;

pub use crate::levels::ConfigError;
pub use crate::logger::{FlogLogger, FlogLoggerBuilder};
/// The level map, shared with flog-tracing (defined in flog-core).
pub use flog_core::LevelMap;

/// Installs a [`FlogLogger`] feeding `logger` as the `log` crate's global logger
/// and sets `log`'s maximum level to `max_level`. Records above `max_level` are
/// dropped by the `log` macros themselves, before formatting; flog's generation
/// thresholds then apply to the rest.
///
/// Fails if a global logger is already set (it can be set once per process).
pub fn init(
    logger: flog_core::Logger,
    max_level: log::LevelFilter,
) -> Result<(), log::SetLoggerError> {
    FlogLogger::new(logger).install(max_level)
}

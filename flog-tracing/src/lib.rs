//! flog-tracing: record [`tracing`] events and spans in a flog flight recorder.
//!
//! [`FlogLayer`] is a [`tracing_subscriber::Layer`] that turns every tracing
//! event into a flog [`Event`](flog_core::Event): the target becomes the facility
//! (`::` → `.`), the level is mapped by a [`LevelMap`] (by default `warn!` is
//! WEIRD, so it declares an incident as foolscap's `WEIRD` does), the `message`
//! becomes the text and the other fields become typed structured fields. Each new
//! span generates an event too, and events inside a span name that event as
//! their `parent`, so an incident report shows what each event was part of.
//!
//! The recorder usually wants more detail than the console. Give each layer its
//! own filter: here the console shows INFO and above while flog keeps DEBUG.
//!
//! ```
//! use flog_core::{Level, Logger};
//! use flog_tracing::FlogLayer;
//! use tracing_subscriber::filter::LevelFilter;
//! use tracing_subscriber::prelude::*;
//!
//! let logger = Logger::new();
//! let subscriber = tracing_subscriber::registry()
//!     .with(
//!         tracing_subscriber::fmt::layer()
//!             .with_writer(std::io::sink) // std::io::stderr in a real service
//!             .with_filter(LevelFilter::INFO),
//!     )
//!     .with(FlogLayer::new(logger.clone()).with_filter(LevelFilter::DEBUG));
//!
//! tracing::subscriber::with_default(subscriber, || {
//!     let span = tracing::info_span!(target: "app::db", "query", table = "users");
//!     let _entered = span.enter();
//!     tracing::debug!(rows = 3u64, "fetched {} rows", 3);
//! });
//!
//! let events = logger.buffered_events();
//! assert_eq!(events.len(), 2);
//! let (span, debug) = (&events[0], &events[1]);
//! assert_eq!(span.render(), "query");
//! assert_eq!(span.facility(), "app.db");
//! assert_eq!(debug.render(), "fetched 3 rows");
//! assert_eq!(debug.level, Level::NOISY);
//! // Buffered events read back as an incident report would give them, so the
//! // `u64` reads as an `Int` (an event observer sees the `UInt` as logged).
//! assert_eq!(debug.field("rows"), Some(&flog_core::Value::Int(3)));
//! assert_eq!(debug.parent, Some(span.num));
//! ```
//!
//! `TRACE` maps to `Level(5)`, below flog's default threshold (NOISY): lower it
//! with [`Logger::set_threshold`](flog_core::Logger::set_threshold) to keep trace
//! events. For the `log` crate, use `flog-log` rather than forwarding through
//! `tracing-log`, which would give every record the target `log`.

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod callsites;
mod facility;
mod fields;
mod forward;
mod layer;
mod levels;
#[cfg(test)]
mod site_tests;
#[cfg(test)]
mod tests;

pub use crate::forward::forward_to_tracing;
pub use crate::layer::{ConfigError, FlogLayer, FlogLayerBuilder};
/// The level map, shared with flog-log (defined in flog-core).
pub use flog_core::LevelMap;

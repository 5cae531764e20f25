//! flog-publisher: serves a service's logport over TCP.
//!
//! A [`Publisher`] answers the requests of `docs/protocol.md` for one
//! [`Logger`](flog_core::Logger): versions and pid, listing finished incidents
//! (from an in-memory index kept current by the logger's incident observer),
//! streaming incident files in chunks with a SHA-256, and pushing new incidents
//! and live events to subscribers. Only clients presenting the secret kept in the
//! logdir get in; the logdir's `logport` file (mode 0600) holds the URL to give
//! them.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use flog_core::{Level, Logger};
//! use flog_publisher::Publisher;
//! use flog_wire::LogportClient;
//!
//! let dir = tempfile::tempdir()?;
//! let logger = Logger::new();
//! logger.set_logdir(dir.path())?;
//! let publisher = Publisher::builder(logger.clone()).start().await?;
//!
//! let client = LogportClient::connect(publisher.url()).await?;
//! assert_eq!(client.get_pid().await?, std::process::id());
//! publisher.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! Inside, calls flow one way: `server` accepts and hands each connection
//! to a `Handler` (hello, then requests), which applies each request through
//! one module per operation (`op::list`, `op::fetch`, ...); those use the
//! leaves: the shared `State`, the connection's `Outbox`, the `reply`
//! helpers, the incident index and the live-event fan-out.

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod config;
mod error;
mod handler;
mod identity;
mod index;
mod live;
mod op;
mod outbox;
mod reply;
mod server;
mod state;

pub use crate::config::PublisherConfig;
pub use crate::error::PublisherError;
pub use crate::identity::{LOGPORT_FILE, PUBLISHER_ID_FILE, SECRET_FILE};
pub use crate::server::{Publisher, PublisherBuilder};

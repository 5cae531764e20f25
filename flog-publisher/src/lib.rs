//! flog-publisher: serves a service's logport over TCP.
//!
//! A [`Publisher`] answers the requests of `docs/protocol.md` for one
//! [`Logger`](flog_core::Logger): versions and pid, listing finished incidents
//! (from an in-memory index kept current by the logger's incident observer),
//! streaming incident files in chunks with a SHA-256, and pushing new incidents
//! and live events to subscribers. Every connection is TLS with the logdir's
//! key (`logport-key.pem`, created on the first start, mode 0600) unless the
//! port was made plaintext with
//! [`insecure_plaintext`](PublisherBuilder::insecure_plaintext); only
//! clients presenting the secret kept in the logdir get in. The logdir's
//! `logport` file (mode 0600) holds the URL to give them, which pins the key:
//! `flogs://KEY@HOST:PORT/ID/SECRET`. A publisher may also dial out to
//! gatherers ([`PublisherBuilder::gatherer`], [`GATHERERS_ENV`]) and serve them
//! over the connections it made.
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
//! Inside, calls flow one way: `server` starts `accept` (the accept loop)
//! and `dial` (one task per gatherer), which hand each connection
//! to a `Handler` (hello, then requests), which applies each request through
//! one module per operation (`op::list`, `op::fetch`, ...); those use the
//! leaves: the shared `State`, the connection's `Outbox`, the `reply`
//! helpers, the incident index and the live-event fan-out.

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod accept;
mod config;
mod dial;
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
mod stats;

pub use crate::config::PublisherConfig;
pub use crate::error::PublisherError;
pub use crate::identity::{key_file, KEY_FILE, LOGPORT_FILE, PUBLISHER_ID_FILE, SECRET_FILE};
pub use crate::server::{Publisher, PublisherBuilder, GATHERERS_ENV};
pub use crate::stats::PublisherStats;

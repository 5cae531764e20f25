//! flog-gatherer: collects incident reports from many flog publishers into
//! one base directory, each exactly once, and classifies them.
//!
//! Modelled on foolscap's incident gatherer. `flog-gatherer create BASEDIR`
//! writes a documented `gatherer.toml`; `flog-gatherer run BASEDIR` polls
//! every publisher listed there or in `BASEDIR/publishers/` (one logport URL
//! per file), stores each new incident at
//! `BASEDIR/incidents/<publisher-id>/<name>.flog.bz2`, and lists it in
//! `BASEDIR/classified/<category>` by the rules of the config. The same
//! pieces are here as a library: [`Config`], [`Classifier`], [`Gatherer`].
//! `docs/gatherer.md` describes the files and the exactly-once argument.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use flog_core::{msg, Level, Logger};
//! use flog_gatherer::{Config, GatherEvent, Gatherer};
//! use flog_publisher::Publisher;
//! use tokio_util::sync::CancellationToken;
//!
//! // A service recording incidents, with its logport.
//! let logdir = tempfile::tempdir()?;
//! let logger = Logger::builder().trailing(false).build()?;
//! logger.set_logdir(logdir.path())?;
//! let publisher = Publisher::builder(logger.clone()).start().await?;
//! msg!(logger = logger, Level::WEIRD, facility = "app.db", "pool exhausted");
//!
//! // A gatherer with one rule, told of every incident it stores.
//! let basedir = tempfile::tempdir()?;
//! let mut config = Config::from_toml(
//!     "[[rule]]\ncategory = \"database\"\nfacility = \"app.db\"\n",
//!     "gatherer.toml",
//! )?;
//! config.publishers.push(publisher.url().clone());
//! let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
//! let gatherer = Gatherer::new(basedir.path(), config)?
//!     .with_observer(move |event: &GatherEvent| {
//!         let _ = tx.send(event.clone());
//!     });
//!
//! let shutdown = CancellationToken::new();
//! let (result, stored) = tokio::join!(gatherer.run(shutdown.clone()), async {
//!     while let Some(event) = events.recv().await {
//!         if let GatherEvent::Stored(stored) = event {
//!             shutdown.cancel();
//!             return stored;
//!         }
//!     }
//!     unreachable!("the gatherer ended without storing anything")
//! });
//! result?;
//! assert_eq!(stored.categories, ["database"]);
//! assert!(stored.path.starts_with(basedir.path().join("incidents")));
//! publisher.shutdown().await;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod bucket;
mod bucket_read;
mod classified;
mod classify;
mod config;
mod contain;
#[cfg(feature = "dashboard")]
mod dashboard;
mod error;
mod events;
mod gatherer;
mod leases;
mod listen;
mod lock;
mod logport;
mod observer;
mod publishers;
mod snapshot;
mod store;
mod units;
mod worker;

pub use crate::bucket_read::{
    BucketLocation, BucketReader, Listing, StoredObject, MAX_LISTED, MAX_OBJECT_BYTES,
};
pub use crate::classified::{read_trigger, CLASSIFIED_DIR};
pub use crate::classify::{
    is_valid_category, Classifier, FieldValue, Rule, CATEGORY_ALL, CATEGORY_UNKNOWN,
    MAX_CATEGORY_LEN,
};
pub use crate::config::{
    create, Config, EventsConfig, HttpConfig, LevelRule, LogportConfig, S3Config, Storage,
    CONFIG_FILE, CONFIG_TEMPLATE, MIN_TOKEN_LEN, PUBLISHERS_DIR,
};
pub use crate::contain::Panicked;
#[cfg(feature = "dashboard")]
pub use crate::dashboard::{
    DashboardObserver, DashboardServer, GathererFleet, BUCKET_WAIT, DASHBOARD_QUEUE,
    MAX_SHOWN_GATHERERS, MAX_SHOWN_INCIDENTS, MAX_SHOWN_PUBLISHERS,
};
pub use crate::error::{
    BucketError, ConfigError, ConfigProblem, CredentialsAdvice, GatherError, LocationError,
    RuleError,
};
pub use crate::events::{
    EventFigures, PublisherEventFigures, SpoolFigures, EVENTS_DIR, ROTATE_REQUEST,
};
pub use crate::gatherer::Gatherer;
pub use crate::listen::{
    accept_key, ACCEPTED_KEYS_DIR, GATHERER_ID_FILE, GATHERER_KEY_FILE, GATHERER_LOGPORT_FILE,
    GATHERER_URL_FILE, LOGPORT_SECRET_FILE, PUBLISHER_KEYS_FILE, REGISTRATION_SECRET_FILE,
};
pub use crate::lock::{running_gatherer, LOCK_FILE};
pub use crate::observer::{ConnectedBy, GatherEvent, GatherObserver, Refusal, Stored};
pub use crate::snapshot::{SnapshotError, SnapshotHandle};
pub use crate::store::{INCIDENTS_DIR, LATEST_FILE};
pub use crate::units::UnitError;

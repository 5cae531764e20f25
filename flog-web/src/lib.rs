//! flog-web: flog's web viewer, as a library for `flogtool web` and for the
//! gatherer's dashboard.
//!
//! A [`Viewer`] holds flogfiles ([`FlogSource`]s: a path, or whatever the
//! caller stores incidents in); [`router`] serves them: a summary page per
//! file, an events page (nested by parent, or by number or time; filters;
//! permalinks) whose rows come as JSON pages so that a file of 100,000 events
//! opens at once, and the JSON endpoints themselves. Files are read again
//! when they change. [`write_chrome_trace`] exports a file for Perfetto.
//! `docs/web.md` describes the pages, URLs and JSON.
//!
//! ```
//! use std::sync::Arc;
//! use flog_web::{router, PathSource, Viewer};
//!
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! let viewer = Arc::new(Viewer::builder().build()?);
//! viewer.add(PathSource::new("incident-2026-01-01T00-00-00.000000Z-0000.flog.bz2"));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! println!("http://{}/", listener.local_addr()?);
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! shutdown.cancel(); // a real program cancels it on Ctrl-C
//! flog_web::serve(listener, viewer, shutdown).await?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod api;
mod assets;
mod dashboard;
mod file;
mod pages;
mod router;
mod rows;
mod source;
mod summary;
mod trace;
mod tree;
mod view;
mod viewer;

pub use crate::dashboard::{
    dashboard_router, Bucket, BucketUnreachable, Contact, Dashboard, DashboardBuilder, EventCounts,
    Fleet, FleetFigures, GathererStatus, IncidentEntry, IncidentQuery, LeaseStatus, NotShown,
    PublisherStatus, QueryProblem, RefreshFuture, SharedBucket, SnapshotFuture, SnapshotRelay,
    SnapshotResult, SpoolCounts, Trends, MAX_LIMIT, MAX_TRIGGER_TEXT, VIEW_BASE,
};
pub use crate::file::LoadedFile;
pub use crate::router::router;
pub use crate::rows::{level_class, FieldRow, Page, Row, MAX_PAGE};
pub use crate::source::{BoxError, FlogSource, Loader, PathSource, Stamp};
pub use crate::summary::{LevelCount, Summary, TrailerSummary, TriggerSummary};
pub use crate::trace::{write_chrome_trace, TraceStats};
pub use crate::tree::EventTree;
pub use crate::view::{Order, QueryError, View, ViewCache, ViewParams, ViewQuery, MAX_FILTER_TEXT};
pub use crate::viewer::{
    ConfigError, Loaded, Viewer, ViewerBuilder, ViewerError, DEFAULT_MEMORY_BUDGET,
};

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves `viewer` on `listener` until `shutdown` is cancelled (requests under
/// way are finished first).
pub async fn serve(
    listener: TcpListener,
    viewer: Arc<Viewer>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(viewer))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

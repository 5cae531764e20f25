//! The dashboard's data as JSON (docs/gatherer.md documents the shapes).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::pages::{incident_href, TrendsQuery};
use super::query::IncidentQuery;
use super::trends::Trends;
use super::{Dashboard, IncidentEntry, PublisherStatus, SharedBucket, SpoolCounts};

/// `GET /api/publishers`: every publisher, broken ones first.
pub(crate) async fn publishers(
    State(dashboard): State<Arc<Dashboard>>,
) -> Json<Vec<PublisherStatus>> {
    dashboard.fleet().refresh().await;
    Json(dashboard.publishers_sorted())
}

/// `GET /api/gatherer`: the gatherer's own state beside the publishers'.
#[derive(Serialize)]
pub(crate) struct GathererJson {
    /// The shared bucket (`storage = "s3"`), else `null`.
    bucket: Option<SharedBucket>,
    /// The event spool (`storage = "s3"` with `[events]`), else `null`.
    spool: Option<SpoolCounts>,
    dropped_updates: u64,
}

/// `GET /api/gatherer`.
pub(crate) async fn gatherer(State(dashboard): State<Arc<Dashboard>>) -> Json<GathererJson> {
    dashboard.fleet().refresh().await;
    let figures = dashboard.fleet().figures();
    Json(GathererJson {
        bucket: dashboard.fleet().shared_bucket(),
        spool: figures.spool,
        dropped_updates: figures.dropped_updates,
    })
}

#[derive(Serialize)]
struct IncidentJson<'a> {
    #[serde(flatten)]
    entry: &'a IncidentEntry,
    /// Where it opens in the viewer.
    href: String,
}

#[derive(Serialize)]
struct ErrorJson {
    error: String,
}

/// `GET /api/incidents?publisher=&category=&since=&until=&limit=`: newest first.
pub(crate) async fn incidents(
    State(dashboard): State<Arc<Dashboard>>,
    Query(query): Query<IncidentQuery>,
) -> Response {
    let filter = match query.filter() {
        Ok(filter) => filter,
        Err(problem) => {
            let error = ErrorJson {
                error: problem.to_string(),
            };
            return (StatusCode::BAD_REQUEST, Json(error)).into_response();
        }
    };
    dashboard.fleet().refresh().await;
    let all = dashboard.fleet().incidents();
    let found: Vec<IncidentJson<'_>> = filter
        .apply(&all)
        .into_iter()
        .map(|entry| IncidentJson {
            href: incident_href(entry),
            entry,
        })
        .collect();
    Json(found).into_response()
}

/// `GET /api/trends?bucket=hour|day`.
pub(crate) async fn trends(
    State(dashboard): State<Arc<Dashboard>>,
    Query(query): Query<TrendsQuery>,
) -> Json<Trends> {
    dashboard.fleet().refresh().await;
    Json(Trends::count(
        &dashboard.fleet().incidents(),
        query.bucket,
        dashboard.now(),
    ))
}

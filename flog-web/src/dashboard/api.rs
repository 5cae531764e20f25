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
use super::{Dashboard, IncidentEntry, PublisherStatus};

/// `GET /api/publishers`: every publisher, broken ones first.
pub(crate) async fn publishers(
    State(dashboard): State<Arc<Dashboard>>,
) -> Json<Vec<PublisherStatus>> {
    Json(dashboard.publishers_sorted())
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
    Json(Trends::count(
        &dashboard.fleet().incidents(),
        query.bucket,
        dashboard.now(),
    ))
}

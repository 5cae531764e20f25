//! The JSON endpoints: what the events page fetches, and the same data for
//! anything else that wants it (docs/web.md lists them).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use serde::{Deserialize, Serialize};

use crate::rows;
use crate::summary::Summary;
use crate::trace::write_chrome_trace;
use crate::view::{Order, ViewParams, ViewQuery};
use crate::viewer::{Loaded, Viewer, ViewerError};

/// A JSON error: `{"error": "..."}` with a fitting status.
fn error(status: StatusCode, message: String) -> Response {
    #[derive(Serialize)]
    struct Body {
        error: String,
    }
    (status, Json(Body { error: message })).into_response()
}

fn viewer_error(e: &ViewerError) -> Response {
    let status = match e {
        ViewerError::UnknownFile(_) => StatusCode::NOT_FOUND,
        ViewerError::Read { .. } | ViewerError::Crashed { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, e.to_string())
}

async fn load(viewer: &Viewer, id: usize) -> Result<Arc<Loaded>, Response> {
    viewer.file(id).await.map_err(|e| viewer_error(&e))
}

/// `GET /files.json`: every file's summary (or the error reading it).
pub(crate) async fn files(State(viewer): State<Arc<Viewer>>) -> Response {
    #[derive(Serialize)]
    struct Entry {
        id: usize,
        label: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        summary: Option<Summary>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    }
    let mut out = Vec::new();
    for id in 0..viewer.len() {
        let label = viewer.label(id).unwrap_or_default();
        out.push(match viewer.file(id).await {
            Ok(loaded) => Entry {
                id,
                label,
                summary: Some(Summary::of(&loaded.file)),
                error: None,
            },
            Err(e) => Entry {
                id,
                label,
                summary: None,
                error: Some(e.to_string()),
            },
        });
    }
    Json(out).into_response()
}

/// `GET /files/{id}/summary.json`.
pub(crate) async fn summary(State(viewer): State<Arc<Viewer>>, Path(id): Path<usize>) -> Response {
    match load(&viewer, id).await {
        Ok(loaded) => Json(Summary::of(&loaded.file)).into_response(),
        Err(response) => response,
    }
}

/// Which rows of a view. (A second extractor over the same query string
/// rather than `serde(flatten)`, which would read the numbers as strings.)
#[derive(Debug, Deserialize)]
pub(crate) struct Paging {
    offset: Option<usize>,
    limit: Option<usize>,
}

/// `GET /files/{id}/events.json?sort=&levels=&facility=&origin=&text=&offset=&limit=`.
pub(crate) async fn events(
    State(viewer): State<Arc<Viewer>>,
    Path(id): Path<usize>,
    Query(params): Query<ViewParams>,
    Query(paging): Query<Paging>,
) -> Response {
    let loaded = match load(&viewer, id).await {
        Ok(loaded) => loaded,
        Err(response) => return response,
    };
    let file = &loaded.file;
    let query = match ViewQuery::parse(&params, Order::default_for(file)) {
        Ok(query) => query,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    // Filtering 100,000 events takes milliseconds: done here, not on a
    // blocking thread.
    let view = loaded.views.get(file, &query);
    let page = rows::page(
        file,
        &view,
        paging.offset.unwrap_or(0),
        paging.limit.unwrap_or(200),
    );
    Json(page).into_response()
}

/// Which event to find.
#[derive(Debug, Deserialize)]
pub(crate) struct LocateParams {
    key: String,
}

/// `GET /files/{id}/locate.json?key=KEY&<view>`: the row of event `KEY` in the
/// view, `null` when the filters hide it; 404 when no event has that key.
pub(crate) async fn locate(
    State(viewer): State<Arc<Viewer>>,
    Path(id): Path<usize>,
    Query(view_params): Query<ViewParams>,
    Query(params): Query<LocateParams>,
) -> Response {
    #[derive(Serialize)]
    struct Located {
        generation: u64,
        key: String,
        position: Option<usize>,
        /// Rows of the view that fold away the event (nested order): each of
        /// its ancestors in the view.
        ancestors: Vec<usize>,
    }
    let loaded = match load(&viewer, id).await {
        Ok(loaded) => loaded,
        Err(response) => return response,
    };
    let file = &loaded.file;
    let query = match ViewQuery::parse(&view_params, Order::default_for(file)) {
        Ok(query) => query,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let Some(event) = file.find_key(&params.key) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no event {} in this file", params.key),
        );
    };
    let view = loaded.views.get(file, &query);
    let position = view.position_of(event);
    let mut ancestors = Vec::new();
    if position.is_some() && query.order == Order::Tree {
        let mut up = file.tree.parent(event);
        while let Some(p) = up {
            ancestors.extend(view.position_of(p));
            up = file.tree.parent(p);
        }
    }
    Json(Located {
        generation: file.generation,
        key: file.key(event),
        position,
        ancestors,
    })
    .into_response()
}

/// `GET /files/{id}/trace.json`: the file as a Chrome trace, to download.
pub(crate) async fn trace(State(viewer): State<Arc<Viewer>>, Path(id): Path<usize>) -> Response {
    let loaded = match load(&viewer, id).await {
        Ok(loaded) => loaded,
        Err(response) => return response,
    };
    let written = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        write_chrome_trace(&loaded.file, &mut out).map(|_| out)
    })
    .await;
    match written {
        Ok(Ok(body)) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"trace.json\"",
                ),
            ],
            body,
        )
            .into_response(),
        _ => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "writing the trace failed".into(),
        ),
    }
}

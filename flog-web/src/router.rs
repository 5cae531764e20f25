//! The routes, and what every response gets.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::viewer::Viewer;
use crate::{api, assets, pages};

/// Scripts and styles only from the viewer itself, no inline script, nothing
/// from anywhere else: even markup that slipped through escaping could not run.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// The viewer's routes over `viewer` (docs/web.md describes them). Mount it at
/// the viewer's base path.
pub fn router(viewer: Arc<Viewer>) -> Router {
    Router::new()
        .route("/", get(pages::index))
        .route("/files/{id}", get(pages::summary))
        .route("/files/{id}/events", get(pages::events))
        .route("/files.json", get(api::files))
        .route("/files/{id}/summary.json", get(api::summary))
        .route("/files/{id}/events.json", get(api::events))
        .route("/files/{id}/locate.json", get(api::locate))
        .route("/files/{id}/trace.json", get(api::trace))
        .route("/assets/{name}", get(assets::asset))
        .layer(middleware::from_fn_with_state(viewer.clone(), guard))
        .with_state(viewer)
}

/// Refuses hosts the viewer was not set up for, and adds the security and
/// caching headers: files change under the viewer, so nothing is cached.
async fn guard(State(viewer): State<Arc<Viewer>>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    if !viewer.host_allowed(host) {
        return (
            StatusCode::FORBIDDEN,
            "this viewer does not serve that host name",
        )
            .into_response();
    }
    let mut response = next.run(request).await;
    secure(response.headers_mut());
    response
}

/// The security and caching headers of every response: the CSP above, no
/// sniffing, no referrer, no caching.
pub(crate) fn secure(headers: &mut axum::http::HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

//! The dashboard's routes, and who may see them.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use super::{api, feed, metrics, pages, snapshot, Dashboard, VIEW_BASE};
use crate::router::secure;

/// The largest request body taken, in bytes: a snapshot's reason (a few KiB
/// at most) with its form token, percent-encoded.
const SNAPSHOT_BODY_LIMIT: usize = 64 * 1024;

/// The cookie a `?token=` sets.
const COOKIE: &str = "flog_dashboard_token";

/// The dashboard's routes over `dashboard` (docs/web.md and docs/gatherer.md
/// describe them), with the viewer at `/view`.
pub fn dashboard_router(dashboard: Arc<Dashboard>) -> Router {
    let own = Router::new()
        .route("/", get(pages::fleet))
        .route("/trends", get(pages::trends))
        .route("/incidents/{publisher}/{name}", get(pages::open_incident))
        .route("/feed.atom", get(feed::all))
        .route("/feed/{file}", get(feed::category))
        .route("/api/publishers", get(api::publishers))
        .route("/api/incidents", get(api::incidents))
        .route("/api/trends", get(api::trends))
        .route("/api/gatherer", get(api::gatherer))
        .route("/metrics", get(metrics::metrics))
        // POST only: a GET of these is refused (405) and changes nothing.
        .route("/publishers/{publisher}/snapshot", post(snapshot::form))
        .route("/api/publishers/{publisher}/snapshot", post(snapshot::api))
        // A reason and a token, not a document.
        .layer(DefaultBodyLimit::max(SNAPSHOT_BODY_LIMIT))
        .with_state(dashboard.clone());
    own.nest(VIEW_BASE, crate::router(dashboard.viewer.clone()))
        .layer(middleware::from_fn_with_state(dashboard, guard))
}

/// The token a request offers: a bearer token, `?token=`, or the cookie.
/// Returns it and whether it came in the query.
fn offered_token(request: &Request) -> Option<(String, bool)> {
    let headers = request.headers();
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some((bearer.trim().to_owned(), false));
    }
    if let Ok(query) = Query::<Vec<(String, String)>>::try_from_uri(request.uri()) {
        if let Some((_, value)) = query.0.into_iter().find(|(key, _)| key == "token") {
            return Some((value, true));
        }
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| (value.to_owned(), false))
}

/// Refuses other hosts and requests without the token, and adds the
/// security headers.
async fn guard(State(dashboard): State<Arc<Dashboard>>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    if !dashboard.host_allowed(host) {
        let mut response = (
            StatusCode::FORBIDDEN,
            "this dashboard does not serve that host name",
        )
            .into_response();
        secure(response.headers_mut());
        return response;
    }
    let offered = offered_token(&request);
    if !dashboard.token_ok(offered.as_ref().map(|(t, _)| t.as_str())) {
        let mut response = (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "this dashboard needs its access token: add ?token=TOKEN to the URL",
        )
            .into_response();
        secure(response.headers_mut());
        return response;
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let (Some(_), Some((token, true))) = (&dashboard.token, offered) {
        // Only a token that passed gets here, and tokens are checked to be
        // cookie-safe text by the header value itself.
        if let Ok(cookie) = HeaderValue::from_str(&format!(
            "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
        )) {
            headers.insert(header::SET_COOKIE, cookie);
        }
    }
    secure(headers);
    response
}

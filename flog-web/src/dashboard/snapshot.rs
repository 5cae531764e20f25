//! "Record an incident now": the button's form and its JSON twin ask the
//! gatherer, through a [`SnapshotRelay`] the caller implements, to have a
//! publisher declare an incident with the operator's reason as trigger.
//!
//! A request that changes something must come from this dashboard's own
//! pages: POST only (a GET of these paths is refused by the router), no
//! cross-site fetch metadata or foreign `Origin`, and for the form the
//! per-process form token the fleet page embeds. The access token, where one
//! is set, is checked before any of this by the dashboard's guard.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde::{Deserialize, Serialize};

use super::pages::url_part;
use super::{constant_time_eq, Dashboard};
use crate::pages::render;

/// What became of a request to record an incident now. The texts are for
/// people; programs match on the variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum SnapshotResult {
    /// The publisher declared an incident of this name; it is recorded once
    /// its trailing window closes, and listed once the gatherer fetched it.
    Declared {
        /// The incident's name.
        incident: String,
    },
    /// An incident was recording already: the request's trigger joined it.
    Joined,
    /// The publisher's storm control dropped it (too many incidents lately).
    Suppressed,
    /// The publisher answered with an error (its qualifier or threshold
    /// does not take snapshots, or it has nowhere to record them).
    Refused {
        /// What it said.
        message: String,
    },
    /// The publisher could not be reached, or did not answer.
    Unreachable {
        /// What went wrong.
        message: String,
    },
    /// The gatherer cannot ask this publisher now (a publisher that dials
    /// in and is not connected, a gatherer that is not running, or one
    /// with too many requests in flight).
    NotPossible {
        /// Why.
        message: String,
    },
    /// The gatherer does not gather from a publisher of that id.
    UnknownPublisher,
    /// An outcome newer than this dashboard.
    Unknown,
}

/// A future of a [`SnapshotResult`], as [`SnapshotRelay::request`] returns it.
pub type SnapshotFuture = Pin<Box<dyn Future<Output = SnapshotResult> + Send + 'static>>;

/// Relays "record an incident now" to a publisher (the gatherer implements
/// it over its connection to the publisher).
pub trait SnapshotRelay: Send + Sync + std::fmt::Debug {
    /// The longest reason the publishers take, in bytes.
    fn max_reason(&self) -> usize;

    /// Asks publisher `publisher` to declare an incident, `reason` as its
    /// trigger's text (at most [`max_reason`](Self::max_reason) bytes).
    fn request(&self, publisher: String, reason: String) -> SnapshotFuture;
}

/// The fleet page's form.
#[derive(Debug, Deserialize)]
pub(crate) struct SnapshotForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    form_token: String,
}

/// The JSON request: `{"reason": "..."}`.
#[derive(Debug, Deserialize)]
pub(crate) struct SnapshotRequest {
    #[serde(default)]
    reason: String,
}

/// The JSON answer.
#[derive(Debug, Serialize)]
struct SnapshotJson {
    publisher: String,
    #[serde(flatten)]
    result: SnapshotResult,
    /// Where the declared incident opens once gathered.
    #[serde(skip_serializing_if = "Option::is_none")]
    href: Option<String>,
    /// Whether the gatherer has gathered it yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    gathered: Option<bool>,
}

/// Why a request was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// No relay: this dashboard cannot record incidents.
    NoRelay,
    /// Not from this dashboard's pages.
    CrossSite,
    /// The form token is missing or wrong.
    FormToken,
    /// The reason is too long.
    TooLong(usize),
}

impl Refusal {
    fn respond(self, json: bool) -> Response {
        let (status, text) = match self {
            Refusal::NoRelay => (
                StatusCode::NOT_FOUND,
                "this dashboard cannot record incidents".to_owned(),
            ),
            Refusal::CrossSite => (
                StatusCode::FORBIDDEN,
                "refused: this request did not come from the dashboard's own pages".to_owned(),
            ),
            Refusal::FormToken => (
                StatusCode::FORBIDDEN,
                "refused: the form is stale or forged (reload the fleet page)".to_owned(),
            ),
            Refusal::TooLong(max) => (
                StatusCode::BAD_REQUEST,
                format!("the reason is longer than {max} bytes"),
            ),
        };
        if json {
            (status, Json(serde_json::json!({ "error": text }))).into_response()
        } else {
            (status, text).into_response()
        }
    }
}

/// Whether the request came from a page of this dashboard, as far as the
/// browser says: `Sec-Fetch-Site` when sent, else an `Origin` naming this
/// host. A browser under our `no-referrer` policy sends `Origin: null` for
/// our own forms, so `null` is left to the form token.
fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        if !matches!(site, "same-origin" | "none") {
            return false;
        }
    }
    match (text("origin"), text(header::HOST.as_str())) {
        (None | Some("null"), _) => true,
        (Some(origin), Some(host)) => origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|o| o.eq_ignore_ascii_case(host)),
        (Some(_), None) => false,
    }
}

/// Checks a request, then relays it.
async fn relay(
    dashboard: &Dashboard,
    headers: &HeaderMap,
    publisher: String,
    reason: String,
) -> Result<SnapshotResult, Refusal> {
    let Some(relay) = dashboard.snapshots.clone() else {
        return Err(Refusal::NoRelay);
    };
    if !same_origin(headers) {
        return Err(Refusal::CrossSite);
    }
    let max = relay.max_reason();
    if reason.len() > max {
        return Err(Refusal::TooLong(max));
    }
    Ok(relay.request(publisher, reason).await)
}

/// The HTTP status an outcome is answered with.
fn status(result: &SnapshotResult) -> StatusCode {
    match result {
        SnapshotResult::Declared { .. }
        | SnapshotResult::Joined
        | SnapshotResult::Suppressed
        | SnapshotResult::Unknown => StatusCode::OK,
        SnapshotResult::Refused { .. } => StatusCode::CONFLICT,
        SnapshotResult::Unreachable { .. } => StatusCode::BAD_GATEWAY,
        SnapshotResult::NotPossible { .. } => StatusCode::SERVICE_UNAVAILABLE,
        SnapshotResult::UnknownPublisher => StatusCode::NOT_FOUND,
    }
}

/// `/incidents/P/N` of a declared incident, and whether it is gathered yet.
fn declared_link(
    dashboard: &Dashboard,
    publisher: &str,
    result: &SnapshotResult,
) -> Option<(String, bool)> {
    let SnapshotResult::Declared { incident } = result else {
        return None;
    };
    let href = format!("/incidents/{}/{}", url_part(publisher), url_part(incident));
    let gathered = dashboard
        .fleet()
        .incidents()
        .iter()
        .any(|e| e.publisher == publisher && e.name == *incident);
    Some((href, gathered))
}

#[derive(Template)]
#[template(path = "dashboard/snapshot.html")]
struct SnapshotPage {
    publisher: String,
    publisher_url: String,
    reason: String,
    outcome: &'static str,
    message: String,
    incident: Option<String>,
    href: Option<String>,
    gathered: bool,
}

/// `POST /publishers/{publisher}/snapshot` (the fleet page's button).
pub(crate) async fn form(
    State(dashboard): State<Arc<Dashboard>>,
    Path(publisher): Path<String>,
    headers: HeaderMap,
    Form(form): Form<SnapshotForm>,
) -> Response {
    if !constant_time_eq(form.form_token.as_bytes(), dashboard.form_token.as_bytes()) {
        return Refusal::FormToken.respond(false);
    }
    let reason = form.reason.clone();
    let result = match relay(&dashboard, &headers, publisher.clone(), form.reason).await {
        Ok(result) => result,
        Err(refusal) => return refusal.respond(false),
    };
    let link = declared_link(&dashboard, &publisher, &result);
    let (outcome, message) = describe(&result);
    let page = SnapshotPage {
        incident: match &result {
            SnapshotResult::Declared { incident } => Some(incident.clone()),
            _ => None,
        },
        gathered: link.as_ref().is_some_and(|(_, g)| *g),
        href: link.map(|(h, _)| h),
        publisher_url: url_part(&publisher),
        publisher,
        reason,
        outcome,
        message,
    };
    (status(&result), render(&page)).into_response()
}

/// `POST /api/publishers/{publisher}/snapshot` with `{"reason": "..."}`.
pub(crate) async fn api(
    State(dashboard): State<Arc<Dashboard>>,
    Path(publisher): Path<String>,
    headers: HeaderMap,
    Json(request): Json<SnapshotRequest>,
) -> Response {
    let result = match relay(&dashboard, &headers, publisher.clone(), request.reason).await {
        Ok(result) => result,
        Err(refusal) => return refusal.respond(true),
    };
    let link = declared_link(&dashboard, &publisher, &result);
    let answer = SnapshotJson {
        gathered: link.as_ref().map(|(_, g)| *g),
        href: link.map(|(h, _)| h),
        publisher,
        result: result.clone(),
    };
    (status(&result), Json(answer)).into_response()
}

/// The outcome's name and a sentence for people.
fn describe(result: &SnapshotResult) -> (&'static str, String) {
    match result {
        SnapshotResult::Declared { .. } => (
            "declared",
            "The publisher declared an incident. It is recorded once its trailing window closes, and listed here once the gatherer has fetched it.".to_owned(),
        ),
        SnapshotResult::Joined => (
            "joined",
            "An incident was recording already: the request joined it as another trigger.".to_owned(),
        ),
        SnapshotResult::Suppressed => (
            "suppressed",
            "The publisher's storm control dropped it: too many incidents lately. The next incident's header counts it.".to_owned(),
        ),
        SnapshotResult::Refused { message } => ("refused", format!("The publisher refused: {message}")),
        SnapshotResult::Unreachable { message } => {
            ("unreachable", format!("The publisher could not be asked: {message}"))
        }
        SnapshotResult::NotPossible { message } => ("not-possible", message.clone()),
        SnapshotResult::UnknownPublisher => (
            "unknown-publisher",
            "The gatherer does not gather from a publisher of that id.".to_owned(),
        ),
        SnapshotResult::Unknown => ("unknown", "The publisher answered with an outcome this dashboard does not know.".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn only_requests_from_this_origin_pass() {
        let host = ("host", "127.0.0.1:8080");
        assert!(same_origin(&headers(&[host])));
        assert!(same_origin(&headers(&[host, ("origin", "null")])));
        assert!(same_origin(&headers(&[
            host,
            ("origin", "http://127.0.0.1:8080")
        ])));
        assert!(same_origin(&headers(&[
            host,
            ("sec-fetch-site", "same-origin")
        ])));
        assert!(!same_origin(&headers(&[
            host,
            ("origin", "http://evil.example")
        ])));
        assert!(!same_origin(&headers(&[
            host,
            ("origin", "http://127.0.0.1:8081")
        ])));
        assert!(!same_origin(&headers(&[
            host,
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(!same_origin(&headers(&[
            host,
            ("sec-fetch-site", "same-site")
        ])));
    }
}

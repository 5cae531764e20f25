//! The Atom feeds of new incidents: all of them, and per category.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::pages::{incident_href, url_part};
use super::query::Filter;
use super::{Dashboard, IncidentEntry};

/// Entries per feed: the newest.
const FEED_ENTRIES: usize = 100;

#[derive(Debug)]
struct Entry {
    id: String,
    title: String,
    updated: String,
    publisher: String,
    categories: Vec<String>,
    href: String,
    content: String,
}

#[derive(Template)]
#[template(path = "dashboard/feed.xml")]
struct Feed {
    id: String,
    title: String,
    updated: String,
    self_href: String,
    html_href: String,
    entries: Vec<Entry>,
}

/// `text` without the characters XML 1.0 cannot carry even escaped (most
/// controls): a publisher's text must not make the feed unreadable.
fn xml_text(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            c if (c as u32) < 0x20 || matches!(c, '\u{FFFE}' | '\u{FFFF}') => '\u{FFFD}',
            c => c,
        })
        .collect()
}

impl Entry {
    fn of(e: &IncidentEntry) -> Entry {
        let level = e.level.map(|l| l.to_string()).unwrap_or_default();
        Entry {
            id: xml_text(&format!(
                "urn:flog:incident:{}/{}",
                url_part(&e.publisher),
                url_part(&e.name)
            )),
            title: xml_text(&format!(
                "{} {} {}: {}",
                e.publisher, level, e.facility, e.trigger
            )),
            updated: e.time.to_string(),
            publisher: xml_text(&e.publisher),
            categories: e.categories.iter().map(|c| xml_text(c)).collect(),
            href: incident_href(e),
            content: xml_text(&format!(
                "{}\npublisher: {}\ncategories: {}\nlevel: {level}\nfacility: {}\ntrigger: {}",
                e.name,
                e.publisher,
                e.categories.join(", "),
                e.facility,
                e.trigger
            )),
        }
    }
}

fn feed(dashboard: &Dashboard, category: Option<String>) -> Response {
    let all = dashboard.fleet().incidents();
    let filter = Filter {
        category: category.clone(),
        limit: FEED_ENTRIES,
        ..Filter::default()
    };
    let entries: Vec<Entry> = filter.apply(&all).into_iter().map(Entry::of).collect();
    let updated = filter
        .apply(&all)
        .first()
        .map_or_else(|| dashboard.now(), |e| e.time)
        .to_string();
    let (id, title, self_href, html_href) = match &category {
        None => (
            "urn:flog:gatherer:incidents".to_owned(),
            "New incidents".to_owned(),
            "/feed.atom".to_owned(),
            "/".to_owned(),
        ),
        Some(c) => (
            format!("urn:flog:gatherer:incidents:{}", url_part(c)),
            xml_text(&format!("New {c} incidents")),
            format!("/feed/{}.atom", url_part(c)),
            format!("/?category={}", url_part(c)),
        ),
    };
    let feed = Feed {
        id,
        title,
        updated,
        self_href,
        html_href,
        entries,
    };
    match feed.render() {
        Ok(xml) => (
            [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
            xml,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering the feed failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "rendering the feed failed",
            )
                .into_response()
        }
    }
}

/// `GET /feed.atom`: the newest incidents.
pub(crate) async fn all(State(dashboard): State<Arc<Dashboard>>) -> Response {
    dashboard.fleet().refresh().await;
    feed(&dashboard, None)
}

/// `GET /feed/{category}.atom`: the newest incidents of a category.
pub(crate) async fn category(
    State(dashboard): State<Arc<Dashboard>>,
    Path(file): Path<String>,
) -> Response {
    dashboard.fleet().refresh().await;
    match file.strip_suffix(".atom") {
        Some(category) if !category.is_empty() => feed(&dashboard, Some(category.to_owned())),
        _ => (StatusCode::NOT_FOUND, "feeds are /feed/CATEGORY.atom").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_xml_cannot_carry_are_replaced() {
        assert_eq!(xml_text("a\u{1}b\tc\n"), "a\u{FFFD}b\tc\n");
    }
}

//! The HTML pages: the file list, a file's summary, and the events page (whose
//! rows the page's script fetches from `events.json`).

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use flog_core::{Level, Timestamp};

use crate::rows::level_class;
use crate::summary::{LevelCount, Summary};
use crate::view::Order;
use crate::viewer::{Viewer, ViewerError};

/// A time the page shows: microseconds for the script (which renders UTC or
/// local time), UTC text for everything else.
#[derive(Debug)]
pub(crate) struct Time {
    pub(crate) us: i64,
    pub(crate) utc: String,
}

impl Time {
    pub(crate) fn of(us: Option<i64>) -> Option<Time> {
        us.map(|us| Time {
            us,
            utc: Timestamp(us).to_string(),
        })
    }
}

/// A level with its colour class.
#[derive(Debug)]
struct LevelLink<'a> {
    level: u16,
    name: &'a str,
    count: usize,
    class: &'static str,
}

fn level_links(levels: &[LevelCount]) -> Vec<LevelLink<'_>> {
    levels
        .iter()
        .map(|l| LevelLink {
            level: l.level,
            name: &l.name,
            count: l.count,
            class: level_class(Level(l.level)),
        })
        .collect()
}

#[derive(Debug)]
struct IndexFile {
    id: usize,
    label: String,
    kind: String,
    events: usize,
    first: Option<Time>,
    last: Option<Time>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage<'a> {
    base: &'a str,
    files: Vec<IndexFile>,
}

#[derive(Template)]
#[template(path = "summary.html")]
struct SummaryPage<'a> {
    base: &'a str,
    id: usize,
    title: String,
    kind: String,
    covering: String,
    is_incident: bool,
    started: Option<Time>,
    first: Option<Time>,
    last: Option<Time>,
    finished: Option<Time>,
    levels: Vec<LevelLink<'a>>,
    s: &'a Summary,
}

#[derive(Template)]
#[template(path = "events.html")]
struct EventsPage<'a> {
    base: &'a str,
    id: usize,
    label: &'a str,
    default_sort: &'static str,
    events: usize,
    levels: Vec<LevelLink<'a>>,
    origins: &'a [String],
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    base: &'a str,
    title: &'a str,
    message: String,
}

pub(crate) fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "rendering the page failed",
            )
                .into_response()
        }
    }
}

/// An error as a page, with the status it deserves.
pub(crate) fn error_page(viewer: &Viewer, error: &ViewerError) -> Response {
    let (status, title) = match error {
        ViewerError::UnknownFile(_) => (StatusCode::NOT_FOUND, "No such file"),
        ViewerError::Read { .. } | ViewerError::Crashed { .. } => {
            (StatusCode::INTERNAL_SERVER_ERROR, "Cannot read the file")
        }
    };
    let page = ErrorPage {
        base: viewer.base(),
        title,
        message: error.to_string(),
    };
    (status, render(&page)).into_response()
}

/// `GET /`: the files; a viewer of one file goes straight to its summary.
pub(crate) async fn index(State(viewer): State<Arc<Viewer>>) -> Response {
    if viewer.len() == 1 {
        return Redirect::to(&format!("{}/files/0", viewer.base())).into_response();
    }
    let mut files = Vec::new();
    for id in 0..viewer.len() {
        let label = viewer.label(id).unwrap_or_default();
        let entry = match viewer.file(id).await {
            Ok(loaded) => {
                let s = Summary::of(&loaded.file);
                IndexFile {
                    id,
                    label,
                    kind: s.kind.clone().unwrap_or_else(|| "(no header)".into()),
                    events: s.events,
                    first: Time::of(s.first_us),
                    last: Time::of(s.last_us),
                    error: None,
                }
            }
            Err(e) => IndexFile {
                id,
                label,
                kind: String::new(),
                events: 0,
                first: None,
                last: None,
                error: Some(e.to_string()),
            },
        };
        files.push(entry);
    }
    render(&IndexPage {
        base: viewer.base(),
        files,
    })
}

/// `GET /files/{id}`: the summary page.
pub(crate) async fn summary(State(viewer): State<Arc<Viewer>>, Path(id): Path<usize>) -> Response {
    let loaded = match viewer.file(id).await {
        Ok(loaded) => loaded,
        Err(e) => return error_page(&viewer, &e),
    };
    let s = Summary::of(&loaded.file);
    let kind = s.kind.clone().unwrap_or_else(|| "no header".into());
    let title = match (&s.name, s.kind.as_deref()) {
        (Some(name), _) => name.clone(),
        (None, Some(kind)) if !kind.is_empty() => format!("A {kind} file"),
        _ => "A flogfile".into(),
    };
    let page = SummaryPage {
        base: viewer.base(),
        id,
        title,
        kind,
        // Incidents often span milliseconds: show them.
        covering: if s.covering_seconds < 10.0 {
            format!("{:.6}", s.covering_seconds)
        } else {
            format!("{:.3}", s.covering_seconds)
        },
        is_incident: loaded.file.is_incident(),
        started: Time::of(s.started_us),
        first: Time::of(s.first_us),
        last: Time::of(s.last_us),
        finished: Time::of(s.trailer.as_ref().and_then(|t| t.finished_us)),
        levels: level_links(&s.levels),
        s: &s,
    };
    render(&page)
}

/// `GET /files/{id}/events`: the events page.
pub(crate) async fn events(State(viewer): State<Arc<Viewer>>, Path(id): Path<usize>) -> Response {
    let loaded = match viewer.file(id).await {
        Ok(loaded) => loaded,
        Err(e) => return error_page(&viewer, &e),
    };
    let file = &loaded.file;
    let s = Summary::of(file);
    let page = EventsPage {
        base: viewer.base(),
        id,
        label: &file.label,
        default_sort: Order::default_for(file).name(),
        events: file.contents.events.len(),
        levels: level_links(&s.levels),
        origins: file.origin_names(),
    };
    render(&page)
}

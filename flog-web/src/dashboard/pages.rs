//! The dashboard's HTML pages: the fleet with recent incidents, and trends.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::query::IncidentQuery;
use super::trends::{Bucket, Chart, Trends, CHART_HEIGHT, CHART_WIDTH};
use super::{
    Contact, Dashboard, IncidentEntry, PublisherStatus, SharedBucket, SpoolCounts, VIEW_BASE,
};
use crate::pages::{render, Time};
use crate::rows::level_class;

/// A path segment or query value with everything but unreserved characters
/// percent-encoded, so that a hostile id cannot change the link's shape.
pub(crate) fn url_part(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Debug)]
struct PublisherRow {
    id: String,
    id_url: String,
    broken: bool,
    state: &'static str,
    contact: &'static str,
    last_poll: Option<Time>,
    took: Option<String>,
    error: Option<String>,
    error_at: Option<Time>,
    incidents: usize,
    /// `held by g-...`, `held by g-... (expired)`, `no lease`.
    lease: String,
    latest: String,
}

impl PublisherRow {
    fn of(p: PublisherStatus) -> PublisherRow {
        PublisherRow {
            id_url: url_part(&p.id),
            broken: p.is_broken(),
            state: match (p.local, p.connected, p.failing) {
                (false, _, _) => "in the bucket",
                (true, _, true) => "failing",
                (true, true, false) => "connected",
                (true, false, false) => "not connected",
            },
            lease: match &p.lease {
                Some(lease) if lease.expired => format!("held by {} (expired)", lease.holder),
                Some(lease) => format!("held by {}", lease.holder),
                None => "no lease".to_owned(),
            },
            latest: p.latest.clone().unwrap_or_default(),
            contact: match p.contact {
                Contact::Polled => "polled",
                Contact::DialIn => "dial-in",
            },
            last_poll: Time::of(p.last_poll.map(|t| t.0)),
            took: p
                .last_poll_duration
                .map(|d| format!("{:.3} s", d.as_secs_f64())),
            error: p.last_error,
            error_at: Time::of(p.last_error_at.map(|t| t.0)),
            incidents: p.incidents,
            id: p.id,
        }
    }
}

#[derive(Debug)]
struct IncidentRow {
    href: String,
    publisher: String,
    name: String,
    time: Time,
    categories: Vec<(String, String)>,
    level: String,
    level_class: &'static str,
    facility: String,
    trigger: String,
}

impl IncidentRow {
    fn of(e: &IncidentEntry) -> IncidentRow {
        IncidentRow {
            href: incident_href(e),
            publisher: e.publisher.clone(),
            name: e.name.clone(),
            time: Time {
                us: e.time.0,
                utc: e.time.to_string(),
            },
            categories: e
                .categories
                .iter()
                .map(|c| (c.clone(), url_part(c)))
                .collect(),
            level: e.level.map(|l| l.to_string()).unwrap_or_default(),
            level_class: e.level.map(level_class).unwrap_or(""),
            facility: e.facility.clone(),
            trigger: e.trigger.clone(),
        }
    }
}

/// Where an incident opens: `/incidents/PUBLISHER/NAME`.
pub(crate) fn incident_href(e: &IncidentEntry) -> String {
    format!(
        "/incidents/{}/{}",
        url_part(&e.publisher),
        url_part(&e.name)
    )
}

/// What the fleet page's "record an incident now" forms carry.
#[derive(Debug)]
struct SnapshotFormView {
    token: String,
    max_reason: usize,
}

/// The shared bucket's part of the fleet page.
#[derive(Debug)]
struct BucketView {
    bucket: String,
    read_at: Option<Time>,
    /// "bucket unreachable since ..., showing data from ...".
    unreachable: Option<(Time, String, Option<Time>)>,
    gatherers: Vec<GathererRow>,
    not_shown: super::NotShown,
}

#[derive(Debug)]
struct GathererRow {
    id: String,
    expires: Option<Time>,
    live: bool,
    this: bool,
}

impl BucketView {
    fn of(b: SharedBucket) -> BucketView {
        let time = |t: flog_core::Timestamp| Time {
            us: t.0,
            utc: t.to_string(),
        };
        BucketView {
            read_at: b.read_at.map(time),
            unreachable: b
                .unreachable
                .map(|u| (time(u.since), u.error, b.read_at.map(time))),
            gatherers: b
                .gatherers
                .into_iter()
                .map(|g| GathererRow {
                    expires: g.expires.map(time),
                    live: g.live,
                    this: g.this,
                    id: g.id,
                })
                .collect(),
            not_shown: b.not_shown,
            bucket: b.bucket,
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/fleet.html")]
struct FleetPage {
    bucket: Option<BucketView>,
    spool: Option<SpoolCounts>,
    snapshot_form: Option<SnapshotFormView>,
    publishers: Vec<PublisherRow>,
    categories: Vec<String>,
    publisher: String,
    category: String,
    since: String,
    until: String,
    problem: Option<String>,
    incidents: Vec<IncidentRow>,
}

/// `GET /`: the publishers, broken first, and the recent incidents.
pub(crate) async fn fleet(
    State(dashboard): State<Arc<Dashboard>>,
    Query(query): Query<IncidentQuery>,
) -> Response {
    dashboard.fleet().refresh().await;
    let all = dashboard.fleet().incidents();
    let mut categories: Vec<String> = all
        .iter()
        .flat_map(|e| e.categories.iter().cloned())
        .collect();
    categories.sort();
    categories.dedup();
    let (incidents, problem, status) = match query.filter() {
        Ok(filter) => (
            filter
                .apply(&all)
                .into_iter()
                .map(IncidentRow::of)
                .collect(),
            None,
            StatusCode::OK,
        ),
        Err(problem) => (
            Vec::new(),
            Some(problem.to_string()),
            StatusCode::BAD_REQUEST,
        ),
    };
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let page = FleetPage {
        bucket: dashboard.fleet().shared_bucket().map(BucketView::of),
        spool: dashboard.fleet().figures().spool,
        snapshot_form: dashboard.snapshots.as_ref().map(|relay| SnapshotFormView {
            token: dashboard.form_token.clone(),
            max_reason: relay.max_reason(),
        }),
        publishers: dashboard
            .publishers_sorted()
            .into_iter()
            .map(PublisherRow::of)
            .collect(),
        categories,
        publisher: text(&query.publisher),
        category: text(&query.category),
        since: text(&query.since),
        until: text(&query.until),
        problem,
        incidents,
    };
    (status, render(&page)).into_response()
}

/// The query of the trends: `?bucket=hour|day`.
#[derive(Debug, Deserialize)]
pub(crate) struct TrendsQuery {
    #[serde(default)]
    pub(crate) bucket: Bucket,
}

#[derive(Debug)]
struct ChartView {
    category: String,
    category_url: String,
    total: u64,
    max: u32,
    bars: Vec<super::trends::Bar>,
}

impl ChartView {
    fn of(c: Chart) -> ChartView {
        ChartView {
            category_url: url_part(&c.category),
            category: c.category,
            total: c.total,
            max: c.max,
            bars: c.bars,
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/trends.html")]
struct TrendsPage {
    unit: &'static str,
    from: String,
    to: String,
    width: u32,
    height: u32,
    bar_width: u32,
    charts: Vec<ChartView>,
}

/// `GET /trends`: a bar chart per category, drawn here as SVG.
pub(crate) async fn trends(
    State(dashboard): State<Arc<Dashboard>>,
    Query(query): Query<TrendsQuery>,
) -> Response {
    dashboard.fleet().refresh().await;
    let trends = Trends::count(
        &dashboard.fleet().incidents(),
        query.bucket,
        dashboard.now(),
    );
    let last = trends.starts.last().copied().unwrap_or(trends.start);
    let page = TrendsPage {
        unit: match query.bucket {
            Bucket::Hour => "hour",
            Bucket::Day => "day",
        },
        from: trends.label(trends.start),
        to: trends.label(last),
        width: CHART_WIDTH,
        height: CHART_HEIGHT,
        bar_width: trends.bar_width(),
        charts: trends.charts().into_iter().map(ChartView::of).collect(),
    };
    render(&page)
}

/// `GET /incidents/{publisher}/{name}`: the incident in the viewer.
pub(crate) async fn open_incident(
    State(dashboard): State<Arc<Dashboard>>,
    Path((publisher, name)): Path<(String, String)>,
) -> Response {
    let all = dashboard.fleet().incidents();
    let Some(entry) = all
        .iter()
        .find(|e| e.publisher == publisher && e.name == name)
    else {
        // A just-declared incident is here once the gatherer fetched it.
        return (
            StatusCode::NOT_FOUND,
            "no such incident has been gathered (yet): one just declared is listed once the gatherer has fetched it",
        )
            .into_response();
    };
    let id = dashboard.open(entry);
    Redirect::to(&format!("{VIEW_BASE}/files/{id}/events")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fleet_page_shows_the_bucket_its_notice_what_was_left_out_and_the_spool() {
        use super::super::{BucketUnreachable, GathererStatus, LeaseStatus, NotShown};
        use flog_core::Timestamp;
        let bucket = SharedBucket {
            bucket: "s3://flog/fleet".into(),
            this_gatherer: Some("g-1".into()),
            read_at: Some(Timestamp(1_000_000)),
            unreachable: Some(BucketUnreachable {
                since: Timestamp(2_000_000),
                error: "<refused>".into(),
            }),
            gatherers: vec![
                GathererStatus {
                    id: "g-1".into(),
                    expires: Some(Timestamp(9_000_000)),
                    live: true,
                    this: true,
                },
                GathererStatus {
                    id: "g-<2>".into(),
                    expires: None,
                    live: false,
                    this: false,
                },
            ],
            not_shown: NotShown {
                gatherers: 0,
                publishers: 3,
                incidents: 7,
            },
        };
        let mut held = PublisherStatus::in_bucket("web-9");
        held.lease = Some(LeaseStatus {
            holder: "g-1".into(),
            expires: Timestamp(9_000_000),
            expired: false,
        });
        let page = FleetPage {
            bucket: Some(BucketView::of(bucket)),
            spool: Some(SpoolCounts {
                files: 2,
                bytes: 300,
                limit: 1000,
                full: true,
                uploaded_files: 5,
                uploaded_bytes: 900,
            }),
            snapshot_form: None,
            publishers: vec![PublisherRow::of(held)],
            categories: Vec::new(),
            publisher: String::new(),
            category: String::new(),
            since: String::new(),
            until: String::new(),
            problem: None,
            incidents: Vec::new(),
        };
        let html = page.render().unwrap();
        for expected in [
            "bucket unreachable since <time data-us=\"2000000\">",
            "(&#60;refused&#62;), showing data from <time data-us=\"1000000\">",
            "g-1 (this gatherer)",
            "data-gatherer=\"g-&#60;2&#62;\" data-live=\"false\"",
            "3 more publishers not shown.",
            "7 more incidents (the oldest) not shown.",
            "2 files, 300 bytes waiting (of 1000), <strong class=\"error\">full</strong>; 5 files, 900 bytes uploaded",
            "<td class=\"state\">in the bucket</td>",
            "<td class=\"lease\">held by g-1</td>",
        ] {
            assert!(html.contains(expected), "{expected} not in {html}");
        }
        assert!(!html.contains("<refused>"));
    }

    #[test]
    fn url_parts_keep_only_unreserved_characters() {
        assert_eq!(url_part("web-1.a_b~"), "web-1.a_b~");
        assert_eq!(url_part("a/b?c=<d>"), "a%2Fb%3Fc%3D%3Cd%3E");
        assert_eq!(url_part("é"), "%C3%A9");
    }
}

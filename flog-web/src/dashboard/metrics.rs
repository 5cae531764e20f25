//! Prometheus text metrics (the text exposition format, version 0.0.4).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::Dashboard;

/// A label value as the format wants it: backslash, quote and newline escaped.
fn label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// The metrics text of `dashboard`'s fleet now.
pub(crate) fn render(dashboard: &Dashboard) -> String {
    let mut out = String::new();
    let mut stored: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    let incidents = dashboard.fleet().incidents();
    for e in incidents.iter() {
        for c in &e.categories {
            *stored.entry((&e.publisher, c)).or_default() += 1;
        }
    }
    family(
        &mut out,
        "flog_gatherer_incidents_stored",
        "gauge",
        "Incidents stored, by publisher and category (one incident counts in each of its categories).",
    );
    for ((publisher, category), n) in &stored {
        let _ = writeln!(
            out,
            "flog_gatherer_incidents_stored{{publisher=\"{}\",category=\"{}\"}} {n}",
            label(publisher),
            label(category)
        );
    }
    let publishers = dashboard.publishers_sorted();
    let mut each =
        |name: &str, kind: &str, help: &str, value: &dyn Fn(&super::PublisherStatus) -> String| {
            family(&mut out, name, kind, help);
            for p in &publishers {
                let _ = writeln!(out, "{name}{{publisher=\"{}\"}} {}", label(&p.id), value(p));
            }
        };
    each(
        "flog_gatherer_publisher_connected",
        "gauge",
        "1 while a connection to the publisher is open.",
        &|p| u8::from(p.connected).to_string(),
    );
    each(
        "flog_gatherer_fetch_failures_total",
        "counter",
        "Failed attempts to reach or poll the publisher since the gatherer started.",
        &|p| p.failures.to_string(),
    );
    each(
        "flog_gatherer_poll_duration_seconds_sum",
        "counter",
        "Time taken by the successful poll rounds, in all.",
        &|p| p.poll_time.as_secs_f64().to_string(),
    );
    each(
        "flog_gatherer_poll_duration_seconds_count",
        "counter",
        "Successful poll rounds since the gatherer started.",
        &|p| p.polls.to_string(),
    );
    each(
        "flog_gatherer_last_poll_duration_seconds",
        "gauge",
        "Time taken by the last successful poll round (NaN before the first).",
        &|p| {
            p.last_poll_duration
                .map_or_else(|| "NaN".to_owned(), |d| d.as_secs_f64().to_string())
        },
    );
    each(
        "flog_gatherer_last_poll_timestamp_seconds",
        "gauge",
        "When the last poll round succeeded, in seconds since the epoch (NaN before the first).",
        &|p| {
            p.last_poll
                .map_or_else(|| "NaN".to_owned(), |t| (t.0 as f64 / 1e6).to_string())
        },
    );
    let figures = dashboard.fleet().figures();
    let mut events = |name: &str, help: &str, value: &dyn Fn(&super::EventCounts) -> u64| {
        family(&mut out, name, "counter", help);
        for (publisher, counts) in &figures.events {
            let _ = writeln!(
                out,
                "{name}{{publisher=\"{}\"}} {}",
                label(publisher),
                value(counts)
            );
        }
    };
    events(
        "flog_gatherer_events_gathered_total",
        "Events of the publisher written to the gathered event files since the gatherer started.",
        &|c| c.events,
    );
    events(
        "flog_gatherer_event_gaps_total",
        "Gap records written for the publisher since the gatherer started (runs of events not gathered).",
        &|c| c.gaps,
    );
    events(
        "flog_gatherer_events_missing_total",
        "Events of the publisher that those gaps cover.",
        &|c| c.missing,
    );
    if let Some(spool) = figures.spool {
        spool_metrics(&mut out, &spool);
    }
    if let Some(bucket) = dashboard.fleet().shared_bucket() {
        family(
            &mut out,
            "flog_gatherer_bucket_gatherers_live",
            "gauge",
            "Gatherers of the shared bucket whose heartbeat had not run out when it was last read.",
        );
        let live = bucket.gatherers.iter().filter(|g| g.live).count();
        let _ = writeln!(out, "flog_gatherer_bucket_gatherers_live {live}");
        family(
            &mut out,
            "flog_gatherer_bucket_unreachable",
            "gauge",
            "1 while the shared bucket cannot be read (the dashboard shows its last read).",
        );
        let down = u8::from(bucket.unreachable.is_some());
        let _ = writeln!(out, "flog_gatherer_bucket_unreachable {down}");
    }
    family(
        &mut out,
        "flog_gatherer_dashboard_updates_dropped_total",
        "counter",
        "Updates of the dashboard dropped because its queue was full (it then re-read the stored incidents).",
    );
    let _ = writeln!(
        out,
        "flog_gatherer_dashboard_updates_dropped_total {}",
        figures.dropped_updates
    );
    out
}

/// The event spool's figures (`storage = "s3"` with `[events]`).
fn spool_metrics(out: &mut String, spool: &super::SpoolCounts) {
    let rows: [(&str, &str, &str, u64); 6] = [
        (
            "flog_gatherer_spool_files",
            "gauge",
            "Closed event files waiting in the spool for upload to the bucket.",
            spool.files,
        ),
        (
            "flog_gatherer_spool_bytes",
            "gauge",
            "Their bytes.",
            spool.bytes,
        ),
        (
            "flog_gatherer_spool_limit_bytes",
            "gauge",
            "spool_bytes: past it the spool is full.",
            spool.limit,
        ),
        (
            "flog_gatherer_spool_full",
            "gauge",
            "1 while the spool is full (events are counted as not_written gaps, not written).",
            u64::from(spool.full),
        ),
        (
            "flog_gatherer_spool_uploaded_files_total",
            "counter",
            "Event files uploaded to the bucket since the gatherer started.",
            spool.uploaded_files,
        ),
        (
            "flog_gatherer_spool_uploaded_bytes_total",
            "counter",
            "Their bytes.",
            spool.uploaded_bytes,
        ),
    ];
    for (name, kind, help, value) in rows {
        family(out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    }
}

/// `GET /metrics`.
pub(crate) async fn metrics(State(dashboard): State<Arc<Dashboard>>) -> impl IntoResponse {
    dashboard.fleet().refresh().await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&dashboard),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}

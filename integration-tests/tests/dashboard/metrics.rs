//! The event gatherer's figures in `/metrics`, against what a real event
//! gathering run wrote to its files: events gathered and gaps, per
//! publisher; and a full dashboard queue dropping (and counting) updates
//! without losing a stored incident.

use flog_core::flogfile::Record;
use flog_core::Level;

use super::*;
use crate::gatherer::events::{
    events_config, gaps, gathered, log, test_events, wait_for_files, FACILITY,
};
use crate::gatherer::Service;

/// The value of the metrics line that starts with `series`.
fn value(metrics: &str, series: &str) -> Option<u64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Received events of `id` in `records`.
fn received(records: &[Record], id: &str) -> u64 {
    records
        .iter()
        .filter(|r| matches!(r, Record::Received(e) if e.receipt.from == id))
        .count() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_count_the_events_and_gaps_the_event_gatherer_wrote() {
    let base = tempfile::tempdir().unwrap();
    let basedir = base.path();
    let service = Service::start().await;
    service
        .logger
        .set_facility_buffer_size(FACILITY, Level::OPERATIONAL, 10);
    let id = service.id();
    let mut config = events_config("[events]\ncompress = false\n");
    config.publishers.push(service.url().clone());

    // A first run gathers 5; 50 more are logged while none runs, of which
    // the publisher keeps 10: the second run writes a gap of 40.
    let running = Running::start(basedir, config.clone());
    let first: Vec<u64> = (0..5)
        .map(|_| log(&service, Level::OPERATIONAL, FACILITY, "a".into()))
        .collect();
    wait_for_files(basedir, "the first 5", |r| {
        test_events(r).get(&id) == Some(&first)
    })
    .await;
    running.stop().await;
    let before = received(&gathered(basedir), &id);
    let down: Vec<u64> = (0..50)
        .map(|_| log(&service, Level::OPERATIONAL, FACILITY, "b".into()))
        .collect();

    let (running, served) = gather_with_full_dashboard(basedir, config).await;
    let kept: Vec<u64> = first.iter().chain(&down[40..]).copied().collect();
    wait_for_files(basedir, "the buffered 10", |r| {
        test_events(r).get(&id) == Some(&kept)
    })
    .await;
    running.stop().await;
    // The figures outlive the run; the dashboard still serves them.
    let records = gathered(basedir);
    let written = received(&records, &id) - before;
    assert!(written >= 10, "{written}");
    let gaps = gaps(&records);
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    let metrics = served.get("/metrics").await.text();
    let series = |name: &str| format!("{name}{{publisher=\"{id}\"}}");
    assert_eq!(
        value(&metrics, &series("flog_gatherer_events_gathered_total")),
        Some(written),
        "{metrics}"
    );
    assert_eq!(
        value(&metrics, &series("flog_gatherer_event_gaps_total")),
        Some(1),
        "{metrics}"
    );
    assert_eq!(
        value(&metrics, &series("flog_gatherer_events_missing_total")),
        Some(40),
        "{metrics}"
    );
    assert!(metrics.contains("# TYPE flog_gatherer_events_gathered_total counter"));
    assert_eq!(
        value(&metrics, "flog_gatherer_dashboard_updates_dropped_total"),
        Some(0)
    );
    served.stop().await;
}

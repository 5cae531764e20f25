//! Event gathering end to end: real loggers and publishers on loopback, the
//! gatherer library writing `BASEDIR/events/`, read back with flog-core's
//! reader: origins, arrival order, levels, restarts of either side with no
//! duplicate and no unmarked loss, and gaps with their exact counts.

use std::collections::BTreeMap;

use flog_core::{
    flogfile::{FlogReader, GapReason, Record},
    Level,
};

use super::*;

pub(crate) const FACILITY: &str = "app.test";

/// A quick config gathering events as `events` (an `[events]` section) says.
pub(crate) fn events_config(events: &str) -> Config {
    let mut config = quick_config();
    config.events = Config::from_toml(events, "gatherer.toml").unwrap().events;
    assert!(config.events.is_some());
    config
}

/// Logs an event; its number, `None` below the logger's threshold.
fn try_log(service: &Service, level: Level, facility: &'static str, text: String) -> Option<u64> {
    service
        .logger
        .event(level)
        .facility(facility)
        .message(text)
        .emit()
}

pub(crate) fn log(service: &Service, level: Level, facility: &'static str, text: String) -> u64 {
    try_log(service, level, facility, text).expect("at or above the threshold")
}

/// Every record of every gathered file, files in name (time) order.
pub(crate) fn gathered(basedir: &Path) -> Vec<Record> {
    let dir = basedir.join(flog_gatherer::EVENTS_DIR);
    // Not there before the gatherer's start made it.
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("from-"))
        .collect();
    names.sort();
    let mut records = Vec::new();
    for name in names {
        let Ok(reader) = FlogReader::open(&dir.join(&name)) else {
            continue;
        };
        // The current file may end inside a record being written.
        records.extend(reader.map_while(Result::ok));
    }
    records
}

/// The test events (`app.test`) of each publisher, by event number, in file
/// order.
pub(crate) fn test_events(records: &[Record]) -> BTreeMap<String, Vec<u64>> {
    let mut by = BTreeMap::<String, Vec<u64>>::new();
    for record in records {
        if let Record::Received(r) = record {
            if r.event.facility.as_deref() == Some(FACILITY) {
                by.entry(r.receipt.from.clone())
                    .or_default()
                    .push(r.event.num);
            }
        }
    }
    by
}

/// Polls the files until `done` holds of their records.
pub(crate) async fn wait_for_files(
    basedir: &Path,
    what: &str,
    done: impl Fn(&[Record]) -> bool,
) -> Vec<Record> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let records = gathered(basedir);
        if done(&records) {
            return records;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited in vain for {what}; the files hold {records:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) fn gaps(records: &[Record]) -> Vec<&flog_core::flogfile::Gap> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Gap(g) => Some(&**g),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_three_publishers_land_in_arrival_order_with_origins() {
    let base = tempfile::tempdir().unwrap();
    let services = [
        Service::start().await,
        Service::start().await,
        Service::start().await,
    ];
    let mut config = events_config(
        "[events]\n[[events.level]]\nfacility = \"app.noise\"\nmin_level = \"WEIRD\"\n",
    );
    config.publishers = services.iter().map(|s| s.url().clone()).collect();
    // Some before the gatherer starts (its catch-up brings them), some after.
    let mut logged = BTreeMap::<String, Vec<u64>>::new();
    for round in 0..20 {
        for service in &services {
            let num = log(service, Level::OPERATIONAL, FACILITY, format!("r{round}"));
            logged.entry(service.id()).or_default().push(num);
            service.logger.set_threshold(Level::NOISY);
            try_log(service, Level::NOISY, "app.noise", "chatter".into());
        }
    }
    let running = Running::start(base.path(), config);
    for round in 20..60 {
        for service in &services {
            let num = log(service, Level::OPERATIONAL, FACILITY, format!("r{round}"));
            logged.entry(service.id()).or_default().push(num);
        }
    }
    let records = wait_for_files(base.path(), "every test event", |records| {
        test_events(records) == logged
    })
    .await;
    // Each publisher's events in the order it logged them, each once, each
    // with its origin (the map's keys); the noise below WEIRD was left out.
    let noise = records.iter().any(
        |r| matches!(r, Record::Received(r) if r.event.facility.as_deref() == Some("app.noise")),
    );
    assert!(!noise, "app.noise is below its min_level");
    // Each publisher's incarnation is marked before its first event.
    for service in &services {
        let id = service.id();
        let marker = records.iter().position(|r| {
            matches!(r, Record::IncarnationChange(c) if c.from == id
                && c.incarnation == service.logger.incarnation().to_string())
        });
        let first = records
            .iter()
            .position(|r| matches!(r, Record::Received(r) if r.receipt.from == id));
        assert!(
            marker.is_some() && marker < first,
            "{id}: {marker:?} {first:?}"
        );
    }
    assert!(gaps(&records).is_empty(), "{:?}", gaps(&records));
    let Record::Header(header) = &records[0] else {
        panic!("{:?}", records[0])
    };
    assert_eq!(header.kind, Some(flog_core::flogfile::HeaderKind::Gathered));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_of_publisher_and_gatherer_lose_nothing_unmarked_and_repeat_nothing() {
    let base = tempfile::tempdir().unwrap();
    let basedir = base.path();
    let mut service = Service::start().await;
    let id = service.id();
    drop_url_file(basedir, "service.url", service.url());
    let config = || events_config("[events]\n");
    let mut logged = Vec::new();
    let mut log_some = |service: &Service, n: usize| {
        for _ in 0..n {
            logged.push(log(service, Level::OPERATIONAL, FACILITY, "x".into()));
        }
        logged.clone()
    };

    let running = Running::start(basedir, config());
    let want = log_some(&service, 30);
    let holds = |want: &Vec<u64>| {
        let want = want.clone();
        let id = id.clone();
        move |records: &[Record]| test_events(records).get(&id) == Some(&want)
    };
    wait_for_files(basedir, "the first 30", holds(&want)).await;

    // The publisher restarts on another port (the same logger: the same
    // incarnation); the events logged meanwhile come with the catch-up.
    service.stop().await;
    log_some(&service, 20);
    service.restart().await;
    drop_url_file(basedir, "service.url", service.url());
    let want = log_some(&service, 10);
    wait_for_files(basedir, "the next 30", holds(&want)).await;

    // The gatherer restarts; what was logged meanwhile is still buffered.
    running.stop().await;
    let want = log_some(&service, 40);
    let running = Running::start(basedir, config());
    let want = {
        let _ = want;
        log_some(&service, 5)
    };
    let records = wait_for_files(basedir, "all 105", holds(&want)).await;
    assert_eq!(test_events(&records)[&id].len(), 105);
    assert!(gaps(&records).is_empty(), "{:?}", gaps(&records));
    let markers = records
        .iter()
        .filter(|r| matches!(r, Record::IncarnationChange(_)))
        .count();
    assert_eq!(markers, 1, "one incarnation, marked once");
    running.stop().await;

    // The first run's file was closed on shutdown, the second's too.
    let names: Vec<String> = fs::read_dir(basedir.join(flog_gatherer::EVENTS_DIR))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("from-"))
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().all(|n| !n.contains("present")), "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_no_longer_buffered_are_a_gap_with_the_exact_count() {
    let base = tempfile::tempdir().unwrap();
    let basedir = base.path();
    let service = Service::start().await;
    service
        .logger
        .set_facility_buffer_size(FACILITY, Level::OPERATIONAL, 10);
    let id = service.id();
    let mut config = events_config("[events]\ncompress = false\n");
    config.publishers.push(service.url().clone());

    let running = Running::start(basedir, config.clone());
    let first: Vec<u64> = (0..5)
        .map(|_| log(&service, Level::OPERATIONAL, FACILITY, "a".into()))
        .collect();
    wait_for_files(basedir, "the first 5", |r| {
        test_events(r).get(&id) == Some(&first)
    })
    .await;
    running.stop().await;

    // 50 while no gatherer runs: the buffer keeps the last 10.
    let down: Vec<u64> = (0..50)
        .map(|_| log(&service, Level::OPERATIONAL, FACILITY, "b".into()))
        .collect();
    let running = Running::start(basedir, config);
    let kept: Vec<u64> = first.iter().chain(&down[40..]).copied().collect();
    wait_for_files(basedir, "the buffered 10", |r| {
        test_events(r).get(&id) == Some(&kept)
    })
    .await;
    running.stop().await;
    let records = gathered(basedir);
    let gaps = gaps(&records);
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    let gap = gaps[0];
    assert_eq!(gap.count, 40);
    assert_eq!((gap.first, gap.last), (Some(down[0]), Some(down[39])));
    assert_eq!(gap.reason, GapReason::NotBuffered);
    assert_eq!(gap.from, id);
}

//! Hostile publishers against the daemon: what they push and list must not
//! decide how much memory, log or CPU the gatherer uses, nor slow down an
//! honest publisher.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::support::fake::{incident_file, listing, FakePublisher, Gate, Pushes, Script, Served};
use crate::support::{add_publisher, cpu_time, create, eventually, memory, Daemon, Service};

const MIB: u64 = 1024 * 1024;

/// Issue 9, item 7: notices were queued by count (16,384 of them), not by
/// size: while one fetch dripped, 200 notices with 4 MiB triggers took the
/// gatherer from 7 to 811 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_pushed_while_a_fetch_is_held_take_bounded_memory() {
    let name = "incident-1-dripping";
    let served = Served::with_bytes(name, incident_file(name, 100_000));
    let gate = Gate::new();
    let script = Script {
        incidents: vec![served],
        fetch_gate: Some(gate.clone()),
        pushes: Some(Pushes {
            count: 200,
            trigger_size: 4 * MIB as usize,
            every: Duration::from_millis(1),
        }),
        ..Script::default()
    };
    let fake = FakePublisher::start("pusher", script).await;
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path().join("g");
    create(&basedir, &[("poll_interval", "\"100ms\"")]);
    add_publisher(&basedir, "pusher.url", &fake.url());
    let mut daemon = Daemon::start(&basedir);
    daemon.wait_line(&["connected to", "pusher"]);
    let (before, _) = memory(daemon.pid());

    eventually("every notice pushed while the fetch is held", || {
        fake.stats.held_fetches.load(Ordering::SeqCst) >= 1
            && fake.stats.pushed.load(Ordering::SeqCst) == 200
    });
    gate.open();
    // The rest of the fetch follows the notices on the connection: once it
    // is stored, every notice was read.
    daemon.wait_line(&["fetched incident", name]);
    let (after, peak) = memory(daemon.pid());
    println!(
        "200 notices of 4 MiB during a held fetch: RSS {before} KiB before, {after} KiB after, peak {peak} KiB"
    );
    assert!(
        peak < before + 64 * 1024,
        "RSS {before} KiB before, peak {peak} KiB"
    );
    assert_eq!(daemon.stop().code(), Some(0));
}

/// Issue 9, item 8: a page of refused names far longer than the `limit`
/// asked, and a notice every few milliseconds, made a WARN line per name
/// per round and a round per notice: hundreds of megabytes of log, most of
/// a core, and an honest publisher's incidents seconds late.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_listing_floods_neither_the_log_nor_the_cpu() {
    let notices = Some(Pushes {
        count: usize::MAX,
        trigger_size: 16,
        every: Duration::from_millis(5),
    });
    let bad_names = |count: usize| -> Vec<_> {
        (0..count)
            .map(|i| listing(&format!("../bad-{i:06}"), 10))
            .collect()
    };
    // Far more than the page size asked for.
    let flood = FakePublisher::start(
        "flood",
        Script {
            also_listed: bad_names(20_000),
            ignore_query: true,
            pushes: notices.clone(),
            ..Script::default()
        },
    )
    .await;
    // As many as asked, all refused, at every round.
    let noisy = FakePublisher::start(
        "noisy",
        Script {
            also_listed: bad_names(100),
            ignore_query: true,
            pushes: notices,
            ..Script::default()
        },
    )
    .await;
    let service = Service::start().await;

    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path().join("g");
    create(
        &basedir,
        &[
            ("poll_interval", "\"100ms\""),
            ("min_backoff", "\"50ms\""),
            ("max_backoff", "\"200ms\""),
            ("page_size", "100"),
        ],
    );
    add_publisher(&basedir, "flood.url", &flood.url());
    add_publisher(&basedir, "noisy.url", &noisy.url());
    add_publisher(&basedir, "good.url", &service.publisher.url().to_string());
    let mut daemon = Daemon::start(&basedir);
    daemon.wait_line(&["connected to", &service.id()]);
    daemon.wait_line(&["connected to", "noisy"]);

    // Over twenty rounds of the noisy publisher and a few of the flood, an
    // honest incident at every other round of the noisy one.
    let cpu_before = cpu_time(daemon.pid());
    let started = Instant::now();
    let mut latencies = Vec::new();
    let listings = |fake: &FakePublisher| fake.stats.listings.load(Ordering::SeqCst);
    loop {
        let name = service.incident("app", 0);
        let finished = Instant::now();
        let line = daemon.wait_line_until(
            &["fetched incident", &name],
            finished + Duration::from_secs(2),
        );
        assert!(
            line.is_some(),
            "{name} not stored within 2 s; {} lines so far",
            daemon.seen.len()
        );
        latencies.push(finished.elapsed());
        if listings(&noisy) >= 20 && listings(&flood) >= 5 {
            break;
        }
        let next = listings(&noisy) + 2;
        eventually("two more rounds of the noisy publisher", || {
            listings(&noisy) >= next
        });
        daemon.read_available();
    }
    let window = started.elapsed();
    let cpu = cpu_time(daemon.pid()) - cpu_before;
    assert_eq!(daemon.stop().code(), Some(0));
    let bytes: usize = daemon.seen.iter().map(|line| line.len() + 1).sum();
    let shown = &daemon.seen[..daemon.seen.len().min(40)];
    let warnings = |who: &str| {
        daemon
            .seen
            .iter()
            .filter(|l| l.contains("WARN") && l.contains(who))
            .count()
    };
    println!(
        "{} log lines ({bytes} bytes) in {:.2} s, CPU {:.2} s ({:.0}% of a core), latencies {latencies:?}",
        daemon.seen.len(),
        window.as_secs_f64(),
        cpu.as_secs_f64(),
        100.0 * cpu.as_secs_f64() / window.as_secs_f64()
    );
    assert_eq!(warnings("flood"), 1, "{shown:#?}");
    assert_eq!(warnings("noisy"), 1, "{shown:#?}");
    assert!(daemon.seen.len() < 60, "{shown:#?}");
    let refused = daemon
        .seen
        .iter()
        .find(|l| l.contains("WARN") && l.contains("noisy"))
        .unwrap();
    assert!(refused.contains("100"), "the count: {refused}");
    assert!(cpu < window / 2, "CPU {cpu:?} in {window:?}");
    service.publisher.shutdown().await;
}

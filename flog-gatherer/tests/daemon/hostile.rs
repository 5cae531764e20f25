//! Hostile publishers against the daemon: what they push and list must not
//! decide how much memory, log or CPU the gatherer uses, nor slow down an
//! honest publisher.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::support::fake::{incident_file, listing, FakePublisher, Gate, Pushes, Script, Served};
use crate::support::{
    add_publisher, add_rule, cpu_time, create, eventually, gatherer, list, memory, Daemon, Service,
};

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

/// Two hostile publishers pushing a notice every 5 ms: `flood` lists a page
/// of 20,000 bad names, far more than the 100 asked for; `noisy` lists
/// exactly 100, all of them refused, at every round.
async fn noisy_publishers() -> (FakePublisher, FakePublisher) {
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
    let script = |names| Script {
        also_listed: bad_names(names),
        ignore_query: true,
        pushes: notices.clone(),
        ..Script::default()
    };
    let flood = FakePublisher::start("flood", script(20_000)).await;
    let noisy = FakePublisher::start("noisy", script(100)).await;
    (flood, noisy)
}

/// Issue 9, item 8: a page of refused names far longer than the `limit`
/// asked, and a notice every few milliseconds, made a WARN line per name
/// per round and a round per notice: hundreds of megabytes of log, most of
/// a core, and an honest publisher's incidents seconds late.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_listing_floods_neither_the_log_nor_the_cpu() {
    let (flood, noisy) = noisy_publishers().await;
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
    while listings(&noisy) < 20 || listings(&flood) < 5 {
        let name = service.incident("app", 0);
        let finished = Instant::now();
        let deadline = finished + Duration::from_secs(2);
        let line = daemon.wait_line_until(&["fetched incident", &name], deadline);
        let lines = daemon.seen.len();
        assert!(
            line.is_some(),
            "{name} not stored within 2 s; {lines} lines so far"
        );
        latencies.push(finished.elapsed());
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
    let per_core = 100.0 * cpu.as_secs_f64() / window.as_secs_f64();
    println!(
        "{} log lines ({bytes} bytes) in {window:.2?}, CPU {cpu:.2?} ({per_core:.0}% of a core), latencies {latencies:?}",
        daemon.seen.len(),
    );
    let shown = &daemon.seen[..daemon.seen.len().min(40)];
    let warnings = |who: &str| -> Vec<&String> {
        let warning = |l: &&String| l.contains("WARN") && l.contains(who);
        daemon.seen.iter().filter(warning).collect()
    };
    assert_eq!(warnings("flood").len(), 1, "{shown:#?}");
    let noisy_warnings = warnings("noisy");
    assert_eq!(noisy_warnings.len(), 1, "{shown:#?}");
    assert!(
        noisy_warnings[0].contains("refused 100"),
        "the count: {noisy_warnings:?}"
    );
    assert!(daemon.seen.len() < 60, "{shown:#?}");
    assert!(cpu < window / 2, "CPU {cpu:?} in {window:?}");
    service.publisher.shutdown().await;
}

/// Issue 9, item 5 (the gatherer's part), with the daemon: an incident whose
/// file cannot be read (bzip2 that holds no flogfile, served with its true
/// digest) is stored and listed as unknown with one warning; the incidents
/// after it and another publisher's are gathered; `reclassify` counts it
/// and lists it the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_incident_is_stored_as_unknown_and_stops_nothing() {
    let garbage = "incident-2-garbage";
    let script = Script {
        incidents: vec![
            Served::honest("incident-1-before"),
            Served::with_bytes(garbage, b"BZh91AY&SY not really bzip2".to_vec()),
            Served::honest("incident-3-after"),
        ],
        ..Script::default()
    };
    let fake = FakePublisher::start("odd", script).await;
    let service = Service::start().await;
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path().join("g");
    create(&basedir, &[("poll_interval", "\"100ms\"")]);
    add_rule(
        &basedir,
        "[[rule]]\ncategory = \"fake\"\nfacility = \"fake\"",
    );
    add_publisher(&basedir, "odd.url", &fake.url());
    add_publisher(&basedir, "good.url", &service.publisher.url().to_string());
    let mut daemon = Daemon::start(&basedir);
    daemon.wait_line(&["connected to", &service.id()]);
    let honest = service.incident("app", 0);
    daemon.wait_line(&["fetched incident", "incident-3-after"]);
    daemon.wait_line(&["fetched incident", &honest]);
    assert_eq!(daemon.stop().code(), Some(0));

    let path = |id: &str, name: &str| format!("incidents/{id}/{name}.flog.bz2");
    let unknown = [path("odd", garbage), path(&service.id(), &honest)];
    let fake_ones = [
        path("odd", "incident-1-before"),
        path("odd", "incident-3-after"),
    ];
    let check = |when: &str| {
        let mut listed = list(&basedir, "unknown");
        listed.sort();
        let mut want = unknown.to_vec();
        want.sort();
        assert_eq!(listed, want, "{when}");
        assert_eq!(list(&basedir, "fake"), fake_ones, "{when}");
        assert_eq!(list(&basedir, "all").len(), 4, "{when}");
    };
    check("gathered");
    let warnings: Vec<&String> = daemon
        .seen
        .iter()
        .filter(|l| l.contains("WARN") && l.contains(garbage))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].contains("cannot read the trigger"),
        "{warnings:#?}"
    );

    let output = gatherer(&["reclassify", basedir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("classified 4 incidents"));
    check("reclassified");
    service.publisher.shutdown().await;
}

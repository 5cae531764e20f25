//! Measures the daemon gathering from 200 publishers polled every second,
//! over TLS, whether it connects to them or they dial in to it: its CPU use
//! and memory, and the delay from an incident being finished to it being
//! stored. Ignored by default; run it with
//!
//! ```text
//! cargo test --release -p flog-gatherer --test daemon load:: -- --ignored --nocapture
//! ```
//!
//! `FLOG_LOAD_PUBLISHERS`, `FLOG_LOAD_SECONDS` change the defaults (200, 20).

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use flog_core::{Level, Logger};
use flog_publisher::Publisher;

use crate::support::{cpu_time, memory, BIN};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Run {
    publishers: usize,
    subscribe: bool,
    /// The publishers dial in to the daemon instead of being listed.
    dial_in: bool,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Loggers with publishers, each telling `finished` of its incidents.
async fn services(
    count: usize,
    finished: mpsc::Sender<(String, Instant)>,
    gatherer: Option<&flog_wire::LogportUrl>,
) -> Vec<(Logger, Publisher, tempfile::TempDir)> {
    let finished = Arc::new(Mutex::new(finished));
    let mut services = Vec::new();
    for _ in 0..count {
        let logdir = tempfile::tempdir().unwrap();
        let logger = Logger::builder()
            .trailing(false)
            .incident_rate_limit(1000, Duration::from_secs(1))
            .build()
            .unwrap();
        logger.set_logdir(logdir.path()).unwrap();
        let tx = finished.clone();
        logger.add_incident_observer(move |incident: &flog_core::IncidentReport| {
            let name = incident.name.as_str();
            let _ = tx.lock().unwrap().send((name.to_owned(), Instant::now()));
        });
        let mut builder = Publisher::builder(logger.clone()).gatherers_from_env(false);
        if let Some(url) = gatherer {
            builder = builder.gatherer(url.clone());
        }
        let publisher = builder.start().await.unwrap();
        services.push((logger, publisher, logdir));
    }
    services
}

/// Creates `basedir` for `publishers` and starts the daemon on it; its
/// standard error comes as lines with the time each was read.
fn start_daemon(
    basedir: &Path,
    run: &Run,
    publishers: &[&Publisher],
) -> (Child, mpsc::Receiver<(String, Instant)>) {
    let status = Command::new(BIN)
        .args(["create", basedir.to_str().unwrap()])
        .output()
        .unwrap()
        .status;
    assert!(status.success());
    let config = basedir.join("gatherer.toml");
    let text = fs::read_to_string(&config)
        .unwrap()
        .replace("poll_interval = \"60s\"", "poll_interval = \"1s\"")
        .replace(
            "subscribe = true",
            &format!("subscribe = {}", run.subscribe),
        )
        .replace(
            "# listen = \"0.0.0.0:4818\"",
            if run.dial_in {
                "listen = \"127.0.0.1:0\""
            } else {
                ""
            },
        );
    fs::write(&config, text).unwrap();
    for (i, publisher) in publishers.iter().enumerate() {
        fs::write(
            basedir.join("publishers").join(format!("p{i:03}.url")),
            format!("{}\n", publisher.url()),
        )
        .unwrap();
    }
    let mut child: Child = Command::new(BIN)
        .args(["run", basedir.to_str().unwrap(), "--json"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (line_tx, lines) = mpsc::channel::<(String, Instant)>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            if line_tx.send((line, Instant::now())).is_err() {
                return;
            }
        }
    });
    (child, lines)
}

async fn measure(run: Run) {
    let seconds = env_or("FLOG_LOAD_SECONDS", 20);
    let (finished_tx, finished_rx) = mpsc::channel::<(String, Instant)>();
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path().join("g");
    let (services, mut child, lines) = if run.dial_in {
        let (child, lines) = start_daemon(&basedir, &run, &[]);
        loop {
            let (line, _) = lines
                .recv_timeout(Duration::from_secs(60))
                .expect("the daemon listens");
            if line.contains("listening for publishers") {
                break;
            }
        }
        let url = fs::read_to_string(basedir.join(flog_gatherer::GATHERER_URL_FILE)).unwrap();
        let url: flog_wire::LogportUrl = url.trim().parse().unwrap();
        let services = services(run.publishers, finished_tx, Some(&url)).await;
        (services, child, lines)
    } else {
        let services = services(run.publishers, finished_tx, None).await;
        let publishers: Vec<&Publisher> = services.iter().map(|(_, p, _)| p).collect();
        let (child, lines) = start_daemon(&basedir, &run, &publishers);
        (services, child, lines)
    };
    let pid = child.id();
    let mut connected = 0;
    while connected < run.publishers {
        let (line, _) = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("every publisher connects");
        if line.contains("connected to") || line.contains("dialed in, pid") {
            connected += 1;
        }
    }
    // Let start-up settle before measuring.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let cpu_before = cpu_time(pid);
    let started = Instant::now();
    let mut finished: HashMap<String, Instant> = HashMap::new();
    let mut stored: HashMap<String, Instant> = HashMap::new();
    let incidents = seconds * 5;
    for i in 0..incidents {
        let target = started + Duration::from_millis(200 * i);
        tokio::time::sleep_until(target.into()).await;
        let (logger, _, _) = &services[(i as usize * 7) % run.publishers];
        logger
            .event(Level::WEIRD)
            .facility("load")
            .message("incident under load")
            .emit();
        while let Ok((line, at)) = lines.try_recv() {
            note_stored(&line, at, &mut stored);
        }
    }
    let window = started.elapsed();
    let cpu = cpu_time(pid) - cpu_before;
    let (rss, peak) = memory(pid);
    while finished.len() < incidents as usize {
        let (name, at) = finished_rx.recv_timeout(Duration::from_secs(30)).unwrap();
        finished.insert(name, at);
    }
    while stored.len() < incidents as usize {
        let (line, at) = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("every incident is stored");
        note_stored(&line, at, &mut stored);
    }
    let mut delays: Vec<Duration> = finished
        .iter()
        .map(|(name, done)| stored[name].saturating_duration_since(*done))
        .collect();
    delays.sort();
    report(&run, window, cpu, (rss, peak), &delays);
    let _ = Command::new("kill")
        .args(["-s", "TERM", &pid.to_string()])
        .status();
    assert!(child.wait().unwrap().success());
    for (_, publisher, _) in services {
        publisher.shutdown().await;
    }
}

fn report(
    run: &Run,
    window: Duration,
    cpu: Duration,
    (rss, peak): (u64, u64),
    delays: &[Duration],
) {
    let mean = delays.iter().sum::<Duration>() / delays.len() as u32;
    println!(
        "{} publishers{}, poll every 1s, subscribe = {}: CPU {:.1}% of one core over {:.1}s ({:.2}s), RSS {} KiB (peak {} KiB); \
         {} incidents, delay finished->stored: mean {:.1} ms, p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        run.publishers,
        if run.dial_in { " dialing in" } else { "" },
        run.subscribe,
        100.0 * cpu.as_secs_f64() / window.as_secs_f64(),
        window.as_secs_f64(),
        cpu.as_secs_f64(),
        rss,
        peak,
        delays.len(),
        mean.as_secs_f64() * 1e3,
        percentile(delays, 0.5).as_secs_f64() * 1e3,
        percentile(delays, 0.95).as_secs_f64() * 1e3,
        delays.last().unwrap().as_secs_f64() * 1e3,
    );
}

fn note_stored(line: &str, at: Instant, stored: &mut HashMap<String, Instant>) {
    if !line.contains("fetched incident") {
        return;
    }
    if let Some(start) = line.find("\"incident\":\"") {
        let rest = &line[start + 12..];
        let name = &rest[..rest.find('"').unwrap()];
        stored.entry(name.to_owned()).or_insert(at);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run with --ignored --nocapture"]
async fn two_hundred_publishers_polled_every_second() {
    let publishers = env_or("FLOG_LOAD_PUBLISHERS", 200) as usize;
    for dial_in in [false, true] {
        for subscribe in [false, true] {
            measure(Run {
                publishers,
                subscribe,
                dial_in,
            })
            .await;
        }
    }
}

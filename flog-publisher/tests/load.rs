//! Load: many well-behaved clients listing and fetching, hostile ones
//! misbehaving, and the service logging at full speed, all at once.
//!
//! `short_load` runs in CI (a few seconds). `long_load` is the same for
//! minutes; docs/reliability.md has the command and the figures.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use flog_core::{Level, Logger};
use flog_publisher::{Publisher, PublisherConfig};
use flog_wire::Connector;
use flog_wire::{
    ClientError, ErrorCode, FlogCodec, Hello, ListQuery, LogportClient, LogportUrl, Message, Op,
    Request, Stream, PROTOCOL_VERSION,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::Encoder;

use common::{service, PATIENCE};

/// How long each part of a run lasts, and how many clients of each kind.
struct Plan {
    idle: Duration,
    load: Duration,
    well_behaved: usize,
    /// Of each of the five hostile kinds.
    hostile_each: usize,
}

/// What a run measured.
#[derive(Debug)]
struct Figures {
    requests: u64,
    hostile_attempts: u64,
    idle: Rate,
    loaded: Rate,
    rss_before: u64,
    rss_peak: u64,
    /// The peak over the first quarter of the load phase: later growth
    /// beyond it would be a leak rather than the load's working set.
    rss_first_quarter: u64,
}

/// Logging speed: median events per second of wall-clock time over the
/// windows of a phase, and median events per second of the logging thread's
/// own CPU time (which leaves out the time the scheduler gave to others).
#[derive(Debug, Clone, Copy)]
struct Rate {
    wall: f64,
    cpu: Option<f64>,
}

/// This process's resident memory, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib * 1024
}

/// Nanoseconds the calling thread has spent on a CPU, from the scheduler's
/// statistics (`None` where the kernel does not keep them).
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

const PHASE_IDLE: u8 = 0;
const PHASE_LOAD: u8 = 1;
const PHASE_STOP: u8 = 2;

/// One measurement window of the logging thread: events, wall time, CPU time.
#[derive(Debug, Clone, Copy)]
struct Window {
    phase: u8,
    events: u64,
    wall: Duration,
    cpu_ns: Option<u64>,
}

/// Logs as fast as it can until told to stop, in windows of 50 000 events.
fn log_at_full_speed(logger: Logger, phase: Arc<AtomicU8>) -> Vec<Window> {
    const EVENTS: u64 = 50_000;
    let mut windows = Vec::new();
    let mut i: u64 = 0;
    loop {
        let current = phase.load(Ordering::Relaxed);
        if current == PHASE_STOP {
            return windows;
        }
        let (wall, cpu) = (Instant::now(), thread_cpu_ns());
        for _ in 0..EVENTS {
            logger
                .event(Level::OPERATIONAL)
                .facility("app.hot")
                .format("request {i} served")
                .field("i", i)
                .emit();
            i += 1;
        }
        let cpu_ns = match (cpu, thread_cpu_ns()) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        // A window that straddles a phase change measures neither.
        if phase.load(Ordering::Relaxed) == current {
            windows.push(Window {
                phase: current,
                events: EVENTS,
                wall: wall.elapsed(),
                cpu_ns,
            });
        }
    }
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

fn rate(windows: &[Window], phase: u8) -> Rate {
    let of_phase: Vec<&Window> = windows.iter().filter(|w| w.phase == phase).collect();
    let wall = median(
        of_phase
            .iter()
            .map(|w| w.events as f64 / w.wall.as_secs_f64())
            .collect(),
    )
    .expect("windows in every phase");
    let cpu = median(
        of_phase
            .iter()
            .filter_map(|w| {
                let ns = w.cpu_ns.filter(|ns| *ns > 0)?;
                Some(w.events as f64 / (ns as f64 / 1e9))
            })
            .collect(),
    );
    Rate { wall, cpu }
}

fn frame(message: &Message) -> BytesMut {
    let mut bytes = BytesMut::new();
    FlogCodec::new().encode(message, &mut bytes).unwrap();
    bytes
}

fn hello(secret: &str) -> Message {
    Hello {
        versions: vec![PROTOCOL_VERSION],
        secret: secret.to_owned(),
        client: "load".into(),
    }
    .into()
}

/// Reads until the publisher closes the connection (or `PATIENCE` passes).
async fn drain(mut sock: Stream) {
    let mut buf = vec![0u8; 4096];
    let _ = tokio::time::timeout(PATIENCE, async {
        while let Ok(n) = sock.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

// Long on purpose: one scenario whose steps build on the state the earlier ones left (real processes, sockets or a browser), so it reads top to bottom.
/// One of the five kinds of misbehaviour, over and over until `stop`.
async fn hostile(
    kind: usize,
    url: LogportUrl,
    big: String,
    stop: Arc<AtomicBool>,
    attempts: Arc<AtomicU64>,
) {
    while !stop.load(Ordering::Relaxed) {
        attempts.fetch_add(1, Ordering::Relaxed);
        match kind {
            // Garbage: an HTTP request, read as an enormous length prefix.
            0 => {
                let Ok(mut sock) = Connector::new().connect(&url).await else {
                    continue;
                };
                let _ = sock
                    .write_all(b"GET / HTTP/1.1\r\nHost: flog\r\n\r\n")
                    .await;
                drain(sock).await;
            }
            // A frame of malformed CBOR, an unknown message, then a prefix
            // over the limit, after a proper hello.
            1 => {
                let Ok(mut sock) = Connector::new().connect(&url).await else {
                    continue;
                };
                let mut bytes = frame(&hello(url.secret()));
                bytes.extend_from_slice(&[0, 0, 0, 3, 0xff, 0xfe, 0xfd]);
                bytes.extend_from_slice(&[0, 0, 0, 2, 0xa1, 0x61]);
                bytes.extend_from_slice(&u32::MAX.to_be_bytes());
                let _ = sock.write_all(&bytes).await;
                drain(sock).await;
            }
            // Silence: holds a connection until the hello deadline.
            2 => {
                let Ok(sock) = Connector::new().connect(&url).await else {
                    continue;
                };
                drain(sock).await;
            }
            // A slow reader: pipelines fetches of the largest incident in the
            // largest chunks, then reads a kilobyte now and then.
            3 => {
                let Ok(mut sock) = Connector::new().connect(&url).await else {
                    continue;
                };
                let mut bytes = frame(&hello(url.secret()));
                for id in 0..20 {
                    let op = Op::GetIncident {
                        name: big.clone(),
                        offset: 0,
                        chunk_size: Some(u32::MAX),
                    };
                    bytes.extend_from_slice(&frame(&Request { id, op }.into()));
                }
                let _ = sock.write_all(&bytes).await;
                let mut buf = vec![0u8; 1024];
                while !stop.load(Ordering::Relaxed) {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
            }
            // The wrong secret, as fast as it is refused.
            _ => {
                let wrong = LogportUrl::new(
                    url.security(),
                    "127.0.0.1",
                    url.port(),
                    url.publisher_id(),
                    "not-the-secret",
                )
                .unwrap();
                // Refused either way; a client starved past the hello
                // deadline is refused for that before its secret is read.
                match LogportClient::connect(&wrong).await {
                    Err(ClientError::Remote {
                        code: ErrorCode::Unauthorized | ErrorCode::Timeout,
                        ..
                    }) => {}
                    other => panic!("a wrong secret got {other:?}"),
                }
            }
        }
    }
}

/// A well-behaved client: lists and fetches until `stop`, checking every
/// answer. Returns how many requests it made.
async fn well_behaved(
    url: LogportUrl,
    files: Arc<BTreeMap<String, Vec<u8>>>,
    first: usize,
    stop: Arc<AtomicBool>,
) -> u64 {
    let client = LogportClient::connect(&url).await.expect("connects");
    let names: Vec<&String> = files.keys().collect();
    // The small ones: two hundred in-process copies of the large one would
    // measure this test's clients rather than the publisher.
    let fetched: Vec<&String> = names
        .iter()
        .copied()
        .filter(|n| files[*n].len() < 100_000)
        .collect();
    let mut requests = 0;
    let mut next = first;
    while !stop.load(Ordering::Relaxed) {
        let page = client
            .list_incidents(&ListQuery::default())
            .await
            .expect("listing succeeds");
        let listed: Vec<&String> = page.incidents.iter().map(|i| &i.name).collect();
        assert_eq!(listed, names);
        let name = fetched[next % fetched.len()];
        next += 1;
        let bytes = client
            .get_incident_bytes(name)
            .await
            .expect("fetch succeeds");
        assert!(bytes == files[name], "{name} arrived intact");
        requests += 2;
    }
    requests
}

/// The clients stand for other machines: they run on a runtime of their own
/// whose threads have a low scheduling priority (nice 10), so that on this
/// 2-core box they mostly take what the service (its logging thread and its
/// publisher) leaves, as remote clients would, instead of a share equal to
/// the service's.
fn clients_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(|| {
            // Linux applies a "process" priority given a thread id to that thread.
            let tid = rustix::thread::gettid();
            let _ = rustix::process::setpriority_process(Some(tid), 10);
        })
        .build()
        .unwrap()
}

// Long on purpose: one scenario whose steps build on the state the earlier ones left (real processes, sockets or a browser), so it reads top to bottom.
async fn run(plan: Plan) -> Figures {
    let s = service(false);
    // Small incidents for the well-behaved, a large one for slow readers.
    let mut names = Vec::new();
    for _ in 0..4 {
        names.push(s.noise_incident(8, 1024));
    }
    let big = s.noise_incident(32, 32 * 1024);
    names.push(big.clone());
    let files: BTreeMap<String, Vec<u8>> = names
        .iter()
        .map(|n| {
            let path = s.logdir.join(format!("{n}.flog.bz2"));
            (n.clone(), std::fs::read(path).unwrap())
        })
        .collect();
    let files = Arc::new(files);
    let config = PublisherConfig {
        // Silent clients come back every 3 s; long enough for a client of
        // the low-priority runtime to get its hello in.
        hello_timeout: Duration::from_secs(3),
        ..PublisherConfig::default()
    };
    let p = Publisher::builder(s.logger.clone())
        .config(config)
        .start()
        .await
        .unwrap();

    // The service logs at full speed throughout; idle first.
    let phase = Arc::new(AtomicU8::new(PHASE_IDLE));
    let logging = std::thread::Builder::new()
        .name("service-logging".into())
        .spawn({
            let (logger, phase) = (s.logger.clone(), Arc::clone(&phase));
            move || log_at_full_speed(logger, phase)
        })
        .unwrap();
    tokio::time::sleep(plan.idle).await;
    let rss_before = rss();

    phase.store(PHASE_LOAD, Ordering::Relaxed);
    let remote = clients_runtime();
    let stop = Arc::new(AtomicBool::new(false));
    let attempts = Arc::new(AtomicU64::new(0));
    let mut hostiles = Vec::new();
    for kind in 0..5 {
        for _ in 0..plan.hostile_each {
            hostiles.push(remote.spawn(hostile(
                kind,
                p.url().clone(),
                big.clone(),
                Arc::clone(&stop),
                Arc::clone(&attempts),
            )));
        }
    }
    let mut clients = Vec::new();
    for i in 0..plan.well_behaved {
        clients.push(remote.spawn(well_behaved(
            p.url().clone(),
            Arc::clone(&files),
            i,
            Arc::clone(&stop),
        )));
    }
    // The timer of the load phase, sampling memory meanwhile.
    let started = Instant::now();
    let mut rss_peak = rss_before;
    let mut rss_first_quarter = rss_before;
    while started.elapsed() < plan.load {
        tokio::time::sleep(Duration::from_millis(100)).await;
        rss_peak = rss_peak.max(rss());
        if started.elapsed() < plan.load / 4 {
            rss_first_quarter = rss_peak;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut requests = 0;
    for client in clients {
        requests += tokio::time::timeout(PATIENCE, client)
            .await
            .expect("a client finishes")
            .expect("every well-behaved request succeeds");
    }
    phase.store(PHASE_STOP, Ordering::Relaxed);
    let windows = logging.join().unwrap();
    for task in hostiles {
        tokio::time::timeout(PATIENCE, task)
            .await
            .expect("a hostile client finishes")
            .unwrap();
    }
    tokio::time::timeout(PATIENCE, p.shutdown())
        .await
        .expect("the publisher shuts down");
    remote.shutdown_background();
    Figures {
        requests,
        hostile_attempts: attempts.load(Ordering::Relaxed),
        idle: rate(&windows, PHASE_IDLE),
        loaded: rate(&windows, PHASE_LOAD),
        rss_before,
        rss_peak,
        rss_first_quarter,
    }
}

fn report(figures: &Figures) {
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    eprintln!(
        "{} well-behaved requests, all answered correctly; {} hostile attempts",
        figures.requests, figures.hostile_attempts
    );
    eprintln!(
        "logging, events/s: idle {:.0} wall, {:.0} per CPU-second; under load {:.0} wall, {:.0} per CPU-second",
        figures.idle.wall,
        figures.idle.cpu.unwrap_or(f64::NAN),
        figures.loaded.wall,
        figures.loaded.cpu.unwrap_or(f64::NAN),
    );
    eprintln!(
        "memory (RSS): {:.1} MiB before the load, peak {:.1} MiB (+{:.1} MiB), {:.1} MiB in the first quarter of it",
        mib(figures.rss_before),
        mib(figures.rss_peak),
        mib(figures.rss_peak.saturating_sub(figures.rss_before)),
        mib(figures.rss_first_quarter),
    );
}

/// Memory the load may add: client and server sides of 250 connections in
/// this one process, ten slow readers pinning their 1 MiB byte budgets, the
/// fetched copies. Before the byte budget, each slow reader alone could pin
/// its 20 pipelined copies of the 1 MB incident.
const MAX_GROWTH: u64 = 160 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_load() {
    let figures = run(Plan {
        idle: Duration::from_millis(500),
        load: Duration::from_secs(3),
        well_behaved: 200,
        hostile_each: 10,
    })
    .await;
    report(&figures);
    assert!(figures.requests >= 400, "every client got answers");
    let grown = figures.rss_peak.saturating_sub(figures.rss_before);
    assert!(grown < MAX_GROWTH, "memory grew by {grown} bytes");
    assert_logging_within_2x(&figures);
}

/// Logging under load at least half as fast as idle, in wall-clock time (the
/// clients run at the lowest priority, as remote machines would not compete
/// for the service's cores) and per CPU-second of the logging thread.
fn assert_logging_within_2x(figures: &Figures) {
    let (idle, loaded) = (figures.idle.wall, figures.loaded.wall);
    assert!(
        loaded * 2.0 >= idle,
        "logging slowed from {idle:.0} to {loaded:.0} events per second"
    );
    if let (Some(idle), Some(loaded)) = (figures.idle.cpu, figures.loaded.cpu) {
        assert!(
            loaded * 2.0 >= idle,
            "logging slowed from {idle:.0} to {loaded:.0} events per CPU-second"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes long; see docs/reliability.md"]
async fn long_load() {
    let figures = run(Plan {
        idle: Duration::from_secs(10),
        load: Duration::from_secs(180),
        well_behaved: 200,
        hostile_each: 10,
    })
    .await;
    report(&figures);
    let grown = figures.rss_peak.saturating_sub(figures.rss_before);
    assert!(grown < MAX_GROWTH, "memory grew by {grown} bytes");
    let later = figures.rss_peak.saturating_sub(figures.rss_first_quarter);
    assert!(
        later < 32 * 1024 * 1024,
        "memory kept growing after the first quarter: {later} bytes"
    );
    assert_logging_within_2x(&figures);
}

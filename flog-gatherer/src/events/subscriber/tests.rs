//! Back-pressure over real publishers on 127.0.0.1: one publisher bursts
//! while the writer is stalled (a gate between the subscriptions and the
//! real writer thread, holding every command until released).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flog_core::{
    flogfile::{FlogReader, GapReason, Record},
    Level, Logger, ManualClock, Timestamp,
};
use flog_publisher::Publisher;
use flog_wire::ClientOptions;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::events::log::{EventLog, Outlets, Rotation};
use crate::events::writer::{self, Budget};

const PATIENCE: Duration = Duration::from_secs(30);
const QUEUE_MEMORY: u64 = 4096;
/// Events of the burst, half of them below the stored level: within the
/// publisher's queue of 1024, so that it drops none.
const BURST: u64 = 1000;
/// The burst's events at the stored level.
const KEPT_LEVEL: u64 = BURST / 2;
const STEADY: u64 = 10;

/// What passed the gate, per publisher.
#[derive(Debug, Default, Clone)]
struct Passed {
    events: Vec<u64>,
    /// Bytes reserved for the events, as the commands say.
    event_bytes: usize,
    /// Bytes of the gap records among them.
    gap_bytes: usize,
    gaps: Vec<(GapReason, u64)>,
    /// Bytes of the commands held by the stalled gate: waiting for the disk.
    waiting_bytes: usize,
    budget: Option<Arc<Budget>>,
}

#[derive(Default)]
struct GateState {
    stalled: bool,
    held: Vec<Command>,
    /// What reached the gate while stalled, and after.
    passed: BTreeMap<String, Passed>,
    writer: Option<WriterHandle>,
}

fn from_of(item: &Gathered) -> &str {
    match item {
        Gathered::Event(r) => &r.receipt.from,
        Gathered::Gap(g) => &g.from,
        Gathered::Incarnation(c) => &c.from,
    }
}

/// Stands between the subscriptions and the writer thread: the slow disk.
#[derive(Clone, Default)]
struct Gate(Arc<Mutex<GateState>>);

impl Gate {
    fn start(writer: WriterHandle) -> (Gate, WriterHandle) {
        let gate = Gate::default();
        gate.0.lock().unwrap().writer = Some(writer);
        let (tx, rx) = std::sync::mpsc::channel::<Command>();
        let g = gate.clone();
        std::thread::spawn(move || {
            for command in rx {
                let mut st = g.0.lock().unwrap();
                let Command::Write {
                    items,
                    bytes,
                    budget,
                } = &command;
                for item in items {
                    let passed = st.passed.entry(from_of(item).to_owned()).or_default();
                    passed.budget.get_or_insert_with(|| budget.clone());
                    match item {
                        Gathered::Event(r) => {
                            passed.events.push(r.event.num);
                            passed.event_bytes += bytes;
                        }
                        Gathered::Gap(g) => {
                            passed.gaps.push((g.reason.clone(), g.count));
                            passed.gap_bytes += bytes;
                        }
                        Gathered::Incarnation(_) => {}
                    }
                }
                if st.stalled {
                    if let Some(from) = items.first().map(from_of) {
                        st.passed.entry(from.to_owned()).or_default().waiting_bytes += bytes;
                    }
                    st.held.push(command);
                } else if let Some(w) = &st.writer {
                    let _ = w.send(command);
                }
            }
            // The last sender of the writer goes: it closes its file.
            g.0.lock().unwrap().writer = None;
        });
        (gate, tx)
    }

    fn stall(&self) {
        self.0.lock().unwrap().stalled = true;
    }

    fn release(&self) {
        let mut st = self.0.lock().unwrap();
        st.stalled = false;
        let held = std::mem::take(&mut st.held);
        let writer = st.writer.clone().unwrap();
        for command in held {
            let _ = writer.send(command);
        }
    }

    fn passed(&self, id: &str) -> Passed {
        self.0
            .lock()
            .unwrap()
            .passed
            .get(id)
            .cloned()
            .unwrap_or_default()
    }
}

async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "waited in vain for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A real event log and writer thread in a temporary base directory, on
/// an injected clock, with a [`Gate`] in front and a subscriber context
/// sending through it.
struct Gated {
    base: tempfile::TempDir,
    clock: Arc<ManualClock>,
    gate: Gate,
    cx: Arc<SubscriberContext>,
    writer: std::thread::JoinHandle<std::io::Result<()>>,
    _notices: std::sync::mpsc::Receiver<crate::events::log::LogNotice>,
}

fn gated(events: crate::config::EventsConfig) -> Gated {
    let base = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(1_764_588_600_000_000)));
    let (notices, notices_rx) = std::sync::mpsc::channel();
    let outlets = Outlets {
        notices,
        closed: None,
        figures: Arc::default(),
    };
    let log = EventLog::open(base.path(), Rotation::default(), clock.clone(), outlets).unwrap();
    let (handle, writer) = writer::spawn(log, None).unwrap();
    let (gate, to_gate) = Gate::start(handle);
    let cx = Arc::new(SubscriberContext {
        events,
        writer: to_gate,
        options: ClientOptions::new(),
        min_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(100),
        clock: clock.clone(),
    });
    Gated {
        base,
        clock,
        gate,
        cx,
        writer,
        _notices: notices_rx,
    }
}

struct Service {
    logger: Logger,
    publisher: Publisher,
    _logdir: tempfile::TempDir,
}

impl Service {
    async fn start() -> Service {
        let logdir = tempfile::tempdir().unwrap();
        let logger = Logger::builder().trailing(false).build().unwrap();
        logger.set_logdir(logdir.path()).unwrap();
        let publisher = Publisher::builder(logger.clone()).start().await.unwrap();
        Service {
            logger,
            publisher,
            _logdir: logdir,
        }
    }

    fn id(&self) -> String {
        self.publisher.url().publisher_id().to_owned()
    }

    /// Logs `n` events; every other one NOISY, with `mixed`. Returns the
    /// numbers of the OPERATIONAL ones.
    fn log(&self, n: u64, mixed: bool) -> Vec<u64> {
        (0..n)
            .filter_map(|i| {
                let level = if mixed && i % 2 == 1 {
                    Level::NOISY
                } else {
                    Level::OPERATIONAL
                };
                let num = self
                    .logger
                    .event(level)
                    .facility("app.burst")
                    .message(format!("event {i:060}"))
                    .emit()
                    .unwrap();
                (level == Level::OPERATIONAL).then_some(num)
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_while_the_disk_is_slow_is_bounded_costs_only_its_publisher_and_is_a_gap_with_its_exact_count(
) {
    // The filtered half counts neither as stored nor as lost.
    let events = crate::config::EventsConfig {
        min_level: Level::OPERATIONAL,
        queue_memory: QUEUE_MEMORY,
        ..crate::config::EventsConfig::default()
    };
    let Gated {
        base,
        gate,
        cx,
        writer,
        ..
    } = gated(events);
    let (burst, steady) = (Service::start().await, Service::start().await);
    let stop = CancellationToken::new();
    let mut tasks = Vec::new();
    for service in [&burst, &steady] {
        let (_url_tx, url) = watch::channel(service.publisher.url().clone());
        let run = run_subscriber(cx.clone(), service.id(), url, None, stop.clone());
        tasks.push(tokio::spawn(async move {
            let _keep = _url_tx;
            run.await
        }));
    }
    // Both subscribed: a first event of each passes.
    let first: Vec<(String, u64)> = [&burst, &steady]
        .iter()
        .map(|s| (s.id(), s.log(1, false)[0]))
        .collect();
    for (id, num) in &first {
        eventually("a first event of each", || {
            gate.passed(id).events.contains(num)
        })
        .await;
    }

    gate.stall();
    let bursted = burst.log(BURST, true);
    let logged_steady = steady.log(STEADY, false);
    let budget = gate.passed(&burst.id()).budget.unwrap();
    // Every event of the burst taken by its subscription: queued for the
    // disk, or counted as not written.
    eventually("the burst taken in", || {
        let p = gate.passed(&burst.id());
        (p.events.len() as u64 - 1) + budget.unwritten() == KEPT_LEVEL
    })
    .await;
    eventually("the steady publisher's events queued meanwhile", || {
        gate.passed(&steady.id()).events.len() as u64 == 1 + STEADY
    })
    .await;
    let stalled = gate.passed(&burst.id());
    let lost = budget.unwritten();
    assert!(
        lost > 0,
        "nothing lost: the bound did not bite ({stalled:?})"
    );
    // The memory bound: what waits for the disk of the burst is within the
    // publisher's budget.
    let waiting = stalled.waiting_bytes;
    assert!(
        waiting <= QUEUE_MEMORY as usize,
        "{waiting} bytes wait for the disk, over the {QUEUE_MEMORY} bound"
    );
    assert!(waiting + 256 > QUEUE_MEMORY as usize, "{waiting}: not full");
    assert!(
        budget.used() <= QUEUE_MEMORY as usize,
        "{} bytes taken",
        budget.used()
    );

    gate.release();
    // Room again: the held gap goes without waiting for another event.
    eventually("the not_written gap", || {
        let gaps = gate.passed(&burst.id()).gaps;
        gaps.iter().map(|(_, c)| c).sum::<u64>() == lost
    })
    .await;
    stop.cancel();
    for task in tasks {
        task.await.unwrap();
    }
    drop(cx);
    // Once the gate thread drops the last sender, the writer closes the file.
    let deadline = Instant::now() + PATIENCE;
    while !writer.is_finished() {
        assert!(Instant::now() < deadline, "the writer did not stop");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    writer.join().unwrap().unwrap();

    // In the file: the steady publisher's events all, the burst's stored
    // or in a not_written gap with the exact count, none twice.
    let dir = base.path().join(crate::events::EVENTS_DIR);
    let mut stored: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut gaps: Vec<(String, GapReason, u64, u64, u64)> = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_str().unwrap().ends_with(".flog") {
            continue;
        }
        for record in FlogReader::open(&path).unwrap() {
            match record.unwrap() {
                Record::Received(r) => stored
                    .entry(r.receipt.from.clone())
                    .or_default()
                    .push(r.event.num),
                Record::Gap(g) => gaps.push((
                    g.from.clone(),
                    g.reason.clone(),
                    g.count,
                    g.first.unwrap(),
                    g.last.unwrap(),
                )),
                _ => {}
            }
        }
    }
    let mut want_steady = vec![first[1].1];
    want_steady.extend(&logged_steady);
    assert_eq!(
        stored[&steady.id()],
        want_steady,
        "the steady publisher lost events"
    );
    assert!(
        gaps.iter().all(|g| g.0 == burst.id()),
        "a gap of the steady publisher: {gaps:?}"
    );
    let kept = &stored[&burst.id()];
    let not_written: u64 = gaps
        .iter()
        .filter(|g| g.1 == GapReason::NotWritten)
        .map(|g| g.2)
        .sum();
    assert_eq!(not_written, lost, "{gaps:?}");
    assert_eq!(
        kept.len() as u64 - 1 + not_written,
        KEPT_LEVEL,
        "stored {} and {not_written} in gaps of a burst of {KEPT_LEVEL} at the level",
        kept.len() - 1
    );
    for num in &bursted {
        let in_gap = gaps.iter().any(|g| g.3 <= *num && *num <= g.4);
        assert!(
            kept.contains(num) != in_gap,
            "#{num}: stored {}, in a gap {in_gap}: {gaps:?}",
            kept.contains(num)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_publishers_open_hole_is_a_gap_once_its_patience_is_over() {
    let Gated {
        base: _base,
        clock,
        gate,
        cx,
        writer,
        ..
    } = gated(crate::config::EventsConfig::default());
    let service = Service::start().await;
    // The publisher buffers only the last 2 of "app.burst": #0..=#2 are
    // logged, #1 and #2 kept.
    service
        .logger
        .set_facility_buffer_size("app.burst", Level::OPERATIONAL, 2);
    let logged = service.log(3, false);
    assert_eq!(logged, [0, 1, 2]);
    // As a restart after a kill finds it: #2 stored, #0 a hole still open
    // (in no buffer now, so the catch-up cannot fill it).
    let start = Position {
        incarnation: service.logger.incarnation().to_string(),
        num: 2,
        holes: vec![(0, 0)],
    };
    let stop = CancellationToken::new();
    let (_url_tx, url) = watch::channel(service.publisher.url().clone());
    let task = tokio::spawn(run_subscriber(
        cx,
        service.id(),
        url,
        Some(start),
        stop.clone(),
    ));
    // Subscribed and past the catch-up once a new event passes.
    let next = service.log(1, false)[0];
    eventually("the next event", || {
        gate.passed(&service.id()).events.contains(&next)
    })
    .await;
    assert!(
        gate.passed(&service.id()).gaps.is_empty(),
        "a gap before its patience is over"
    );
    // The publisher stays quiet: the gap comes with time alone.
    clock.advance(crate::events::tracker::HOLE_PATIENCE);
    eventually("the hole reported as a gap", || {
        !gate.passed(&service.id()).gaps.is_empty()
    })
    .await;
    assert_eq!(
        gate.passed(&service.id()).gaps,
        [(GapReason::NotBuffered, 1)]
    );
    stop.cancel();
    task.await.unwrap();
    drop(gate);
    let _ = writer;
}

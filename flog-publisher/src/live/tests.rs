use std::time::Duration;

use flog_core::{Event, Level, Logger};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::*;

const PATIENCE: Duration = Duration::from_secs(20);

fn live(logger: &Logger, limits: LiveLimits) -> (Live, CancellationToken, TaskTracker) {
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let live = Live::start(logger.clone(), limits, shutdown.clone(), &tracker);
    (live, shutdown, tracker)
}

const LIMITS: LiveLimits = LiveLimits {
    memory: 1 << 20,
    lag: u64::MAX,
    catch_up_memory: 1 << 20,
};

fn texts(deliveries: &[Delivery]) -> Vec<String> {
    deliveries
        .iter()
        .map(|d| match d {
            Delivery::Event(b) => Event::from_cbor(b).unwrap().render().into_owned(),
            Delivery::Gap(n) => format!("gap {n}"),
        })
        .collect()
}

async fn next_n(sub: &mut Subscriber, n: usize) -> Vec<Delivery> {
    let mut out = Vec::new();
    while out.len() < n {
        tokio::time::timeout(PATIENCE, sub.next(&mut out))
            .await
            .expect("events arrive");
    }
    out
}

#[tokio::test]
async fn every_subscriber_gets_every_event_in_order() {
    let logger = Logger::new();
    let (live, shutdown, tracker) = live(&logger, LIMITS);
    let mut subs: Vec<_> = (0..50).map(|_| live.subscribe()).collect();
    for i in 0..10 {
        logger.msg(Level::OPERATIONAL, format!("e{i}"));
    }
    let expected: Vec<String> = (0..10).map(|i| format!("e{i}")).collect();
    for sub in &mut subs {
        assert_eq!(texts(&next_n(sub, 10).await), expected);
    }
    assert_eq!(live.subscribers(), 50);
    drop(subs);
    assert_eq!(live.subscribers(), 0);
    // With nobody subscribed the logger keeps no observer for us.
    logger.msg(Level::OPERATIONAL, "unseen");
    assert_eq!(lock(&live.shared.ingress).observed(), 10);
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
}

#[tokio::test]
async fn a_full_ingress_is_a_gap_in_place() {
    let logger = Logger::new();
    let limits = LiveLimits {
        // An ingress of 1 KiB holds a few events at a time.
        memory: 8 * 1024,
        ..LIMITS
    };
    let (live, shutdown, _tracker) = live(&logger, limits);
    let mut sub = live.subscribe();
    // On this single-threaded runtime the fan-out task cannot run while
    // the test logs, so the ingress fills as behind a slow fan-out.
    let pad = "x".repeat(300);
    for i in 0..20 {
        logger
            .event(Level::OPERATIONAL)
            .format(format!("e{i}"))
            .field("pad", pad.clone())
            .emit();
    }
    let mut got = Vec::new();
    let mut seen = 0u64;
    while seen < 20 {
        let batch = next_n(&mut sub, 1).await;
        for d in &batch {
            seen += match d {
                Delivery::Event(_) => 1,
                Delivery::Gap(n) => *n,
            };
        }
        got.extend(batch);
    }
    // Whatever the fan-out managed, numbers add up and gaps sit in place.
    let mut num = 0u64;
    for d in &got {
        match d {
            Delivery::Event(b) => {
                assert_eq!(Event::from_cbor(b).unwrap().num, num);
                num += 1;
            }
            Delivery::Gap(n) => num += n,
        }
    }
    assert_eq!(num, 20);
    shutdown.cancel();
}

#[tokio::test]
async fn catch_ups_share_one_snapshot_and_miss_or_repeat_nothing() {
    let logger = Logger::new();
    let (live, _shutdown, _tracker) = live(&logger, LIMITS);
    for i in 0..5 {
        logger.msg(Level::OPERATIONAL, format!("before {i}"));
    }
    let mut a = live.subscribe();
    let mut b = live.subscribe();
    let snap_a = a.catch_up().await.unwrap();
    let snap_b = b.catch_up().await.unwrap();
    assert!(Arc::ptr_eq(&snap_a, &snap_b), "one snapshot for both");
    logger.msg(Level::OPERATIONAL, "after");
    for (sub, snap) in [(&mut a, &snap_a), (&mut b, &snap_b)] {
        let mut all: Vec<String> = snap
            .events
            .iter()
            .map(|e| Event::from_cbor(e).unwrap().render().into_owned())
            .collect();
        all.extend(texts(&next_n(sub, 1).await));
        assert_eq!(
            all,
            ["before 0", "before 1", "before 2", "before 3", "before 4", "after"]
        );
    }
}

#[tokio::test]
async fn a_catch_up_beyond_the_budget_is_refused() {
    let logger = Logger::new();
    let limits = LiveLimits {
        catch_up_memory: 100,
        ..LIMITS
    };
    let (live, _shutdown, _tracker) = live(&logger, limits);
    for i in 0..50 {
        logger.msg(Level::OPERATIONAL, format!("buffered {i}"));
    }
    let mut sub = live.subscribe();
    assert!(matches!(
        sub.catch_up().await,
        Err(CatchUpRefused::Budget { budget: 100 })
    ));
}

/// An observer that holds the logging thread inside the logging call of the
/// event called `held` until released: a thread preempted at the worst
/// moment, made deterministic.
fn hold_in_observer(
    logger: &Logger,
) -> (std::sync::mpsc::Receiver<()>, std::sync::mpsc::Sender<()>) {
    use std::sync::mpsc;
    let (reached_tx, reached) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let release_rx = std::sync::Mutex::new(release_rx);
    logger.add_event_observer(move |e: &Event| {
        if e.render() == "held" {
            let _ = reached_tx.send(());
            let _ = release_rx.lock().unwrap().recv_timeout(PATIENCE);
        }
    });
    (reached, release)
}

/// Catches up while another thread is inside the logging call of `held`,
/// then collects everything the subscriber gets up to the event `after`.
async fn catch_up_around_a_held_event(logger: Logger, live: &Live) -> Vec<String> {
    let (reached, release) = hold_in_observer(&logger);
    let _first = live.subscribe();
    let held = std::thread::spawn({
        let logger = logger.clone();
        move || logger.msg(Level::OPERATIONAL, "held")
    });
    reached
        .recv_timeout(PATIENCE)
        .expect("the logging thread reaches the observer");
    let mut sub = live.subscribe();
    let snapshot = sub.catch_up().await.unwrap();
    release.send(()).unwrap();
    held.join().unwrap();
    logger.msg(Level::OPERATIONAL, "after");
    let mut got: Vec<String> = snapshot
        .events
        .iter()
        .map(|e| Event::from_cbor(e).unwrap().render().into_owned())
        .collect();
    while got.last().map(String::as_str) != Some("after") {
        got.extend(texts(&next_n(&mut sub, 1).await));
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_being_logged_while_a_catch_up_starts_arrives_once_observed_first() {
    let logger = Logger::new();
    let (live, _shutdown, _tracker) = live(&logger, LIMITS);
    // The live tail's observer is registered before the holding one: the
    // event has been observed, and not yet buffered, while it is held.
    let first = live.subscribe();
    let got = catch_up_around_a_held_event(logger, &live).await;
    drop(first);
    assert_eq!(got, ["held", "after"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_being_logged_while_a_catch_up_starts_arrives_once_observed_last() {
    let logger = Logger::new();
    // The holding observer is registered first: the live tail observes the
    // event only after it is released.
    let (live, _shutdown, _tracker) = live(&logger, LIMITS);
    let got = catch_up_around_a_held_event(logger, &live).await;
    assert_eq!(got, ["held", "after"]);
}

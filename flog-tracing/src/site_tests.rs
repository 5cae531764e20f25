//! The path of events through their callsite's flog call site
//! (`callsites.rs`): stored compactly after a callsite's first event, and
//! the same events as the general path would make. No event observer here
//! (one would make every event take the general path); events are read back
//! from the buffers or from an incident's file, where compact records are
//! expanded.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use flog_core::{flogfile::read_flogfile, Event, Level, Logger, Value, REDACTED};
use tracing::{info, info_span, warn};
use tracing_subscriber::prelude::*;

use crate::FlogLayer;

fn recording(logger: &Logger, f: impl FnOnce()) {
    tracing::subscriber::with_default(
        tracing_subscriber::registry().with(FlogLayer::new(logger.clone())),
        f,
    );
}

fn texts(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.render().into_owned()).collect()
}

#[test]
fn a_message_that_varies_at_one_callsite_is_stored_as_logged() {
    let dir = tempfile::tempdir().unwrap();
    let logger = Logger::builder().trailing(false).build().unwrap();
    logger.set_logdir(dir.path()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    logger.add_incident_observer(move |incident: &flog_core::IncidentReport| {
        tx.lock().unwrap().send(incident.path.clone()).unwrap();
    });
    recording(&logger, || {
        for i in 0..4u64 {
            // The first text is kept as the callsite's; the later ones differ.
            info!(target: "app::jobs", n = i, "job {} done", i % 3);
            info!(target: "app::jobs", n = i, "constant");
        }
        warn!(target: "app::jobs", "report");
    });
    let expected = [
        "job 0 done",
        "constant",
        "job 1 done",
        "constant",
        "job 2 done",
        "constant",
        "job 0 done",
        "constant",
    ];
    let buffered = logger.buffered_events();
    assert_eq!(texts(&buffered[..8]), expected);
    let path = rx.recv_timeout(Duration::from_secs(60)).unwrap();
    let report = read_flogfile(&path).unwrap();
    assert!(report.damage.is_none(), "{:?}", report.damage);
    assert_eq!(texts(&report.events[..8]), expected, "the file, as logged");
    for (i, e) in report.events[..8].iter().enumerate() {
        assert_eq!(e.field("n"), Some(&Value::Int(i as i64 / 2)), "{e:?}");
        assert_eq!(e.facility(), "app.jobs");
        assert!(matches!(e.text, flog_core::Text::Message(_)));
    }
}

#[test]
fn a_sensitive_field_is_redacted_on_every_event() {
    let logger = Logger::new();
    recording(&logger, || {
        for _ in 0..3 {
            info!(user = "bob", password = "hunter2", tries = 2u64, "login");
        }
        let sent = String::from("secret-token");
        info!(api_key = sent.as_str(), "call {}", 7);
    });
    let events = logger.buffered_events();
    assert_eq!(events.len(), 4);
    for e in &events[..3] {
        assert_eq!(e.render(), "login");
        assert_eq!(e.field("password"), Some(&Value::Text(REDACTED.into())));
        assert_eq!(e.field("user"), Some(&Value::Text("bob".into())));
        assert_eq!(e.field("tries"), Some(&Value::Int(2)));
    }
    assert_eq!(
        events[3].field("api_key"),
        Some(&Value::Text(REDACTED.into()))
    );
    assert_eq!(events[3].render(), "call 7");
}

#[test]
fn events_in_a_span_keep_their_parent() {
    let logger = Logger::new();
    recording(&logger, || {
        let outer = info_span!("request", id = 3u64);
        let _outer = outer.enter();
        for i in 0..3u64 {
            info!(i, "step");
        }
    });
    let events = logger.buffered_events();
    assert_eq!(texts(&events), ["request", "step", "step", "step"]);
    for e in &events[1..] {
        assert_eq!(e.parent, Some(events[0].num), "{e:?}");
    }
}

#[test]
fn a_field_left_out_takes_the_general_path() {
    let logger = Logger::new();
    recording(&logger, || {
        for v in [Some(1u64), None, Some(3)] {
            info!(a = 1u64, b = v, c = true, "maybe");
        }
        // A message that is not text is a field, as on the general path.
        info!(message = 5u64);
    });
    let events = logger.buffered_events();
    let names = |e: &Event| {
        e.fields
            .iter()
            .map(|(n, _)| n.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&events[0]), ["a", "b", "c"]);
    assert_eq!(names(&events[1]), ["a", "c"]);
    assert_eq!(names(&events[2]), ["a", "b", "c"]);
    assert_eq!(events[2].field("b"), Some(&Value::Int(3)));
    assert_eq!(events[3].field("message"), Some(&Value::Int(5)));
    assert_eq!(events[3].render(), "");
}

/// Threads logging at the same callsites at once, the first event of each
/// racing to keep its text: every event is stored once, with its own text
/// and fields.
#[test]
fn events_from_many_threads_are_each_stored_as_logged() {
    const THREADS: u64 = 4;
    const EACH: u64 = 50;
    for _ in 0..20 {
        let logger = Logger::builder()
            .buffer_size(Level::OPERATIONAL, 10_000)
            .build()
            .unwrap();
        let start = Arc::new(Barrier::new(THREADS as usize));
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let (logger, start) = (logger.clone(), Arc::clone(&start));
                std::thread::spawn(move || {
                    recording(&logger, || {
                        start.wait();
                        for i in 0..EACH {
                            info!(target: "app::many", t, i, "thread {}", t);
                            info!(target: "app::many", t, i, "same");
                        }
                    });
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let events = logger.buffered_events();
        assert_eq!(events.len() as u64, 2 * THREADS * EACH);
        let mut seen = std::collections::HashSet::new();
        for e in &events {
            let (Some(Value::Int(t)), Some(Value::Int(i))) = (e.field("t"), e.field("i")) else {
                panic!("fields lost: {e:?}");
            };
            let text = e.render();
            assert!(text == "same" || text == format!("thread {t}"), "{e:?}");
            assert!(seen.insert((*t, *i, text == "same")), "twice: {e:?}");
        }
    }
}

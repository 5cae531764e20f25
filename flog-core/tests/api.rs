//! The embedding API: field forms, level macros, facilities, the builder,
//! and faulty observers and qualifiers.

mod common;

use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use common::files_in;
use flog_core::{
    bad, msg, operational, weird, ConfigError, Event, IncidentError, IncidentQualifier,
    IncidentReport, Level, Logger, Value,
};

fn last(logger: &Logger) -> Event {
    logger
        .buffered_events()
        .pop()
        .expect("an event was buffered")
}

#[test]
fn fields_take_any_text_sigils_levels_and_shorthand() {
    #[derive(Debug)]
    struct Peer {
        port: u16,
    }
    let logger = Logger::new();
    // The event as the call made it (the buffers keep it encoded, as a
    // report's reader sees it): an observer gets it.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    logger.add_event_observer({
        let seen = seen.clone();
        move |e: &Event| *seen.lock().unwrap() = Some(e.clone())
    });
    let name = String::from("alice");
    let conn = 7u64;
    let label = 'x';
    let pool = "main";
    let peer = Peer { port: 5432 };
    let addr = std::net::SocketAddr::from(([10, 0, 0, 1], 80));
    let num = msg!(logger = logger, Level::OPERATIONAL, facility = "app",
        "{user} on {conn} in {pool} via {addr}",
        user = name.as_str(), conn, pool, addr = %addr, peer = ?peer, ?label, lit = "static",
        level = Level::WEIRD, odd = Level(17), n = -3, none = None::<u32>);
    assert!(num.is_some());
    // Shorthand borrows: the variables are still ours.
    assert_eq!((name.as_str(), conn, peer.port), ("alice", 7, 5432));
    let e = seen
        .lock()
        .unwrap()
        .take()
        .expect("the observer saw the event");
    assert_eq!(e.render(), "alice on 7 in main via 10.0.0.1:80");
    let field = |k: &str| e.field(k).unwrap_or_else(|| panic!("no field {k}")).clone();
    assert_eq!(field("user"), Value::from("alice"));
    assert_eq!(field("conn"), Value::UInt(7));
    assert_eq!(field("label"), Value::from("'x'"), "?label is Debug text");
    assert_eq!(field("addr"), Value::from("10.0.0.1:80"));
    assert_eq!(field("peer"), Value::from("Peer { port: 5432 }"));
    assert_eq!(field("level"), Value::from("WEIRD"));
    assert_eq!(field("odd"), Value::from("LEVEL17"));
    assert_eq!(field("n"), Value::Int(-3));
    assert_eq!(field("none"), Value::Null);
    assert!(
        matches!(field("lit"), Value::Text(Cow::Borrowed("static"))),
        "a text literal is borrowed, not copied"
    );
}

#[test]
fn text_is_copied_only_when_the_event_is_generated() {
    let logger = Logger::builder().threshold(Level::UNUSUAL).build().unwrap();
    let evaluated = AtomicUsize::new(0);
    let text = || {
        evaluated.fetch_add(1, Ordering::Relaxed);
        String::from("costly")
    };
    assert_eq!(msg!(logger = logger, NOISY, "{t}", t = text()), None);
    assert_eq!(evaluated.load(Ordering::Relaxed), 0);
    assert!(msg!(logger = logger, BAD, "{t}", t = %text()).is_some());
    assert_eq!(evaluated.load(Ordering::Relaxed), 1);
}

#[test]
fn level_macros_and_level_names() {
    let logger = Logger::new();
    let cases: [(Option<u64>, Level); 5] = [
        (weird!(logger = logger, "w"), Level::WEIRD),
        (bad!(logger = logger, facility = "app", "b"), Level::BAD),
        (
            operational!(logger = logger, "o {x}", x = 1),
            Level::OPERATIONAL,
        ),
        (msg!(logger = logger, SCARY, "s"), Level::SCARY),
        (
            msg!(logger = logger, INFREQUENT, message = "i"),
            Level::INFREQUENT,
        ),
    ];
    let events = logger.buffered_events();
    for (num, level) in cases {
        let event = events.iter().find(|e| Some(e.num) == num).unwrap();
        assert_eq!(event.level, level);
    }
}

#[derive(Debug)]
struct Wrapped(std::io::Error);
impl std::fmt::Display for Wrapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cannot save the session")
    }
}
impl std::error::Error for Wrapped {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[test]
fn failure_takes_an_error_with_its_source_chain() {
    let logger = Logger::new();
    let err = Wrapped(std::io::Error::other("disk full"));
    let as_dyn: &dyn std::error::Error = &err;
    msg!(logger = logger, UNUSUAL, failure = as_dyn, "save failed");
    let e = last(&logger);
    assert_eq!(
        e.failure.as_deref(),
        Some("cannot save the session\ncaused by: disk full")
    );
    assert!(e.is_error);
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
    logger.event(Level::UNUSUAL).failure_of(&*boxed).emit();
    assert_eq!(last(&logger).failure, e.failure);
}

const DB: &str = "app.db";
static WEB: &str = "app.web";

fn at(logger: &Logger, facility: &'static str) -> Option<u64> {
    msg!(
        logger = logger,
        OPERATIONAL,
        facility = facility,
        "one call site"
    )
}

#[test]
fn constant_and_varying_static_facilities_follow_their_thresholds() {
    let logger = Logger::new();
    logger.set_facility_threshold(DB, Some(Level::WEIRD));
    let db = || msg!(logger = logger, OPERATIONAL, facility = DB, "db");
    assert_eq!(db(), None);
    assert_eq!(db(), None, "cached");
    logger.set_facility_threshold(DB, None);
    assert!(db().is_some(), "a change reaches the cached call site");
    logger.set_facility_threshold(DB, Some(Level::WEIRD));
    // One call site, facilities that differ between calls.
    assert_eq!(at(&logger, DB), None);
    assert!(at(&logger, WEB).is_some());
    assert_eq!(at(&logger, DB), None);
    assert!(at(&logger, "app.web.static").is_some());
    let made = format!("app.{}", "db");
    let run_time = || msg!(logger = logger, OPERATIONAL, facility = made.clone(), "x");
    assert_eq!(run_time(), None);
}

#[test]
fn a_panicking_event_observer_is_removed_and_reported_once() {
    let logger = Logger::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    logger.add_event_observer(move |_| {
        c.fetch_add(1, Ordering::Relaxed);
        panic!("observer bug");
    });
    let s = Arc::clone(&seen);
    logger.add_event_observer(move |_| {
        s.fetch_add(1, Ordering::Relaxed);
    });
    for i in 0..3 {
        assert!(operational!(logger = logger, "event {i}", i).is_some());
    }
    assert_eq!(calls.load(Ordering::Relaxed), 1, "removed after its panic");
    let internal: Vec<Event> = logger
        .buffered_events()
        .into_iter()
        .filter(|e| e.facility() == "flog.internal")
        .collect();
    assert_eq!(internal.len(), 1, "reported once: {internal:?}");
    assert_eq!(internal[0].level, Level::WEIRD);
    assert_eq!(
        internal[0].render(),
        "an event observer panicked and was removed: observer bug"
    );
    // The other observer saw every event, the report among them.
    assert_eq!(seen.load(Ordering::Relaxed), 4);
}

#[derive(Debug)]
struct Panicking;
impl IncidentQualifier for Panicking {
    fn check_event(&self, _: &Event) -> bool {
        panic!("qualifier bug")
    }
}

#[test]
fn a_panicking_qualifier_is_replaced_by_the_default_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = mpsc::channel();
    let logger = Logger::builder()
        .trailing(false)
        .qualifier(Panicking)
        .logdir(dir.path())
        .incident_observer(move |incident| {
            let _ = tx.send(incident.trigger.clone());
        })
        .build()
        .unwrap();
    assert!(operational!(logger = logger, "first").is_some());
    let trigger = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(trigger.facility(), "flog.internal");
    assert!(trigger.render().contains("qualifier bug"));
    weird!(logger = logger, "qualified by the default now");
    let trigger = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(trigger.render(), "qualified by the default now");
}

#[test]
fn a_panicking_incident_observer_is_removed_and_the_keeper_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let errors = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let e = Arc::clone(&errors);
    let logger = Logger::builder()
        .trailing(false)
        .on_error(move |err: &IncidentError| e.lock().unwrap().push(err.to_string()))
        .incident_observer(|_: &IncidentReport| panic!("incident observer bug"))
        .incident_observer(move |incident| {
            let _ = tx.send(incident.name.clone());
        })
        .logdir(dir.path())
        .build()
        .unwrap();
    weird!(logger = logger, "one");
    rx.recv_timeout(Duration::from_secs(30)).unwrap();
    weird!(logger = logger, "two");
    rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(
        *errors.lock().unwrap(),
        ["an incident observer panicked and was removed: incident observer bug"]
    );
    assert_eq!(logger.incident_stats().recorded, 2);
}

#[test]
fn the_builder_takes_every_runtime_setting() {
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let s = Arc::clone(&seen);
    let logger = Logger::builder()
        .facility_threshold("app.chatty", Level::UNUSUAL)
        .facility_buffer_size("app.db", Level::OPERATIONAL, 2)
        .version("myservice", "1.2.3")
        .event_observer(move |_| {
            s.fetch_add(1, Ordering::Relaxed);
        })
        .logdir(dir.path().join("flog"))
        .build()
        .unwrap();
    assert_eq!(logger.logdir(), Some(dir.path().join("flog")));
    assert_eq!(logger.versions()["myservice"], "1.2.3");
    assert_eq!(
        operational!(logger = logger, facility = "app.chatty.x", "no"),
        None
    );
    for i in 0..5 {
        operational!(logger = logger, facility = "app.db", "{i}", i);
    }
    let db = logger.buffered_events();
    assert_eq!(db.iter().filter(|e| e.facility() == "app.db").count(), 2);
    assert_eq!(seen.load(Ordering::Relaxed), 5);
    assert!(files_in(&dir.path().join("flog")).is_empty());

    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let err = Logger::builder().logdir(&file).build().unwrap_err();
    assert!(matches!(err, ConfigError::Logdir(_)), "{err:?}");
}

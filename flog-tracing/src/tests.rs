use std::borrow::Cow;
use std::io;
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use flog_core::{flogfile::read_flogfile, Event, Level, Logger, Value};
use tracing::subscriber::with_default;
use tracing::{debug, debug_span, error, info, info_span, trace, warn};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

use crate::{FlogLayer, LevelMap};

/// Runs `f` with a subscriber that has only a flog layer feeding `logger`.
fn recording(logger: &Logger, f: impl FnOnce()) {
    with_default(
        tracing_subscriber::registry().with(FlogLayer::new(logger.clone())),
        f,
    );
}

/// Every event as the layer generated it, in order: an event observer sees
/// it before the buffers encode it (buffered events read back as a file
/// would give them: a `u64` as `Int`, texts owned).
fn generated(logger: &Logger) -> Arc<Mutex<Vec<Event>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let into = Arc::clone(&seen);
    logger.add_event_observer(move |e: &Event| into.lock().unwrap().push(e.clone()));
    seen
}

fn find<'a>(events: &'a [Event], text: &str) -> &'a Event {
    events
        .iter()
        .find(|e| e.render() == text)
        .unwrap_or_else(|| panic!("no event {text:?} in {events:#?}"))
}

/// A logger that declares incidents into a temporary logdir and sends the path
/// of each finished report down a channel.
fn incident_logger() -> (Logger, tempfile::TempDir, mpsc::Receiver<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let logger = Logger::builder().trailing(false).build().unwrap();
    logger.set_logdir(dir.path()).unwrap();
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    logger.add_incident_observer(move |incident: &flog_core::IncidentReport| {
        let path = incident.path.as_path();
        tx.lock().unwrap().send(path.to_owned()).unwrap();
    });
    (logger, dir, rx)
}

#[test]
fn warn_in_nested_spans_declares_an_incident_with_the_parent_chain() {
    let (logger, _dir, incidents) = incident_logger();
    recording(&logger, || {
        info!(target: "app::server", port = 8080u64, "listening");
        let request = info_span!(target: "app::server", "request", id = 7u64, path = "/users");
        let _request = request.enter();
        let query = debug_span!(target: "app::db", "query", table = "users");
        let _query = query.enter();
        debug!(target: "app::db", "checking out a connection");
        warn!(target: "app::db::pool", waited_ms = 250u64, "pool exhausted");
    });

    let path = incidents.recv_timeout(Duration::from_secs(60)).unwrap();
    let report = read_flogfile(&path).unwrap();
    assert!(report.damage.is_none(), "{:?}", report.damage);
    let trigger = report.header.unwrap().trigger.unwrap();
    assert_eq!(trigger.render(), "pool exhausted");
    assert_eq!(trigger.level, Level::WEIRD);

    let events = &report.events;
    let listening = find(events, "listening");
    let request = find(events, "request");
    let query = find(events, "query");
    let checkout = find(events, "checking out a connection");
    let warning = find(events, "pool exhausted");
    assert_eq!(listening.parent, None);
    assert_eq!(request.parent, None, "the outer span is a root");
    assert_eq!(query.parent, Some(request.num));
    assert_eq!(checkout.parent, Some(query.num));
    assert_eq!(warning.parent, Some(query.num));

    // Read back from the file, where a CBOR integer that fits i64 is an Int
    // whatever type logged it.
    assert_eq!(request.level, Level::OPERATIONAL);
    assert_eq!(request.facility(), "app.server");
    assert_eq!(request.field("id"), Some(&Value::Int(7)));
    assert_eq!(request.field("path"), Some(&Value::Text("/users".into())));
    assert_eq!(query.level, Level::NOISY);
    assert_eq!(query.facility(), "app.db");
    assert_eq!(warning.facility(), "app.db.pool");
    assert_eq!(warning.field("waited_ms"), Some(&Value::Int(250)));
}

#[test]
fn levels_map_to_foolscap_levels() {
    let logger = Logger::builder().threshold(Level(1)).build().unwrap();
    recording(&logger, || {
        trace!("t");
        debug!("d");
        info!("i");
        warn!("w");
        error!("e");
    });
    let levels: Vec<_> = logger
        .buffered_events()
        .iter()
        .map(|e| (e.render().into_owned(), e.level))
        .collect();
    assert_eq!(
        levels,
        [
            ("t".to_owned(), Level(5)),
            ("d".to_owned(), Level::NOISY),
            ("i".to_owned(), Level::OPERATIONAL),
            ("w".to_owned(), Level::WEIRD),
            ("e".to_owned(), Level::BAD),
        ]
    );
}

#[test]
fn trace_is_below_the_default_threshold() {
    let logger = Logger::new();
    recording(&logger, || {
        trace!("t");
        debug!("d");
    });
    let events = logger.buffered_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].render(), "d");
}

#[test]
fn the_level_map_is_configurable_and_must_not_go_down() {
    let logger = Logger::new();
    let layer = FlogLayer::builder(logger.clone())
        .level(tracing::Level::WARN, Level::CURIOUS)
        .build()
        .unwrap();
    assert_eq!(layer.levels().warn, Level::CURIOUS);
    with_default(tracing_subscriber::registry().with(layer), || {
        warn!("w");
    });
    assert_eq!(logger.buffered_events()[0].level, Level::CURIOUS);

    let backwards = LevelMap {
        error: Level::NOISY,
        ..LevelMap::default()
    };
    let err = FlogLayer::builder(logger).levels(backwards).build();
    assert!(err.is_err(), "ERROR below WARN is rejected");
}

#[test]
fn target_becomes_facility_without_a_string_per_event() {
    let logger = Logger::new();
    let generated = generated(&logger);
    recording(&logger, || {
        for _ in 0..2 {
            info!(target: "my_app::db::pool", "nested");
            info!(target: "plain", "plain");
        }
    });
    let events = generated.lock().unwrap().clone();
    assert_eq!(events.len(), 4);
    let facilities: Vec<&str> = events.iter().map(|e| e.facility()).collect();
    assert_eq!(
        facilities,
        ["my_app.db.pool", "plain", "my_app.db.pool", "plain"]
    );
    for e in &events {
        assert!(
            matches!(e.facility, Some(Cow::Borrowed(_))),
            "facility is borrowed, not allocated per event: {e:?}"
        );
    }
    assert!(
        std::ptr::eq(events[0].facility(), events[2].facility()),
        "converted once per callsite"
    );
}

#[test]
fn fields_keep_their_types() {
    #[derive(Debug)]
    struct Peer {
        #[allow(dead_code)]
        id: u32,
    }
    let logger = Logger::new();
    let generated = generated(&logger);
    let name = String::from("db1");
    recording(&logger, || {
        info!(
            signed = -3i64,
            unsigned = 4u64,
            flag = true,
            host = name.as_str(),
            ratio = 0.5f64,
            peer = ?Peer { id: 9 },
            shown = %"display",
            big = 1u128 << 100,
            small = 5i32,
            bytes = &b"\x01\xff"[..],
            "connected to {name}"
        );
    });
    let events = generated.lock().unwrap().clone();
    let e = &events[0];
    assert!(matches!(e.text, flog_core::Text::Message(_)));
    assert_eq!(e.render(), "connected to db1");
    assert_eq!(e.field("signed"), Some(&Value::Int(-3)));
    assert_eq!(e.field("unsigned"), Some(&Value::UInt(4)));
    assert_eq!(e.field("flag"), Some(&Value::Bool(true)));
    assert_eq!(e.field("host"), Some(&Value::Text("db1".into())));
    assert_eq!(e.field("ratio"), Some(&Value::Float(0.5)));
    assert_eq!(e.field("peer"), Some(&Value::Text("Peer { id: 9 }".into())));
    assert_eq!(e.field("shown"), Some(&Value::Text("display".into())));
    assert_eq!(
        e.field("big"),
        Some(&Value::Text((1u128 << 100).to_string().into()))
    );
    assert_eq!(e.field("small"), Some(&Value::Int(5)));
    assert_eq!(e.field("bytes"), Some(&Value::Bytes(vec![1, 0xff])));
    assert_eq!(e.field("message"), None, "the message is the text");
    assert!(!e.is_error);
}

#[test]
fn an_error_value_marks_the_event_as_an_error() {
    #[derive(Debug)]
    struct Outer(io::Error);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("query failed")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    let logger = Logger::new();
    let err = Outer(io::Error::other("connection reset"));
    recording(&logger, || {
        error!(
            error = &err as &(dyn std::error::Error + 'static),
            "giving up"
        );
    });
    let e = &logger.buffered_events()[0];
    assert!(e.is_error);
    assert_eq!(e.field("error"), Some(&Value::Text("query failed".into())));
    assert_eq!(
        e.failure.as_deref(),
        Some("query failed\ncaused by: connection reset")
    );
}

#[test]
fn generation_thresholds_apply_per_facility() {
    let logger = Logger::builder()
        .threshold(Level::OPERATIONAL)
        .build()
        .unwrap();
    logger.set_facility_threshold("app.chatty", Some(Level::BAD));
    logger.set_facility_threshold("app.db", Some(Level::NOISY));
    recording(&logger, || {
        debug!(target: "app", "dropped: below the global threshold");
        info!(target: "app::chatty", "dropped: below its facility threshold");
        debug!(target: "app::db::pool", "kept: app.db takes NOISY");
        info!(target: "app", "kept");
    });
    let texts: Vec<_> = logger
        .buffered_events()
        .iter()
        .map(|e| e.render().into_owned())
        .collect();
    assert_eq!(texts, ["kept: app.db takes NOISY", "kept"]);
}

#[test]
fn a_span_below_the_threshold_passes_its_parent_on() {
    let logger = Logger::builder()
        .threshold(Level::OPERATIONAL)
        .build()
        .unwrap();
    recording(&logger, || {
        let outer = info_span!("outer");
        let _outer = outer.enter();
        let hidden = debug_span!("hidden");
        let _hidden = hidden.enter();
        info!("inside");
    });
    let events = logger.buffered_events();
    assert_eq!(events.len(), 2);
    let (outer, inside) = (find(&events, "outer"), find(&events, "inside"));
    assert_eq!(inside.parent, Some(outer.num));
}

#[test]
fn explicit_parents_are_followed() {
    let logger = Logger::new();
    recording(&logger, || {
        let job = info_span!("job", n = 1u64);
        let other = info_span!("other");
        let _other = other.enter();
        info!(parent: &job, "for the job");
        info!(parent: None, "a root");
    });
    let events = logger.buffered_events();
    let job = find(&events, "job");
    assert_eq!(find(&events, "for the job").parent, Some(job.num));
    assert_eq!(find(&events, "a root").parent, None);
}

#[test]
fn values_recorded_later_follow_the_span_event() {
    let logger = Logger::new();
    let generated = generated(&logger);
    recording(&logger, || {
        let span = info_span!(
            "request",
            id = 7u64,
            status = tracing::field::Empty,
            message = "a field here"
        );
        span.record("status", 200u64);
    });
    let events = generated.lock().unwrap().clone();
    assert_eq!(events.len(), 2);
    let (opened, recorded) = (&events[0], &events[1]);
    assert_eq!(opened.render(), "request");
    assert_eq!(opened.field("status"), None);
    assert_eq!(
        opened.field("message"),
        Some(&Value::Text("a field here".into())),
        "a span's text is its name; a message field stays a field"
    );
    assert_eq!(recorded.render(), "request");
    assert_eq!(recorded.parent, Some(opened.num));
    assert_eq!(recorded.fields.len(), 1);
    assert_eq!(recorded.field("status"), Some(&Value::UInt(200)));
}

#[test]
fn spans_can_be_left_out() {
    let logger = Logger::new();
    let layer = FlogLayer::builder(logger.clone())
        .spans(false)
        .build()
        .unwrap();
    with_default(tracing_subscriber::registry().with(layer), || {
        let span = info_span!("request");
        let _span = span.enter();
        info!("inside");
    });
    let events = logger.buffered_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].parent, None);
}

/// A `MakeWriter` collecting what the fmt layer writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_console_shows_info_while_the_recorder_keeps_debug() {
    let logger = Logger::builder().threshold(Level(1)).build().unwrap();
    let console = Captured::default();
    let writer = console.clone();
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .with_filter(LevelFilter::INFO),
        )
        .with(FlogLayer::new(logger.clone()).with_filter(LevelFilter::DEBUG));
    with_default(subscriber, || {
        let span = debug_span!("detail_span");
        let _span = span.enter();
        trace!("trace line");
        debug!("debug line");
        info!("info line");
    });

    let console = String::from_utf8(console.0.lock().unwrap().clone()).unwrap();
    assert!(console.contains("info line"), "{console}");
    assert!(!console.contains("debug line"), "{console}");
    assert!(!console.contains("trace line"), "{console}");

    let events = logger.buffered_events();
    let texts: Vec<_> = events.iter().map(|e| e.render().into_owned()).collect();
    assert_eq!(texts, ["detail_span", "debug line", "info line"]);
    assert_eq!(events[2].parent, Some(events[0].num));
}

/// Counts the tracing events it sees, by level and target.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(tracing::Level, String)>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Seen {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let m = event.metadata();
        self.0
            .lock()
            .unwrap()
            .push((*m.level(), m.target().to_owned()));
    }
}

#[test]
fn forwarded_events_reach_tracing_and_are_not_recorded_twice() {
    let logger = Logger::new();
    logger.add_event_observer(crate::forward_to_tracing(Level::OPERATIONAL));
    let seen = Seen::default();
    let subscriber = tracing_subscriber::registry()
        .with(seen.clone())
        .with(FlogLayer::new(logger.clone()));
    with_default(subscriber, || {
        flog_core::noisy!(logger = logger, "below the forwarder's level");
        flog_core::weird!(logger = logger, facility = "app.db", "pool exhausted");
        info!(target: "app", "from tracing");
    });
    let seen = seen.0.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            (tracing::Level::WARN, "flog".to_owned()),
            (tracing::Level::INFO, "app".to_owned()),
        ],
        "an event that came from tracing is not sent back to it"
    );
    let events = logger.buffered_events();
    let texts: Vec<_> = events.iter().map(|e| e.render().into_owned()).collect();
    assert_eq!(
        texts,
        [
            "below the forwarder's level",
            "pool exhausted",
            "from tracing"
        ],
        "each event once: the forwarded ones are not fed back"
    );
}

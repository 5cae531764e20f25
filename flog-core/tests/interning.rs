//! Call-site interning seen from outside: events of constant call sites
//! (their facility, format and names kept once, in the call-site
//! dictionary) and of dynamic ones (kept whole) read back as they were
//! logged, from the buffers and from an incident's dump, however large the
//! dictionary has grown.

mod common;

use flog_core::flogfile::read_flogfile;
use flog_core::{msg, Event, Level, Logger, Text, Value};

/// Logs from call sites of every kind; returns how many events.
fn log_every_kind(logger: &Logger) -> usize {
    let mut n = 0;
    // One call site with a level expression: an entry per level, so the
    // dictionary grows (and reallocates) many times while events of its
    // older entries are buffered.
    for level in 1..=200u16 {
        msg!(
            logger = logger,
            Level(level),
            facility = "app.levels",
            "at {level}",
            level = level
        );
        n += 1;
    }
    for i in 0..50u64 {
        let dynamic = format!("app.dynamic.{}", i % 5);
        msg!(
            logger = logger,
            Level::OPERATIONAL,
            facility = dynamic.clone(),
            "dynamic {i}",
            i = i
        );
        msg!(
            logger = logger,
            Level::OPERATIONAL,
            facility = "app.msg",
            message = format!("text {i}")
        );
        msg!(
            logger = logger,
            Level::UNUSUAL,
            "no facility {i} {ok}",
            i = i,
            ok = i % 2 == 0
        );
        let err = std::io::Error::other("reset");
        msg!(
            logger = logger,
            Level::CURIOUS,
            facility = "app.db",
            parent = Some(i),
            failure = err,
            "failed {conn} ({pool})",
            conn = i,
            pool = "main"
        );
        n += 4;
    }
    n
}

fn check(events: &[Event], logged: usize) {
    assert_eq!(events.len(), logged);
    let mut levels = 0;
    for e in events {
        match e.facility() {
            "app.levels" => {
                levels += 1;
                assert_eq!(e.field("level"), Some(&Value::Int(i64::from(e.level.0))));
                assert_eq!(e.text, Text::Format("at {level}".into()));
            }
            f if f.starts_with("app.dynamic.") => {
                let Some(Value::Int(i)) = e.field("i") else {
                    panic!("{e:?}")
                };
                assert_eq!(f, format!("app.dynamic.{}", i % 5));
                assert_eq!(e.render(), format!("dynamic {i}"));
            }
            "app.msg" => assert!(e.render().starts_with("text "), "{e:?}"),
            "" => {
                assert_eq!(e.level, Level::UNUSUAL);
                let Some(Value::Int(i)) = e.field("i") else {
                    panic!("{e:?}")
                };
                assert_eq!(e.field("ok"), Some(&Value::Bool(i % 2 == 0)));
            }
            "app.db" => {
                let Some(Value::Int(i)) = e.field("conn") else {
                    panic!("{e:?}")
                };
                assert_eq!(e.parent, Some(*i as u64));
                assert!(e.is_error);
                assert_eq!(e.failure.as_deref(), Some("reset"));
                assert_eq!(e.render(), format!("failed {i} (main)"));
            }
            other => panic!("unexpected facility {other}"),
        }
    }
    assert_eq!(levels, 200);
}

#[test]
fn constant_and_dynamic_call_sites_read_back_as_logged() {
    let logger = Logger::builder()
        .threshold(Level(1))
        .max_buffers(1024)
        .build()
        .unwrap();
    let logged = log_every_kind(&logger);
    check(&logger.buffered_events(), logged);
}

/// The dump of an incident holds every buffered event, as the buffers show
/// them, and the trigger.
#[test]
fn a_dump_holds_the_buffered_events_as_logged() {
    let dir = tempfile::tempdir().unwrap();
    let logger = Logger::builder()
        .threshold(Level(1))
        .max_buffers(1024)
        .build()
        .unwrap();
    let logged = log_every_kind(&logger);
    let buffered = logger.buffered_events();
    let incidents = common::watch_incidents(&logger);
    logger.set_logdir(dir.path()).unwrap();
    let trigger = msg!(
        logger = logger,
        Level::WEIRD,
        facility = "app",
        "trigger {n}",
        n = 1
    )
    .unwrap();
    logger.finish_incidents();
    let (_, path, _) = common::next_incident(&incidents);
    let events = read_flogfile(&path).unwrap().events;
    let (dumped, rest) = events.split_at(logged);
    assert_eq!(dumped, &buffered[..]);
    check(dumped, logged);
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].num, trigger);
    assert_eq!(rest[0].render(), "trigger 1");
}

//! A `msg!` call site stores its events straight from the call's values,
//! with no `Event` made, once its constant parts are interned (after its
//! first event). What sees an `Event` must see the same as before: a
//! qualifier that decides by more than the level, observers added later,
//! an incident's trailer, redaction (and a change of policy), and the
//! numbers in logging order.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{next_incident, watch_incidents};
use flog_core::flogfile::read_flogfile;
use flog_core::{msg, Event, IncidentQualifier, Level, Logger, Redaction, Value, REDACTED};

fn quiet() -> flog_core::LoggerBuilder {
    Logger::builder().on_error(|e| panic!("unexpected reporter failure: {e}"))
}

/// One call site, logged `n` times from a loop: warm after the first.
fn log_loop(logger: &Logger, from: u64, n: u64) -> Vec<u64> {
    (from..from + n)
        .map(|i| {
            msg!(
                logger = logger,
                Level::NOISY,
                facility = "app.loop",
                "step {i} with {password}",
                i = i,
                password = "hunter2"
            )
            .unwrap()
        })
        .collect()
}

fn field(e: &Event, name: &str) -> Value {
    e.field(name).cloned().unwrap()
}

/// Buffered events of a warm call site are numbered in logging order,
/// with their values and the sensitive one redacted; a new policy takes
/// effect at the next event.
#[test]
fn a_warm_call_site_buffers_its_values_redacted_in_number_order() {
    let logger = quiet().build().unwrap();
    let nums = log_loop(&logger, 0, 5);
    assert_eq!(nums, (0..5).collect::<Vec<_>>());
    let events = logger.buffered_events();
    assert_eq!(events.iter().map(|e| e.num).collect::<Vec<_>>(), nums);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(field(e, "i"), Value::Int(i as i64));
        assert_eq!(field(e, "password"), Value::from(REDACTED));
        assert_eq!(e.facility(), "app.loop");
        assert_eq!(e.render(), format!("step {i} with {REDACTED}"));
    }
    logger.set_redaction(Some(Redaction::none()));
    log_loop(&logger, 5, 1);
    let last = logger.buffered_events().pop().unwrap();
    assert_eq!(field(&last, "password"), Value::from("hunter2"));
    logger.set_redaction(Some(Redaction::none().field("i")));
    log_loop(&logger, 6, 1);
    let last = logger.buffered_events().pop().unwrap();
    assert_eq!(field(&last, "i"), Value::from(REDACTED));
    assert_eq!(field(&last, "password"), Value::from("hunter2"));
    logger.set_redaction(Some(Redaction::default().hook(|e| e.is_error = true)));
    log_loop(&logger, 6, 1);
    let last = logger.buffered_events().pop().unwrap();
    assert!(last.is_error, "the hook saw the event");
    assert_eq!(field(&last, "password"), Value::from(REDACTED));
}

/// Counts the events it is shown; qualifies none (and says it must see
/// every one).
#[derive(Debug, Default)]
struct Counting(Arc<AtomicUsize>);

impl IncidentQualifier for Counting {
    fn check_event(&self, event: &Event) -> bool {
        assert_eq!(field(event, "password"), Value::from(REDACTED));
        self.0.fetch_add(1, Ordering::Relaxed);
        false
    }
}

/// A qualifier that decides by more than the level sees every event of a
/// warm call site, redacted; observers added after the call site warmed up
/// see its events too.
#[test]
fn qualifiers_and_late_observers_see_every_event_of_a_warm_call_site() {
    let dir = tempfile::tempdir().unwrap();
    let logger = quiet().build().unwrap();
    log_loop(&logger, 0, 3);
    logger.set_logdir(dir.path()).unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    logger.set_qualifier(Counting(Arc::clone(&seen)));
    log_loop(&logger, 3, 4);
    assert_eq!(seen.load(Ordering::Relaxed), 4);
    let observed = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&observed);
    logger.add_event_observer(move |e| {
        sink.lock().unwrap().push((e.num, field(e, "password")));
    });
    let nums = log_loop(&logger, 7, 3);
    let got = observed.lock().unwrap().clone();
    let want: Vec<_> = nums.iter().map(|&n| (n, Value::from(REDACTED))).collect();
    assert_eq!(got, want);
}

/// An incident's trailer holds the events a warm call site logs after the
/// trigger (offered to the capture with no `Event` made until then).
#[test]
fn an_incidents_trailer_holds_a_warm_call_sites_events() {
    let dir = tempfile::tempdir().unwrap();
    let logger = quiet().trailing_event_limit(3).build().unwrap();
    logger.set_logdir(dir.path()).unwrap();
    let rx = watch_incidents(&logger);
    log_loop(&logger, 0, 2);
    let trigger = logger.msg(Level::WEIRD, "trigger").unwrap();
    log_loop(&logger, 2, 5);
    let (_, path, trig) = next_incident(&rx);
    assert_eq!(trig.num, trigger);
    let report = read_flogfile(&path).unwrap();
    let texts: Vec<_> = report
        .events
        .iter()
        .map(|e| e.render().into_owned())
        .collect();
    let r = REDACTED;
    assert_eq!(
        texts,
        [
            format!("step 0 with {r}"),
            format!("step 1 with {r}"),
            "trigger".to_owned(),
            format!("step 2 with {r}"),
            format!("step 3 with {r}"),
            format!("step 4 with {r}"),
        ]
    );
}

/// One call site whose facility is an expression, logging from two threads
/// with `'static` facilities (two of them with the same text at different
/// addresses) and a `String` one, interleaved: every event is buffered
/// with the facility it was logged with, in that facility's own buffer
/// (whose size is its own), and the numbers stay in logging order. The
/// call site interns only the first `'static` facility it sees; the
/// others must never be shown under its entry or land in its buffer.
#[test]
fn a_facility_expression_is_interned_only_for_the_facility_it_was_made_for() {
    fn log_at(logger: &Logger, facility: impl Into<std::borrow::Cow<'static, str>>, i: u64) {
        let facility: std::borrow::Cow<'static, str> = facility.into();
        msg!(
            logger = logger,
            Level::NOISY,
            facility = facility,
            "step {i}",
            i = i
        )
        .unwrap();
    }
    let logger = quiet().build().unwrap();
    logger.set_buffer_size(Level::NOISY, 1_000);
    logger.set_facility_buffer_size("app.b", Level::NOISY, 3);
    let twin: &'static str = String::from("app.a").leak();
    let facilities: [(&'static str, bool); 4] = [
        ("app.a", false),
        ("app.b", false),
        (twin, false),
        ("app.c", true),
    ];
    let threads: Vec<_> = (0..2u64)
        .map(|t| {
            let logger = logger.clone();
            std::thread::spawn(move || {
                for i in 0..200u64 {
                    let (facility, owned) = facilities[(i + t) as usize % 4];
                    let i = t * 1_000 + i;
                    if owned {
                        log_at(&logger, facility.to_string(), i);
                    } else {
                        log_at(&logger, facility, i);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let events = logger.buffered_events();
    let nums: Vec<u64> = events.iter().map(|e| e.num).collect();
    assert!(nums.windows(2).all(|w| w[0] < w[1]), "{nums:?}");
    let expected = |e: &Event| {
        let Value::Int(i) = field(e, "i") else {
            panic!("{e:?}")
        };
        let (t, i) = (i as u64 / 1_000, i as u64 % 1_000);
        facilities[((i + t) % 4) as usize].0
    };
    let mut per_facility = std::collections::BTreeMap::<&str, usize>::new();
    for e in &events {
        assert_eq!(e.facility(), expected(e), "{e:?}");
        *per_facility.entry(e.facility()).or_default() += 1;
    }
    // Each thread logs 50 events per facility; app.a holds its own and
    // its twin's (the same text is the same buffer), app.b only its last 3.
    assert_eq!(
        per_facility,
        [("app.a", 200), ("app.b", 3), ("app.c", 100)].into()
    );
}

/// A bridge's call through `emit_fields` with fewer values than names is
/// stored whole, and caches nothing at the call site: a later full call
/// still has its sensitive field redacted (a mask cached from the short
/// call would have missed it) and every event is in its buffer.
#[test]
fn emit_fields_with_fewer_values_than_names_caches_nothing_and_redacts_every_call() {
    use flog_core::{Callsite, SiteEvent, Text};
    static SITE: Callsite = Callsite::new(true);
    static NAMES: &[&str] = &["user", "password"];
    let logger = quiet().build().unwrap();
    let emit = |values: &mut [Value]| {
        logger.emit_fields(
            &SITE,
            SiteEvent {
                level: Level::OPERATIONAL,
                facility: Some("app.bridge".into()),
                names: NAMES,
                values,
                text: Text::Message("login".into()),
                parent: None,
                is_error: false,
                failure: None,
            },
        )
    };
    emit(&mut [Value::from("alice")]);
    for _ in 0..3 {
        emit(&mut [Value::from("bob"), Value::from("hunter2")]);
    }
    let events = logger.buffered_events();
    assert_eq!(events.len(), 4, "{events:?}");
    assert_eq!(field(&events[0], "user"), Value::from("alice"));
    assert!(events[0].field("password").is_none());
    for e in &events[1..] {
        assert_eq!(field(e, "user"), Value::from("bob"));
        assert_eq!(field(e, "password"), Value::from(REDACTED), "{e:?}");
        assert_eq!(e.render(), "login");
    }
}

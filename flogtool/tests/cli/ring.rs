//! `flogtool peek` and `flogtool rescue` on real crash rings.

use std::fs;

use flog_core::flogfile::{read_flogfile, HeaderKind, RING_FILE};
use flog_core::{Level, Logger};

use crate::util::{event_lines, path_str, run};

fn ringed(dir: &std::path::Path) -> Logger {
    let logger = Logger::builder()
        .logdir(dir)
        .crash_ring(true)
        .trailing(false)
        .version("ring-test", "0.1")
        .build()
        .unwrap();
    for i in 0..5 {
        logger
            .event(Level::OPERATIONAL)
            .facility("app.db")
            .format("query {i}")
            .field("i", i)
            .emit();
        logger
            .event(Level::NOISY)
            .facility("web")
            .format("request {i}")
            .field("i", i)
            .emit();
    }
    logger
}

#[test]
fn peek_prints_a_live_rings_events_with_the_dump_filters_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    let logger = ringed(dir.path());
    let out = run(&["peek", path_str(dir.path()), "--facility", "app"]);
    assert_eq!(out.code, 0, "{out:?}");
    let header = out.stdout.lines().next().unwrap();
    assert!(header.starts_with("== ring"), "{header}");
    assert!(
        header.contains(&format!("| pid {} ", std::process::id())),
        "{header}"
    );
    assert!(header.contains("ring-test 0.1"), "{header}");
    let events = event_lines(&out.stdout);
    assert_eq!(events.len(), 5, "{}", out.stdout);
    for (i, line) in events.iter().enumerate() {
        assert!(
            line.ends_with(&format!("OPERATIONAL app.db: query {i}")),
            "{line}"
        );
    }
    assert!(
        out.stderr.contains("is alive and may be writing its ring"),
        "{}",
        out.stderr
    );
    let json = run(&[
        "peek",
        path_str(dir.path()),
        "--json",
        "--min-level",
        "NOISY",
    ]);
    assert_eq!(json.stdout.lines().count(), 1 + 10, "{}", json.stdout);
    drop(logger);
}

#[test]
fn peek_without_a_ring_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["peek", path_str(dir.path())]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("has no crash ring"), "{}", out.stderr);
}

#[test]
fn rescue_writes_the_crash_report_of_a_ring_nobody_holds() {
    let dir = tempfile::tempdir().unwrap();
    let logger = ringed(dir.path());
    // Its owner is alive: refused.
    let out = run(&["rescue", path_str(dir.path())]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("in use by another logger"),
        "{}",
        out.stderr
    );
    // The same pages in a logdir nobody holds: what a dead owner leaves.
    let dead = tempfile::tempdir().unwrap();
    fs::copy(dir.path().join(RING_FILE), dead.path().join(RING_FILE)).unwrap();
    drop(logger);
    let out = run(&["rescue", path_str(dead.path())]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("wrote "), "{}", out.stdout);
    assert!(out.stdout.contains("with 10 events"), "{}", out.stdout);
    let report = fs::read_dir(dead.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".flog.bz2"))
        .unwrap();
    let contents = read_flogfile(&report).unwrap();
    assert_eq!(contents.header.unwrap().kind, Some(HeaderKind::Crash));
    assert_eq!(contents.events.len(), 10);
    let dump = run(&["dump", path_str(&report)]);
    assert!(
        dump.stdout.starts_with("== crash incident-"),
        "{}",
        dump.stdout
    );
    // Done once: the ring is retired.
    let again = run(&["rescue", path_str(dead.path())]);
    assert!(again.stdout.starts_with("nothing to rescue"), "{again:?}");
    // A closed ring (its logger was dropped) is nothing to rescue either.
    let out = run(&["rescue", path_str(dir.path())]);
    assert!(out.stdout.starts_with("nothing to rescue"), "{out:?}");
}

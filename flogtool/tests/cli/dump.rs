use std::fs;

use flog_core::{flogfile::Header, Event, Level, Text};

use crate::util::{decompressed, event_lines, path_str, real_incident, run, write_flogfile};

#[test]
fn dump_prints_header_then_one_line_per_event_with_the_trigger_marked() {
    let dir = tempfile::tempdir().unwrap();
    let bz2 = real_incident(dir.path());
    let plain = dir.path().join("copy.flog");
    fs::write(&plain, decompressed(&bz2)).unwrap();

    for file in [&bz2, &plain] {
        let out = run(&["dump", path_str(file)]);
        assert_eq!(out.code, 0, "{out:?}");
        let mut lines = out.stdout.lines();
        let header = lines.next().unwrap();
        assert!(header.starts_with("== incident incident-"), "{header}");
        for part in [
            "| pid ",
            "| host ",
            "test-service 1.2.3",
            "| suppressed triggers 0",
            "| trigger #",
        ] {
            assert!(header.contains(part), "{part} in {header}");
        }
        let events = event_lines(&out.stdout);
        assert_eq!(events.len(), 8, "{}", out.stdout);
        assert!(
            events[0].ends_with("OPERATIONAL app: service starting"),
            "{}",
            events[0]
        );
        let trigger = events.last().unwrap();
        assert!(
            trigger.contains(" WEIRD ")
                && trigger.contains("app.db.pool: pool exhausted after 250 ms")
        );
        assert!(trigger.ends_with("[TRIGGER]"), "{trigger}");
        assert_eq!(out.stdout.matches("[TRIGGER]").count(), 1);
        assert!(
            out.stdout
                .lines()
                .last()
                .unwrap()
                .starts_with("== end: immediate"),
            "{}",
            out.stdout
        );
        assert!(out.stderr.is_empty(), "{}", out.stderr);
    }
}

#[test]
fn nums_and_verbose_show_more() {
    let dir = tempfile::tempdir().unwrap();
    let file = real_incident(dir.path());
    let nums = run(&["dump", "--nums", path_str(&file)]);
    assert_eq!(nums.code, 0);
    let events = event_lines(&nums.stdout);
    assert!(events[0].starts_with("#0 "), "{}", events[0]);
    assert!(
        events[1].starts_with("#1 ") && events[1].contains("[parent #0]"),
        "{}",
        events[1]
    );

    let verbose = run(&["dump", "--verbose", path_str(&file)]);
    assert_eq!(verbose.code, 0);
    for part in [
        "    fields: waited_ms=250 pool=\"main\"",
        "    format: pool exhausted after {waited_ms} ms",
        "    error: yes",
        "    failure:\n        Traceback: line one\n        line two",
        "    incarnation: ",
    ] {
        assert!(
            verbose.stdout.contains(part),
            "{part} in {}",
            verbose.stdout
        );
    }
}

#[test]
fn each_filter_narrows_the_events() {
    let dir = tempfile::tempdir().unwrap();
    let file = real_incident(dir.path());
    let file = path_str(&file);
    let count = |args: &[&str]| {
        let mut all = vec!["dump"];
        all.extend_from_slice(args);
        all.push(file);
        let out = run(&all);
        assert_eq!(out.code, 0, "{args:?}: {out:?}");
        event_lines(&out.stdout).len()
    };
    assert_eq!(count(&[]), 8);
    assert_eq!(count(&["--min-level", "CURIOUS"]), 3);
    assert_eq!(count(&["--min-level", "weird"]), 1);
    assert_eq!(count(&["--min-level", "30"]), 1);
    assert_eq!(count(&["--facility", "app.db"]), 1);
    assert_eq!(count(&["--facility", "app.d"]), 0, "prefixes are dotted");
    assert_eq!(
        count(&["--facility", "app.work", "--facility", "app.web"]),
        6
    );
    assert_eq!(count(&["--facility", "app"]), 8);
    assert_eq!(
        count(&["--grep", "exhausted after 250"]),
        1,
        "the rendered message"
    );
    assert_eq!(
        count(&["--after", "2000-01-01", "--before", "2999-01-01T00:00:00Z"]),
        8
    );
    assert_eq!(count(&["--after", "2999-01-01"]), 0);
    assert_eq!(count(&["--before", "2000-01-01T00:00:00.5Z"]), 0);
    assert_eq!(
        count(&["--min-level", "UNUSUAL", "--facility", "app.work"]),
        3
    );
}

#[test]
fn json_gives_one_parseable_object_per_line_header_first() {
    let dir = tempfile::tempdir().unwrap();
    let file = real_incident(dir.path());
    let out = run(&["dump", "--json", path_str(&file)]);
    assert_eq!(out.code, 0, "{out:?}");
    let objects: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    assert_eq!(objects.len(), 10, "header, 8 events, trailer");
    assert_eq!(objects[0]["record"], "header");
    assert_eq!(objects[0]["type"], "incident");
    assert_eq!(objects[0]["versions"]["test-service"], "1.2.3");
    assert_eq!(objects[0]["trigger"]["facility"], "app.db.pool");
    let trigger = &objects[8];
    assert_eq!(trigger["record"], "event");
    assert_eq!(trigger["trigger"], true);
    assert_eq!(trigger["level"], 30);
    assert_eq!(trigger["level_name"], "WEIRD");
    assert_eq!(trigger["message"], "pool exhausted after 250 ms");
    assert_eq!(trigger["fields"]["waited_ms"], 250);
    assert_eq!(trigger["parent"], 0);
    assert!(objects[1..8].iter().all(|o| o.get("trigger").is_none()));
    assert_eq!(objects[9]["record"], "trailer");
    assert_eq!(objects[9]["triggers"][0], trigger["num"]);

    let filtered = run(&["dump", "--json", "--min-level", "WEIRD", path_str(&file)]);
    assert_eq!(filtered.stdout.lines().count(), 3);
}

#[test]
fn a_truncated_file_prints_what_it_holds_then_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let file = real_incident(dir.path());
    let bytes = decompressed(&file);
    let cut = dir.path().join("cut.flog");
    // Into the last event (the header holds the trigger too, so the last
    // occurrence): everything before it stays readable.
    let trigger_at = bytes
        .windows(b"pool exhausted".len())
        .rposition(|w| w == b"pool exhausted")
        .unwrap();
    fs::write(&cut, &bytes[..trigger_at]).unwrap();
    let out = run(&["dump", path_str(&cut)]);
    assert_eq!(out.code, 0, "truncation is a warning: {out:?}");
    assert_eq!(event_lines(&out.stdout).len(), 7, "{}", out.stdout);
    assert!(out.stderr.contains("truncated"), "{}", out.stderr);
    assert!(out.stderr.contains("cut.flog"), "{}", out.stderr);
}

#[test]
fn a_file_that_is_not_a_flogfile_is_named_for_what_it_seems() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    fs::write(&text, "hello world\nmore\n").unwrap();
    let out = run(&["dump", path_str(&text)]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.starts_with("flogtool: error: "),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("not a flogfile"), "{}", out.stderr);
    assert!(
        out.stderr.contains("text starting \"hello world\""),
        "{}",
        out.stderr
    );
    assert_eq!(
        out.stderr.lines().count(),
        1,
        "one clear line: {}",
        out.stderr
    );

    let pickle = dir.path().join("old.flog");
    fs::write(&pickle, b"(dp0\nS'header'\np1\n").unwrap();
    let out = run(&["dump", path_str(&pickle)]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("pickle"), "{}", out.stderr);
}

#[test]
fn a_missing_file_fails_and_the_others_are_still_printed() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.flog");
    let out = run(&["dump", path_str(&missing)]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("cannot open") && out.stderr.contains("missing.flog"),
        "{}",
        out.stderr
    );
    assert_eq!(
        out.stderr.matches("No such file").count(),
        1,
        "no repeated cause: {}",
        out.stderr
    );

    let file = real_incident(dir.path());
    let out = run(&["dump", path_str(&missing), path_str(&file)]);
    assert_eq!(out.code, 1);
    assert_eq!(
        event_lines(&out.stdout)
            .iter()
            .filter(|l| !l.is_empty() && !l.starts_with("==>"))
            .count(),
        8
    );
    assert!(out.stderr.contains("1 of 2 files"), "{}", out.stderr);
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["dump", "--no-such-flag", "x.flog"][..],
        &["dump"],
        &["dump", "--min-level", "LOUD", "x.flog"],
        &["dump", "--after", "yesterday", "x.flog"],
        &["dump", "--json", "--verbose", "x.flog"],
        &["no-such-command"],
    ] {
        let out = run(args);
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
    }
}

#[test]
fn failures_show_without_verbose_and_long_ones_are_cut() {
    let dir = tempfile::tempdir().unwrap();
    let file = real_incident(dir.path());
    let plain = run(&["dump", path_str(&file)]);
    assert_eq!(plain.code, 0, "{plain:?}");
    assert!(
        plain.stdout.contains(
            "app.web: request failed\n    failure:\n        Traceback: line one\n        line two\n"
        ),
        "{}",
        plain.stdout
    );
    assert!(!plain.stdout.contains("    fields:"), "the rest needs -v");

    // A panic's backtrace is long: the first 40 lines, and a count of the rest.
    let path = dir.path().join("panic.flog");
    let backtrace: Vec<String> = (0..60).map(|i| format!("  {i}: frame_{i}")).collect();
    let panic = Event {
        num: 3,
        level: Level::BAD,
        facility: Some("flog.panic".into()),
        text: Text::Message("panic in thread 'main' at src/main.rs:3:5: boom".into()),
        is_error: true,
        failure: Some(backtrace.join("\n")),
        ..Event::default()
    };
    write_flogfile(&path, &Header::default(), &[panic]);
    let out = run(&["dump", path_str(&path)]);
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    let at = lines.iter().position(|l| *l == "    failure:").unwrap();
    assert!(lines[at - 1].ends_with("boom"), "{}", out.stdout);
    assert_eq!(lines[at + 1], "          0: frame_0");
    assert_eq!(lines[at + 40], "          39: frame_39");
    assert_eq!(
        lines[at + 41],
        "        ... 20 more lines (--verbose shows them)"
    );
    let verbose = run(&["dump", "-v", path_str(&path)]);
    assert!(
        verbose.stdout.contains("        59: frame_59"),
        "{}",
        verbose.stdout
    );
    assert!(!verbose.stdout.contains("more lines"));
}

#[test]
fn just_numbers_prints_time_and_number_only() {
    let dir = tempfile::tempdir().unwrap();
    let file = real_incident(dir.path());
    let full = run(&["dump", "--json", path_str(&file)]);
    let events: Vec<serde_json::Value> = full
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|o: &serde_json::Value| o["record"] == "event")
        .collect();
    let want: Vec<String> = events
        .iter()
        .map(|e| format!("{} {}", e["time"].as_str().unwrap(), e["num"]))
        .collect();
    for flag in ["--just-numbers", "-n"] {
        let out = run(&["dump", flag, path_str(&file)]);
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(out.stdout.lines().collect::<Vec<_>>(), want, "{flag}");
    }
    let out = run(&[
        "dump",
        "-n",
        "--min-level",
        "WEIRD",
        "-t",
        "epoch",
        path_str(&file),
    ]);
    let want = format!(
        "{}.{:06} {}\n",
        events[7]["time_us"].as_i64().unwrap() / 1_000_000,
        events[7]["time_us"].as_i64().unwrap() % 1_000_000,
        events[7]["num"]
    );
    assert_eq!(out.stdout, want);
    for clash in ["--json", "--verbose", "--nums", "--rx-time"] {
        let out = run(&["dump", "-n", clash, path_str(&file)]);
        assert_eq!(out.code, 2, "{clash}: {out:?}");
    }
}

#[test]
fn rx_time_marks_what_a_flogfile_does_not_say() {
    let dir = tempfile::tempdir().unwrap();
    let file = real_incident(dir.path());
    for flag in ["--rx-time", "-r"] {
        let out = run(&["dump", flag, path_str(&file)]);
        assert_eq!(out.code, 0, "{out:?}");
        let events = event_lines(&out.stdout);
        assert_eq!(events.len(), 8);
        assert!(
            events.iter().all(|l| l.starts_with("rx(-) emit(20")),
            "{}",
            out.stdout
        );
    }
}

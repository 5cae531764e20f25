//! `--timestamps` (`-t`) and `FLOGTOOL_TIMESTAMPS`, with the child's time
//! zone fixed by `TZ`. The expected strings were computed apart from flogtool,
//! with `TZ=... date -d @SECONDS`.

use flog_core::{
    flogfile::{Header, HeaderKind},
    Event, Level, Text, Timestamp,
};

use crate::util::{event_lines, flogtool, path_str, write_flogfile, Run};

/// 2023-11-14T22:13:20.123456Z: New York is on EST (-05:00).
const WINTER: i64 = 1_700_000_000_123_456;
/// 2023-07-22T04:26:40.654321Z: New York is on EDT (-04:00).
const SUMMER: i64 = 1_690_000_000_654_321;

fn file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("times.flog");
    let event = |num, time, text: &'static str| Event {
        num,
        time: Timestamp(time),
        level: Level::WEIRD,
        facility: Some("app".into()),
        text: Text::Message(text.into()),
        ..Event::default()
    };
    let header = Header {
        kind: HeaderKind::Incident.into(),
        started: Some(Timestamp(WINTER)),
        ..Header::default()
    };
    write_flogfile(
        &path,
        &header,
        &[event(1, WINTER, "winter"), event(2, SUMMER, "summer")],
    );
    path
}

fn dump(tz: &str, env: Option<&str>, args: &[&str]) -> Run {
    let mut command = flogtool();
    command.env("TZ", tz).env_remove("FLOGTOOL_TIMESTAMPS");
    if let Some(mode) = env {
        command.env("FLOGTOOL_TIMESTAMPS", mode);
    }
    let out = command.arg("dump").args(args).output().unwrap();
    Run {
        code: out.status.code().unwrap(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// The time part of each event line.
fn times(out: &Run) -> Vec<String> {
    assert_eq!(out.code, 0, "{out:?}");
    event_lines(&out.stdout)
        .iter()
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect()
}

#[test]
fn each_mode_in_new_york_and_in_utc() {
    let dir = tempfile::tempdir().unwrap();
    let file = file(dir.path());
    let file = path_str(&file);
    let cases: [(&str, &str, [&str; 2]); 8] = [
        (
            "America/New_York",
            "utc",
            ["2023-11-14T22:13:20.123456Z", "2023-07-22T04:26:40.654321Z"],
        ),
        (
            "America/New_York",
            "short-local",
            ["17:13:20.123", "00:26:40.654"],
        ),
        (
            "America/New_York",
            "long-local",
            [
                "2023-11-14T17:13:20.123456-05:00",
                "2023-07-22T00:26:40.654321-04:00",
            ],
        ),
        (
            "America/New_York",
            "epoch",
            ["1700000000.123456", "1690000000.654321"],
        ),
        (
            "UTC",
            "utc",
            ["2023-11-14T22:13:20.123456Z", "2023-07-22T04:26:40.654321Z"],
        ),
        ("UTC", "short-local", ["22:13:20.123", "04:26:40.654"]),
        (
            "UTC",
            "long-local",
            [
                "2023-11-14T22:13:20.123456+00:00",
                "2023-07-22T04:26:40.654321+00:00",
            ],
        ),
        ("UTC", "epoch", ["1700000000.123456", "1690000000.654321"]),
    ];
    for (tz, mode, want) in cases {
        for flag in ["--timestamps", "-t"] {
            let out = dump(tz, None, &[flag, mode, file]);
            assert_eq!(times(&out), want, "TZ={tz} {flag} {mode}");
        }
    }
    // Without a flag: UTC, as before the modes existed.
    let out = dump("America/New_York", None, &[file]);
    assert_eq!(
        times(&out),
        ["2023-11-14T22:13:20.123456Z", "2023-07-22T04:26:40.654321Z"]
    );
}

#[test]
fn a_short_time_standing_alone_keeps_its_date() {
    let dir = tempfile::tempdir().unwrap();
    let file = file(dir.path());
    let out = dump(
        "America/New_York",
        None,
        &["-t", "short-local", path_str(&file)],
    );
    let header = out.stdout.lines().next().unwrap();
    assert!(
        header.contains("| started 2023-11-14T17:13:20.123456-05:00"),
        "{header}"
    );
}

#[test]
fn the_flag_wins_over_the_environment_which_wins_over_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = file(dir.path());
    let file = path_str(&file);
    let out = dump("America/New_York", Some("epoch"), &[file]);
    assert_eq!(times(&out), ["1700000000.123456", "1690000000.654321"]);
    let out = dump(
        "America/New_York",
        Some("epoch"),
        &["-t", "short-local", file],
    );
    assert_eq!(times(&out), ["17:13:20.123", "00:26:40.654"]);

    let out = dump("UTC", Some("sideways"), &[file]);
    assert_eq!(out.code, 2, "a bad value is a usage error: {out:?}");
    assert!(out.stderr.contains("sideways"), "{}", out.stderr);
    let out = dump("UTC", None, &["-t", "sideways", file]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("short-local"), "{}", out.stderr);

    // JSON keeps RFC 3339 UTC whatever the mode: it is for programs.
    let out = dump("America/New_York", Some("short-local"), &["--json", file]);
    assert_eq!(out.code, 0, "{out:?}");
    let event: serde_json::Value =
        serde_json::from_str(out.stdout.lines().nth(1).unwrap()).unwrap();
    assert_eq!(event["time"], "2023-11-14T22:13:20.123456Z");
}

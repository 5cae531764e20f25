//! flogtool on files foolscap itself wrote (with its `flogfile` module), and
//! foolscap's own flogtool on what flogtool wrote from them.

use std::path::{Path, PathBuf};

use crate::util::{
    decompressed, event_lines, foolscap_flogtool, foolscap_python, path_str, python, run,
};

/// Writes a foolscap file at argv[1]: `gathered` (a gatherer's, every event
/// wrapped with its sender and receipt time) or `incident` (a trigger with a
/// real twisted Failure). `.bz2` names are compressed, as foolscap does.
const WRITER: &str = r#"
import sys, bz2
from foolscap.logging import flogfile
from twisted.python import failure

try:
    1 / 0
except ZeroDivisionError:
    oops = failure.Failure()

def ev(num, t, level, facility, message, **more):
    d = {"num": num, "time": t, "incarnation": ["0a0b0c0d0e0f1011", None],
         "level": level, "facility": facility, "message": message}
    d.update(more)
    return d

events = [
    ev(1, 1700000000.5, 20, "app.web", "request served"),
    ev(2, 1700000001.5, 23, "app.db.pool", "pool nearly full"),
    ev(3, 1700000002.5, 30, "app.db", "query failed", failure=oops, isError=1),
]
path, kind = sys.argv[1], sys.argv[2]
out = bz2.BZ2File(path, "w") if path.endswith(".bz2") else open(path, "wb")
out.write(flogfile.MAGIC)
if kind == "gathered":
    flogfile.serialize_header(out, "gatherer", start=1700000000.0)
    for e in events:
        flogfile.serialize_wrapper(out, e, from_="tubidabcdefghij", rx_time=e["time"] + 0.25)
else:
    flogfile.serialize_header(out, "incident", trigger=events[2], pid=4242,
                              versions={"app": "2.0"})
    for e in events:
        flogfile.serialize_wrapper(out, e, from_="local", rx_time=e["time"])
out.close()
"#;

fn foolscap_file(python_bin: &str, dir: &Path, name: &str, kind: &str) -> PathBuf {
    let path = dir.join(name);
    python(python_bin, WRITER, &[path_str(&path), kind]);
    path
}

#[test]
fn rx_time_shows_when_a_gatherer_received_each_event() {
    let Some(py) = foolscap_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    for name in ["gathered.flog", "gathered.flog.bz2"] {
        let file = foolscap_file(py, dir.path(), name, "gathered");
        let out = run(&["dump", "-r", "-t", "epoch", path_str(&file)]);
        assert_eq!(out.code, 0, "{out:?}");
        let events = event_lines(&out.stdout);
        assert_eq!(events.len(), 3, "{}", out.stdout);
        assert!(
            events[0].starts_with(
                "rx(1700000000.750000) emit(1700000000.500000) [tubidabcdefghij] OPERATIONAL app.web: request served"
            ),
            "{}",
            events[0]
        );
        assert!(
            events[2].starts_with(
                "rx(1700000002.750000) emit(1700000002.500000) [tubidabcdefghij] WEIRD"
            ),
            "{}",
            events[2]
        );

        let json = run(&["dump", "--json", path_str(&file)]);
        let first: serde_json::Value =
            serde_json::from_str(json.stdout.lines().nth(1).unwrap()).unwrap();
        assert_eq!(first["rx_time"], "2023-11-14T22:13:20.750000Z");
        assert_eq!(first["rx_time_us"], 1_700_000_000_750_000_i64);
        assert_eq!(first["from"], "tubidabcdefghij");
    }
}

#[test]
fn a_foolscap_failure_shows_without_verbose() {
    let Some(py) = foolscap_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = foolscap_file(py, dir.path(), "incident.flog.bz2", "incident");
    let out = run(&["dump", path_str(&file)]);
    assert_eq!(out.code, 0, "{out:?}");
    let header = out.stdout.lines().next().unwrap();
    assert!(
        header.starts_with("== incident") && header.contains("| pid 4242"),
        "{header}"
    );
    assert!(header.contains("versions app 2.0"), "{header}");
    let at = out
        .stdout
        .find("app.db: query failed [TRIGGER]\n    failure:\n");
    assert!(at.is_some(), "{}", out.stdout);
    assert!(out.stdout.contains("ZeroDivisionError"), "{}", out.stdout);
}

#[test]
fn filter_keeps_foolscap_lines_unchanged_for_foolscaps_own_tools() {
    let Some(py) = foolscap_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = foolscap_file(py, dir.path(), "gathered.flog", "gathered");
    let original = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = original.split_inclusive('\n').collect();

    let new = dir.path().join("web.flog.bz2");
    let out = run(&[
        "filter",
        "-v",
        "--strip-facility",
        "app.db",
        path_str(&file),
        path_str(&new),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("kept 1 of 3 events"), "{}", out.stdout);
    assert!(
        out.stdout.contains("  dropped by --strip-facility: 2"),
        "{}",
        out.stdout
    );
    let written = String::from_utf8(decompressed(&new)).unwrap();
    assert_eq!(
        written,
        [lines[0], lines[1], lines[2]].concat(),
        "lines as they were"
    );

    let theirs = foolscap_flogtool(py, &["dump", path_str(&new)]);
    assert!(theirs.contains("request served"), "{theirs}");
    assert!(!theirs.contains("query failed"), "{theirs}");

    // In place: still foolscap's format, still plain, the rest as it was.
    let out = run(&["filter", path_str(&file), "--min-level", "WEIRD"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("(filtered in place)"), "{}", out.stdout);
    let now = std::fs::read_to_string(&file).unwrap();
    assert_eq!(now, [lines[0], lines[1], lines[4]].concat());
    let theirs = foolscap_flogtool(py, &["dump", "--rx-time", path_str(&file)]);
    assert!(theirs.contains("query failed"), "{theirs}");
    assert!(!theirs.contains("request served"), "{theirs}");
}

#[test]
fn classify_reads_foolscap_incidents_by_their_header_trigger() {
    let Some(py) = foolscap_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let incident = foolscap_file(py, dir.path(), "incident.flog.bz2", "incident");
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\ncategory = \"database\"\nfacility = \"app.db\"\n\n\
         [[rule]]\ncategory = \"web\"\nfacility = \"app.web\"\n",
    )
    .unwrap();
    let out = run(&[
        "classify-incident",
        "--rules",
        path_str(&rules),
        path_str(&incident),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, format!("{}: database\n", incident.display()));

    std::fs::write(
        &rules,
        "[[rule]]\ncategory = \"web\"\nfacility = \"app.web\"\n",
    )
    .unwrap();
    let out = run(&[
        "classify-incident",
        "-v",
        "--rules",
        path_str(&rules),
        path_str(&incident),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let json = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("    json: "))
        .expect("the trigger as JSON");
    let trigger: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(trigger["facility"], "app.db");
    assert!(
        trigger["failure"]
            .as_str()
            .unwrap()
            .contains("ZeroDivisionError"),
        "{trigger}"
    );

    // A gathered file has no trigger in its header: said so, not guessed.
    let gathered = foolscap_file(py, dir.path(), "gathered.flog", "gathered");
    let out = run(&[
        "classify-incident",
        "--rules",
        path_str(&rules),
        path_str(&gathered),
    ]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("no trigger in its header"),
        "{}",
        out.stderr
    );
}

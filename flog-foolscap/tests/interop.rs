//! Both directions against foolscap's format: files written the way foolscap's
//! `flogfile` module writes them (by foolscap itself when it is installed), and
//! our files read back by foolscap's own `flogtool dump`.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use flog_core::{
    flogfile::{Header, HeaderKind},
    Event, Incarnation, Level, Text, Timestamp, Value,
};

/// A foolscap v1 flogfile as foolscap's `flogfile.serialize_*` lays it out.
const HAND_WRITTEN: &str = r#"# foolscap flogfile v1
{"header": {"type": "incident", "trigger": {"num": 3, "time": 1700000000.25, "incarnation": ["0102030405060708", null], "level": 30, "facility": "app.db", "format": "pool exhausted after %(ms)d ms", "ms": 250}, "pid": 4242, "versions": {"foolscap": "24.9.0", "app": "1.0"}}}
{"from": "tubid1", "rx_time": 1700000000.1, "d": {"num": 1, "time": 1700000000.1, "incarnation": ["0102030405060708", null], "level": 20, "message": "starting %s on port %d", "args": ["web", 8080]}}
{"from": "tubid1", "rx_time": 1700000000.2, "d": {"num": 2, "time": 1700000000.2, "incarnation": ["0102030405060708", null], "level": 23, "facility": "app.db", "format": "%(ratio).2f full", "ratio": 0.875, "parent": 1}}
{"from": "tubid1", "rx_time": 1700000000.25, "d": {"num": 3, "time": 1700000000.25, "incarnation": ["0102030405060708", null], "level": 30, "facility": "app.db", "format": "pool exhausted after %(ms)d ms", "ms": 250}}
{"from": "tubid1", "rx_time": 1700000000.3, "d": {"num": 4, "time": 1700000000.3, "incarnation": ["0102030405060708", null], "level": 40, "message": "boom", "isError": 1, "failure": {"@": "Failure", "str": "ValueError: x", "repr": "<Failure ValueError>", "traceback": "Traceback...\nValueError: x"}, "stacktrace": ["line 1", "line 2"]}}
"#;

fn check_hand_written(c: &flog_core::flogfile::FlogContents) {
    assert!(c.damage.is_none(), "{:?}", c.damage);
    let h = c.header.as_ref().unwrap();
    assert_eq!(
        (h.kind.clone(), h.pid),
        (Some(HeaderKind::Incident), Some(4242))
    );
    assert_eq!(h.versions.get("app").map(String::as_str), Some("1.0"));
    assert_eq!(
        h.trigger.as_ref().unwrap().render(),
        "pool exhausted after 250 ms"
    );
    let texts: Vec<_> = c.events.iter().map(|e| e.render().into_owned()).collect();
    assert_eq!(
        texts,
        [
            "starting web on port 8080",
            "0.88 full",
            "pool exhausted after 250 ms",
            "boom"
        ]
    );
    let e = &c.events;
    assert_eq!(e[0].time, Timestamp(1_700_000_000_100_000));
    assert_eq!(e[0].incarnation.unique, [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(e[1].parent, Some(1));
    assert_eq!(e[1].field("ratio"), Some(&Value::Float(0.875)));
    assert_eq!((e[2].level, e[2].facility()), (Level::WEIRD, "app.db"));
    assert!(
        matches!(&e[2].text, Text::Format(f) if f == "pool exhausted after {ms} ms"),
        "kept lazy"
    );
    assert!(e[3].is_error);
    assert!(e[3].failure.as_deref().unwrap().contains("ValueError: x"));
    assert_eq!(e[3].stack.as_deref(), Some("line 1\nline 2"));
}

#[test]
fn reads_foolscap_files_plain_and_bzip2() {
    check_hand_written(&flog_foolscap::read(HAND_WRITTEN.as_bytes()).unwrap());
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    enc.write_all(HAND_WRITTEN.as_bytes()).unwrap();
    check_hand_written(&flog_foolscap::read(std::io::Cursor::new(enc.finish().unwrap())).unwrap());
}

#[test]
fn recognises_pickles_furls_and_truncation() {
    let err = flog_foolscap::read(&b"(dp0\nS'header'\np1\n"[..]).unwrap_err();
    assert!(err.to_string().contains("pickle"), "{err}");
    let err = flog_foolscap::read(&b"pb://abcd@127.0.0.1:1234/logport"[..]).unwrap_err();
    assert!(err.to_string().contains("FURL"), "{err}");
    let cut = &HAND_WRITTEN[..HAND_WRITTEN.len() - 40];
    let c = flog_foolscap::read(cut.as_bytes()).unwrap();
    assert_eq!(c.events.len(), 3);
    assert!(c.damage.unwrap().is_truncated());
}

fn sample_events() -> (Header, Vec<Event>) {
    let inc = Incarnation {
        unique: [9, 8, 7, 6, 5, 4, 3, 2],
        sequential: Some(4),
    };
    let base = |num: u64, level: Level, text: Text| Event {
        num,
        time: Timestamp(1_700_000_000_000_000 + num as i64 * 1500),
        incarnation: inc,
        level,
        facility: Some("app.db".into()),
        text,
        ..Event::default()
    };
    let mut a = base(
        0,
        Level::OPERATIONAL,
        Text::Format("{user} used 100% of {quota} ({{literal}})".into()),
    );
    a.fields = [
        ("user".into(), "alice".into()),
        ("quota".into(), 5.into()),
        ("num".into(), "a field called num".into()),
    ]
    .into_iter()
    .collect();
    let mut b = base(1, Level::WEIRD, Text::Message("plain % text".into()));
    b.fields = [
        ("blob".into(), Value::Bytes(vec![0, 255])),
        (
            "nested".into(),
            Value::Map(vec![("k".into(), Value::List(vec![1.into(), true.into()]))]),
        ),
    ]
    .into_iter()
    .collect();
    b.parent = Some(0);
    b.is_error = true;
    b.failure = Some("Traceback\nValueError".into());
    b.stack = Some("frame 1\nframe 2".into());
    let header = Header {
        kind: HeaderKind::Incident.into(),
        name: Some("incident-2023-11-14T22-13-20.000000Z-0000".into()),
        trigger: Some(b.clone()),
        pid: Some(77),
        versions: [("flog-core".to_owned(), "0.1.0".to_owned())]
            .into_iter()
            .collect(),
        ..Header::default()
    };
    (header, vec![a, b])
}

#[test]
fn flog_events_survive_the_round_trip() {
    let (header, events) = sample_events();
    let mut file = Vec::new();
    flog_foolscap::write(&mut file, Some(&header), &events).unwrap();
    let back = flog_foolscap::read(file.as_slice()).unwrap();
    let h = back.header.unwrap();
    assert_eq!(
        (h.kind, h.pid, h.name, h.versions),
        (header.kind, header.pid, header.name, header.versions)
    );
    for (orig, got) in events.iter().zip(&back.events) {
        assert_eq!(got.render(), orig.render());
        assert_eq!(
            (got.num, got.time, got.level, got.parent, got.is_error),
            (orig.num, orig.time, orig.level, orig.parent, orig.is_error)
        );
        assert_eq!(got.incarnation, orig.incarnation);
        assert_eq!(got.facility, orig.facility);
        assert_eq!(got.failure, orig.failure);
        assert_eq!(got.stack, orig.stack);
    }
    assert_eq!(
        back.events[1].field("blob"),
        Some(&Value::Bytes(vec![0, 255]))
    );
    assert_eq!(
        back.events[0].field("flog_num"),
        Some(&Value::from("a field called num")),
        "reserved names are prefixed"
    );
}

/// foolscap's own tools, when installed (CI installs them with pip).
fn foolscap_python() -> Option<&'static str> {
    let ok = Command::new("python3")
        .args(["-c", "import foolscap.logging.flogfile"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        // Under CI the check is required: .ci/run installs foolscap.
        assert!(
            std::env::var_os("CI").is_none(),
            "foolscap is not installed (pip install foolscap), and CI is set"
        );
        eprintln!("foolscap is not installed (pip install foolscap): skipping the check against foolscap itself");
    }
    ok.then_some("python3")
}

#[test]
fn foolscaps_own_flogtool_dumps_our_files() {
    let Some(python) = foolscap_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (header, events) = sample_events();
    for name in ["out.flog", "out.flog.bz2"] {
        let path = dir.path().join(name);
        let file = std::fs::File::create(&path).unwrap();
        if name.ends_with(".bz2") {
            let mut enc = bzip2::write::BzEncoder::new(file, bzip2::Compression::default());
            flog_foolscap::write(&mut enc, Some(&header), &events).unwrap();
            enc.finish().unwrap();
        } else {
            flog_foolscap::write(file, Some(&header), &events).unwrap();
        }
        let out = Command::new(python)
            .args(["-c", "import sys; from foolscap.logging.cli import run_flogtool; sys.argv=['flogtool','dump','--verbose',sys.argv[1]]; run_flogtool()"])
            .arg(&path)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(
            stdout.contains("alice used 100% of 5 ({literal})"),
            "{stdout}\n{stderr}"
        );
        assert!(stdout.contains("plain % text"), "{stdout}");
        assert!(
            stdout.contains("Incident") || stdout.contains("incident"),
            "the header is kept: {stdout}"
        );
    }
}

#[test]
fn files_written_by_foolscap_itself_read() {
    let Some(python) = foolscap_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("foolscap.flog");
    let script = r#"
import sys, time
from foolscap.logging import flogfile
ev = {"num": 7, "time": 1700000000.5, "incarnation": ["0a0b0c0d0e0f1011", None],
      "level": 30, "facility": "app.upload", "format": "Uploading %(size)d byte file", "size": 1234}
with open(sys.argv[1], "wb") as f:
    f.write(flogfile.MAGIC)
    flogfile.serialize_header(f, "incident", trigger=ev, pid=99, versions={"foolscap": "x"})
    flogfile.serialize_wrapper(f, {"num": 6, "time": 1700000000.4, "level": 20, "message": "hello"}, from_="tub", rx_time=1.0)
    flogfile.serialize_wrapper(f, ev, from_="tub", rx_time=time.time())
"#;
    let status = Command::new(python)
        .args(["-c", script])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    let c = flog_foolscap::read_file(Path::new(&path)).unwrap();
    assert!(c.damage.is_none());
    assert_eq!(
        c.header.unwrap().trigger.unwrap().render(),
        "Uploading 1234 byte file"
    );
    let texts: Vec<_> = c.events.iter().map(|e| e.render().into_owned()).collect();
    assert_eq!(texts, ["hello", "Uploading 1234 byte file"]);
    assert_eq!(c.events[1].field("size"), Some(&Value::Int(1234)));
}

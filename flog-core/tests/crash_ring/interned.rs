//! Compact records in the crash ring: a child logs from `msg!` call sites
//! (whose buffered records hold only num, time, entry and values, the rest
//! being in the call-site dictionary, mirrored in the ring file) and from
//! dynamic ones (kept whole), writes what reading its buffers gives, and is
//! SIGKILLed having triggered nothing. The crash report must hold the same
//! events, facility, format and field names included.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use flog_core::flogfile::{read_flogfile, read_ring_file, FlogWriter, Header, RING_FILE};
use flog_core::{msg, Event, Level, Logger, Text};

use super::{check_header, logger, only_crash_report, Reported, Service};

/// What the child writes its buffers' events to, beside its logdir.
const BUFFERED: &str = "buffered.flog";
/// A format only the dictionary holds (its records are compact).
const DB_FORMAT: &str = "failed {conn} ({pool})";

/// Logs events of constant and dynamic call sites, few enough that every
/// buffer's segment holds all of its own; reports each as `LOGGED 0 num`.
fn log_interned(logger: &Logger) {
    let mut nums = Vec::new();
    for i in 0..30u64 {
        // A level expression: an entry per level.
        let level = Level(20 + (i % 3) as u16);
        nums.push(msg!(
            logger = logger,
            level,
            facility = "app.levels",
            "at {level} #{i}",
            level = level.0,
            i = i
        ));
        let err = std::io::Error::other("reset");
        nums.push(msg!(
            logger = logger,
            Level::CURIOUS,
            facility = "app.db",
            parent = Some(i),
            failure = err,
            "failed {conn} ({pool})",
            conn = i,
            pool = "main"
        ));
        nums.push(msg!(
            logger = logger,
            Level::UNUSUAL,
            "no facility {i} {ok}",
            i = i,
            ok = i % 2 == 0
        ));
        // A facility made at run time: stored whole.
        let dynamic = format!("app.dynamic.{}", i % 3);
        nums.push(msg!(
            logger = logger,
            Level::OPERATIONAL,
            facility = dynamic,
            "dynamic {i}",
            i = i
        ));
    }
    for i in 0..8u64 {
        // A compact record longer than a slot of the ring.
        nums.push(msg!(
            logger = logger,
            Level::OPERATIONAL,
            facility = "app.long",
            "long {i} {text}",
            i = i,
            text = "x".repeat(700)
        ));
    }
    for num in nums {
        println!("LOGGED 0 {}", num.expect("logged"));
    }
}

/// The child: logs, writes its buffers' events (read back as a dump reads
/// them) to `BUFFERED` beside the logdir, and waits to be killed.
pub(super) fn child(logger: &Logger, dir: &Path) {
    log_interned(logger);
    let events = logger.buffered_events();
    let mut out = FlogWriter::new(Vec::new(), &Header::default()).unwrap();
    for event in &events {
        out.write_event(event).unwrap();
    }
    let path = dir.parent().unwrap().join(BUFFERED);
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, out.into_inner().unwrap()).unwrap();
    std::fs::rename(&temp, &path).unwrap();
    println!("DUMPED {}", events.len());
    std::thread::park();
}

/// Starts the child in `root/logdir`, lets it log and dump, and kills it.
fn logged_and_killed(root: &Path) -> (Reported, u32, Vec<Event>) {
    let dir = root.join("logdir");
    std::fs::create_dir(&dir).unwrap();
    let mut service = Service::start("interned", &dir);
    let pid = service.child.id();
    let mut reported = Reported::default();
    let ended = service.read_until(|line| line.starts_with("DUMPED"), &mut reported);
    assert!(!ended, "the child ended before it dumped");
    service.child.kill().unwrap();
    assert_eq!(service.child.wait().unwrap().signal(), Some(9));
    let buffered = read_flogfile(&root.join(BUFFERED)).unwrap().events;
    (reported, pid, buffered)
}

/// The constant parts of each event are those its call site gave.
fn check_interned(events: &[Event]) {
    let names =
        |e: &Event| -> Vec<String> { e.fields.iter().map(|(k, _)| k.to_string()).collect() };
    for e in events {
        match e.facility() {
            "app.levels" => {
                assert!((20..23).contains(&e.level.0), "{e:?}");
                assert_eq!(e.text, Text::Format("at {level} #{i}".into()));
                assert_eq!(names(e), ["level", "i"]);
                assert!(e.render().starts_with(&format!("at {} #", e.level.0)));
            }
            "app.db" => {
                assert_eq!(e.level, Level::CURIOUS);
                assert_eq!(e.text, Text::Format(DB_FORMAT.into()));
                assert_eq!(names(e), ["conn", "pool"]);
                let conn = e.fields[0].1.to_string();
                assert_eq!(e.parent.map(|p| p.to_string()), Some(conn.clone()));
                assert!(e.is_error);
                assert_eq!(e.failure.as_deref(), Some("reset"));
                assert_eq!(e.render(), format!("failed {conn} (main)"));
            }
            "" => {
                assert_eq!(e.level, Level::UNUSUAL);
                assert_eq!(e.text, Text::Format("no facility {i} {ok}".into()));
                assert_eq!(names(e), ["i", "ok"]);
            }
            f if f.starts_with("app.dynamic.") => {
                assert!(e.render().starts_with("dynamic "), "{e:?}");
            }
            "app.long" => {
                assert_eq!(names(e), ["i", "text"]);
                assert!(e.render().ends_with(&"x".repeat(700)));
            }
            other => panic!("unexpected facility {other:?}"),
        }
    }
}

#[test]
fn a_crash_report_of_compact_records_holds_what_the_buffers_held() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("logdir");
    let (reported, pid, buffered) = logged_and_killed(root.path());
    // The ring holds compact records (first byte 0, see docs/flogfile.md)
    // and the dictionary entries they name: one per level of the first call
    // site, and one for each of the other three constant ones.
    let ring = read_ring_file(&dir.join(RING_FILE)).unwrap();
    assert!(ring.warnings.is_empty(), "{:?}", ring.warnings);
    assert_eq!(ring.dictionary.len(), 6);
    let records = ring.segments.iter().flat_map(|s| &s.records);
    let compact = records.filter(|r| r.bytes.first() == Some(&0)).count();
    assert_eq!(compact, 3 * 30 + 8, "every constant call site's event");

    drop(logger(&dir, false));
    let report = only_crash_report(&dir);
    check_header(&report, pid);
    assert!(!report.trailer.as_ref().unwrap().truncated);
    let incarnation = report.header.as_ref().unwrap().incarnation;
    assert!(report
        .events
        .iter()
        .all(|e| Some(e.incarnation) == incarnation));
    assert_eq!(report.events, buffered, "what reading the buffers gave");
    let nums: Vec<u64> = report.events.iter().map(|e| e.num).collect();
    assert_eq!(nums, reported.logged[&0], "what the child logged");
    check_interned(&report.events);
}

/// A corrupt dictionary entry in a dead process's ring: a clear warning,
/// the records that name it (or a later entry) left out, the rest reported.
#[test]
fn a_corrupt_dictionary_entry_leaves_out_its_records_with_a_warning() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("logdir");
    let (_, _, buffered) = logged_and_killed(root.path());
    let path = dir.join(RING_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes
        .windows(DB_FORMAT.len())
        .position(|w| w == DB_FORMAT.as_bytes())
        .expect("the call site's format, in the ring's dictionary");
    bytes[at] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();

    let errors = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&errors);
    let next = Logger::builder()
        .logdir(&dir)
        .on_error(move |e| seen.lock().unwrap().push(e.to_string()))
        .build();
    drop(next.unwrap());
    let errors = errors.lock().unwrap().clone();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("dictionary entry 1 is corrupt"),
        "{errors:?}"
    );
    assert!(
        errors[0].contains("records name a dictionary entry the ring file does not hold"),
        "{errors:?}"
    );
    let report = only_crash_report(&dir);
    assert!(report.trailer.as_ref().unwrap().truncated);
    // Entry 0 (the first level's) and the whole records survive; entry 1
    // (app.db) and those after it are gone with their records.
    let kept: Vec<&Event> = buffered
        .iter()
        .filter(|e| {
            e.facility().starts_with("app.dynamic.")
                || (e.facility() == "app.levels" && e.level == Level(20))
        })
        .collect();
    assert_eq!(report.events.iter().collect::<Vec<_>>(), kept);
    check_interned(&report.events);
}

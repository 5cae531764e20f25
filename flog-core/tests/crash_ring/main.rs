//! The crash ring with real child processes: the test binary runs itself as
//! the service (the ignored `ring_child` entry point), which logs from four
//! threads and reports on stdout each event number it logged, once the
//! logging call returned. The parent kills it (SIGKILL at random moments,
//! abort, SIGSEGV), and the next logger on the logdir must write a `crash`
//! incident holding exactly the newest complete events of each buffer.
//! `interned.rs`: the same for events of `msg!` call sites, whose records
//! are compact and name entries of the call-site dictionary; `flushing.rs`:
//! with the ring flushed to disk every period.

#[path = "../common/mod.rs"]
mod common;
mod flushing;
mod global;
mod interned;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};

use common::files_in;
use flog_core::flogfile::{
    peek_ring_file, read_flogfile, read_ring_file, EndReason, FlogContents, HeaderKind, RingState,
    RING_FILE,
};
use flog_core::{ring_events, Event, Level, Logger};

const MODE: &str = "FLOG_RING_CHILD_MODE";
const DIR: &str = "FLOG_RING_CHILD_DIR";
const THREADS: usize = 4;
/// A small budget, so the rings wrap within a round: about 90 slots for
/// each buffer.
const BUDGET: usize = 1 << 20;
const MAX_BUFFERS: usize = 30;

fn logger(dir: &Path, ring: bool) -> Logger {
    Logger::builder()
        .logdir(dir)
        .crash_ring(ring)
        .memory_budget(BUDGET)
        .max_buffers(MAX_BUFFERS)
        .trailing(false)
        .version("ring-child", "1.2.3")
        .build()
        .unwrap()
}

fn log_one(logger: &Logger, thread: usize, i: u64) -> u64 {
    logger
        .event(Level::OPERATIONAL)
        .facility(format!("t{thread}"))
        .format("tick {i}")
        .field("i", i)
        .emit()
        .unwrap()
}

/// Logs from four threads, `per_thread` events each (`None`: until killed),
/// reporting `LOGGED thread num` after each call returned.
fn log_from_threads(logger: &Logger, per_thread: Option<u64>) {
    let out = Arc::new(Mutex::new(std::io::stdout()));
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (logger, out) = (logger.clone(), Arc::clone(&out));
            s.spawn(move || {
                let mut i = 0;
                while per_thread.is_none_or(|n| i < n) {
                    let num = log_one(&logger, t, i);
                    let mut out = out.lock().unwrap();
                    writeln!(out, "LOGGED {t} {num}").unwrap();
                    out.flush().unwrap();
                    i += 1;
                }
            });
        }
    });
}

/// The child's side. Ignored so that only a parent test runs it, on purpose.
#[test]
#[ignore = "entry point of the child processes of the crash ring tests"]
fn ring_child() {
    let mode = std::env::var(MODE).expect("run by the crash ring tests");
    let dir = PathBuf::from(std::env::var(DIR).unwrap());
    if let Some(mode) = mode.strip_prefix("global-") {
        return global::child(mode, &dir);
    }
    if let Some(mode) = mode.strip_prefix("flushing-") {
        return flushing::child(mode, &dir);
    }
    let logger = logger(&dir, true);
    println!("READY");
    match mode.as_str() {
        "forever" => log_from_threads(&logger, None),
        "abort" => {
            log_from_threads(&logger, Some(150));
            std::process::abort();
        }
        "segv" => {
            log_from_threads(&logger, Some(150));
            // A real segfault: a store to address 0, as a bug in C code
            // would make. (A SIGSEGV sent with kill(2) would not do: std's
            // stack-overflow handler takes it and returns.)
            #[allow(unsafe_code)]
            // SAFETY: none; it is meant to fault, in this child only.
            unsafe {
                std::ptr::null_mut::<u8>().write_volatile(0);
            }
            unreachable!("the store faults");
        }
        "clean" => {
            log_from_threads(&logger, Some(50));
            drop(logger);
        }
        "incident" => {
            log_from_threads(&logger, Some(40));
            let num = logger.msg(Level::WEIRD, "an incident").unwrap();
            logger.finish_incidents();
            println!("INCIDENT {num}");
            for i in 0..3 {
                let num = log_one(&logger, 0, 1000 + i);
                println!("LOGGED 0 {num}");
            }
            println!("STOPPED");
            std::thread::park();
        }
        "interned" => interned::child(&logger, &dir),
        "stop" => {
            log_from_threads(&logger, Some(30));
            println!("STOPPED");
            std::thread::park();
        }
        other => panic!("unknown mode {other}"),
    }
}

/// A child that outlives a failed test would hold its logdir and pipes.
struct Service {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the child reported: per thread, the nums it logged, in order.
#[derive(Default, Debug)]
struct Reported {
    logged: BTreeMap<usize, Vec<u64>>,
    incident: Option<u64>,
}

impl Service {
    fn start(mode: &str, dir: &Path) -> Service {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "ring_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(MODE, mode)
        .env(DIR, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let mut service = Service { child, out };
        // libtest's "test ring_child ... " comes first, on the same line.
        let ended = service.read_until(|line| line.ends_with("READY"), &mut Reported::default());
        assert!(!ended, "the child ended before it was ready");
        service
    }

    /// Reads reports until `stop` says so or the output ends; true if it ended.
    fn read_until(&mut self, mut stop: impl FnMut(&str) -> bool, into: &mut Reported) -> bool {
        let mut line = String::new();
        loop {
            line.clear();
            if self.out.read_line(&mut line).unwrap() == 0 {
                return true;
            }
            // A line cut by the kill is no report.
            let Some(line) = line.strip_suffix('\n') else {
                return true;
            };
            let words: Vec<&str> = line.split(' ').collect();
            match words[..] {
                ["LOGGED", t, num] => into
                    .logged
                    .entry(t.parse().unwrap())
                    .or_default()
                    .push(num.parse().unwrap()),
                ["INCIDENT", num] => into.incident = Some(num.parse().unwrap()),
                _ => {}
            }
            if stop(line) {
                return false;
            }
        }
    }

    /// Everything the child reported until its output ended.
    fn finish(&mut self, into: &mut Reported) {
        self.read_until(|_| false, into);
    }
}

/// The crash reports in `dir`.
fn crash_reports(dir: &Path) -> Vec<FlogContents> {
    files_in(dir)
        .iter()
        .filter(|n| n.ends_with(".flog.bz2"))
        .map(|n| read_flogfile(&dir.join(n)).unwrap())
        .filter(|c| c.header.as_ref().unwrap().kind == Some(HeaderKind::Crash))
        .collect()
}

fn only_crash_report(dir: &Path) -> FlogContents {
    let mut reports = crash_reports(dir);
    assert_eq!(reports.len(), 1, "{:?}", files_in(dir));
    reports.remove(0)
}

/// How many records each thread's segment holds, from the ring file.
fn capacities(dir: &Path) -> BTreeMap<String, usize> {
    let ring = read_ring_file(&dir.join(RING_FILE)).unwrap();
    let mut nums: Vec<u64> = ring
        .segments
        .iter()
        .flat_map(|s| s.records.iter().map(|r| r.num))
        .collect();
    let len = nums.len();
    nums.sort_unstable();
    nums.dedup();
    assert_eq!(nums.len(), len, "a record in the ring twice");
    ring.segments
        .iter()
        .filter(|s| !s.overflow)
        .map(|s| (s.facility.clone(), s.slots))
        .collect()
}

/// The report holds, for each thread, exactly its newest events up to its
/// segment's capacity: the last ones it reported, and at most one more it
/// logged but was killed before reporting. None torn, none twice.
fn check_newest(report: &FlogContents, reported: &Reported, caps: &BTreeMap<String, usize>) {
    let mut by_thread: BTreeMap<usize, Vec<&Event>> = BTreeMap::new();
    for e in &report.events {
        let t = e.facility().strip_prefix('t').unwrap().parse().unwrap();
        by_thread.entry(t).or_default().push(e);
    }
    let nums: Vec<u64> = report.events.iter().map(|e| e.num).collect();
    assert!(nums.windows(2).all(|p| p[0] < p[1]), "in order, once each");
    for (t, logged) in &reported.logged {
        let got = &by_thread[t];
        let cap = caps[&format!("t{t}")];
        let reported_in: Vec<u64> = got
            .iter()
            .map(|e| e.num)
            .filter(|n| logged.contains(n))
            .collect();
        let extra = got.len() - reported_in.len();
        assert!(extra <= 1, "thread {t}: {extra} events never reported");
        if extra == 1 {
            assert!(got.last().unwrap().num > *logged.last().unwrap());
        }
        // The newest reported ones, contiguous, to the last.
        assert_eq!(
            reported_in[..],
            logged[logged.len() - reported_in.len()..],
            "thread {t}"
        );
        // As many as its segment holds, but one: the slot of an event that
        // was being written when the process died (then not reported, and
        // not in the report either: torn).
        let full = cap.min(logged.len() + extra);
        let torn_slot = extra == 0 && logged.len() >= cap && got.len() == cap - 1;
        assert!(
            got.len() == full || torn_slot,
            "thread {t}: {} events, its segment holds {cap}, it logged {}",
            got.len(),
            logged.len()
        );
        for e in got {
            let i = match e.fields.iter().find(|(k, _)| k == "i") {
                Some((_, v)) => v.to_string(),
                None => panic!("a torn event: {e:?}"),
            };
            assert_eq!(e.render(), format!("tick {i}"));
        }
    }
}

fn check_header(report: &FlogContents, pid: u32) {
    let header = report.header.as_ref().unwrap();
    assert_eq!(header.pid, Some(pid));
    assert!(header.incarnation.is_some() && header.started.is_some());
    assert_eq!(
        header.versions.get("ring-child").map(String::as_str),
        Some("1.2.3")
    );
    let trailer = report.trailer.as_ref().unwrap();
    assert_eq!(trailer.end, Some(EndReason::Killed));
    assert_eq!(trailer.events, Some(report.events.len() as u64));
}

/// A tiny xorshift, seeded from the clock and printed, to rerun a round.
fn rounds_rng() -> impl FnMut() -> u64 {
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("crash ring rounds seed {x}");
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

#[test]
fn killed_at_random_moments_the_next_start_reports_the_newest_events() {
    let mut rng = rounds_rng();
    for round in 0..50 {
        let dir = tempfile::tempdir().unwrap();
        let mut service = Service::start("forever", dir.path());
        let pid = service.child.id();
        let mut reported = Reported::default();
        let wanted = 1 + rng() % 1500;
        let mut seen = 0;
        service.read_until(
            |_| {
                seen += 1;
                seen >= wanted
            },
            &mut reported,
        );
        service.child.kill().unwrap();
        assert_eq!(service.child.wait().unwrap().signal(), Some(9));
        service.finish(&mut reported);
        let caps = capacities(dir.path());

        let next = logger(dir.path(), true);
        let report = only_crash_report(dir.path());
        check_header(&report, pid);
        check_newest(&report, &reported, &caps);
        assert!(
            report.events.len() >= reported.logged.values().map(|l| l.len().min(2)).sum(),
            "round {round}"
        );
        // A new ring was started, for the new logger.
        let ring = read_ring_file(&dir.path().join(RING_FILE)).unwrap();
        assert_eq!(
            (ring.state, ring.pid),
            (RingState::Live, std::process::id())
        );
        drop(next);
        assert_eq!(crash_reports(dir.path()).len(), 1, "no second report");
    }
}

fn died_by(mode: &str, signal: i32) {
    let dir = tempfile::tempdir().unwrap();
    let mut service = Service::start(mode, dir.path());
    let pid = service.child.id();
    let mut reported = Reported::default();
    service.finish(&mut reported);
    assert_eq!(service.child.wait().unwrap().signal(), Some(signal));
    assert_eq!(reported.logged.values().map(Vec::len).sum::<usize>(), 600);
    let caps = capacities(dir.path());
    drop(logger(dir.path(), false));
    let report = only_crash_report(dir.path());
    check_header(&report, pid);
    check_newest(&report, &reported, &caps);
    assert!(
        !dir.path().join(RING_FILE).exists(),
        "retired, and none new"
    );
}

#[test]
fn after_abort_the_next_start_reports_the_newest_events() {
    died_by("abort", 6);
}

#[test]
fn after_a_segfault_the_next_start_reports_the_newest_events() {
    died_by("segv", 11);
}

#[test]
fn killed_right_after_an_incident_the_crash_report_repeats_none_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = Service::start("incident", dir.path());
    let mut reported = Reported::default();
    service.read_until(|line| line == "STOPPED", &mut reported);
    service.child.kill().unwrap();
    service.child.wait().unwrap();
    let trigger = reported.incident.unwrap();
    drop(logger(dir.path(), false));
    let incident: Vec<FlogContents> = files_in(dir.path())
        .iter()
        .filter(|n| n.ends_with(".flog.bz2"))
        .map(|n| read_flogfile(&dir.path().join(n)).unwrap())
        .filter(|c| c.header.as_ref().unwrap().kind == Some(HeaderKind::Incident))
        .collect();
    assert_eq!(incident.len(), 1);
    let recorded: Vec<u64> = incident[0].events.iter().map(|e| e.num).collect();
    assert!(recorded.contains(&trigger));
    let crash = only_crash_report(dir.path());
    let after: Vec<u64> = crash.events.iter().map(|e| e.num).collect();
    // Only what was logged after the incident was recorded.
    assert_eq!(after, reported.logged[&0][40..]);
    assert!(after.iter().all(|n| !recorded.contains(n)));
    let trailer = crash.trailer.unwrap();
    assert_eq!(trailer.excluded_through, recorded.last().copied());
}

#[test]
fn a_clean_exit_leaves_no_crash_report() {
    exits_cleanly_and_leaves_no_crash_report("clean");
}

/// The child in `mode` exits cleanly: its ring is closed, and the next start
/// reports no crash and retires the ring.
fn exits_cleanly_and_leaves_no_crash_report(mode: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut service = Service::start(mode, dir.path());
    service.finish(&mut Reported::default());
    assert!(service.child.wait().unwrap().success());
    let ring = read_ring_file(&dir.path().join(RING_FILE)).unwrap();
    assert_eq!(ring.state, RingState::Closed);
    drop(logger(dir.path(), false));
    assert_eq!(crash_reports(dir.path()).len(), 0);
    assert!(!dir.path().join(RING_FILE).exists());
}

#[test]
fn a_stopped_service_can_be_peeked_at() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = Service::start("stop", dir.path());
    let mut reported = Reported::default();
    service.read_until(|line| line == "STOPPED", &mut reported);
    let pid = rustix::process::Pid::from_child(&service.child);
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
    let ring = peek_ring_file(&dir.path().join(RING_FILE)).unwrap();
    assert_eq!(ring.state, RingState::Live);
    let events = ring_events(&ring, None).events;
    let mut logged: Vec<u64> = reported.logged.values().flatten().copied().collect();
    logged.sort_unstable();
    assert_eq!(events.iter().map(|e| e.num).collect::<Vec<_>>(), logged);
    rustix::process::kill_process(pid, rustix::process::Signal::CONT).unwrap();
}

/// Damage to a dead process's ring: a clear warning, and the rest reported.
#[test]
fn a_damaged_ring_gives_a_warning_and_the_rest() {
    for damage in ["segment", "truncate"] {
        let dir = tempfile::tempdir().unwrap();
        let mut service = Service::start("abort", dir.path());
        service.finish(&mut Reported::default());
        service.child.wait().unwrap();
        let path = dir.path().join(RING_FILE);
        let clean = ring_events(&read_ring_file(&path).unwrap(), None).events;
        let mut bytes = std::fs::read(&path).unwrap();
        match damage {
            // One bit of one event's text, as a bad disk block would.
            "segment" => {
                let at = find_format(&bytes);
                bytes[at] ^= 0x40;
            }
            // Past the overflow buffer's segment and into the threads'.
            _ => bytes.truncate(bytes.len() * 33 / 100),
        }
        std::fs::write(&path, &bytes).unwrap();
        let errors = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&errors);
        let next = Logger::builder()
            .logdir(dir.path())
            .on_error(move |e| seen.lock().unwrap().push(e.to_string()))
            .build();
        drop(next.unwrap());
        let errors = errors.lock().unwrap().clone();
        assert_eq!(errors.len(), 1, "{errors:?}");
        let report = only_crash_report(dir.path());
        assert!(report.trailer.as_ref().unwrap().truncated);
        assert!(!report.events.is_empty(), "{damage}: the rest is reported");
        assert!(report.events.len() < clean.len(), "{damage}");
        for e in &report.events {
            assert!(clean.contains(e), "{damage}: only valid events");
        }
        match damage {
            "segment" => assert!(errors[0].contains("corrupt slots"), "{errors:?}"),
            _ => assert!(errors[0].contains("truncated"), "{errors:?}"),
        }
    }
}

/// Where the first event's format text is in a ring file's bytes.
fn find_format(bytes: &[u8]) -> usize {
    let text = b"tick {i}";
    bytes
        .windows(text.len())
        .position(|w| w == text)
        .expect("an event's format in the ring")
}

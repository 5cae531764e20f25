//! Event gathering by the real daemon (`[events]`): a SIGKILL mid-stream
//! and the restart after it, `flog-gatherer rotate BASEDIR` against the
//! running daemon, and a full disk under `BASEDIR/events`.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use flog_core::flogfile::{EndReason, FlogReader, GapReason, ReadError, Record};
use flog_core::{Level, Logger};

use crate::support::{add_publisher, add_rule, create, eventually, gatherer, Daemon, Service};

pub(crate) const FACILITY: &str = "app.stream";

/// A base directory gathering events of `service` with `[events]` holding
/// `events` (its keys, one a line).
fn basedir_for(dir: &Path, service: &Service, events: &str) -> PathBuf {
    let basedir = dir.join("g");
    create(
        &basedir,
        &[("poll_interval", "\"100ms\""), ("min_backoff", "\"50ms\"")],
    );
    add_rule(&basedir, &format!("[events]\n{events}"));
    add_publisher(
        &basedir,
        "service.url",
        &service.publisher.url().to_string(),
    );
    basedir
}

fn events_dir(basedir: &Path) -> PathBuf {
    basedir.join(flog_gatherer::EVENTS_DIR)
}

/// The gathered files' names, sorted (by time).
fn files(basedir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(events_dir(basedir)) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("from-"))
        .collect();
    names.sort();
    names
}

fn present(basedir: &Path) -> Vec<String> {
    files(basedir)
        .into_iter()
        .filter(|n| n.ends_with("---to-present.flog"))
        .collect()
}

/// The complete records of a file, and the error that ended reading, if
/// one did.
pub(crate) fn read(path: &Path) -> (Vec<Record>, Option<ReadError>) {
    let mut records = Vec::new();
    let reader = match FlogReader::open(path) {
        Ok(reader) => reader,
        Err(e) => return (records, Some(e)),
    };
    for record in reader {
        match record {
            Ok(record) => records.push(record),
            Err(e) => return (records, Some(e)),
        }
    }
    (records, None)
}

/// Every complete record of every gathered file, in file order.
fn gathered(basedir: &Path) -> Vec<Record> {
    files(basedir)
        .iter()
        .flat_map(|name| read(&events_dir(basedir).join(name)).0)
        .collect()
}

/// A gap's reason and its first and last numbers.
pub(crate) type Gapped = (GapReason, u64, u64);

/// The stream's event numbers in the files (each as often as stored), and
/// the gaps (reason, first, last).
pub(crate) fn tally(records: &[Record]) -> (BTreeMap<u64, usize>, Vec<Gapped>) {
    let mut stored = BTreeMap::new();
    let mut gaps = Vec::new();
    for record in records {
        match record {
            Record::Received(r) if r.event.facility.as_deref() == Some(FACILITY) => {
                *stored.entry(r.event.num).or_insert(0) += 1;
            }
            Record::Gap(g) => {
                let (Some(first), Some(last)) = (g.first, g.last) else {
                    panic!("a gap without its numbers: {g:?}");
                };
                gaps.push((g.reason.clone(), first, last));
            }
            _ => {}
        }
    }
    (stored, gaps)
}

/// Every logged number is stored exactly once or inside a gap, never both.
pub(crate) fn check_once_or_marked(records: &[Record], logged: &[u64]) {
    let (stored, gaps) = tally(records);
    let twice: Vec<_> = stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    for num in logged {
        let in_gap = gaps.iter().any(|(_, f, l)| f <= num && num <= l);
        let kept = stored.contains_key(num);
        assert!(
            kept != in_gap,
            "#{num}: stored {kept}, in a gap {in_gap}; gaps {gaps:?}"
        );
    }
}

/// A thread logging events of `pad` bytes into [`FACILITY`] until stopped.
pub(crate) struct Stream {
    stop: Arc<AtomicBool>,
    logged: Arc<Mutex<Vec<u64>>>,
    thread: Option<JoinHandle<()>>,
}

impl Stream {
    pub(crate) fn start(logger: Logger, pad: usize) -> Stream {
        let stop = Arc::new(AtomicBool::new(false));
        let logged = Arc::new(Mutex::new(Vec::new()));
        let (s, l) = (stop.clone(), logged.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let text = format!("{:0pad$}", l.lock().unwrap().len());
                let num = logger
                    .event(Level::OPERATIONAL)
                    .facility(FACILITY)
                    .message(text)
                    .emit()
                    .unwrap();
                l.lock().unwrap().push(num);
                // Pacing, not waiting for anything: a steady stream the
                // publisher's buffers can hold across a restart.
                std::thread::sleep(Duration::from_micros(500));
            }
        });
        Stream {
            stop,
            logged,
            thread: Some(thread),
        }
    }

    pub(crate) fn logged(&self) -> Vec<u64> {
        self.logged.lock().unwrap().clone()
    }

    /// Stops logging; every number logged.
    pub(crate) fn finish(mut self) -> Vec<u64> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap();
        self.logged()
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Waits until the files hold (stored or as gaps) every number in `nums`.
fn wait_stored(basedir: &Path, what: &str, nums: &[u64]) {
    eventually(what, || {
        let (stored, gaps) = tally(&gathered(basedir));
        nums.iter()
            .all(|n| stored.contains_key(n) || gaps.iter().any(|(_, f, l)| f <= n && n <= l))
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_daemon_leaves_a_readable_file_and_its_restart_closes_it_and_goes_on_once() {
    let service = Service::start().await;
    let dir = tempfile::tempdir().unwrap();
    let basedir = basedir_for(dir.path(), &service, "compress = false\n");
    let stream = Stream::start(service.logger.clone(), 64);

    let mut daemon = Daemon::start(&basedir);
    let before: Vec<u64> = {
        eventually("a few hundred events logged", || {
            stream.logged().len() >= 300
        });
        stream.logged()
    };
    wait_stored(&basedir, "the first events in the file", &before);
    daemon.signal("KILL");
    daemon.wait_exit();

    // Readable up to its last complete record; a cut record only at its end.
    let left = present(&basedir);
    assert_eq!(left.len(), 1, "one current file: {:?}", files(&basedir));
    let left_path = events_dir(&basedir).join(&left[0]);
    let (records, error) = read(&left_path);
    assert!(
        error.as_ref().is_none_or(ReadError::is_truncated),
        "{left:?} does not read: {error:?}"
    );
    let error_was_cut = error.is_some();
    assert!(matches!(records.first(), Some(Record::Header(_))));
    // Stored, or (the oldest, evicted before the daemon's first catch-up)
    // in a gap.
    let (stored, gaps) = tally(&records);
    assert!(before
        .iter()
        .all(|n| stored.contains_key(n) || gaps.iter().any(|(_, f, l)| f <= n && n <= l)));
    let left_events = records
        .iter()
        .filter(|r| matches!(r, Record::Received(_)))
        .count() as u64;
    // The bytes of its complete records: a cut last record goes, nothing
    // else changes.
    let complete = {
        let mut reader = FlogReader::open(&left_path).unwrap();
        while let Ok(Some(_)) = reader.next_record() {}
        let mut bytes = fs::read(&left_path).unwrap();
        bytes.truncate(reader.complete_bytes() as usize);
        bytes
    };
    let inode = fs::metadata(&left_path).unwrap().ino();

    let mut daemon = Daemon::start(&basedir);
    let line = daemon.wait_line(&["stopped abruptly", "`recovered` trailer"]);
    assert!(
        line.contains(&format!("({left_events} events)")),
        "{line}: not the {left_events} events of the file"
    );
    let from = left[0].trim_end_matches("---to-present.flog");
    let closed: Vec<String> = files(&basedir)
        .into_iter()
        .filter(|n| n.starts_with(&format!("{from}---to-")) && !n.ends_with("to-present.flog"))
        .collect();
    assert_eq!(closed.len(), 1, "{:?}", files(&basedir));
    assert!(closed[0].ends_with(".flog"), "compress is off: {closed:?}");
    let closed_path = events_dir(&basedir).join(&closed[0]);
    // Renamed, not rewritten: the same file, its complete records byte for
    // byte, then a trailer saying it ended by recovery, with its count.
    assert_eq!(fs::metadata(&closed_path).unwrap().ino(), inode);
    assert!(
        fs::read(&closed_path).unwrap().starts_with(&complete),
        "the closed file was rewritten"
    );
    let (closed_records, error) = read(&closed_path);
    assert!(
        error.is_none(),
        "{closed:?} does not read to its end: {error:?}"
    );
    assert_eq!(closed_records.len(), records.len() + 1, "{closed:?}");
    let Some(Record::Trailer(trailer)) = closed_records.last() else {
        panic!("{closed:?} ends with {:?}", closed_records.last())
    };
    assert_eq!(trailer.end, Some(EndReason::Recovered), "{trailer:?}");
    assert!(trailer.recovered, "{trailer:?}");
    assert_eq!(trailer.truncated, error_was_cut, "{trailer:?}");
    assert_eq!(trailer.events, Some(left_events), "{trailer:?}");
    assert!(!left_path.exists());
    // Recovery is reported before the new file opens.
    eventually("a new current file", || present(&basedir).len() == 1);
    let now = present(&basedir);
    assert!(
        now[0] > left[0],
        "a new current file: {now:?} after {left:?}"
    );

    let at_restart = stream.logged().len();
    eventually("more events logged after the restart", || {
        stream.logged().len() >= at_restart + 300
    });
    let logged = stream.finish();
    // What the restart's catch-up no longer found (the buffers hold 100
    // events, 50 ms of the stream) is an open hole, a gap only once the
    // stream is 1024 events past it or the connection ends (docs/gatherer.md):
    // so the daemon is stopped once the last event is in, then every one
    // is checked.
    wait_stored(
        &basedir,
        "the last event logged",
        &logged[logged.len() - 1..],
    );
    assert_eq!(daemon.stop().code(), Some(0));
    let records = gathered(&basedir);
    check_once_or_marked(&records, &logged);
    // Those logged after the restart arrive, none lost.
    let (stored, _) = tally(&records);
    let lost: Vec<_> = logged[at_restart..]
        .iter()
        .filter(|n| !stored.contains_key(n))
        .collect();
    assert!(
        lost.is_empty(),
        "logged after the restart, not stored: {lost:?}"
    );
}

/// `flog-gatherer rotate BASEDIR`.
pub(crate) fn rotate(basedir: &Path) -> std::process::Output {
    gatherer(&["rotate", basedir.to_str().unwrap()])
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_closes_and_compresses_the_running_daemons_file_and_fails_clearly_without_one() {
    let service = Service::start().await;
    let dir = tempfile::tempdir().unwrap();
    let basedir = basedir_for(dir.path(), &service, "compress = true\n");
    let stream = Stream::start(service.logger.clone(), 16);
    let mut daemon = Daemon::start(&basedir);
    eventually("events logged", || stream.logged().len() >= 100);
    wait_stored(&basedir, "the first events in the file", &stream.logged());
    let first = present(&basedir);
    assert_eq!(first.len(), 1, "{:?}", files(&basedir));

    let output = rotate(&basedir);
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("rotated"));
    let from = first[0].trim_end_matches("---to-present.flog").to_owned();
    let compressed = |basedir: &Path| -> Vec<String> {
        files(basedir)
            .into_iter()
            .filter(|n| n.starts_with(&format!("{from}---to-")) && n.ends_with(".flog.bz2"))
            .collect()
    };
    eventually("the closed file compressed", || {
        compressed(&basedir).len() == 1
            && !files(&basedir)
                .iter()
                .any(|n| n.starts_with(&from) && n.ends_with(".flog"))
    });
    let closed = compressed(&basedir).remove(0);
    // from-T1---to-T2 with T2 not before T1 (names sort by time).
    let to = closed
        .trim_start_matches(&format!("{from}---to-"))
        .trim_end_matches(".flog.bz2");
    assert!(
        to >= from.trim_start_matches("from-"),
        "{closed}: ends before it starts"
    );
    let (records, error) = read(&events_dir(&basedir).join(&closed));
    assert!(error.is_none(), "{closed}: {error:?}");
    assert!(
        matches!(records.last(), Some(Record::Trailer(t)) if t.end == Some(EndReason::Rotated)),
        "{closed} ends with {:?}",
        records.last()
    );
    let now = present(&basedir);
    assert_eq!(now.len(), 1, "{:?}", files(&basedir));
    assert!(now[0] > first[0], "{now:?} after {first:?}");

    // The new file takes the stream; nothing lost or twice over the rotation.
    let at_rotation = stream.logged().len();
    eventually("more events logged", || {
        stream.logged().len() >= at_rotation + 100
    });
    let logged = stream.finish();
    wait_stored(&basedir, "every event logged", &logged);
    let (in_new, _) = tally(&read(&events_dir(&basedir).join(&now[0])).0);
    assert!(in_new.contains_key(logged.last().unwrap()));
    assert_eq!(daemon.stop().code(), Some(0));
    check_once_or_marked(&gathered(&basedir), &logged);

    // No gatherer running there now: a clear refusal, at once.
    let started = std::time::Instant::now();
    let output = rotate(&basedir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{output:?}");
    assert!(stderr.contains("no gatherer is running"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        !events_dir(&basedir)
            .join(flog_gatherer::ROTATE_REQUEST)
            .exists(),
        "a request left behind to rotate by surprise at the next start"
    );
    // And where none ever gathered events.
    let empty = dir.path().join("never");
    create(&empty, &[]);
    let output = rotate(&empty);
    assert!(!output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no gatherer"),
        "{output:?}"
    );
}

/// The `unwritten` count of the daemon's "writing events again" line.
fn unwritten_in(line: &str) -> u64 {
    let value: serde_json::Value = serde_json::from_str(line).unwrap();
    let find = |v: &serde_json::Value| v.get("unwritten").and_then(serde_json::Value::as_u64);
    find(&value)
        .or_else(|| value.get("fields").and_then(find))
        .unwrap_or_else(|| panic!("no unwritten count in {line}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_events_disk_pauses_gathering_reports_once_and_resumes_with_gaps() {
    let Some(disk) = flog_testkit::SmallDisk::mount("256k") else {
        return;
    };
    let service = Service::start().await;
    let id = service.id();
    let dir = tempfile::tempdir().unwrap();
    let basedir = basedir_for(dir.path(), &service, "compress = false\n");
    std::os::unix::fs::symlink(&disk.path, events_dir(&basedir)).unwrap();
    let stream = Stream::start(service.logger.clone(), 512);
    let mut daemon = Daemon::start(&basedir);
    const PAUSED: &str = "event gathering pauses";
    daemon.wait_line(&[PAUSED]);
    let at_full = stream.logged().len();

    // Incidents are still gathered.
    let name = service.incident("app", 0);
    let stored = basedir.join(format!("incidents/{id}/{name}.flog.bz2"));
    eventually("the incident stored", || stored.exists());
    // Retried every second meanwhile (at least two seconds of the stream),
    // reported once.
    eventually("the stream goes on", || {
        stream.logged().len() >= at_full + 4000
    });
    daemon.read_available();
    let reports = |d: &Daemon| d.seen.iter().filter(|l| l.contains(PAUSED)).count();
    assert_eq!(reports(&daemon), 1, "{}", daemon.seen.join("\n"));

    disk.resize("64m");
    let resumed = daemon.wait_line(&["writing events again"]);
    let unwritten = unwritten_in(&resumed);
    assert!(unwritten > 0, "{resumed}");
    let at_resume = stream.logged().len();
    eventually("more events after resuming", || {
        stream.logged().len() >= at_resume + 300
    });
    let logged = stream.finish();
    wait_stored(&basedir, "every event logged", &logged);
    assert_eq!(daemon.stop().code(), Some(0));
    assert_eq!(reports(&daemon), 1, "{}", daemon.seen.join("\n"));

    let records = gathered(&basedir);
    check_once_or_marked(&records, &logged);
    let not_written: u64 = records
        .iter()
        .filter_map(|r| match r {
            Record::Gap(g) if g.reason == GapReason::NotWritten => Some(g.count),
            _ => None,
        })
        .sum();
    assert_eq!(
        not_written, unwritten,
        "the gaps count what the report said"
    );
    // Each missed event of the stream is in a not_written gap, except those
    // logged before the daemon's first subscription that the publisher no
    // longer held (a not_buffered gap before the first kept event: the
    // stream starts first, and on a loaded machine the daemon may subscribe
    // after the publisher's buffer has moved on).
    let (kept, gaps) = tally(&records);
    let first_kept = kept.keys().min().copied().unwrap_or(u64::MAX);
    for num in logged.iter().filter(|n| !kept.contains_key(n)) {
        assert!(
            gaps.iter().any(|(r, f, l)| match r {
                GapReason::NotWritten => f <= num && num <= l,
                GapReason::NotBuffered => f <= num && num <= l && *l < first_kept,
                _ => false,
            }),
            "#{num} missing, not in a not_written gap: {gaps:?}"
        );
    }
}

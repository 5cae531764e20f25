//! Event files with `storage = "s3"`, against a real S3 server (moto):
//! rotated files go to the bucket's `events/` and leave the disk, a large
//! one in parts; a server down for a while and a gatherer killed with a
//! file waiting lose nothing; a full spool is reported once, lets events go
//! as counted gaps, and recovers when the server returns.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use flog_core::flogfile::{EndReason, GapReason, Record};
use flog_testkit::{Moto, MOTO_ACCESS_KEY_ID};
use object_store::path::Path as Key;
use object_store::ObjectStoreExt;

use crate::events::{check_once_or_marked, read, rotate, tally, Stream};
use crate::s3::{s3_basedir, start, Reader, PREFIX};
use crate::support::{add_publisher, add_rule, eventually, Daemon, Service, PATIENCE};

/// A base directory storing into the bucket and gathering the events of
/// `service` with `[events]` holding `events`.
fn events_basedir(dir: &Path, moto: &Moto, service: &Service, events: &str) -> PathBuf {
    let basedir = s3_basedir(dir, "g", moto);
    add_rule(&basedir, &format!("[events]\n{events}"));
    add_publisher(&basedir, "p.url", &service.publisher.url().to_string());
    basedir
}

fn events_dir(basedir: &Path) -> PathBuf {
    basedir.join(flog_gatherer::EVENTS_DIR)
}

/// The event files in the spool (closed, compressed or not), sorted.
fn closed_local(basedir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(events_dir(basedir)) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("from-") && !n.ends_with("---to-present.flog"))
        .collect();
    names.sort();
    names
}

/// The event objects of the bucket, by name in `events/`.
async fn event_objects(reader: &Reader) -> BTreeMap<String, Bytes> {
    reader
        .objects()
        .await
        .into_iter()
        .filter_map(|(key, bytes)| Some((key.strip_prefix("events/")?.to_owned(), bytes)))
        .collect()
}

/// Polls the bucket until `check` holds of its event objects.
async fn until_objects(
    reader: &Reader,
    what: &str,
    check: impl Fn(&BTreeMap<String, Bytes>) -> bool,
) -> BTreeMap<String, Bytes> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let objects = event_objects(reader).await;
        if check(&objects) {
            return objects;
        }
        assert!(
            Instant::now() < deadline,
            "waited in vain for {what}: {:?}",
            objects.keys().collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every record of every event object, in name (time) order.
fn records_of(objects: &BTreeMap<String, Bytes>) -> Vec<Record> {
    let dir = tempfile::tempdir().unwrap();
    let mut records = Vec::new();
    for (name, bytes) in objects {
        let path = dir.path().join(name);
        fs::write(&path, bytes).unwrap();
        let (mut read, error) = read(&path);
        assert!(error.is_none(), "{name} does not read: {error:?}");
        assert!(
            matches!(read.last(), Some(Record::Trailer(_))),
            "{name} has no trailer"
        );
        records.append(&mut read);
    }
    records
}

/// Stops the stream once the gatherer has its last event (in the bucket or
/// in the spool), stops the gatherer (which uploads its last file), and
/// returns what was logged and the bucket's event objects.
async fn finish(
    stream: Stream,
    daemon: &mut Daemon,
    basedir: &Path,
    reader: &Reader,
) -> (Vec<u64>, BTreeMap<String, Bytes>) {
    let logged = stream.finish();
    let last = *logged.last().unwrap();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut records = records_of(&event_objects(reader).await);
        for name in fs::read_dir(events_dir(basedir)).unwrap() {
            let path = name.unwrap().path();
            if path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("from-")
            {
                records.append(&mut read(&path).0);
            }
        }
        if tally(&records).0.contains_key(&last) {
            break;
        }
        assert!(Instant::now() < deadline, "the last event never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(daemon.stop().code(), Some(0), "{:#?}", daemon.seen);
    let objects = event_objects(reader).await;
    (logged, objects)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_event_files_go_to_the_bucket_and_leave_the_spool() {
    let Some(moto) = Moto::start("flog-events") else {
        return;
    };
    let reader = Reader::new(&moto);
    let service = Service::start().await;
    let dir = tempfile::tempdir().unwrap();
    let basedir = events_basedir(dir.path(), &moto, &service, "rotate_size = \"32 KiB\"\n");
    let mut daemon = start(&basedir, MOTO_ACCESS_KEY_ID);
    let stream = Stream::start(service.logger.clone(), 200);
    until_objects(&reader, "three event files", |o| o.len() >= 3).await;
    let (logged, objects) = finish(stream, &mut daemon, &basedir, &reader).await;

    // Nothing left in the spool; every file compressed, under its name.
    assert!(
        closed_local(&basedir).is_empty(),
        "{:?}",
        closed_local(&basedir)
    );
    let present: Vec<_> = fs::read_dir(events_dir(&basedir))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.starts_with("from-").then_some(name)
        })
        .collect();
    assert!(present.is_empty(), "{present:?}");
    assert!(
        objects.keys().all(|k| k.ends_with(".flog.bz2")),
        "{objects:?}"
    );
    let records = records_of(&objects);
    check_once_or_marked(&records, &logged);
    let trailers: Vec<EndReason> = records
        .iter()
        .filter_map(|r| match r {
            Record::Trailer(t) => t.end.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(trailers.last(), Some(&EndReason::Shutdown), "{trailers:?}");
    assert!(trailers[..trailers.len() - 1]
        .iter()
        .all(|t| *t == EndReason::Rotated));
    let uploads = daemon
        .seen
        .iter()
        .filter(|l| l.contains("uploaded "))
        .count();
    assert_eq!(uploads, objects.len(), "{:#?}", daemon.seen);
    service.publisher.shutdown().await;
}

/// A file over the part size goes in parts (its ETag says how many) and
/// the object is the file byte for byte (a hard link to the file being
/// written keeps its bytes after the gatherer removes it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_event_file_goes_in_parts_byte_for_byte() {
    let Some(moto) = Moto::start("flog-parts") else {
        return;
    };
    let reader = Reader::new(&moto);
    let service = Service::start().await;
    let dir = tempfile::tempdir().unwrap();
    let events = "compress = false\nrotate_size = \"11 MiB\"\nupload_part_size = \"5 MiB\"\n";
    let basedir = events_basedir(dir.path(), &moto, &service, events);
    let mut daemon = start(&basedir, MOTO_ACCESS_KEY_ID);
    let mut current = None;
    eventually("the first file", || {
        let found = fs::read_dir(events_dir(&basedir)).ok().and_then(|mut d| {
            d.find_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                name.ends_with("---to-present.flog").then_some(name)
            })
        });
        found.is_some()
    });
    for entry in fs::read_dir(events_dir(&basedir)).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with("---to-present.flog") {
            current = Some(name);
        }
    }
    let current = current.unwrap();
    let kept = dir.path().join("kept.flog");
    fs::hard_link(events_dir(&basedir).join(&current), &kept).unwrap();
    let stream = Stream::start(service.logger.clone(), 4000);
    let from = current.trim_end_matches("---to-present.flog").to_owned();
    let objects = until_objects(&reader, "the first file, rotated", |o| {
        o.keys().any(|k| k.starts_with(&from))
    })
    .await;
    drop(stream);
    let (name, bytes) = objects.iter().find(|(k, _)| k.starts_with(&from)).unwrap();
    let written = fs::read(&kept).unwrap();
    assert!(written.len() > 10 << 20, "{} bytes", written.len());
    assert!(bytes[..] == written[..], "{name}: not the bytes written");
    let meta = reader
        .store
        .head(&Key::from(format!("{PREFIX}/events/{name}")))
        .await
        .unwrap();
    let e_tag = meta.e_tag.unwrap();
    assert!(
        e_tag.trim_matches('"').ends_with("-3"),
        "{e_tag}: not 3 parts"
    );
    let line = daemon.wait_line(&["uploaded ", name.as_str()]);
    assert!(line.contains("3 part(s)"), "{line}");
    assert!(!events_dir(&basedir).join(name).exists());
    assert_eq!(daemon.stop().code(), Some(0));
    service.publisher.shutdown().await;
}

/// The one compressed file in the spool that was not there `before`.
fn only_closed(basedir: &Path, before: &[String]) -> String {
    let now = closed_local(basedir);
    let new: Vec<&String> = now
        .iter()
        .filter(|n| !before.contains(n) && n.ends_with(".bz2"))
        .collect();
    assert_eq!(new.len(), 1, "{now:?}");
    new[0].clone()
}

/// The server goes away with a file rotated: it stays in the spool, the
/// failure is reported once, and it is uploaded when the server returns;
/// then again, but the gatherer is SIGKILLed while the file waits: its
/// next start uploads it. Each object is the spooled file byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_retried_and_survive_a_killed_gatherer() {
    let Some(mut moto) = Moto::start("flog-spooled") else {
        return;
    };
    let reader = Reader::new(&moto);
    let service = Service::start().await;
    let dir = tempfile::tempdir().unwrap();
    let basedir = events_basedir(dir.path(), &moto, &service, "");
    let mut daemon = start(&basedir, MOTO_ACCESS_KEY_ID);
    daemon.wait_line(&["storing incidents in s3://"]);
    let stream = Stream::start(service.logger.clone(), 100);
    eventually("some events", || stream.logged().len() >= 200);

    for killed in [false, true] {
        moto.down();
        let before = closed_local(&basedir);
        assert!(rotate(&basedir).status.success());
        eventually("the rotated file compressed", || {
            closed_local(&basedir)
                .iter()
                .any(|n| !before.contains(n) && n.ends_with(".bz2"))
        });
        let name = only_closed(&basedir, &before);
        let failing = daemon.wait_line(&["cannot upload", name.as_str()]);
        assert!(failing.contains("retried"), "{failing}");
        let spooled = fs::read(events_dir(&basedir).join(&name)).unwrap();
        if killed {
            daemon.signal("KILL");
            daemon.wait_exit();
        }
        moto.up();
        if killed {
            daemon = start(&basedir, MOTO_ACCESS_KEY_ID);
        }
        let objects = until_objects(&reader, &name, |o| o.contains_key(&name)).await;
        assert!(
            objects[&name][..] == spooled[..],
            "{name}: not the spooled bytes"
        );
        eventually("the file gone from the spool", || {
            !events_dir(&basedir).join(&name).exists()
        });
        if !killed {
            daemon.wait_line(&["uploading event files again"]);
            let reports = daemon
                .seen
                .iter()
                .filter(|l| l.contains("cannot upload"))
                .count();
            assert_eq!(reports, 1, "one report per run of failures");
        }
    }
    let (logged, objects) = finish(stream, &mut daemon, &basedir, &reader).await;
    // The kill cut the stream: what the restart's catch-up no longer found
    // is a gap, the rest is stored once.
    check_once_or_marked(&records_of(&objects), &logged);
    assert!(
        closed_local(&basedir).is_empty(),
        "{:?}",
        closed_local(&basedir)
    );
    service.publisher.shutdown().await;
}

/// A stop while the server is down does not wait out the pause before the
/// next attempt (two minutes here): the gatherer exits, its files stay in
/// the spool, and its next start uploads them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_while_the_server_is_down_keeps_the_spool_for_the_next_start() {
    let Some(mut moto) = Moto::start("flog-stop") else {
        return;
    };
    let reader = Reader::new(&moto);
    let service = Service::start().await;
    let dir = tempfile::tempdir().unwrap();
    let basedir = events_basedir(dir.path(), &moto, &service, "");
    let config = basedir.join("gatherer.toml");
    let text = fs::read_to_string(&config).unwrap();
    let slow = text
        .replace("min_backoff = \"50ms\"", "min_backoff = \"120s\"")
        .replace("max_backoff = \"400ms\"", "max_backoff = \"120s\"");
    assert_ne!(slow, text);
    fs::write(&config, slow).unwrap();
    let mut daemon = start(&basedir, MOTO_ACCESS_KEY_ID);
    daemon.wait_line(&["storing incidents in s3://"]);
    let stream = Stream::start(service.logger.clone(), 100);
    eventually("some events", || stream.logged().len() >= 100);
    moto.down();
    assert!(rotate(&basedir).status.success());
    daemon.wait_line(&["cannot upload"]);
    // Within the usual patience, not after the two minutes.
    assert_eq!(daemon.stop().code(), Some(0), "{:#?}", daemon.seen);
    drop(stream);
    let waiting = closed_local(&basedir);
    assert!(
        waiting.len() >= 2,
        "the rotated and the last file: {waiting:?}"
    );
    moto.up();
    let mut daemon = start(&basedir, MOTO_ACCESS_KEY_ID);
    until_objects(&reader, "the files left in the spool", |o| {
        waiting.iter().all(|n| o.contains_key(n))
    })
    .await;
    eventually("an empty spool", || closed_local(&basedir).is_empty());
    assert_eq!(daemon.stop().code(), Some(0));
    service.publisher.shutdown().await;
}

fn spooled_bytes(basedir: &Path) -> u64 {
    closed_local(basedir)
        .iter()
        .filter_map(|n| fs::metadata(events_dir(basedir).join(n)).ok())
        .map(|m| m.len())
        .sum()
}

/// The server is down and closed files pile up to `spool_bytes`: the spool
/// is reported full once, stays bounded while events go on arriving (they
/// are counted, not written), and once the server is back the files are
/// uploaded, the spool has room, and the events let go are `not_written`
/// gaps: every event stored once or in a gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_is_reported_once_holds_and_recovers() {
    let Some(mut moto) = Moto::start("flog-full") else {
        return;
    };
    let reader = Reader::new(&moto);
    let service = Service::start().await;
    let dir = tempfile::tempdir().unwrap();
    let events = "compress = false\nrotate_size = \"16 KiB\"\nspool_bytes = \"40 KiB\"\n";
    let basedir = events_basedir(dir.path(), &moto, &service, events);
    let mut daemon = start(&basedir, MOTO_ACCESS_KEY_ID);
    daemon.wait_line(&["storing incidents in s3://"]);
    moto.down();
    let stream = Stream::start(service.logger.clone(), 100);
    daemon.wait_line(&["the event spool is full"]);
    let at_full = stream.logged().len();
    eventually("events logged while the spool is full", || {
        stream.logged().len() >= at_full + 3000
    });
    // Bounded: past the limit by at most the file that crossed it.
    let spooled = spooled_bytes(&basedir);
    assert!(spooled <= (40 + 17) * 1024, "{spooled} bytes in the spool");
    daemon.read_available();
    let full = daemon
        .seen
        .iter()
        .filter(|l| l.contains("the event spool is full"))
        .count();
    assert_eq!(full, 1, "{:#?}", daemon.seen);

    moto.up();
    daemon.wait_line(&["the event spool has room again"]);
    let resumed = daemon.wait_line(&["writing events again", "events were not written"]);
    assert!(!resumed.contains("; 0 events"), "{resumed}");
    let (logged, objects) = finish(stream, &mut daemon, &basedir, &reader).await;
    let records = records_of(&objects);
    check_once_or_marked(&records, &logged);
    let (_, gaps) = tally(&records);
    assert!(
        gaps.iter()
            .any(|(reason, _, _)| *reason == GapReason::NotWritten),
        "{gaps:?}"
    );
    assert!(
        closed_local(&basedir).is_empty(),
        "{:?}",
        closed_local(&basedir)
    );
    service.publisher.shutdown().await;
}

/// The figure of docs/performance.md ("Gatherers sharing a bucket"):
/// event-file upload throughput into the bucket. Closed files of noise
/// (compressed event files do not compress further) are left in the spool,
/// as a crash would leave them, and the gatherer started: from its start
/// to an empty spool is the time their uploads took. Run by hand:
/// `cargo test --release -p flog-gatherer --test daemon s3_events::figure -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a figure, run by hand"]
async fn figure_event_file_upload_throughput() {
    for (files, size) in [(64usize, 1usize << 20), (8, 16 << 20)] {
        let Some(moto) = Moto::start(&format!("flog-upload-{files}")) else {
            return;
        };
        let reader = Reader::new(&moto);
        let dir = tempfile::tempdir().unwrap();
        let basedir = s3_basedir(dir.path(), "g", &moto);
        add_rule(&basedir, "[events]\n");
        let spool = events_dir(&basedir);
        fs::create_dir_all(&spool).unwrap();
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        for n in 0..files {
            let mut noise = Vec::with_capacity(size);
            while noise.len() < size {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                noise.extend_from_slice(&state.to_le_bytes());
            }
            let name = format!(
                "from-2026-12-01T10-00-00.{n:06}Z---to-2026-12-01T10-00-01.{n:06}Z.flog.bz2"
            );
            fs::write(spool.join(name), noise).unwrap();
        }
        let mut daemon = start(&basedir, MOTO_ACCESS_KEY_ID);
        daemon.wait_line(&["storing incidents in s3://"]);
        let started = Instant::now();
        let deadline = started + PATIENCE * 4;
        while !closed_local(&basedir).is_empty() {
            if Instant::now() > deadline {
                daemon.read_available();
                panic!("{:?}\n{:#?}", closed_local(&basedir), daemon.seen);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let took = started.elapsed().as_secs_f64();
        let objects = event_objects(&reader).await;
        assert_eq!(objects.len(), files);
        let mib = (files * size) as f64 / f64::from(1 << 20);
        eprintln!(
            "{files} files of {} MiB: {mib:.0} MiB in {took:.2} s, {:.1} MiB/s",
            size >> 20,
            mib / took
        );
        assert_eq!(daemon.stop().code(), Some(0));
    }
}

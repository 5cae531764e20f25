//! Event subscriptions follow the leases (`storage = "s3"` with
//! `[events]`), against a real S3 server (moto) and real publishers: two
//! gatherers split the publishers, and each event is in the bucket's event
//! files once, across the gatherers and the handovers between them (a
//! gatherer joining, one stopping); a SIGKILLed gatherer's publishers are
//! taken over, and what it stored twice with its successor is only what
//! its restart uploads from its spool after its last published position.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use flog_core::flogfile::{EndReason, GapReason, Record};
use flog_core::{Level, Logger};
use flog_publisher::Publisher;
use flog_testkit::{Moto, MOTO_ACCESS_KEY_ID};
use futures::TryStreamExt;
use object_store::path::Path as Key;
use object_store::ObjectStoreExt;

use crate::events::{read, Stream, FACILITY};
use crate::s3::{gatherer_id, live_leases, s3_basedir, start, Reader, PREFIX};
use crate::s3_events::event_objects;
use crate::support::{add_publisher, add_rule, Daemon, PATIENCE};

/// Publishers in each test.
const PUBLISHERS: usize = 4;

/// Between two events of a publisher: about 400 a second each, so that two
/// gatherers in a debug build on a shared machine keep up (a subscriber
/// that does not is told of `dropped` events, honest gaps again).
const PAUSE: Duration = Duration::from_micros(2500);

/// A publisher whose buffers hold what it logs during a handover (a third
/// of the 3 s lease at most, at [`PAUSE`]): the default 100 events would be
/// `not_buffered` gaps, honest but not what is tested. Not many more: a
/// catch-up of the whole buffer while the stream goes on overflows the
/// publisher's queue for the subscriber (`dropped` gaps).
async fn publisher() -> (Logger, Publisher, tempfile::TempDir) {
    let logdir = tempfile::tempdir().unwrap();
    let logger = Logger::builder()
        .trailing(false)
        .buffer_size(Level::OPERATIONAL, 5_000)
        .build()
        .unwrap();
    logger.set_logdir(logdir.path()).unwrap();
    let publisher = Publisher::builder(logger.clone()).start().await.unwrap();
    (logger, publisher, logdir)
}

/// A gatherer's base directory: the bucket, `[events]`, every publisher.
fn basedir(dir: &Path, name: &str, moto: &Moto, urls: &[String]) -> PathBuf {
    let basedir = s3_basedir(dir, name, moto);
    add_rule(&basedir, "[events]\n");
    for (n, url) in urls.iter().enumerate() {
        add_publisher(&basedir, &format!("p{n}.url"), url);
    }
    basedir
}

/// The live leases, reading only `leases/` (the event files grow).
async fn leases(reader: &Reader) -> BTreeMap<String, String> {
    let metas: Vec<_> = reader
        .store
        .list(Some(&Key::from(format!("{PREFIX}/leases"))))
        .try_collect()
        .await
        .unwrap();
    let mut objects = BTreeMap::new();
    for meta in metas {
        let Ok(got) = reader.store.get(&meta.location).await else {
            continue;
        };
        let bytes = got.bytes().await.unwrap();
        let key = meta.location.to_string();
        objects.insert(key[PREFIX.len() + 1..].to_owned(), bytes);
    }
    live_leases(&objects)
}

async fn until_leases(
    reader: &Reader,
    what: &str,
    check: impl Fn(&BTreeMap<String, String>) -> bool,
) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let leases = leases(reader).await;
        if check(&leases) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "waited in vain for {what}: {leases:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn held_by(leases: &BTreeMap<String, String>, holder: &str) -> usize {
    leases.values().filter(|h| *h == holder).count()
}

/// One stored event: its publisher and number.
type Stored = (String, u64);

/// What one event file holds: the stream's events, the gaps (publisher,
/// first, last), and how it ended.
#[derive(Debug, Default)]
struct FileTally {
    events: Vec<Stored>,
    gaps: Vec<(String, u64, u64, GapReason)>,
    end: Option<EndReason>,
    incarnations: Vec<(String, String)>,
}

fn tally_file(path: &Path) -> FileTally {
    let (records, error) = read(path);
    assert!(error.is_none(), "{}: {error:?}", path.display());
    let mut tally = FileTally::default();
    for record in records {
        match record {
            Record::Received(r) if r.event.facility.as_deref() == Some(FACILITY) => {
                tally.events.push((r.receipt.from.clone(), r.event.num));
            }
            Record::Gap(g) => {
                let (Some(first), Some(last)) = (g.first, g.last) else {
                    panic!("a gap without its numbers: {g:?}");
                };
                tally
                    .gaps
                    .push((g.from.clone(), first, last, g.reason.clone()));
            }
            Record::IncarnationChange(c) => tally
                .incarnations
                .push((c.from.clone(), c.incarnation.clone())),
            Record::Trailer(t) => tally.end = t.end.clone(),
            _ => {}
        }
    }
    tally
}

/// Every event object of the bucket, tallied, by name.
fn tally_objects(objects: &BTreeMap<String, Bytes>) -> BTreeMap<String, FileTally> {
    let dir = tempfile::tempdir().unwrap();
    objects
        .iter()
        .map(|(name, bytes)| {
            let path = dir.path().join(name);
            fs::write(&path, bytes).unwrap();
            (name.clone(), tally_file(&path))
        })
        .collect()
}

/// How often each event is stored, across `files`.
fn counts(files: &BTreeMap<String, FileTally>) -> BTreeMap<Stored, usize> {
    let mut counts = BTreeMap::new();
    for tally in files.values() {
        for event in &tally.events {
            *counts.entry(event.clone()).or_insert(0) += 1;
        }
    }
    counts
}

/// The stream's events of every publisher, logged.
struct Streams(Vec<(String, Stream)>);

impl Streams {
    fn start(publishers: &[(Logger, Publisher, tempfile::TempDir)]) -> Streams {
        Streams(
            publishers
                .iter()
                .map(|(logger, p, _)| {
                    let id = p.url().publisher_id().to_owned();
                    (id, Stream::paced(logger.clone(), 100, PAUSE))
                })
                .collect(),
        )
    }

    /// Returns once each publisher logged `more` events beyond now.
    fn wait_more(&self, more: usize) {
        let targets: Vec<usize> = self
            .0
            .iter()
            .map(|(_, s)| s.logged().len() + more)
            .collect();
        crate::support::eventually("more events", || {
            self.0
                .iter()
                .zip(&targets)
                .all(|((_, s), t)| s.logged().len() >= *t)
        });
    }

    fn finish(self) -> Vec<(String, Vec<u64>)> {
        self.0.into_iter().map(|(id, s)| (id, s.finish())).collect()
    }
}

/// Polls until every publisher's last event is in the bucket or in one of
/// the `basedirs`' spools (so that a stop uploads it).
async fn until_last_events(reader: &Reader, basedirs: &[&Path], logged: &[(String, Vec<u64>)]) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut files = tally_objects(&event_objects(reader).await);
        for basedir in basedirs {
            let events = basedir.join(flog_gatherer::EVENTS_DIR);
            for entry in fs::read_dir(&events).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                if name.starts_with("from-") {
                    files.insert(format!("{}/{name}", basedir.display()), tally_file(&path));
                }
            }
        }
        let counts = counts(&files);
        let all = logged
            .iter()
            .all(|(id, nums)| counts.contains_key(&(id.clone(), *nums.last().unwrap())));
        if all {
            return;
        }
        assert!(Instant::now() < deadline, "the last events never arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Each logged event is stored or inside a gap of its publisher; the
/// events stored more than once, with their count.
fn check_covered(
    files: &BTreeMap<String, FileTally>,
    logged: &[(String, Vec<u64>)],
) -> Vec<(Stored, usize)> {
    let counts = counts(files);
    let gaps: Vec<_> = files.values().flat_map(|t| &t.gaps).collect();
    let mut uncovered = Vec::new();
    for (id, nums) in logged {
        for num in nums {
            let stored = counts.contains_key(&(id.clone(), *num));
            let gapped = gaps
                .iter()
                .any(|(g, f, l, _)| g == id && f <= num && num <= l);
            if !stored && !gapped {
                uncovered.push((id.clone(), *num));
            }
        }
    }
    assert!(
        uncovered.is_empty(),
        "neither stored nor in a gap: {} events, first {:?}",
        uncovered.len(),
        &uncovered[..uncovered.len().min(10)]
    );
    // One incarnation per publisher, whichever files name it.
    let mut incarnations: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for tally in files.values() {
        for (from, incarnation) in &tally.incarnations {
            incarnations.entry(from).or_default().push(incarnation);
        }
    }
    for (from, mut seen) in incarnations {
        seen.dedup();
        assert_eq!(seen.len(), 1, "{from}: {seen:?}");
    }
    counts.into_iter().filter(|(_, n)| *n > 1).collect()
}

fn stopped_handing_over(daemon: &Daemon) -> usize {
    daemon
        .seen
        .iter()
        .filter(|l| l.contains("stopped gathering the events of"))
        .count()
}

/// Two gatherers, four publishers logging all along: the first takes all
/// four, the second joins and takes two (handed over while events flow),
/// then stops and hands them back. Every event is stored exactly once
/// across the two gatherers' files, and none is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_is_stored_once_across_gatherers_and_handovers() {
    let Some(moto) = Moto::start("flog-event-leases") else {
        return;
    };
    let reader = Reader::new(&moto);
    let mut services = Vec::new();
    for _ in 0..PUBLISHERS {
        services.push(publisher().await);
    }
    let urls: Vec<String> = services
        .iter()
        .map(|(_, p, _)| p.url().to_string())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let basedirs: Vec<PathBuf> = (0..2)
        .map(|g| basedir(dir.path(), &format!("g{g}"), &moto, &urls))
        .collect();
    let streams = Streams::start(&services);
    let mut first = start(&basedirs[0], MOTO_ACCESS_KEY_ID);
    let first_id = gatherer_id(&mut first);
    until_leases(&reader, "the first gatherer holding all", |l| {
        held_by(l, &first_id) == PUBLISHERS
    })
    .await;
    streams.wait_more(500);
    let mut second = start(&basedirs[1], MOTO_ACCESS_KEY_ID);
    let second_id = gatherer_id(&mut second);
    until_leases(&reader, "a 2/2 split", |l| {
        held_by(l, &first_id) == PUBLISHERS / 2 && held_by(l, &second_id) == PUBLISHERS / 2
    })
    .await;
    streams.wait_more(500);
    assert_eq!(second.stop().code(), Some(0), "{:#?}", second.seen);
    until_leases(&reader, "the first gatherer holding all again", |l| {
        held_by(l, &first_id) == PUBLISHERS
    })
    .await;
    streams.wait_more(500);
    let logged = streams.finish();
    until_last_events(&reader, &[&basedirs[0]], &logged).await;
    assert_eq!(first.stop().code(), Some(0), "{:#?}", first.seen);

    let files = tally_objects(&event_objects(&reader).await);
    let twice = check_covered(&files, &logged);
    assert!(
        twice.is_empty(),
        "{} events stored more than once, first {:?}",
        twice.len(),
        &twice[..twice.len().min(10)]
    );
    let gaps: Vec<_> = files.values().flat_map(|t| &t.gaps).collect();
    assert!(gaps.is_empty(), "events missing: {gaps:?}");
    // Both gatherers wrote event files, and each handover was announced:
    // the first gave at least two publishers' events up (all four at its
    // stop), the second at least two back (more if a lease moved again).
    let writers: Vec<_> = files.values().filter(|t| !t.events.is_empty()).collect();
    assert!(writers.len() >= 2, "{:?}", files.keys().collect::<Vec<_>>());
    assert!(
        stopped_handing_over(&first) >= PUBLISHERS + PUBLISHERS / 2,
        "{:#?}",
        first.seen
    );
    assert!(
        stopped_handing_over(&second) >= PUBLISHERS / 2,
        "{:#?}",
        second.seen
    );
    for (_, publisher, _) in services {
        publisher.shutdown().await;
    }
}

/// Two gatherers split four publishers; one is SIGKILLed while events
/// flow: the other takes its publishers' events over, from the position
/// the dead one last published. Restarted, the dead gatherer uploads what
/// its spool held. Every event is stored or in a gap, and an event stored
/// twice has one copy in the file the restart recovered (what the dead
/// gatherer wrote after its last published position).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_gatherers_events_are_taken_over() {
    let Some(moto) = Moto::start("flog-event-kill") else {
        return;
    };
    let reader = Reader::new(&moto);
    let mut services = Vec::new();
    for _ in 0..PUBLISHERS {
        services.push(publisher().await);
    }
    let urls: Vec<String> = services
        .iter()
        .map(|(_, p, _)| p.url().to_string())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let basedirs: Vec<PathBuf> = (0..2)
        .map(|g| basedir(dir.path(), &format!("g{g}"), &moto, &urls))
        .collect();
    let streams = Streams::start(&services);
    let mut daemons = Vec::new();
    let mut ids = Vec::new();
    for basedir in &basedirs {
        let mut daemon = start(basedir, MOTO_ACCESS_KEY_ID);
        ids.push(gatherer_id(&mut daemon));
        daemons.push(daemon);
    }
    until_leases(&reader, "a 2/2 split", |l| {
        held_by(l, &ids[0]) == PUBLISHERS / 2 && held_by(l, &ids[1]) == PUBLISHERS / 2
    })
    .await;
    streams.wait_more(1000);
    daemons[0].signal("KILL");
    daemons[0].wait_exit();
    let killed = Instant::now();
    until_leases(&reader, "the survivor holding all", |l| {
        held_by(l, &ids[1]) == PUBLISHERS
    })
    .await;
    eprintln!(
        "leases taken over {:.2} s after the SIGKILL",
        killed.elapsed().as_secs_f64()
    );
    streams.wait_more(1000);
    // Back: its spool is uploaded, and it takes its share again.
    let mut back = start(&basedirs[0], MOTO_ACCESS_KEY_ID);
    let back_id = gatherer_id(&mut back);
    until_leases(&reader, "a 2/2 split again", |l| {
        held_by(l, &back_id) == PUBLISHERS / 2 && held_by(l, &ids[1]) == PUBLISHERS / 2
    })
    .await;
    streams.wait_more(500);
    let logged = streams.finish();
    until_last_events(&reader, &[&basedirs[0], &basedirs[1]], &logged).await;
    assert_eq!(back.stop().code(), Some(0), "{:#?}", back.seen);
    assert_eq!(daemons[1].stop().code(), Some(0), "{:#?}", daemons[1].seen);

    let files = tally_objects(&event_objects(&reader).await);
    let recovered: Vec<&String> = files
        .iter()
        .filter(|(_, t)| t.end == Some(EndReason::Recovered))
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        recovered.len(),
        1,
        "the killed gatherer's file: {:?}",
        files.keys().collect::<Vec<_>>()
    );
    let twice = check_covered(&files, &logged);
    let in_recovered: BTreeMap<Stored, usize> = counts(
        &files
            .iter()
            .filter(|(name, _)| recovered.contains(name))
            .map(|(name, t)| {
                (
                    name.clone(),
                    FileTally {
                        events: t.events.clone(),
                        ..FileTally::default()
                    },
                )
            })
            .collect(),
    );
    for (event, count) in &twice {
        assert_eq!(*count, 2, "{event:?}");
        assert!(
            in_recovered.contains_key(event),
            "{event:?} stored twice, neither copy recovered"
        );
    }
    eprintln!(
        "{} events stored twice after the SIGKILL (of {})",
        twice.len(),
        logged.iter().map(|(_, n)| n.len()).sum::<usize>()
    );
    for (_, publisher, _) in services {
        publisher.shutdown().await;
    }
}

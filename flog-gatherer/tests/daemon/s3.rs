//! Gatherers sharing an S3-compatible bucket (`storage = "s3"`), against a
//! real S3 server (moto, started here; `.ci/run` installs it): every
//! incident stored exactly once whatever the number of gatherers, a server
//! down for a while, wrong credentials.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use flog_testkit::{Moto, MOTO_ACCESS_KEY_ID, MOTO_SECRET_ACCESS_KEY};
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::support::{add_publisher, create, Daemon, Service, PATIENCE};

pub(crate) const PREFIX: &str = "fleet";

/// The bucket as the tests read it: every object under the prefix.
pub(crate) struct Reader {
    pub(crate) store: Box<dyn ObjectStore>,
}

impl Reader {
    pub(crate) fn new(moto: &Moto) -> Reader {
        let store = AmazonS3Builder::new()
            .with_bucket_name(moto.bucket())
            .with_endpoint(moto.endpoint())
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id(MOTO_ACCESS_KEY_ID)
            .with_secret_access_key(MOTO_SECRET_ACCESS_KEY)
            .build()
            .unwrap();
        Reader {
            store: Box::new(store),
        }
    }

    /// Every object under the prefix, by key relative to it.
    pub(crate) async fn objects(&self) -> BTreeMap<String, Bytes> {
        let metas: Vec<_> = self
            .store
            .list(Some(&Key::from(PREFIX)))
            .try_collect()
            .await
            .unwrap();
        let mut objects = BTreeMap::new();
        for meta in metas {
            let bytes = self
                .store
                .get(&meta.location)
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let key = meta.location.to_string();
            objects.insert(key[PREFIX.len() + 1..].to_owned(), bytes);
        }
        objects
    }
}

fn text(objects: &BTreeMap<String, Bytes>, key: &str) -> String {
    objects
        .get(key)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// A base directory whose gatherer stores into the bucket, polling fast.
pub(crate) fn s3_basedir(dir: &Path, name: &str, moto: &Moto) -> PathBuf {
    let basedir = dir.join(name);
    create(
        &basedir,
        &[
            ("poll_interval", "\"200ms\""),
            ("min_backoff", "\"50ms\""),
            ("max_backoff", "\"400ms\""),
        ],
    );
    let config = basedir.join("gatherer.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\nstorage = \"s3\"\n[s3]\nbucket = \"{}\"\nprefix = \"{PREFIX}\"\nendpoint = \"{}\"\n\
         region = \"us-east-1\"\nlease = \"3s\"\n\n[[rule]]\ncategory = \"database\"\nfacility = \"app.db\"\n",
        moto.bucket(),
        moto.endpoint()
    ));
    std::fs::write(&config, text).unwrap();
    basedir
}

/// `run` with the credentials in the environment, as an operator sets them.
pub(crate) fn start(basedir: &Path, access_key_id: &str) -> Daemon {
    Daemon::start_with_env(
        basedir,
        &[
            ("AWS_ACCESS_KEY_ID", access_key_id),
            ("AWS_SECRET_ACCESS_KEY", MOTO_SECRET_ACCESS_KEY),
        ],
    )
}

/// Waits until every incident of `expected` (publisher id, names) is
/// stored, listed and past the publisher's `latest`; returns the objects.
async fn wait_for_all(
    reader: &Reader,
    expected: &[(String, Vec<String>)],
) -> BTreeMap<String, Bytes> {
    let deadline = Instant::now() + PATIENCE * 2;
    loop {
        let objects = reader.objects().await;
        let all = text(&objects, "classified/all");
        let done = expected.iter().all(|(id, names)| {
            let latest = text(&objects, &format!("incidents/{id}/latest"));
            latest.trim() == names.last().unwrap()
                && names.iter().all(|name| {
                    all.lines()
                        .any(|l| l == format!("incidents/{id}/{name}.flog.bz2"))
                })
        });
        if done {
            return objects;
        }
        assert!(
            Instant::now() < deadline,
            "waited in vain for every incident; the bucket holds {:?}",
            objects.keys().collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every incident is one object with the publisher's bytes, listed once
/// in `all` and once in its category; nothing else is stored.
fn assert_exactly_once(
    objects: &BTreeMap<String, Bytes>,
    services: &[Service],
    expected: &[(String, Vec<String>)],
) {
    let mut problems = Vec::new();
    let stored: Vec<&String> = objects
        .keys()
        .filter(|k| k.ends_with(".flog.bz2"))
        .collect();
    let total: usize = expected.iter().map(|(_, names)| names.len()).sum();
    if stored.len() != total {
        problems.push(format!(
            "{} incident objects for {total} incidents",
            stored.len()
        ));
    }
    for ((id, names), service) in expected.iter().zip(services) {
        for name in names {
            let key = format!("incidents/{id}/{name}.flog.bz2");
            let theirs = std::fs::read(service.file(name)).unwrap();
            match objects.get(&key) {
                Some(ours) if ours[..] == theirs[..] => {}
                Some(ours) => problems.push(format!(
                    "{key}: {} bytes stored, the publisher has {}",
                    ours.len(),
                    theirs.len()
                )),
                None => problems.push(format!("{key} is not stored")),
            }
        }
    }
    for list in ["classified/all", "classified/database"] {
        let listed = text(objects, list);
        let mut lines: Vec<&str> = listed.lines().collect();
        let count = lines.len();
        lines.sort();
        lines.dedup();
        if count != total || lines.len() != total {
            problems.push(format!(
                "{list}: {count} lines, {} distinct, for {total} incidents",
                lines.len()
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

async fn gatherers_share_a_bucket(gatherers: usize) {
    let Some(moto) = Moto::start(&format!("flog-share-{gatherers}")) else {
        return;
    };
    let reader = Reader::new(&moto);
    let mut services = Vec::new();
    for _ in 0..20 {
        services.push(Service::start().await);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut daemons = Vec::new();
    for g in 0..gatherers {
        let basedir = s3_basedir(dir.path(), &format!("g{g}"), &moto);
        for (n, service) in services.iter().enumerate() {
            let url = service.publisher.url().to_string();
            add_publisher(&basedir, &format!("p{n}.url"), &url);
        }
        let mut daemon = start(&basedir, MOTO_ACCESS_KEY_ID);
        daemon.wait_line(&["storing incidents in s3://"]);
        daemons.push(daemon);
    }
    let mut expected = Vec::new();
    for service in &services {
        let names: Vec<String> = (0..3).map(|_| service.incident("app.db", 0)).collect();
        expected.push((service.id(), names));
    }
    let objects = wait_for_all(&reader, &expected).await;
    assert_exactly_once(&objects, &services, &expected);
    for daemon in &mut daemons {
        assert_eq!(daemon.stop().code(), Some(0), "{:#?}", daemon.seen);
        assert!(
            !daemon.seen.iter().any(|l| l.contains("holds other bytes")),
            "{:#?}",
            daemon.seen
        );
    }
    // Nothing of the incidents is kept on the gatherers' disks.
    for g in 0..gatherers {
        let basedir = dir.path().join(format!("g{g}"));
        assert!(!basedir.join("classified").exists());
        for entry in std::fs::read_dir(basedir.join("incidents")).unwrap() {
            let files: Vec<_> = std::fs::read_dir(entry.unwrap().path()).unwrap().collect();
            assert!(files.is_empty(), "{files:?}");
        }
    }
    for service in services {
        service.publisher.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gatherers_on_one_bucket_store_every_incident_once() {
    gatherers_share_a_bucket(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_gatherers_on_one_bucket_store_every_incident_once() {
    gatherers_share_a_bucket(3).await;
}

/// The server goes away for a while: the gatherer reports it, backs off,
/// keeps no more than a fetch's temporary file per publisher, and stores
/// everything once the server is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_down_for_a_while_is_caught_up_with() {
    let Some(mut moto) = Moto::start("flog-down") else {
        return;
    };
    let reader = Reader::new(&moto);
    let mut services = Vec::new();
    for _ in 0..3 {
        services.push(Service::start().await);
    }
    let dir = tempfile::tempdir().unwrap();
    let basedir = s3_basedir(dir.path(), "g", &moto);
    for (n, service) in services.iter().enumerate() {
        add_publisher(
            &basedir,
            &format!("p{n}.url"),
            &service.publisher.url().to_string(),
        );
    }
    let mut daemon = start(&basedir, MOTO_ACCESS_KEY_ID);
    daemon.wait_line(&["storing incidents in s3://"]);
    let mut expected: Vec<(String, Vec<String>)> = services
        .iter()
        .map(|s| (s.id(), vec![s.incident("app.db", 0)]))
        .collect();
    wait_for_all(&reader, &expected).await;

    moto.down();
    for ((_, names), service) in expected.iter_mut().zip(&services) {
        names.push(service.incident("app.db", 1));
        names.push(service.incident("app.db", 0));
    }
    daemon.wait_line(&["s3://flog-down", "error sending request"]);
    // While it is down: at most one temporary file per publisher.
    for entry in std::fs::read_dir(basedir.join("incidents")).unwrap() {
        let files: Vec<_> = std::fs::read_dir(entry.unwrap().path()).unwrap().collect();
        assert!(files.len() <= 1, "{files:?}");
    }
    moto.up();
    let objects = wait_for_all(&reader, &expected).await;
    assert_exactly_once(&objects, &services, &expected);
    assert_eq!(daemon.stop().code(), Some(0));
    for service in services {
        service.publisher.shutdown().await;
    }
}

/// Credentials the server refuses: one clear report, the gatherer stops
/// (exit 1) before fetching anything, nothing is written, and the secret
/// is nowhere in what it says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_one_clear_report_and_nothing_written() {
    let Some(moto) = Moto::start("flog-creds") else {
        return;
    };
    let reader = Reader::new(&moto);
    let service = Service::start().await;
    service.incident("app.db", 0);
    let dir = tempfile::tempdir().unwrap();
    let basedir = s3_basedir(dir.path(), "g", &moto);
    add_publisher(&basedir, "p.url", &service.publisher.url().to_string());
    let mut daemon = start(&basedir, "AKIAWRONGKEY");
    let status = daemon.wait_exit();
    daemon.read_to_end();
    assert_eq!(status.code(), Some(1), "{:#?}", daemon.seen);
    let reports: Vec<&String> = daemon
        .seen
        .iter()
        .filter(|l| l.contains("refused the credentials (403 Forbidden)"))
        .collect();
    assert_eq!(reports.len(), 1, "{:#?}", daemon.seen);
    assert!(
        reports[0].contains("s3://flog-creds/fleet"),
        "{}",
        reports[0]
    );
    assert!(
        !daemon
            .seen
            .iter()
            .any(|l| l.contains(MOTO_SECRET_ACCESS_KEY)),
        "{:#?}",
        daemon.seen
    );
    assert!(reader.objects().await.is_empty());
    service.publisher.shutdown().await;
}

/// One of two gatherers is SIGKILLed mid-fetch (large incidents in 1 KiB
/// chunks, and the kill waits for one of its temporary files): the other
/// takes its publishers over and stores every incident, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gatherer_killed_mid_fetch_loses_and_duplicates_nothing() {
    let Some(moto) = Moto::start("flog-kill") else {
        return;
    };
    let reader = Reader::new(&moto);
    let mut services = Vec::new();
    for _ in 0..4 {
        services.push(Service::start().await);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut daemons = Vec::new();
    let mut ids = Vec::new();
    for g in 0..2 {
        let basedir = s3_basedir(dir.path(), &format!("g{g}"), &moto);
        let config = basedir.join("gatherer.toml");
        let text = std::fs::read_to_string(&config).unwrap();
        let slow = text.replace(
            "storage = \"s3\"\n",
            "storage = \"s3\"\nchunk_size = \"1 KiB\"\n",
        );
        std::fs::write(&config, slow).unwrap();
        for (n, service) in services.iter().enumerate() {
            let url = service.publisher.url().to_string();
            add_publisher(&basedir, &format!("p{n}.url"), &url);
        }
        let mut daemon = start(&basedir, MOTO_ACCESS_KEY_ID);
        ids.push(gatherer_id(&mut daemon));
        daemons.push(daemon);
    }
    // g0 holds publishers of its own before anything is declared.
    until_leases(&reader, "a 2/2 split", |l| {
        l.len() == 4 && l.values().filter(|h| **h == ids[0]).count() == 2
    })
    .await;
    let mut expected: Vec<(String, Vec<String>)> =
        services.iter().map(|s| (s.id(), Vec::new())).collect();
    // The kill must land while a gatherer writes a fetch. A fetch of
    // 768 KiB in 1 KiB chunks can still end between two looks on a loaded
    // machine (or the leases may have moved), so incidents are declared
    // until some gatherer is seen mid-fetch, and that one is killed.
    let deadline = Instant::now() + PATIENCE;
    let victim = loop {
        declare(&mut expected, &services);
        let look_until = Instant::now() + Duration::from_secs(5);
        let caught = loop {
            let fetching = (0..daemons.len()).find(|g| fetching(&dir.path().join(format!("g{g}"))));
            if fetching.is_some() || Instant::now() > look_until {
                break fetching;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        if let Some(g) = caught {
            break g;
        }
        assert!(
            Instant::now() < deadline,
            "waited in vain for a fetch in progress"
        );
    };
    daemons[victim].signal("KILL");
    daemons[victim].wait_exit();
    for _ in 0..2 {
        declare(&mut expected, &services);
    }
    let objects = wait_for_all(&reader, &expected).await;
    assert_exactly_once(&objects, &services, &expected);
    assert_eq!(daemons[1 - victim].stop().code(), Some(0));
    for service in services {
        service.publisher.shutdown().await;
    }
}

/// One more large incident (24 blobs) on every service, its name kept.
fn declare(expected: &mut [(String, Vec<String>)], services: &[Service]) {
    for ((_, names), service) in expected.iter_mut().zip(services) {
        names.push(service.incident("app.db", 24));
    }
}

/// Whether the gatherer of `basedir` is writing a fetched incident (a
/// temporary `.part` file in one of its publishers' folders).
fn fetching(basedir: &Path) -> bool {
    let Ok(publishers) = std::fs::read_dir(basedir.join("incidents")) else {
        return false;
    };
    publishers.flatten().any(|d| {
        std::fs::read_dir(d.path()).is_ok_and(|mut files| {
            files.any(|f| f.is_ok_and(|f| f.file_name().to_string_lossy().ends_with(".part")))
        })
    })
}

/// A gatherer that died between storing an incident and listing it left
/// the object past the `latest` marker, unlisted; the next gatherer to
/// serve that publisher lists it and moves the marker, even though the
/// publisher no longer has the incident to fetch again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_stored_but_not_listed_by_a_dead_gatherer_is_listed() {
    let Some(moto) = Moto::start("flog-unlisted") else {
        return;
    };
    let reader = Reader::new(&moto);
    let service = Service::start().await;
    let id = service.id();
    let orphan = service.incident("app.db", 0);
    let bytes = std::fs::read(service.file(&orphan)).unwrap();
    let key = Key::from(format!("{PREFIX}/incidents/{id}/{orphan}.flog.bz2"));
    reader.store.put(&key, bytes.into()).await.unwrap();
    // Gone from the publisher: only the bucket has it now.
    std::fs::remove_file(service.file(&orphan)).unwrap();
    let later = service.incident("app.db", 0);

    let dir = tempfile::tempdir().unwrap();
    let basedir = s3_basedir(dir.path(), "g", &moto);
    add_publisher(&basedir, "p.url", &service.publisher.url().to_string());
    let mut daemon = start(&basedir, MOTO_ACCESS_KEY_ID);
    let objects = wait_for_all(&reader, &[(id.clone(), vec![later.clone()])]).await;
    let database = text(&objects, "classified/database");
    let listed: Vec<&str> = database.lines().collect();
    assert_eq!(
        listed,
        [
            format!("incidents/{id}/{orphan}.flog.bz2"),
            format!("incidents/{id}/{later}.flog.bz2")
        ],
        "{database}"
    );
    assert_eq!(daemon.stop().code(), Some(0));
    service.publisher.shutdown().await;
}

/// The figure of docs/performance.md ("Gatherers sharing a bucket"):
/// incidents stored per second into the bucket by 1, 2 and 3 gatherers,
/// each catching up with the same 20 publishers × 10 incidents of about
/// 40 kB. Run by hand:
/// `cargo test --release -p flog-gatherer --test daemon s3::figure -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a figure, run by hand"]
async fn figure_incidents_stored_per_second() {
    for gatherers in 1..=3 {
        let Some(moto) = Moto::start(&format!("flog-figure-{gatherers}")) else {
            return;
        };
        let reader = Reader::new(&moto);
        let mut services = Vec::new();
        let mut expected = Vec::new();
        for _ in 0..20 {
            let service = Service::start().await;
            let names: Vec<String> = (0..10).map(|_| service.incident("app.db", 1)).collect();
            expected.push((service.id(), names));
            services.push(service);
        }
        let dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let mut daemons = Vec::new();
        for g in 0..gatherers {
            let basedir = s3_basedir(dir.path(), &format!("g{g}"), &moto);
            for (n, service) in services.iter().enumerate() {
                let url = service.publisher.url().to_string();
                add_publisher(&basedir, &format!("p{n}.url"), &url);
            }
            daemons.push(start(&basedir, MOTO_ACCESS_KEY_ID));
        }
        let objects = wait_for_all(&reader, &expected).await;
        let took = started.elapsed();
        assert_exactly_once(&objects, &services, &expected);
        eprintln!(
            "{gatherers} gatherer(s): 200 incidents in {:.2} s, {:.0} incidents/s",
            took.as_secs_f64(),
            200.0 / took.as_secs_f64()
        );
        for daemon in &mut daemons {
            daemon.stop();
        }
        for service in services {
            service.publisher.shutdown().await;
        }
    }
}

/// `leases/<publisher>` as stored: holder and expiry, of those unexpired.
fn live_leases(objects: &BTreeMap<String, Bytes>) -> BTreeMap<String, String> {
    let now = flog_core::Timestamp::now().0;
    objects
        .iter()
        .filter_map(|(key, bytes)| {
            let id = key.strip_prefix("leases/")?;
            let text = String::from_utf8_lossy(bytes);
            let field = |name: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(str::to_owned)
            };
            let expires: i64 = field("expires=")?.parse().ok()?;
            let holder = field("holder=")?;
            (expires > now).then(|| (id.to_owned(), holder))
        })
        .collect()
}

/// Polls the bucket until `check` holds of the live leases.
async fn until_leases(
    reader: &Reader,
    what: &str,
    check: impl Fn(&BTreeMap<String, String>) -> bool,
) -> BTreeMap<String, String> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let leases = live_leases(&reader.objects().await);
        if check(&leases) {
            return leases;
        }
        assert!(
            Instant::now() < deadline,
            "waited in vain for {what}: {leases:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The id a daemon took among the gatherers of the bucket.
fn gatherer_id(daemon: &mut Daemon) -> String {
    let line = daemon.wait_line(&["sharing the publishers"]);
    let start = line.find("\"gatherer\":\"").unwrap() + "\"gatherer\":\"".len();
    line[start..start + line[start..].find('"').unwrap()].to_owned()
}

/// Two gatherers split six publishers three and three through leases; one
/// is SIGKILLed and the other takes its publishers over within about a
/// lease period (3 s here), storing every incident once; a gatherer that
/// starts again takes its share back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_split_the_publishers_and_follow_a_killed_gatherer() {
    let Some(moto) = Moto::start("flog-leases") else {
        return;
    };
    let reader = Reader::new(&moto);
    let mut services = Vec::new();
    for _ in 0..6 {
        services.push(Service::start().await);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut basedirs = Vec::new();
    let mut daemons = Vec::new();
    let mut ids = Vec::new();
    for g in 0..2 {
        let basedir = s3_basedir(dir.path(), &format!("g{g}"), &moto);
        for (n, service) in services.iter().enumerate() {
            let url = service.publisher.url().to_string();
            add_publisher(&basedir, &format!("p{n}.url"), &url);
        }
        let mut daemon = start(&basedir, MOTO_ACCESS_KEY_ID);
        ids.push(gatherer_id(&mut daemon));
        daemons.push(daemon);
        basedirs.push(basedir);
    }
    let split = |leases: &BTreeMap<String, String>, holders: &[&String]| {
        leases.len() == 6
            && holders
                .iter()
                .all(|h| leases.values().filter(|v| v == h).count() == 3)
    };
    until_leases(&reader, "a 3/3 split", |l| split(l, &[&ids[0], &ids[1]])).await;

    daemons[0].signal("KILL");
    daemons[0].wait_exit();
    let killed = Instant::now();
    until_leases(&reader, "the survivor holding all six", |l| {
        l.len() == 6 && l.values().all(|h| *h == ids[1])
    })
    .await;
    eprintln!(
        "publishers taken over {:.2} s after the SIGKILL (lease 3 s)",
        killed.elapsed().as_secs_f64()
    );
    let expected: Vec<(String, Vec<String>)> = services
        .iter()
        .map(|s| {
            (
                s.id(),
                vec![s.incident("app.db", 0), s.incident("app.db", 0)],
            )
        })
        .collect();
    let objects = wait_for_all(&reader, &expected).await;
    assert_exactly_once(&objects, &services, &expected);

    // Back: it takes its share again.
    let mut returned = start(&basedirs[0], MOTO_ACCESS_KEY_ID);
    let back = gatherer_id(&mut returned);
    until_leases(&reader, "a 3/3 split again", |l| {
        split(l, &[&back, &ids[1]])
    })
    .await;
    assert_eq!(returned.stop().code(), Some(0));
    assert_eq!(daemons[1].stop().code(), Some(0));
    for service in services {
        service.publisher.shutdown().await;
    }
}

//! One base directory, one gatherer, one writer per file: an operator who
//! removes the lock file, or anything else writing into the gatherer's
//! temporary files, never gets a corrupt file stored as verified.

use std::fs;
use std::time::Instant;

use crate::support::fake::{incident_file, FakePublisher, Gate, Script, Served};
use crate::support::{
    add_publisher, create, eventually, list, partial_files, Daemon, Service, PATIENCE,
};

/// Issue 9, item 2: the lock file survived a clean stop holding a pid, an
/// operator removed it as stale and started a second gatherer; both wrote
/// into the same temporary files and every stored file was corrupt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_gatherer_is_refused_even_when_the_lock_file_was_removed() {
    let service = Service::start().await;
    let id = service.id();
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path().join("g");
    create(
        &basedir,
        &[("poll_interval", "\"100ms\""), ("min_backoff", "\"50ms\"")],
    );
    add_publisher(
        &basedir,
        "service.url",
        &service.publisher.url().to_string(),
    );
    let lock = basedir.join("lock");

    // A clean stop leaves no pid behind to be taken for a stale lock.
    let mut first = Daemon::start(&basedir);
    first.wait_line(&["connected to", &id]);
    assert_eq!(first.stop().code(), Some(0));
    let mut problems = Vec::new();
    let left = fs::read_to_string(&lock).unwrap_or_default();
    if !left.trim().is_empty() {
        problems.push(format!("after a clean stop the lock file holds {left:?}"));
    }

    let mut first = Daemon::start(&basedir);
    first.wait_line(&["connected to", &id]);
    // The operator's mistake: the lock file goes, a second gatherer starts.
    let _ = fs::remove_file(&lock);
    let mut second = Daemon::start(&basedir);

    let mut names = Vec::new();
    for _ in 0..6 {
        names.push(service.incident("app", 16));
    }
    let latest = basedir.join("incidents").join(&id).join("latest");
    let last = names.last().unwrap().clone();
    eventually("the last incident to be handled", || {
        fs::read_to_string(&latest).is_ok_and(|text| text.trim() == last)
    });
    let second_status = second.wait_exit_until(Instant::now());
    second.read_available();
    assert_eq!(first.stop().code(), Some(0));

    for name in &names {
        let ours = fs::read(basedir.join(format!("incidents/{id}/{name}.flog.bz2"))).unwrap();
        let theirs = fs::read(service.file(name)).unwrap();
        if ours != theirs {
            problems.push(format!(
                "{name}: stored {} bytes, the publisher has {}",
                ours.len(),
                theirs.len()
            ));
        }
    }
    let all = list(&basedir, "all");
    if all.len() != names.len() {
        problems.push(format!(
            "classified/all lists {} lines for {} incidents",
            all.len(),
            names.len()
        ));
    }
    match second_status {
        Some(status) if status.code() == Some(1) => {}
        other => problems.push(format!("the second gatherer was not refused: {other:?}")),
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(
        second
            .seen
            .iter()
            .any(|l| l.contains("another gatherer is running")),
        "{:#?}",
        second.seen
    );
    service.publisher.shutdown().await;
}

/// Bytes added to a fetch's temporary file by anyone but the fetch: the
/// stream's digest is right, the file's is not, and the file must not be
/// stored as verified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temporary_file_changed_under_a_fetch_is_not_stored() {
    let name = "incident-1-meddled";
    let served = Served::with_bytes(name, incident_file(name, 100_000));
    let gate = Gate::new();
    let script = Script {
        incidents: vec![served.clone()],
        fetch_gate: Some(gate.clone()),
        ..Script::default()
    };
    let fake = FakePublisher::start("fake-meddled", script).await;
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path().join("g");
    create(
        &basedir,
        &[("poll_interval", "\"100ms\""), ("min_backoff", "\"50ms\"")],
    );
    add_publisher(&basedir, "fake.url", &fake.url());
    let mut daemon = Daemon::start(&basedir);

    let folder = basedir.join("incidents").join(&fake.id);
    eventually("the fetch to be held after its first chunk", || {
        fake.stats
            .held_fetches
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 1
            && partial_files(&folder, name).len() == 1
    });
    let partial = partial_files(&folder, name).remove(0);
    let mut meddled = fs::read(&partial).unwrap();
    meddled.extend_from_slice(b"written by someone else");
    fs::write(&partial, &meddled).unwrap();
    gate.open();

    daemon.wait_line(&["fetched incident", name]);
    let stored = fs::read(folder.join(format!("{name}.flog.bz2"))).unwrap();
    assert!(
        stored == served.bytes,
        "stored {} bytes, served {}",
        stored.len(),
        served.bytes.len()
    );
    assert!(
        daemon.seen.iter().any(|l| l.contains("SHA-256")),
        "{:#?}",
        daemon.seen
    );
    assert_eq!(daemon.stop().code(), Some(0));
}

/// A file at the name another fetch of the same incident would use (a
/// second gatherer's, or a copy an operator put there) is not ours: a fetch
/// neither resumes from it nor removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_writes_a_temporary_file_of_its_own() {
    let name = "incident-1-own";
    let served = Served::honest(name);
    let listing_gate = Gate::new();
    let script = Script {
        incidents: vec![served.clone()],
        listing_gate: Some(listing_gate.clone()),
        ..Script::default()
    };
    let fake = FakePublisher::start("fake-own", script).await;
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path().join("g");
    create(
        &basedir,
        &[("poll_interval", "\"100ms\""), ("min_backoff", "\"50ms\"")],
    );
    add_publisher(&basedir, "fake.url", &fake.url());
    let mut daemon = Daemon::start(&basedir);
    // Past start-up, which removes what a crash left.
    eventually("a first listing", || {
        fake.stats
            .listings
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 1
    });
    let folder = basedir.join("incidents").join(&fake.id);
    let foreign = folder.join(format!(".{name}.flog.bz2.part"));
    fs::write(&foreign, b"someone else's").unwrap();
    listing_gate.open();

    let deadline = Instant::now() + PATIENCE;
    daemon
        .wait_line_until(&["fetched incident", name], deadline)
        .unwrap_or_else(|| panic!("not fetched; saw {:#?}", daemon.seen));
    assert_eq!(
        fs::read(folder.join(format!("{name}.flog.bz2"))).unwrap(),
        served.bytes
    );
    assert_eq!(
        fs::read(&foreign).ok().as_deref(),
        Some(&b"someone else's"[..])
    );
    let failures: Vec<&String> = daemon.seen.iter().filter(|l| l.contains("WARN")).collect();
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(daemon.stop().code(), Some(0));
}

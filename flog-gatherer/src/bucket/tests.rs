//! Against a real S3 server (moto, one request at a time, so its
//! conditional writes are atomic): several clients, as several gatherers.

use super::*;
use flog_testkit::{Moto, MOTO_ACCESS_KEY_ID, MOTO_SECRET_ACCESS_KEY};

fn config(moto: &Moto, key: &str) -> S3Config {
    let mut config = S3Config::new(moto.bucket());
    config.prefix = "fleet-1".to_owned();
    config.endpoint = Some(moto.endpoint());
    config.region = Some("us-east-1".to_owned());
    config.access_key_id = Some(key.to_owned());
    config.secret_access_key = Some(MOTO_SECRET_ACCESS_KEY.to_owned());
    config
}

fn bucket(moto: &Moto) -> Bucket {
    Bucket::open(&config(moto, MOTO_ACCESS_KEY_ID)).unwrap()
}

fn sha(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_is_created_once_and_other_bytes_are_a_conflict() {
    let Some(moto) = Moto::start("flog-create") else {
        return;
    };
    let (first, second) = (bucket(&moto), bucket(&moto));
    let path = "incidents/web-1/incident-1.flog.bz2";
    let bytes = Bytes::from_static(b"the incident's bytes");
    let stored = first
        .create_incident(path, bytes.clone(), sha(&bytes))
        .await
        .unwrap();
    assert_eq!(stored, Commit::Stored);
    // The second gatherer fetched the same incident: both know it is stored.
    let again = second
        .create_incident(path, bytes.clone(), sha(&bytes))
        .await
        .unwrap();
    assert_eq!(again, Commit::AlreadyStored);
    // Other bytes under the name (of the same size, and of another): a
    // conflict, and the stored object is untouched.
    for other in [&b"the incident's BYTES"[..], b"short"] {
        let other = Bytes::copy_from_slice(other);
        let error = second
            .create_incident(path, other.clone(), sha(&other))
            .await
            .unwrap_err();
        assert!(matches!(error, BucketError::Conflict { .. }), "{error}");
        let shown = error.to_string();
        assert!(
            shown.contains("fleet-1/incidents/web-1/incident-1.flog.bz2"),
            "{shown}"
        );
    }
    assert_eq!(first.read(path).await.unwrap(), Some(bytes));
    assert_eq!(first.stored_names("web-1").await.unwrap(), ["incident-1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_list_updates_lose_no_entry() {
    let Some(moto) = Moto::start("flog-lists") else {
        return;
    };
    const WRITERS: usize = 5;
    const EACH: usize = 12;
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        // A client of its own, as another gatherer would have.
        let bucket = bucket(&moto);
        tasks.push(tokio::spawn(async move {
            for n in 0..EACH {
                let line = format!("incidents/p{writer}/incident-{n:03}.flog.bz2");
                bucket.list_in(&["db", "all"], &line).await.unwrap();
                // The same incident, listed by every writer: once.
                let shared = format!("incidents/shared/incident-{n:03}.flog.bz2");
                bucket.list_in(&["all"], &shared).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let reader = bucket(&moto);
    let all = reader.read("classified/all").await.unwrap().unwrap();
    let all = String::from_utf8(all.to_vec()).unwrap();
    let mut lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len(), WRITERS * EACH + EACH, "{all}");
    lines.sort();
    lines.dedup();
    assert_eq!(lines.len(), WRITERS * EACH + EACH, "a line listed twice");
    let db = reader.read("classified/db").await.unwrap().unwrap();
    assert_eq!(db.iter().filter(|&&b| b == b'\n').count(), WRITERS * EACH);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_latest_marker_only_moves_forward_under_concurrent_writers() {
    let Some(moto) = Moto::start("flog-latest") else {
        return;
    };
    let mut tasks = Vec::new();
    for writer in 0..4u32 {
        let bucket = bucket(&moto);
        tasks.push(tokio::spawn(async move {
            // Interleaved names: each writer moves it to some of them.
            for n in (writer..40).step_by(4) {
                let name = format!("incident-{n:03}");
                bucket.advance_latest("web-1", &name).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let latest = bucket(&moto).latest("web-1").await.unwrap();
    assert_eq!(latest.as_deref(), Some("incident-039"));
    // An older name never moves it back.
    bucket(&moto)
        .advance_latest("web-1", "incident-001")
        .await
        .unwrap();
    let latest = bucket(&moto).latest("web-1").await.unwrap();
    assert_eq!(latest.as_deref(), Some("incident-039"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_told_apart_and_write_nothing() {
    let Some(moto) = Moto::start("flog-creds") else {
        return;
    };
    let wrong = Bucket::open(&config(&moto, "NOTTHEKEY")).unwrap();
    let error = wrong.check().await.unwrap_err();
    assert!(error.is_refused_credentials(), "{error:?}");
    let shown = error.to_string();
    assert!(!shown.contains(MOTO_SECRET_ACCESS_KEY), "{shown}");
    let bytes = Bytes::from_static(b"x");
    let refused = wrong
        .create_incident(
            "incidents/a/incident-1.flog.bz2",
            bytes.clone(),
            sha(&bytes),
        )
        .await
        .unwrap_err();
    assert!(refused.is_refused_credentials(), "{refused:?}");
    bucket(&moto).check().await.unwrap();
    assert!(bucket(&moto).stored_names("a").await.unwrap().is_empty());
    // A server that is down is not a credentials problem.
    let mut moto = moto;
    moto.down();
    let down = bucket(&moto).check().await.unwrap_err();
    assert!(!down.is_refused_credentials(), "{down:?}");
}

/// Noise that does not compress (as a compressed event file).
fn noise(len: usize, mut state: u64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_file_is_uploaded_once_in_one_put_or_in_parts_and_never_over_another() {
    let Some(moto) = Moto::start("flog-upload") else {
        return;
    };
    let bucket = bucket(&moto);
    let dir = tempfile::tempdir().unwrap();
    const PART: usize = 5 << 20;
    let small = dir.path().join("small.flog.bz2");
    std::fs::write(&small, noise(1000, 1)).unwrap();
    let large = dir.path().join("large.flog.bz2");
    std::fs::write(&large, noise(2 * PART + 123, 2)).unwrap();
    for (path, relative, first) in [
        (&small, "events/small.flog.bz2", Upload::Put),
        (&large, "events/large.flog.bz2", Upload::Multipart(3)),
    ] {
        let uploaded = bucket.upload_file(relative, path, PART).await.unwrap();
        assert_eq!(uploaded, first, "{relative}");
        let stored = bucket.read(relative).await.unwrap().unwrap();
        assert!(stored[..] == std::fs::read(path).unwrap()[..], "{relative}");
        // Again (a crash after the upload kept the file): already there.
        let again = bucket.upload_file(relative, path, PART).await.unwrap();
        assert_eq!(again, Upload::AlreadyThere, "{relative}");
        // Another file of that name: taken, the object untouched.
        let other = dir.path().join("other");
        let mut bytes = std::fs::read(path).unwrap();
        bytes[0] ^= 1;
        std::fs::write(&other, &bytes).unwrap();
        let taken = bucket.upload_file(relative, &other, PART).await.unwrap();
        assert_eq!(taken, Upload::Taken, "{relative}");
        assert_eq!(bucket.read(relative).await.unwrap(), Some(stored));
    }
    // A file that cannot be read: a clear error, nothing uploaded.
    let gone = dir.path().join("gone.flog.bz2");
    let error = bucket
        .upload_file("events/gone.flog.bz2", &gone, PART)
        .await
        .unwrap_err();
    assert!(matches!(error, BucketError::Local { .. }), "{error}");
    assert_eq!(bucket.read("events/gone.flog.bz2").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_reads_keep_what_they_may_and_count_or_refuse_the_rest() {
    let Some(moto) = Moto::start("flog-bounded") else {
        return;
    };
    let bucket = bucket(&moto);
    for id in ["web-1", "web-2", "web-3"] {
        bucket
            .write(&format!("incidents/{id}/latest"), b"x\n".to_vec())
            .await
            .unwrap();
    }
    bucket
        .write("gatherers/g-1", b"expires=1\n".to_vec())
        .await
        .unwrap();
    // Folders: two kept, one counted; objects of the folder only.
    let folders = bucket
        .list_bounded("incidents", true, 2, 100)
        .await
        .unwrap();
    assert_eq!(folders.names, ["web-1", "web-2"]);
    assert_eq!((folders.more, folders.more_uncounted), (1, false));
    let objects = bucket
        .list_bounded("gatherers", false, 10, 100)
        .await
        .unwrap();
    assert_eq!(objects.names, ["g-1"]);
    assert!(bucket
        .list_bounded("nothing", false, 10, 100)
        .await
        .unwrap()
        .names
        .is_empty());

    // A small object read whole; a larger one refused, not read.
    assert_eq!(
        bucket.read_bounded("gatherers/g-1", 10).await.unwrap(),
        Some(Bytes::from_static(b"expires=1\n"))
    );
    let error = bucket.read_bounded("gatherers/g-1", 9).await.unwrap_err();
    assert!(
        matches!(error, BucketError::TooLarge { size: 10, .. }),
        "{error:?}"
    );
    assert_eq!(bucket.read_bounded("gatherers/g-9", 9).await.unwrap(), None);

    // Lines streamed: an overlong one skipped, a last one without its
    // newline taken, and reading stops past the limit.
    let long = "y".repeat(100);
    let text = format!("a\n{long}\nbb\nc");
    bucket
        .write("classified/all", text.into_bytes())
        .await
        .unwrap();
    let mut lines = Vec::new();
    let whole = bucket
        .read_lines("classified/all", 1 << 20, 10, |l| lines.push(l.to_owned()))
        .await
        .unwrap();
    assert!(whole);
    assert_eq!(lines, ["a", "bb", "c"]);
    let mut none = 0;
    assert!(bucket
        .read_lines("classified/none", 1 << 20, 10, |_| none += 1)
        .await
        .unwrap());
    assert_eq!(none, 0);
    let cut = bucket
        .read_lines("classified/all", 4, 10, |_| {})
        .await
        .unwrap();
    assert!(!cut, "a list past the limit is not read whole");
}

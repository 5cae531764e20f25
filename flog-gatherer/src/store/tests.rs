use super::*;

const A: &str = "incident-2024-01-01T00-00-00.000000Z-0001";
const B: &str = "incident-2024-01-01T00-00-01.000000Z-0002";
const C: &str = "incident-2024-01-01T00-00-02.000000Z-0003";

fn folder(basedir: &Path) -> PathBuf {
    basedir.join(INCIDENTS_DIR).join("web-1")
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Moves `contents` into place as incident `name`, as a fetch does:
/// partial file, then commit.
fn commit(store: &PublisherStore, name: &str, contents: &str) -> Commit {
    let partial = store.new_partial(name);
    fs::write(partial.path(), contents).unwrap();
    let outcome = store.commit(&partial).unwrap();
    assert!(!partial.path().exists());
    outcome
}

/// Stores `name` as a fetch does: partial file, commit, latest.
fn store(store: &mut PublisherStore, name: &str, contents: &str) -> Commit {
    let outcome = commit(store, name, contents);
    store.set_latest(name).unwrap();
    outcome
}

#[test]
fn a_new_publisher_starts_empty() {
    let dir = tempfile::tempdir().unwrap();
    let recovered = PublisherStore::recover(dir.path(), "web-1").unwrap();
    assert_eq!(recovered.store.latest(), None);
    assert!(recovered.unrecorded.is_empty());
    assert!(folder(dir.path()).is_dir());
    assert_eq!(
        recovered.store.relative_path(A),
        format!("incidents/web-1/{A}.flog.bz2")
    );
    assert_eq!(publisher_ids(dir.path()).unwrap(), ["web-1"]);
}

#[test]
fn stored_files_are_whole_and_latest_follows() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = PublisherStore::recover(dir.path(), "web-1").unwrap().store;
    assert_eq!(store(&mut s, A, "a"), Commit::Stored);
    assert_eq!(store(&mut s, B, "b"), Commit::Stored);
    assert_eq!(s.latest(), Some(B));
    assert_eq!(
        listing(&folder(dir.path())),
        [
            format!("{A}.flog.bz2"),
            format!("{B}.flog.bz2"),
            "latest".into()
        ]
    );
    assert_eq!(
        fs::read_to_string(folder(dir.path()).join(LATEST_FILE)).unwrap(),
        format!("{B}\n")
    );
    // Names only move forward.
    s.set_latest(A).unwrap();
    assert_eq!(s.latest(), Some(B));
    // Reopening finds the same state with nothing to repair.
    let again = PublisherStore::recover(dir.path(), "web-1").unwrap();
    assert_eq!(again.store.latest(), Some(B));
    assert!(again.unrecorded.is_empty());
}

#[test]
fn an_existing_stored_file_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = PublisherStore::recover(dir.path(), "web-1").unwrap().store;
    store(&mut s, A, "original");
    assert_eq!(store(&mut s, A, "impostor"), Commit::AlreadyStored);
    assert_eq!(fs::read_to_string(s.stored_path(A)).unwrap(), "original");
}

#[test]
fn every_fetch_has_a_temporary_file_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let s = PublisherStore::recover(dir.path(), "web-1").unwrap().store;
    let first = s.new_partial(A);
    let second = s.new_partial(A);
    assert_ne!(first.path(), second.path());
    for partial in [&first, &second] {
        let file = partial.path().file_name().unwrap().to_str().unwrap();
        assert!(is_partial_name(file), "{file}");
        assert!(file.starts_with(&format!(".{A}.flog.bz2.")), "{file}");
    }
}

#[test]
fn recovery_after_a_crash_between_storing_and_latest() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = PublisherStore::recover(dir.path(), "web-1").unwrap().store;
    store(&mut s, A, "a");
    // The crash: B and C were moved into place, `latest` still says A.
    for name in [B, C] {
        commit(&s, name, name);
    }
    drop(s);
    let recovered = PublisherStore::recover(dir.path(), "web-1").unwrap();
    assert_eq!(recovered.store.latest(), Some(C));
    assert_eq!(recovered.unrecorded, [B, C]);
    let mut s = recovered.store;
    s.persist_latest().unwrap();
    assert_eq!(
        fs::read_to_string(folder(dir.path()).join(LATEST_FILE)).unwrap(),
        format!("{C}\n")
    );
    assert!(PublisherStore::recover(dir.path(), "web-1")
        .unwrap()
        .unrecorded
        .is_empty());
}

#[test]
fn recovery_removes_what_a_crash_mid_fetch_left() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = PublisherStore::recover(dir.path(), "web-1").unwrap().store;
    store(&mut s, A, "a");
    // Killed while fetching B, and while rewriting `latest`.
    fs::write(s.new_partial(B).path(), "half of b").unwrap();
    let temp = flog_core::fs::temp_path_for(&folder(dir.path()).join(LATEST_FILE));
    fs::write(&temp, "incident-").unwrap();
    // Not ours: left alone.
    fs::write(folder(dir.path()).join("notes.txt"), "operator's").unwrap();
    drop(s);

    let recovered = PublisherStore::recover(dir.path(), "web-1").unwrap();
    assert_eq!(recovered.removed_temp_files, 2);
    assert_eq!(recovered.store.latest(), Some(A));
    assert!(recovered.unrecorded.is_empty());
    assert_eq!(
        listing(&folder(dir.path())),
        [format!("{A}.flog.bz2"), "latest".into(), "notes.txt".into()]
    );
}

#[test]
fn latest_may_be_past_every_stored_file() {
    // A refused incident, or stored files removed by the operator: `latest`
    // alone keeps them from being fetched again.
    let dir = tempfile::tempdir().unwrap();
    let mut s = PublisherStore::recover(dir.path(), "web-1").unwrap().store;
    store(&mut s, A, "a");
    s.set_latest(C).unwrap();
    fs::remove_file(s.stored_path(A)).unwrap();
    let recovered = PublisherStore::recover(dir.path(), "web-1").unwrap();
    assert_eq!(recovered.store.latest(), Some(C));
}

#[test]
fn bad_ids_and_bad_latest_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for id in ["", "..", "a/b", "../x"] {
        assert!(PublisherStore::recover(dir.path(), id).is_err(), "{id:?}");
    }
    fs::create_dir_all(folder(dir.path())).unwrap();
    fs::write(folder(dir.path()).join(LATEST_FILE), "../../etc/passwd\n").unwrap();
    let error = PublisherStore::recover(dir.path(), "web-1").unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    // Folders that are not publisher ids are not publishers.
    fs::create_dir_all(dir.path().join(INCIDENTS_DIR).join("not.an.id")).unwrap();
    assert_eq!(publisher_ids(dir.path()).unwrap(), ["web-1"]);
}

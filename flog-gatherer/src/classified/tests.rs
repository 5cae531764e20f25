use std::borrow::Cow;

use flog_core::{
    flogfile::{FlogWriter, Header},
    Level,
};

use super::*;
use crate::store::PublisherStore;

const A: &str = "incident-2024-01-01T00-00-00.000000Z-0001";
const B: &str = "incident-2024-01-01T00-00-01.000000Z-0002";

fn trigger(level: Level, facility: &'static str) -> Event {
    Event {
        num: 1,
        level,
        facility: Some(Cow::Borrowed(facility)),
        ..Event::default()
    }
}

/// An incident file whose header names `trigger`.
fn incident_bytes(trigger: &Event) -> Vec<u8> {
    let header = Header {
        kind: flog_core::flogfile::HeaderKind::Incident.into(),
        trigger: Some(trigger.clone()),
        ..Header::default()
    };
    let mut writer = FlogWriter::new(Vec::new(), &header).unwrap();
    writer.write_event(trigger).unwrap();
    writer.into_inner().unwrap()
}

fn rules() -> Classifier {
    Classifier::from_toml(
        "[[rule]]\ncategory = \"db\"\nfacility = \"app.db\"\n[[rule]]\ncategory = \"bad\"\nmin_level = \"BAD\"\n",
        "rules.toml",
    )
    .unwrap()
}

fn list(basedir: &Path, name: &str) -> Vec<String> {
    match fs::read_to_string(basedir.join(CLASSIFIED_DIR).join(name)) {
        Ok(text) => text.lines().map(str::to_owned).collect(),
        Err(_) => Vec::new(),
    }
}

/// Stores an incident with `trigger` through the index, as a fetch does.
fn store(
    index: &ClassifiedIndex,
    s: &mut PublisherStore,
    name: &str,
    trigger: &Event,
) -> Vec<String> {
    let partial = s.new_partial(name);
    fs::write(partial.path(), incident_bytes(trigger)).unwrap();
    let read = read_trigger(partial.path()).unwrap();
    let (outcome, categories) = index
        .store(&s.relative_path(name), read.as_ref(), || s.commit(&partial))
        .unwrap();
    assert_eq!(outcome, Commit::Stored);
    s.set_latest(name).unwrap();
    categories
}

fn path(name: &str) -> String {
    relative_path("web-1", name)
}

#[test]
fn triggers_come_from_the_header_or_the_worst_event() {
    let dir = tempfile::tempdir().unwrap();
    let with_header = dir.path().join("a");
    fs::write(
        &with_header,
        incident_bytes(&trigger(Level::WEIRD, "app.db")),
    )
    .unwrap();
    assert_eq!(
        read_trigger(&with_header).unwrap().unwrap().facility(),
        "app.db"
    );

    let without = dir.path().join("b");
    let mut writer = FlogWriter::without_header(Vec::new()).unwrap();
    writer.write_event(&trigger(Level::CURIOUS, "one")).unwrap();
    writer.write_event(&trigger(Level::BAD, "two")).unwrap();
    writer.write_event(&trigger(Level::BAD, "three")).unwrap();
    fs::write(&without, writer.into_inner().unwrap()).unwrap();
    assert_eq!(read_trigger(&without).unwrap().unwrap().facility(), "two");

    let empty = dir.path().join("c");
    fs::write(&empty, flog_core::flogfile::MAGIC).unwrap();
    assert_eq!(read_trigger(&empty).unwrap(), None);

    let garbage = dir.path().join("d");
    fs::write(&garbage, "not a flogfile").unwrap();
    assert!(read_trigger(&garbage).is_err());
}

#[test]
fn stored_incidents_are_listed_by_category_and_in_all() {
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path();
    let index = ClassifiedIndex::new(basedir, rules());
    assert!(!index.is_current().unwrap());
    assert_eq!(index.rebuild(rules()).unwrap(), 0);
    assert!(index.is_current().unwrap());
    // Every category has its file from the start.
    for name in ["db", "bad", "unknown", "all"] {
        assert!(basedir.join(CLASSIFIED_DIR).join(name).is_file(), "{name}");
    }

    let mut s = PublisherStore::recover(basedir, "web-1").unwrap().store;
    assert_eq!(
        store(&index, &mut s, A, &trigger(Level::BAD, "app.db.pool")),
        ["db", "bad"]
    );
    assert!(store(&index, &mut s, B, &trigger(Level::WEIRD, "web")).is_empty());
    assert_eq!(list(basedir, "all"), [path(A), path(B)]);
    assert_eq!(list(basedir, "db"), [path(A)]);
    assert_eq!(list(basedir, "bad"), [path(A)]);
    assert_eq!(list(basedir, "unknown"), [path(B)]);

    // Listing again where missing adds nothing.
    index
        .ensure(&path(A), Some(&trigger(Level::BAD, "app.db")))
        .unwrap();
    assert_eq!(list(basedir, "all"), [path(A), path(B)]);
}

#[test]
fn a_rule_change_rebuilds_without_touching_the_incidents() {
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path();
    let index = ClassifiedIndex::new(basedir, rules());
    index.rebuild(rules()).unwrap();
    let mut s = PublisherStore::recover(basedir, "web-1").unwrap().store;
    store(&index, &mut s, A, &trigger(Level::BAD, "app.db"));
    store(&index, &mut s, B, &trigger(Level::WEIRD, "web"));
    let before = fs::read(s.stored_path(A)).unwrap();

    let web =
        Classifier::from_toml("[[rule]]\ncategory = \"web\"\nfacility = \"web\"\n", "r").unwrap();
    assert_eq!(index.rebuild(web.clone()).unwrap(), 2);
    assert!(index.is_current().unwrap());
    assert_eq!(list(basedir, "web"), [path(B)]);
    assert_eq!(list(basedir, "unknown"), [path(A)]);
    assert_eq!(list(basedir, "all"), [path(A), path(B)]);
    assert!(!basedir.join(CLASSIFIED_DIR).join("db").exists());
    assert_eq!(fs::read(s.stored_path(A)).unwrap(), before);
    // Nothing of the rebuild is left beside it.
    let leftovers: Vec<_> = fs::read_dir(basedir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn incidents_recorded_during_a_rebuild_are_in_the_new_lists_once() {
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path();
    let index = ClassifiedIndex::new(basedir, rules());
    index.rebuild(rules()).unwrap();
    let mut s = PublisherStore::recover(basedir, "web-1").unwrap().store;
    store(&index, &mut s, A, &trigger(Level::BAD, "app.db"));
    // As if a rebuild had started: A was stored before its scan (so the
    // scan finds it too), B is recorded meanwhile under a name the scan
    // cannot find.
    index.lock().recorded_during_rebuild = Some(vec![
        (path(A), Some(trigger(Level::BAD, "app.db"))),
        ("incidents/web-2/x.flog.bz2".into(), None),
    ]);
    assert_eq!(index.rebuild_with(&rules()).unwrap(), 2);
    assert_eq!(
        list(basedir, "all"),
        [path(A), "incidents/web-2/x.flog.bz2".to_string()]
    );
    assert_eq!(list(basedir, "unknown"), ["incidents/web-2/x.flog.bz2"]);
    assert!(index.lock().recorded_during_rebuild.is_none());
}

#[test]
fn repair_finishes_what_a_crash_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path();
    let index = ClassifiedIndex::new(basedir, rules());
    index.rebuild(rules()).unwrap();
    let mut s = PublisherStore::recover(basedir, "web-1").unwrap().store;
    store(&index, &mut s, A, &trigger(Level::BAD, "app.db"));
    // The crash: B stored and listed in `db` only, half a line in `bad`,
    // and a rebuild's folder left behind.
    let partial = s.new_partial(B);
    fs::write(
        partial.path(),
        incident_bytes(&trigger(Level::BAD, "app.db")),
    )
    .unwrap();
    s.commit(&partial).unwrap();
    append_line(&basedir.join(CLASSIFIED_DIR).join("db"), &path(B)).unwrap();
    let mut bad = OpenOptions::new()
        .append(true)
        .open(basedir.join(CLASSIFIED_DIR).join("bad"))
        .unwrap();
    bad.write_all(b"incidents/web-1/inc").unwrap();
    fs::create_dir(basedir.join(format!("{NEW_PREFIX}1-0"))).unwrap();
    drop(s);

    let recovered = PublisherStore::recover(basedir, "web-1").unwrap();
    let unrecorded: Vec<String> = recovered.unrecorded.iter().map(|n| path(n)).collect();
    assert_eq!(unrecorded, [path(B)]);
    index.repair(&unrecorded).unwrap();
    assert_eq!(list(basedir, "db"), [path(A), path(B)]);
    assert_eq!(list(basedir, "bad"), [path(A), path(B)]);
    assert_eq!(list(basedir, "all"), [path(A), path(B)]);
    assert!(!basedir.join(format!("{NEW_PREFIX}1-0")).exists());
    // Idempotent.
    index.repair(&unrecorded).unwrap();
    assert_eq!(list(basedir, "all"), [path(A), path(B)]);
}

#[test]
fn an_incident_recorded_twice_is_listed_once() {
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path();
    let index = ClassifiedIndex::new(basedir, rules());
    index.rebuild(rules()).unwrap();
    let bad = trigger(Level::BAD, "app.db");
    for name in [A, B, A, B] {
        // As two writers into one base directory would: each believes it
        // stored the file.
        index
            .store(&path(name), Some(&bad), || Ok(Commit::Stored))
            .unwrap();
    }
    index.ensure(&path(A), Some(&bad)).unwrap();
    // A new index (a restart) learns what is listed from the lists.
    let restarted = ClassifiedIndex::new(basedir, rules());
    restarted
        .store(&path(B), Some(&bad), || Ok(Commit::Stored))
        .unwrap();
    for list_name in ["db", "bad", "all"] {
        assert_eq!(list(basedir, list_name), [path(A), path(B)], "{list_name}");
    }
}

#[test]
fn unreadable_incidents_are_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path();
    let index = ClassifiedIndex::new(basedir, rules());
    let s = PublisherStore::recover(basedir, "web-1").unwrap().store;
    fs::write(s.stored_path(A), "garbage").unwrap();
    assert_eq!(index.rebuild(rules()).unwrap(), 1);
    assert_eq!(list(basedir, "unknown"), [path(A)]);
}

/// A full disk can take part of a line: the part must not stay, or the next
/// append would continue it into a line that names no incident.
#[test]
fn a_line_cut_short_by_a_full_disk_is_taken_back() {
    let Some(small) = flog_testkit::SmallDisk::mount("64k") else {
        return;
    };
    let disk = small.path.clone();

    // A list whose first page has 6 bytes left, on a disk with no page left:
    // the next line's first 6 bytes fit, the rest does not.
    let list = disk.join("all");
    let line = path(A);
    let mut text = String::new();
    while text.len() + line.len() < 4090 {
        text.push_str(&line);
        text.push('\n');
    }
    text.push_str(&"x".repeat(4089 - text.len()));
    text.push('\n');
    fs::write(&list, &text).unwrap();
    let mut filler = File::create(disk.join("filler")).unwrap();
    let page = [0u8; 4096];
    // Whole pages until the disk refuses one.
    while filler.write_all(&page).is_ok() && filler.sync_all().is_ok() {}
    drop(filler);

    let error = append_line(&list, &path(B)).unwrap_err();
    assert_eq!(error.raw_os_error(), Some(28), "{error}"); // ENOSPC
    let kept = fs::read_to_string(&list).unwrap();
    assert!(
        kept == text,
        "nothing half-written stays: ends with {:?}",
        &kept[kept.len().saturating_sub(10)..]
    );

    fs::remove_file(disk.join("filler")).unwrap();
    append_line(&list, &path(B)).unwrap();
    let after = fs::read_to_string(&list).unwrap();
    assert_eq!(after.lines().last(), Some(path(B).as_str()));
    assert_eq!(after.len(), text.len() + path(B).len() + 1);
}

use std::path::Path;

use crate::util::{path_str, run};

fn files_below(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            found.extend(files_below(&entry.path()));
        } else {
            found.push(entry.path().display().to_string());
        }
    }
    found
}

#[test]
fn demo_gathers_classifies_and_shows_incidents() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["demo", "--dir", path_str(dir.path())]);
    assert_eq!(out.code, 0, "{out:?}");

    let gathered: Vec<String> = files_below(&dir.path().join("gatherer/incidents"))
        .into_iter()
        .filter(|f| f.ends_with(".flog.bz2"))
        .collect();
    assert_eq!(gathered.len(), 3, "{gathered:?}");
    let classified = dir.path().join("gatherer/classified");
    let list = |category: &str| std::fs::read_to_string(classified.join(category)).unwrap();
    assert_eq!(list("database").lines().count(), 1);
    assert_eq!(list("web").lines().count(), 1);
    assert_eq!(list("unknown").lines().count(), 1);

    for part in [
        "== What was gathered",
        "database: 1 incident",
        "unknown: 1 incident",
        "[TRIGGER]",
    ] {
        assert!(out.stdout.contains(part), "{part} in {}", out.stdout);
    }
    assert_eq!(
        out.stdout.matches("[TRIGGER]").count(),
        2,
        "both triggers of the database incident"
    );

    let again = run(&["demo", "--dir", path_str(dir.path())]);
    assert_eq!(again.code, 1, "refuses a used directory: {again:?}");
}

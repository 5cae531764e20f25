use crate::util::{event_lines, path_str, real_incident, run};

#[test]
fn filter_writes_a_flogfile_that_dump_reads() {
    let dir = tempfile::tempdir().unwrap();
    let file = real_incident(dir.path());
    for name in ["db.flog", "db.flog.bz2"] {
        let out_path = dir.path().join(name);
        let out = run(&[
            "filter",
            path_str(&file),
            path_str(&out_path),
            "--facility",
            "app.db",
        ]);
        assert_eq!(out.code, 0, "{out:?}");
        assert!(out.stdout.contains("kept 1 of 8 events"), "{}", out.stdout);
        let bytes = std::fs::read(&out_path).unwrap();
        assert_eq!(bytes.starts_with(b"BZh"), name.ends_with(".bz2"));
        let dumped = run(&["dump", path_str(&out_path)]);
        assert_eq!(dumped.code, 0, "{dumped:?}");
        assert!(
            dumped.stdout.starts_with("== incident incident-"),
            "header kept: {}",
            dumped.stdout
        );
        let events = event_lines(&dumped.stdout);
        assert_eq!(events.len(), 1);
        assert!(events[0].ends_with("[TRIGGER]"), "{}", events[0]);
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(
        leftovers.is_empty(),
        "no temporary files left: {leftovers:?}"
    );
}

#[test]
fn filter_may_replace_its_input() {
    let dir = tempfile::tempdir().unwrap();
    let file = real_incident(dir.path());
    let out = run(&[
        "filter",
        path_str(&file),
        path_str(&file),
        "--min-level",
        "CURIOUS",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let dumped = run(&["dump", path_str(&file)]);
    assert_eq!(event_lines(&dumped.stdout).len(), 3, "{}", dumped.stdout);
}

#[test]
fn filter_refuses_what_is_not_a_flogfile_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk");
    std::fs::write(&junk, [0x00, 0xff, 0x13]).unwrap();
    let target = dir.path().join("out.flog");
    let out = run(&["filter", path_str(&junk), path_str(&target)]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("binary data starting 00ff13"),
        "{}",
        out.stderr
    );
    assert!(!target.exists());
}

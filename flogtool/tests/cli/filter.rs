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

/// Hidden temporary files left in `dir`.
fn leftovers(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect()
}

#[test]
fn one_argument_filters_in_place_keeping_compression_and_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = real_incident(dir.path());
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = run(&["filter", path_str(&file), "--min-level", "CURIOUS"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout,
        format!(
            "{}: kept 3 of 8 events (filtered in place)\n",
            file.display()
        )
    );
    assert!(
        std::fs::read(&file).unwrap().starts_with(b"BZh"),
        "still bzip2"
    );
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    let dumped = run(&["dump", path_str(&file)]);
    assert_eq!(event_lines(&dumped.stdout).len(), 3, "{}", dumped.stdout);

    // A plain file stays plain, whatever its name says.
    let plain = dir.path().join("plain.flog.bz2");
    std::fs::write(&plain, crate::util::decompressed(&file)).unwrap();
    let out = run(&["filter", path_str(&plain), "--min-level", "WEIRD"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(std::fs::read(&plain)
        .unwrap()
        .starts_with(b"# flog flogfile"));
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );
}

#[test]
fn strip_facility_drops_dotted_children_and_verbose_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let file = real_incident(dir.path());
    let out_path = dir.path().join("out.flog");
    let out = run(&[
        "filter",
        "--verbose",
        "--strip-facility",
        "app.work",
        "--strip-facility",
        "app.d",
        "--min-level",
        "NOISY",
        "--grep",
        "a",
        path_str(&file),
        path_str(&out_path),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    // Of the 8 events, the 5 of app.work are stripped; `app.d` strips
    // nothing (prefixes are dotted); the other 3 pass --min-level NOISY (the
    // lowest named level) and --grep a.
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            format!("{}: kept 3 of 8 events", out_path.display()).as_str(),
            "  dropped by --strip-facility: 5",
        ],
        "{}",
        out.stdout
    );
    let dumped = run(&["dump", path_str(&out_path)]);
    let events = event_lines(&dumped.stdout);
    assert_eq!(events.len(), 3, "{}", dumped.stdout);
    assert!(events.iter().all(|l| !l.contains("app.work")));

    let out = run(&[
        "filter",
        "-v",
        "--min-level",
        "WEIRD",
        "--facility",
        "app.db",
        path_str(&file),
        path_str(&out_path),
    ]);
    assert_eq!(
        out.stdout.lines().skip(1).collect::<Vec<_>>(),
        ["  dropped by --min-level: 7"],
        "each event counted once, under the first filter it failed"
    );
}

#[test]
fn a_damaged_file_is_never_replaced_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let file = real_incident(dir.path());
    let bytes = crate::util::decompressed(&file);
    for (name, cut) in [
        ("truncated.flog", bytes[..bytes.len() - 10].to_vec()),
        ("corrupt.flog", {
            let mut b = bytes.clone();
            let at = b.len() - 40;
            b[at..at + 8].copy_from_slice(&[0xff; 8]);
            b
        }),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &cut).unwrap();
        let out = run(&["filter", path_str(&path), "--min-level", "WEIRD"]);
        assert_eq!(out.code, 1, "{name}: {out:?}");
        assert!(out.stderr.contains("left as it was"), "{}", out.stderr);
        assert_eq!(std::fs::read(&path).unwrap(), cut, "{name} untouched");
        assert!(
            leftovers(dir.path()).is_empty(),
            "{:?}",
            leftovers(dir.path())
        );

        // Given NEW, what it holds is salvaged there.
        let new = dir.path().join(format!("{name}.salvaged"));
        let out = run(&["filter", path_str(&path), path_str(&new)]);
        assert!(new.exists(), "{name}: {out:?}");
    }
}

use std::path::PathBuf;

use flog_core::{msg, Level};

use crate::util::{incident_channel, path_str, quick_logger, run, DEADLINE};

const RULES: &str = r#"
[[rule]]
category = "database"
facility = "app.db"

[[rule]]
category = "pool"
message = "pool (exhausted|closed)"

[[rule]]
category = "web"
facility = "app.web"
min_level = "SCARY"
"#;

/// Three incidents: a database one (two categories), a web one too mild for its
/// rule, and a jobs one no rule knows.
fn incidents(logdir: &std::path::Path) -> Vec<PathBuf> {
    let logger = quick_logger(logdir);
    let finished = incident_channel(&logger);
    let mut paths = Vec::new();
    for (facility, text) in [
        ("app.db.pool", "pool exhausted after 250 ms"),
        ("app.web", "slow handler"),
        ("app.jobs", "job stalled"),
    ] {
        msg!(
            logger = logger,
            Level::WEIRD,
            facility = facility,
            message = text
        );
        paths.push(finished.recv_timeout(DEADLINE).unwrap().1);
    }
    paths
}

#[test]
fn classify_prints_categories_or_unknown_per_incident() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, RULES).unwrap();
    let paths = incidents(&dir.path().join("logs"));
    let mut args = vec!["classify-incident", "--rules", path_str(&rules)];
    args.extend(paths.iter().map(|p| path_str(p)));

    let out = run(&args);
    assert_eq!(out.code, 0, "{out:?}");
    let want: Vec<String> = vec![
        format!("{}: database,pool", paths[0].display()),
        format!("{}: unknown", paths[1].display()),
        format!("{}: unknown", paths[2].display()),
    ];
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), want);

    args.push("--verbose");
    let out = run(&args);
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{}", out.stdout);
    assert!(
        lines[2].starts_with("    trigger: #") && lines[2].ends_with("app.web: slow handler"),
        "{}",
        lines[2]
    );
    assert!(lines[4].ends_with("app.jobs: job stalled"), "{}", lines[4]);
}

#[test]
fn classify_reports_bad_rules_and_unreadable_incidents() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, "[[rule]]\ncategory = \"all\"\n").unwrap();
    let paths = incidents(&dir.path().join("logs"));
    let out = run(&[
        "classify-incident",
        "--rules",
        path_str(&rules),
        path_str(&paths[0]),
    ]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("rules.toml"), "{}", out.stderr);

    std::fs::write(&rules, RULES).unwrap();
    let junk = dir.path().join("junk.flog");
    std::fs::write(&junk, "not a log\n").unwrap();
    let out = run(&[
        "classify-incident",
        "--rules",
        path_str(&rules),
        path_str(&junk),
        path_str(&paths[0]),
    ]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("not a flogfile"), "{}", out.stderr);
    assert!(
        out.stdout.contains(": database,pool"),
        "the others are still classified: {}",
        out.stdout
    );

    let out = run(&["classify-incident", path_str(&paths[0])]);
    assert_eq!(out.code, 2, "--rules is required: {out:?}");
}

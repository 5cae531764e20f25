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

// Long on purpose: one scenario whose steps build on the state the earlier ones left (real processes, sockets or a browser), so it reads top to bottom.
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
    assert_eq!(lines.len(), 7, "{}", out.stdout);
    assert!(
        lines[2].starts_with("    trigger: #") && lines[2].ends_with("app.web: slow handler"),
        "{}",
        lines[2]
    );
    // And as JSON, as foolscap's classify-incident --verbose prints it.
    let json: serde_json::Value =
        serde_json::from_str(lines[3].strip_prefix("    json: ").unwrap()).unwrap();
    assert_eq!(json["facility"], "app.web");
    assert_eq!(json["message"], "slow handler");
    assert_eq!(json["level_name"], "WEIRD");
    assert!(lines[5].ends_with("app.jobs: job stalled"), "{}", lines[5]);
    assert!(lines[6].starts_with("    json: {"), "{}", lines[6]);
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

#[test]
fn a_gatherers_basedir_or_its_config_gives_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path().join("gatherer");
    let config = flog_gatherer::create(&basedir).unwrap();
    // The template has publishers and settings besides the rules: a rules
    // file may not, a gatherer's config does.
    let mut text = std::fs::read_to_string(&config).unwrap();
    text = text.replace(
        "publishers = [\n",
        "publishers = [\n    \"flog+insecure://127.0.0.1:4817/web-1/0123456789abcdef\",\n",
    );
    text.push_str(RULES);
    std::fs::write(&config, text).unwrap();
    let paths = incidents(&dir.path().join("logs"));
    let want = format!(
        "{}: database,pool\n{}: unknown\n",
        paths[0].display(),
        paths[1].display()
    );
    for target in [&basedir, &config] {
        let out = run(&[
            "classify-incident",
            "--gatherer",
            path_str(target),
            path_str(&paths[0]),
            path_str(&paths[1]),
        ]);
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(out.stdout, want);
    }

    let out = run(&[
        "classify-incident",
        "--rules",
        path_str(&config),
        path_str(&paths[0]),
    ]);
    assert_eq!(out.code, 1, "a rules file holds rules only: {out:?}");
    let out = run(&[
        "classify-incident",
        "--rules",
        path_str(&config),
        "--gatherer",
        path_str(&basedir),
        path_str(&paths[0]),
    ]);
    assert_eq!(out.code, 2, "one source of rules: {out:?}");
    let empty = dir.path().join("not-a-gatherer");
    std::fs::create_dir(&empty).unwrap();
    let out = run(&[
        "classify-incident",
        "--gatherer",
        path_str(&empty),
        path_str(&paths[0]),
    ]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("gatherer.toml"), "{}", out.stderr);
}

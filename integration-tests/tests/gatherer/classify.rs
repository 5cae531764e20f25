//! Classification of gathered incidents, and reclassification after the
//! rules change, without fetching anything again.

use std::os::unix::fs::MetadataExt;

use flog_core::Level;

use super::*;

fn with_rules(rules: &str) -> Config {
    let fresh = Config::from_toml(rules, "gatherer.toml").unwrap();
    let mut config = quick_config();
    config.classifier = fresh.classifier;
    config
}

const FIRST_RULES: &str = r#"
[[rule]]
category = "database"
facility = "app.db"

[[rule]]
category = "serious"
min_level = "BAD"
"#;

const SECOND_RULES: &str = r#"
[[rule]]
category = "exhausted"
message = "exhausted"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_are_classified_and_reclassified_when_rules_change() {
    let mut service = Service::start().await;
    let id = service.id();
    let base = tempfile::tempdir().unwrap();
    let basedir = base.path();
    drop_url_file(basedir, "service.url", service.url());

    let mut gatherer = Running::start(basedir, with_rules(FIRST_RULES));
    let db = service
        .incident("app.db.pool", Level::BAD, "pool exhausted")
        .await;
    let web = service
        .incident("app.web", Level::WEIRD, "slow request")
        .await;
    let stored = gatherer.stored(&id, &db).await;
    assert_eq!(stored.categories, ["database", "serious"]);
    assert!(gatherer.stored(&id, &web).await.categories.is_empty());
    let (db_path, web_path) = (relative(&id, &db), relative(&id, &web));
    assert_eq!(list(basedir, "database"), [db_path.as_str()]);
    assert_eq!(list(basedir, "serious"), [db_path.as_str()]);
    assert_eq!(list(basedir, "unknown"), [web_path.as_str()]);
    assert_eq!(list(basedir, "all"), [db_path.clone(), web_path.clone()]);
    let inode = fs::metadata(basedir.join(&db_path)).unwrap().ino();

    // The operator edits the rules and sends SIGHUP: the daemon reloads.
    let count = gatherer
        .gatherer
        .reload(with_rules(SECOND_RULES))
        .await
        .unwrap();
    assert_eq!(count, 2);
    assert_eq!(list(basedir, "exhausted"), [db_path.as_str()]);
    assert_eq!(list(basedir, "unknown"), [web_path.as_str()]);
    assert_eq!(list(basedir, "all"), [db_path.clone(), web_path.clone()]);
    assert!(!basedir.join("classified/database").exists());
    assert!(!basedir.join("classified/serious").exists());

    // New incidents follow the new rules.
    let later = service
        .incident("app.db", Level::BAD, "pool exhausted again")
        .await;
    assert_eq!(gatherer.stored(&id, &later).await.categories, ["exhausted"]);
    let events = gatherer.stop().await;
    assert_eq!(stored_names(&events).len(), 3, "nothing was fetched twice");
    assert_eq!(fs::metadata(basedir.join(&db_path)).unwrap().ino(), inode);

    // Restarting with other rules rebuilds the lists at start-up, and so
    // does a missing classified/ folder; neither fetches anything.
    let mut gatherer = Running::start(basedir, with_rules(FIRST_RULES));
    let event = gatherer
        .wait_for("the start-up reclassification", |event| {
            matches!(event, GatherEvent::Reclassified { .. })
        })
        .await;
    assert_eq!(event, GatherEvent::Reclassified { incidents: 3 });
    let later_path = relative(&id, &later);
    assert_eq!(
        list(basedir, "database"),
        [db_path.clone(), later_path.clone()]
    );
    assert_eq!(
        list(basedir, "serious"),
        [db_path.clone(), later_path.clone()]
    );
    assert!(stored_names(&gatherer.stop().await).is_empty());

    fs::remove_dir_all(basedir.join("classified")).unwrap();
    let mut gatherer = Running::start(basedir, with_rules(FIRST_RULES));
    gatherer
        .wait_for("the start-up classification", |event| {
            *event == GatherEvent::Reclassified { incidents: 3 }
        })
        .await;
    assert_eq!(list(basedir, "all"), [db_path, web_path, later_path]);
    assert!(stored_names(&gatherer.stop().await).is_empty());
    service.stop().await;
}

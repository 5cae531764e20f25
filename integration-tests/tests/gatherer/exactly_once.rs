//! Every incident is stored exactly once across gatherer and publisher
//! restarts.

use std::collections::BTreeSet;

use flog_core::Level;
use flog_gatherer::GatherEvent;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_are_gathered_once_across_restarts() {
    let base = tempfile::tempdir().unwrap();
    let basedir = base.path();
    let mut service = Service::start().await;
    let id = service.id();
    let mut names = Vec::new();

    // A gatherer learns of the publisher from a copy of its logport file.
    fs::create_dir_all(basedir.join(flog_gatherer::PUBLISHERS_DIR)).unwrap();
    fs::copy(
        service.logport_file(),
        basedir
            .join(flog_gatherer::PUBLISHERS_DIR)
            .join("service.url"),
    )
    .unwrap();
    names.push(service.incident("app.db", Level::WEIRD, "one").await);
    let mut gatherer = Running::start(basedir, quick_config());
    gatherer.stored(&id, &names[0]).await;
    // New incidents arrive while it runs.
    names.push(service.incident("app.db", Level::BAD, "two").await);
    gatherer.stored(&id, &names[1]).await;
    let first_run = gatherer.stop().await;

    // While no gatherer runs, an incident is recorded and the publisher
    // restarts on another port; the operator drops in the new URL.
    names.push(service.incident("app.web", Level::WEIRD, "three").await);
    service.restart().await;
    drop_url_file(basedir, "service.url", service.url());

    let mut gatherer = Running::start(basedir, quick_config());
    gatherer.stored(&id, &names[2]).await;

    // The publisher restarts under a running gatherer, again on a new port.
    service.restart().await;
    names.push(service.incident("app.web", Level::WEIRD, "four").await);
    drop_url_file(basedir, "service.url", service.url());
    gatherer.stored(&id, &names[3]).await;
    let second_run = gatherer.stop().await;
    let connections = second_run
        .iter()
        .filter(|event| matches!(event, GatherEvent::Connected { .. }))
        .count();
    assert!(
        connections >= 2,
        "reconnected after the publisher restarted"
    );

    // Each run stored only what the previous had not.
    let first: Vec<String> = stored_names(&first_run)
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    let second: Vec<String> = stored_names(&second_run)
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    assert_eq!(first, names[..2]);
    assert_eq!(second, names[2..]);

    let mut expected: BTreeSet<String> = names.iter().map(|n| format!("{n}.flog.bz2")).collect();
    expected.insert("latest".into());
    assert_eq!(stored_files(basedir, &id), expected);
    for name in &names {
        assert_identical(basedir, &service, name);
    }
    let all: Vec<String> = names.iter().map(|n| relative(&id, n)).collect();
    assert_eq!(list(basedir, "all"), all);
    assert_eq!(list(basedir, "unknown"), all);
    assert_eq!(
        fs::read_to_string(basedir.join("incidents").join(&id).join("latest")).unwrap(),
        format!("{}\n", names[3])
    );
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_storing_and_recording_loses_and_repeats_nothing() {
    let base = tempfile::tempdir().unwrap();
    let basedir = base.path();
    let mut service = Service::start().await;
    let id = service.id();
    let mut config = quick_config();
    config.publishers.push(service.url().clone());

    let first = service.incident("app", Level::WEIRD, "first").await;
    let mut gatherer = Running::start(basedir, config.clone());
    gatherer.stored(&id, &first).await;
    gatherer.stop().await;

    // What a kill -9 can leave: the next incident stored but neither listed
    // nor recorded as latest, and half of a following fetch.
    let second = service.incident("app", Level::WEIRD, "second").await;
    let folder = basedir.join("incidents").join(&id);
    fs::copy(
        service.file(&second),
        folder.join(format!("{second}.flog.bz2")),
    )
    .unwrap();
    let third = service.incident("app", Level::WEIRD, "third").await;
    let half = fs::read(service.file(&third)).unwrap();
    fs::write(
        folder.join(format!(".{third}.flog.bz2.part")),
        &half[..half.len() / 2],
    )
    .unwrap();

    let mut gatherer = Running::start(basedir, config);
    gatherer.stored(&id, &third).await;
    let events = gatherer.stop().await;
    assert_eq!(stored_names(&events), [(id.clone(), third.clone())]);
    let all: Vec<String> = [&first, &second, &third]
        .iter()
        .map(|n| relative(&id, n))
        .collect();
    assert_eq!(list(basedir, "all"), all);
    assert_identical(basedir, &service, &third);
    let mut expected: BTreeSet<String> = [&first, &second, &third]
        .iter()
        .map(|n| format!("{n}.flog.bz2"))
        .collect();
    expected.insert("latest".into());
    assert_eq!(stored_files(basedir, &id), expected);
    service.stop().await;
}

//! The gatherer's disk fills up: it keeps running and serving the
//! publishers whose incidents still fit, stores nothing corrupt, leaves no
//! temporary file behind, and stores what did not fit once space returns.

use std::sync::atomic::{AtomicUsize, Ordering};

use flog_core::Level;
use flog_gatherer::GatherEvent;

use super::SmallDisk;
use crate::gatherer::{assert_identical, list, quick_config, relative, stored_files, stored_names};
use crate::gatherer::{Running, Service};

// Long on purpose: one scenario whose steps build on the state the earlier ones left (real processes, sockets or a browser), so it reads top to bottom.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stores_nothing_bad_and_gathering_resumes_when_space_returns() {
    let Some(disk) = SmallDisk::mount("256k") else {
        eprintln!("cannot mount a tmpfs here (not root?); the disk-full test needs one");
        return;
    };
    let basedir = disk.path.clone();
    let mut big = Service::start().await;
    let mut small = Service::start().await;
    let (big_id, small_id) = (big.id(), small.id());
    // Twice the disk.
    let large = big.large_incident(16).await;
    assert!(std::fs::metadata(big.file(&large)).unwrap().len() > 512 * 1024);

    let mut config = quick_config();
    config.publishers = vec![big.url().clone(), small.url().clone()];
    let mut gatherer = Running::start(&basedir, config);
    let failures = AtomicUsize::new(0);
    let failed = gatherer
        .wait_for("three failures to store the large incident", |event| {
            matches!(event, GatherEvent::Failed { publisher_id, .. } if *publisher_id == big_id)
                && failures.fetch_add(1, Ordering::SeqCst) + 1 == 3
        })
        .await;
    let GatherEvent::Failed { error, .. } = failed else {
        unreachable!()
    };
    assert!(error.contains("No space left on device"), "{error}");

    // An incident that fits is still gathered meanwhile (after each failed
    // attempt the partial file is removed, and the space with it).
    let fits = small.incident("app", Level::WEIRD, "fits").await;
    gatherer.stored(&small_id, &fits).await;
    assert_identical(&basedir, &small, &fits);
    assert!(!basedir.join(relative(&big_id, &large)).exists());
    assert!(!basedir
        .join("incidents")
        .join(&big_id)
        .join("latest")
        .exists());
    assert_eq!(list(&basedir, "all"), [relative(&small_id, &fits)]);

    disk.resize("64m");
    gatherer.stored(&big_id, &large).await;
    let later = big.incident("app", Level::WEIRD, "later").await;
    gatherer.stored(&big_id, &later).await;
    let events = gatherer.stop().await;

    let failed_attempts = events
        .iter()
        .filter(
            |e| matches!(e, GatherEvent::Failed { publisher_id, .. } if *publisher_id == big_id),
        )
        .count();
    eprintln!("{failed_attempts} failed attempts while the disk was full");
    let mut stored = stored_names(&events);
    stored.sort();
    let mut want = vec![
        (big_id.clone(), large.clone()),
        (big_id.clone(), later.clone()),
        (small_id.clone(), fits.clone()),
    ];
    want.sort();
    assert_eq!(stored, want, "each stored once");
    for name in [&large, &later] {
        assert_identical(&basedir, &big, name);
    }
    assert_eq!(
        stored_files(&basedir, &big_id),
        [
            format!("{large}.flog.bz2"),
            format!("{later}.flog.bz2"),
            "latest".to_owned()
        ]
        .into(),
        "no temporary file left behind"
    );
    assert_eq!(
        std::fs::read_to_string(basedir.join("incidents").join(&big_id).join("latest")).unwrap(),
        format!("{later}\n")
    );
    let mut all = list(&basedir, "all");
    all.sort();
    let mut expected: Vec<String> = want.iter().map(|(id, n)| relative(id, n)).collect();
    expected.sort();
    assert_eq!(all, expected);
    big.stop().await;
    small.stop().await;
}

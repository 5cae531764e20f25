//! Log directories that cannot be written: refused by `set_logdir` with the
//! cause, or, when one turns read-only under a running service, reported once
//! while the service logs on, and used again once it is writable.
//!
//! Permission bits do not stop root, so read-only means a read-only mount
//! (a tmpfs; skipped where mounting is not allowed).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{all_readable, files_in, next_incident, watch_incidents};
use flog_core::{IncidentError, Level, Logger};
use flog_testkit::SmallDisk;

fn counting_errors() -> (Logger, Arc<AtomicUsize>) {
    let errors = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&errors);
    let logger = Logger::builder()
        .trailing(false)
        .on_error(move |_: &IncidentError| {
            seen.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    (logger, errors)
}

#[test]
fn unusable_logdirs_are_refused_by_set_logdir_naming_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let logger = Logger::new();

    let below_a_file = file.join("logs");
    let err = logger.set_logdir(&below_a_file).unwrap_err().to_string();
    assert!(
        err.contains(&below_a_file.display().to_string()) && err.contains("Not a directory"),
        "{err}"
    );
    let err = logger.set_logdir(&file).unwrap_err().to_string();
    assert!(err.contains(&file.display().to_string()), "{err}");

    if let Some(disk) = SmallDisk::mount_with("size=1m,ro") {
        // The directory exists but nothing can be written in it: refused now,
        // not at the first incident.
        let err = logger.set_logdir(&disk.path).unwrap_err().to_string();
        assert!(err.contains("Read-only file system"), "{err}");
        let err = logger
            .set_logdir(disk.path.join("logs"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("Read-only file system"), "{err}");
    } else {
        eprintln!("cannot mount a tmpfs here (not root?); skipping the read-only mount");
    }

    // Without a logdir the service logs on and declares nothing.
    assert_eq!(logger.logdir(), None);
    assert!(logger.msg(Level::WEIRD, "still logging").is_some());
    assert_eq!(logger.incident_stats().declared, 0);
}

#[test]
fn a_logdir_turned_read_only_while_running_is_reported_once_and_used_again_later() {
    let Some(disk) = SmallDisk::mount("16m") else {
        eprintln!("cannot mount a tmpfs here (not root?); this test needs one");
        return;
    };
    let (logger, errors) = counting_errors();
    let logdir = disk.path.join("logs");
    logger.set_logdir(&logdir).unwrap();
    let rx = watch_incidents(&logger);
    logger.msg(Level::WEIRD, "before");
    let (first, _, _) = next_incident(&rx);

    disk.remount("ro");
    for i in 0..1000 {
        logger
            .event(Level::OPERATIONAL)
            .format("working {i}")
            .field("i", i)
            .emit();
        if i % 200 == 0 {
            assert!(logger.msg(Level::WEIRD, "read-only").is_some());
        }
    }
    let stats = logger.incident_stats();
    assert_eq!((stats.recorded, stats.failed), (1, 5));
    assert_eq!(errors.load(Ordering::SeqCst), 1, "reported once");
    assert_eq!(files_in(&logdir), [format!("{first}.flog.bz2")]);
    all_readable(&logdir);

    disk.remount("rw");
    logger.msg(Level::WEIRD, "writable again");
    let (_, _, trigger) = next_incident(&rx);
    assert_eq!(trigger.render(), "writable again");
    assert_eq!(files_in(&logdir).len(), 2);
    all_readable(&logdir);
    // A later failure is a new run of failures, reported again.
    disk.remount("ro");
    logger.msg(Level::WEIRD, "read-only again");
    assert_eq!(errors.load(Ordering::SeqCst), 2);
    disk.remount("rw");
}

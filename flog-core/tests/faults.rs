//! Faults on the disk: a full file system (a small tmpfs), a logdir deleted
//! while the service runs.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{all_readable, files_in, log_hex_noise, next_incident, watch_incidents};
use flog_core::{flogfile::read_flogfile, Level, Logger};
use flog_testkit::SmallDisk;

#[test]
fn full_disk_is_reported_once_and_incidents_resume_when_space_returns() {
    let Some(disk) = SmallDisk::mount("128k") else {
        eprintln!("cannot mount a tmpfs here (not root?); the disk-full test needs one");
        return;
    };
    let errors = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&errors);
    let logger = Logger::builder()
        .trailing(false)
        .buffer_size(Level::OPERATIONAL, 5000)
        .on_error(move |_| {
            seen.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    let logdir = disk.path.join("logs");
    logger.set_logdir(&logdir).unwrap();
    let rx = watch_incidents(&logger);
    // Far more than 128 KiB of buffered events.
    for i in 0..3000 {
        logger
            .event(Level::OPERATIONAL)
            .format("event {i} {pad}")
            .field("i", i)
            .field("pad", format!("{i:0>120}"))
            .emit();
    }
    for _ in 0..5 {
        assert!(
            logger.msg(Level::WEIRD, "disk is full").is_some(),
            "logging goes on"
        );
    }
    let stats = logger.incident_stats();
    assert_eq!(stats.failed, 5);
    assert_eq!(
        errors.load(Ordering::SeqCst),
        1,
        "reported once, not per incident"
    );
    all_readable(&logdir);
    assert!(files_in(&logdir).is_empty(), "no partial report left");

    disk.resize("64m");
    logger.msg(Level::WEIRD, "space is back");
    let (_, path, trigger) = next_incident(&rx);
    assert_eq!(trigger.render(), "space is back");
    assert!(read_flogfile(&path).unwrap().events.len() > 3000);
    assert_eq!(errors.load(Ordering::SeqCst), 1);
    all_readable(&logdir);
}

#[test]
fn a_logdir_deleted_while_running_is_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let logdir = dir.path().join("logs");
    let logger = Logger::builder().trailing(false).build().unwrap();
    logger.set_logdir(&logdir).unwrap();
    let rx = watch_incidents(&logger);
    std::fs::remove_dir_all(&logdir).unwrap();
    logger.msg(Level::WEIRD, "where did it go");
    let (_, path, _) = next_incident(&rx);
    assert!(path.starts_with(&logdir) && path.exists());
}

#[test]
fn a_report_that_could_not_be_compressed_is_finished_when_space_returns() {
    let Some(disk) = SmallDisk::mount("700k") else {
        eprintln!("cannot mount a tmpfs here (not root?); the disk-full test needs one");
        return;
    };
    let logger = Logger::builder()
        .trailing(false)
        .buffer_size(Level::OPERATIONAL, 5000)
        .on_error(|_| {})
        .build()
        .unwrap();
    let logdir = disk.path.join("logs");
    logger.set_logdir(&logdir).unwrap();
    let rx = watch_incidents(&logger);
    // Hex noise: the dump fits, but the dump and its compressed copy do not.
    log_hex_noise(&logger, "app", 3000, 120);
    logger.msg(Level::WEIRD, "first");
    logger.finish_incidents();
    let names = files_in(&logdir);
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].ends_with(".flog"), "kept uncompressed: {names:?}");
    all_readable(&logdir);
    assert_eq!(logger.incident_stats().failed, 1);

    disk.resize("64m");
    logger.msg(Level::WEIRD, "second");
    let mut triggers: Vec<String> = (0..2)
        .map(|_| next_incident(&rx).2.render().into_owned())
        .collect();
    triggers.sort();
    assert_eq!(triggers, ["first", "second"]);
    assert!(files_in(&logdir).iter().all(|n| n.ends_with(".flog.bz2")));
    assert_eq!(logger.incident_stats().recorded, 2);
}

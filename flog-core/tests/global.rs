//! The process-wide logger, installed once (its own test binary: the
//! global is the process's).

use std::sync::mpsc;
use std::time::Duration;

use flog_core::{msg, set_global, weird, ConfigError, Logger, SetGlobalError};

#[test]
fn install_once_then_log_without_naming_a_logger() {
    let home = tempfile::tempdir().unwrap();
    // `~` is the home directory, as in foolscap's setLogDir. This binary has
    // no other test, so changing the environment races with nothing.
    std::env::set_var("HOME", home.path());
    let (tx, rx) = mpsc::channel();
    let installed = Logger::builder()
        .logdir("~/state/flog")
        .trailing(false)
        .incident_observer(move |incident| {
            let _ = tx.send(incident.path.clone());
        })
        .install()
        .unwrap();
    assert_eq!(installed.logdir(), Some(home.path().join("state/flog")));
    assert!(std::ptr::eq(installed.logger(), flog_core::logger()));

    msg!(OPERATIONAL, facility = "app", "starting");
    weird!(facility = "app.db", "pool exhausted");
    let path = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(path.starts_with(home.path().join("state/flog")));
    let report = flog_core::flogfile::read_flogfile(&path).unwrap();
    assert_eq!(report.events.len(), 2);

    let again = Logger::builder().install().unwrap_err();
    assert!(matches!(
        again,
        ConfigError::Install(SetGlobalError::AlreadyInstalled)
    ));
    assert_eq!(
        set_global(Logger::new()).unwrap_err(),
        SetGlobalError::AlreadyInstalled
    );
    let home_unset = Logger::new();
    std::env::remove_var("HOME");
    assert!(home_unset.set_logdir("~/x").is_err(), "no HOME, no ~");

    // The logdir is the global logger's until its guard drops, as a logger's
    // is until its last clone drops; then another can take it at once.
    let logdir = home.path().join("state/flog");
    let taken = Logger::builder().logdir(&logdir).build().unwrap_err();
    assert!(matches!(taken, ConfigError::Logdir(_)), "{taken:?}");
    drop(installed);
    assert_eq!(flog_core::logger().logdir(), None);
    let next = Logger::builder().logdir(&logdir).build().unwrap();
    assert_eq!(next.logdir(), Some(logdir));
}

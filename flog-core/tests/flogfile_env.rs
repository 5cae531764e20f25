//! `FLOGFILE` and `FLOGLEVEL` (its own test binary: it sets the
//! environment and installs the process-wide logger).

use flog_core::{flogfile::read_flogfile, noisy, unusual, weird, Level, Logger};

#[test]
fn flogfile_saves_events_at_or_above_floglevel_from_install_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("all.flog");
    // The only test in this binary: nothing races with the environment.
    std::env::set_var("FLOGFILE", &path);
    std::env::set_var("FLOGLEVEL", "unusual");
    let _flog = Logger::builder().install().unwrap();
    noisy!(facility = "app", "below FLOGLEVEL");
    unusual!(facility = "app", "kept {n}", n = 1);
    weird!(facility = "app.db", "kept too");
    let saved = read_flogfile(&path).unwrap();
    assert!(saved.damage.is_none(), "{:?}", saved.damage);
    let texts: Vec<_> = saved
        .events
        .iter()
        .map(|e| e.render().into_owned())
        .collect();
    assert_eq!(texts, ["kept 1", "kept too"]);
    assert_eq!(saved.events[1].level, Level::WEIRD);

    let unwritable = dir.path().join("no-such-dir").join("x.flog");
    let err = Logger::builder()
        .flogfile(&unwritable, Level::NOISY)
        .build()
        .unwrap_err();
    assert!(
        matches!(err, flog_core::ConfigError::Flogfile { ref path, .. } if *path == unwritable),
        "{err:?}"
    );
}

//! `FLOGFILE` and `FLOGLEVEL`, the switches foolscap users know: save every
//! event (at or above `FLOGLEVEL`) to a flogfile from start-up, for
//! debugging a service without touching its code.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::event::Event;
use crate::flogfile::FlogWriter;
use crate::home::expand_home;
use crate::level::Level;

/// The environment variable naming the file.
pub(super) const FLOGFILE: &str = "FLOGFILE";
/// The environment variable with the file's threshold (a level name or number).
pub(super) const FLOGLEVEL: &str = "FLOGLEVEL";

/// What `FLOGFILE` and `FLOGLEVEL` ask for, if `FLOGFILE` is set.
pub(super) fn from_env() -> Option<(PathBuf, Level)> {
    let path = std::env::var_os(FLOGFILE).filter(|p| !p.is_empty())?;
    // foolscap's default: every event.
    let level = std::env::var(FLOGLEVEL)
        .ok()
        .and_then(|l| Level::parse(&l))
        .unwrap_or(Level(0));
    Some((PathBuf::from(path), level))
}

/// An event observer that appends each event at or above `min` to a new
/// flogfile at `path` (`~` is the home directory).
///
/// Unlike incident reports, this file is a stream, written as events come
/// and flushed after each (the process-wide logger is never dropped, so
/// there is no later moment to flush), not written whole and renamed into
/// place: a crash leaves it readable up to the last event, and flog's
/// readers report a cut last record as damage after the events before it.
pub(super) fn writer(
    path: &Path,
    min: Level,
) -> io::Result<impl Fn(&Event) + Send + Sync + 'static> {
    let path = expand_home(path)?;
    let file = File::create(&path)?;
    let out = Mutex::new(FlogWriter::without_header(BufWriter::new(file))?);
    Ok(move |event: &Event| {
        if event.level >= min {
            let mut out = out.lock().unwrap_or_else(PoisonError::into_inner);
            // A full disk must not stop logging; the file just ends early.
            let _ = out.write_event(event).and_then(|()| out.flush());
        }
    })
}

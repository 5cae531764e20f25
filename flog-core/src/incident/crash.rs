//! After a death: the crash ring a dead process left in its logdir becomes
//! an ordinary incident report of kind `crash`, and the ring file is retired.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::error::{CrashError, LogdirError};
use crate::buffer::ring_events;
use crate::flogfile::{
    incident_name, read_ring_file, EndReason, FlogWriter, Header, HeaderKind, RingError, RingMeta,
    RingState, RingWarning, Trailer, FINISHED_SUFFIX, RECORDING_SUFFIX, RING_FILE,
    UNREADABLE_RING_FILE,
};
use crate::fs::{sync_parent, write_bzip2_atomically, DirLock};
use crate::time::Timestamp;

/// A crash report written from a dead process's ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rescued {
    /// The report, `NAME.flog.bz2` in the logdir.
    pub report: PathBuf,
    /// The events it holds.
    pub events: usize,
    /// Events numbered up to this were left out: the process had recorded
    /// them in an incident report of its own.
    pub excluded_through: Option<u64>,
    /// Damage found in the ring; the report holds the rest.
    pub warnings: Vec<RingWarning>,
}

/// Why [`rescue_crash`] could not do its work.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RescueError {
    /// The logdir cannot be used, or its owner is alive (it holds the lock).
    #[error(transparent)]
    Logdir(#[from] LogdirError),
    /// The ring could not be turned into a report.
    #[error("crash ring {}: {source}", path.display())]
    Crash {
        /// The ring file.
        path: PathBuf,
        /// What went wrong.
        source: CrashError,
    },
}

/// Writes the crash report of the process that last owned `logdir`, by hand
/// (`flogtool rescue`): for a service that will not be started again, whose
/// next start would otherwise do it. Refused while the owner is alive (it
/// holds the logdir's lock). `Ok(None)` when there is nothing to report: no
/// ring, or one its owner closed.
pub fn rescue_crash(logdir: &Path) -> Result<Option<Rescued>, RescueError> {
    let lock = DirLock::try_acquire(logdir).map_err(|source| LogdirError::Unusable {
        path: logdir.to_owned(),
        source,
    })?;
    let Some(_lock) = lock else {
        return Err(LogdirError::InUse {
            path: logdir.to_owned(),
            owner: crate::flogfile::LogdirOwner::read(logdir).ok().flatten(),
        }
        .into());
    };
    rescue(logdir, Timestamp::now()).map_err(|source| RescueError::Crash {
        path: logdir.join(RING_FILE),
        source,
    })
}

/// Turns the ring file of `dir` into a crash report if its writer did not
/// close it, then retires it. On a write error the ring is kept for the
/// next try; an unreadable one is renamed aside.
///
/// Only for a directory whose writers are gone: the caller holds its lock.
pub(crate) fn rescue(dir: &Path, now: Timestamp) -> Result<Option<Rescued>, CrashError> {
    let path = dir.join(RING_FILE);
    let contents = match read_ring_file(&path) {
        Ok(contents) => contents,
        Err(RingError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            return Ok(None)
        }
        Err(source) => {
            let _ = fs::rename(&path, dir.join(UNREADABLE_RING_FILE));
            return Err(CrashError::Unreadable { source });
        }
    };
    if contents.state == RingState::Closed {
        retire(&path)?;
        return Ok(None);
    }
    let excluded_through = contents.recorded_through;
    let ring = ring_events(&contents, excluded_through);
    let meta = RingMeta::of(&contents);
    let mut warnings = contents.warnings;
    warnings.extend(ring.warnings);
    // Named for when it died, as near as the ring tells: after every
    // incident it recorded itself.
    let died = ring.events.last().map(|e| e.time).max(meta.started);
    let name = free_name(dir, died.unwrap_or(now));
    let header = Header {
        kind: Some(HeaderKind::Crash),
        name: Some(name.clone()),
        pid: meta.pid,
        versions: meta.versions,
        incarnation: meta.incarnation,
        host: meta.host,
        started: meta.started,
        ..Header::default()
    };
    let trailer = Trailer {
        end: Some(EndReason::Killed),
        events: Some(ring.events.len() as u64),
        excluded_through,
        truncated: !warnings.is_empty(),
        finished: Some(now),
        ..Trailer::default()
    };
    let report = dir.join(format!("{name}{FINISHED_SUFFIX}"));
    write_bzip2_atomically(&report, bzip2::Compression::default(), |enc| {
        let mut w = FlogWriter::new(enc, &header)?;
        for event in &ring.events {
            w.write_event(event)?;
        }
        w.write_trailer(&trailer)?;
        w.into_inner()?;
        Ok(())
    })
    .map_err(|source| CrashError::Write {
        report: report.clone(),
        source,
    })?;
    retire(&path)?;
    Ok(Some(Rescued {
        report,
        events: ring.events.len(),
        excluded_through,
        warnings,
    }))
}

/// Removes a ring file that has served, durably.
fn retire(path: &Path) -> Result<(), CrashError> {
    fs::remove_file(path)
        .and_then(|()| sync_parent(path))
        .map_err(|source| CrashError::Replace { source })
}

/// An incident name for `time` that no file in `dir` has.
fn free_name(dir: &Path, time: Timestamp) -> String {
    (0..)
        .map(|seq| incident_name(time, seq))
        .find(|name| {
            [FINISHED_SUFFIX, RECORDING_SUFFIX]
                .iter()
                .all(|suffix| !dir.join(format!("{name}{suffix}")).exists())
        })
        .unwrap_or_else(|| incident_name(time, u32::MAX))
}

//! The log directory a logger owns: locked, with orphans recovered.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::crash;
use super::error::{CrashError, IncidentError, LogdirError};
use super::recovery;
use crate::flogfile::{LogdirOwner, RING_FILE};
use crate::fs::DirLock;
use crate::mapped::{RingFile, RingSpec};
use crate::time::Clock;

/// A log directory held by one logger for as long as this value lives.
pub(crate) struct Logdir {
    path: PathBuf,
    owner: LogdirOwner,
    /// What the previous owner left in its record: without `released`, it
    /// died (or exited without dropping its logger). Shown in `Debug`; a
    /// dead owner's crash ring is told by the ring's own state, not by this.
    previous: Option<LogdirOwner>,
    /// The crash ring this logger writes here, if it asked for one.
    ring: Option<Arc<RingFile>>,
    clock: Arc<dyn Clock>,
    // Dropped last (fields drop in order): the record says "released" first.
    _lock: DirLock,
}

impl std::fmt::Debug for Logdir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logdir")
            .field("path", &self.path)
            .field("previous", &self.previous)
            .finish_non_exhaustive()
    }
}

impl Logdir {
    /// Takes `path` for a logger: creates it, checks it can be written, locks
    /// it (refused if another logger holds it), records `owner`, and only
    /// then, its previous writers being gone, recovers what they left: their
    /// unfinished reports, and the crash ring of one that died. Then starts
    /// a new crash ring when `ring` asks for one. Returns problems with
    /// single files, which do not stop the others.
    pub(crate) fn open(
        path: &Path,
        owner: LogdirOwner,
        clock: Arc<dyn Clock>,
        ring: Option<&RingSpec>,
    ) -> Result<(Logdir, Vec<IncidentError>), LogdirError> {
        let err = |source| LogdirError::Unusable {
            path: path.to_owned(),
            source,
        };
        fs::create_dir_all(path).map_err(err)?;
        // A directory we cannot write to (a read-only mount; permissions, for
        // a user other than root) must fail here, where the caller can say so,
        // not at the first incident.
        probe_writable(path).map_err(err)?;
        let Some(lock) = DirLock::try_acquire(path).map_err(err)? else {
            return Err(LogdirError::InUse {
                path: path.to_owned(),
                owner: LogdirOwner::read(path).ok().flatten(),
            });
        };
        let previous = LogdirOwner::read(path).map_err(err)?;
        owner.write(path).map_err(err)?;
        let mut problems = recovery::recover_orphans(path).map_err(err)?;
        let ring_path = path.join(RING_FILE);
        let crash_problem = |source| IncidentError::Crash {
            path: ring_path.clone(),
            source,
        };
        // A ring whose report could not be written is kept for the next
        // start: no new one replaces it.
        let mut keep_old = false;
        match crash::rescue(path, clock.now()) {
            Ok(Some(rescued)) if !rescued.warnings.is_empty() => {
                problems.push(crash_problem(CrashError::Damaged {
                    warnings: rescued.warnings,
                }));
            }
            Ok(_) => {}
            Err(source) => {
                keep_old = matches!(source, CrashError::Write { .. });
                problems.push(crash_problem(source));
            }
        }
        let ring = match ring.filter(|_| !keep_old) {
            Some(spec) => match RingFile::create(&ring_path, spec) {
                Ok(ring) => Some(Arc::new(ring)),
                Err(source) => {
                    problems.push(crash_problem(CrashError::Replace { source }));
                    None
                }
            },
            None => None,
        };
        let logdir = Logdir {
            path: path.to_owned(),
            owner,
            previous,
            ring,
            clock,
            _lock: lock,
        };
        Ok((logdir, problems))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The crash ring this logger writes here.
    pub(crate) fn ring(&self) -> Option<&Arc<RingFile>> {
        self.ring.as_ref()
    }
}

impl Drop for Logdir {
    fn drop(&mut self) {
        // Closed first: from here on a death is no crash. (A logger that
        // moved to another logdir may still write into the ring: harmless,
        // and a new owner here replaces the file rather than write into it.)
        if let Some(ring) = &self.ring {
            ring.mark_closed();
        }
        // For the next owner: this one let go in an orderly way. Best effort:
        // the lock, not the record, is what counts.
        let released = LogdirOwner {
            released: Some(self.clock.now()),
            ..self.owner.clone()
        };
        let _ = released.write(&self.path);
    }
}

/// The names of the files in `dir`, for the incident names to continue after.
pub(crate) fn file_names(dir: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        if let Some(name) = entry?.file_name().to_str() {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

/// Creates and removes a file in `dir`. The temporary name is one that
/// recovery removes, should the process die in between.
fn probe_writable(dir: &Path) -> io::Result<()> {
    let probe = crate::fs::temp_path_for(&dir.join("probe"));
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)?;
    fs::remove_file(&probe)
}

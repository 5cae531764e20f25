//! The log directory a logger owns: locked, with orphans recovered.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{IncidentError, LogdirError};
use super::recovery;
use crate::flogfile::LogdirOwner;
use crate::fs::DirLock;
use crate::time::Clock;

/// A log directory held by one logger for as long as this value lives.
pub(crate) struct Logdir {
    path: PathBuf,
    owner: LogdirOwner,
    /// What the previous owner left in its record: without `released`, it
    /// died (or exited without dropping its logger). Kept for the rescue of
    /// a dead owner's buffers (issue 17); shown in `Debug` meanwhile.
    previous: Option<LogdirOwner>,
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
    /// then, its previous writers being gone, recovers what they left. Returns
    /// problems with single orphaned files, which do not stop the others.
    pub(crate) fn open(
        path: &Path,
        owner: LogdirOwner,
        clock: Arc<dyn Clock>,
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
        let problems = recovery::recover_orphans(path).map_err(err)?;
        let logdir = Logdir {
            path: path.to_owned(),
            owner,
            previous,
            clock,
            _lock: lock,
        };
        Ok((logdir, problems))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Logdir {
    fn drop(&mut self) {
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

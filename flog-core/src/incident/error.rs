//! What can go wrong with incidents and log directories.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use super::owner::LogdirOwner;

/// Recording an incident failed.
#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    /// Writing the uncompressed report failed.
    #[error("cannot write incident {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Compressing or renaming the finished report failed; the `.flog` is kept and
    /// is finished by the next start.
    #[error("cannot finish incident {}: {source}", path.display())]
    Finish {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// An orphaned report could not be recovered.
    #[error("cannot recover incident {}: {detail}", path.display())]
    Recover {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// An incident observer panicked; it was removed.
    #[error("an incident observer panicked and was removed: {panic}")]
    ObserverPanicked {
        /// The panic message.
        panic: String,
    },
    /// Old incidents could not be deleted.
    #[error("cannot apply retention in {}: {source}", dir.display())]
    Retention {
        /// The logdir.
        dir: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// What a logger calls when recording an incident fails.
pub(crate) type ErrorHook = Arc<dyn Fn(&IncidentError) + Send + Sync>;

/// The log directory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LogdirError {
    /// The directory cannot be created, written or locked.
    #[error("cannot use log directory {}: {source}", path.display())]
    Unusable {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Another logger owns the directory: another process (an earlier run of
    /// the service still finishing, or a second copy), or another [`Logger`]
    /// in this one. Two loggers on one directory would finish each other's
    /// reports.
    ///
    /// [`Logger`]: crate::Logger
    #[error(
        "cannot use log directory {}: it is in use by another logger{}",
        path.display(),
        owner.as_ref().map(|o| format!(" ({o})")).unwrap_or_default()
    )]
    InUse {
        /// The directory.
        path: PathBuf,
        /// What the owner wrote about itself, when it could be read. Only a
        /// hint: the lock, not this record, decides who owns the directory.
        owner: Option<LogdirOwner>,
    },
}

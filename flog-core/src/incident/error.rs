//! What can go wrong with incidents and log directories.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use crate::flogfile::{LogdirOwner, ReadError, RingError, RingWarning};

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
    #[error("cannot recover incident {}: {source}", path.display())]
    Recover {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: RecoverError,
    },
    /// An incident observer panicked; it was removed.
    #[error("an incident observer panicked and was removed: {panic}")]
    ObserverPanicked {
        /// The panic message.
        panic: String,
    },
    /// A dead process's crash ring could not be turned into a crash report,
    /// or could be only in part.
    #[error("crash ring {}: {source}", path.display())]
    Crash {
        /// The ring file.
        path: PathBuf,
        /// What went wrong.
        source: CrashError,
    },
    /// The crash ring could not be flushed to disk (periodic flushing,
    /// [`LoggerBuilder::crash_ring_flush`](crate::LoggerBuilder::crash_ring_flush)):
    /// reported for the first failed flush of each run of failures. The
    /// ring still outlives the process; what survives a power loss may be
    /// older than one period.
    #[error("cannot flush the crash ring {} to disk: {source}", path.display())]
    RingFlush {
        /// The ring file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
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

/// Why an orphaned report (a `.flog` a dead process left) could not be
/// recovered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecoverError {
    /// The file is not a flogfile that can be read; it is renamed to
    /// `NAME.flog.unreadable` for a person to look at.
    #[error("it cannot be read: {source}")]
    Unreadable {
        /// The cause.
        source: ReadError,
    },
    /// The finished `.flog.bz2` could not be written.
    #[error("cannot write the finished report: {source}")]
    Write {
        /// The cause.
        source: io::Error,
    },
    /// The recording (or an empty one) could not be removed.
    #[error("cannot remove the recording: {source}")]
    Remove {
        /// The cause.
        source: io::Error,
    },
}

/// What went wrong with a crash ring (see [`IncidentError::Crash`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CrashError {
    /// The ring file cannot be read at all; it is renamed to
    /// [`UNREADABLE_RING_FILE`](crate::flogfile::UNREADABLE_RING_FILE).
    #[error("it cannot be read, and was renamed aside: {source}")]
    Unreadable {
        /// The cause.
        source: RingError,
    },
    /// Parts of the ring were damaged: the crash report holds the rest.
    #[error("damaged; the crash report holds what was valid: {}", list(warnings))]
    Damaged {
        /// What was wrong.
        warnings: Vec<RingWarning>,
    },
    /// The crash report could not be written (the ring file is kept, for
    /// the next start to try again).
    #[error("cannot write the crash report {}: {source}", report.display())]
    Write {
        /// The report.
        report: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The old ring file could not be removed, or the new one created.
    #[error("cannot replace the ring file: {source}")]
    Replace {
        /// The cause.
        source: io::Error,
    },
}

fn list(warnings: &[RingWarning]) -> String {
    let shown: Vec<String> = warnings.iter().take(8).map(|w| w.to_string()).collect();
    let more = warnings.len().saturating_sub(shown.len());
    let mut text = shown.join("; ");
    if more > 0 {
        text.push_str(&format!("; and {more} more"));
    }
    text
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

//! The process-wide logger: what [`msg!`](crate::msg) logs to when no
//! logger is named.

use std::sync::OnceLock;

use super::builder::{ConfigError, LoggerBuilder};
use super::Logger;

/// How the process-wide logger came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Installed,
    Default,
}

static GLOBAL: OnceLock<(Logger, Origin)> = OnceLock::new();

/// The process-wide logger used by [`msg!`](crate::msg) when no logger is
/// named: the one [installed](LoggerBuilder::install) (or given to
/// [`set_global`]), else, from the first use on, one with default settings.
#[inline]
pub fn logger() -> &'static Logger {
    &GLOBAL.get_or_init(|| (default_logger(), Origin::Default)).0
}

/// The default process-wide logger, with `FLOGFILE`/`FLOGLEVEL` applied.
#[cold]
fn default_logger() -> Logger {
    LoggerBuilder::new()
        .flogfile_from_env()
        .build()
        .unwrap_or_else(|e| {
            // Nobody to return the error to: say so, and log without the file.
            eprintln!("flog: {e}; logging without it");
            Logger::new()
        })
}

/// The process-wide logger was already in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SetGlobalError {
    /// A logger was installed before.
    #[error("a process-wide flog logger is already installed")]
    AlreadyInstalled,
    /// Something logged through [`logger()`] before any was installed, so it
    /// is fixed to the default settings. Install first thing in `main`.
    #[error(
        "the process-wide flog logger is already in use with default settings \
         (something logged before it was installed): install it first thing in main"
    )]
    DefaultInUse,
}

/// Makes `logger` the process-wide logger, once, like `log::set_logger` or
/// `tracing::subscriber::set_global_default`: fails if one is in place
/// already. Returns the installed logger's [`LoggerGuard`]: keep it until
/// `main` returns.
pub fn set_global(logger: Logger) -> Result<LoggerGuard, SetGlobalError> {
    let mut offered = Some(logger);
    let (global, origin) = GLOBAL.get_or_init(|| {
        let logger = offered.take().expect("taken only here");
        (logger, Origin::Installed)
    });
    match (offered, origin) {
        (None, _) => Ok(LoggerGuard { logger: global }),
        (Some(_), Origin::Installed) => Err(SetGlobalError::AlreadyInstalled),
        (Some(_), Origin::Default) => Err(SetGlobalError::DefaultInUse),
    }
}

/// The process-wide logger, installed; dropping this guard shuts it down
/// ([`Logger::shutdown`]): incidents in progress are finished, the crash
/// ring is marked cleanly closed and the log directory released. A static
/// is never dropped, so without the guard every exit of a service would
/// read as a crash on its next start.
///
/// Keep it in `main` until `main` returns (`let _guard = ...`, not
/// `let _ = ...`, which drops it at once), as with tracing-appender's
/// `WorkerGuard`. [`std::process::exit`] runs no destructors: an exit that
/// way is reported as a crash, like a kill. The guard derefs to the
/// [`Logger`]; [`logger()`] gives the same `&'static Logger` anywhere.
#[must_use = "dropping the guard shuts the process-wide logger down at once: keep it until main returns"]
#[derive(Debug)]
pub struct LoggerGuard {
    logger: &'static Logger,
}

impl LoggerGuard {
    /// The installed logger, for as long as the process lives.
    pub fn logger(&self) -> &'static Logger {
        self.logger
    }
}

impl std::ops::Deref for LoggerGuard {
    type Target = Logger;

    fn deref(&self) -> &Logger {
        self.logger
    }
}

impl Drop for LoggerGuard {
    fn drop(&mut self) {
        self.logger.shutdown();
    }
}

impl LoggerBuilder {
    /// Builds the logger and makes it the process-wide one (see
    /// [`set_global`]), so that `msg!` and the level macros need no
    /// `logger = ...`. Keep the [`LoggerGuard`] it returns until `main`
    /// returns: its drop closes the crash ring cleanly. The environment variables `FLOGFILE` (a file to save
    /// every event to from start-up) and `FLOGLEVEL` (its threshold, a level
    /// name or number; default every event) apply here, as
    /// [`flogfile`](Self::flogfile), and to the default logger
    /// [`logger()`] makes when none was installed:
    ///
    /// ```no_run
    /// use flog_core::{weird, Level, Logger};
    ///
    /// let _flog = Logger::builder()
    ///     .logdir("~/.local/state/myservice/flog")
    ///     .trailing_delay(std::time::Duration::from_secs(2))
    ///     .install()?;
    /// weird!(facility = "app.db", "pool exhausted");
    /// // `_flog` drops as main returns: a clean close, no crash report.
    /// # Ok::<(), flog_core::ConfigError>(())
    /// ```
    pub fn install(self) -> Result<LoggerGuard, ConfigError> {
        if let Some((_, origin)) = GLOBAL.get() {
            // Before building: a logdir given to this builder is not taken
            // from the logger in place.
            return Err(match origin {
                Origin::Installed => SetGlobalError::AlreadyInstalled,
                Origin::Default => SetGlobalError::DefaultInUse,
            }
            .into());
        }
        Ok(set_global(self.flogfile_from_env().build()?)?)
    }
}

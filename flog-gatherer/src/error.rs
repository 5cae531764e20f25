//! The crate's error types.

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::units::line_column;

/// Why a config or rules file could not be used.
///
/// Every message names the file, and the line and column of the offending
/// value when it has one: `gatherer.toml:12:17: invalid regular expression ...`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file is not valid TOML, or a value in it is wrong.
    #[error("{}: {message}", Location { path, line: *line, column: *column })]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The 1-based line of the offending value, when known.
        line: Option<usize>,
        /// The 1-based column (in characters) of the offending value, when known.
        column: Option<usize>,
        /// What is wrong.
        message: String,
    },
}

impl ConfigError {
    /// The line the error points at, if any.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Invalid { line, .. } => *line,
            ConfigError::Read { .. } => None,
        }
    }
}

struct Location<'a> {
    path: &'a Path,
    line: Option<usize>,
    column: Option<usize>,
}

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        Ok(())
    }
}

/// A TOML file's text and name, to turn byte spans into error positions.
#[derive(Debug)]
pub(crate) struct Source<'a> {
    pub(crate) path: &'a Path,
    pub(crate) text: &'a str,
}

impl Source<'_> {
    /// An error about the value at `span`.
    pub(crate) fn error_at(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        let (line, column) = line_column(self.text, span.start);
        ConfigError::Invalid {
            path: self.path.to_owned(),
            line: Some(line),
            column: Some(column),
            message: message.into(),
        }
    }

    /// Parses the whole file, reporting TOML and shape errors at their span.
    pub(crate) fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, ConfigError> {
        toml::from_str(self.text).map_err(|error| {
            let message = error.message().trim().to_string();
            match error.span() {
                Some(span) => self.error_at(span, message),
                None => ConfigError::Invalid {
                    path: self.path.to_owned(),
                    line: None,
                    column: None,
                    message,
                },
            }
        })
    }
}

/// Why the gatherer could not start, or an operation on its base directory
/// failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatherError {
    /// The configuration is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A file or directory in the base directory could not be used.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. `create directory`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Another gatherer already runs in this base directory (it holds a
    /// lock on the directory).
    #[error("another gatherer is running in {}{}", basedir.display(), Holder(*holder))]
    Locked {
        /// The base directory.
        basedir: PathBuf,
        /// The holder's pid, as its `lock` file says, if it does.
        holder: Option<u32>,
    },
    /// A task of the gatherer panicked (a bug): what it was doing failed,
    /// the gatherer itself goes on.
    #[error(transparent)]
    Panicked(#[from] crate::contain::Panicked),
    /// [`Gatherer::run`](crate::Gatherer::run) was called while it runs.
    #[error("this gatherer is already running")]
    AlreadyRunning,
    /// `create` refuses to overwrite an existing configuration.
    #[error("{} already exists; remove it or pick another base directory", path.display())]
    AlreadyExists {
        /// The existing config file.
        path: PathBuf,
    },
}

/// ` (pid N)` when the holder of a lock is known.
struct Holder(Option<u32>);

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(pid) => write!(f, " (pid {pid})"),
            None => Ok(()),
        }
    }
}

impl GatherError {
    pub(crate) fn io<'a>(
        action: &'static str,
        path: &'a Path,
    ) -> impl FnOnce(io::Error) -> Self + 'a {
        move |source| GatherError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }
}

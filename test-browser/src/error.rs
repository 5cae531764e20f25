//! What can go wrong with the browser (a leaf: the driver and the session
//! both report with it).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

/// Why the browser could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// The browser or its driver is not installed (a failure only under CI).
    #[error(
        "{what} not found (looked for {looked_for}); install Debian's chromium and chromium-driver"
    )]
    Missing {
        /// `browser` or `driver`.
        what: &'static str,
        /// The names tried.
        looked_for: String,
    },
    /// A program could not be started.
    #[error("cannot start {}: {source}", program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The driver never said which port it listens on.
    #[error("{} did not report its port in time", program.display())]
    DriverSilent {
        /// The program.
        program: PathBuf,
    },
    /// No session could be made.
    #[error("cannot open a browser session: {0}")]
    Session(#[from] fantoccini::error::NewSessionError),
    /// A WebDriver command failed.
    #[error("browser command failed: {0}")]
    Command(#[from] fantoccini::error::CmdError),
    /// A condition did not come true in time.
    #[error("timed out after {waited:?} waiting for {what}; last value: {last}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        waited: Duration,
        /// What the condition gave last.
        last: Value,
    },
    /// Writing an artifact failed.
    #[error("cannot write {}: {source}", path.display())]
    Artifact {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

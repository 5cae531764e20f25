//! Where the viewer's files come from: a small trait the caller implements, so
//! the viewer needs to know neither how a file is read (flogtool also reads
//! foolscap's files) nor where it lives (a gatherer's store).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use flog_core::flogfile::FlogContents;

/// The error of a [`FlogSource`]: the caller's own, shown to the user as text.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One flogfile the viewer shows.
///
/// The viewer calls [`stamp`](FlogSource::stamp) on every request for the file
/// and [`load`](FlogSource::load) again when the stamp changed, which is how a
/// file that grew (an incident still recording) is picked up on reload.
pub trait FlogSource: Send + Sync + fmt::Debug {
    /// The name shown for the file (its path, an incident name).
    fn label(&self) -> String;

    /// A token that changes whenever the contents may have changed; `None` when
    /// it cannot be told (the file is then read again on every request).
    fn stamp(&self) -> Option<Stamp>;

    /// Reads the whole file. A damaged file that still yields events returns
    /// them with `damage` set; an error means nothing could be read.
    fn load(&self) -> Result<FlogContents, BoxError>;
}

/// What a file looked like when it was read: its length and modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    /// The stamp of contents that are not a local file (an object in a
    /// bucket: its size and last modification as listed).
    pub fn new(len: u64, modified: Option<SystemTime>) -> Stamp {
        Stamp { len, modified }
    }

    /// The stamp of the file at `path` now.
    pub fn of_file(path: &Path) -> io::Result<Stamp> {
        let meta = std::fs::metadata(path)?;
        Ok(Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

/// How a [`PathSource`] reads its file.
pub type Loader = fn(&Path) -> Result<FlogContents, BoxError>;

/// A flogfile on disk, read by a [`Loader`] (by default flog-core's reader).
#[derive(Debug, Clone)]
pub struct PathSource {
    path: PathBuf,
    loader: Loader,
}

impl PathSource {
    /// A flog flogfile (plain or bzip2), read with [`flog_core::flogfile::read_flogfile`].
    pub fn new(path: impl Into<PathBuf>) -> PathSource {
        PathSource::with_loader(path, |path| Ok(flog_core::flogfile::read_flogfile(path)?))
    }

    /// A file read by `loader` (flogtool's reads foolscap files too).
    pub fn with_loader(path: impl Into<PathBuf>, loader: Loader) -> PathSource {
        PathSource {
            path: path.into(),
            loader,
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl FlogSource for PathSource {
    fn label(&self) -> String {
        self.path.display().to_string()
    }

    fn stamp(&self) -> Option<Stamp> {
        Stamp::of_file(&self.path).ok()
    }

    fn load(&self) -> Result<FlogContents, BoxError> {
        (self.loader)(&self.path)
    }
}

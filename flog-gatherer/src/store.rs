//! Where fetched incidents live: `BASEDIR/incidents/<publisher-id>/`, one
//! `<name>.flog.bz2` per incident and a `latest` file naming the last one
//! handled.
//!
//! Exactly-once rests on three facts. Publishers name incidents so that each
//! new name sorts after every older one; the gatherer fetches in name order
//! and lists only names after the latest it holds; and a stored file appears
//! whole (fsynced under a temporary name, then linked into place, never over
//! an existing file) before `latest` moves past it. So after any crash the
//! latest handled name is the greater of the `latest` file and the greatest
//! stored name, and fetching resumes right after it.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use flog_core::flogfile::FINISHED_SUFFIX;
use flog_wire::{is_valid_incident_name, is_valid_publisher_id};
use sha2::{Digest, Sha256};

/// The folder of stored incidents, in the base directory.
pub const INCIDENTS_DIR: &str = "incidents";
/// The file in a publisher's folder naming the latest incident handled.
pub const LATEST_FILE: &str = "latest";
/// Ends the name of an incident being fetched:
/// `.<name>.flog.bz2.<pid>-<n>.part`.
const PARTIAL_SUFFIX: &str = ".part";

/// The temporary file of one fetch. Its name is its own (the process id and
/// a count), so no other fetch, in this process or another, writes to it or
/// resumes from it.
#[derive(Debug)]
pub(crate) struct Partial {
    name: String,
    path: PathBuf,
}

impl Partial {
    /// The incident being fetched.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The temporary file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The SHA-256 and size of the file's bytes as they are on disk.
    pub(crate) fn digest(&self) -> io::Result<([u8; 32], u64)> {
        let mut file = fs::File::open(&self.path)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0; 64 * 1024];
        let mut size = 0;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                return Ok((hasher.finalize().into(), size));
            }
            hasher.update(&buf[..n]);
            size += n as u64;
        }
    }
}

/// Why a publisher's folder cannot be used, as the cause of an
/// [`io::Error`] (of kind `InvalidInput` or `InvalidData`).
#[derive(Debug, thiserror::Error)]
pub(crate) enum FolderProblem {
    #[error("invalid publisher id {0:?}")]
    BadId(String),
    #[error("{} does not hold an incident name; fix or remove it", .0.display())]
    BadLatest(PathBuf),
}

/// The stored incidents of one publisher.
#[derive(Debug)]
pub(crate) struct PublisherStore {
    id: String,
    dir: PathBuf,
    latest: Option<String>,
    /// What the `latest` file says, to know when it must be rewritten.
    latest_on_disk: Option<String>,
}

/// What [`PublisherStore::recover`] found.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub(crate) store: PublisherStore,
    /// Stored incidents after the `latest` file's name: stored just before a
    /// crash, possibly before they were classified.
    pub(crate) unrecorded: Vec<String>,
    /// Leftover temporary files that were removed.
    pub(crate) removed_temp_files: usize,
}

/// How [`PublisherStore::commit`] ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Commit {
    /// The incident is stored.
    Stored,
    /// A file of that name was already there and was kept; the fetched copy
    /// was discarded.
    AlreadyStored,
}

impl PublisherStore {
    /// Opens the folder of publisher `id` (creating it), removes temporary
    /// files left by a crash, and works out the latest incident handled.
    pub(crate) fn recover(basedir: &Path, id: &str) -> io::Result<Recovered> {
        if !is_valid_publisher_id(id) {
            // Ids come from URLs, which validate them; this keeps a bad one
            // from ever becoming a path.
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                FolderProblem::BadId(id.to_owned()),
            ));
        }
        let dir = basedir.join(INCIDENTS_DIR).join(id);
        fs::create_dir_all(&dir)?;
        let mut removed_temp_files = 0;
        for entry in fs::read_dir(&dir)? {
            let name = entry?.file_name();
            let Some(name) = name.to_str() else { continue };
            if is_partial_name(name) || flog_core::fs::is_temp_name(name) {
                fs::remove_file(dir.join(name))?;
                removed_temp_files += 1;
            }
        }
        let latest_on_disk = read_latest(&dir)?;
        let stored = stored_names(&dir)?;
        let unrecorded: Vec<String> = stored
            .iter()
            .filter(|name| latest_on_disk.as_ref().is_none_or(|latest| *name > latest))
            .cloned()
            .collect();
        let latest = match (latest_on_disk.clone(), stored.last()) {
            (Some(file), Some(highest)) => Some(file.max(highest.clone())),
            (file, highest) => file.or_else(|| highest.cloned()),
        };
        Ok(Recovered {
            store: PublisherStore {
                id: id.to_owned(),
                dir,
                latest,
                latest_on_disk,
            },
            unrecorded,
            removed_temp_files,
        })
    }

    /// The publisher's id.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// The latest incident handled: stored, or refused for good.
    pub(crate) fn latest(&self) -> Option<&str> {
        self.latest.as_deref()
    }

    /// Where incident `name` is stored.
    pub(crate) fn stored_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}{FINISHED_SUFFIX}"))
    }

    /// The stored file of `name` relative to the base directory, as listed in
    /// the classification files.
    pub(crate) fn relative_path(&self, name: &str) -> String {
        relative_path(&self.id, name)
    }

    /// A new temporary file name for a fetch of `name`, used by no other
    /// fetch. Create it exclusively (`create_new`): should a file of that
    /// name exist anyway, ask for another.
    pub(crate) fn new_partial(&self, name: &str) -> Partial {
        static FETCHES: AtomicU64 = AtomicU64::new(0);
        let n = FETCHES.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        Partial {
            name: name.to_owned(),
            path: self.dir.join(format!(
                ".{name}{FINISHED_SUFFIX}.{pid}-{n}{PARTIAL_SUFFIX}"
            )),
        }
    }

    /// Moves a fetched and verified incident into place. `partial` must have
    /// been fsynced. The stored file is never replaced: a file of that name
    /// already there stays, and the fetched copy is dropped.
    pub(crate) fn commit(&self, partial: &Partial) -> io::Result<Commit> {
        let stored = self.stored_path(&partial.name);
        let partial = &partial.path;
        // A hard link fails when the target exists, unlike rename, which
        // would silently replace it: this is the "never overwrite" rule.
        let outcome = match fs::hard_link(partial, &stored) {
            Ok(()) => Commit::Stored,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Commit::AlreadyStored,
            // File systems without hard links: check, then rename. Only this
            // gatherer writes here (it holds the base directory's lock).
            Err(e) if links_unsupported(&e) => {
                if stored.exists() {
                    Commit::AlreadyStored
                } else {
                    fs::rename(partial, &stored)?;
                    Commit::Stored
                }
            }
            Err(e) => return Err(e),
        };
        match fs::remove_file(partial) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        flog_core::fs::sync_parent(&stored)?;
        Ok(outcome)
    }

    /// Records `name` as the latest incident handled, atomically and durably.
    /// Names only move forward.
    pub(crate) fn set_latest(&mut self, name: &str) -> io::Result<()> {
        if self.latest.as_deref().is_none_or(|latest| name > latest) {
            self.latest = Some(name.to_owned());
        }
        self.persist_latest()
    }

    /// Notes `name` as handled, in memory only: for a store whose `latest`
    /// is kept elsewhere (a bucket). Names only move forward.
    pub(crate) fn note_latest(&mut self, name: &str) {
        if self.latest.as_deref().is_none_or(|latest| name > latest) {
            self.latest = Some(name.to_owned());
        }
    }

    /// Writes the `latest` file when it lags behind what recovery found.
    pub(crate) fn persist_latest(&mut self) -> io::Result<()> {
        if self.latest == self.latest_on_disk {
            return Ok(());
        }
        if let Some(latest) = &self.latest {
            let path = self.dir.join(LATEST_FILE);
            flog_core::fs::write_file_atomically(&path, format!("{latest}\n").as_bytes())?;
            self.latest_on_disk = Some(latest.clone());
        }
        Ok(())
    }
}

/// `incidents/<publisher-id>/<name>.flog.bz2`, with `/` on every platform.
pub(crate) fn relative_path(publisher_id: &str, name: &str) -> String {
    format!("{INCIDENTS_DIR}/{publisher_id}/{name}{FINISHED_SUFFIX}")
}

/// The publisher id and incident name of a [`relative_path`] (a line of
/// the lists); `None` for anything else.
#[cfg_attr(not(feature = "dashboard"), allow(dead_code))]
pub(crate) fn parse_relative_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix(INCIDENTS_DIR)?.strip_prefix('/')?;
    let (id, file) = rest.split_once('/')?;
    let name = file.strip_suffix(FINISHED_SUFFIX)?;
    (is_valid_publisher_id(id) && is_valid_incident_name(name)).then_some((id, name))
}

fn is_partial_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(PARTIAL_SUFFIX)
}

fn links_unsupported(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::Unsupported | io::ErrorKind::PermissionDenied
    )
}

fn read_latest(dir: &Path) -> io::Result<Option<String>> {
    let path = dir.join(LATEST_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => {
            let name = text.trim();
            if is_valid_incident_name(name) {
                Ok(Some(name.to_owned()))
            } else {
                // Refetching everything would be the only way on, and might
                // refetch what retention already deleted here: better to stop
                // and let the operator look.
                Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    FolderProblem::BadLatest(path),
                ))
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The names of the incidents stored in a publisher's folder, ascending.
pub(crate) fn stored_names(dir: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        let file_name = entry?.file_name();
        let Some(name) = file_name
            .to_str()
            .and_then(|n| n.strip_suffix(FINISHED_SUFFIX))
        else {
            continue;
        };
        if is_valid_incident_name(name) {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// The publisher folders under `BASEDIR/incidents`, by id, ascending.
pub(crate) fn publisher_ids(basedir: &Path) -> io::Result<Vec<String>> {
    let dir = basedir.join(INCIDENTS_DIR);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut ids = Vec::new();
    for entry in entries {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        if let Some(id) = entry.file_name().to_str() {
            if is_valid_publisher_id(id) {
                ids.push(id.to_owned());
            }
        }
    }
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod tests;

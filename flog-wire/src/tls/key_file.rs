//! Keeping a [`TlsKey`] in a file: created on first use, loaded later,
//! replaced only on purpose.

use std::fs;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use crate::fingerprint::KeyFingerprint;
use crate::tls::key::{KeyError, TlsKey};

/// Writes a private file atomically: a temporary file beside `path`, created
/// readable by its owner only (mode 0600), filled, fsynced and renamed over
/// `path`, then the directory fsynced.
///
/// `flog-wire` depends on no other flog crate, so the caller hands in the
/// workspace's one implementation, `flog_core::fs::write_private_atomically`.
pub type WritePrivate = fn(&Path, &[u8]) -> io::Result<()>;

/// A key file is a few hundred bytes; anything much larger is not one, and
/// reading it whole would let a hostile file decide how much memory we use.
const MAX_KEY_FILE_LEN: u64 = 16 * 1024;

/// The file that holds a publisher's or gatherer's [`TlsKey`], as PEM.
///
/// ```
/// use flog_wire::KeyFile;
///
/// let dir = tempfile::tempdir()?;
/// let file = KeyFile::new(
///     dir.path().join("logport-key.pem"),
///     flog_core::fs::write_private_atomically,
/// );
/// let key = file.load_or_create()?;
/// assert_eq!(file.load()?.fingerprint(), key.fingerprint());
///
/// let rotation = file.rotate()?;
/// assert_eq!(rotation.old, key.fingerprint());
/// assert_ne!(rotation.new.fingerprint(), key.fingerprint());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct KeyFile {
    path: PathBuf,
    write_private: WritePrivate,
}

/// What [`KeyFile::rotate`] did.
#[derive(Debug)]
pub struct Rotation {
    /// The fingerprint of the replaced key, now kept in
    /// [`KeyFile::old_path`].
    pub old: KeyFingerprint,
    /// The new key, now in [`KeyFile::path`].
    pub new: TlsKey,
}

/// Why a key file could not be used. A file that exists but cannot be used
/// is never replaced: losing a key changes the URL every peer holds.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file does not exist (from [`KeyFile::load`] and
    /// [`KeyFile::rotate`], which never create one).
    #[error("no key file at {}", path.display())]
    Missing {
        /// The key file.
        path: PathBuf,
    },
    /// Reading the file failed.
    #[error("cannot read the key file {}: {source}", path.display())]
    Read {
        /// The key file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Writing the file failed; the previous file, if any, is untouched.
    #[error("cannot write the key file {}: {source}", path.display())]
    Write {
        /// The file being written.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Others than the owner may read the file, so the key may be known to
    /// them. Refused as ssh refuses such keys; `chmod 600` it if it was
    /// never exposed, else rotate it.
    #[error(
        "the key file {} is readable by others (mode {mode:o}): chmod 600 it, \
         or rotate the key if others may have read it",
        path.display()
    )]
    Permissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file is larger than any key file.
    #[error("the key file {} is {len} bytes, too large to be a key", path.display())]
    TooLarge {
        /// The key file.
        path: PathBuf,
        /// Its size.
        len: u64,
    },
    /// The file does not hold a key flog can use: damaged, truncated, or
    /// some other kind of file.
    #[error("the key file {} is not usable: {source}", path.display())]
    Invalid {
        /// The key file.
        path: PathBuf,
        /// What is wrong with its content.
        source: KeyError,
    },
    /// No new key could be generated.
    #[error("cannot generate a new key: {0}")]
    Generate(#[source] KeyError),
}

impl KeyFile {
    /// The key file at `path`, written with `write_private` (see
    /// [`WritePrivate`]).
    pub fn new(path: impl Into<PathBuf>, write_private: WritePrivate) -> Self {
        Self {
            path: path.into(),
            write_private,
        }
    }

    /// Where the key is kept.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where [`rotate`](Self::rotate) keeps the key it replaced: the key
    /// file's name with `.old` appended.
    pub fn old_path(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".old");
        self.path.with_file_name(name)
    }

    /// Loads the key, or on first use generates one and writes it (mode
    /// 0600, atomically). A file that exists but is not a usable key is an
    /// error, never replaced.
    pub fn load_or_create(&self) -> Result<TlsKey, KeyFileError> {
        match self.load() {
            Err(KeyFileError::Missing { .. }) => {}
            other => return other,
        }
        let key = TlsKey::generate().map_err(KeyFileError::Generate)?;
        self.write(&self.path, key.to_pem().as_bytes())?;
        // What is on disk is the key: reading it back also proves the writer
        // made the file private.
        self.load()
    }

    /// Loads the key; a missing file is [`KeyFileError::Missing`].
    pub fn load(&self) -> Result<TlsKey, KeyFileError> {
        let pem = self.read(&self.path)?;
        TlsKey::from_pem(&pem).map_err(|source| KeyFileError::Invalid {
            path: self.path.clone(),
            source,
        })
    }

    /// Replaces the key with a new one, keeping the current one in
    /// [`old_path`](Self::old_path) (replacing an older `.old`).
    ///
    /// The current key must load: a damaged key file is an error here too,
    /// so that nothing is lost by accident. Run this while the process that
    /// uses the key is stopped; it takes the new key when it starts. A crash
    /// part-way leaves either the old key in place (with a copy in `.old`) or
    /// the rotation done, never no key.
    pub fn rotate(&self) -> Result<Rotation, KeyFileError> {
        let current = self.read(&self.path)?;
        let old = TlsKey::from_pem(&current)
            .map_err(|source| KeyFileError::Invalid {
                path: self.path.clone(),
                source,
            })?
            .fingerprint();
        self.write(&self.old_path(), &current)?;
        let new = TlsKey::generate().map_err(KeyFileError::Generate)?;
        self.write(&self.path, new.to_pem().as_bytes())?;
        Ok(Rotation {
            old,
            new: self.load()?,
        })
    }

    fn write(&self, path: &Path, contents: &[u8]) -> Result<(), KeyFileError> {
        (self.write_private)(path, contents).map_err(|source| KeyFileError::Write {
            path: path.to_path_buf(),
            source,
        })
    }

    fn read(&self, path: &Path) -> Result<Vec<u8>, KeyFileError> {
        let read_error = |source| KeyFileError::Read {
            path: path.to_path_buf(),
            source,
        };
        let file = match fs::File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(KeyFileError::Missing {
                    path: path.to_path_buf(),
                })
            }
            Err(e) => return Err(read_error(e)),
        };
        let metadata = file.metadata().map_err(read_error)?;
        check_private(path, &metadata)?;
        if metadata.len() > MAX_KEY_FILE_LEN {
            return Err(KeyFileError::TooLarge {
                path: path.to_path_buf(),
                len: metadata.len(),
            });
        }
        let mut contents = Vec::new();
        // take() bounds the read even if the file grows after the check.
        file.take(MAX_KEY_FILE_LEN + 1)
            .read_to_end(&mut contents)
            .map_err(read_error)?;
        if contents.len() as u64 > MAX_KEY_FILE_LEN {
            return Err(KeyFileError::TooLarge {
                path: path.to_path_buf(),
                len: contents.len() as u64,
            });
        }
        Ok(contents)
    }
}

#[cfg(unix)]
fn check_private(path: &Path, metadata: &fs::Metadata) -> Result<(), KeyFileError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _metadata: &fs::Metadata) -> Result<(), KeyFileError> {
    Ok(())
}

#[cfg(test)]
mod tests;

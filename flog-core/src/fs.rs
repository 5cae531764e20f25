//! Writing files so that readers never see half of one.
//!
//! The workspace's one implementation of "temp file + fsync + rename" and of
//! the directory lock: the logger, the publisher, the gatherer and `flogtool`
//! all write through it, so every file flog writes is written the same way.
//! A public module rather than root re-exports because only programs that
//! write files of their own need it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Marks the temporary files of [`write_atomically`]: `.NAME.tmp-PID-N`.
pub const TEMP_MARKER: &str = ".tmp-";

/// The temporary name [`write_atomically`] uses for `path`: hidden, in the same
/// directory (so the rename stays on one file system), and unique per call.
pub fn temp_path_for(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}{TEMP_MARKER}{}-{n}", std::process::id()))
}

/// Whether `name` is a temporary file left by [`write_atomically`].
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.contains(TEMP_MARKER)
}

/// Writes `path` atomically: `write` fills a temporary file beside it, which is
/// flushed, fsynced and renamed over `path`, and the directory is fsynced. On any
/// failure the temporary file is removed and `path` is untouched.
pub fn write_atomically<T>(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<T>,
) -> io::Result<T> {
    write_atomically_with(path, false, write)
}

/// [`write_atomically`] through a bzip2 encoder: what `write` writes is
/// compressed at `level`, the stream is finished, then the file is fsynced
/// and renamed as usual. The one "compress into an atomic file" of the
/// workspace (finished incidents, recovered ones, `flogtool`'s `.bz2` output).
pub fn write_bzip2_atomically<T>(
    path: &Path,
    level: bzip2::Compression,
    write: impl FnOnce(&mut bzip2::write::BzEncoder<&mut BufWriter<File>>) -> io::Result<T>,
) -> io::Result<T> {
    write_atomically(path, |out| {
        let mut encoder = bzip2::write::BzEncoder::new(out, level);
        let value = write(&mut encoder)?;
        encoder.finish()?;
        Ok(value)
    })
}

/// [`write_atomically`] for secrets: the file is readable by its owner only
/// (mode 0600 on Unix) from the moment it is created.
pub fn write_private_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    write_atomically_with(path, true, |out| out.write_all(contents))
}

fn write_atomically_with<T>(
    path: &Path,
    private: bool,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<T>,
) -> io::Result<T> {
    let tmp = temp_path_for(path);
    let result = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        let file = options.open(&tmp)?;
        let mut out = BufWriter::with_capacity(64 * 1024, file);
        let value = write(&mut out)?;
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        Ok(value)
    })();
    match result {
        Ok(value) => {
            sync_parent(path)?;
            Ok(value)
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Fsyncs the directory holding `path`, so a rename or removal in it is durable.
pub fn sync_parent(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// Compresses `plain` with bzip2 into `compressed` atomically (temporary
/// file, fsync, rename), then removes `plain`: the one "compress a closed
/// flogfile" of the workspace (incident reports, gathered files).
pub fn compress_file(plain: &Path, compressed: &Path) -> io::Result<()> {
    let mut input = File::open(plain)?;
    write_bzip2_atomically(compressed, bzip2::Compression::default(), |enc| {
        io::copy(&mut input, enc).map(drop)
    })?;
    fs::remove_file(plain)?;
    sync_parent(compressed)
}

/// Writes `contents` to `path` atomically.
pub fn write_file_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    write_atomically(path, |out| out.write_all(contents))
}

/// An exclusive lock on a directory, held until dropped or until the process
/// ends, however it ends: flock(2) on the directory itself.
///
/// Not a lock file: a lock file that someone removes (taking it for stale)
/// lets the next comer lock a new file of the same name while the holder
/// still runs. Nobody tidies a directory away by mistake: removing it means
/// removing everything in it. Locks of two opens conflict in one process too,
/// so two holders in one process are refused like two processes.
#[derive(Debug)]
pub struct DirLock {
    _dir: File,
}

impl DirLock {
    /// Takes the lock on `dir` without waiting; `Ok(None)` when someone else
    /// holds it.
    pub fn try_acquire(dir: &Path) -> io::Result<Option<DirLock>> {
        let dir_file = File::open(dir)?;
        #[cfg(unix)]
        {
            use rustix::fs::{flock, FlockOperation};
            match flock(&dir_file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {}
                Err(rustix::io::Errno::WOULDBLOCK) => return Ok(None),
                Err(errno) => return Err(errno.into()),
            }
        }
        Ok(Some(DirLock { _dir: dir_file }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_file_atomically(&path, b"one").unwrap();
        let err = write_atomically(&path, |out| {
            out.write_all(b"partial")?;
            Err::<(), _>(io::Error::other("disk full"))
        });
        assert!(err.is_err());
        assert_eq!(fs::read(&path).unwrap(), b"one");
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("f")]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let secret = dir.path().join("secret");
            write_private_atomically(&secret, b"s").unwrap();
            let mode = fs::metadata(&secret).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(is_temp_name(
            temp_path_for(&path).file_name().unwrap().to_str().unwrap()
        ));
    }

    #[cfg(unix)]
    #[test]
    fn a_bzip2_write_is_compressed_and_whole_or_not_at_all() {
        use std::io::Read as _;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bz2");
        let text = b"compressed text ".repeat(100);
        write_bzip2_atomically(&path, bzip2::Compression::best(), |out| {
            out.write_all(&text)
        })
        .unwrap();
        let stored = fs::read(&path).unwrap();
        assert!(stored.starts_with(b"BZh9") && stored.len() < text.len());
        let mut back = Vec::new();
        bzip2::read::BzDecoder::new(stored.as_slice())
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, text);

        let failed = write_bzip2_atomically(&path, bzip2::Compression::best(), |out| {
            out.write_all(b"half")?;
            Err::<(), _>(io::Error::other("stop"))
        });
        assert!(failed.is_err());
        assert_eq!(fs::read(&path).unwrap(), stored, "untouched");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temp left");
    }

    #[test]
    fn a_directory_lock_is_exclusive_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::try_acquire(dir.path()).unwrap().unwrap();
        assert!(DirLock::try_acquire(dir.path()).unwrap().is_none());
        drop(first);
        assert!(DirLock::try_acquire(dir.path()).unwrap().is_some());
        assert!(DirLock::try_acquire(&dir.path().join("missing")).is_err());
    }
}

//! One gatherer per base directory: two would fetch and list the same
//! incidents twice, and write into each other's files.
//!
//! The lock is a `flock` on the base directory itself, which nobody removes
//! while it holds anything: a lock on a file can be lost to an operator who
//! deletes the file as stale, after which a second gatherer locks a new file
//! of the same name and both run. The `lock` file only tells operators which
//! process holds the lock; removing it changes nothing.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::GatherError;

/// The file in the base directory naming the running gatherer's pid. The
/// lock itself is on the directory; this file is gone after a clean stop.
pub const LOCK_FILE: &str = "lock";

/// Held while a [`Gatherer`](crate::Gatherer) exists; the operating system
/// releases it when the process dies, however it dies.
#[derive(Debug)]
pub(crate) struct BasedirLock {
    /// The open directory that carries the lock.
    _dir: Option<File>,
    pid_file: PathBuf,
}

impl BasedirLock {
    pub(crate) fn acquire(basedir: &Path) -> Result<BasedirLock, GatherError> {
        let pid_file = basedir.join(LOCK_FILE);
        let dir = lock_directory(basedir, &pid_file)?;
        let pid = format!("{}\n", std::process::id());
        flog_core::fs::write_file_atomically(&pid_file, pid.as_bytes())
            .map_err(GatherError::io("write", &pid_file))?;
        Ok(BasedirLock {
            _dir: dir,
            pid_file,
        })
    }
}

impl Drop for BasedirLock {
    fn drop(&mut self) {
        // Before the lock goes with the directory handle: a pid left behind
        // after a clean stop invites an operator to call a live lock stale.
        let _ = std::fs::remove_file(&self.pid_file);
    }
}

#[cfg(unix)]
fn lock_directory(basedir: &Path, pid_file: &Path) -> Result<Option<File>, GatherError> {
    use rustix::fs::{flock, FlockOperation};
    let dir = File::open(basedir).map_err(GatherError::io("open", basedir))?;
    match flock(&dir, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(dir)),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(GatherError::Locked {
            basedir: basedir.to_owned(),
            holder: read_pid(pid_file),
        }),
        Err(errno) => Err(GatherError::io("lock", basedir)(errno.into())),
    }
}

/// Without `flock` there is no lock, only the pid file.
#[cfg(not(unix))]
fn lock_directory(_basedir: &Path, _pid_file: &Path) -> Result<Option<File>, GatherError> {
    Ok(None)
}

/// The pid of the gatherer running in `basedir`, told without touching the
/// lock (holding it even for a moment could make a gatherer starting then
/// refuse to run): the pid in the pid file, if that process is alive.
/// `None`: no gatherer runs there, or one is starting this instant.
pub fn running_gatherer(basedir: &Path) -> Option<u32> {
    let pid = read_pid(&basedir.join(LOCK_FILE))?;
    process_alive(pid).then_some(pid)
}

#[cfg(target_os = "linux")]
fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Without `/proc`, a pid file is taken at its word.
#[cfg(not(target_os = "linux"))]
fn process_alive(_pid: u32) -> bool {
    true
}

/// The pid in the pid file, for the message of a refused start.
fn read_pid(pid_file: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(pid_file).ok()?;
    text.trim().parse().ok()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_basedir_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = BasedirLock::acquire(dir.path()).unwrap();
        let second = BasedirLock::acquire(dir.path());
        assert!(
            matches!(second, Err(GatherError::Locked { .. })),
            "{second:?}"
        );
        drop(first);
        BasedirLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn removing_the_pid_file_does_not_unlock() {
        let dir = tempfile::tempdir().unwrap();
        let first = BasedirLock::acquire(dir.path()).unwrap();
        let pid_file = dir.path().join(LOCK_FILE);
        assert_eq!(read_pid(&pid_file), Some(std::process::id()));
        std::fs::remove_file(&pid_file).unwrap();
        let second = BasedirLock::acquire(dir.path());
        assert!(
            matches!(second, Err(GatherError::Locked { holder: None, .. })),
            "{second:?}"
        );
        drop(first);
        // Gone after a clean stop.
        let again = BasedirLock::acquire(dir.path()).unwrap();
        drop(again);
        assert!(!pid_file.exists());
    }
}

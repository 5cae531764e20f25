//! One gatherer per base directory: two would fetch and list the same
//! incidents twice.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::GatherError;

/// The lock file in the base directory.
pub const LOCK_FILE: &str = "lock";

/// Held while a [`Gatherer`](crate::Gatherer) exists; the operating system
/// releases it when the process dies, however it dies.
#[derive(Debug)]
pub(crate) struct BasedirLock {
    _file: File,
}

impl BasedirLock {
    pub(crate) fn acquire(basedir: &Path) -> Result<BasedirLock, GatherError> {
        let path = basedir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(GatherError::io("open", &path))?;
        #[cfg(unix)]
        {
            use rustix::fs::{flock, FlockOperation};
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {}
                Err(rustix::io::Errno::WOULDBLOCK) => {
                    return Err(GatherError::Locked {
                        basedir: basedir.to_owned(),
                        lock: path,
                    })
                }
                Err(errno) => return Err(GatherError::io("lock", &path)(errno.into())),
            }
        }
        // For the operator: which process holds it.
        let pid = format!("{}\n", std::process::id());
        file.set_len(0)
            .and_then(|()| file.write_all(pid.as_bytes()))
            .map_err(GatherError::io("write", &path))?;
        Ok(BasedirLock { _file: file })
    }
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
}

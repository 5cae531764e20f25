//! The compressor: a named thread that compresses closed gathered files off
//! the gathering path and applies retention, reporting over a channel; with
//! a bucket, it hands each file, once final, on to the uploader.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use flog_core::{Clock, Timestamp};
use tokio::sync::mpsc::UnboundedSender;

use super::log::LogNotice;
use super::names::{parse_name, EventFileName};

/// How many closed files, how many bytes of them, and how old ones to
/// keep; the oldest go first. The current file is never removed, nor one
/// waiting for compression (nor, while one waits, any newer than it).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Retention {
    pub(crate) files: Option<usize>,
    pub(crate) bytes: Option<u64>,
    /// Files that closed (the `to` time in their names) longer ago than
    /// this go.
    pub(crate) age: Option<Duration>,
}

impl Retention {
    fn is_off(&self) -> bool {
        self.files.is_none() && self.bytes.is_none() && self.age.is_none()
    }
}

/// How often retention runs with no file closing: files age meanwhile
/// (a quiet gatherer rotating only by size may close none for days).
const AGE_CHECK: Duration = Duration::from_secs(60);

/// Starts the compressor of `dir`: it compresses every path received (when
/// `compress`), hands the file (compressed, or as it is when compression is
/// off or failed) to `uploads` if given, then applies `retention` by
/// `clock`, and ends when the sender is gone.
pub(crate) fn spawn(
    dir: PathBuf,
    compress: bool,
    retention: Retention,
    clock: Arc<dyn Clock>,
    closed: Receiver<PathBuf>,
    notices: Sender<LogNotice>,
    uploads: Option<UnboundedSender<PathBuf>>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("flog-gather-compress".into())
        .spawn(move || {
            // Received, not yet compressed: taken off the channel at once,
            // so that retention knows what it must not remove.
            let mut pending: VecDeque<PathBuf> = VecDeque::new();
            loop {
                if pending.is_empty() {
                    match closed.recv_timeout(AGE_CHECK) {
                        Ok(path) => pending.push_back(path),
                        Err(RecvTimeoutError::Timeout) => {
                            retain(&dir, retention, clock.now(), &[], &notices);
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                pending.extend(closed.try_iter());
                let Some(path) = pending.pop_front() else {
                    continue;
                };
                let done = if compress {
                    compress_one(&path, &notices)
                } else {
                    path
                };
                if let Some(uploads) = &uploads {
                    let _ = uploads.send(done);
                }
                let waiting: Vec<OsString> = if compress {
                    pending
                        .iter()
                        .filter_map(|p| p.file_name())
                        .map(Into::into)
                        .collect()
                } else {
                    Vec::new()
                };
                retain(&dir, retention, clock.now(), &waiting, &notices);
            }
        })
}

/// Compresses `path`; the file it leaves (the compressed one, or `path`
/// when compressing failed).
fn compress_one(path: &Path, notices: &Sender<LogNotice>) -> PathBuf {
    let mut target = path.as_os_str().to_owned();
    target.push(".bz2");
    let target = PathBuf::from(target);
    match flog_core::fs::compress_file(path, &target) {
        Ok(()) => {
            let _ = notices.send(LogNotice::Compressed {
                path: target.clone(),
            });
            target
        }
        Err(error) => {
            let _ = notices.send(LogNotice::CompressFailed {
                path: path.to_owned(),
                error,
            });
            path.to_owned()
        }
    }
}

/// Removes the oldest closed files beyond the retention limits at `now`;
/// stops at the first of the files named in `pending` (waiting for
/// compression): it and every newer file stay until it is compressed.
pub(crate) fn retain(
    dir: &Path,
    retention: Retention,
    now: Timestamp,
    pending: &[OsString],
    notices: &Sender<LogNotice>,
) {
    if retention.is_off() {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut closed: Vec<(String, Timestamp, PathBuf, u64)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let Some(EventFileName::Closed { to, .. }) = parse_name(&name) else {
                return None;
            };
            let size = e.metadata().ok()?.len();
            Some((name, to, e.path(), size))
        })
        .collect();
    // Names sort by time (fixed width); the newest last.
    closed.sort();
    let mut total: u64 = closed.iter().map(|(.., size)| size).sum();
    let mut count = closed.len();
    let too_old = |to: Timestamp| {
        retention
            .age
            .is_some_and(|age| to.saturating_add(age) < now)
    };
    for (name, to, path, size) in closed {
        let over_files = retention.files.is_some_and(|n| count > n);
        let over_bytes = retention.bytes.is_some_and(|n| total > n);
        if !over_files && !over_bytes && !too_old(to) {
            // Files open, and so close, in the order of their names: the
            // rest are newer.
            break;
        }
        if pending.iter().any(|p| *p == *name) {
            break;
        }
        if fs::remove_file(&path).is_ok() {
            let _ = notices.send(LogNotice::Removed { path });
        }
        count -= 1;
        total -= size;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use flog_core::ManualClock;

    use super::*;
    use crate::events::names::{closed_name, present_name};

    const DAY: i64 = 86_400_000_000;
    const NOW: Timestamp = Timestamp(1_764_588_600_000_000);

    /// A closed file that ran for an hour up to `days_ago` before [`NOW`].
    fn closed_at(dir: &Path, days_ago: f64, ext: &str) -> String {
        let to = Timestamp(NOW.0 - (days_ago * DAY as f64) as i64);
        let name = format!("{}{ext}", closed_name(Timestamp(to.0 - 3_600_000_000), to));
        fs::write(dir.join(&name), b"closed events").unwrap();
        name
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    fn removed(notices: &Receiver<LogNotice>) -> Vec<String> {
        notices
            .try_iter()
            .filter_map(|n| match n {
                LogNotice::Removed { path } => Some(path.file_name()?.to_str()?.to_owned()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn files_closed_longer_ago_than_keep_age_go_by_the_injected_clock() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let ten = closed_at(dir, 10.0, "");
        let nine = closed_at(dir, 9.0, ".bz2");
        let eight = closed_at(dir, 8.0, "");
        let seven = closed_at(dir, 7.0, "");
        let one = closed_at(dir, 1.0, ".bz2");
        // The current file, opened long ago (rotation by size, a quiet
        // fleet): never removed, whatever its age.
        let open = present_name(Timestamp(NOW.0 - 30 * DAY));
        fs::write(dir.join(&open), b"events").unwrap();
        fs::write(dir.join("positions"), b"# positions").unwrap();
        let clock = ManualClock::new(NOW);
        let retention = Retention {
            age: Some(Duration::from_secs(7 * 86_400)),
            ..Retention::default()
        };
        let (tx, rx) = mpsc::channel();
        retain(dir, retention, clock.now(), &[], &tx);
        assert_eq!(removed(&rx), [ten, nine, eight]);
        let mut kept = vec![seven.clone(), one.clone(), open.clone(), "positions".into()];
        kept.sort();
        assert_eq!(names(dir), kept, "exactly 7 days is not older than 7 days");

        clock.advance(Duration::from_micros(1));
        retain(dir, retention, clock.now(), &[], &tx);
        assert_eq!(removed(&rx), [seven]);
        // One day old, six days on: exactly seven.
        clock.advance(Duration::from_secs(6 * 86_400) - Duration::from_micros(1));
        retain(dir, retention, clock.now(), &[], &tx);
        assert!(removed(&rx).is_empty(), "one day old plus six is not older");
        clock.advance(Duration::from_micros(1));
        retain(dir, retention, clock.now(), &[], &tx);
        assert_eq!(removed(&rx), [one]);
        assert_eq!(names(dir), [open, "positions".to_owned()]);
    }

    #[test]
    fn a_file_waiting_for_compression_and_every_newer_one_stay_until_it_is_done() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let twelve = closed_at(dir, 12.0, ".bz2");
        let ten = closed_at(dir, 10.0, "");
        let nine = closed_at(dir, 9.0, ".bz2");
        let retention = Retention {
            age: Some(Duration::from_secs(86_400)),
            files: Some(1),
            bytes: Some(1),
        };
        let (tx, rx) = mpsc::channel();
        retain(dir, retention, NOW, &[OsString::from(&ten)], &tx);
        assert_eq!(removed(&rx), [twelve]);
        assert_eq!(names(dir), [ten.clone(), nine.clone()]);
        retain(dir, retention, NOW, &[], &tx);
        assert_eq!(removed(&rx), [ten, nine]);
    }

    #[test]
    fn the_compressor_never_removes_a_file_it_has_yet_to_compress() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path().to_owned();
        let (closed_tx, closed_rx) = mpsc::channel();
        // Both queued before the thread looks: while it compresses the
        // first, the second waits, and retention (1 byte at most, 1 day)
        // would remove it.
        for days in [3.0, 2.0] {
            closed_tx.send(dir.join(closed_at(&dir, days, ""))).unwrap();
        }
        drop(closed_tx);
        let retention = Retention {
            bytes: Some(1),
            age: Some(Duration::from_secs(86_400)),
            ..Retention::default()
        };
        let clock = Arc::new(ManualClock::new(NOW));
        let (tx, rx) = mpsc::channel();
        spawn(dir.clone(), true, retention, clock, closed_rx, tx, None)
            .unwrap()
            .join()
            .unwrap();
        let notices: Vec<LogNotice> = rx.try_iter().collect();
        let failed: Vec<&LogNotice> = notices
            .iter()
            .filter(|n| matches!(n, LogNotice::CompressFailed { .. }))
            .collect();
        assert!(failed.is_empty(), "{notices:?}");
        let compressed = notices
            .iter()
            .filter(|n| matches!(n, LogNotice::Compressed { .. }))
            .count();
        assert_eq!(compressed, 2, "{notices:?}");
        // Then removed, compressed: both are older than a day.
        assert!(names(&dir).is_empty(), "{:?}", names(&dir));
    }
}

//! The compressor: a named thread that compresses closed gathered files off
//! the gathering path and applies retention, reporting over a channel.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender};
use std::thread::JoinHandle;

use super::log::LogNotice;
use super::names::{parse_name, EventFileName};

/// How many closed files, and how many bytes of them, to keep; the oldest
/// go first. The current file is never removed.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Retention {
    pub(crate) files: Option<usize>,
    pub(crate) bytes: Option<u64>,
}

/// Starts the compressor of `dir`: it compresses every path received (when
/// `compress`), then applies `retention`, and ends when the sender is gone.
pub(crate) fn spawn(
    dir: PathBuf,
    compress: bool,
    retention: Retention,
    closed: Receiver<PathBuf>,
    notices: Sender<LogNotice>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("flog-gather-compress".into())
        .spawn(move || {
            for path in closed {
                if compress {
                    compress_one(&path, &notices);
                }
                retain(&dir, retention, &notices);
            }
        })
}

fn compress_one(path: &Path, notices: &Sender<LogNotice>) {
    let mut target = path.as_os_str().to_owned();
    target.push(".bz2");
    let target = PathBuf::from(target);
    match flog_core::fs::compress_file(path, &target) {
        Ok(()) => {
            let _ = notices.send(LogNotice::Compressed { path: target });
        }
        Err(error) => {
            let _ = notices.send(LogNotice::CompressFailed {
                path: path.to_owned(),
                error,
            });
        }
    }
}

/// Removes the oldest closed files beyond the retention limits.
pub(crate) fn retain(dir: &Path, retention: Retention, notices: &Sender<LogNotice>) {
    if retention.files.is_none() && retention.bytes.is_none() {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut closed: Vec<(String, PathBuf, u64)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let is_closed = matches!(parse_name(&name), Some(EventFileName::Closed { .. }));
            let size = e.metadata().ok()?.len();
            is_closed.then(|| (name, e.path(), size))
        })
        .collect();
    // Names sort by time (fixed width); the newest last.
    closed.sort();
    let mut total: u64 = closed.iter().map(|(_, _, size)| size).sum();
    let mut count = closed.len();
    for (_, path, size) in closed {
        let over_files = retention.files.is_some_and(|n| count > n);
        let over_bytes = retention.bytes.is_some_and(|n| total > n);
        if !over_files && !over_bytes {
            break;
        }
        if fs::remove_file(&path).is_ok() {
            let _ = notices.send(LogNotice::Removed { path });
        }
        count -= 1;
        total -= size;
    }
}

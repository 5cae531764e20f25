//! What the event log, the compressor and the uploader tell their owner,
//! over a channel, for the daemon's own log.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use super::recovery::Recovered;
use crate::bucket::BucketError;

/// What the log tells its owner, for the daemon's own log.
#[derive(Debug)]
pub(crate) enum LogNotice {
    /// Writing `path` failed (a full disk): gathering into files pauses
    /// until a new file can be written. Sent once per run of failures.
    Failing { path: PathBuf, error: io::Error },
    /// A new file could be written again; the events not written meanwhile
    /// are in it as gaps.
    Resumed { path: PathBuf, unwritten: u64 },
    /// A file was closed and is ready for compression.
    Closed { path: PathBuf },
    /// A file left open by a gatherer that died was closed with a
    /// `recovered` trailer.
    Recovered(Recovered),
    /// A closed file was compressed to `path`.
    Compressed { path: PathBuf },
    /// Compressing a closed file failed; it stays uncompressed.
    CompressFailed { path: PathBuf, error: io::Error },
    /// Retention removed an old file.
    Removed { path: PathBuf },
    /// A closed file was uploaded to the bucket (`storage = "s3"`) as
    /// `url`, and removed from the spool.
    Uploaded {
        path: PathBuf,
        url: String,
        bytes: u64,
        parts: usize,
    },
    /// Uploading failed; retried after `retry_in`. Sent once per run of
    /// failures.
    UploadFailing {
        path: PathBuf,
        error: BucketError,
        retry_in: Duration,
    },
    /// Uploads go through again, after a run of failures.
    UploadsResumed,
    /// The spool passed its limit: events are not written until uploads
    /// make room.
    SpoolFull { bytes: u64, limit: u64 },
    /// The spool has room again.
    SpoolRoom { bytes: u64, limit: u64 },
}

//! The uploader (`storage = "s3"`): a task that takes each closed event
//! file, once final (compressed, when the gatherer compresses), into the
//! bucket's `events/` under the same name, and only then off the local
//! disk. A failed upload stays first in line and is tried again after a
//! growing pause; a file is never removed before the bucket is known to hold
//! its bytes, so one is never lost: what a stop or a crash leaves in the
//! spool is uploaded at the next start.
//!
//! The spool (the files waiting, in bytes) is bounded by `spool_bytes`:
//! past it the spool is full, reported once, and the writer lets events go
//! (counted, to be written as `not_written` gaps) until uploads make room.
//! Its figures are in [`EventFigures::spool`], which the writer reads.

use std::collections::VecDeque;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::mpsc::UnboundedReceiver;

use super::figures::{EventFigures, SpoolFigures};
use super::log::LogNotice;
use super::names::{bucket_name, EVENTS_DIR};
use crate::bucket::{Bucket, BucketError, Upload};

/// Names tried in the bucket for one file (the same, then `~2`, `~3`...)
/// before it is an error: other gatherers' files of the same name.
const NAMES_TRIED: u32 = 8;

/// What the uploader needs.
#[derive(Debug)]
pub(crate) struct Uploader {
    pub(crate) bucket: Bucket,
    /// Files larger than this go in parts of this size.
    pub(crate) part_size: usize,
    /// `spool_bytes`.
    pub(crate) limit: u64,
    pub(crate) min_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) figures: Arc<EventFigures>,
    pub(crate) notices: Sender<LogNotice>,
}

/// The files waiting, oldest first, with their sizes.
#[derive(Debug, Default)]
struct Spool {
    waiting: VecDeque<(PathBuf, u64)>,
    figures: SpoolFigures,
}

impl Spool {
    fn add(&mut self, path: PathBuf) {
        // The same file may come twice (found at start, then compressed
        // again by the recovery of a crash mid-compression).
        if self.waiting.iter().any(|(p, _)| *p == path) {
            return;
        }
        let Ok(meta) = std::fs::metadata(&path) else {
            return;
        };
        self.figures.files += 1;
        self.figures.bytes += meta.len();
        self.waiting.push_back((path, meta.len()));
    }

    fn pop(&mut self) -> Option<(PathBuf, u64)> {
        let (path, bytes) = self.waiting.pop_front()?;
        self.figures.files -= 1;
        self.figures.bytes -= bytes;
        Some((path, bytes))
    }
}

impl Uploader {
    /// Uploads `waiting` (found in the spool at start), then every file
    /// received, until the sender is gone and the spool is empty, or an
    /// upload fails once the sender is gone (a stop: what is left waits
    /// for the next start).
    pub(crate) async fn run(self, waiting: Vec<PathBuf>, mut files: UnboundedReceiver<PathBuf>) {
        let mut spool = Spool::default();
        spool.figures.limit = self.limit;
        waiting.into_iter().for_each(|p| spool.add(p));
        let (mut open, mut failing) = (true, false);
        let mut backoff = self.min_backoff;
        loop {
            loop {
                match files.try_recv() {
                    Ok(path) => spool.add(path),
                    Err(TryRecvError::Disconnected) => {
                        open = false;
                        break;
                    }
                    Err(TryRecvError::Empty) => break,
                }
            }
            self.publish(&mut spool);
            let Some((path, _)) = spool.waiting.front().cloned() else {
                match files.recv().await {
                    Some(path) => {
                        spool.add(path);
                        continue;
                    }
                    None => break,
                }
            };
            let upload = self.upload(&path);
            let uploaded = self.taking(upload, &mut spool, &mut files, &mut open).await;
            match uploaded {
                Ok(done) => {
                    let (_, bytes) = spool.pop().expect("the front was there");
                    if let Some((url, upload)) = done {
                        spool.figures.uploaded_files += 1;
                        spool.figures.uploaded_bytes += bytes;
                        self.uploaded(&path, url, bytes, upload);
                    }
                    if std::mem::take(&mut failing) {
                        let _ = self.notices.send(LogNotice::UploadsResumed);
                    }
                    backoff = self.min_backoff;
                }
                Err(_) if !open => break,
                Err(error) => {
                    if !std::mem::replace(&mut failing, true) {
                        let _ = self.notices.send(LogNotice::UploadFailing {
                            path: path.clone(),
                            error,
                            retry_in: backoff,
                        });
                    }
                    self.pause(backoff, &mut spool, &mut files, &mut open).await;
                    backoff = (backoff * 2).min(self.max_backoff);
                }
            }
        }
        self.publish(&mut spool);
    }

    /// Runs `work` while taking the files closed meanwhile into the spool:
    /// its figures stay current however long an upload or a pause lasts.
    async fn taking<T>(
        &self,
        work: impl Future<Output = T>,
        spool: &mut Spool,
        files: &mut UnboundedReceiver<PathBuf>,
        open: &mut bool,
    ) -> T {
        tokio::pin!(work);
        loop {
            tokio::select! {
                done = &mut work => return done,
                received = files.recv(), if *open => match received {
                    Some(path) => {
                        spool.add(path);
                        self.publish(spool);
                    }
                    None => *open = false,
                },
            }
        }
    }

    /// Waits `backoff` before the next attempt, taking the files closed
    /// meanwhile; cut short by a stop (the sender gone), which then gets
    /// one more attempt rather than a wait of up to `max_backoff`.
    async fn pause(
        &self,
        backoff: Duration,
        spool: &mut Spool,
        files: &mut UnboundedReceiver<PathBuf>,
        open: &mut bool,
    ) {
        let pause = tokio::time::sleep(backoff);
        tokio::pin!(pause);
        while *open {
            tokio::select! {
                () = &mut pause => return,
                received = files.recv() => match received {
                    Some(path) => {
                        spool.add(path);
                        self.publish(spool);
                    }
                    None => *open = false,
                },
            }
        }
    }

    /// Uploads one file and removes it; `None`: it was gone already (sent
    /// twice, uploaded the first time).
    async fn upload(&self, path: &Path) -> Result<Option<(String, Upload)>, BucketError> {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            return Ok(None);
        };
        if !path.exists() {
            return Ok(None);
        }
        for taken in 0..NAMES_TRIED {
            let relative = format!("{EVENTS_DIR}/{}", bucket_name(name, taken));
            match self
                .bucket
                .upload_file(&relative, path, self.part_size)
                .await?
            {
                Upload::Taken => continue,
                done => {
                    // Only now, with the object confirmed.
                    if std::fs::remove_file(path).is_ok() {
                        let _ = flog_core::fs::sync_parent(path);
                    }
                    return Ok(Some((self.bucket.url_of(&relative), done)));
                }
            }
        }
        Err(BucketError::Unconfirmed {
            key: format!("{EVENTS_DIR}/{name}"),
            bucket: self.bucket.shown().to_owned(),
            found: format!("{NAMES_TRIED} other files of this name"),
        })
    }

    fn uploaded(&self, path: &Path, url: String, bytes: u64, upload: Upload) {
        let parts = match upload {
            Upload::Multipart(parts) => parts,
            _ => 1,
        };
        let _ = self.notices.send(LogNotice::Uploaded {
            path: path.to_owned(),
            url,
            bytes,
            parts,
        });
    }

    /// The figures, for the writer and the dashboard; a change of
    /// fullness reported once.
    fn publish(&self, spool: &mut Spool) {
        let full = spool.figures.bytes > self.limit;
        let (bytes, limit) = (spool.figures.bytes, self.limit);
        if full != spool.figures.full {
            let _ = self.notices.send(if full {
                LogNotice::SpoolFull { bytes, limit }
            } else {
                LogNotice::SpoolRoom { bytes, limit }
            });
        }
        spool.figures.full = full;
        self.figures.set_spool(spool.figures);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use flog_testkit::{Moto, MOTO_ACCESS_KEY_ID, MOTO_SECRET_ACCESS_KEY};

    use super::*;
    use crate::config::S3Config;

    /// Another gatherer's file holds the name: the upload goes to `~2`,
    /// the other stays; the local file leaves only once uploaded.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_name_another_gatherer_took_is_uploaded_as_the_next_and_the_spool_empties() {
        let Some(moto) = Moto::start("flog-taken") else {
            return;
        };
        let mut config = S3Config::new(moto.bucket());
        config.endpoint = Some(moto.endpoint());
        config.access_key_id = Some(MOTO_ACCESS_KEY_ID.to_owned());
        config.secret_access_key = Some(MOTO_SECRET_ACCESS_KEY.to_owned());
        let bucket = Bucket::open(&config).unwrap();
        let name = "from-2026-12-01T10-00-00.000000Z---to-2026-12-01T11-00-00.000000Z.flog.bz2";
        let theirs = b"another gatherer's events".to_vec();
        bucket
            .write(&format!("events/{name}"), theirs.clone())
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, b"this gatherer's events").unwrap();
        let (notices, notices_rx) = mpsc::channel();
        let figures = Arc::new(EventFigures::default());
        let uploader = Uploader {
            bucket: bucket.clone(),
            part_size: 5 << 20,
            limit: 1 << 30,
            min_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(10),
            figures: figures.clone(),
            notices,
        };
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        drop(tx);
        uploader.run(vec![path.clone()], rx).await;
        assert!(!path.exists());
        let ours = format!("events/{}", bucket_name(name, 1));
        assert_eq!(
            bucket.read(&ours).await.unwrap().as_deref(),
            Some(&b"this gatherer's events"[..])
        );
        assert_eq!(
            bucket
                .read(&format!("events/{name}"))
                .await
                .unwrap()
                .as_deref(),
            Some(&theirs[..])
        );
        let spool = figures.spool();
        assert_eq!((spool.files, spool.bytes, spool.full), (0, 0, false));
        assert_eq!((spool.uploaded_files, spool.uploaded_bytes), (1, 22));
        let uploaded: Vec<String> = notices_rx
            .try_iter()
            .filter_map(|n| match n {
                LogNotice::Uploaded { url, .. } => Some(url),
                _ => None,
            })
            .collect();
        assert_eq!(uploaded, [bucket.url_of(&ours)]);
    }
}

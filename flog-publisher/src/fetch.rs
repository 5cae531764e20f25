use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use flog_wire::{ErrorCode, Reply};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::index::Entry;
use crate::outbox::Outbox;
use crate::server::Shared;
use crate::session::{error, response};

/// Streams an incident file as chunks from `offset`, then its SHA-256.
///
/// Each chunk first takes its size from the connection's byte budget (see
/// [`Outbox`]) and only then is read, on a blocking thread. So a fetch reads
/// the file only as fast as the client takes it, holds no more than the
/// budget however large the file and however slow the client, and while it
/// waits for a slow client it waits here, not on a blocking thread that
/// other fetches need.
pub(crate) async fn stream_incident(
    shared: &Arc<Shared>,
    entry: Arc<Entry>,
    id: u64,
    offset: u64,
    chunk: usize,
    outbox: Outbox,
    cancel: CancellationToken,
) {
    let name = entry.info.name.clone();
    let result = tokio::select! {
        _ = cancel.cancelled() => Err(Failure::Stopped),
        sent = send_file(&entry, id, offset, chunk, &outbox) => sent,
    };
    let failure = match result {
        Ok(()) => return,
        Err(failure) => failure,
    };
    let (code, message) = match failure {
        Failure::Gone => {
            shared.index.remove(&name);
            (
                ErrorCode::UnknownIncident,
                format!("incident {name} is gone"),
            )
        }
        Failure::Offset { offset, size } => (
            ErrorCode::TooLarge,
            format!("offset {offset} is past the end of {name} ({size} bytes)"),
        ),
        Failure::Internal(why) => {
            tracing::warn!(incident = %name, error = %why, "fetch failed");
            (ErrorCode::Internal, why)
        }
        Failure::Stopped => return,
    };
    let _ = outbox.send(error(Some(id), code, message)).await;
}

enum Failure {
    Gone,
    Offset {
        offset: u64,
        size: u64,
    },
    Internal(String),
    /// The client left or the publisher is shutting down: say nothing more.
    Stopped,
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::NotFound {
            Failure::Gone
        } else {
            Failure::Internal(e.to_string())
        }
    }
}

fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Runs file work on a blocking thread.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|join| Err(Failure::Internal(format!("fetch task failed: {join}"))))
}

/// An open incident file, positioned where the next chunk starts.
struct Reading {
    file: File,
    size: u64,
    /// Over every byte from the start of the file up to the position, when
    /// the digest is not known yet.
    hasher: Option<Sha256>,
}

impl Reading {
    /// Opens the file at `offset`, hashing what comes before it if the
    /// digest is not known yet.
    fn open(path: PathBuf, offset: u64, hash: bool, chunk: usize) -> Result<Reading, Failure> {
        let mut file = File::open(path)?;
        let size = file.metadata()?.len();
        if offset > size {
            return Err(Failure::Offset { offset, size });
        }
        let mut hasher = hash.then(Sha256::new);
        if let Some(h) = hasher.as_mut() {
            let mut buf = vec![0u8; chunk];
            let mut left = offset;
            while left > 0 {
                let n = read_full(&mut file, &mut buf[..(left.min(chunk as u64) as usize)])?;
                if n == 0 {
                    return Err(Failure::Internal("file shrank while hashing".into()));
                }
                h.update(&buf[..n]);
                left -= n as u64;
            }
        }
        file.seek(SeekFrom::Start(offset))?;
        Ok(Reading { file, size, hasher })
    }

    /// The next at most `chunk` bytes; empty at the end of the file.
    fn next_chunk(&mut self, chunk: usize) -> Result<Vec<u8>, Failure> {
        let mut data = vec![0u8; chunk];
        let n = read_full(&mut self.file, &mut data)?;
        data.truncate(n);
        if let Some(h) = self.hasher.as_mut() {
            h.update(&data);
        }
        Ok(data)
    }
}

async fn send_file(
    entry: &Arc<Entry>,
    id: u64,
    offset: u64,
    chunk: usize,
    outbox: &Outbox,
) -> Result<(), Failure> {
    let path = entry.path.clone();
    // Incident files never change once finished, so the digest is computed once.
    let hash = entry.digest.get().is_none();
    let mut reading = blocking(move || Reading::open(path, offset, hash, chunk)).await?;
    let size = reading.size;
    let mut at = offset;
    loop {
        let room = outbox.reserve(chunk).await.map_err(|_| Failure::Stopped)?;
        let (returned, data) = blocking(move || {
            let data = reading.next_chunk(chunk)?;
            Ok((reading, data))
        })
        .await?;
        reading = returned;
        if data.is_empty() {
            break;
        }
        let n = data.len() as u64;
        let reply = Reply::IncidentChunk {
            name: entry.info.name.clone(),
            offset: at,
            data: ByteBuf::from(data),
            total_size: size,
        };
        outbox
            .send_reserved(response(id, reply), room)
            .await
            .map_err(|_| Failure::Stopped)?;
        at += n;
    }
    if at != size {
        return Err(Failure::Internal(format!(
            "file changed size while sent ({at} of {size} bytes)"
        )));
    }
    let digest = match reading.hasher {
        Some(h) => *entry.digest.get_or_init(|| h.finalize().into()),
        None => *entry.digest.get().expect("checked above"),
    };
    let done = Reply::IncidentDone {
        name: entry.info.name.clone(),
        size,
        sha256: ByteBuf::from(digest.to_vec()),
    };
    outbox
        .send(response(id, done))
        .await
        .map_err(|_| Failure::Stopped)
}

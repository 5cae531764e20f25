//! `get_incident`: chunked, verified, resumable (docs/protocol.md §6.4).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use flog_wire::{ErrorCode, Reply};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};

use super::Context;
use crate::index::Entry;
use crate::outbox::{Outbox, OUTBOX_BYTES};
use crate::reply::{error, response};

/// The largest incident chunk sent, whatever the client asks: two fit in the
/// byte budget, so a fetch keeps the socket busy while the next chunk is read.
pub(crate) const MAX_CHUNK: usize = OUTBOX_BYTES / 2;

/// One `get_incident` request.
#[derive(Debug)]
pub(super) struct Fetch {
    pub(super) id: u64,
    pub(super) name: String,
    pub(super) offset: u64,
    pub(super) chunk_size: Option<u32>,
}

impl Fetch {
    /// Checks the request and starts streaming on a task of the connection
    /// (once one of its fetch permits is free: reading requests pauses).
    pub(super) async fn start(self, cx: &Context) {
        let Fetch {
            id,
            name,
            offset,
            chunk_size,
        } = self;
        if !flog_wire::is_valid_incident_name(&name) {
            let why = format!("not an incident name: {name:?}");
            return cx.fail(id, ErrorCode::BadName, why).await;
        }
        let Some(entry) = cx.state.index.get(&name) else {
            let why = format!("no finished incident {name}");
            return cx.fail(id, ErrorCode::UnknownIncident, why).await;
        };
        let permit = tokio::select! {
            _ = cx.cancel.cancelled() => return,
            permit = Arc::clone(&cx.fetches).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let largest = MAX_CHUNK.min(cx.state.config.max_frame / 2) as u32;
        let chunk = chunk_size
            .unwrap_or(cx.state.config.chunk_size)
            .clamp(1024.min(largest), largest) as usize;
        let cx = cx.clone();
        cx.tasks.clone().spawn(async move {
            stream_incident(&cx, entry, id, offset, chunk).await;
            drop(permit);
        });
    }
}

/// Streams an incident file as chunks from `offset`, then its SHA-256.
///
/// Each chunk first takes its size from the connection's byte budget (see
/// [`Outbox`]) and only then is read, on a blocking thread. So a fetch reads
/// the file only as fast as the client takes it, holds no more than the
/// budget however large the file and however slow the client, and while it
/// waits for a slow client it waits here, not on a blocking thread that
/// other fetches need.
async fn stream_incident(cx: &Context, entry: Arc<Entry>, id: u64, offset: u64, chunk: usize) {
    let name = entry.info.name.clone();
    let failure = match send_file(&entry, id, offset, chunk, &cx.outbox).await {
        Ok(()) => return,
        Err(failure) => failure,
    };
    let (code, message) = match failure {
        Failure::Gone => {
            cx.state.index.remove(&name);
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
            (ErrorCode::Internal, why.to_string())
        }
        Failure::Stopped => return,
    };
    let _ = cx.outbox.send(error(Some(id), code, message)).await;
}

/// Why reading an incident file failed, for the log and the client.
#[derive(Debug, thiserror::Error)]
enum ReadFailure {
    #[error("cannot read the file: {0}")]
    Io(#[source] io::Error),
    #[error("the file shrank while its start was hashed")]
    Shrank,
    #[error("the file changed size while sent ({sent} of {size} bytes)")]
    SizeChanged { sent: u64, size: u64 },
    #[error("the reading task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
}

enum Failure {
    Gone,
    Offset {
        offset: u64,
        size: u64,
    },
    Internal(ReadFailure),
    /// The client left or the publisher is shutting down: say nothing more.
    Stopped,
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::NotFound {
            Failure::Gone
        } else {
            Failure::Internal(ReadFailure::Io(e))
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
        .unwrap_or_else(|join| Err(Failure::Internal(ReadFailure::Task(join))))
}

/// An open incident file, positioned where the next chunk starts.
struct Reading {
    file: File,
    size: u64,
    digest: FileDigest,
}

/// The file's SHA-256: known from an earlier fetch (files never change once
/// finished), or being computed over every byte up to the position.
enum FileDigest {
    Known([u8; 32]),
    Hashing(Sha256),
}

impl Reading {
    /// Opens the file at `offset`, hashing what comes before it if the
    /// digest is not known yet.
    fn open(
        path: PathBuf,
        offset: u64,
        known: Option<[u8; 32]>,
        chunk: usize,
    ) -> Result<Reading, Failure> {
        let mut file = File::open(path)?;
        let size = file.metadata()?.len();
        if offset > size {
            return Err(Failure::Offset { offset, size });
        }
        let mut digest =
            known.map_or_else(|| FileDigest::Hashing(Sha256::new()), FileDigest::Known);
        if let FileDigest::Hashing(h) = &mut digest {
            let mut buf = vec![0u8; chunk];
            let mut left = offset;
            while left > 0 {
                let n = read_full(&mut file, &mut buf[..(left.min(chunk as u64) as usize)])?;
                if n == 0 {
                    return Err(Failure::Internal(ReadFailure::Shrank));
                }
                h.update(&buf[..n]);
                left -= n as u64;
            }
        }
        file.seek(SeekFrom::Start(offset))?;
        Ok(Reading { file, size, digest })
    }

    /// The next at most `chunk` bytes; empty at the end of the file.
    fn next_chunk(&mut self, chunk: usize) -> Result<Vec<u8>, Failure> {
        let mut data = vec![0u8; chunk];
        let n = read_full(&mut self.file, &mut data)?;
        data.truncate(n);
        if let FileDigest::Hashing(h) = &mut self.digest {
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
    let known = entry.digest.get().copied();
    let mut reading = blocking(move || Reading::open(path, offset, known, chunk)).await?;
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
        return Err(Failure::Internal(ReadFailure::SizeChanged {
            sent: at,
            size,
        }));
    }
    let digest = match reading.digest {
        FileDigest::Known(digest) => digest,
        FileDigest::Hashing(h) => *entry.digest.get_or_init(|| h.finalize().into()),
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

#[cfg(test)]
mod tests {
    use flog_wire::{ErrorCode, Op, Reply};
    use sha2::{Digest, Sha256};

    use crate::op::testing::Harness;

    fn get(name: &str, offset: u64) -> Op {
        Op::GetIncident {
            name: name.into(),
            offset,
            chunk_size: Some(1024),
        }
    }

    /// Chunks until `incident_done`: the data and the digest.
    async fn fetched(h: &mut Harness, id: u64, from: usize) -> (Vec<u8>, Vec<u8>) {
        let mut data = Vec::new();
        loop {
            match h.reply(id).await {
                Reply::IncidentChunk {
                    offset, data: d, ..
                } => {
                    assert_eq!(offset as usize, from + data.len());
                    data.extend_from_slice(&d);
                }
                Reply::IncidentDone { size, sha256, .. } => {
                    assert_eq!(size as usize, from + data.len());
                    return (data, sha256.into_vec());
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn whole_and_resumed_fetches_carry_the_file_and_its_digest() {
        let mut h = Harness::new().await;
        let name = h.incident("fetched");
        let file = std::fs::read(h.file(&name)).unwrap();
        h.apply(1, get(&name, 0)).await;
        let (data, digest) = fetched(&mut h, 1, 0).await;
        assert_eq!(data, file);
        assert_eq!(digest, Sha256::digest(&file).to_vec());
        // Resumed, with the digest now known: the rest, the same digest.
        h.apply(2, get(&name, 10)).await;
        let (rest, again) = fetched(&mut h, 2, 10).await;
        assert_eq!((rest.as_slice(), again), (&file[10..], digest));
    }

    #[tokio::test]
    async fn bad_names_missing_files_and_offsets_past_the_end_are_errors() {
        let mut h = Harness::new().await;
        let name = h.incident("x");
        let size = std::fs::metadata(h.file(&name)).unwrap().len();
        h.apply(1, get("../../etc/passwd", 0)).await;
        assert_eq!(h.error().await, (Some(1), ErrorCode::BadName));
        h.apply(2, get("incident-2000-01-01T00-00-00.000000Z-0000", 0))
            .await;
        assert_eq!(h.error().await, (Some(2), ErrorCode::UnknownIncident));
        h.apply(3, get(&name, size + 1)).await;
        assert_eq!(h.error().await, (Some(3), ErrorCode::TooLarge));
        std::fs::remove_file(h.file(&name)).unwrap();
        h.apply(4, get(&name, 0)).await;
        assert_eq!(h.error().await, (Some(4), ErrorCode::UnknownIncident));
    }
}

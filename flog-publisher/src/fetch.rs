use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

use flog_wire::{ErrorCode, Reply};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::index::Entry;
use crate::server::Shared;
use crate::session::{error, response, Outbox};

/// Streams an incident file as chunks from `offset`, then its SHA-256.
///
/// Runs on a blocking thread: file reads and hashing are blocking work, and
/// `blocking_send` into the bounded outbox gives backpressure, so a fetch holds
/// one chunk in memory however large the file and however slow the client.
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
    let task_outbox = outbox.clone();
    let result = tokio::task::spawn_blocking(move || {
        send_file(&entry, id, offset, chunk, &task_outbox, &cancel)
    })
    .await;
    let failure = match result {
        Ok(Ok(())) => return,
        Ok(Err(failure)) => failure,
        Err(join) => Failure::Internal(format!("fetch task failed: {join}")),
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

fn send_file(
    entry: &Entry,
    id: u64,
    offset: u64,
    chunk: usize,
    outbox: &Outbox,
    cancel: &CancellationToken,
) -> Result<(), Failure> {
    let mut file = File::open(&entry.path)?;
    let size = file.metadata()?.len();
    if offset > size {
        return Err(Failure::Offset { offset, size });
    }
    // Incident files never change once finished, so the digest is computed once.
    let mut hasher = entry.digest.get().is_none().then(Sha256::new);
    let mut buf = vec![0u8; chunk];
    if let Some(h) = hasher.as_mut() {
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
    let mut at = offset;
    loop {
        if cancel.is_cancelled() {
            return Err(Failure::Stopped);
        }
        let n = read_full(&mut file, &mut buf)?;
        if n == 0 {
            break;
        }
        if let Some(h) = hasher.as_mut() {
            h.update(&buf[..n]);
        }
        let reply = Reply::IncidentChunk {
            name: entry.info.name.clone(),
            offset: at,
            data: ByteBuf::from(buf[..n].to_vec()),
            total_size: size,
        };
        outbox
            .blocking_send(response(id, reply))
            .map_err(|_| Failure::Stopped)?;
        at += n as u64;
    }
    if at != size {
        return Err(Failure::Internal(format!(
            "file changed size while sent ({at} of {size} bytes)"
        )));
    }
    let digest = match hasher {
        Some(h) => *entry.digest.get_or_init(|| h.finalize().into()),
        None => *entry.digest.get().expect("checked above"),
    };
    let done = Reply::IncidentDone {
        name: entry.info.name.clone(),
        size,
        sha256: ByteBuf::from(digest.to_vec()),
    };
    outbox
        .blocking_send(response(id, done))
        .map_err(|_| Failure::Stopped)
}

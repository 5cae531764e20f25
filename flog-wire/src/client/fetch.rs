//! Fetching incident files in chunks, with resume and digest verification.

use std::io;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::timeout;

use super::error::{ClientError, ProtocolError};
use super::router::Pending;
use super::LogportClient;
use crate::message::{Op, Reply};
use crate::url::is_valid_incident_name;

/// Chunks the reader task may queue ahead of the writer of a fetch; beyond
/// that it waits, and TCP flow control slows the publisher.
const CHUNKS_IN_FLIGHT: usize = 4;

/// Room in a chunk's frame for everything but its data: the longest valid
/// name, field names and integers take well under this.
pub(super) const CHUNK_FRAME_OVERHEAD: usize = 1024;

/// Where a fetch starts: how many bytes of the incident file the caller
/// already holds, and the SHA-256 state over them.
///
/// The publisher's digest covers the whole file, so resuming needs the hash
/// of the prefix too; a `ResumePoint` carries it so the client never reads
/// back what the caller wrote.
#[derive(Debug, Clone, Default)]
pub struct ResumePoint {
    offset: u64,
    hasher: Sha256,
    /// The size a listing gave for the file, to hold the stream to.
    listed_size: Option<u64>,
}

impl ResumePoint {
    /// Fetch the whole file, from byte 0.
    pub fn start() -> Self {
        Self::default()
    }

    /// Resume after `prefix`, the first bytes of the file.
    pub fn from_bytes(prefix: &[u8]) -> Self {
        let mut point = Self::start();
        point.update(prefix);
        point
    }

    /// Resume after everything `reader` yields until its end, e.g. the
    /// partial file opened for reading and appending: afterwards the file is
    /// positioned at its end, ready for [`LogportClient::resume_incident_to`].
    pub async fn from_reader<R: AsyncRead + Unpin + ?Sized>(reader: &mut R) -> io::Result<Self> {
        let mut point = Self::start();
        let mut buf = vec![0; 64 * 1024];
        loop {
            let n = reader.read(&mut buf).await?;
            if n == 0 {
                return Ok(point);
            }
            point.update(&buf[..n]);
        }
    }

    /// The size a listing gave for the file ([`IncidentInfo::size`](crate::IncidentInfo::size)):
    /// a publisher streaming any other size is refused with
    /// [`ClientError::SizeMismatch`] before a byte of it is written, since
    /// incident files never change once listed.
    #[must_use]
    pub fn expect_size(mut self, size: u64) -> Self {
        self.listed_size = Some(size);
        self
    }

    /// How many bytes of the file are already held.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.offset += bytes.len() as u64;
    }
}

/// A fetched and verified incident file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedIncident {
    /// The incident's name.
    pub name: String,
    /// The size of the whole file.
    pub size: u64,
    /// SHA-256 of the whole file, verified.
    pub sha256: [u8; 32],
}

impl LogportClient {
    /// Fetches a whole incident file into `out`, chunk by chunk, and verifies
    /// its SHA-256. The file is never held in memory whole.
    ///
    /// On any error `out` may hold part of the file, possibly corrupt: write
    /// to a temporary file and rename it after success.
    ///
    /// Chunks are handed over with backpressure, so poll the fetch to its end
    /// or drop it: one that is neither holds up every other reply on the
    /// connection.
    pub async fn get_incident_to<W: AsyncWrite + Unpin + ?Sized>(
        &self,
        name: &str,
        out: &mut W,
    ) -> Result<FetchedIncident, ClientError> {
        self.resume_incident_to(name, ResumePoint::start(), out)
            .await
    }

    /// Fetches the rest of an incident file after `from` into `out`, and
    /// verifies the SHA-256 of the whole file, prefix included.
    ///
    /// ```no_run
    /// # async fn example(client: &flog_wire::LogportClient) -> Result<(), Box<dyn std::error::Error>> {
    /// use flog_wire::ResumePoint;
    ///
    /// let mut file = tokio::fs::OpenOptions::new()
    ///     .read(true)
    ///     .append(true)
    ///     .create(true)
    ///     .open("incident-x.partial")
    ///     .await?;
    /// let from = ResumePoint::from_reader(&mut file).await?;
    /// let fetched = client.resume_incident_to("incident-x", from, &mut file).await?;
    /// println!("{} bytes", fetched.size);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn resume_incident_to<W: AsyncWrite + Unpin + ?Sized>(
        &self,
        name: &str,
        from: ResumePoint,
        out: &mut W,
    ) -> Result<FetchedIncident, ClientError> {
        if !is_valid_incident_name(name) {
            return Err(ClientError::InvalidIncidentName(name.to_string()));
        }
        let (tx, mut rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
        let op = Op::GetIncident {
            name: name.to_string(),
            offset: from.offset,
            chunk_size: self.options.fetch_chunk_size(),
        };
        let _pending = self.shared.start_request(Pending::Stream(tx), op)?;
        let mut transfer = Transfer {
            name,
            position: from.offset,
            total_size: None,
            from,
        };
        loop {
            // The timeout bounds the silence between chunks, not the
            // transfer, whose length depends on the file.
            let reply = match timeout(self.options.request_timeout, rx.recv()).await {
                Err(_) => {
                    return Err(ClientError::Timeout {
                        operation: "get_incident",
                    })
                }
                Ok(None) => return Err(self.shared.closed_error()),
                Ok(Some(reply)) => reply?,
            };
            match reply {
                Reply::IncidentChunk {
                    name,
                    offset,
                    data,
                    total_size,
                } => {
                    transfer.check_chunk(&name, offset, data.len(), total_size)?;
                    out.write_all(&data).await?;
                    transfer.from.update(&data);
                    transfer.position += data.len() as u64;
                }
                Reply::IncidentDone { name, size, sha256 } => {
                    out.flush().await?;
                    return transfer.done(&name, size, &sha256);
                }
                other => return Err(super::unexpected("get_incident", &other)),
            }
        }
    }

    /// Fetches a whole incident file into memory and verifies it.
    pub async fn get_incident_bytes(&self, name: &str) -> Result<Vec<u8>, ClientError> {
        let mut bytes = Vec::new();
        self.get_incident_to(name, &mut bytes).await?;
        Ok(bytes)
    }
}

/// One fetch in progress: what the chunks so far said and hashed.
struct Transfer<'a> {
    name: &'a str,
    /// The bytes held, resumed prefix included, and their hash.
    from: ResumePoint,
    position: u64,
    total_size: Option<u64>,
}

impl Transfer<'_> {
    fn check_listed(&self, streamed: u64) -> Result<(), ClientError> {
        match self.from.listed_size {
            Some(listed) if listed != streamed => Err(ClientError::SizeMismatch {
                name: self.name.to_string(),
                listed,
                streamed,
            }),
            _ => Ok(()),
        }
    }

    /// Checks a chunk before any of it is written.
    fn check_chunk(
        &mut self,
        name: &str,
        offset: u64,
        len: usize,
        total: u64,
    ) -> Result<(), ClientError> {
        check_name(self.name, name)?;
        self.check_listed(total)?;
        let name = self.name.to_string();
        if offset != self.position {
            let expected = self.position;
            return Err(ProtocolError::ChunkOutOfOrder {
                name,
                offset,
                expected,
            }
            .into());
        }
        if *self.total_size.get_or_insert(total) != total {
            return Err(ProtocolError::SizeChanged(name).into());
        }
        match self.position.checked_add(len as u64) {
            Some(end) if end <= total => Ok(()),
            _ => Err(ProtocolError::ChunkPastEnd { name, size: total }.into()),
        }
    }

    /// Checks the end of the transfer and the digest over the whole file.
    fn done(self, name: &str, size: u64, sha256: &[u8]) -> Result<FetchedIncident, ClientError> {
        check_name(self.name, name)?;
        self.check_listed(size)?;
        let name = self.name.to_string();
        if size != self.position || self.total_size.is_some_and(|total| total != size) {
            let ended = self.position;
            return Err(ProtocolError::EndedEarly { name, size, ended }.into());
        }
        let expected: [u8; 32] = sha256
            .try_into()
            .map_err(|_| ProtocolError::DigestLength(sha256.len()))?;
        let actual: [u8; 32] = self.from.hasher.finalize().into();
        if actual != expected {
            return Err(ClientError::DigestMismatch {
                name,
                expected,
                actual,
            });
        }
        Ok(FetchedIncident {
            name,
            size,
            sha256: actual,
        })
    }
}

fn check_name(requested: &str, received: &str) -> Result<(), ClientError> {
    if requested == received {
        Ok(())
    } else {
        Err(ProtocolError::WrongIncident {
            requested: requested.to_string(),
            received: received.to_string(),
        }
        .into())
    }
}

//! Length-delimited CBOR frames.

use std::io;

use bytes::{Buf, BufMut, BytesMut};
use serde::Deserialize;
use tokio_util::codec::{Decoder, Encoder};

use crate::error::{DecodeError, EncodeError, WireError};
use crate::message::Message;

/// The default largest frame body, in bytes: 8 MiB.
pub const DEFAULT_MAX_FRAME: usize = 8 * 1024 * 1024;

/// Bytes in the big-endian length prefix of every frame.
const PREFIX_LEN: usize = 4;

/// Levels of nested arrays and maps the decoder follows into a frame, also
/// inside unknown fields it skips. Messages nest six deep at most; the
/// limit keeps a hostile frame from recursing the decoder off its stack.
pub(crate) const MAX_DEPTH: usize = 64;

/// The protocol's codec: a 4-byte big-endian length, then that many bytes
/// holding one CBOR-encoded [`Message`].
///
/// Lengths above the maximum frame size are refused in both directions. An
/// incoming one is refused before any of the body is buffered, so a peer
/// cannot make us allocate more than the maximum.
#[derive(Debug, Clone)]
pub struct FlogCodec {
    max_frame: usize,
    max_incoming: usize,
}

impl FlogCodec {
    /// A codec with the [`DEFAULT_MAX_FRAME`].
    pub fn new() -> Self {
        Self::with_max_frame(DEFAULT_MAX_FRAME)
    }

    /// A codec that refuses frame bodies longer than `max_frame` bytes in
    /// both directions (capped at `u32::MAX`, the most the prefix can express).
    pub fn with_max_frame(max_frame: usize) -> Self {
        let max_frame = max_frame.min(u32::MAX as usize);
        Self {
            max_frame,
            max_incoming: max_frame,
        }
    }

    /// Refuses incoming frame bodies longer than `max_incoming` bytes, a
    /// limit of its own: a publisher expects only small requests and need
    /// not buffer a peer's large frames.
    ///
    /// ```
    /// use flog_wire::FlogCodec;
    ///
    /// let codec = FlogCodec::new().with_max_incoming(64 * 1024);
    /// assert_eq!(codec.max_incoming(), 64 * 1024);
    /// assert_eq!(codec.max_frame(), flog_wire::DEFAULT_MAX_FRAME);
    /// ```
    #[must_use]
    pub fn with_max_incoming(mut self, max_incoming: usize) -> Self {
        self.max_incoming = max_incoming.min(u32::MAX as usize);
        self
    }

    /// The largest frame body this codec sends, and accepts unless
    /// [`with_max_incoming`](Self::with_max_incoming) said otherwise, in bytes.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// The largest frame body this codec accepts, in bytes.
    pub fn max_incoming(&self) -> usize {
        self.max_incoming
    }
}

impl Default for FlogCodec {
    fn default() -> Self {
        Self::new()
    }
}

/// One decoded frame: a message, or a well-framed body that is not one.
///
/// Malformed frames are items rather than decoder errors because
/// `tokio_util`'s `Framed` ends the stream after any decoder error, and a
/// malformed message must not end the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A message.
    Message(Message),
    /// A complete frame whose body is not a valid message.
    Malformed {
        /// What the CBOR decoder objected to.
        error: DecodeError,
        /// The `id` of the request or response in the frame, if readable.
        request_id: Option<u64>,
    },
}

impl Decoder for FlogCodec {
    type Item = Decoded;
    type Error = WireError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Decoded>, WireError> {
        let Some(prefix) = src.first_chunk::<PREFIX_LEN>() else {
            return Ok(None);
        };
        // u32 always fits in usize on the 32- and 64-bit targets tokio supports.
        let len = u32::from_be_bytes(*prefix) as usize;
        if len > self.max_incoming {
            return Err(WireError::FrameTooLarge {
                len,
                max: self.max_incoming,
            });
        }
        let frame_len = PREFIX_LEN + len;
        if src.len() < frame_len {
            // Reserving only now, after the length check, bounds what a peer
            // can make us allocate by the maximum frame size.
            src.reserve(frame_len - src.len());
            return Ok(None);
        }
        let decoded = decode_body(&src[PREFIX_LEN..frame_len]);
        src.advance(frame_len);
        Ok(Some(decoded))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Decoded>, WireError> {
        match self.decode(src)? {
            Some(decoded) => Ok(Some(decoded)),
            None if src.is_empty() => Ok(None),
            None => Err(WireError::TruncatedFrame {
                buffered: src.len(),
            }),
        }
    }
}

/// Decodes one frame body. Byte strings and texts are read as far as the
/// body goes, whatever length they claim (ciborium reads them in pieces), so
/// nothing beyond the frame is ever allocated; nesting stops at [`MAX_DEPTH`].
fn decode_body(body: &[u8]) -> Decoded {
    let mut rest = body;
    let error =
        match ciborium::de::from_reader_with_recursion_limit::<Message, _>(&mut rest, MAX_DEPTH) {
            Ok(message) if rest.is_empty() => return Decoded::Message(message),
            Ok(_) => DecodeError::TrailingBytes { count: rest.len() },
            Err(e) => decode_error(e),
        };
    Decoded::Malformed {
        error,
        request_id: probe_request_id(body),
    }
}

fn decode_error(e: ciborium::de::Error<io::Error>) -> DecodeError {
    use ciborium::de::Error;
    match e {
        // Reading from a slice fails only at its end.
        Error::Io(_) => DecodeError::Truncated,
        Error::Syntax(offset) => DecodeError::Syntax { offset },
        Error::Semantic(_, message) => DecodeError::Invalid { message },
        Error::RecursionLimitExceeded => DecodeError::TooDeep { max: MAX_DEPTH },
    }
}

/// Just enough of a request or response to read its id, ignoring everything
/// else, so that a peer can fail the one request instead of letting it time out.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum IdProbe {
    Request(HasId),
    Response(HasId),
}

#[derive(Deserialize)]
struct HasId {
    id: u64,
}

fn probe_request_id(body: &[u8]) -> Option<u64> {
    match ciborium::de::from_reader_with_recursion_limit::<IdProbe, _>(body, MAX_DEPTH).ok()? {
        IdProbe::Request(HasId { id }) | IdProbe::Response(HasId { id }) => Some(id),
    }
}

impl Encoder<&Message> for FlogCodec {
    type Error = WireError;

    fn encode(&mut self, message: &Message, dst: &mut BytesMut) -> Result<(), WireError> {
        let start = dst.len();
        // Most messages are small; large ones grow the buffer as they are written.
        dst.reserve(PREFIX_LEN + 64);
        // The length is not known until the body is written: write the body
        // straight into the buffer behind a placeholder prefix, then patch it,
        // instead of encoding into a scratch buffer and copying.
        dst.put_u32(0);
        let limit = start + PREFIX_LEN + self.max_frame;
        let mut writer = LimitedWriter {
            buf: &mut *dst,
            limit,
            exceeded: false,
        };
        let result = ciborium::into_writer(message, &mut writer);
        let exceeded = writer.exceeded;
        if let Err(e) = result {
            // Leave the buffer as it was, so the connection stays usable.
            dst.truncate(start);
            return Err(if exceeded {
                WireError::MessageTooLarge {
                    len: encoded_len(message),
                    max: self.max_frame,
                }
            } else {
                WireError::Encode(EncodeError(e))
            });
        }
        let len = dst.len() - start - PREFIX_LEN;
        // The limit above keeps len within max_frame, which fits in u32.
        let prefix = u32::try_from(len).map_err(|_| WireError::MessageTooLarge {
            len,
            max: self.max_frame,
        })?;
        dst[start..start + PREFIX_LEN].copy_from_slice(&prefix.to_be_bytes());
        Ok(())
    }
}

impl Encoder<Message> for FlogCodec {
    type Error = WireError;

    fn encode(&mut self, message: Message, dst: &mut BytesMut) -> Result<(), WireError> {
        self.encode(&message, dst)
    }
}

/// Writes into the frame buffer but refuses to grow it past the frame limit,
/// so that encoding an oversized message fails early instead of allocating it
/// whole.
struct LimitedWriter<'a> {
    buf: &'a mut BytesMut,
    limit: usize,
    exceeded: bool,
}

impl io::Write for LimitedWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() + data.len() > self.limit {
            self.exceeded = true;
            return Err(io::Error::other("frame size limit exceeded"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Counts the bytes of an encoding without keeping them, to report the size
/// of an oversized message.
#[derive(Default)]
struct CountingWriter(usize);

impl io::Write for CountingWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0 += data.len();
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn encoded_len(message: &Message) -> usize {
    let mut counter = CountingWriter::default();
    // Counting cannot fail where writing into memory succeeded up to the limit.
    let _ = ciborium::into_writer(message, &mut counter);
    counter.0
}

#[cfg(test)]
mod tests;

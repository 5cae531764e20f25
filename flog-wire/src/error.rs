//! Errors of the framing layer.

use std::io;

/// Why a frame could not be read or written.
///
/// [`is_recoverable`](WireError::is_recoverable) tells the two kinds apart:
/// a recoverable error concerns one message and the connection goes on; any
/// other error means the byte stream can no longer be trusted and the
/// connection must be closed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// Reading from or writing to the socket failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),

    /// An incoming length prefix exceeds the maximum frame size. The stream
    /// is corrupt or hostile, so nothing of it was buffered.
    #[error("incoming frame of {len} bytes exceeds the maximum of {max} bytes")]
    FrameTooLarge {
        /// The length the prefix announced.
        len: usize,
        /// The codec's maximum frame size.
        max: usize,
    },

    /// The peer closed the connection in the middle of a frame.
    #[error("connection closed in the middle of a frame ({buffered} bytes of it received)")]
    TruncatedFrame {
        /// How many bytes of the unfinished frame had arrived.
        buffered: usize,
    },

    /// A complete frame did not hold a message we understand. The framing is
    /// intact, so the connection can go on; a publisher answers with
    /// [`ErrorCode::Malformed`](crate::ErrorCode::Malformed).
    #[error("malformed message: {error}")]
    Malformed {
        /// What the CBOR decoder objected to.
        error: DecodeError,
        /// The `id` of the request or response in the frame, if it could
        /// still be read, so that the failure can be matched to a request.
        request_id: Option<u64>,
    },

    /// An outgoing message encodes to more than the maximum frame size.
    /// Nothing was written, so the connection can go on.
    #[error("outgoing message of {len} bytes exceeds the maximum frame of {max} bytes")]
    MessageTooLarge {
        /// The encoded size of the message.
        len: usize,
        /// The codec's maximum frame size.
        max: usize,
    },

    /// A message could not be encoded as CBOR.
    #[error("cannot encode message: {0}")]
    Encode(#[source] EncodeError),

    /// An earlier unrecoverable error broke this connection.
    #[error("connection already failed")]
    Failed,
}

impl WireError {
    /// Whether the connection can still be used after this error.
    pub fn is_recoverable(&self) -> bool {
        matches!(
            self,
            WireError::Malformed { .. } | WireError::MessageTooLarge { .. } | WireError::Encode(_)
        )
    }
}

/// Why a complete frame's body is not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body holds a message and then more bytes.
    #[error("{count} bytes after the end of the message")]
    TrailingBytes {
        /// How many bytes follow the message.
        count: usize,
    },
    /// The body ends inside an item: a length claims more than the frame
    /// holds, or the item is cut short.
    #[error("the message ends early: a length claims more than the frame holds")]
    Truncated,
    /// The bytes are not valid CBOR.
    #[error("invalid CBOR at byte {offset}")]
    Syntax {
        /// Where in the body.
        offset: usize,
    },
    /// Items nest deeper than the decoder follows.
    #[error("the message nests deeper than {max} levels")]
    TooDeep {
        /// The most levels followed.
        max: usize,
    },
    /// Valid CBOR that is not a message of this protocol (an unknown
    /// variant, a missing field, a wrong type).
    #[error("{message}")]
    Invalid {
        /// The decoder's description, e.g. ``unknown variant `teleport` ``.
        message: String,
    },
}

/// Why a message could not be encoded (the CBOR encoder's own failure; a
/// message too large for a frame is [`WireError::MessageTooLarge`]).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct EncodeError(#[from] pub(crate) ciborium::ser::Error<io::Error>);

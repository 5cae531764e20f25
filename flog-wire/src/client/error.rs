//! Why a client operation failed.

use data_encoding::HEXLOWER;
use std::io;

use crate::error::{DecodeError, WireError};
use crate::message::ErrorCode;
use crate::transport::TransportError;

/// Why a [`LogportClient`](crate::LogportClient) operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The connection could not be made or secured: the TCP connect, or
    /// the TLS handshake, e.g. [`TransportError::KeyMismatch`] when the
    /// publisher holds another key than the URL names (nothing was sent).
    #[error(transparent)]
    Transport(#[from] TransportError),

    /// Reading or writing failed, e.g. writing a fetched incident.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),

    /// A frame could not be sent or received.
    #[error(transparent)]
    Wire(#[from] WireError),

    /// The publisher answered with an error.
    #[error("the publisher refused: {code}: {message}")]
    Remote {
        /// What kind of failure.
        code: ErrorCode,
        /// The publisher's explanation.
        message: String,
    },

    /// The publisher broke the protocol, e.g. sent chunks out of order.
    #[error("protocol violation by the publisher: {0}")]
    Protocol(#[from] ProtocolError),

    /// No answer came within the configured time.
    #[error("{operation} timed out")]
    Timeout {
        /// What was being waited for, e.g. `connect` or `get_pid`.
        operation: &'static str,
    },

    /// A fetched incident's bytes do not hash to the digest the publisher
    /// sent. Whatever was written must be discarded.
    #[error(
        "incident {name} arrived corrupt: its SHA-256 is {} but the publisher says {}",
        HEXLOWER.encode_display(actual),
        HEXLOWER.encode_display(expected)
    )]
    DigestMismatch {
        /// The incident's name.
        name: String,
        /// The digest the publisher sent.
        expected: [u8; 32],
        /// The digest of the bytes received (and of the resumed prefix).
        actual: [u8; 32],
    },

    /// The publisher streamed an incident of another size than its listing
    /// gave (see [`ResumePoint::expect_size`](crate::ResumePoint::expect_size));
    /// nothing of the stream was written.
    #[error("incident {name} was listed with {listed} bytes but is streamed with {streamed}")]
    SizeMismatch {
        /// The incident's name.
        name: String,
        /// The size in the listing.
        listed: u64,
        /// The size the stream announced.
        streamed: u64,
    },

    /// The logport answered for a different publisher than the URL names.
    #[error("expected publisher {expected:?} but the logport belongs to {actual:?}")]
    PublisherMismatch {
        /// The publisher id in the URL.
        expected: String,
        /// The publisher id in the welcome.
        actual: String,
    },

    /// The incident name is not valid, so it was not sent.
    #[error("invalid incident name {0:?}")]
    InvalidIncidentName(String),

    /// The connection is gone; every pending and later operation fails so.
    #[error("connection closed: {reason}")]
    Closed {
        /// Why, e.g. the publisher's goodbye.
        reason: String,
    },
}

/// How a publisher broke the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The first frame was not a welcome.
    #[error("expected a welcome, got {0}")]
    NotWelcome(&'static str),
    /// The welcome chose a version the hello did not offer.
    #[error("the publisher chose protocol version {0}, which we did not offer")]
    UnofferedVersion(u32),
    /// A reply of the wrong kind for its request.
    #[error("unexpected {reply} reply to {operation}")]
    UnexpectedReply {
        /// The request, e.g. `get_pid`.
        operation: &'static str,
        /// The reply's variant.
        reply: &'static str,
    },
    /// An empty page of a listing said more follow.
    #[error("an empty page of incidents claims more follow")]
    EmptyPageWithMore,
    /// A page of a listing did not get past the previous one.
    #[error("the page after {0} did not advance")]
    PageDidNotAdvance(String),
    /// The chunks of a fetch answered another incident.
    #[error("asked for {requested} but received {received}")]
    WrongIncident {
        /// The incident fetched.
        requested: String,
        /// The name in the chunk.
        received: String,
    },
    /// A chunk did not start where the previous one ended.
    #[error("chunk of {name} starts at {offset}, expected {expected}")]
    ChunkOutOfOrder {
        /// The incident.
        name: String,
        /// Where the chunk starts.
        offset: u64,
        /// Where it should.
        expected: u64,
    },
    /// The total size changed between chunks.
    #[error("the size of {0} changed during the transfer")]
    SizeChanged(String),
    /// A chunk reached past the announced size.
    #[error("chunk of {name} runs past its size of {size} bytes")]
    ChunkPastEnd {
        /// The incident.
        name: String,
        /// The announced size.
        size: u64,
    },
    /// The transfer ended elsewhere than the announced size.
    #[error("{name} is {size} bytes, but the transfer ended at {ended}")]
    EndedEarly {
        /// The incident.
        name: String,
        /// The announced size.
        size: u64,
        /// Where the chunks ended.
        ended: u64,
    },
    /// A SHA-256 of the wrong length.
    #[error("a SHA-256 has 32 bytes, not {0}")]
    DigestLength(usize),
    /// A reply that could not be decoded.
    #[error("undecodable reply: {0}")]
    Undecodable(DecodeError),
}

//! The logport protocol of flog, the flight recorder for services.
//!
//! A publisher serves its incidents and live events on a *logport*; gatherers
//! and the command line connect to it as clients. Both ends speak one
//! [`Message`] type, sent as CBOR in length-delimited frames by
//! [`FlogCodec`]. A [`Connection`] wraps a socket so that handlers read and
//! write whole messages, and [`LogportClient`] is the client side, with
//! pipelined requests, chunked and resumable incident fetches, and
//! subscriptions. `docs/protocol.md` specifies the protocol for other
//! implementations.
//!
//! Connections are TLS 1.3 with the server's key pinned in the URL
//! (`flogs://KEY@HOST:PORT/ID/SECRET`), or plaintext only when asked for
//! explicitly (`flog+insecure://`). [`TlsKey`] and [`KeyFile`] hold a
//! server's long-lived key, [`Connector`] and [`Acceptor`] turn TCP
//! connections into [`Stream`]s for a [`Connection`]; [`LogportClient`]
//! connects through [`Connector`], so it checks the key before it sends
//! anything. [`Backoff`] spaces out retries, for gatherers polling
//! publishers and publishers dialing out to gatherers.
//!
//! Events travel as [`EncodedEvent`]s, opaque CBOR that `flog-core` decodes,
//! so this crate depends on no other part of flog.
//!
//! # Example
//!
//! ```
//! use flog_wire::{Connection, Message, Op, Reply, Request, Response};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), flog_wire::WireError> {
//! let (client_end, publisher_end) = tokio::io::duplex(64 * 1024);
//! let mut client = Connection::new(client_end);
//! let mut publisher = Connection::new(publisher_end);
//!
//! client
//!     .write_message(&Request { id: 1, op: Op::GetPid }.into())
//!     .await?;
//!
//! let request = match publisher.read_message().await? {
//!     Some(Message::Request(request)) => request,
//!     other => panic!("expected a request, got {other:?}"),
//! };
//! let reply = Response { id: request.id, reply: Reply::Pid { pid: 4242 } };
//! publisher.write_message(&reply.into()).await?;
//!
//! let answer = client.read_message().await?;
//! assert_eq!(
//!     answer,
//!     Some(Message::Response(Response { id: 1, reply: Reply::Pid { pid: 4242 } }))
//! );
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod backoff;
mod client;
mod codec;
mod connection;
mod error;
mod fingerprint;
mod message;
#[cfg(test)]
mod testing;
mod tls;
mod transport;
mod url;

pub use crate::backoff::Backoff;
pub use crate::client::{
    ClientError, ClientOptions, EventSubscription, EventUpdate, FetchedIncident, IncidentPage,
    IncidentSubscription, IncidentUpdate, LogportClient, ProtocolError, PushQueue, QueueLimits,
    ResumePoint, Snapshot, Subscription,
};
pub use crate::codec::{Decoded, FlogCodec, DEFAULT_MAX_FRAME};
pub use crate::connection::{Connection, MessageReader, MessageWriter};
pub use crate::error::{DecodeError, EncodeError, WireError};

pub use crate::fingerprint::{FingerprintError, KeyFingerprint};
pub use crate::message::{
    EncodedEvent, ErrorCode, ErrorMessage, EventOrigin, EventsDropped, Goodbye, Hello,
    IncidentCatchupDone, IncidentInfo, ListQuery, LogEvent, Message, NewIncident, Op, Register,
    Registered, Reply, Request, Response, SnapshotOutcome, SubscriptionEnded, Welcome,
    MAX_SNAPSHOT_REASON, PROTOCOL_VERSION, SUPPORTED_VERSIONS,
};
pub use crate::tls::{KeyError, KeyFile, KeyFileError, Rotation, ServerTls, TlsKey, WritePrivate};
pub use crate::transport::{
    Acceptor, Connector, PeerRole, Stream, TransportError, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_HANDSHAKE_TIMEOUT,
};
pub use crate::url::{
    is_valid_incident_name, is_valid_publisher_id, LogportUrl, Redacted, Security, UrlError,
    MAX_INCIDENT_NAME_LEN, MAX_PUBLISHER_ID_LEN, MAX_SECRET_LEN,
};

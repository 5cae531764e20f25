//! The protocol's one message type, shared by publisher and client.
//!
//! Every enum is externally tagged with snake_case names, so on the wire a
//! variant with fields is a one-entry CBOR map `{name: fields}` and a variant
//! without fields is the text string `name`. Unknown fields are ignored so
//! that a later protocol version can add optional fields without a version
//! bump. `docs/protocol.md` spells out every shape.

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

mod unit_variant;

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Every protocol version this crate can speak, offered in [`Hello::versions`].
pub const SUPPORTED_VERSIONS: &[u32] = &[PROTOCOL_VERSION];

/// One event record, CBOR-encoded as the flogfile format defines it.
///
/// The wire treats events as opaque bytes so that this crate need not know
/// the event schema; `flog-core` decodes them. The bytes are shared
/// ([`Bytes`]): a publisher sends one encoding of an event to every
/// subscriber without copying it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EncodedEvent(Bytes);

impl EncodedEvent {
    /// Wraps the CBOR encoding of one event record.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Bytes::from(bytes))
    }

    /// The CBOR encoding of the event record.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The encoding as shared bytes: a cheap handle, not a copy.
    pub fn shared(&self) -> Bytes {
        self.0.clone()
    }

    /// Unwraps the CBOR encoding of the event record (copied only if the
    /// bytes are shared).
    pub fn into_bytes(self) -> Vec<u8> {
        Vec::from(self.0)
    }
}

impl From<Vec<u8>> for EncodedEvent {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

impl From<Bytes> for EncodedEvent {
    fn from(bytes: Bytes) -> Self {
        Self(bytes)
    }
}

impl Serialize for EncodedEvent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for EncodedEvent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ByteBuf::deserialize(d).map(|b| EncodedEvent::new(b.into_vec()))
    }
}

/// A frame's content: every message either end can send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Message {
    /// Client → publisher, the first frame of every connection.
    Hello(Hello),
    /// Publisher → client, the answer to a good [`Hello`].
    Welcome(Welcome),
    /// Client → publisher: perform an operation.
    Request(Request),
    /// Publisher → client: one reply to a [`Request`].
    Response(Response),
    /// Publisher → client: a request, or the connection, failed.
    Error(ErrorMessage),
    /// Push: an incident was recorded (or is being caught up on).
    NewIncident(NewIncident),
    /// Push: every incident that existed at subscription time was sent.
    IncidentCatchupDone(IncidentCatchupDone),
    /// Push: one log event.
    LogEvent(LogEvent),
    /// Push: pushes were discarded because the subscriber fell behind.
    EventsDropped(EventsDropped),
    /// Push: the publisher ended a subscription.
    SubscriptionEnded(SubscriptionEnded),
    /// Publisher → client: the publisher is shutting down; the last frame.
    Goodbye(Goodbye),
    /// Publisher → gatherer, the first frame of a connection the publisher
    /// dialed out (`docs/protocol.md` §12.6).
    Register(Register),
    /// Gatherer → publisher, the answer to a good [`Register`]; the
    /// gatherer's [`Hello`] follows, and the session of §5 runs with the
    /// gatherer as the client.
    Registered(Registered),
}

impl Message {
    /// The variant's name as it appears on the wire, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Message::Hello(_) => "hello",
            Message::Welcome(_) => "welcome",
            Message::Request(_) => "request",
            Message::Response(_) => "response",
            Message::Error(_) => "error",
            Message::NewIncident(_) => "new_incident",
            Message::IncidentCatchupDone(_) => "incident_catchup_done",
            Message::LogEvent(_) => "log_event",
            Message::EventsDropped(_) => "events_dropped",
            Message::SubscriptionEnded(_) => "subscription_ended",
            Message::Goodbye(_) => "goodbye",
            Message::Register(_) => "register",
            Message::Registered(_) => "registered",
        }
    }
}

macro_rules! impl_from_variant {
    ($($variant:ident),* $(,)?) => {
        $(
            impl From<$variant> for Message {
                fn from(message: $variant) -> Self {
                    Message::$variant(message)
                }
            }
        )*
    };
}

impl_from_variant!(
    Hello,
    Welcome,
    Request,
    Response,
    NewIncident,
    IncidentCatchupDone,
    LogEvent,
    EventsDropped,
    SubscriptionEnded,
    Goodbye,
    Register,
    Registered,
);

impl From<ErrorMessage> for Message {
    fn from(message: ErrorMessage) -> Self {
        Message::Error(message)
    }
}

/// The client's opening frame.
///
/// `Debug` hides the secret, so a `Hello` can be logged.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Protocol versions the client speaks, in any order.
    pub versions: Vec<u32>,
    /// The secret from the logport URL.
    pub secret: String,
    /// The client's agent name and version, e.g. `flog-gatherer/0.1.0`.
    pub client: String,
}

impl fmt::Debug for Hello {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hello")
            .field("versions", &self.versions)
            .field("secret", &"<redacted>")
            .field("client", &self.client)
            .finish()
    }
}

/// A dialing-out publisher's opening frame: who it is, and the gatherer's
/// registration secret. Its key was proven in the TLS handshake.
///
/// `Debug` hides the secret, so a `Register` can be logged.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Register {
    /// Protocol versions the publisher speaks, in any order.
    pub versions: Vec<u32>,
    /// The registration secret from the gatherer's URL.
    pub secret: String,
    /// The publisher's id, as in its own logport URL.
    pub publisher_id: String,
    /// The publisher's agent name and version, e.g. `flog-publisher/0.1.0`.
    pub client: String,
}

impl fmt::Debug for Register {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Register")
            .field("versions", &self.versions)
            .field("secret", &"<redacted>")
            .field("publisher_id", &self.publisher_id)
            .field("client", &self.client)
            .finish()
    }
}

/// The gatherer's answer to a good [`Register`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    /// The protocol version chosen: the highest one both ends speak.
    pub version: u32,
    /// The gatherer's id, as in its URL.
    pub gatherer_id: String,
    /// The gatherer's agent name and version.
    pub server: String,
}

/// The publisher's answer to a good [`Hello`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// The protocol version chosen for this connection: the highest one both
    /// ends speak.
    pub version: u32,
    /// The publisher's id, as in its logport URL.
    pub publisher_id: String,
    /// The publishing process's id.
    pub pid: u32,
    /// Names and versions of the application and libraries in the process.
    pub versions: BTreeMap<String, String>,
    /// Identifies this run of the process: it changes on every restart.
    pub incarnation: String,
    /// The publisher's agent name and version.
    pub server: String,
    /// How long, in milliseconds, the publisher keeps a connection from which
    /// it receives no frame, subscribed or not; a client that wants to keep
    /// it sends `ping` well within this. Absent: no such limit is announced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_ms: Option<u64>,
}

/// A request; every reply to it carries the same `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Chosen by the client, unique among its outstanding requests.
    pub id: u64,
    /// What to do.
    pub op: Op,
}

/// An operation a client can request.
///
/// A unit variant may also arrive as
/// the one-entry map `{name: null}` (docs/protocol.md §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self", rename_all = "snake_case")]
pub enum Op {
    /// Answered by [`Reply::Versions`].
    GetVersions,
    /// Answered by [`Reply::Pid`].
    GetPid,
    /// Answered by one [`Reply::Incidents`] page.
    ListIncidents(ListQuery),
    /// Answered by zero or more [`Reply::IncidentChunk`]s, then one
    /// [`Reply::IncidentDone`].
    GetIncident {
        /// The incident's name, see [`is_valid_incident_name`](crate::is_valid_incident_name).
        name: String,
        /// Where in the incident file to start: 0, or the number of bytes the
        /// client already holds when resuming.
        offset: u64,
        /// The largest chunk the client wants; the publisher may send smaller ones.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        chunk_size: Option<u32>,
    },
    /// Answered by [`Reply::Subscribed`], then [`NewIncident`] pushes.
    SubscribeToIncidents {
        /// Whether to first push the incidents that already exist, followed
        /// by [`IncidentCatchupDone`].
        catch_up: bool,
        /// With `catch_up`, only push existing incidents named after this one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since_name: Option<String>,
    },
    /// Answered by [`Reply::Subscribed`], then [`LogEvent`] pushes.
    SubscribeToAll {
        /// Whether to first push the events currently held in the
        /// publisher's buffers.
        catch_up: bool,
    },
    /// Answered by [`Reply::Unsubscribed`]; no pushes follow it.
    Unsubscribe {
        /// The id from [`Reply::Subscribed`].
        subscription: u64,
    },
    /// Answered by [`Reply::Pong`].
    Ping,
    /// Asks the publisher to declare an incident now, its trigger carrying
    /// an operator's reason; answered by [`Reply::Snapshot`].
    Snapshot {
        /// Why, as the trigger's text; at most [`MAX_SNAPSHOT_REASON`] bytes.
        reason: String,
    },
}

/// The longest `snapshot` reason a publisher takes, in bytes: a sentence or
/// a paragraph, not a document (docs/protocol.md §6.5).
pub const MAX_SNAPSHOT_REASON: usize = 4096;

impl Op {
    /// The variant's name as it appears on the wire, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Op::GetVersions => "get_versions",
            Op::GetPid => "get_pid",
            Op::ListIncidents(_) => "list_incidents",
            Op::GetIncident { .. } => "get_incident",
            Op::SubscribeToIncidents { .. } => "subscribe_to_incidents",
            Op::SubscribeToAll { .. } => "subscribe_to_all",
            Op::Unsubscribe { .. } => "unsubscribe",
            Op::Ping => "ping",
            Op::Snapshot { .. } => "snapshot",
        }
    }
}

/// Which incidents [`Op::ListIncidents`] asks for; all filters combine.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ListQuery {
    /// Only incidents whose name sorts after this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_name: Option<String>,
    /// Only incidents triggered at or after this time, in microseconds since
    /// the Unix epoch (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_time: Option<i64>,
    /// At most this many incidents in one page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// One reply to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// The `id` of the request this answers.
    pub id: u64,
    /// The answer.
    pub reply: Reply,
}

/// The content of a [`Response`].
///
/// Decoded like [`Op`]: `{"pong": null}` is `"pong"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self", rename_all = "snake_case")]
pub enum Reply {
    /// Answers [`Op::GetVersions`].
    Versions {
        /// Names and versions of the application and libraries.
        versions: BTreeMap<String, String>,
    },
    /// Answers [`Op::GetPid`].
    Pid {
        /// The publishing process's id.
        pid: u32,
    },
    /// Answers [`Op::ListIncidents`], ascending by name.
    Incidents {
        /// This page of incidents.
        incidents: Vec<IncidentInfo>,
        /// Whether more incidents match: ask again with `since_name` set to
        /// the last name of this page.
        more: bool,
    },
    /// Part of the answer to [`Op::GetIncident`].
    IncidentChunk {
        /// The incident's name.
        name: String,
        /// Where in the file `data` starts; chunks are contiguous.
        offset: u64,
        /// The file's bytes from `offset` on.
        data: ByteBuf,
        /// The size of the whole file.
        total_size: u64,
    },
    /// The last answer to [`Op::GetIncident`].
    IncidentDone {
        /// The incident's name.
        name: String,
        /// The size of the whole file.
        size: u64,
        /// SHA-256 of the whole file, from byte 0, whatever the request's offset.
        sha256: ByteBuf,
    },
    /// Answers [`Op::SubscribeToIncidents`] and [`Op::SubscribeToAll`].
    Subscribed {
        /// Names the subscription in its pushes and in [`Op::Unsubscribe`].
        subscription: u64,
    },
    /// Answers [`Op::Unsubscribe`].
    Unsubscribed {
        /// The subscription that ended.
        subscription: u64,
    },
    /// Answers [`Op::Ping`].
    Pong,
    /// Answers [`Op::Snapshot`].
    Snapshot {
        /// What the trigger did.
        outcome: SnapshotOutcome,
        /// The new incident's name, with [`SnapshotOutcome::Declared`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        incident: Option<String>,
    },
}

/// What a `snapshot` request's trigger did at the publisher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotOutcome {
    /// A new incident was declared; it is recorded once its trailing window
    /// closes.
    Declared,
    /// The trigger joined an incident already recording.
    Joined,
    /// Storm control dropped it: too many incidents lately.
    Suppressed,
    /// An outcome this version does not know, sent by a newer peer. Never sent.
    #[serde(other)]
    Unknown,
}

impl SnapshotOutcome {
    /// The outcome as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotOutcome::Declared => "declared",
            SnapshotOutcome::Joined => "joined",
            SnapshotOutcome::Suppressed => "suppressed",
            SnapshotOutcome::Unknown => "unknown",
        }
    }
}

impl fmt::Display for SnapshotOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Reply {
    /// The variant's name as it appears on the wire, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Reply::Versions { .. } => "versions",
            Reply::Pid { .. } => "pid",
            Reply::Incidents { .. } => "incidents",
            Reply::IncidentChunk { .. } => "incident_chunk",
            Reply::IncidentDone { .. } => "incident_done",
            Reply::Subscribed { .. } => "subscribed",
            Reply::Unsubscribed { .. } => "unsubscribed",
            Reply::Pong => "pong",
            Reply::Snapshot { .. } => "snapshot",
        }
    }
}

unit_variant::tolerant!(Op, Reply);

/// What an incident is, without its content.
///
/// Encoded as a 5-element array `[name, trigger, time, size, level]` rather than
/// a map: a listing holds thousands of these, and leaving out the keys makes
/// one a third cheaper to decode (decoding dominates what a client waits for).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "IncidentInfoTuple")]
pub struct IncidentInfo {
    /// The incident's name, also its file name.
    pub name: String,
    /// The event that triggered the incident.
    pub trigger: EncodedEvent,
    /// When the trigger happened, in microseconds since the Unix epoch (UTC).
    pub time: i64,
    /// The incident file's size in bytes.
    pub size: u64,
    /// The trigger's level, so that clients can filter without decoding it.
    pub level: u16,
}

/// The wire form of [`IncidentInfo`], for decoding.
#[derive(Deserialize)]
struct IncidentInfoTuple(String, EncodedEvent, i64, u64, u16);

// By hand rather than `into`, which would clone every entry of a listing.
impl Serialize for IncidentInfo {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(5)?;
        t.serialize_element(&self.name)?;
        t.serialize_element(&self.trigger)?;
        t.serialize_element(&self.time)?;
        t.serialize_element(&self.size)?;
        t.serialize_element(&self.level)?;
        t.end()
    }
}

impl From<IncidentInfoTuple> for IncidentInfo {
    fn from(IncidentInfoTuple(name, trigger, time, size, level): IncidentInfoTuple) -> Self {
        IncidentInfo {
            name,
            trigger,
            time,
            size,
            level,
        }
    }
}

/// A failure, sent by the publisher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorMessage {
    /// The failed request, or `None` when the failure concerns the whole
    /// connection (or a frame whose request id could not be read).
    pub id: Option<u64>,
    /// What kind of failure.
    pub code: ErrorCode,
    /// A human-readable explanation.
    pub message: String,
}

/// Kinds of failure reported in an [`ErrorMessage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No incident by that name.
    UnknownIncident,
    /// The name is not a valid incident name.
    BadName,
    /// A limit was exceeded: a frame, a reply, or an offset past the end.
    TooLarge,
    /// The secret was wrong, or a request came before the hello.
    Unauthorized,
    /// The publisher does not offer this operation.
    Unsupported,
    /// No protocol version in the hello is one the publisher speaks.
    VersionMismatch,
    /// A frame could not be decoded, or the message was out of place.
    Malformed,
    /// The publisher failed, e.g. reading an incident file.
    Internal,
    /// The publisher has too many connections or subscriptions.
    Busy,
    /// The peer was too slow: no hello in time, or idle too long.
    Timeout,
    /// A code this version does not know, sent by a newer peer. Never sent.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::UnknownIncident => "unknown_incident",
            ErrorCode::BadName => "bad_name",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::VersionMismatch => "version_mismatch",
            ErrorCode::Malformed => "malformed",
            ErrorCode::Internal => "internal",
            ErrorCode::Busy => "busy",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Push: an incident exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewIncident {
    /// The subscription this push belongs to.
    pub subscription: u64,
    /// The incident.
    pub incident: IncidentInfo,
}

/// Push: the catch-up of an incident subscription is complete; every later
/// [`NewIncident`] is a new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentCatchupDone {
    /// The subscription this push belongs to.
    pub subscription: u64,
}

/// Push: one log event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEvent {
    /// The subscription this push belongs to.
    pub subscription: u64,
    /// The event.
    pub event: EncodedEvent,
    /// Where the event came from, when the sender relays events it gathered
    /// from other publishers (a gatherer's logport); absent from a
    /// publisher's own events. A peer that predates it ignores it
    /// (docs/protocol.md §3, §4.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<EventOrigin>,
}

/// Where a relayed event came from: the publisher a gatherer received it
/// from, and when. The publisher's incarnation is the event's own (`inc`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EventOrigin {
    /// The id of the publisher the gatherer received the event from.
    pub from: String,
    /// When the gatherer received it, in microseconds since the Unix epoch
    /// (UTC).
    pub rx_time: i64,
}

/// Push: the subscriber's queue overflowed and `count` pushes were discarded
/// just before the next push of this subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventsDropped {
    /// The subscription this push belongs to.
    pub subscription: u64,
    /// How many pushes were discarded.
    pub count: u64,
}

/// Push: the publisher ended the subscription; no pushes follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionEnded {
    /// The subscription that ended.
    pub subscription: u64,
    /// Why, for humans.
    pub reason: String,
}

/// The publisher is shutting down; this is its last frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Goodbye {
    /// Why, for humans.
    pub reason: String,
}

#[cfg(test)]
mod tests;

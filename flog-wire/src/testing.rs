//! Proptest strategies and fixtures shared by the unit tests.

use std::collections::BTreeMap;

use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use serde_bytes::ByteBuf;

use crate::message::*;

fn arb_bytes(max: usize) -> impl Strategy<Value = ByteBuf> {
    vec(any::<u8>(), 0..max).prop_map(ByteBuf::from)
}

fn arb_event() -> impl Strategy<Value = EncodedEvent> {
    arb_bytes(64).prop_map(|b| EncodedEvent::new(b.into_vec()))
}

fn arb_versions() -> impl Strategy<Value = BTreeMap<String, String>> {
    btree_map(".{0,12}", ".{0,12}", 0..4)
}

fn arb_text() -> impl Strategy<Value = String> {
    ".{0,24}"
}

pub(crate) fn arb_incident_info() -> impl Strategy<Value = IncidentInfo> {
    (
        arb_text(),
        arb_event(),
        any::<i64>(),
        any::<u64>(),
        any::<u16>(),
    )
        .prop_map(|(name, trigger, time, size, level)| IncidentInfo {
            name,
            trigger,
            time,
            size,
            level,
        })
}

pub(crate) fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::GetVersions),
        Just(Op::GetPid),
        (
            option::of(arb_text()),
            option::of(any::<i64>()),
            option::of(any::<u32>())
        )
            .prop_map(
                |(since_name, since_time, limit)| Op::ListIncidents(ListQuery {
                    since_name,
                    since_time,
                    limit
                })
            ),
        (arb_text(), any::<u64>(), option::of(any::<u32>())).prop_map(
            |(name, offset, chunk_size)| Op::GetIncident {
                name,
                offset,
                chunk_size
            }
        ),
        (any::<bool>(), option::of(arb_text())).prop_map(|(catch_up, since_name)| {
            Op::SubscribeToIncidents {
                catch_up,
                since_name,
            }
        }),
        any::<bool>().prop_map(|catch_up| Op::SubscribeToAll { catch_up }),
        any::<u64>().prop_map(|subscription| Op::Unsubscribe { subscription }),
        Just(Op::Ping),
        arb_text().prop_map(|reason| Op::Snapshot { reason }),
    ]
}

pub(crate) fn arb_reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        arb_versions().prop_map(|versions| Reply::Versions { versions }),
        any::<u32>().prop_map(|pid| Reply::Pid { pid }),
        (vec(arb_incident_info(), 0..4), any::<bool>())
            .prop_map(|(incidents, more)| Reply::Incidents { incidents, more }),
        (arb_text(), any::<u64>(), arb_bytes(256), any::<u64>()).prop_map(
            |(name, offset, data, total_size)| Reply::IncidentChunk {
                name,
                offset,
                data,
                total_size
            }
        ),
        (arb_text(), any::<u64>(), arb_bytes(40))
            .prop_map(|(name, size, sha256)| Reply::IncidentDone { name, size, sha256 }),
        any::<u64>().prop_map(|subscription| Reply::Subscribed { subscription }),
        any::<u64>().prop_map(|subscription| Reply::Unsubscribed { subscription }),
        Just(Reply::Pong),
        (
            prop_oneof![
                Just(SnapshotOutcome::Declared),
                Just(SnapshotOutcome::Joined),
                Just(SnapshotOutcome::Suppressed),
            ],
            option::of(arb_text())
        )
            .prop_map(|(outcome, incident)| Reply::Snapshot { outcome, incident }),
    ]
}

pub(crate) fn arb_error_code() -> impl Strategy<Value = ErrorCode> {
    prop_oneof![
        Just(ErrorCode::UnknownIncident),
        Just(ErrorCode::BadName),
        Just(ErrorCode::TooLarge),
        Just(ErrorCode::Unauthorized),
        Just(ErrorCode::Unsupported),
        Just(ErrorCode::VersionMismatch),
        Just(ErrorCode::Malformed),
        Just(ErrorCode::Internal),
        Just(ErrorCode::Busy),
        Just(ErrorCode::Timeout),
        Just(ErrorCode::Unknown),
    ]
}

/// Any message, each variant equally likely.
pub(crate) fn arb_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (vec(any::<u32>(), 0..4), arb_text(), arb_text()).prop_map(|(versions, secret, client)| {
            Message::Hello(Hello {
                versions,
                secret,
                client,
            })
        }),
        (
            any::<u32>(),
            arb_text(),
            any::<u32>(),
            arb_versions(),
            arb_text(),
            arb_text(),
            option::of(any::<u64>()),
        )
            .prop_map(
                |(version, publisher_id, pid, versions, incarnation, server, idle_timeout_ms)| {
                    Message::Welcome(Welcome {
                        version,
                        publisher_id,
                        pid,
                        versions,
                        incarnation,
                        server,
                        idle_timeout_ms,
                    })
                }
            ),
        (any::<u64>(), arb_op()).prop_map(|(id, op)| Message::Request(Request { id, op })),
        (any::<u64>(), arb_reply())
            .prop_map(|(id, reply)| Message::Response(Response { id, reply })),
        (option::of(any::<u64>()), arb_error_code(), arb_text())
            .prop_map(|(id, code, message)| { Message::Error(ErrorMessage { id, code, message }) }),
        (any::<u64>(), arb_incident_info()).prop_map(|(subscription, incident)| {
            Message::NewIncident(NewIncident {
                subscription,
                incident,
            })
        }),
        any::<u64>().prop_map(
            |subscription| Message::IncidentCatchupDone(IncidentCatchupDone { subscription })
        ),
        (
            any::<u64>(),
            arb_event(),
            option::of(("[a-z0-9_-]{1,16}", any::<i64>()))
        )
            .prop_map(|(subscription, event, origin)| Message::LogEvent(LogEvent {
                subscription,
                event,
                origin: origin.map(|(from, rx_time)| EventOrigin { from, rx_time }),
            })),
        (any::<u64>(), any::<u64>()).prop_map(|(subscription, count)| {
            Message::EventsDropped(EventsDropped {
                subscription,
                count,
            })
        }),
        (any::<u64>(), arb_text()).prop_map(|(subscription, reason)| {
            Message::SubscriptionEnded(SubscriptionEnded {
                subscription,
                reason,
            })
        }),
        arb_text().prop_map(|reason| Message::Goodbye(Goodbye { reason })),
    ]
}

/// One message of every variant, with every op and reply, for tests that
/// must not depend on chance to cover them all.
// One literal per message variant, in one list so that a new variant is
// added here once: long, but only data.
pub(crate) fn one_of_each_message() -> Vec<Message> {
    let info = IncidentInfo {
        name: "incident-2024-01-02--03-04-05Z-abcd".into(),
        trigger: EncodedEvent::new(vec![0xa1, 0x61, b'x', 0x01]),
        time: 1_704_164_645_000_000,
        size: 12345,
        level: 30,
    };
    let mut versions = BTreeMap::new();
    versions.insert("flog".to_string(), "0.1.0".to_string());
    let ops = [
        Op::GetVersions,
        Op::GetPid,
        Op::ListIncidents(ListQuery {
            since_name: Some(info.name.clone()),
            since_time: Some(-5),
            limit: Some(10),
        }),
        Op::GetIncident {
            name: info.name.clone(),
            offset: 10,
            chunk_size: Some(4096),
        },
        Op::SubscribeToIncidents {
            catch_up: true,
            since_name: None,
        },
        Op::SubscribeToAll { catch_up: false },
        Op::Unsubscribe { subscription: 3 },
        Op::Ping,
    ];
    let replies = [
        Reply::Versions {
            versions: versions.clone(),
        },
        Reply::Pid { pid: 4242 },
        Reply::Incidents {
            incidents: vec![info.clone()],
            more: true,
        },
        Reply::IncidentChunk {
            name: info.name.clone(),
            offset: 0,
            data: ByteBuf::from(vec![1, 2, 3]),
            total_size: 3,
        },
        Reply::IncidentDone {
            name: info.name.clone(),
            size: 3,
            sha256: ByteBuf::from(vec![0x55; 32]),
        },
        Reply::Subscribed { subscription: 3 },
        Reply::Unsubscribed { subscription: 3 },
        Reply::Pong,
    ];
    let mut messages = vec![
        Message::Hello(Hello {
            versions: vec![1, 2],
            secret: "s3cret".into(),
            client: "flog-test/0".into(),
        }),
        Message::Welcome(Welcome {
            version: 1,
            publisher_id: "pub-1".into(),
            pid: 99,
            versions,
            incarnation: "inc".into(),
            server: "flog-publisher/0".into(),
            idle_timeout_ms: Some(300_000),
        }),
        Message::Error(ErrorMessage {
            id: Some(4),
            code: ErrorCode::UnknownIncident,
            message: "no such incident".into(),
        }),
        Message::NewIncident(NewIncident {
            subscription: 3,
            incident: info,
        }),
        Message::IncidentCatchupDone(IncidentCatchupDone { subscription: 3 }),
        Message::LogEvent(LogEvent {
            subscription: 3,
            event: EncodedEvent::new(vec![0xf6]),
            origin: None,
        }),
        Message::EventsDropped(EventsDropped {
            subscription: 3,
            count: 17,
        }),
        Message::SubscriptionEnded(SubscriptionEnded {
            subscription: 3,
            reason: "done".into(),
        }),
        Message::Goodbye(Goodbye {
            reason: "shutting down".into(),
        }),
    ];
    messages.extend(
        ops.into_iter()
            .enumerate()
            .map(|(id, op)| Message::Request(Request { id: id as u64, op })),
    );
    messages.extend(replies.into_iter().enumerate().map(|(id, reply)| {
        Message::Response(Response {
            id: id as u64,
            reply,
        })
    }));
    messages
}

use super::*;

fn to_cbor(message: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(message, &mut out).expect("encoding into a Vec cannot fail");
    out
}

fn from_cbor(bytes: &[u8]) -> Result<Message, String> {
    ciborium::from_reader(bytes).map_err(|e| e.to_string())
}

#[test]
fn hello_debug_hides_the_secret() {
    let hello = Hello {
        versions: vec![1],
        secret: "hunter2".into(),
        client: "test/1".into(),
    };
    let shown = format!("{hello:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("test/1"), "{shown}");
}

#[test]
fn unit_variants_are_text_strings() {
    let message = Message::Request(Request {
        id: 7,
        op: Op::Ping,
    });
    let cbor = to_cbor(&message);
    // "ping" as a CBOR text string: major type 3, length 4.
    assert!(
        cbor.ends_with(&[0x64, b'p', b'i', b'n', b'g']),
        "{cbor:02x?}"
    );
}

#[test]
fn absent_optional_fields_are_omitted_and_accepted() {
    let message = Message::Request(Request {
        id: 1,
        op: Op::ListIncidents(ListQuery::default()),
    });
    let cbor = to_cbor(&message);
    // {"request": {"id": 1, "op": {"list_incidents": {}}}}
    assert!(cbor.ends_with(&[0xa0]), "{cbor:02x?}");
    assert_eq!(from_cbor(&cbor), Ok(message));
}

#[derive(Serialize)]
struct PongWithExtras {
    id: u64,
    reply: &'static str,
    added_in_a_later_version: Vec<u8>,
}

#[test]
fn unknown_fields_are_ignored() {
    let mut map = BTreeMap::new();
    map.insert(
        "response",
        PongWithExtras {
            id: 3,
            reply: "pong",
            added_in_a_later_version: vec![1, 2, 3],
        },
    );
    let mut cbor = Vec::new();
    ciborium::into_writer(&map, &mut cbor).expect("encoding into a Vec cannot fail");
    assert_eq!(
        from_cbor(&cbor),
        Ok(Message::Response(Response {
            id: 3,
            reply: Reply::Pong
        }))
    );
}

#[test]
fn unknown_error_codes_decode_as_unknown() {
    let mut error = BTreeMap::new();
    error.insert("code", "melted");
    error.insert("message", "from the future");
    let mut map = BTreeMap::new();
    map.insert("error", error);
    let mut cbor = Vec::new();
    ciborium::into_writer(&map, &mut cbor).expect("encoding into a Vec cannot fail");
    assert_eq!(
        from_cbor(&cbor),
        Ok(Message::Error(ErrorMessage {
            id: None,
            code: ErrorCode::Unknown,
            message: "from the future".into(),
        }))
    );
}

#[test]
fn error_code_names_match_serde() {
    let codes = [
        ErrorCode::UnknownIncident,
        ErrorCode::BadName,
        ErrorCode::TooLarge,
        ErrorCode::Unauthorized,
        ErrorCode::Unsupported,
        ErrorCode::VersionMismatch,
        ErrorCode::Malformed,
        ErrorCode::Internal,
        ErrorCode::Busy,
        ErrorCode::Timeout,
        ErrorCode::Unknown,
    ];
    for code in codes {
        let mut cbor = Vec::new();
        ciborium::into_writer(&code, &mut cbor).expect("encoding into a Vec cannot fail");
        let text: String = ciborium::from_reader(&cbor[..]).expect("a code is a text string");
        assert_eq!(text, code.as_str());
    }
}

#[test]
fn message_names_match_serde() {
    for message in crate::testing::one_of_each_message() {
        let cbor = to_cbor(&message);
        let map: BTreeMap<String, ciborium::Value> =
            ciborium::from_reader(&cbor[..]).expect("a message is a one-entry map");
        let keys: Vec<&str> = map.keys().map(String::as_str).collect();
        assert_eq!(keys, [message.name()]);
        let inner = match &message {
            Message::Request(request) => Some((request.op.name(), cbor_of(&request.op))),
            Message::Response(response) => Some((response.reply.name(), cbor_of(&response.reply))),
            _ => None,
        };
        if let Some((name, value)) = inner {
            let tag = match value {
                ciborium::Value::Text(text) => text,
                ciborium::Value::Map(entries) => match &entries[..] {
                    [(ciborium::Value::Text(text), _)] => text.clone(),
                    other => panic!("not a one-entry map: {other:?}"),
                },
                other => panic!("not an externally tagged variant: {other:?}"),
            };
            assert_eq!(tag, name);
        }
    }
}

fn cbor_of<T: Serialize>(value: &T) -> ciborium::Value {
    ciborium::Value::serialized(value).expect("every message converts to a CBOR value")
}

#[test]
fn snapshot_round_trips_and_tolerates_a_newer_outcome() {
    let request = Message::Request(Request {
        id: 3,
        op: Op::Snapshot {
            reason: "latency looks odd".into(),
        },
    });
    assert_eq!(from_cbor(&to_cbor(&request)), Ok(request));
    let declared = Message::Response(Response {
        id: 3,
        reply: Reply::Snapshot {
            outcome: SnapshotOutcome::Declared,
            incident: Some("incident-2026-12-01-133000-000000".into()),
        },
    });
    assert_eq!(from_cbor(&to_cbor(&declared)), Ok(declared));
    // A suppressed snapshot names no incident, and leaves the key out.
    let suppressed = Message::Response(Response {
        id: 4,
        reply: Reply::Snapshot {
            outcome: SnapshotOutcome::Suppressed,
            incident: None,
        },
    });
    let cbor = to_cbor(&suppressed);
    assert!(!cbor.windows(8).any(|w| w == b"incident"), "{cbor:02x?}");
    assert_eq!(from_cbor(&cbor), Ok(suppressed));
    // An outcome from a newer publisher decodes as Unknown.
    let newer: SnapshotOutcome = ciborium::from_reader(&to_cbor_value("deferred")[..]).unwrap();
    assert_eq!(newer, SnapshotOutcome::Unknown);
}

fn to_cbor_value(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(&text, &mut out).unwrap();
    out
}

/// The `log_event` of a publisher before `origin` existed: the two fields only.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct OldLogEvent {
    subscription: u64,
    event: ByteBuf,
}

#[test]
fn a_log_event_origin_is_optional_and_old_peers_skip_it() {
    // Without an origin the encoding is what it was before origins.
    let plain = LogEvent {
        subscription: 4,
        event: EncodedEvent::new(vec![0xa0]),
        origin: None,
    };
    let mut old = BTreeMap::new();
    old.insert(
        "log_event",
        OldLogEvent {
            subscription: 4,
            event: ByteBuf::from(vec![0xa0]),
        },
    );
    let mut old_cbor = Vec::new();
    ciborium::into_writer(&old, &mut old_cbor).unwrap();
    assert_eq!(to_cbor(&plain.clone().into()), old_cbor);
    assert_eq!(from_cbor(&old_cbor), Ok(plain.into()));
    // With one, it round-trips, and an old reader of the struct ignores it.
    let relayed = LogEvent {
        subscription: 4,
        event: EncodedEvent::new(vec![0xa0]),
        origin: Some(EventOrigin {
            from: "web-1".into(),
            rx_time: 1_700_000_000_000_000,
        }),
    };
    let cbor = to_cbor(&relayed.clone().into());
    assert_eq!(from_cbor(&cbor), Ok(relayed.into()));
    let decoded: BTreeMap<String, OldLogEvent> = ciborium::from_reader(&cbor[..]).unwrap();
    assert_eq!(decoded["log_event"].subscription, 4);
}

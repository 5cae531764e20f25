use bytes::{BufMut, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

use super::*;
use crate::message::{Op, Reply, Request, Response};
use crate::testing::{arb_message, one_of_each_message};

fn encode_all(messages: &[Message]) -> BytesMut {
    let mut codec = FlogCodec::new();
    let mut buf = BytesMut::new();
    for message in messages {
        codec
            .encode(message, &mut buf)
            .expect("test messages fit in a frame");
    }
    buf
}

/// Feeds `stream` to a decoder in pieces ending at `cuts`, as a socket might
/// deliver it, and returns everything decoded.
fn decode_in_pieces(stream: &[u8], cuts: &[usize]) -> Result<Vec<Decoded>, WireError> {
    let mut codec = FlogCodec::new();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut fed = 0;
    let mut ends: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    ends.push(stream.len());
    ends.sort_unstable();
    for end in ends {
        buf.extend_from_slice(&stream[fed..end]);
        fed = end;
        while let Some(decoded) = codec.decode(&mut buf)? {
            out.push(decoded);
        }
    }
    if let Some(decoded) = codec.decode_eof(&mut buf)? {
        out.push(decoded);
    }
    Ok(out)
}

/// Decodes until the decoder wants more input or fails, as `Framed` would,
/// then signals end of stream. Only a panic can fail this.
fn drain(codec: &mut FlogCodec, mut buf: BytesMut) {
    loop {
        match codec.decode(&mut buf) {
            Ok(Some(_)) => continue,
            Ok(None) => break,
            Err(_) => return,
        }
    }
    let _ = codec.decode_eof(&mut buf);
}

/// Parses hex bytes, ignoring whitespace and `#` comments.
fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text
        .lines()
        .flat_map(|line| line.split('#').next().unwrap_or("").bytes())
        .filter(u8::is_ascii_hexdigit)
        .collect();
    digits
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).expect("hex digits are ASCII");
            u8::from_str_radix(pair, 16).expect("filtered to hex digits")
        })
        .collect()
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

fn cbor<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).expect("encoding into a Vec cannot fail");
    out
}

#[test]
fn every_variant_round_trips() {
    let messages = one_of_each_message();
    let stream = encode_all(&messages);
    let decoded = decode_in_pieces(&stream, &[]).expect("a well-formed stream decodes");
    let expected: Vec<Decoded> = messages.into_iter().map(Decoded::Message).collect();
    assert_eq!(decoded, expected);
}

proptest! {
    #[test]
    fn messages_round_trip_whatever_the_split(
        messages in vec(arb_message(), 1..6),
        cuts in vec(any::<usize>(), 0..8),
    ) {
        let stream = encode_all(&messages);
        let decoded = decode_in_pieces(&stream, &cuts).expect("a well-formed stream decodes");
        let expected: Vec<Decoded> = messages.into_iter().map(Decoded::Message).collect();
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn random_bytes_never_panic(bytes in vec(any::<u8>(), 0..512), small in any::<bool>()) {
        let mut codec = if small { FlogCodec::with_max_frame(64) } else { FlogCodec::new() };
        drain(&mut codec, BytesMut::from(&bytes[..]));
    }

    #[test]
    fn random_frame_bodies_never_panic(body in vec(any::<u8>(), 0..512)) {
        let mut buf = BytesMut::from(&frame(&body)[..]);
        let decoded = FlogCodec::new().decode(&mut buf);
        // A complete frame always yields an item, message or malformed.
        prop_assert!(matches!(decoded, Ok(Some(_))), "{:?}", decoded);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn mutated_streams_never_panic(
        messages in vec(arb_message(), 1..4),
        mutations in vec((any::<usize>(), any::<u8>(), 0..3u8), 1..8),
    ) {
        let mut stream = encode_all(&messages).to_vec();
        for (at, byte, kind) in mutations {
            let at = at % (stream.len() + 1);
            match kind {
                0 if at < stream.len() => stream[at] ^= byte | 1,
                1 => stream.insert(at, byte),
                _ => stream.truncate(at),
            }
        }
        drain(&mut FlogCodec::new(), BytesMut::from(&stream[..]));
    }
}

#[test]
fn oversized_prefix_is_rejected_before_buffering() {
    let mut codec = FlogCodec::new();
    let mut buf = BytesMut::with_capacity(8);
    buf.put_u32(u32::MAX);
    let capacity = buf.capacity();
    match codec.decode(&mut buf) {
        Err(WireError::FrameTooLarge { len, max }) => {
            assert_eq!(len, u32::MAX as usize);
            assert_eq!(max, DEFAULT_MAX_FRAME);
        }
        other => panic!("expected FrameTooLarge, got {other:?}"),
    }
    assert_eq!(
        buf.capacity(),
        capacity,
        "nothing was reserved for the body"
    );
    assert!(!WireError::FrameTooLarge { len: 0, max: 0 }.is_recoverable());
}

#[test]
fn prefix_just_over_a_custom_maximum_is_rejected() {
    let mut codec = FlogCodec::with_max_frame(100);
    let mut buf = BytesMut::new();
    buf.put_u32(101);
    assert!(matches!(
        codec.decode(&mut buf),
        Err(WireError::FrameTooLarge { len: 101, max: 100 })
    ));
    let mut buf = BytesMut::new();
    buf.put_u32(100);
    assert!(matches!(codec.decode(&mut buf), Ok(None)));
}

#[test]
fn incoming_limit_applies_to_decoding_only() {
    let message = Message::Goodbye(crate::message::Goodbye {
        reason: "x".repeat(1000),
    });
    let mut codec = FlogCodec::with_max_frame(4096).with_max_incoming(100);
    let mut buf = BytesMut::new();
    codec
        .encode(&message, &mut buf)
        .expect("sending is bounded by max_frame");
    assert!(matches!(
        codec.decode(&mut buf),
        Err(WireError::FrameTooLarge { max: 100, .. })
    ));
    let mut buf = BytesMut::new();
    buf.put_u32(100);
    assert!(matches!(codec.decode(&mut buf), Ok(None)));
}

#[test]
fn encoder_refuses_oversized_messages_and_leaves_the_buffer_alone() {
    let message = Message::Goodbye(crate::message::Goodbye {
        reason: "x".repeat(1000),
    });
    let len = cbor(&message).len();

    let mut buf = BytesMut::new();
    FlogCodec::with_max_frame(len)
        .encode(&message, &mut buf)
        .expect("a message of exactly the maximum fits");
    assert_eq!(buf.len(), PREFIX_LEN + len);

    let mut codec = FlogCodec::with_max_frame(len - 1);
    let before = buf.clone();
    let error = codec
        .encode(&message, &mut buf)
        .expect_err("one byte too many");
    assert!(
        matches!(error, WireError::MessageTooLarge { len: l, max } if l == len && max == len - 1),
        "{error:?}"
    );
    assert!(error.is_recoverable());
    assert_eq!(buf, before);
}

#[test]
fn malformed_frame_is_an_item_and_decoding_goes_on() {
    let mut stream = frame(&[0xff, 0x00]);
    stream.extend_from_slice(&encode_all(&[Message::Goodbye(crate::message::Goodbye {
        reason: "bye".into(),
    })]));
    let decoded = decode_in_pieces(&stream, &[3]).expect("framing is intact");
    assert!(
        matches!(
            &decoded[0],
            Decoded::Malformed {
                request_id: None,
                ..
            }
        ),
        "{decoded:?}"
    );
    assert!(matches!(&decoded[1], Decoded::Message(Message::Goodbye(_))));
    assert!(WireError::Malformed {
        error: crate::error::DecodeError::Truncated,
        request_id: None
    }
    .is_recoverable());
}

#[test]
fn empty_frame_is_malformed() {
    let decoded = decode_in_pieces(&frame(&[]), &[]).expect("framing is intact");
    assert!(
        matches!(decoded[..], [Decoded::Malformed { .. }]),
        "{decoded:?}"
    );
}

#[test]
fn trailing_bytes_after_the_message_are_malformed() {
    let mut body = cbor(&Message::Request(Request {
        id: 5,
        op: Op::Ping,
    }));
    body.push(0x00);
    let decoded = decode_in_pieces(&frame(&body), &[]).expect("framing is intact");
    assert_eq!(
        decoded,
        [Decoded::Malformed {
            error: crate::error::DecodeError::TrailingBytes { count: 1 },
            request_id: Some(5),
        }]
    );
}

#[test]
fn malformed_request_keeps_its_id() {
    #[derive(serde::Serialize)]
    struct FutureRequest {
        id: u64,
        op: &'static str,
    }
    let mut map = std::collections::BTreeMap::new();
    map.insert(
        "request",
        FutureRequest {
            id: 9,
            op: "frobnicate",
        },
    );
    let decoded = decode_in_pieces(&frame(&cbor(&map)), &[]).expect("framing is intact");
    assert!(
        matches!(
            decoded[..],
            [Decoded::Malformed {
                request_id: Some(9),
                ..
            }]
        ),
        "{decoded:?}"
    );
}

#[test]
fn eof_inside_a_frame_is_an_error() {
    let stream = encode_all(&[Message::Request(Request {
        id: 1,
        op: Op::Ping,
    })]);
    for cut in [1, PREFIX_LEN, stream.len() - 1] {
        let mut buf = BytesMut::from(&stream[..cut]);
        let mut codec = FlogCodec::new();
        assert!(matches!(codec.decode(&mut buf), Ok(None)));
        match codec.decode_eof(&mut buf) {
            Err(WireError::TruncatedFrame { buffered }) => assert_eq!(buffered, cut),
            other => panic!("expected TruncatedFrame, got {other:?}"),
        }
    }
    let mut empty = BytesMut::new();
    assert!(matches!(FlogCodec::new().decode_eof(&mut empty), Ok(None)));
}

/// The bytes shown in docs/protocol.md; if this fails, update the document.
#[test]
fn documented_request_frame() {
    let expected = hex("
        00 00 00 19                 # length 25
        a1                          # map, 1 entry
          67 72 65 71 75 65 73 74   #   text(7) request
          a2                        #   map, 2 entries
            62 69 64                #     text(2) id
            01                      #     unsigned 1
            62 6f 70                #     text(2) op
            67 67 65 74 5f 70 69 64 #     text(7) get_pid
    ");
    let stream = encode_all(&[Message::Request(Request {
        id: 1,
        op: Op::GetPid,
    })]);
    assert_eq!(stream[..], expected[..]);
}

/// The bytes shown in docs/protocol.md; if this fails, update the document.
#[test]
fn documented_response_frame() {
    let expected = hex("
        00 00 00 22                 # length 34
        a1                          # map, 1 entry
          68 72 65 73 70 6f 6e 73 65 #  text(8) response
          a2                        #   map, 2 entries
            62 69 64                #     text(2) id
            01                      #     unsigned 1
            65 72 65 70 6c 79       #     text(5) reply
            a1                      #     map, 1 entry
              63 70 69 64           #       text(3) pid
              a1                    #       map, 1 entry
                63 70 69 64         #         text(3) pid
                19 10 92            #         unsigned(16 bit) 4242
    ");
    let stream = encode_all(&[Message::Response(Response {
        id: 1,
        reply: Reply::Pid { pid: 4242 },
    })]);
    assert_eq!(stream[..], expected[..]);
}

#[test]
fn deeply_nested_unknown_field_is_malformed_not_a_stack_overflow() {
    // {"request": {"junk": [[[[...]]]], ...}}: unknown fields are skipped by
    // recursing into them, which the CBOR decoder's depth limit must stop.
    let depth = 200_000;
    let mut body = vec![0xa1, 0x67];
    body.extend_from_slice(b"request");
    body.extend_from_slice(&[0xa1, 0x64]);
    body.extend_from_slice(b"junk");
    body.extend(std::iter::repeat_n(0x81, depth));
    body.push(0x00);
    let decoded = decode_in_pieces(&frame(&body), &[]).expect("framing is intact");
    assert!(
        matches!(decoded[..], [Decoded::Malformed { .. }]),
        "{decoded:?}"
    );
}

/// docs/protocol.md §3: a unit variant may also come as `{name: null}`.
#[test]
fn unit_variants_decode_from_a_one_entry_map_with_null() {
    use ciborium::Value;
    let text = |s: &str| Value::Text(s.into());
    let wrap = |outer: &str, id: u64, key: &str, inner: Value| {
        Value::Map(vec![(
            text(outer),
            Value::Map(vec![(text("id"), id.into()), (text(key), inner)]),
        )])
    };
    let null_map = |name: &str| Value::Map(vec![(text(name), Value::Null)]);
    let cases = [
        (
            wrap("request", 7, "op", null_map("ping")),
            Message::Request(Request {
                id: 7,
                op: Op::Ping,
            }),
        ),
        (
            wrap("request", 8, "op", null_map("get_versions")),
            Message::Request(Request {
                id: 8,
                op: Op::GetVersions,
            }),
        ),
        (
            wrap("response", 9, "reply", null_map("pong")),
            Message::Response(Response {
                id: 9,
                reply: Reply::Pong,
            }),
        ),
    ];
    for (value, expected) in cases {
        let decoded = decode_in_pieces(&frame(&cbor(&value)), &[]).expect("framing is intact");
        assert_eq!(decoded, [Decoded::Message(expected)]);
    }
    // Not unit variants: a value other than null, or a second entry.
    let with_value = wrap(
        "request",
        1,
        "op",
        Value::Map(vec![(text("ping"), 1.into())]),
    );
    let two_entries = wrap(
        "request",
        2,
        "op",
        Value::Map(vec![
            (text("ping"), Value::Null),
            (text("get_pid"), Value::Null),
        ]),
    );
    for value in [with_value, two_entries] {
        let decoded = decode_in_pieces(&frame(&cbor(&value)), &[]).expect("framing is intact");
        assert!(
            matches!(decoded[..], [Decoded::Malformed { .. }]),
            "{decoded:?}"
        );
    }
}

#[test]
fn nesting_is_followed_to_the_limit_and_no_further() {
    // A message nested exactly to the limit inside an unknown field decodes;
    // one level more is malformed, named as too deep.
    let junk = |depth: usize| {
        let mut body = vec![0xa1, 0x67];
        body.extend_from_slice(b"request");
        body.push(0xa3);
        body.extend_from_slice(&[0x62, b'i', b'd', 0x03]);
        body.extend_from_slice(&[0x62, b'o', b'p', 0x64]);
        body.extend_from_slice(b"ping");
        body.push(0x64);
        body.extend_from_slice(b"junk");
        body.extend(std::iter::repeat_n(0x81, depth));
        body.push(0x00);
        decode_in_pieces(&frame(&body), &[]).expect("framing is intact")
    };
    // The message map and the request map take two of the levels.
    let fits = MAX_DEPTH - 2;
    assert_eq!(
        junk(fits),
        [Decoded::Message(Message::Request(Request {
            id: 3,
            op: Op::Ping
        }))]
    );
    assert!(
        matches!(
            junk(fits + 1)[..],
            [Decoded::Malformed {
                error: crate::error::DecodeError::TooDeep { max: MAX_DEPTH },
                ..
            }]
        ),
        "{:?}",
        junk(fits + 1)
    );
}

//! Requests at the edges of what docs/protocol.md promises, over real TCP:
//! listing filters and limits, the accepted shapes of unit variants, and
//! hostile frame bodies (deep nesting, huge declared lengths).

mod common;

use ciborium::Value;
use flog_core::Level;
use flog_publisher::PublisherConfig;
use flog_wire::{
    ClientError, ErrorCode, FlogCodec, ListQuery, LogportClient, Message, MessageReader, Reply,
    Stream, PROTOCOL_VERSION,
};
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};

use common::{hello, service, start};

/// One frame holding `body` as it is.
fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

fn cbor(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).unwrap();
    out
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

/// `{"request": {"id": id, "op": op}}`
fn request(id: u64, op: Value) -> Value {
    Value::Map(vec![(
        text("request"),
        Value::Map(vec![(text("id"), id.into()), (text("op"), op)]),
    )])
}

/// A connection past the hello that sends hand-made frame bodies.
struct RawClient {
    reader: MessageReader<ReadHalf<Stream>>,
    writer: WriteHalf<Stream>,
}

impl RawClient {
    async fn connect(p: &flog_publisher::Publisher) -> RawClient {
        let (read, writer) = tokio::io::split(common::stream(p).await);
        let mut client = RawClient {
            reader: MessageReader::new(read, FlogCodec::new()),
            writer,
        };
        let mut body = Vec::new();
        ciborium::into_writer(&hello(p.url(), vec![PROTOCOL_VERSION]), &mut body).unwrap();
        client.send(&body).await;
        assert!(matches!(
            client.reader.read_message().await.unwrap(),
            Some(Message::Welcome(_))
        ));
        client
    }

    async fn send(&mut self, body: &[u8]) {
        self.writer.write_all(&frame(body)).await.unwrap();
    }

    async fn reply(&mut self, id: u64) -> Reply {
        match self.reader.read_message().await.unwrap() {
            Some(Message::Response(r)) if r.id == id => r.reply,
            other => panic!("expected the response to {id}, got {other:?}"),
        }
    }

    async fn error(&mut self) -> (Option<u64>, ErrorCode) {
        match self.reader.read_message().await.unwrap() {
            Some(Message::Error(e)) => (e.id, e.code),
            other => panic!("expected an error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn since_time_keeps_an_incident_triggered_exactly_then() {
    let s = service(false);
    let names: Vec<String> = (0..3).map(|i| s.incident(&format!("t{i}"))).collect();
    let p = start(&s, PublisherConfig::default()).await;
    let client = LogportClient::connect(p.url()).await.unwrap();
    let all = client.list_incidents(&ListQuery::default()).await.unwrap();
    let t = all.incidents[1].time;
    assert!(all.incidents[0].time < t, "distinct trigger times");
    let page = client
        .list_incidents(&ListQuery {
            since_time: Some(t),
            ..ListQuery::default()
        })
        .await
        .unwrap();
    let listed: Vec<_> = page.incidents.iter().map(|i| i.name.clone()).collect();
    assert_eq!(listed, names[1..], "at or after since_time");
    p.shutdown().await;
}

#[tokio::test]
async fn a_zero_limit_is_refused_with_a_clear_error() {
    let s = service(false);
    s.incident("one");
    let p = start(&s, PublisherConfig::default()).await;
    let client = LogportClient::connect(p.url()).await.unwrap();
    let zero = ListQuery {
        limit: Some(0),
        ..ListQuery::default()
    };
    match client.list_incidents(&zero).await {
        Err(ClientError::Remote {
            code: ErrorCode::Malformed,
            message,
        }) => assert!(message.contains("limit"), "{message}"),
        other => panic!("expected malformed, got {other:?}"),
    }
    // The connection goes on.
    client.ping().await.unwrap();
    p.shutdown().await;
}

#[tokio::test]
async fn unit_variants_are_accepted_as_maps_with_null() {
    let s = service(false);
    let p = start(&s, PublisherConfig::default()).await;
    let mut conn = RawClient::connect(&p).await;
    let ping_map = Value::Map(vec![(text("ping"), Value::Null)]);
    conn.send(&cbor(&request(7, ping_map))).await;
    assert_eq!(conn.reply(7).await, Reply::Pong);
    let pid_map = Value::Map(vec![(text("get_pid"), Value::Null)]);
    conn.send(&cbor(&request(8, pid_map))).await;
    assert_eq!(
        conn.reply(8).await,
        Reply::Pid {
            pid: std::process::id()
        }
    );
    // The text form, as senders must send it, still works.
    conn.send(&cbor(&request(9, text("ping")))).await;
    assert_eq!(conn.reply(9).await, Reply::Pong);
    // A unit variant with a value is not one.
    let bad = Value::Map(vec![(text("ping"), 5.into())]);
    conn.send(&cbor(&request(10, bad))).await;
    assert_eq!(conn.error().await, (Some(10), ErrorCode::Malformed));
    p.shutdown().await;
}

/// `{"request": {"id": 3, "op": "ping", "junk": <item>}}` with `item` raw.
fn ping_with_junk(item: &[u8]) -> Vec<u8> {
    let mut body = vec![0xa1, 0x67];
    body.extend_from_slice(b"request");
    body.push(0xa3);
    body.extend_from_slice(&[0x62, b'i', b'd', 0x03]);
    body.extend_from_slice(&[0x62, b'o', b'p', 0x64]);
    body.extend_from_slice(b"ping");
    body.extend_from_slice(&[0x64]);
    body.extend_from_slice(b"junk");
    body.extend_from_slice(item);
    body
}

#[tokio::test]
async fn hostile_frame_bodies_get_malformed_and_the_connection_goes_on() {
    let s = service(false);
    let p = start(&s, PublisherConfig::default()).await;
    let mut conn = RawClient::connect(&p).await;
    let mut nested = vec![0x81; 60_000];
    nested.push(0x00);
    // A byte string, a text, an array and a map each claiming far more than
    // the frame holds: read as far as the frame goes, never allocated whole.
    let huge: [&[u8]; 4] = [
        &[
            0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3,
        ],
        &[0x7a, 0xff, 0xff, 0xff, 0xff, b'a'],
        &[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00],
        &[
            0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00,
        ],
    ];
    for item in std::iter::once(&nested[..]).chain(huge) {
        conn.send(&ping_with_junk(item)).await;
        let (_, code) = conn.error().await;
        assert_eq!(code, ErrorCode::Malformed);
    }
    // An unknown field holding a large byte string that the frame does hold
    // is ignored, as unknown fields are.
    let mut big = vec![0x5a];
    big.extend_from_slice(&(60_000u32).to_be_bytes());
    big.extend(std::iter::repeat_n(7u8, 60_000));
    conn.send(&ping_with_junk(&big)).await;
    assert_eq!(conn.reply(3).await, Reply::Pong);
    p.shutdown().await;
}

#[tokio::test]
async fn a_page_holds_at_least_one_incident_however_large_its_trigger() {
    let s = service(false);
    // A trigger of 5 MiB: more than a page's byte budget, less than a frame.
    s.logger
        .event(Level::WEIRD)
        .format("huge")
        .field("blob", vec![7u8; 5 * 1024 * 1024])
        .emit();
    let name = s.incidents.recv_timeout(common::PATIENCE).unwrap();
    let small = s.incident("small");
    let p = start(&s, PublisherConfig::default()).await;
    let client = LogportClient::connect(p.url()).await.unwrap();
    let page = client.list_incidents(&ListQuery::default()).await.unwrap();
    let listed: Vec<_> = page.incidents.iter().map(|i| i.name.clone()).collect();
    assert_eq!((listed, page.more), (vec![name.clone()], true));
    let all = client
        .list_all_incidents(ListQuery::default())
        .await
        .unwrap();
    let all: Vec<_> = all.into_iter().map(|i| i.name).collect();
    assert_eq!(all, [name, small]);
    p.shutdown().await;
}

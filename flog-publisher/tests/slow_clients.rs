//! Clients that read slowly or not at all: the publisher holds a bounded
//! amount of memory for them, serves everyone else meanwhile, and still shuts
//! down.

mod common;

use std::time::{Duration, Instant};

use flog_publisher::{Publisher, PublisherConfig};
use flog_wire::{
    ClientError, Connection, ErrorCode, FlogCodec, Hello, ListQuery, LogportClient, Message, Op,
    Request, Stream, PROTOCOL_VERSION,
};
use tokio::io::AsyncWriteExt;

use common::service;

const PATIENCE: Duration = Duration::from_secs(30);

/// This process's resident memory, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS in /proc/self/status");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    kib * 1024
}

/// A connection past the hello that then sends `requests` and never reads.
async fn stalled_client(
    publisher: &Publisher,
    requests: impl IntoIterator<Item = Op>,
) -> Connection<Stream> {
    let mut conn = common::raw(publisher).await;
    let hello = Hello {
        versions: vec![PROTOCOL_VERSION],
        secret: publisher.url().secret().to_owned(),
        client: "slow".into(),
    };
    conn.write_message(&hello.into()).await.unwrap();
    match conn.read_message().await.unwrap() {
        Some(Message::Welcome(_)) => {}
        other => panic!("expected a welcome, got {other:?}"),
    }
    for (id, op) in requests.into_iter().enumerate() {
        let request = Request { id: id as u64, op };
        // The publisher stops reading once its queue for us is full; so do we.
        if tokio::time::timeout(
            Duration::from_millis(200),
            conn.write_message(&request.into()),
        )
        .await
        .is_err()
        {
            break;
        }
    }
    conn
}

/// Clients that pipeline fetches and read nothing.
const STALLED: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_do_not_read_hold_bounded_memory_and_do_not_block_shutdown() {
    let s = service(false);
    let name = s.noise_incident(64, 32 * 1024);
    let bytes = std::fs::read(s.file(&name)).unwrap();
    assert!(bytes.len() > 2_000_000, "{} bytes", bytes.len());
    let p = Publisher::builder(s.logger.clone()).start().await.unwrap();
    let before = rss();

    // Each asks for the 2 MB incident a hundred times over, in chunks as large
    // as a frame allows, and reads nothing.
    let fetch = Op::GetIncident {
        name: name.clone(),
        offset: 0,
        chunk_size: Some(u32::MAX),
    };
    let mut stalled = Vec::new();
    for _ in 0..STALLED {
        stalled.push(stalled_client(&p, std::iter::repeat_n(fetch.clone(), 100)).await);
    }

    // Everyone else is served meanwhile, correctly.
    let client = LogportClient::connect(p.url()).await.unwrap();
    for _ in 0..3 {
        assert_eq!(client.get_incident_bytes(&name).await.unwrap(), bytes);
        let page = client.list_incidents(&ListQuery::default()).await.unwrap();
        assert_eq!(page.incidents.len(), 1);
    }
    let grown = rss().saturating_sub(before);
    eprintln!("memory grew by {} KiB", grown / 1024);
    // Each stalled connection may pin its 1 MiB byte budget and a frame
    // being written; before the budget, each pinned 64 frames of 2 MB.
    assert!(
        grown < 64 * 1024 * 1024,
        "{STALLED} stalled clients made the publisher hold {} MiB",
        grown / (1024 * 1024)
    );

    // Shutdown does not wait for clients that will never read.
    let started = Instant::now();
    tokio::time::timeout(PATIENCE, p.shutdown())
        .await
        .expect("shutdown finishes despite clients that do not read");
    eprintln!("shutdown took {:?}", started.elapsed());
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_loses_its_connection_after_the_write_timeout() {
    let s = service(false);
    let name = s.noise_incident(64, 32 * 1024);
    let config = PublisherConfig {
        max_connections: 1,
        write_timeout: Duration::from_millis(300),
        ..PublisherConfig::default()
    };
    let p = Publisher::builder(s.logger.clone())
        .config(config)
        .start()
        .await
        .unwrap();
    let fetch = Op::GetIncident {
        name: name.clone(),
        offset: 0,
        chunk_size: None,
    };
    let stalled = stalled_client(&p, std::iter::repeat_n(fetch, 10)).await;
    // It holds the only connection slot until the publisher gives up on it.
    let started = Instant::now();
    let client = loop {
        match LogportClient::connect(p.url()).await {
            Ok(client) => break client,
            Err(ClientError::Remote {
                code: ErrorCode::Busy,
                ..
            }) => {
                assert!(started.elapsed() < PATIENCE, "the slot was never freed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(other) => panic!("{other}"),
        }
    };
    assert!(started.elapsed() >= Duration::from_millis(300));
    let bytes = client.get_incident_bytes(&name).await.unwrap();
    assert_eq!(bytes, std::fs::read(s.file(&name)).unwrap());
    drop(stalled);
    p.shutdown().await;
}

#[tokio::test]
async fn frames_from_clients_are_refused_above_64_kib_before_and_after_the_hello() {
    let s = service(false);
    let p = Publisher::builder(s.logger.clone()).start().await.unwrap();
    let too_large = (64 * 1024 + 1_u32).to_be_bytes();

    // Before the hello: refused at the prefix, nothing buffered.
    let mut sock = common::stream(&p).await;
    sock.write_all(&too_large).await.unwrap();
    let mut conn = Connection::new(sock);
    match conn.read_message().await.unwrap() {
        Some(Message::Error(e)) => assert_eq!((e.id, e.code), (None, ErrorCode::TooLarge)),
        other => panic!("{other:?}"),
    }
    assert!(conn.read_message().await.unwrap().is_none());

    // After it, the same.
    let mut conn = stalled_client(&p, []).await;
    let mut raw = common::stream(&p).await;
    let hello = Message::from(Hello {
        versions: vec![PROTOCOL_VERSION],
        secret: p.url().secret().to_owned(),
        client: "big".into(),
    });
    let mut bytes = bytes::BytesMut::new();
    tokio_util::codec::Encoder::encode(&mut FlogCodec::new(), &hello, &mut bytes).unwrap();
    bytes.extend_from_slice(&too_large);
    raw.write_all(&bytes).await.unwrap();
    let mut big = Connection::new(raw);
    assert!(matches!(
        big.read_message().await.unwrap(),
        Some(Message::Welcome(_))
    ));
    match big.read_message().await.unwrap() {
        Some(Message::Error(e)) => assert_eq!((e.id, e.code), (None, ErrorCode::TooLarge)),
        other => panic!("{other:?}"),
    }
    assert!(big.read_message().await.unwrap().is_none());

    // Everyone else is still served.
    let request = Request {
        id: 9,
        op: Op::Ping,
    };
    conn.write_message(&request.into()).await.unwrap();
    assert!(matches!(
        conn.read_message().await.unwrap(),
        Some(Message::Response(r)) if r.id == 9
    ));
    p.shutdown().await;
}

//! Live-event subscriptions over real TCP: where a gap is reported, and what
//! becomes of subscribers that stop answering.

mod common;

use std::time::{Duration, Instant};

use flog_core::{Event, Level};
use flog_publisher::PublisherConfig;
use flog_wire::{ErrorCode, LogportClient, Message, Op, Request};

use common::{service, start, welcomed};

const PATIENCE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn an_overloaded_subscription_reports_each_gap_exactly_where_it_is() {
    let s = service(false);
    let p = start(
        &s,
        PublisherConfig {
            event_queue: 8,
            ..PublisherConfig::default()
        },
    )
    .await;
    let mut conn = welcomed(&p).await;
    conn.write_message(
        &Request {
            id: 1,
            op: Op::SubscribeToAll { catch_up: false },
        }
        .into(),
    )
    .await
    .unwrap();
    assert!(matches!(
        conn.read_message().await.unwrap(),
        Some(Message::Response(_))
    ));
    // One logging thread, so event numbers are consecutive: every number
    // missing between two delivered events must be counted by exactly the
    // one gap notice between them.
    let pad = "p".repeat(2000);
    let total = 20_000u64;
    for i in 0..total {
        s.logger
            .event(Level::OPERATIONAL)
            .format("e{i}")
            .field("i", i)
            .field("pad", pad.clone())
            .emit();
    }
    let mut previous: Option<u64> = None;
    let mut gap: u64 = 0;
    let (mut gaps, mut delivered) = (0, 0);
    // Until every event is delivered or counted: a gap may come last.
    while previous.map_or(0, |p| p + 1) + gap < total {
        let next = tokio::time::timeout(PATIENCE, conn.read_message())
            .await
            .expect("the subscription keeps delivering")
            .unwrap();
        match next {
            Some(Message::LogEvent(e)) => {
                let num = Event::from_cbor(e.event.as_bytes()).unwrap().num;
                let expected = previous.map_or(0, |p| p + 1) + gap;
                assert_eq!(
                    num, expected,
                    "after #{previous:?} and a gap of {gap}, the next event must be #{expected}"
                );
                previous = Some(num);
                gap = 0;
                delivered += 1;
            }
            Some(Message::EventsDropped(d)) => {
                // Notices in a row (a gap that grew while reported) add up.
                assert!(d.count > 0);
                gap += d.count;
                gaps += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(previous.map_or(0, |p| p + 1) + gap, total);
    assert!(gaps > 0, "a reader this slow must lose events");
    assert!(delivered < total);
    p.shutdown().await;
}

#[tokio::test]
async fn a_subscriber_that_stops_answering_loses_its_slot_within_the_idle_timeout() {
    let s = service(false);
    let idle = Duration::from_millis(300);
    let p = start(
        &s,
        PublisherConfig {
            max_connections: 1,
            idle_timeout: idle,
            ..PublisherConfig::default()
        },
    )
    .await;
    // Subscribes, then holds the socket: it neither reads nor sends again,
    // as a client does whose host vanished without a FIN.
    let mut dead = welcomed(&p).await;
    dead.write_message(
        &Request {
            id: 1,
            op: Op::SubscribeToAll { catch_up: false },
        }
        .into(),
    )
    .await
    .unwrap();
    // Enough pushes to fill the socket buffers, so the publisher's writer
    // is stuck too.
    let pad = "p".repeat(4000);
    for _ in 0..5_000u64 {
        s.logger
            .event(Level::OPERATIONAL)
            .format("e")
            .field("pad", pad.clone())
            .emit();
    }
    let began = Instant::now();
    let deadline = began + Duration::from_secs(20);
    let client = loop {
        match LogportClient::connect(p.url()).await {
            Ok(client) => break client,
            Err(flog_wire::ClientError::Remote {
                code: ErrorCode::Busy,
                ..
            }) if Instant::now() < deadline => tokio::task::yield_now().await,
            Err(e) => panic!("the dead subscriber still holds the slot: {e}"),
        }
    };
    let freed_after = began.elapsed();
    client.ping().await.unwrap();
    // The idle timeout, then at most the writer's 2 s of grace.
    assert!(
        freed_after < idle + Duration::from_secs(5),
        "freed after {freed_after:?}"
    );
    eprintln!("slot freed after {freed_after:?} (idle timeout {idle:?})");
    drop(dead);
    p.shutdown().await;
}

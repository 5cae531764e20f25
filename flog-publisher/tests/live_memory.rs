//! Memory held for catch-up subscriptions whose clients read nothing, and
//! whether it comes back when they leave.
//!
//! `catch_up_subscriptions_hold_bounded_memory` runs in CI with 320
//! subscriptions; the ignored `catch_up_memory_figures` is the 2,400-
//! subscription case of docs/reliability.md:
//!
//! ```sh
//! cargo test --release -p flog-publisher --test live_memory -- --ignored --nocapture
//! ```

mod common;

use std::time::{Duration, Instant};

use flog_core::Level;
use flog_publisher::{Publisher, PublisherConfig};
use flog_wire::{Connection, Hello, Message, Op, Request, Stream, PROTOCOL_VERSION};

use common::{service, start, Service};

const MIB: f64 = 1024.0 * 1024.0;

/// This process's resident memory, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

/// Fills the logger's buffers: 50 facilities of 100 events of about 150
/// bytes, so every catch-up has some 5,000 events to send.
fn fill_buffers(s: &Service) {
    let pad = "b".repeat(100);
    for f in 0..50 {
        let facility = format!("app.part{f}");
        for i in 0..100u64 {
            s.logger
                .event(Level::OPERATIONAL)
                .facility(facility.clone())
                .format("buffered {i}")
                .field("i", i)
                .field("pad", pad.clone())
                .emit();
        }
    }
}

/// A connection with 16 catch-up subscriptions, past their `subscribed`
/// replies; it then reads nothing.
async fn catch_up_subscriber(p: &Publisher) -> Connection<Stream> {
    let mut conn = common::raw(p).await;
    let hello = Hello {
        versions: vec![PROTOCOL_VERSION],
        secret: p.url().secret().to_owned(),
        client: "catch-up".into(),
    };
    conn.write_message(&hello.into()).await.unwrap();
    assert!(matches!(
        conn.read_message().await.unwrap(),
        Some(Message::Welcome(_))
    ));
    for id in 0..16 {
        let op = Op::SubscribeToAll { catch_up: true };
        conn.write_message(&Request { id, op }.into())
            .await
            .unwrap();
    }
    let mut subscribed = 0;
    while subscribed < 16 {
        match conn.read_message().await.unwrap() {
            Some(Message::Response(_)) => subscribed += 1,
            Some(Message::LogEvent(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    conn
}

/// RSS once it stopped changing by more than 1 MiB for 300 ms (or after 10 s).
async fn settled_rss() -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = rss();
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = rss();
        if now.abs_diff(last) < 1 << 20 || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

struct Figures {
    before: u64,
    held: u64,
    after: u64,
}

async fn measure(connections: usize) -> Figures {
    let s = service(false);
    fill_buffers(&s);
    let p = start(
        &s,
        PublisherConfig {
            max_connections: connections + 8,
            write_timeout: Duration::from_secs(3600),
            ..PublisherConfig::default()
        },
    )
    .await;
    let before = settled_rss().await;
    let mut conns = Vec::new();
    for _ in 0..connections {
        conns.push(catch_up_subscriber(&p).await);
    }
    let held = settled_rss().await;
    drop(conns);
    // The publisher notices the closes on its own; a fresh client served
    // means it got round to them.
    let client = flog_wire::LogportClient::connect(p.url()).await.unwrap();
    client.ping().await.unwrap();
    let after = settled_rss().await;
    p.shutdown().await;
    let f = Figures {
        before,
        held,
        after,
    };
    println!(
        "{} catch-up subscriptions: RSS {:.1} MiB before, {:.1} MiB while held (+{:.1}), {:.1} MiB after they left (+{:.1})",
        connections * 16,
        f.before as f64 / MIB,
        f.held as f64 / MIB,
        (f.held as f64 - f.before as f64) / MIB,
        f.after as f64 / MIB,
        (f.after as f64 - f.before as f64) / MIB,
    );
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_subscriptions_hold_bounded_memory() {
    let f = measure(20).await;
    let held = f.held.saturating_sub(f.before) as f64 / MIB;
    assert!(held < 48.0, "320 catch-up subscriptions hold {held:.1} MiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement of the 2,400-subscription case; see the module doc"]
async fn catch_up_memory_figures() {
    measure(150).await;
}

//! What live-event subscribers cost the service's logging thread: the time of
//! one logging call with 0, 1 and 1,000 subscribers that read nothing (the
//! slowest subscriber there is, as a client whose host vanished).
//!
//! Run with `cargo bench -p flog-publisher --bench live`.
#![allow(missing_docs)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use flog_core::{Level, Logger};
use flog_publisher::{Publisher, PublisherConfig};
use flog_wire::{Connection, Hello, Message, Op, Request, PROTOCOL_VERSION};
use tokio::net::TcpStream;

/// Subscriptions per connection: the publisher's default limit.
const PER_CONNECTION: usize = 16;

/// Connections holding `n` event subscriptions in all, each past its
/// `subscribed` reply; from then on they read nothing.
async fn slow_subscribers(publisher: &Publisher, n: usize) -> Vec<Connection> {
    let mut conns = Vec::new();
    let mut left = n;
    while left > 0 {
        let here = left.min(PER_CONNECTION);
        left -= here;
        let stream = TcpStream::connect(publisher.local_addr()).await.unwrap();
        let mut conn = Connection::new(stream);
        let hello = Hello {
            versions: vec![PROTOCOL_VERSION],
            secret: publisher.url().secret().to_owned(),
            client: "bench".into(),
        };
        conn.write_message(&hello.into()).await.unwrap();
        assert!(matches!(
            conn.read_message().await.unwrap(),
            Some(Message::Welcome(_))
        ));
        for id in 0..here as u64 {
            let op = Op::SubscribeToAll { catch_up: false };
            conn.write_message(&Request { id, op }.into())
                .await
                .unwrap();
        }
        let mut subscribed = 0;
        while subscribed < here {
            if let Some(Message::Response(_)) = conn.read_message().await.unwrap() {
                subscribed += 1;
            }
        }
        conns.push(conn);
    }
    conns
}

fn logging_with_subscribers(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut g = c.benchmark_group("log_with_slow_subscribers");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(5));
    for n in [0usize, 1, 1000] {
        let dir = tempfile::tempdir().unwrap();
        let logger = Logger::builder().trailing(false).build().unwrap();
        logger.set_logdir(dir.path()).unwrap();
        let config = PublisherConfig {
            // Subscribers that read nothing are kept for the whole bench.
            write_timeout: Duration::from_secs(3600),
            idle_timeout: Duration::from_secs(3600),
            ..PublisherConfig::default()
        };
        let (publisher, conns) = rt.block_on(async {
            let p = Publisher::builder(logger.clone())
                .config(config)
                .start()
                .await
                .unwrap();
            let conns = slow_subscribers(&p, n).await;
            (p, conns)
        });
        let mut i = 0u64;
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                i += 1;
                logger
                    .event(Level::OPERATIONAL)
                    .facility("app.requests")
                    .format("request {i} done")
                    .field("i", i)
                    .emit()
            })
        });
        drop(conns);
        rt.block_on(publisher.shutdown());
    }
    g.finish();
}

criterion_group!(benches, logging_with_subscribers);
criterion_main!(benches);

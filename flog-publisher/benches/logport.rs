//! Client-observed cost of listing 10,000 incidents, fetch throughput of a
//! large incident, and the cost of connecting (TCP connect, TLS handshake,
//! hello and welcome), over loopback: TLS with the key pinned, as by
//! default, and the same on a port made plaintext (`_plaintext`) to compare.
//!
//! Run with `cargo bench -p flog-publisher --bench logport`.
#![allow(missing_docs)]

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flog_core::{
    flogfile::{incident_name, FlogWriter, Header, HeaderKind},
    Event, Level, Logger, Text, Timestamp,
};
use flog_publisher::Publisher;
use flog_wire::{ListQuery, LogportClient};

fn write_incident(dir: &Path, name: &str, trigger: &Event, filler: usize) {
    let header = Header {
        kind: HeaderKind::Incident.into(),
        name: Some(name.into()),
        trigger: Some(trigger.clone()),
        ..Header::default()
    };
    let file = std::fs::File::create(dir.join(format!("{name}.flog.bz2"))).unwrap();
    let mut w = FlogWriter::new(std::io::BufWriter::new(file), &header).unwrap();
    w.write_event(trigger).unwrap();
    // Incompressible bytes after the records: the publisher serves files as they
    // are, so this measures transport, not decoding.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut block = vec![0u8; 1 << 20];
    let out = w.get_mut();
    for _ in 0..filler {
        for b in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.copy_from_slice(&x.to_le_bytes());
        }
        out.write_all(&block).unwrap();
    }
    w.into_inner().unwrap();
}

fn trigger(num: u64) -> Event {
    Event {
        num,
        time: Timestamp(1_700_000_000_000_000 + num as i64),
        level: Level::WEIRD,
        facility: Some("app.db".into()),
        text: Text::Format("pool exhausted after {ms} ms".into()),
        fields: [("ms".into(), 250.into())].into_iter().collect(),
        ..Event::default()
    }
}

fn logport(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for i in 0..9_999u64 {
        let name = incident_name(Timestamp(1_700_000_000_000_000 + i as i64 * 1000), 0);
        write_incident(dir.path(), &name, &trigger(i), 0);
    }
    let big = incident_name(Timestamp(1_800_000_000_000_000), 0);
    write_incident(dir.path(), &big, &trigger(99_999), 128);
    let size = std::fs::metadata(dir.path().join(format!("{big}.flog.bz2")))
        .unwrap()
        .len();

    let logger = Logger::new();
    logger.set_logdir(dir.path()).unwrap();
    // Two publishers of one logger: the same incidents on a TLS port and on
    // a plaintext one.
    let publishers = rt.block_on(async {
        let tls = Publisher::builder(logger.clone()).start().await.unwrap();
        let plain = Publisher::builder(logger)
            .insecure_plaintext()
            .start()
            .await
            .unwrap();
        let tls_client = LogportClient::connect(tls.url()).await.unwrap();
        let plain_client = LogportClient::connect(plain.url()).await.unwrap();
        [(tls, tls_client, ""), (plain, plain_client, "_plaintext")]
    });

    let mut g = c.benchmark_group("list");
    g.measurement_time(Duration::from_secs(5));
    for (_, client, suffix) in &publishers {
        g.bench_function(format!("10k_incidents{suffix}"), |b| {
            b.to_async(&rt).iter(|| async {
                let page = client.list_incidents(&ListQuery::default()).await.unwrap();
                assert_eq!(page.incidents.len(), 10_000);
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("fetch");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(size));
    for (_, client, suffix) in &publishers {
        g.bench_function(format!("128MiB_incident{suffix}"), |b| {
            b.to_async(&rt).iter(|| async {
                let mut sink = tokio::io::sink();
                let done = client.get_incident_to(&big, &mut sink).await.unwrap();
                assert_eq!(done.size, size);
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("connect");
    for (publisher, _, suffix) in &publishers {
        g.bench_function(format!("hello{suffix}"), |b| {
            b.to_async(&rt).iter(|| async {
                let client = LogportClient::connect(publisher.url()).await.unwrap();
                assert_eq!(client.welcome().pid, std::process::id());
            })
        });
    }
    g.finish();
    for (publisher, client, _) in publishers {
        drop(client);
        rt.block_on(publisher.shutdown());
    }
}

criterion_group!(benches, logport);
criterion_main!(benches);

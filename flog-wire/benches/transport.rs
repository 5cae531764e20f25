//! What TLS costs the logport, against plaintext, over loopback: a new
//! connection (TCP connect, the TLS handshake, then one request's round
//! trip) and a 128 MiB transfer in 512 KiB incident chunks, the size the
//! publisher sends.
//!
//! Run with `nice -n -15 cargo bench -p flog-wire --bench transport`.
#![allow(missing_docs)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flog_wire::{
    Acceptor, Connection, Connector, LogportUrl, Message, Op, Reply, Request, Response, ServerTls,
    TlsKey,
};
use serde_bytes::ByteBuf;
use tokio::net::TcpListener;

const CHUNK: usize = 512 * 1024;
const TRANSFER: u64 = 128 * 1024 * 1024;

/// A logport-shaped server: answers `ping` with `pong`, and `get_incident`
/// with [`TRANSFER`] bytes of chunks and a `incident_done`.
async fn serve(acceptor: Acceptor) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let mut connection = Connection::new(acceptor.accept(tcp).await.unwrap());
                while let Ok(Some(Message::Request(request))) = connection.read_message().await {
                    answer(&mut connection, request).await;
                }
            });
        }
    });
    port
}

async fn answer(connection: &mut Connection<flog_wire::Stream>, request: Request) {
    let reply = |reply| {
        Message::Response(Response {
            id: request.id,
            reply,
        })
    };
    match request.op {
        Op::Ping => connection.write_message(&reply(Reply::Pong)).await.unwrap(),
        Op::GetIncident { name, .. } => {
            let data = ByteBuf::from(vec![0x5a; CHUNK]);
            let mut offset = 0;
            while offset < TRANSFER {
                let chunk = reply(Reply::IncidentChunk {
                    name: name.clone(),
                    offset,
                    data: data.clone(),
                    total_size: TRANSFER,
                });
                connection.feed(&chunk).await.unwrap();
                offset += CHUNK as u64;
            }
            let done = reply(Reply::IncidentDone {
                name,
                size: TRANSFER,
                sha256: ByteBuf::from(vec![0; 32]),
            });
            connection.write_message(&done).await.unwrap();
        }
        other => panic!("unexpected {other:?}"),
    }
}

async fn ping(connection: &mut Connection<flog_wire::Stream>) {
    let request = Message::Request(Request {
        id: 1,
        op: Op::Ping,
    });
    connection.write_message(&request).await.unwrap();
    let answer = connection.read_message().await.unwrap();
    assert!(matches!(answer, Some(Message::Response(_))), "{answer:?}");
}

async fn fetch(connection: &mut Connection<flog_wire::Stream>) -> u64 {
    let op = Op::GetIncident {
        name: "incident-bench".into(),
        offset: 0,
        chunk_size: None,
    };
    let request = Message::Request(Request { id: 2, op });
    connection.write_message(&request).await.unwrap();
    let mut received = 0;
    loop {
        match connection.read_message().await.unwrap() {
            Some(Message::Response(Response {
                reply: Reply::IncidentChunk { data, .. },
                ..
            })) => received += data.len() as u64,
            Some(Message::Response(Response {
                reply: Reply::IncidentDone { .. },
                ..
            })) => return received,
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn transport(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let key = TlsKey::generate().unwrap();
    let (tls_url, plain_url) = rt.block_on(async {
        let tls_port = serve(Acceptor::tls(ServerTls::new(&key).unwrap())).await;
        let plain_port = serve(Acceptor::insecure()).await;
        (
            LogportUrl::tls(key.fingerprint(), "127.0.0.1", tls_port, "bench", "s").unwrap(),
            LogportUrl::insecure("127.0.0.1", plain_port, "bench", "s").unwrap(),
        )
    });
    let connector = Connector::new();
    let urls = [("tls", &tls_url), ("plaintext", &plain_url)];

    let mut g = c.benchmark_group("connect_and_first_round_trip");
    g.measurement_time(Duration::from_secs(5));
    for (name, url) in urls {
        g.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                let mut connection = Connection::new(connector.connect(url).await.unwrap());
                ping(&mut connection).await;
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("transfer_128MiB");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(TRANSFER));
    for (name, url) in urls {
        let mut connection = rt.block_on(async {
            let mut connection = Connection::new(connector.connect(url).await.unwrap());
            ping(&mut connection).await;
            connection
        });
        g.bench_function(name, |b| {
            b.iter(|| assert_eq!(rt.block_on(fetch(&mut connection)), TRANSFER))
        });
    }
    g.finish();
}

criterion_group!(benches, transport);
criterion_main!(benches);

//! The transport over real TCP on 127.0.0.1.

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::*;
use crate::connection::Connection;
use crate::fingerprint::KeyFingerprint;
use crate::message::{ErrorCode, Hello, Message, Op, Reply, Request, Response};
use crate::tls::{KeyFile, ServerTls, TlsKey};
use crate::url::LogportUrl;

const SECRET: &str = "TOPSECRET-9f3a";

async fn bind() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    (listener, port)
}

fn tls_url(port: u16, key: KeyFingerprint) -> LogportUrl {
    LogportUrl::tls(key, "127.0.0.1", port, "pub-1", SECRET).expect("url")
}

fn insecure_url(port: u16) -> LogportUrl {
    LogportUrl::insecure("127.0.0.1", port, "pub-1", SECRET).expect("url")
}

fn hello() -> Message {
    Message::Hello(Hello {
        versions: vec![1],
        secret: SECRET.into(),
        client: "transport-test".into(),
    })
}

fn ping(id: u64) -> Message {
    Message::Request(Request { id, op: Op::Ping })
}

fn pong(id: u64) -> Message {
    Message::Response(Response {
        id,
        reply: Reply::Pong,
    })
}

/// Accepts `count` connections in turn with `acceptor`, answering each ping
/// with a pong until the client closes; returns each accept's outcome
/// (the peer key on success).
fn serve(
    listener: TcpListener,
    acceptor: Acceptor,
    count: usize,
) -> JoinHandle<Vec<Result<Option<KeyFingerprint>, TransportError>>> {
    tokio::spawn(async move {
        let mut outcomes = Vec::new();
        for _ in 0..count {
            let (tcp, _) = listener.accept().await.expect("accept");
            match acceptor.accept(tcp).await {
                Ok(stream) => {
                    assert_eq!(stream.is_tls(), acceptor.is_tls());
                    outcomes.push(Ok(stream.peer_key()));
                    let mut connection = Connection::new(stream);
                    while let Some(message) = connection.read_message().await.expect("read") {
                        let Message::Request(Request { id, op: Op::Ping }) = message else {
                            panic!("unexpected {message:?}");
                        };
                        connection.write_message(&pong(id)).await.expect("write");
                    }
                }
                Err(error) => outcomes.push(Err(error)),
            }
        }
        outcomes
    })
}

async fn round_trip(stream: Stream) {
    let mut connection = Connection::new(stream);
    connection.write_message(&ping(7)).await.expect("write");
    assert_eq!(
        connection.read_message().await.expect("read"),
        Some(pong(7))
    );
}

mod hostile;
mod keys;

//! The client against fake publishers on real loopback sockets.

mod edges;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::*;
use crate::message::{
    EncodedEvent, ErrorCode, ErrorMessage, EventsDropped, Goodbye, IncidentCatchupDone, LogEvent,
    NewIncident, Request, Response, SubscriptionEnded,
};
use crate::{TransportError, WireError, PROTOCOL_VERSION};

const PUBLISHER: &str = "pub-1";
const SECRET: &str = "s3cret";
const INCIDENT: &str = "incident-2024-01-02--03-04-05Z-abcd";

async fn listen() -> (TcpListener, LogportUrl) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("local addr").port();
    let url = LogportUrl::insecure("127.0.0.1", port, PUBLISHER, SECRET).expect("valid url");
    (listener, url)
}

fn welcome(publisher_id: &str, version: u32) -> Message {
    let mut versions = BTreeMap::new();
    versions.insert("app".to_string(), "1.2.3".to_string());
    Message::Welcome(Welcome {
        version,
        publisher_id: publisher_id.into(),
        pid: 4242,
        versions,
        incarnation: "inc-1".into(),
        server: "fake-publisher/0".into(),
        idle_timeout_ms: None,
    })
}

async fn expect_hello<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    conn: &mut Connection<S>,
) -> Hello {
    match conn.read_message().await.expect("read hello") {
        Some(Message::Hello(hello)) => hello,
        other => panic!("expected a hello, got {other:?}"),
    }
}

/// Accepts one client and welcomes it after checking its secret.
async fn accept(listener: &TcpListener) -> Connection {
    let (stream, _) = listener.accept().await.expect("accept");
    let mut conn = Connection::new(stream);
    let hello = expect_hello(&mut conn).await;
    assert_eq!(hello.secret, SECRET);
    conn.write_message(&welcome(PUBLISHER, PROTOCOL_VERSION))
        .await
        .expect("write welcome");
    conn
}

async fn next_request<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    conn: &mut Connection<S>,
) -> Request {
    match conn.read_message().await.expect("read request") {
        Some(Message::Request(request)) => request,
        other => panic!("expected a request, got {other:?}"),
    }
}

async fn reply(conn: &mut Connection, id: u64, reply: Reply) {
    conn.write_message(&Response { id, reply }.into())
        .await
        .expect("write reply");
}

fn incident_info(name: &str) -> IncidentInfo {
    IncidentInfo {
        name: name.into(),
        trigger: EncodedEvent::new(vec![0xa0]),
        time: 1_700_000_000_000_000,
        size: 10,
        level: 30,
    }
}

fn incident_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn event(byte: u8) -> EncodedEvent {
    EncodedEvent::new(vec![byte])
}

/// Answers a get_incident request from its offset on, in chunks.
async fn serve_incident(conn: &mut Connection, request: &Request, data: &[u8], digest: [u8; 32]) {
    let Op::GetIncident {
        name,
        offset,
        chunk_size,
    } = &request.op
    else {
        panic!("expected get_incident, got {:?}", request.op);
    };
    let chunk = chunk_size.unwrap_or(1000) as usize;
    let mut position = *offset as usize;
    while position < data.len() {
        let end = (position + chunk).min(data.len());
        let reply = Reply::IncidentChunk {
            name: name.clone(),
            offset: position as u64,
            data: ByteBuf::from(data[position..end].to_vec()),
            total_size: data.len() as u64,
        };
        let response = Response {
            id: request.id,
            reply,
        };
        conn.feed(&response.into()).await.expect("feed chunk");
        position = end;
    }
    let done = Reply::IncidentDone {
        name: name.clone(),
        size: data.len() as u64,
        sha256: ByteBuf::from(digest.to_vec()),
    };
    reply(conn, request.id, done).await;
}

#[tokio::test]
async fn hello_and_welcome() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut conn = Connection::new(stream);
        let hello = expect_hello(&mut conn).await;
        assert_eq!(hello.versions, SUPPORTED_VERSIONS);
        assert_eq!(hello.secret, SECRET);
        assert_eq!(hello.client, "test-client/1");
        conn.write_message(&welcome(PUBLISHER, 1))
            .await
            .expect("write");
        let request = next_request(&mut conn).await;
        assert_eq!(request.op, Op::Ping);
        reply(&mut conn, request.id, Reply::Pong).await;
    });
    let options = ClientOptions::new().client_name("test-client/1");
    let client = LogportClient::connect_with(&url, options)
        .await
        .expect("connect");
    assert_eq!(client.welcome().publisher_id, PUBLISHER);
    assert_eq!(client.welcome().pid, 4242);
    client.ping().await.expect("ping");
    server.await.expect("server");
}

#[tokio::test]
async fn version_mismatch_is_a_remote_error() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut conn = Connection::new(stream);
        expect_hello(&mut conn).await;
        let error = ErrorMessage {
            id: None,
            code: ErrorCode::VersionMismatch,
            message: "this publisher speaks version 7 only".into(),
        };
        conn.write_message(&error.into()).await.expect("write");
    });
    let error = LogportClient::connect(&url).await.expect_err("refused");
    assert!(
        matches!(&error, ClientError::Remote { code: ErrorCode::VersionMismatch, message } if message.contains("7")),
        "{error:?}"
    );
    server.await.expect("server");
}

#[tokio::test]
async fn wrong_publisher_is_refused() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut conn = Connection::new(stream);
        expect_hello(&mut conn).await;
        conn.write_message(&welcome("impostor", 1))
            .await
            .expect("write");
    });
    let error = LogportClient::connect(&url).await.expect_err("refused");
    assert!(
        matches!(&error, ClientError::PublisherMismatch { expected, actual } if expected == PUBLISHER && actual == "impostor"),
        "{error:?}"
    );
    server.await.expect("server");
}

#[tokio::test]
async fn unoffered_version_is_refused() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut conn = Connection::new(stream);
        expect_hello(&mut conn).await;
        conn.write_message(&welcome(PUBLISHER, 99))
            .await
            .expect("write");
    });
    let error = LogportClient::connect(&url).await.expect_err("refused");
    assert!(matches!(error, ClientError::Protocol(_)), "{error:?}");
    server.await.expect("server");
}

#[tokio::test]
async fn connection_refused_names_the_address() {
    let (listener, url) = listen().await;
    drop(listener);
    let error = LogportClient::connect(&url)
        .await
        .expect_err("nobody listens");
    assert!(
        matches!(&error, ClientError::Transport(TransportError::Connect { addr, .. }) if *addr == url.authority()),
        "{error:?}"
    );
    assert!(!error.to_string().contains(SECRET));
}

#[tokio::test]
async fn pipelined_requests_are_answered_out_of_order() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let mut conn = accept(&listener).await;
        // Read all four before answering any, so they are truly in flight
        // together, then answer newest first.
        let mut requests = Vec::new();
        for _ in 0..4 {
            requests.push(next_request(&mut conn).await);
        }
        for request in requests.into_iter().rev() {
            let answer = match request.op {
                Op::GetPid => Reply::Pid { pid: 77 },
                Op::GetVersions => Reply::Versions {
                    versions: [("app".to_string(), "9".to_string())].into(),
                },
                Op::Ping => Reply::Pong,
                Op::ListIncidents(_) => Reply::Incidents {
                    incidents: vec![incident_info(INCIDENT)],
                    more: false,
                },
                other => panic!("unexpected {other:?}"),
            };
            reply(&mut conn, request.id, answer).await;
        }
    });
    let client = LogportClient::connect(&url).await.expect("connect");
    let query = ListQuery::default();
    let (pid, versions, pong, page) = tokio::join!(
        client.get_pid(),
        client.get_versions(),
        client.ping(),
        client.list_incidents(&query),
    );
    assert_eq!(pid.expect("pid"), 77);
    assert_eq!(versions.expect("versions")["app"], "9");
    pong.expect("pong");
    let page = page.expect("page");
    assert_eq!(page.incidents, [incident_info(INCIDENT)]);
    assert!(!page.more);
    server.await.expect("server");
}

#[tokio::test]
async fn list_all_incidents_follows_pages() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let mut conn = accept(&listener).await;
        let first = next_request(&mut conn).await;
        assert_eq!(
            first.op,
            Op::ListIncidents(ListQuery {
                since_name: None,
                since_time: Some(5),
                limit: Some(2),
            })
        );
        let page = Reply::Incidents {
            incidents: vec![incident_info("incident-a"), incident_info("incident-b")],
            more: true,
        };
        reply(&mut conn, first.id, page).await;
        let second = next_request(&mut conn).await;
        assert_eq!(
            second.op,
            Op::ListIncidents(ListQuery {
                since_name: Some("incident-b".into()),
                since_time: Some(5),
                limit: Some(2),
            })
        );
        let page = Reply::Incidents {
            incidents: vec![incident_info("incident-c")],
            more: false,
        };
        reply(&mut conn, second.id, page).await;
    });
    let client = LogportClient::connect(&url).await.expect("connect");
    let query = ListQuery {
        since_name: None,
        since_time: Some(5),
        limit: Some(2),
    };
    let all = client.list_all_incidents(query).await.expect("list");
    let names: Vec<&str> = all.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["incident-a", "incident-b", "incident-c"]);
    server.await.expect("server");
}

#[tokio::test]
async fn fetch_streams_chunks_and_verifies_the_digest() {
    let data = incident_bytes(10_000);
    let digest = sha256(&data);
    let (listener, url) = listen().await;
    let served = data.clone();
    let server = tokio::spawn(async move {
        let mut conn = accept(&listener).await;
        let request = next_request(&mut conn).await;
        assert!(
            matches!(&request.op, Op::GetIncident { name, offset: 0, chunk_size: Some(777) } if name == INCIDENT),
            "{request:?}"
        );
        serve_incident(&mut conn, &request, &served, digest).await;
    });
    let options = ClientOptions::new().chunk_size(Some(777));
    let client = LogportClient::connect_with(&url, options)
        .await
        .expect("connect");
    let mut out = Vec::new();
    let fetched = client
        .get_incident_to(INCIDENT, &mut out)
        .await
        .expect("fetch");
    assert_eq!(out, data);
    assert_eq!(
        fetched,
        FetchedIncident {
            name: INCIDENT.into(),
            size: data.len() as u64,
            sha256: digest,
        }
    );
    server.await.expect("server");
}

#[tokio::test]
async fn digest_mismatch_is_detected() {
    let data = incident_bytes(2500);
    let (listener, url) = listen().await;
    let served = data.clone();
    let server = tokio::spawn(async move {
        let mut conn = accept(&listener).await;
        let request = next_request(&mut conn).await;
        let mut wrong = sha256(&served);
        wrong[0] ^= 1;
        serve_incident(&mut conn, &request, &served, wrong).await;
    });
    let client = LogportClient::connect(&url).await.expect("connect");
    let error = client
        .get_incident_bytes(INCIDENT)
        .await
        .expect_err("corrupt");
    match error {
        ClientError::DigestMismatch {
            name,
            expected,
            actual,
        } => {
            assert_eq!(name, INCIDENT);
            assert_eq!(actual, sha256(&data));
            assert_ne!(expected, actual);
        }
        other => panic!("expected DigestMismatch, got {other:?}"),
    }
    server.await.expect("server");
}

#[tokio::test]
async fn fetch_resumes_from_an_offset() {
    let data = incident_bytes(5000);
    let digest = sha256(&data);
    let held = 3333;
    let (listener, url) = listen().await;
    let served = data.clone();
    let server = tokio::spawn(async move {
        let mut conn = accept(&listener).await;
        for _ in 0..2 {
            let request = next_request(&mut conn).await;
            assert!(
                matches!(request.op, Op::GetIncident { offset, .. } if offset == held as u64),
                "{request:?}"
            );
            serve_incident(&mut conn, &request, &served, digest).await;
        }
    });
    let client = LogportClient::connect(&url).await.expect("connect");

    let from = ResumePoint::from_bytes(&data[..held]);
    assert_eq!(from.offset(), held as u64);
    let mut rest = Vec::new();
    let fetched = client
        .resume_incident_to(INCIDENT, from, &mut rest)
        .await
        .expect("resume");
    assert_eq!(rest, data[held..]);
    assert_eq!(fetched.sha256, digest);
    assert_eq!(fetched.size, data.len() as u64);

    let mut prefix = &data[..held];
    let from = ResumePoint::from_reader(&mut prefix)
        .await
        .expect("hash prefix");
    let mut rest = Vec::new();
    client
        .resume_incident_to(INCIDENT, from, &mut rest)
        .await
        .expect("resume from a reader");
    assert_eq!(rest, data[held..]);
    server.await.expect("server");
}

#[tokio::test]
async fn out_of_order_chunks_are_a_protocol_error() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let mut conn = accept(&listener).await;
        let request = next_request(&mut conn).await;
        for offset in [0, 200] {
            let chunk = Reply::IncidentChunk {
                name: INCIDENT.into(),
                offset,
                data: ByteBuf::from(vec![0; 100]),
                total_size: 300,
            };
            reply(&mut conn, request.id, chunk).await;
        }
        // The client gave up on the fetch; it still answers other requests.
        let request = next_request(&mut conn).await;
        reply(&mut conn, request.id, Reply::Pong).await;
    });
    let client = LogportClient::connect(&url).await.expect("connect");
    let error = client.get_incident_bytes(INCIDENT).await.expect_err("gap");
    assert!(matches!(error, ClientError::Protocol(_)), "{error:?}");
    client.ping().await.expect("ping after a failed fetch");
    server.await.expect("server");
}

#[tokio::test]
async fn remote_error_fails_only_its_request() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let mut conn = accept(&listener).await;
        let request = next_request(&mut conn).await;
        let error = ErrorMessage {
            id: Some(request.id),
            code: ErrorCode::UnknownIncident,
            message: "no such incident".into(),
        };
        conn.write_message(&error.into()).await.expect("write");
        let request = next_request(&mut conn).await;
        reply(&mut conn, request.id, Reply::Pong).await;
    });
    let client = LogportClient::connect(&url).await.expect("connect");
    let error = client
        .get_incident_bytes(INCIDENT)
        .await
        .expect_err("unknown");
    assert!(
        matches!(
            error,
            ClientError::Remote {
                code: ErrorCode::UnknownIncident,
                ..
            }
        ),
        "{error:?}"
    );
    client.ping().await.expect("ping");
    server.await.expect("server");
}

#[tokio::test]
async fn invalid_names_and_oversized_requests_fail_locally() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let mut conn = accept(&listener).await;
        // Neither bad request reaches the publisher: the ping comes first.
        let request = next_request(&mut conn).await;
        assert_eq!(request.op, Op::Ping);
        reply(&mut conn, request.id, Reply::Pong).await;
    });
    let options = ClientOptions::new().max_frame(512);
    let client = LogportClient::connect_with(&url, options)
        .await
        .expect("connect");
    let error = client
        .get_incident_bytes("incident-../../etc/passwd")
        .await
        .expect_err("invalid");
    assert!(
        matches!(error, ClientError::InvalidIncidentName(_)),
        "{error:?}"
    );
    let query = ListQuery {
        since_name: Some("x".repeat(1000)),
        ..ListQuery::default()
    };
    let error = client.list_incidents(&query).await.expect_err("too large");
    assert!(
        matches!(
            error,
            ClientError::Wire(WireError::MessageTooLarge { max: 512, .. })
        ),
        "{error:?}"
    );
    client.ping().await.expect("ping");
    server.await.expect("server");
}

#[tokio::test]
async fn undecodable_reply_fails_its_request_at_once() {
    #[derive(serde::Serialize)]
    struct FutureResponse {
        id: u64,
        reply: &'static str,
    }
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let request = {
            let mut conn = Connection::new(&mut stream);
            expect_hello(&mut conn).await;
            conn.write_message(&welcome(PUBLISHER, 1))
                .await
                .expect("write");
            next_request(&mut conn).await
        };
        let mut body = Vec::new();
        let response = FutureResponse {
            id: request.id,
            reply: "from_the_future",
        };
        ciborium::into_writer(&BTreeMap::from([("response", response)]), &mut body)
            .expect("encode");
        let mut frame = (body.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        stream.write_all(&frame).await.expect("write raw frame");
        let mut conn = Connection::new(stream);
        let request = next_request(&mut conn).await;
        reply(&mut conn, request.id, Reply::Pong).await;
    });
    let client = LogportClient::connect(&url).await.expect("connect");
    let error = client.get_pid().await.expect_err("undecodable");
    assert!(matches!(error, ClientError::Protocol(_)), "{error:?}");
    client.ping().await.expect("the connection goes on");
    server.await.expect("server");
}

#[tokio::test]
async fn incident_subscription_yields_pushes_in_order() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let mut conn = accept(&listener).await;
        let request = next_request(&mut conn).await;
        assert_eq!(
            request.op,
            Op::SubscribeToIncidents {
                catch_up: true,
                since_name: Some("incident-a".into()),
            }
        );
        // Pushes follow the reply in the same write, so the client must
        // route them before the subscriber even has its handle.
        let messages = [
            Response {
                id: request.id,
                reply: Reply::Subscribed { subscription: 7 },
            }
            .into(),
            NewIncident {
                subscription: 7,
                incident: incident_info("incident-b"),
            }
            .into(),
            IncidentCatchupDone { subscription: 7 }.into(),
            EventsDropped {
                subscription: 7,
                count: 2,
            }
            .into(),
            NewIncident {
                subscription: 7,
                incident: incident_info("incident-e"),
            }
            .into(),
            SubscriptionEnded {
                subscription: 7,
                reason: "publisher stopping".into(),
            }
            .into(),
        ];
        for message in &messages {
            conn.feed(message).await.expect("feed");
        }
        conn.flush().await.expect("flush");
        // Keep the connection open until the client is done.
        assert!(conn.read_message().await.expect("eof").is_none());
    });
    let client = LogportClient::connect(&url).await.expect("connect");
    let mut subscription = client
        .subscribe_to_incidents(true, Some("incident-a".into()))
        .await
        .expect("subscribe");
    assert_eq!(subscription.id(), 7);
    let mut updates = Vec::new();
    while let Some(update) = subscription.next().await {
        updates.push(update);
    }
    assert_eq!(
        updates,
        [
            IncidentUpdate::New(incident_info("incident-b")),
            IncidentUpdate::CatchupDone,
            IncidentUpdate::Dropped { count: 2 },
            IncidentUpdate::New(incident_info("incident-e")),
            IncidentUpdate::Ended {
                reason: "publisher stopping".into()
            },
        ]
    );
    drop(subscription);
    drop(client);
    server.await.expect("server");
}

#[tokio::test]
async fn event_subscription_overflows_and_unsubscribes() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let mut conn = accept(&listener).await;
        let request = next_request(&mut conn).await;
        assert_eq!(request.op, Op::SubscribeToAll { catch_up: true });
        reply(&mut conn, request.id, Reply::Subscribed { subscription: 9 }).await;
        for byte in 0..5 {
            let push = LogEvent {
                subscription: 9,
                event: event(byte),
                origin: None,
            };
            conn.feed(&push.into()).await.expect("feed");
        }
        conn.flush().await.expect("flush");
        let ping = next_request(&mut conn).await;
        assert_eq!(ping.op, Op::Ping);
        reply(&mut conn, ping.id, Reply::Pong).await;
        let request = next_request(&mut conn).await;
        assert_eq!(request.op, Op::Unsubscribe { subscription: 9 });
        reply(
            &mut conn,
            request.id,
            Reply::Unsubscribed { subscription: 9 },
        )
        .await;
    });
    let options = ClientOptions::new().subscription_buffer(2);
    let client = LogportClient::connect_with(&url, options)
        .await
        .expect("connect");
    let mut subscription = client.subscribe_to_all(true).await.expect("subscribe");
    // The pong comes after the five events, so once it is here the reader
    // has queued (or dropped) all of them.
    client.ping().await.expect("ping");
    assert_eq!(
        subscription.next().await,
        Some(EventUpdate::Event(event(0)))
    );
    assert_eq!(
        futures::StreamExt::next(&mut subscription).await,
        Some(EventUpdate::Event(event(1)))
    );
    assert_eq!(
        subscription.next().await,
        Some(EventUpdate::Dropped { count: 3 })
    );
    client.unsubscribe(9).await.expect("unsubscribe");
    assert_eq!(
        subscription.next().await,
        Some(EventUpdate::Ended {
            reason: "unsubscribed".into()
        })
    );
    assert_eq!(subscription.next().await, None);
    server.await.expect("server");
}

#[tokio::test]
async fn dropping_a_subscription_unsubscribes() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let mut conn = accept(&listener).await;
        let request = next_request(&mut conn).await;
        reply(&mut conn, request.id, Reply::Subscribed { subscription: 4 }).await;
        let request = next_request(&mut conn).await;
        assert_eq!(request.op, Op::Unsubscribe { subscription: 4 });
        reply(
            &mut conn,
            request.id,
            Reply::Unsubscribed { subscription: 4 },
        )
        .await;
        let request = next_request(&mut conn).await;
        reply(&mut conn, request.id, Reply::Pong).await;
    });
    let client = LogportClient::connect(&url).await.expect("connect");
    let subscription = client.subscribe_to_all(false).await.expect("subscribe");
    drop(subscription);
    client.ping().await.expect("ping");
    server.await.expect("server");
}

#[tokio::test]
async fn goodbye_fails_pending_requests_and_ends_subscriptions() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let mut conn = accept(&listener).await;
        let request = next_request(&mut conn).await;
        reply(&mut conn, request.id, Reply::Subscribed { subscription: 3 }).await;
        next_request(&mut conn).await;
        let goodbye = Goodbye {
            reason: "maintenance".into(),
        };
        conn.write_message(&goodbye.into()).await.expect("write");
    });
    let client = LogportClient::connect(&url).await.expect("connect");
    let mut subscription = client
        .subscribe_to_incidents(false, None)
        .await
        .expect("subscribe");
    let error = client.get_pid().await.expect_err("goodbye");
    assert!(
        matches!(&error, ClientError::Closed { reason } if reason.contains("maintenance")),
        "{error:?}"
    );
    assert!(matches!(
        subscription.next().await,
        Some(IncidentUpdate::Ended { reason }) if reason.contains("maintenance")
    ));
    assert_eq!(subscription.next().await, None);
    let error = client.ping().await.expect_err("closed");
    assert!(matches!(error, ClientError::Closed { .. }), "{error:?}");
    server.await.expect("server");
}

#[tokio::test]
async fn lost_connection_fails_pending_requests() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let mut conn = accept(&listener).await;
        let request = next_request(&mut conn).await;
        let error = ErrorMessage {
            id: None,
            code: ErrorCode::Timeout,
            message: "idle too long".into(),
        };
        conn.write_message(&error.into()).await.expect("write");
        drop(conn);
        request
    });
    let client = LogportClient::connect(&url).await.expect("connect");
    let error = client.ping().await.expect_err("lost");
    assert!(
        matches!(&error, ClientError::Closed { reason } if reason.contains("idle too long")),
        "{error:?}"
    );
    server.await.expect("server");
}

#[tokio::test]
async fn request_timeout_then_late_reply_is_ignored() {
    let (listener, url) = listen().await;
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let mut conn = accept(&listener).await;
        let late = next_request(&mut conn).await;
        release_rx.await.expect("release");
        reply(&mut conn, late.id, Reply::Pid { pid: 1 }).await;
        let request = next_request(&mut conn).await;
        reply(&mut conn, request.id, Reply::Pid { pid: 2 }).await;
    });
    let options = ClientOptions::new().request_timeout(Duration::from_secs(30));
    let client = LogportClient::connect_with(&url, options)
        .await
        .expect("connect");
    // Paused time jumps ahead as soon as every task waits, so the timeout
    // fires without the test sleeping. Only around this one request, though:
    // it would also fire while a socket is merely slow.
    tokio::time::pause();
    let error = client.get_pid().await.expect_err("no reply");
    tokio::time::resume();
    assert!(
        matches!(
            error,
            ClientError::Timeout {
                operation: "get_pid"
            }
        ),
        "{error:?}"
    );
    release_tx.send(()).expect("server waits");
    assert_eq!(client.get_pid().await.expect("pid"), 2);
    server.await.expect("server");
}

#[tokio::test]
async fn dropping_the_client_closes_the_connection() {
    let (listener, url) = listen().await;
    let (done_tx, done_rx) = oneshot::channel();
    let server = tokio::spawn(async move {
        let mut conn = accept(&listener).await;
        let end = conn.read_message().await.expect("clean eof");
        done_tx.send(end).expect("test waits");
    });
    let client = LogportClient::connect(&url).await.expect("connect");
    drop(client);
    assert_eq!(done_rx.await.expect("server reports"), None);
    server.await.expect("server");
}

#[tokio::test]
async fn handshake_timeout() {
    // The kernel completes the TCP handshake for a listener nobody accepts
    // from, so the client connects, says hello and is never welcomed.
    let (listener, url) = listen().await;
    tokio::time::pause();
    let options = ClientOptions::new().connect_timeout(Duration::from_secs(10));
    let error = LogportClient::connect_with(&url, options)
        .await
        .expect_err("no welcome");
    tokio::time::resume();
    assert!(
        matches!(
            error,
            ClientError::Timeout {
                operation: "connect"
            }
        ),
        "{error:?}"
    );
    drop(listener);
}

#[test]
fn chunk_size_fits_a_lowered_frame_limit() {
    let options = ClientOptions::new();
    assert_eq!(options.fetch_chunk_size(), None);
    let options = ClientOptions::new().chunk_size(Some(4096));
    assert_eq!(options.fetch_chunk_size(), Some(4096));
    let options = ClientOptions::new().max_frame(64 * 1024);
    assert_eq!(options.fetch_chunk_size(), Some(63 * 1024));
    let options = ClientOptions::new()
        .max_frame(64 * 1024)
        .chunk_size(Some(100));
    assert_eq!(options.fetch_chunk_size(), Some(100));
    let options = ClientOptions::new().max_frame(10);
    assert_eq!(options.fetch_chunk_size(), Some(1));
}

//! Fetches whose size contradicts the listing, and keeping subscribed
//! connections alive (and noticing when the publisher is not).

use std::time::Instant;

use super::*;

const PATIENCE: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_stream_of_another_size_than_listed_is_refused_before_writing() {
    let data = incident_bytes(2500);
    let digest = sha256(&data);
    let (listener, url) = listen().await;
    let served = data.clone();
    let server = tokio::spawn(async move {
        let mut conn = accept(&listener).await;
        for _ in 0..2 {
            let request = next_request(&mut conn).await;
            serve_incident(&mut conn, &request, &served, digest).await;
        }
    });
    let client = LogportClient::connect(&url).await.expect("connect");
    let listed = 1000;
    let mut out = Vec::new();
    let from = ResumePoint::start().expect_size(listed);
    match client.resume_incident_to(INCIDENT, from, &mut out).await {
        Err(ClientError::SizeMismatch {
            name,
            listed: l,
            streamed,
        }) => {
            assert_eq!((name.as_str(), l, streamed), (INCIDENT, listed, 2500));
        }
        other => panic!("expected a size mismatch, got {other:?}"),
    }
    assert!(
        out.is_empty(),
        "nothing of a contradicted stream is written"
    );
    // The size the listing gave is accepted.
    let from = ResumePoint::start().expect_size(2500);
    let fetched = client
        .resume_incident_to(INCIDENT, from, &mut out)
        .await
        .expect("fetch");
    assert_eq!((fetched.size, out), (2500, data));
    server.await.expect("server");
}

/// A welcome advertising an idle timeout of `idle`.
fn welcome_with_idle(idle: Duration) -> Message {
    match welcome(PUBLISHER, PROTOCOL_VERSION) {
        Message::Welcome(mut w) => {
            w.idle_timeout_ms = Some(idle.as_millis() as u64);
            Message::Welcome(w)
        }
        _ => unreachable!(),
    }
}

async fn accept_with_idle(listener: &TcpListener, idle: Duration) -> Connection {
    let (stream, _) = listener.accept().await.expect("accept");
    let mut conn = Connection::new(stream);
    expect_hello(&mut conn).await;
    conn.write_message(&welcome_with_idle(idle))
        .await
        .expect("write welcome");
    conn
}

#[tokio::test]
async fn a_subscribed_client_pings_within_the_advertised_idle_timeout() {
    let idle = Duration::from_millis(900);
    let (listener, url) = listen().await;
    let (pinged, pings) = oneshot::channel();
    let server = tokio::spawn(async move {
        let mut conn = accept_with_idle(&listener, idle).await;
        let subscribe = next_request(&mut conn).await;
        assert!(matches!(subscribe.op, Op::SubscribeToAll { .. }));
        reply(
            &mut conn,
            subscribe.id,
            Reply::Subscribed { subscription: 1 },
        )
        .await;
        let subscribed = Instant::now();
        // Three pings in a row, each answered, each well inside the timeout
        // since the last frame from the client.
        let mut last = subscribed;
        for _ in 0..3 {
            let ping = next_request(&mut conn).await;
            assert_eq!(ping.op, Op::Ping);
            assert!(last.elapsed() < idle, "silent for {:?}", last.elapsed());
            last = Instant::now();
            reply(&mut conn, ping.id, Reply::Pong).await;
        }
        let _ = pinged.send(());
        // Keeps answering, as a live publisher does.
        while let Ok(Some(Message::Request(r))) = conn.read_message().await {
            reply(&mut conn, r.id, Reply::Pong).await;
        }
    });
    let client = LogportClient::connect(&url).await.expect("connect");
    let _sub = client.subscribe_to_all(false).await.expect("subscribe");
    tokio::time::timeout(PATIENCE, pings)
        .await
        .expect("the client keeps pinging")
        .expect("the fake publisher saw the pings");
    client.ping().await.expect("the connection is still good");
    drop(server);
}

#[tokio::test]
async fn a_publisher_that_stops_answering_ends_the_subscription() {
    let idle = Duration::from_millis(300);
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let mut conn = accept_with_idle(&listener, idle).await;
        let subscribe = next_request(&mut conn).await;
        reply(
            &mut conn,
            subscribe.id,
            Reply::Subscribed { subscription: 1 },
        )
        .await;
        // Reads the pings but never answers, like a host that froze.
        while let Ok(Some(_)) = conn.read_message().await {}
    });
    let options = ClientOptions::new().request_timeout(Duration::from_millis(500));
    let client = LogportClient::connect_with(&url, options)
        .await
        .expect("connect");
    let mut sub = client.subscribe_to_all(false).await.expect("subscribe");
    let ended = tokio::time::timeout(PATIENCE, sub.next())
        .await
        .expect("the subscription ends instead of waiting for ever");
    match ended {
        Some(EventUpdate::Ended { reason }) => {
            assert!(reason.contains("stopped answering"), "{reason}")
        }
        other => panic!("expected the end, got {other:?}"),
    }
    assert!(client.ping().await.is_err());
    server.abort();
}

//! The publisher over real TCP on 127.0.0.1, with real incident files.

mod common;

use std::time::Duration;

use common::{expect_error, hello, raw, service, start, start_insecure, stream, welcomed};

use bytes::BytesMut;
use flog_core::{Event, Level, Timestamp};
use flog_publisher::{Publisher, PublisherConfig};
use flog_wire::FlogCodec;
use flog_wire::{
    ClientError, Connection, ErrorCode, EventUpdate, IncidentUpdate, ListQuery, LogportClient,
    LogportUrl, Message, Op, Reply, Request, ResumePoint, PROTOCOL_VERSION,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::Encoder;

/// A well-behaved client still gets correct answers.
async fn still_serves(publisher: &Publisher, names: &[String]) {
    let client = LogportClient::connect(publisher.url()).await.unwrap();
    let page = client.list_incidents(&ListQuery::default()).await.unwrap();
    let listed: Vec<_> = page.incidents.iter().map(|i| i.name.clone()).collect();
    assert_eq!(listed, names);
}

#[tokio::test]
async fn hello_welcome_versions_and_pid() {
    let s = service(false);
    s.logger.set_version("myapp", "2.1");
    let p = start(&s, PublisherConfig::default()).await;
    let client = LogportClient::connect(p.url()).await.unwrap();
    let welcome = client.welcome();
    assert_eq!(welcome.version, PROTOCOL_VERSION);
    assert_eq!(welcome.publisher_id, p.url().publisher_id());
    assert_eq!(welcome.pid, std::process::id());
    assert_eq!(welcome.incarnation, s.logger.incarnation().to_string());
    let versions = client.get_versions().await.unwrap();
    assert_eq!(versions.get("myapp").map(String::as_str), Some("2.1"));
    assert!(versions.contains_key("flog-core") && versions.contains_key("flog-publisher"));
    assert_eq!(client.get_pid().await.unwrap(), std::process::id());
    // The logport file holds the URL, readable by the owner only.
    let text = std::fs::read_to_string(p.logport_file()).unwrap();
    assert_eq!(text.trim(), p.url().to_string());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(p.logport_file())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    p.shutdown().await;
}

#[tokio::test]
async fn version_mismatch_and_wrong_secret_are_refused_and_closed() {
    let s = service(false);
    let p = start(&s, PublisherConfig::default()).await;
    let mut conn = raw(&p).await;
    conn.write_message(&hello(p.url(), vec![99])).await.unwrap();
    assert_eq!(
        expect_error(&mut conn).await,
        (None, ErrorCode::VersionMismatch)
    );
    assert!(conn.read_message().await.unwrap().is_none(), "closed");

    let wrong = LogportUrl::new(
        p.url().security(),
        "127.0.0.1",
        p.local_addr().port(),
        p.url().publisher_id(),
        "0".repeat(64),
    )
    .unwrap();
    for _ in 0..20 {
        match LogportClient::connect(&wrong).await {
            Err(ClientError::Remote {
                code: ErrorCode::Unauthorized,
                ..
            }) => {}
            other => panic!("expected unauthorized, got {other:?}"),
        }
    }
    still_serves(&p, &[]).await;
    p.shutdown().await;
}

#[tokio::test]
async fn list_since_name_and_time() {
    let s = service(false);
    let names: Vec<String> = (0..4).map(|i| s.incident(&format!("n{i}"))).collect();
    let p = start(&s, PublisherConfig::default()).await;
    let client = LogportClient::connect(p.url()).await.unwrap();
    let all = client.list_incidents(&ListQuery::default()).await.unwrap();
    assert!(!all.more);
    assert_eq!(
        all.incidents.iter().map(|i| &i.name).collect::<Vec<_>>(),
        names.iter().collect::<Vec<_>>()
    );
    let first = &all.incidents[0];
    assert_eq!(
        first.size,
        std::fs::metadata(s.file(&names[0])).unwrap().len()
    );
    let trigger = Event::from_cbor(first.trigger.as_bytes()).unwrap();
    assert_eq!(
        (trigger.render().as_ref(), trigger.level),
        ("n0", Level::WEIRD)
    );
    assert_eq!((first.time, first.level), (trigger.time.as_micros(), 30));

    let since = ListQuery {
        since_name: Some(names[1].clone()),
        ..ListQuery::default()
    };
    let page = client.list_incidents(&since).await.unwrap();
    assert_eq!(
        page.incidents.iter().map(|i| &i.name).collect::<Vec<_>>(),
        [&names[2], &names[3]]
    );

    let t = all.incidents[2].time;
    let after = ListQuery {
        since_time: Some(t - 1),
        ..ListQuery::default()
    };
    let page = client.list_incidents(&after).await.unwrap();
    assert_eq!(page.incidents.len(), 2);
    let after = ListQuery {
        since_time: Some(Timestamp::now().as_micros() + 10_000_000),
        ..ListQuery::default()
    };
    assert!(client
        .list_incidents(&after)
        .await
        .unwrap()
        .incidents
        .is_empty());

    let limited = ListQuery {
        limit: Some(3),
        ..ListQuery::default()
    };
    let page = client.list_incidents(&limited).await.unwrap();
    assert_eq!((page.incidents.len(), page.more), (3, true));
    let every = client
        .list_all_incidents(ListQuery {
            limit: Some(1),
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(every.len(), 4);
    p.shutdown().await;
}

#[tokio::test]
async fn an_incident_still_recording_is_listed_only_once_finished() {
    let s = service(true);
    let p = start(&s, PublisherConfig::default()).await;
    let client = LogportClient::connect(p.url()).await.unwrap();
    s.logger.msg(Level::WEIRD, "trigger");
    assert!(std::fs::read_dir(&s.logdir).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".flog")));
    assert!(client
        .list_incidents(&ListQuery::default())
        .await
        .unwrap()
        .incidents
        .is_empty());
    for i in 0..3 {
        s.logger.msg(Level::OPERATIONAL, format!("trailing {i}"));
    }
    let name = s.incidents.recv_timeout(Duration::from_secs(30)).unwrap();
    // The test's observer may run before the publisher's: poll with a deadline.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let page = loop {
        let page = client.list_incidents(&ListQuery::default()).await.unwrap();
        if !page.incidents.is_empty() || tokio::time::Instant::now() > deadline {
            break page;
        }
        tokio::task::yield_now().await;
    };
    assert_eq!(
        page.incidents.iter().map(|i| &i.name).collect::<Vec<_>>(),
        [&name]
    );
    p.shutdown().await;
}

#[tokio::test]
async fn fetch_is_byte_identical_and_resumes_from_an_offset() {
    let s = service(false);
    s.logger.set_buffer_size(Level::OPERATIONAL, 5000);
    // Text bzip2 cannot shrink much, so the file takes many chunks.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..3000 {
        let noise: String = (0..40)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                format!("{:x}", x % 16)
            })
            .collect();
        s.logger
            .event(Level::OPERATIONAL)
            .format("filler {i} {noise}")
            .field("i", i)
            .field("noise", noise)
            .emit();
    }
    let name = s.incident("big");
    let p = start(
        &s,
        PublisherConfig {
            chunk_size: 4096,
            ..PublisherConfig::default()
        },
    )
    .await;
    let client = LogportClient::connect(p.url()).await.unwrap();
    let on_disk = std::fs::read(s.file(&name)).unwrap();
    assert!(
        on_disk.len() > 3 * 4096,
        "several chunks: {}",
        on_disk.len()
    );
    let fetched = client.get_incident_bytes(&name).await.unwrap();
    assert_eq!(fetched, on_disk);

    let mut out = Vec::new();
    let done = client.get_incident_to(&name, &mut out).await.unwrap();
    assert_eq!(done.size, on_disk.len() as u64);
    use sha2::Digest;
    assert_eq!(
        done.sha256.as_slice(),
        sha2::Sha256::digest(&on_disk).as_slice()
    );

    let cut = on_disk.len() / 3;
    let mut resumed = on_disk[..cut].to_vec();
    let point = ResumePoint::from_bytes(&resumed);
    client
        .resume_incident_to(&name, point, &mut resumed)
        .await
        .unwrap();
    assert_eq!(resumed, on_disk);
    p.shutdown().await;
}

#[tokio::test]
async fn fetch_errors_name_the_problem() {
    let s = service(false);
    let name = s.incident("x");
    let p = start(&s, PublisherConfig::default()).await;
    let mut conn = welcomed(&p).await;
    let cases = [
        ("../../etc/passwd", 0, ErrorCode::BadName),
        ("incident-../../x", 0, ErrorCode::BadName),
        (
            "incident-2000-01-01T00-00-00.000000Z-0000",
            0,
            ErrorCode::UnknownIncident,
        ),
        (name.as_str(), u64::MAX, ErrorCode::TooLarge),
    ];
    for (i, (bad, offset, code)) in cases.into_iter().enumerate() {
        let op = Op::GetIncident {
            name: bad.into(),
            offset,
            chunk_size: None,
        };
        conn.write_message(&Request { id: i as u64, op }.into())
            .await
            .unwrap();
        assert_eq!(
            expect_error(&mut conn).await,
            (Some(i as u64), code),
            "{bad}"
        );
    }
    p.shutdown().await;
}

#[tokio::test]
async fn pipelined_requests_are_all_answered_by_id() {
    let s = service(false);
    let name = s.incident("x");
    let p = start(&s, PublisherConfig::default()).await;
    let mut conn = welcomed(&p).await;
    let ops = [
        Op::GetPid,
        Op::ListIncidents(ListQuery::default()),
        Op::Ping,
        Op::GetVersions,
        Op::GetIncident {
            name: name.clone(),
            offset: 0,
            chunk_size: None,
        },
    ];
    for (id, op) in ops.into_iter().enumerate() {
        conn.feed(
            &Request {
                id: 10 + id as u64,
                op,
            }
            .into(),
        )
        .await
        .unwrap();
    }
    conn.flush().await.unwrap();
    let mut finished = std::collections::BTreeSet::new();
    while finished.len() < 5 {
        match conn.read_message().await.unwrap() {
            Some(Message::Response(r)) => match r.reply {
                Reply::IncidentChunk { .. } => {}
                Reply::Pid { pid } => {
                    assert_eq!(pid, std::process::id());
                    finished.insert(r.id);
                }
                _ => {
                    finished.insert(r.id);
                }
            },
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        finished.into_iter().collect::<Vec<_>>(),
        [10, 11, 12, 13, 14]
    );
    p.shutdown().await;
}

#[tokio::test]
async fn incident_subscription_catches_up_then_pushes_new_ones() {
    let s = service(false);
    let old: Vec<String> = (0..3).map(|i| s.incident(&format!("old{i}"))).collect();
    let p = start(&s, PublisherConfig::default()).await;
    let client = LogportClient::connect(p.url()).await.unwrap();
    let mut sub = client
        .subscribe_to_incidents(true, Some(old[0].clone()))
        .await
        .unwrap();
    let mut seen = Vec::new();
    loop {
        match sub.next().await.unwrap() {
            IncidentUpdate::New(info) => seen.push(info.name),
            IncidentUpdate::CatchupDone => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(seen, old[1..]);
    let logger = s.logger.clone();
    let fresh = tokio::task::spawn_blocking(move || {
        logger.msg(Level::BAD, "fresh");
    });
    fresh.await.unwrap();
    match tokio::time::timeout(Duration::from_secs(30), sub.next())
        .await
        .unwrap()
        .unwrap()
    {
        IncidentUpdate::New(info) => {
            assert!(info.name > old[2]);
            assert_eq!(
                Event::from_cbor(info.trigger.as_bytes()).unwrap().render(),
                "fresh"
            );
        }
        other => panic!("{other:?}"),
    }
    p.shutdown().await;
}

#[tokio::test]
async fn live_tail_catches_up_in_order_and_unsubscribes() {
    let s = service(false);
    for i in 0..5 {
        s.logger.msg(Level::OPERATIONAL, format!("before {i}"));
    }
    let p = start(&s, PublisherConfig::default()).await;
    let client = LogportClient::connect(p.url()).await.unwrap();
    let mut sub = client.subscribe_to_all(true).await.unwrap();
    s.logger.msg(Level::OPERATIONAL, "after");
    let mut texts = Vec::new();
    while texts.len() < 6 {
        match sub.next().await.unwrap() {
            EventUpdate::Event(e) => texts.push(
                Event::from_cbor(e.as_bytes())
                    .unwrap()
                    .render()
                    .into_owned(),
            ),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        texts,
        ["before 0", "before 1", "before 2", "before 3", "before 4", "after"]
    );
    let id = sub.id();
    client.unsubscribe(id).await.unwrap();
    let err = client.unsubscribe(id).await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Remote {
                code: ErrorCode::Malformed,
                ..
            }
        ),
        "{err:?}"
    );
    p.shutdown().await;
}

#[tokio::test]
async fn slow_subscriber_is_told_how_many_events_were_dropped() {
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
    // The client reads nothing while the service logs far more than socket
    // buffers, outbox and queue hold.
    let pad = "p".repeat(2000);
    for i in 0..20_000 {
        s.logger
            .event(Level::OPERATIONAL)
            .format("e{i}")
            .field("i", i)
            .field("pad", pad.clone())
            .emit();
    }
    let (mut delivered, mut dropped) = (0u64, 0u64);
    let last = loop {
        match tokio::time::timeout(Duration::from_secs(30), conn.read_message())
            .await
            .unwrap()
            .unwrap()
        {
            Some(Message::LogEvent(e)) => {
                delivered += 1;
                let last = Event::from_cbor(e.event.as_bytes()).unwrap().num;
                if last >= 20_000 {
                    break last;
                }
                if last == 19_999 {
                    // Everything logged has been delivered or counted: one more
                    // event carries any count still pending.
                    s.logger.msg(Level::OPERATIONAL, "marker");
                }
            }
            Some(Message::EventsDropped(d)) => {
                dropped += d.count;
                // The queue has room again: an event after this gets through.
                s.logger.msg(Level::OPERATIONAL, "marker");
            }
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(dropped > 0, "a reader this slow must lose events");
    assert_eq!(
        delivered + dropped,
        last + 1,
        "every event delivered or counted"
    );
    p.shutdown().await;
}

#[tokio::test]
async fn connections_beyond_the_limit_are_told_busy() {
    let s = service(false);
    let p = start(
        &s,
        PublisherConfig {
            max_connections: 2,
            ..PublisherConfig::default()
        },
    )
    .await;
    let a = LogportClient::connect(p.url()).await.unwrap();
    let b = LogportClient::connect(p.url()).await.unwrap();
    match LogportClient::connect(p.url()).await {
        Err(ClientError::Remote {
            code: ErrorCode::Busy,
            ..
        }) => {}
        other => panic!("expected busy, got {other:?}"),
    }
    drop(a);
    // The slot frees once the server notices the close; poll with a deadline.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match LogportClient::connect(p.url()).await {
            Ok(c) => {
                c.ping().await.unwrap();
                break;
            }
            Err(_) if tokio::time::Instant::now() < deadline => tokio::task::yield_now().await,
            Err(e) => panic!("slot never freed: {e}"),
        }
    }
    b.ping().await.unwrap();
    p.shutdown().await;
}

#[tokio::test]
async fn unreadable_incident_files_are_skipped_not_fatal() {
    let s = service(false);
    let good = s.incident("good");
    std::fs::write(
        s.logdir
            .join("incident-1999-01-01T00-00-00.000000Z-0000.flog.bz2"),
        b"garbage",
    )
    .unwrap();
    let p = start(&s, PublisherConfig::default()).await;
    still_serves(&p, &[good]).await;
    p.shutdown().await;
}

#[tokio::test]
async fn shutdown_says_goodbye_to_subscribers() {
    let s = service(false);
    let p = start(&s, PublisherConfig::default()).await;
    let client = LogportClient::connect(p.url()).await.unwrap();
    let mut sub = client.subscribe_to_all(false).await.unwrap();
    p.shutdown().await;
    match sub.next().await {
        Some(EventUpdate::Ended { reason }) => {
            assert!(reason.contains("shutting down"), "{reason}")
        }
        other => panic!("expected the end, got {other:?}"),
    }
    assert!(sub.next().await.is_none());
    assert!(client.ping().await.is_err());
}

#[tokio::test]
async fn hostile_input_gets_errors_and_everyone_else_is_still_served() {
    hostile_input(false).await;
}

/// The same frames on a port made plaintext: what the publisher does with
/// them does not depend on the transport they came over.
#[tokio::test]
async fn hostile_input_over_plaintext_gets_the_same_errors() {
    hostile_input(true).await;
}

// Long on purpose: one scenario whose steps build on the state the earlier ones left (real processes, sockets or a browser), so it reads top to bottom.
async fn hostile_input(insecure: bool) {
    let s = service(false);
    let names = vec![s.incident("x")];
    let config = PublisherConfig {
        hello_timeout: Duration::from_millis(300),
        ..PublisherConfig::default()
    };
    let p = if insecure {
        start_insecure(&s, config).await
    } else {
        start(&s, config).await
    };
    assert_eq!(p.url().key().is_none(), insecure);

    // Garbage bytes: a huge length prefix, refused unread.
    let mut sock = stream(&p).await;
    sock.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    sock.read_to_end(&mut buf).await.unwrap();
    let mut conn = Connection::new(std::io::Cursor::new(buf));
    assert_eq!(expect_error(&mut conn).await.1, ErrorCode::TooLarge);

    // A valid frame holding malformed CBOR, before the hello.
    let mut sock = stream(&p).await;
    sock.write_all(&[0, 0, 0, 3, 0xff, 0xfe, 0xfd])
        .await
        .unwrap();
    let mut conn = Connection::new(sock);
    assert_eq!(expect_error(&mut conn).await.1, ErrorCode::Malformed);
    assert!(conn.read_message().await.unwrap().is_none());

    // A request before the hello.
    let mut conn = raw(&p).await;
    conn.write_message(
        &Request {
            id: 1,
            op: Op::GetPid,
        }
        .into(),
    )
    .await
    .unwrap();
    assert_eq!(
        expect_error(&mut conn).await,
        (None, ErrorCode::Unauthorized)
    );

    // After the hello: a malformed frame, an unknown message type and a message
    // a client must not send are answered, and the connection goes on.
    let mut bytes = BytesMut::new();
    let mut codec = FlogCodec::new();
    codec
        .encode(hello(p.url(), vec![PROTOCOL_VERSION]), &mut bytes)
        .unwrap();
    bytes.extend_from_slice(&[0, 0, 0, 3, 0xff, 0xfe, 0xfd]);
    let mut unknown = Vec::new();
    ciborium::into_writer(
        &ciborium::Value::Map(vec![("teleport".into(), 1.into())]),
        &mut unknown,
    )
    .unwrap();
    bytes.extend_from_slice(&(unknown.len() as u32).to_be_bytes());
    bytes.extend_from_slice(&unknown);
    codec
        .encode(hello(p.url(), vec![PROTOCOL_VERSION]), &mut bytes)
        .unwrap();
    codec
        .encode(
            Message::from(Request {
                id: 7,
                op: Op::GetPid,
            }),
            &mut bytes,
        )
        .unwrap();
    let mut sock = stream(&p).await;
    sock.write_all(&bytes).await.unwrap();
    let mut conn = Connection::new(sock);
    assert!(matches!(
        conn.read_message().await.unwrap(),
        Some(Message::Welcome(_))
    ));
    for _ in 0..3 {
        assert_eq!(expect_error(&mut conn).await.1, ErrorCode::Malformed);
    }
    match conn.read_message().await.unwrap() {
        Some(Message::Response(r)) => assert_eq!(
            (r.id, r.reply),
            (
                7,
                Reply::Pid {
                    pid: std::process::id()
                }
            )
        ),
        other => panic!("{other:?}"),
    }

    // Silence: the hello deadline closes the connection.
    let mut conn = raw(&p).await;
    assert_eq!(expect_error(&mut conn).await, (None, ErrorCode::Timeout));
    assert!(conn.read_message().await.unwrap().is_none());

    still_serves(&p, &names).await;
    p.shutdown().await;
}

#[tokio::test]
async fn secrets_logged_as_fields_never_reach_files_or_the_wire() {
    let s = service(false);
    let p = start(&s, PublisherConfig::default()).await;
    let client = LogportClient::connect(p.url()).await.unwrap();
    let mut tail = client.subscribe_to_all(false).await.unwrap();
    let secret = "hunter2-very-secret";
    s.logger
        .event(Level::OPERATIONAL)
        .format("login {user} with {password}")
        .field("user", "alice")
        .field("password", secret)
        .field(
            "headers",
            flog_core::Value::Map(vec![(
                "Authorization".into(),
                format!("Bearer {secret}").into(),
            )]),
        )
        .emit();
    let name = s.incident("boom");
    // The test's incident observer may run before the publisher's.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while client
        .list_incidents(&ListQuery::default())
        .await
        .unwrap()
        .incidents
        .is_empty()
    {
        assert!(tokio::time::Instant::now() < deadline, "never listed");
        tokio::task::yield_now().await;
    }

    let contains = |hay: &[u8]| hay.windows(secret.len()).any(|w| w == secret.as_bytes());
    // On the wire, live.
    match tail.next().await.unwrap() {
        EventUpdate::Event(e) => {
            assert!(!contains(e.as_bytes()));
            let event = Event::from_cbor(e.as_bytes()).unwrap();
            assert_eq!(event.render(), "login alice with <redacted>");
        }
        other => panic!("{other:?}"),
    }
    // In the file, decompressed, and in what a fetch delivers.
    let fetched = client.get_incident_bytes(&name).await.unwrap();
    let mut plain = Vec::new();
    std::io::Read::read_to_end(
        &mut bzip2::read::BzDecoder::new(fetched.as_slice()),
        &mut plain,
    )
    .unwrap();
    assert!(
        plain.windows(5).any(|w| w == b"alice"),
        "the file holds the event"
    );
    assert!(!contains(&plain), "the secret is not in the incident file");
    for entry in std::fs::read_dir(&s.logdir).unwrap() {
        assert!(!contains(&std::fs::read(entry.unwrap().path()).unwrap()));
    }
    p.shutdown().await;
}

//! The gatherer's logport over real parts: publishers on 127.0.0.1, a
//! gatherer gathering their events, clients over TLS with its pinned key.

use std::path::Path;
use std::time::{Duration, Instant};

use flog_core::flogfile::{FlogReader, Record};
use flog_core::{msg, Level, Logger};
use flog_publisher::Publisher;
use flog_wire::{
    ClientError, Connection, Connector, ErrorCode, Hello, ListQuery, LogportClient, LogportUrl,
    Message, Op, Reply, Request, SUPPORTED_VERSIONS,
};
use tokio_util::sync::CancellationToken;

use crate::events::{parse_name, EventFileName, EVENTS_DIR};
use crate::listen::GATHERER_LOGPORT_FILE;
use crate::{Config, Gatherer};

const DEADLINE: Duration = Duration::from_secs(30);

struct Service {
    _logdir: tempfile::TempDir,
    logger: Logger,
    publisher: Publisher,
}

async fn service() -> Service {
    let logdir = tempfile::tempdir().unwrap();
    let logger = Logger::builder().trailing(false).build().unwrap();
    logger.set_logdir(logdir.path()).unwrap();
    let publisher = Publisher::builder(logger.clone()).start().await.unwrap();
    Service {
        _logdir: logdir,
        logger,
        publisher,
    }
}

/// A gatherer of `services`' events with its logport on 127.0.0.1:0; returns
/// its logport URL once written.
async fn gatherer(
    basedir: &Path,
    services: &[&Service],
    logport: &str,
    shutdown: &CancellationToken,
) -> (tokio::task::JoinHandle<()>, LogportUrl) {
    let toml = format!("[events]\n[logport]\nlisten = \"127.0.0.1:0\"\n{logport}");
    let mut config = Config::from_toml(&toml, "gatherer.toml").unwrap();
    for s in services {
        config.publishers.push(s.publisher.url().clone());
    }
    let gatherer = Gatherer::new(basedir, config).unwrap();
    let stop = shutdown.clone();
    let running = tokio::spawn(async move { gatherer.run(stop).await.unwrap() });
    let file = basedir.join(GATHERER_LOGPORT_FILE);
    let deadline = Instant::now() + DEADLINE;
    let url = loop {
        if let Ok(text) = std::fs::read_to_string(&file) {
            break text.trim().parse::<LogportUrl>().unwrap();
        }
        assert!(Instant::now() < deadline, "no logport file");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    (running, url)
}

/// The texts of the events stored so far in the current events file.
fn stored(basedir: &Path) -> Vec<String> {
    let dir = basedir.join(EVENTS_DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let Some(current) = entries.flatten().find(|e| {
        let name = e.file_name();
        matches!(
            name.to_str().and_then(parse_name),
            Some(EventFileName::Present { .. })
        )
    }) else {
        return Vec::new();
    };
    let Ok(reader) = FlogReader::open(&current.path()) else {
        return Vec::new();
    };
    reader
        .map_while(Result::ok)
        .filter_map(|r| match r {
            Record::Received(r) => Some(r.event.render().into_owned()),
            _ => None,
        })
        .collect()
}

async fn wait_stored(basedir: &Path, what: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let texts = stored(basedir);
        if what(&texts) {
            return texts;
        }
        assert!(
            Instant::now() < deadline,
            "not stored: {} events",
            texts.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_is_bounded_and_told_exactly_what_it_lost() {
    let a = service().await;
    let basedir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let (running, url) = gatherer(
        basedir.path(),
        &[&a],
        "queue_memory = \"64 KiB\"\n",
        &shutdown,
    )
    .await;
    msg!(logger = a.logger, Level::OPERATIONAL, "ready");
    wait_stored(basedir.path(), |t| t.iter().any(|t| t == "ready")).await;

    // A client that subscribes, then reads nothing while the fleet logs
    // far more than its queue and the socket buffers hold.
    let stream = Connector::new().connect(&url).await.unwrap();
    let mut conn = Connection::new(stream);
    let hello = Hello {
        versions: SUPPORTED_VERSIONS.to_vec(),
        secret: url.secret().to_owned(),
        client: "slow".into(),
    };
    conn.write_message(&hello.into()).await.unwrap();
    assert!(matches!(
        conn.read_message().await,
        Ok(Some(Message::Welcome(_)))
    ));
    let op = Op::SubscribeToAll { catch_up: false };
    conn.write_message(&Request { id: 1, op }.into())
        .await
        .unwrap();
    match conn.read_message().await {
        Ok(Some(Message::Response(r))) => {
            assert!(matches!(r.reply, Reply::Subscribed { .. }), "{r:?}")
        }
        other => panic!("{other:?}"),
    }
    const EVENTS: usize = 1500;
    let pad = "x".repeat(8 * 1024);
    let started = Instant::now();
    for n in 0..EVENTS {
        msg!(logger = a.logger, Level::OPERATIONAL, "big {n} {pad}", n, %pad);
        if n % 100 == 99 {
            // The publisher's own queues are not what is tested here.
            wait_stored(basedir.path(), |t| {
                t.iter().filter(|t| t.starts_with("big ")).count() > n
            })
            .await;
        }
    }
    // Gathering went on at its pace, whatever the subscriber does.
    let texts = wait_stored(basedir.path(), |t| {
        t.iter().filter(|t| t.starts_with("big ")).count() == EVENTS
    })
    .await;
    assert!(started.elapsed() < DEADLINE);
    let after_ready = texts.iter().skip_while(|t| *t != "ready").count() - 1;

    // Now it reads: every event stored after it subscribed is there or
    // counted, and some were counted.
    let (mut seen, mut dropped) = (0u64, 0u64);
    while seen + dropped < after_ready as u64 {
        let read = tokio::time::timeout(DEADLINE, conn.read_message()).await;
        match read.expect("the rest arrives").unwrap() {
            Some(Message::LogEvent(e)) => {
                assert_eq!(e.origin.unwrap().from, a.publisher.url().publisher_id());
                seen += 1;
            }
            Some(Message::EventsDropped(d)) => dropped += d.count,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(seen + dropped, after_ready as u64);
    assert!(
        dropped > 0,
        "nothing dropped: the test did not fill the queue"
    );
    assert!(seen > 0);
    shutdown.cancel();
    running.await.unwrap();
    a.publisher.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_it_cannot_serve_get_a_typed_refusal_and_the_session_goes_on() {
    let a = service().await;
    let basedir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let (running, url) = gatherer(basedir.path(), &[&a], "", &shutdown).await;
    let client = LogportClient::connect(&url).await.unwrap();
    assert_eq!(client.welcome().publisher_id, url.publisher_id());
    match client.list_incidents(&ListQuery::default()).await {
        Err(ClientError::Remote { code, message }) => {
            assert_eq!(code, ErrorCode::Unsupported);
            assert!(message.contains("subscribe_to_all"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    client.ping().await.unwrap();
    shutdown.cancel();
    running.await.unwrap();
    a.publisher.shutdown().await;
}

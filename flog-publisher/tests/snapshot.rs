//! `snapshot` over real TLS on 127.0.0.1: an operator's reason becomes an
//! incident's trigger that the client can then list and fetch; storm control
//! and the reason's limit are reported; a wrong secret gets nowhere.

use std::sync::{mpsc, Mutex};
use std::time::Duration;

use flog_core::flogfile::{FlogContents, FlogReader};
use flog_core::{Event, Level, Logger};
use flog_publisher::Publisher;
use flog_wire::{
    ClientError, ErrorCode, Hello, ListQuery, LogportClient, LogportUrl, Message, Op, Request,
    SnapshotOutcome, MAX_SNAPSHOT_REASON, PROTOCOL_VERSION,
};

mod common;

const PATIENCE: Duration = Duration::from_secs(60);

/// A publisher whose logger records one incident an hour at most, so the
/// second trigger is always suppressed; and the names of recorded incidents.
async fn storm_limited() -> (tempfile::TempDir, Logger, Publisher, mpsc::Receiver<String>) {
    let dir = tempfile::tempdir().unwrap();
    let logger = Logger::builder()
        .trailing(false)
        .incident_rate_limit(1, Duration::from_secs(3600))
        .build()
        .unwrap();
    logger.set_logdir(dir.path()).unwrap();
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    logger.add_incident_observer(move |incident: &flog_core::IncidentReport| {
        let _ = tx.lock().unwrap().send(incident.name.as_str().to_owned());
    });
    let publisher = Publisher::builder(logger.clone()).start().await.unwrap();
    assert!(publisher.url().to_string().starts_with("flogs://"));
    (dir, logger, publisher, rx)
}

/// Waits for the publisher's own notice of incident `name`: its observer
/// indexes the incident after the test's observer has heard of it, so a
/// listing is complete only once the notice came.
async fn indexed(notices: &mut flog_wire::IncidentSubscription, name: &str) {
    let wait = async {
        while let Some(update) = notices.next().await {
            if matches!(&update, flog_wire::IncidentUpdate::New(info) if info.name == name) {
                return;
            }
        }
        panic!("the notices ended before {name} was indexed");
    };
    tokio::time::timeout(PATIENCE, wait)
        .await
        .expect("the publisher indexed the incident in time");
}

#[tokio::test]
async fn a_snapshot_is_an_incident_listed_and_fetched_with_the_reason_as_trigger() {
    let (_dir, logger, p, recorded) = storm_limited().await;
    let client = LogportClient::connect(p.url()).await.unwrap();
    let mut notices = client.subscribe_to_incidents(false, None).await.unwrap();
    let reason = "p99 latency doubled, nothing tripped";
    let snap = client.snapshot(reason).await.unwrap();
    assert_eq!(snap.outcome, SnapshotOutcome::Declared);
    let name = snap
        .incident
        .expect("a declared snapshot names its incident");
    assert_eq!(recorded.recv_timeout(PATIENCE).unwrap(), name);
    indexed(&mut notices, &name).await;

    let listed = client
        .list_all_incidents(ListQuery::default())
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].name, name);
    let trigger = Event::from_cbor(listed[0].trigger.as_bytes()).unwrap();
    assert_eq!(trigger.render(), reason);
    assert_eq!(trigger.facility.as_deref(), Some("flog.snapshot"));
    assert_eq!(listed[0].level, Level::WEIRD.0);

    let bytes = client.get_incident_bytes(&name).await.unwrap();
    let file = FlogContents::read_from(FlogReader::new(std::io::Cursor::new(bytes)).unwrap());
    assert!(file.damage.is_none());
    let header = file.header.unwrap();
    assert_eq!(header.name.as_deref(), Some(name.as_str()));
    assert_eq!(header.trigger.unwrap().render(), reason);

    // Storm control: the second within the hour is suppressed, and said so.
    let again = client.snapshot("and again").await.unwrap();
    assert_eq!(again.outcome, SnapshotOutcome::Suppressed);
    assert_eq!(again.incident, None);
    assert_eq!(logger.incident_stats().suppressed, 1);
    let listed = client
        .list_all_incidents(ListQuery::default())
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "nothing new was recorded: {listed:?}");
    p.shutdown().await;
}

#[tokio::test]
async fn an_oversized_reason_is_refused_and_the_connection_goes_on() {
    let (_dir, logger, p, _recorded) = storm_limited().await;
    let client = LogportClient::connect(p.url()).await.unwrap();
    let long = "x".repeat(MAX_SNAPSHOT_REASON + 1);
    match client.snapshot(&long).await {
        Err(ClientError::Remote {
            code: ErrorCode::TooLarge,
            message,
        }) => assert!(message.contains("over the limit of 4096"), "{message}"),
        other => panic!("expected too_large, got {other:?}"),
    }
    assert_eq!(logger.incident_stats().declared, 0, "nothing was declared");
    client.ping().await.unwrap();
    // At the limit exactly, it is taken.
    let at_limit = "y".repeat(MAX_SNAPSHOT_REASON);
    let snap = client.snapshot(&at_limit).await.unwrap();
    assert_eq!(snap.outcome, SnapshotOutcome::Declared);
    p.shutdown().await;
}

#[tokio::test]
async fn a_wrong_secret_gets_no_snapshot() {
    let (_dir, logger, p, _recorded) = storm_limited().await;
    let wrong = LogportUrl::new(
        p.url().security(),
        "127.0.0.1",
        p.local_addr().port(),
        p.url().publisher_id(),
        "0".repeat(64),
    )
    .unwrap();
    match LogportClient::connect(&wrong).await {
        Err(ClientError::Remote {
            code: ErrorCode::Unauthorized,
            ..
        }) => {}
        other => panic!("expected unauthorized, got {other:?}"),
    }
    // By hand: a wrong hello and a snapshot right behind it, pipelined.
    let mut conn = common::raw(&p).await;
    let hello = Hello {
        versions: vec![PROTOCOL_VERSION],
        secret: "1".repeat(64),
        client: "test".into(),
    };
    conn.write_message(&hello.into()).await.unwrap();
    let snapshot = Request {
        id: 1,
        op: Op::Snapshot {
            reason: "let me in".into(),
        },
    };
    // The publisher may have closed already; what it answered is the point.
    let _ = conn.write_message(&Message::Request(snapshot)).await;
    assert_eq!(
        common::expect_error(&mut conn).await,
        (None, ErrorCode::Unauthorized)
    );
    assert!(
        matches!(conn.read_message().await, Ok(None) | Err(_)),
        "closed"
    );
    assert_eq!(logger.incident_stats().declared, 0, "nothing was declared");
    p.shutdown().await;
}

/// A snapshot that arrives while an incident is recording (its trailing
/// window open) joins it: `joined`, no new incident, and the incident that
/// is written holds the joined snapshot's reason among its trailing events.
#[tokio::test]
async fn a_snapshot_during_a_recording_incident_joins_it() {
    let dir = tempfile::tempdir().unwrap();
    // The window stays open until two events follow the trigger: the
    // joining snapshot and one more.
    let logger = Logger::builder()
        .trailing(true)
        .trailing_event_limit(2)
        .trailing_delay(Duration::from_secs(3600))
        .build()
        .unwrap();
    logger.set_logdir(dir.path()).unwrap();
    let (tx, recorded) = mpsc::channel();
    let tx = Mutex::new(tx);
    logger.add_incident_observer(move |incident: &flog_core::IncidentReport| {
        let _ = tx.lock().unwrap().send(incident.name.as_str().to_owned());
    });
    let p = Publisher::builder(logger.clone()).start().await.unwrap();
    let client = LogportClient::connect(p.url()).await.unwrap();
    let mut notices = client.subscribe_to_incidents(false, None).await.unwrap();

    let first = client.snapshot("the first look").await.unwrap();
    assert_eq!(first.outcome, SnapshotOutcome::Declared);
    let name = first
        .incident
        .expect("a declared snapshot names its incident");
    let second = client
        .snapshot("a second look, same trouble")
        .await
        .unwrap();
    assert_eq!(second.outcome, SnapshotOutcome::Joined, "{second:?}");
    assert_eq!(second.incident, None);
    let stats = logger.incident_stats();
    assert_eq!((stats.joined, stats.suppressed), (1, 0), "{stats:?}");

    // One more event closes the window; the one incident is written.
    flog_core::msg!(
        logger = logger,
        Level::OPERATIONAL,
        facility = "app",
        "after"
    );
    assert_eq!(recorded.recv_timeout(PATIENCE).unwrap(), name);
    indexed(&mut notices, &name).await;
    let listed = client
        .list_all_incidents(ListQuery::default())
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "joining declared nothing new: {listed:?}");
    let bytes = client.get_incident_bytes(&name).await.unwrap();
    let file = FlogContents::read_from(FlogReader::new(std::io::Cursor::new(bytes)).unwrap());
    assert!(file.damage.is_none());
    let texts: Vec<String> = file
        .events
        .iter()
        .map(|e| e.render().into_owned())
        .collect();
    assert!(
        texts.iter().any(|t| t == "a second look, same trouble"),
        "{texts:?}"
    );
    assert_eq!(
        file.header.unwrap().trigger.unwrap().render(),
        "the first look"
    );
    p.shutdown().await;
}

//! Publishers that dial out to their gatherer (`docs/protocol.md` §12.6):
//! real publishers and gatherers on loopback, real files.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use flog_core::Level;
use flog_gatherer::{Config, GatherEvent};
use flog_publisher::{PublisherConfig, PublisherStats};
use flog_wire::{LogportUrl, Security, TlsKey};

use crate::gatherer::{assert_identical, quick_config, stored_names, Running, Service, PATIENCE};

mod restart;

/// A port nothing listens on now, for a gatherer to listen on later.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A gatherer config that listens on `port` and polls nobody.
fn listening(port: u16) -> Config {
    let mut config = quick_config();
    config.listen = Some(([127, 0, 0, 1], port).into());
    config
}

/// Starts a gatherer that listens on `port` and returns it with its URL.
pub(crate) async fn listening_gatherer(basedir: &Path, port: u16) -> (Running, LogportUrl) {
    let mut gatherer = Running::start(basedir, listening(port));
    let event = gatherer
        .wait_for("the gatherer to listen", |e| {
            matches!(e, GatherEvent::Listening { .. })
        })
        .await;
    let GatherEvent::Listening { url } = event else {
        unreachable!()
    };
    let file = std::fs::read_to_string(basedir.join(flog_gatherer::GATHERER_URL_FILE)).unwrap();
    assert_eq!(file.trim(), url.to_string());
    (gatherer, url)
}

/// Quick retries for a publisher dialing out.
fn dialing(config: PublisherConfig) -> PublisherConfig {
    PublisherConfig {
        dial_min_backoff: Duration::from_millis(20),
        dial_max_backoff: Duration::from_millis(100),
        ..config
    }
}

pub(crate) async fn dialing_service(gatherer: &LogportUrl) -> Service {
    let url = gatherer.clone();
    Service::start_with(move |b| {
        b.gatherer(url)
            .gatherers_from_env(false)
            .config(dialing(PublisherConfig::default()))
    })
    .await
}

async fn stats_until(service: &Service, what: &str, wanted: impl Fn(&PublisherStats) -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !wanted(&service.publisher().stats()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited in vain for {what}: {:?}",
            service.publisher().stats()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Each stored incident once, over all the runs' events.
fn assert_once(events: &[GatherEvent]) {
    let names = stored_names(events);
    let unique: BTreeSet<_> = names.iter().collect();
    assert_eq!(names.len(), unique.len(), "stored twice: {names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_started_before_its_gatherer_is_gathered_once() {
    let base = tempfile::tempdir().unwrap();
    let port = free_port();
    // A first run makes the gatherer's key, id and secret, and its URL.
    let (gatherer, url) = listening_gatherer(base.path(), port).await;
    let mut events = gatherer.stop().await;

    let mut service = dialing_service(&url).await;
    let id = service.id();
    let first = service.incident("app.db", Level::WEIRD, "one").await;
    stats_until(&service, "dial-outs to fail", |s| s.dial_failures >= 2).await;
    assert_eq!(service.publisher().stats().dial_failures_reported, 1);

    let (mut gatherer, again) = listening_gatherer(base.path(), port).await;
    assert_eq!(again, url, "the same URL across restarts");
    gatherer.stored(&id, &first).await;
    assert_identical(base.path(), &service, &first);
    // Then as with any publisher: new incidents come as they happen.
    let second = service.incident("app.db", Level::BAD, "two").await;
    gatherer.stored(&id, &second).await;
    assert_identical(base.path(), &service, &second);
    assert_eq!(service.publisher().stats().dialed_sessions, 1);
    events.extend(gatherer.stop().await);
    assert_once(&events);
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_that_listens_and_dials_out_is_stored_once() {
    let base = tempfile::tempdir().unwrap();
    let port = free_port();
    let (gatherer, url) = listening_gatherer(base.path(), port).await;
    gatherer.stop().await;
    let mut service = dialing_service(&url).await;
    let id = service.id();
    let mut config = listening(port);
    config.publishers.push(service.url().clone());
    let mut gatherer = Running::start(base.path(), config);
    let mut names = Vec::new();
    for text in ["one", "two", "three"] {
        let name = service.incident("app.db", Level::WEIRD, text).await;
        gatherer.stored(&id, &name).await;
        names.push(name);
    }
    stats_until(&service, "the dial-in", |s| s.dialed_sessions >= 1).await;
    let events = gatherer.stop().await;
    assert_once(&events);
    for name in &names {
        assert_identical(base.path(), &service, name);
    }
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_gatherer_is_reported_once_per_run_of_failures() {
    let base = tempfile::tempdir().unwrap();
    let (mut gatherer, url) = listening_gatherer(base.path(), free_port()).await;
    let wrong_secret = LogportUrl::new(
        url.security(),
        url.host(),
        url.port(),
        url.publisher_id(),
        "not-the-registration-secret",
    )
    .unwrap();
    let service = dialing_service(&wrong_secret).await;
    stats_until(&service, "retries", |s| s.dial_failures >= 5).await;
    assert_eq!(service.publisher().stats().dial_failures_reported, 1);
    assert_eq!(service.publisher().stats().dialed_sessions, 0);
    let refused = gatherer
        .wait_for("the refusal", |e| {
            matches!(e, GatherEvent::DialInRefused { .. })
        })
        .await;
    let GatherEvent::DialInRefused {
        publisher_id,
        error,
    } = refused
    else {
        unreachable!()
    };
    assert_eq!(publisher_id, service.id());
    assert!(error.contains("wrong registration secret"), "{error}");
    assert!(!error.contains("not-the-registration-secret"), "{error}");

    // A gatherer URL naming another key: refused by the publisher, in the
    // handshake, and reported once too.
    let other = TlsKey::generate().unwrap().fingerprint();
    let wrong_key = LogportUrl::new(
        Security::Tls(other),
        url.host(),
        url.port(),
        url.publisher_id(),
        url.secret(),
    )
    .unwrap();
    let impersonated = dialing_service(&wrong_key).await;
    stats_until(&impersonated, "retries", |s| s.dial_failures >= 5).await;
    assert_eq!(impersonated.publisher().stats().dial_failures_reported, 1);
    let events = gatherer.stop().await;
    let refusals = events
        .iter()
        .filter(|e| matches!(e, GatherEvent::DialInRefused { .. }))
        .count();
    assert_eq!(refusals, 1, "{events:#?}");
    assert!(stored_names(&events).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impostor_is_refused_until_its_key_is_accepted() {
    let base = tempfile::tempdir().unwrap();
    let (mut gatherer, url) = listening_gatherer(base.path(), free_port()).await;
    let mut genuine = dialing_service(&url).await;
    let id = genuine.id();
    let name = genuine.incident("app.db", Level::WEIRD, "genuine").await;
    gatherer.stored(&id, &name).await;
    genuine.stop().await;

    // Another logdir claiming the same publisher id, with a key of its own.
    let logdir = tempfile::tempdir().unwrap();
    std::fs::copy(
        genuine.logdir().join(flog_publisher::PUBLISHER_ID_FILE),
        logdir.path().join(flog_publisher::PUBLISHER_ID_FILE),
    )
    .unwrap();
    let gatherer_url = url.clone();
    let mut impostor = Service::start_in(logdir, move |b| {
        b.gatherer(gatherer_url)
            .gatherers_from_env(false)
            .config(dialing(PublisherConfig::default()))
    })
    .await;
    assert_eq!(impostor.id(), id);
    let fake = impostor.incident("app.db", Level::WEIRD, "fake").await;
    let refused = gatherer
        .wait_for("the impostor's refusal", |e| {
            matches!(e, GatherEvent::DialInRefused { .. })
        })
        .await;
    let GatherEvent::DialInRefused { error, .. } = refused else {
        unreachable!()
    };
    let key = impostor.publisher().key_fingerprint();
    assert!(error.contains("first dialed in with"), "{error}");
    assert!(error.contains(&key.to_string()), "{error}");
    assert!(error.contains("accept-key"), "{error}");
    stats_until(&impostor, "retries", |s| s.dial_failures >= 3).await;
    assert_eq!(impostor.publisher().stats().dialed_sessions, 0);
    assert!(!gatherer
        .seen
        .iter()
        .any(|e| matches!(e, GatherEvent::Stored(s) if s.name == fake)));

    // The operator accepts the new key (a rotation, say): it is let in.
    flog_gatherer::accept_key(base.path(), &id, key).unwrap();
    gatherer.stored(&id, &fake).await;
    let events = gatherer.stop().await;
    assert_once(&events);
    impostor.stop().await;
}

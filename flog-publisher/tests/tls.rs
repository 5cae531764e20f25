//! The publisher's logport over TLS: the key in the logdir and the URL, a
//! client refusing another key before it says anything, the plaintext/TLS
//! mismatches, and hostile handshakes, each while others are served.

mod common;

use std::time::{Duration, Instant};

use flog_publisher::{Publisher, PublisherConfig, PublisherStats, KEY_FILE};
use flog_wire::{
    ClientError, ErrorCode, ListQuery, LogportClient, LogportUrl, Security, TlsKey, TransportError,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::{service, start, start_insecure, PATIENCE};

/// Waits until the publisher's counters satisfy `wanted` (they are bumped
/// by connection tasks, after the client has seen the outcome).
async fn stats_until(p: &Publisher, what: &str, wanted: impl Fn(&PublisherStats) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !wanted(&p.stats()) {
        assert!(
            Instant::now() < deadline,
            "waited in vain for {what}: {:?}",
            p.stats()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The publisher's URL with `security` instead of its own.
fn with_security(p: &Publisher, security: Security) -> LogportUrl {
    let url = p.url();
    LogportUrl::new(
        security,
        url.host(),
        url.port(),
        url.publisher_id(),
        url.secret(),
    )
    .unwrap()
}

async fn lists(p: &Publisher, names: &[String]) {
    let client = LogportClient::connect(p.url()).await.unwrap();
    let listed = client
        .list_all_incidents(ListQuery::default())
        .await
        .unwrap();
    let listed: Vec<_> = listed.into_iter().map(|i| i.name).collect();
    assert_eq!(listed, names);
}

#[tokio::test]
async fn the_url_pins_the_logdirs_key_and_fetches_are_byte_identical() {
    let s = service(false);
    let name = s.noise_incident(8, 32 * 1024);
    let p = start(&s, PublisherConfig::default()).await;
    let url = p.url().clone();
    assert_eq!(url.security(), Security::Tls(p.key_fingerprint()));
    assert!(url.to_string().starts_with("flogs://"));
    let text = std::fs::read_to_string(p.logport_file()).unwrap();
    assert_eq!(text.trim(), url.to_string());
    let key_path = s.logdir.join(KEY_FILE);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let client = LogportClient::connect(&url).await.unwrap();
    let listed = client
        .list_all_incidents(ListQuery::default())
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, name);
    let fetched = client.get_incident_bytes(&name).await.unwrap();
    assert!(fetched == std::fs::read(s.file(&name)).unwrap());
    drop(client);
    p.shutdown().await;

    // The key, and so the URL, survive a restart.
    let again = start(&s, PublisherConfig::default()).await;
    assert_eq!(again.key_fingerprint(), url.key().unwrap());
    again.shutdown().await;
}

#[tokio::test]
async fn a_url_naming_another_key_is_refused_before_any_hello() {
    let s = service(false);
    let names = vec![s.incident("x")];
    let p = start(&s, PublisherConfig::default()).await;
    let other = TlsKey::generate().unwrap().fingerprint();
    let wrong = with_security(&p, Security::Tls(other));

    for _ in 0..3 {
        let error = LogportClient::connect(&wrong)
            .await
            .expect_err("another key");
        match &error {
            ClientError::Transport(TransportError::KeyMismatch {
                expected, actual, ..
            }) => assert_eq!((*expected, *actual), (other, p.key_fingerprint())),
            other => panic!("expected a key mismatch, got {other:?}"),
        }
        let message = error.to_string();
        assert!(
            message.starts_with("publisher key does not match the URL: expected"),
            "{message}"
        );
        assert!(!message.contains(p.url().secret()), "{message}");
    }
    stats_until(&p, "three refusals of the key", |s| {
        s.key_refused_by_peer == 3
    })
    .await;
    // The proof: no hello was ever read.
    assert_eq!(p.stats().hellos, 0);
    assert_eq!(p.stats().welcomed, 0);

    lists(&p, &names).await;
    assert_eq!((p.stats().hellos, p.stats().welcomed), (1, 1));
    p.shutdown().await;
}

#[tokio::test]
async fn a_plaintext_client_on_the_tls_port_is_told_and_others_are_served() {
    let s = service(false);
    let names = vec![s.incident("x")];
    let p = start(&s, PublisherConfig::default()).await;
    let plain = with_security(&p, Security::Insecure);
    let error = LogportClient::connect(&plain).await.expect_err("TLS only");
    match &error {
        ClientError::Remote { code, message, .. } => {
            assert_eq!(*code, ErrorCode::Unsupported);
            assert!(message.contains("speaks TLS only"), "{message}");
            assert!(message.contains("flogs://"), "{message}");
        }
        other => panic!("expected the publisher's refusal, got {other:?}"),
    }
    stats_until(&p, "the refusal", |s| s.transport_refused == 1).await;
    assert_eq!(p.stats().hellos, 0, "the plaintext hello was never read");
    lists(&p, &names).await;
    p.shutdown().await;
}

#[tokio::test]
async fn a_tls_client_on_a_plaintext_port_is_told_and_others_are_served() {
    let s = service(false);
    let names = vec![s.incident("x")];
    let p = start_insecure(&s, PublisherConfig::default()).await;
    assert!(p.url().to_string().starts_with("flog+insecure://"));
    let key = TlsKey::generate().unwrap().fingerprint();
    let tls = with_security(&p, Security::Tls(key));
    let error = LogportClient::connect(&tls)
        .await
        .expect_err("plaintext port");
    assert!(
        matches!(
            error,
            ClientError::Transport(TransportError::ServerNotTls { .. })
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("is not speaking TLS"), "{error}");
    stats_until(&p, "the refusal", |s| s.transport_refused == 1).await;
    lists(&p, &names).await;
    p.shutdown().await;
}

/// The first bytes of a ClientHello: a record header announcing 512 bytes
/// and the start of the handshake message, then nothing.
const PARTIAL_CLIENT_HELLO: &[u8] = &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03];

#[tokio::test]
async fn hostile_handshakes_are_cut_off_and_others_are_served() {
    let s = service(false);
    let names = vec![s.incident("x")];
    let deadline = Duration::from_millis(400);
    let config = PublisherConfig {
        handshake_timeout: deadline,
        ..PublisherConfig::default()
    };
    let p = start(&s, config).await;
    let garbage: [&[u8]; 4] = [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        &[0x16, 0x03, 0x01, 0x00, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff],
        &[0x16, 0x03, 0x03, 0xff, 0xff],
        &[0x16, 0x00, 0x00, 0x00, 0x00],
    ];
    for bytes in garbage {
        let mut tcp = TcpStream::connect(p.local_addr()).await.unwrap();
        tcp.write_all(bytes).await.unwrap();
        tcp.shutdown().await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut answer))
            .await
            .expect("the publisher closes");
    }

    // A client that stalls mid-handshake holds its connection until the
    // handshake deadline, not the hello's; others are served meanwhile.
    let mut stalled = TcpStream::connect(p.local_addr()).await.unwrap();
    stalled.write_all(PARTIAL_CLIENT_HELLO).await.unwrap();
    let began = Instant::now();
    lists(&p, &names).await;
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, stalled.read_to_end(&mut rest))
        .await
        .expect("cut off at the handshake deadline");
    let held = began.elapsed();
    assert!(held >= deadline - Duration::from_millis(50), "{held:?}");
    assert!(held < PublisherConfig::default().hello_timeout, "{held:?}");

    stats_until(&p, "every refusal", |s| s.transport_refused == 5).await;
    assert_eq!(p.stats().hellos, 1, "only the good client's");
    lists(&p, &names).await;
    p.shutdown().await;
}

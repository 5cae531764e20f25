//! Which keys are accepted, over real TLS handshakes.

use super::*;

#[tokio::test]
async fn the_right_key_connects_and_messages_round_trip() {
    let key = TlsKey::generate().expect("key");
    let (listener, port) = bind().await;
    let server = serve(
        listener,
        Acceptor::tls(ServerTls::new(&key).expect("tls")),
        1,
    );

    let stream = Connector::new()
        .connect(&tls_url(port, key.fingerprint()))
        .await
        .expect("connects");
    assert!(stream.is_tls());
    assert_eq!(stream.peer_key(), Some(key.fingerprint()));
    // Dropped without a TLS close_notify: the server reads a clean end.
    round_trip(stream).await;

    let outcomes = server.await.expect("server");
    assert!(matches!(outcomes[..], [Ok(None)]), "{outcomes:?}");
}

#[tokio::test]
async fn another_key_is_refused_in_the_handshake_before_any_message() {
    let server_key = TlsKey::generate().expect("key");
    let pinned = TlsKey::generate().expect("key").fingerprint();
    let (listener, port) = bind().await;
    let server = serve(
        listener,
        Acceptor::tls(ServerTls::new(&server_key).expect("tls")),
        1,
    );

    let error = Connector::new()
        .connect(&tls_url(port, pinned))
        .await
        .expect_err("wrong key");
    let TransportError::KeyMismatch {
        role,
        expected,
        actual,
    } = &error
    else {
        panic!("expected a key mismatch, got {error:?}");
    };
    assert_eq!(*role, PeerRole::Publisher);
    assert_eq!(*expected, pinned);
    assert_eq!(*actual, server_key.fingerprint());
    assert_eq!(
        error.to_string(),
        format!(
            "publisher key does not match the URL: expected {pinned}, got {}",
            server_key.fingerprint()
        )
    );
    // The server never finished a handshake, so it never had a stream to
    // read a hello, or any message, from.
    let outcomes = server.await.expect("server");
    assert!(
        matches!(outcomes[..], [Err(TransportError::KeyRefusedByPeer { .. })]),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn a_replayed_certificate_without_its_private_key_is_refused() {
    // The pin matches (same certificate), so only the check of the
    // handshake signature stands between the client and the forger.
    let real = TlsKey::generate().expect("key");
    let thief = TlsKey::generate().expect("key");
    let forged = TlsKey::forged(&real, &thief);
    let (listener, port) = bind().await;
    let server = serve(
        listener,
        Acceptor::tls(ServerTls::new(&forged).expect("tls")),
        1,
    );
    let error = Connector::new()
        .connect(&tls_url(port, real.fingerprint()))
        .await
        .expect_err("forged");
    assert!(
        matches!(
            &error,
            TransportError::Tls {
                source: rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature),
                ..
            }
        ),
        "{error:?}"
    );
    let outcomes = server.await.expect("server");
    assert!(matches!(outcomes[..], [Err(_)]), "{outcomes:?}");

    // The other direction: a dialing-out client replaying a publisher's
    // certificate cannot pass as that publisher.
    let gatherer_key = TlsKey::generate().expect("key");
    let (listener, port) = bind().await;
    let server = serve(
        listener,
        Acceptor::tls(ServerTls::requiring_client_keys(&gatherer_key).expect("tls")),
        1,
    );
    let attempt = Connector::new()
        .client_key(forged)
        .connect(&tls_url(port, gatherer_key.fingerprint()))
        .await;
    if let Ok(stream) = attempt {
        let mut connection = Connection::new(stream);
        let _ = connection.write_message(&ping(1)).await;
        assert!(!matches!(connection.read_message().await, Ok(Some(_))));
    }
    let outcomes = server.await.expect("server");
    assert!(
        matches!(
            &outcomes[..],
            [Err(TransportError::Tls {
                source: rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature),
                ..
            })]
        ),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn mutual_tls_shows_each_side_the_other_key() {
    let gatherer_key = TlsKey::generate().expect("key");
    let publisher_key = TlsKey::generate().expect("key");
    let (listener, port) = bind().await;
    let server = serve(
        listener,
        Acceptor::tls(ServerTls::requiring_client_keys(&gatherer_key).expect("tls")),
        3,
    );
    let dial_out = Connector::new()
        .client_key(publisher_key.clone())
        .peer_role(PeerRole::Gatherer);

    let stream = dial_out
        .connect(&tls_url(port, gatherer_key.fingerprint()))
        .await
        .expect("connects");
    assert_eq!(stream.peer_key(), Some(gatherer_key.fingerprint()));
    round_trip(stream).await;

    let someone_else = TlsKey::generate().expect("key").fingerprint();
    let error = dial_out
        .connect(&tls_url(port, someone_else))
        .await
        .expect_err("wrong gatherer key");
    assert!(
        error
            .to_string()
            .starts_with("gatherer key does not match the URL: expected"),
        "{error}"
    );

    // Without a key of its own: TLS 1.3 lets the client finish first, and
    // the server refuses it.
    if let Ok(stream) = Connector::new()
        .connect(&tls_url(port, gatherer_key.fingerprint()))
        .await
    {
        let mut connection = Connection::new(stream);
        let _ = connection.write_message(&ping(1)).await;
        assert!(!matches!(connection.read_message().await, Ok(Some(_))));
    }

    let outcomes = server.await.expect("server");
    assert!(
        matches!(&outcomes[0], Ok(Some(key)) if *key == publisher_key.fingerprint()),
        "{outcomes:?}"
    );
    assert!(
        matches!(outcomes[1], Err(TransportError::KeyRefusedByPeer { .. })),
        "{outcomes:?}"
    );
    assert!(
        matches!(outcomes[2], Err(TransportError::NoClientKey { .. })),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn after_a_rotation_the_old_url_is_refused_and_the_new_one_works() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = KeyFile::new(
        dir.path().join("logport-key.pem"),
        flog_core::fs::write_private_atomically,
    );
    let before = file.load_or_create().expect("key");
    let old_url = |port| tls_url(port, before.fingerprint());
    let rotation = file.rotate().expect("rotated");
    let after = file.load().expect("new key");
    assert_eq!(after.fingerprint(), rotation.new.fingerprint());

    let (listener, port) = bind().await;
    let server = serve(
        listener,
        Acceptor::tls(ServerTls::new(&after).expect("tls")),
        2,
    );
    let error = Connector::new()
        .connect(&old_url(port))
        .await
        .expect_err("stale URL");
    assert!(
        matches!(
            error,
            TransportError::KeyMismatch { expected, actual, .. }
                if expected == before.fingerprint() && actual == after.fingerprint()
        ),
        "{error:?}"
    );
    let stream = Connector::new()
        .connect(&tls_url(port, after.fingerprint()))
        .await
        .expect("new URL");
    round_trip(stream).await;
    let outcomes = server.await.expect("server");
    assert!(
        matches!(
            outcomes[..],
            [Err(TransportError::KeyRefusedByPeer { .. }), Ok(None)]
        ),
        "{outcomes:?}"
    );
}

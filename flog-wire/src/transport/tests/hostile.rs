//! Peers of the wrong kind, garbage, stalls and eavesdroppers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use super::*;

#[tokio::test]
async fn a_plaintext_client_on_a_tls_port_is_told_and_others_are_served() {
    let key = TlsKey::generate().expect("key");
    let (listener, port) = bind().await;
    let server = serve(
        listener,
        Acceptor::tls(ServerTls::new(&key).expect("tls")),
        2,
    );

    let plain = Connector::new()
        .connect(&insecure_url(port))
        .await
        .expect("plain TCP connects");
    assert!(!plain.is_tls());
    let mut connection = Connection::new(plain);
    connection.write_message(&hello()).await.expect("write");
    let Some(Message::Error(refusal)) = connection.read_message().await.expect("read") else {
        panic!("expected an error frame");
    };
    assert_eq!(refusal.id, None);
    assert_eq!(refusal.code, ErrorCode::Unsupported);
    assert!(refusal.message.contains("TLS only"), "{}", refusal.message);
    assert!(refusal.message.contains("flogs://"), "{}", refusal.message);
    assert_eq!(connection.read_message().await.expect("closed"), None);
    drop(connection);

    let good = Connector::new()
        .connect(&tls_url(port, key.fingerprint()))
        .await
        .expect("connects");
    round_trip(good).await;

    let outcomes = server.await.expect("server");
    assert!(
        matches!(outcomes[..], [Err(TransportError::NotTls { .. }), Ok(None)]),
        "{outcomes:?}"
    );
    assert!(outcomes[0]
        .as_ref()
        .expect_err("refused")
        .to_string()
        .starts_with("peer is not speaking TLS"));
}

#[tokio::test]
async fn a_tls_client_on_a_plaintext_port_is_told_and_others_are_served() {
    let key = TlsKey::generate().expect("key");
    let (listener, port) = bind().await;
    let server = serve(listener, Acceptor::insecure(), 2);

    let error = Connector::new()
        .connect(&tls_url(port, key.fingerprint()))
        .await
        .expect_err("not TLS");
    assert!(
        matches!(error, TransportError::ServerNotTls { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("flog+insecure://"), "{error}");

    let plain = Connector::new()
        .connect(&insecure_url(port))
        .await
        .expect("connects");
    round_trip(plain).await;

    let outcomes = server.await.expect("server");
    assert!(
        matches!(
            outcomes[..],
            [Err(TransportError::TlsOnPlaintextPort { .. }), Ok(None)]
        ),
        "{outcomes:?}"
    );
    assert!(outcomes[0]
        .as_ref()
        .expect_err("refused")
        .to_string()
        .starts_with("peer spoke TLS to a plaintext logport"));
}

#[tokio::test]
async fn handshake_garbage_is_refused_and_the_server_serves_on() {
    let key = TlsKey::generate().expect("key");
    let (listener, port) = bind().await;
    let mut garbage: Vec<Vec<u8>> = vec![
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        vec![0x16, 0x03, 0x01, 0x00, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff],
        vec![0x16, 0x03, 0x03, 0xff, 0xff],
        vec![0x16],
        vec![0x16, 0x00, 0x00, 0x00, 0x00],
    ];
    // Deterministic pseudo-random records, each starting like TLS.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for len in [3usize, 17, 200, 4096] {
        let mut bytes = vec![0x16, 0x03, 0x01];
        bytes.extend((0..len).map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        }));
        garbage.push(bytes);
    }
    let acceptor = Acceptor::tls(ServerTls::new(&key).expect("tls"))
        .handshake_timeout(Duration::from_millis(500));
    let server = serve(listener, acceptor, garbage.len() + 1);
    for bytes in &garbage {
        let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.expect("tcp");
        tcp.write_all(bytes).await.expect("write");
        tcp.shutdown().await.expect("shutdown");
        // Whatever the server answers, it then closes.
        let mut answer = Vec::new();
        let _ = tcp.read_to_end(&mut answer).await;
    }
    let good = Connector::new()
        .connect(&tls_url(port, key.fingerprint()))
        .await
        .expect("connects");
    round_trip(good).await;

    let outcomes = server.await.expect("server");
    assert_eq!(outcomes.len(), garbage.len() + 1);
    assert!(
        matches!(outcomes[0], Err(TransportError::NotTls { .. })),
        "{:?}",
        outcomes[0]
    );
    for (bytes, outcome) in garbage.iter().zip(&outcomes).skip(1) {
        assert!(
            matches!(
                outcome,
                Err(TransportError::Tls { .. } | TransportError::ClosedDuringHandshake { .. })
            ),
            "{bytes:02x?}: {outcome:?}"
        );
    }
    assert!(matches!(outcomes.last(), Some(Ok(None))));
}

/// The first bytes of a real ClientHello: a record header announcing 512
/// bytes, and the start of the handshake message.
const PARTIAL_CLIENT_HELLO: &[u8] = &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03];

#[tokio::test]
async fn a_client_stalling_mid_handshake_is_cut_off_at_the_deadline() {
    let key = TlsKey::generate().expect("key");
    let (listener, port) = bind().await;
    let deadline = Duration::from_millis(200);
    let acceptor = Acceptor::tls(ServerTls::new(&key).expect("tls")).handshake_timeout(deadline);
    let server = serve(listener, acceptor, 3);

    let mut stalled = TcpStream::connect(("127.0.0.1", port)).await.expect("tcp");
    stalled
        .write_all(PARTIAL_CLIENT_HELLO)
        .await
        .expect("write");
    let silent = TcpStream::connect(("127.0.0.1", port)).await.expect("tcp");
    // Both stalls hold the port; a good client is served once they are cut.
    let good = Connector::new()
        .connect(&tls_url(port, key.fingerprint()))
        .await
        .expect("connects");
    round_trip(good).await;

    let outcomes = server.await.expect("server");
    for outcome in &outcomes[..2] {
        assert!(
            matches!(outcome, Err(TransportError::HandshakeTimeout { after, .. }) if *after == deadline),
            "{outcome:?}"
        );
    }
    assert!(matches!(outcomes[2], Ok(None)), "{:?}", outcomes[2]);
    drop((stalled, silent));
}

#[tokio::test]
async fn a_server_stalling_mid_handshake_is_cut_off_at_the_deadline() {
    let (listener, port) = bind().await;
    let holder = tokio::spawn(async move {
        // Accept and never answer.
        let (tcp, _) = listener.accept().await.expect("accept");
        let mut tcp = tcp;
        let mut sink = Vec::new();
        let _ = tcp.read_to_end(&mut sink).await;
    });
    let deadline = Duration::from_millis(200);
    let error = Connector::new()
        .timeout(deadline)
        .connect(&tls_url(port, KeyFingerprint::of_spki(b"any")))
        .await
        .expect_err("stalled");
    assert!(
        matches!(error, TransportError::HandshakeTimeout { after, .. } if after == deadline),
        "{error:?}"
    );
    holder.await.expect("holder");
}

#[tokio::test]
async fn a_silent_client_on_a_plaintext_port_is_handed_to_the_session() {
    let (listener, port) = bind().await;
    let acceptor = Acceptor::insecure().handshake_timeout(Duration::from_millis(100));
    let _silent = TcpStream::connect(("127.0.0.1", port)).await.expect("tcp");
    let (tcp, _) = listener.accept().await.expect("accept");
    let stream = acceptor.accept(tcp).await.expect("handed over");
    assert!(!stream.is_tls());
}

/// Forwards one connection to `upstream`, recording every byte in both
/// directions.
async fn recording_relay(upstream: u16) -> (u16, Arc<Mutex<Vec<u8>>>, JoinHandle<()>) {
    let (listener, port) = bind().await;
    let captured = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&captured);
    let relay = tokio::spawn(async move {
        let (client, _) = listener.accept().await.expect("accept");
        let server = TcpStream::connect(("127.0.0.1", upstream))
            .await
            .expect("upstream");
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        let pump = |mut from: tokio::net::tcp::OwnedReadHalf,
                    mut to: tokio::net::tcp::OwnedWriteHalf| {
            let record = Arc::clone(&record);
            async move {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let n = from.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        let _ = to.shutdown().await;
                        break;
                    }
                    record.lock().expect("lock").extend_from_slice(&buf[..n]);
                    if to.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        };
        tokio::join!(
            pump(client_read, server_write),
            pump(server_read, client_write)
        );
    });
    (port, captured, relay)
}

#[tokio::test]
async fn neither_the_secret_nor_the_messages_cross_the_wire_in_clear() {
    let key = TlsKey::generate().expect("key");
    let (listener, port) = bind().await;
    let acceptor = Acceptor::tls(ServerTls::new(&key).expect("tls"));
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let mut connection = Connection::new(acceptor.accept(tcp).await.expect("accept"));
        let got = connection.read_message().await.expect("read");
        let echo = Message::Response(Response {
            id: 1,
            reply: Reply::Versions {
                versions: [("event text".to_string(), "EVENT-TEXT-77c1".to_string())].into(),
            },
        });
        connection.write_message(&echo).await.expect("write");
        assert_eq!(connection.read_message().await.expect("eof"), None);
        got
    });
    let (relay_port, captured, relay) = recording_relay(port).await;
    let stream = Connector::new()
        .connect(&tls_url(relay_port, key.fingerprint()))
        .await
        .expect("connects through the relay");
    let mut connection = Connection::new(stream);
    connection.write_message(&hello()).await.expect("write");
    let reply = connection.read_message().await.expect("read");
    assert!(matches!(reply, Some(Message::Response(_))), "{reply:?}");
    drop(connection);
    assert_eq!(server.await.expect("server"), Some(hello()));
    relay.await.expect("relay");

    let bytes = captured.lock().expect("lock").clone();
    assert!(bytes.len() > 200, "the relay saw the session");
    for needle in [SECRET.as_bytes(), b"EVENT-TEXT-77c1", b"transport-test"] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "{:?} crossed in clear",
            String::from_utf8_lossy(needle)
        );
    }
}

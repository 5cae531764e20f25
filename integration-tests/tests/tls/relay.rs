//! A relay on the path records every byte of a whole session: hello,
//! listing, fetch and live events. None of it is readable.

use std::sync::{Arc, Mutex};

use flog_core::Level;
use flog_wire::{EventUpdate, ListQuery, LogportClient, LogportUrl};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::gatherer::{Service, PATIENCE};

/// Forwards one connection to `upstream`, keeping every byte both ways.
async fn recording_relay(url: &LogportUrl) -> (LogportUrl, Arc<Mutex<Vec<u8>>>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let upstream = url.authority();
    let captured = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&captured);
    let relay = tokio::spawn(async move {
        let (client, _) = listener.accept().await.unwrap();
        let server = TcpStream::connect(upstream).await.unwrap();
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        let pump = |mut from: tokio::net::tcp::OwnedReadHalf,
                    mut to: tokio::net::tcp::OwnedWriteHalf| {
            let record = Arc::clone(&record);
            async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n @ 1..) = from.read(&mut buf).await {
                    record.lock().unwrap().extend_from_slice(&buf[..n]);
                    if to.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = to.shutdown().await;
            }
        };
        tokio::join!(
            pump(client_read, server_write),
            pump(server_read, client_write)
        );
    });
    let through = LogportUrl::new(
        url.security(),
        "127.0.0.1",
        port,
        url.publisher_id(),
        url.secret(),
    )
    .unwrap();
    (through, captured, relay)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_session_shows_neither_the_secret_nor_any_event_text() {
    let mut service = Service::start().await;
    let name = service
        .incident("app.db", Level::WEIRD, "INCIDENT-TEXT-5e1d")
        .await;
    let (through, captured, relay) = recording_relay(service.url()).await;

    let client = LogportClient::connect(&through).await.unwrap();
    let listed = client
        .list_all_incidents(ListQuery::default())
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    let fetched = client.get_incident_bytes(&name).await.unwrap();
    let file = std::fs::read(service.file(&name)).unwrap();
    assert!(fetched == file, "byte for byte the publisher's file");
    let mut live = client.subscribe_to_all(false).await.unwrap();
    service
        .logger
        .event(Level::OPERATIONAL)
        .facility("app.live")
        .message("LIVE-EVENT-TEXT-93ab")
        .emit();
    let update = tokio::time::timeout(PATIENCE, live.next())
        .await
        .expect("the live event arrives");
    let Some(EventUpdate::Event(event)) = update else {
        panic!("expected the event, got {update:?}");
    };
    assert!(contains(event.as_bytes(), b"LIVE-EVENT-TEXT-93ab"));
    drop(live);
    drop(client);
    tokio::time::timeout(PATIENCE, relay)
        .await
        .expect("the session ends")
        .unwrap();

    let bytes = captured.lock().unwrap().clone();
    assert!(bytes.len() > file.len(), "the relay carried the fetch");
    let secret = service.url().secret().as_bytes().to_vec();
    for needle in [
        &secret[..],
        b"LIVE-EVENT-TEXT-93ab",
        b"INCIDENT-TEXT-5e1d",
        b"app.live",
        name.as_bytes(),
        &file[file.len() / 2..file.len() / 2 + 32],
    ] {
        assert!(
            !contains(&bytes, needle),
            "{:?} crossed the relay in clear",
            String::from_utf8_lossy(needle)
        );
    }
    service.stop().await;
}

//! A gatherer that goes away in the middle of fetching from a publisher
//! that dialed in: the publisher dials again, and the incident is stored
//! once, whole.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use super::*;
use crate::gatherer::partial_files;

/// A relay on the publisher's path to the gatherer. On its first
/// connection it forwards only `limit` bytes from the publisher, then holds
/// the rest until `cut` is notified, which closes it; later connections
/// pass freely.
async fn stalling_relay(upstream: u16, limit: usize) -> (u16, Arc<Notify>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let cut = Arc::new(Notify::new());
    let connections = Arc::new(AtomicUsize::new(0));
    let cut_first = Arc::clone(&cut);
    tokio::spawn(async move {
        while let Ok((publisher, _)) = listener.accept().await {
            let first = connections.fetch_add(1, Ordering::SeqCst) == 0;
            let limit = if first { limit } else { usize::MAX };
            let cut = Arc::clone(&cut_first);
            tokio::spawn(async move {
                let Ok(gatherer) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                    return;
                };
                let (mut from_publisher, mut to_publisher) = publisher.into_split();
                let (mut from_gatherer, mut to_gatherer) = gatherer.into_split();
                let up = async {
                    let mut buf = vec![0u8; 16 * 1024];
                    let mut passed = 0;
                    while let Ok(n @ 1..) = from_publisher.read(&mut buf).await {
                        let n = n.min(limit - passed);
                        if to_gatherer.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                        passed += n;
                        if passed == limit {
                            // Hold everything else, as a stalled link does.
                            std::future::pending::<()>().await;
                        }
                    }
                };
                let down = tokio::io::copy(&mut from_gatherer, &mut to_publisher);
                if first {
                    tokio::select! {
                        _ = cut.notified() => {}
                        _ = async { tokio::join!(up, down) } => {}
                    }
                } else {
                    let _ = tokio::join!(up, down);
                }
            });
        }
    });
    (port, cut)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gatherer_restarted_mid_fetch_stores_the_incident_once() {
    let base = tempfile::tempdir().unwrap();
    let port = free_port();
    let (gatherer, url) = listening_gatherer(base.path(), port).await;
    let mut events = gatherer.stop().await;
    let (relay, cut) = stalling_relay(port, 300 * 1024).await;
    let through = LogportUrl::new(
        url.security(),
        "127.0.0.1",
        relay,
        url.publisher_id(),
        url.secret(),
    )
    .unwrap();
    let mut service = dialing_service(&through).await;
    let id = service.id();
    let name = service.large_incident(40).await;

    let mut config = listening(port);
    config.chunk_size = Some(16 * 1024);
    let gatherer = Running::start(base.path(), config.clone());
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while partial_files(base.path(), &id, &name).is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no fetch began");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    events.extend(gatherer.abort().await);
    cut.notify_one();

    let mut gatherer = Running::start(base.path(), config);
    gatherer.stored(&id, &name).await;
    assert_identical(base.path(), &service, &name);
    assert!(partial_files(base.path(), &id, &name).is_empty());
    events.extend(gatherer.stop().await);
    assert_once(&events);
    assert!(service.publisher().stats().dialed_sessions >= 2);
    service.stop().await;
}

//! The logport over TLS end to end: a man in the middle holding its own key
//! is refused by the gatherer before it learns anything, and a relay that
//! records a whole session sees neither the secret nor any event text.

mod relay;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use flog_core::Level;
use flog_gatherer::GatherEvent;
use flog_wire::{
    Acceptor, ClientError, LogportClient, LogportUrl, ServerTls, TlsKey, TransportError,
};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use crate::gatherer::{quick_config, Running, Service};

/// What a man in the middle got out of its victims.
#[derive(Default)]
pub(crate) struct Loot {
    /// Handshakes the victim refused: it saw the proxy's key.
    pub(crate) refused: AtomicUsize,
    /// Sessions it got into, and bytes read in them (hellos, secrets).
    pub(crate) sessions: AtomicUsize,
    pub(crate) bytes: AtomicUsize,
}

/// A proxy that terminates TLS with a key of its own, as an attacker on the
/// path would, at the address `url` names for `victim`'s publisher.
pub(crate) async fn man_in_the_middle(url: &LogportUrl) -> (LogportUrl, Arc<Loot>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let own_key = TlsKey::generate().unwrap();
    let acceptor = Acceptor::tls(ServerTls::new(&own_key).unwrap());
    let loot = Arc::new(Loot::default());
    let seen = Arc::clone(&loot);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, seen) = (acceptor.clone(), Arc::clone(&seen));
            tokio::spawn(async move {
                match acceptor.accept(tcp).await {
                    Ok(mut stream) => {
                        seen.sessions.fetch_add(1, Ordering::SeqCst);
                        let mut buf = vec![0u8; 4096];
                        while let Ok(n @ 1..) = stream.read(&mut buf).await {
                            seen.bytes.fetch_add(n, Ordering::SeqCst);
                        }
                    }
                    Err(TransportError::KeyRefusedByPeer { .. }) => {
                        seen.refused.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => {}
                }
            });
        }
    });
    let through = LogportUrl::new(
        url.security(),
        "127.0.0.1",
        port,
        url.publisher_id(),
        url.secret(),
    )
    .unwrap();
    (through, loot)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_man_in_the_middle_is_refused_by_the_client_and_the_gatherer() {
    let mut service = Service::start().await;
    let name = service.incident("app", Level::WEIRD, "boom").await;
    let (through, loot) = man_in_the_middle(service.url()).await;

    let error = LogportClient::connect(&through)
        .await
        .expect_err("the proxy's key is not the publisher's");
    assert!(
        matches!(
            error,
            ClientError::Transport(TransportError::KeyMismatch { .. })
        ),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with("publisher key does not match the URL: expected"),
        "{error}"
    );

    let base = tempfile::tempdir().unwrap();
    let mut config = quick_config();
    config.publishers.push(through);
    let mut gatherer = Running::start(base.path(), config);
    let failed = gatherer
        .wait_for("the gatherer to refuse the proxy", |event| {
            matches!(event, GatherEvent::Failed { .. })
        })
        .await;
    let GatherEvent::Failed {
        publisher_id,
        error,
        ..
    } = failed
    else {
        unreachable!()
    };
    assert_eq!(publisher_id, service.id());
    assert!(
        error.contains("publisher key does not match the URL"),
        "{error}"
    );
    let events = gatherer.stop().await;
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, GatherEvent::Stored(_) | GatherEvent::Connected { .. })),
        "{events:#?}"
    );
    let stored = base
        .path()
        .join(flog_gatherer::INCIDENTS_DIR)
        .join(service.id())
        .join(format!("{name}.flog.bz2"));
    assert!(!stored.exists());
    // The proxy learns of each refusal from the victim's alert, on its own
    // task: poll for the count, with a deadline.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while loot.refused.load(Ordering::SeqCst) < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(loot.refused.load(Ordering::SeqCst) >= 2);
    assert_eq!(loot.sessions.load(Ordering::SeqCst), 0);
    assert_eq!(loot.bytes.load(Ordering::SeqCst), 0);
    service.stop().await;
}

//! A publisher stopped in the middle of a transfer: the gatherer backs off
//! and retries, other publishers keep flowing meanwhile, and once the
//! publisher is back the incident is stored exactly once, resumed where the
//! transfer stopped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use flog_core::Level;
use flog_gatherer::GatherEvent;
use flog_publisher::Publisher;
use tokio::net::TcpSocket;

use super::{eventually, ThrottlingProxy};
use crate::gatherer::{list, partial_files, quick_config, relative, stored_files, stored_names};
use crate::gatherer::{Running, Service};

/// A publisher for `logger` on a socket whose send buffer is small and fixed,
/// so that what the publisher has sent is what the slow link has carried,
/// give or take 16 kB: stopping it then cuts the transfer there, rather than
/// after the kernel has drained the megabytes it had accepted.
async fn publisher_with_small_send_buffer(logger: &flog_core::Logger) -> Publisher {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(16 * 1024).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(64).unwrap();
    Publisher::builder(logger.clone())
        .start_on(listener)
        .await
        .unwrap()
}

// Long on purpose: one scenario whose steps build on the state the earlier ones left (real processes, sockets or a browser), so it reads top to bottom.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_stopped_mid_transfer_is_retried_with_backoff_while_others_flow() {
    let mut slow = Service::start().await;
    let mut other = Service::start().await;
    let (slow_id, other_id) = (slow.id(), other.id());
    let name = slow.large_incident(64).await;
    let bytes = std::fs::read(slow.file(&name)).unwrap();
    let size = bytes.len() as u64;
    assert!(size > 1_000_000, "{size} bytes");
    let url = slow.url().clone();
    slow.stop().await;
    let publisher = publisher_with_small_send_buffer(&slow.logger).await;

    // 256 kB/s: the 2 MB transfer would take some eight seconds, plenty of
    // time to stop the publisher in the middle.
    let proxy = ThrottlingProxy::start(publisher.local_addr(), 256 * 1024).await;
    let base = tempfile::tempdir().unwrap();
    let basedir = base.path();
    let mut config = quick_config();
    config.chunk_size = Some(16 * 1024);
    config.min_backoff = std::time::Duration::from_millis(200);
    config.max_backoff = std::time::Duration::from_secs(1);
    config.publishers = vec![proxy.url(&url), other.url().clone()];
    let mut gatherer = Running::start(basedir, config);

    eventually("part of the incident to arrive", || {
        partial_files(basedir, &slow_id, &name)
            .iter()
            .any(|partial| std::fs::metadata(partial).is_ok_and(|m| m.len() >= 64 * 1024))
    })
    .await;
    // Stopped in the middle of the transfer (the service goes on logging).
    publisher.shutdown().await;
    let cut_at = proxy.returned()[0];
    assert!(cut_at < size / 2, "cut at {cut_at} of {size}");

    // The gatherer retries, waiting longer each time...
    let retries = Mutex::new(Vec::new());
    let failures = AtomicUsize::new(0);
    gatherer
        .wait_for(
            "three failures of the stopped publisher",
            |event| match event {
                GatherEvent::Failed {
                    publisher_id,
                    retry_in,
                    ..
                } if *publisher_id == slow_id => {
                    retries.lock().unwrap().push(*retry_in);
                    failures.fetch_add(1, Ordering::SeqCst) + 1 == 3
                }
                _ => false,
            },
        )
        .await;
    let retries = retries.into_inner().unwrap();
    // Waits are drawn from the upper half of a ceiling that doubles from
    // 200 ms: the third (400-800 ms) is longer than the first (100-200 ms).
    assert!(retries[2] > retries[0], "{retries:?}");

    // ...while the other publisher's incidents keep flowing.
    for text in ["other one", "other two"] {
        let flowing = other.incident("app", Level::WEIRD, text).await;
        gatherer.stored(&other_id, &flowing).await;
    }
    assert!(
        stored_names(&gatherer.seen)
            .iter()
            .all(|(id, _)| *id == other_id),
        "nothing of the stopped publisher was stored"
    );

    // The publisher comes back (on another port, behind the same proxy).
    let publisher = Publisher::builder(slow.logger.clone())
        .start()
        .await
        .unwrap();
    proxy.retarget(publisher.local_addr());
    proxy.unthrottle();
    gatherer.stored(&slow_id, &name).await;
    let events = gatherer.stop().await;

    let stored: Vec<String> = stored_names(&events)
        .into_iter()
        .filter(|(id, _)| *id == slow_id)
        .map(|(_, n)| n)
        .collect();
    assert_eq!(stored, [name.as_str()], "stored exactly once");
    assert_eq!(
        std::fs::read(basedir.join(relative(&slow_id, &name))).unwrap(),
        bytes,
        "byte for byte the publisher's file"
    );
    assert_eq!(
        stored_files(basedir, &slow_id),
        [format!("{name}.flog.bz2"), "latest".to_owned()].into(),
        "no temporary file left behind"
    );
    assert_eq!(
        std::fs::read_to_string(basedir.join("incidents").join(&slow_id).join("latest")).unwrap(),
        format!("{name}\n")
    );
    assert!(list(basedir, "all").contains(&relative(&slow_id, &name)));
    // The last connection resumed after what the first one brought.
    let returned = proxy.returned();
    let last = *returned.last().unwrap();
    assert!(
        last < size,
        "resumed rather than started over: {returned:?} of {size}"
    );
    publisher.shutdown().await;
    other.stop().await;
}

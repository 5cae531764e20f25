//! A connection cut in the middle of a fetch: the gatherer resumes, and the
//! stored file is the publisher's, byte for byte, once.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use flog_wire::LogportUrl;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// Forwards connections to `target`. The first connection is dropped once
/// `cut_after` bytes have come back from the target; later ones pass whole.
/// Counts the bytes each connection brought back.
pub(crate) struct CuttingProxy {
    pub(crate) addr: SocketAddr,
    returned: Arc<std::sync::Mutex<Vec<Arc<AtomicU64>>>>,
}

impl CuttingProxy {
    pub(crate) async fn start(target: SocketAddr, cut_after: u64) -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let returned = Arc::new(std::sync::Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        tokio::spawn({
            let returned = returned.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let first = connections.fetch_add(1, Ordering::SeqCst) == 0;
                    let limit = if first { cut_after } else { u64::MAX };
                    let count = Arc::new(AtomicU64::new(0));
                    returned.lock().unwrap().push(count.clone());
                    tokio::spawn(forward(client, target, limit, count));
                }
            }
        });
        CuttingProxy { addr, returned }
    }

    /// Bytes brought back so far, per connection, in order of connection.
    pub(crate) fn returned(&self) -> Vec<u64> {
        let counts = self.returned.lock().unwrap();
        counts.iter().map(|c| c.load(Ordering::SeqCst)).collect()
    }

    /// The URL of `url`'s publisher through this proxy.
    pub(crate) fn url(&self, url: &LogportUrl) -> LogportUrl {
        LogportUrl::new(
            url.security(),
            "127.0.0.1",
            self.addr.port(),
            url.publisher_id(),
            url.secret(),
        )
        .unwrap()
    }
}

async fn forward(client: TcpStream, target: SocketAddr, limit: u64, count: Arc<AtomicU64>) {
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = async {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
    };
    let downstream = async {
        let mut buf = vec![0u8; 8192];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let sent = count.load(Ordering::SeqCst);
            let allowed = usize::try_from(limit.saturating_sub(sent))
                .unwrap_or(usize::MAX)
                .min(n);
            if client_write.write_all(&buf[..allowed]).await.is_err() {
                return;
            }
            count.fetch_add(allowed as u64, Ordering::SeqCst);
            if allowed < n {
                // The cut: both directions end here, mid-frame.
                return;
            }
        }
    };
    // Whichever direction ends first ends the connection.
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_cut_midway_resumes_and_stores_once() {
    let mut service = Service::start().await;
    let id = service.id();
    let name = service.large_incident(4).await;
    let size = fs::metadata(service.file(&name)).unwrap().len();
    assert!(
        size > 100_000,
        "the incident is large enough to cut: {size} bytes"
    );

    // The handshake and listing take well under a few kB, so the cut lands
    // in the middle of the incident's bytes.
    let proxy = CuttingProxy::start(service.publisher_addr(), size / 2).await;
    let base = tempfile::tempdir().unwrap();
    let basedir = base.path();
    let mut config = quick_config();
    // Small chunks, so that whole ones arrive before the cut.
    config.chunk_size = Some(16 * 1024);
    config.publishers.push(proxy.url(service.url()));
    let mut gatherer = Running::start(basedir, config);
    gatherer
        .wait_for("the cut to be noticed", |event| {
            matches!(event, GatherEvent::Failed { .. })
        })
        .await;
    gatherer.stored(&id, &name).await;
    let events = gatherer.stop().await;

    assert_eq!(stored_names(&events), [(id.clone(), name.clone())]);
    assert_identical(basedir, &service, &name);
    assert_eq!(list(basedir, "all"), [relative(&id, &name)]);
    assert!(partial_files(basedir, &id, &name).is_empty());
    // The second connection resumed rather than starting over: it brought
    // back less than the whole file.
    let returned = proxy.returned();
    assert!(returned.len() >= 2, "{returned:?}");
    assert_eq!(returned[0], size / 2);
    assert!(
        returned[1] < size,
        "resumed: {returned:?} of {size}; {events:#?}"
    );
    service.stop().await;
}

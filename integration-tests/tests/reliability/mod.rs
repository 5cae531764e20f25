//! The worst days, end to end: a service killed and restarted, a publisher
//! stopped in the middle of a transfer, a gatherer whose disk fills up. The
//! table of what was tried is in docs/reliability.md.

mod disk_full;
mod killed_service;
mod publisher_stopped;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use flog_wire::LogportUrl;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// How long any one expected thing may take before a test fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// `flog-test-service` (integration-tests/src/bin) running as a child
/// process: a service we can kill for real.
pub(crate) struct ChildService {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl ChildService {
    pub(crate) fn start(mode: &str, logdir: &Path) -> ChildService {
        let mut child = Command::new(env!("CARGO_BIN_EXE_flog-test-service"))
            .arg(mode)
            .arg(logdir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the test service starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        ChildService {
            child,
            stdin,
            lines,
        }
    }

    /// Waits for the next line the service prints that starts with `prefix`,
    /// and returns the rest of it.
    pub(crate) fn wait_line(&self, prefix: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.trim().to_owned();
                    }
                }
                Err(e) => panic!("the service never printed {prefix:?}: {e}"),
            }
        }
    }

    /// SIGKILL: no destructor, no flush, no goodbye.
    pub(crate) fn kill(mut self) -> ExitStatus {
        self.child.kill().unwrap();
        self.child.wait().unwrap()
    }

    /// Closes its stdin, which tells a serving service to stop cleanly.
    pub(crate) fn stop(mut self) -> ExitStatus {
        drop(self.stdin.take());
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the service did not stop");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ChildService {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.flush();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Forwards connections to a target that can be changed (a publisher that
/// restarted on another port), passing what comes back from it at a limited
/// rate that can be lifted. Counts the bytes each connection brought back.
pub(crate) struct ThrottlingProxy {
    pub(crate) addr: SocketAddr,
    target: Arc<Mutex<SocketAddr>>,
    /// Bytes per second from the target to the client; 0: no limit.
    rate: Arc<AtomicU64>,
    returned: Arc<Mutex<Vec<Arc<AtomicU64>>>>,
}

impl ThrottlingProxy {
    pub(crate) async fn start(target: SocketAddr, bytes_per_second: u64) -> ThrottlingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = ThrottlingProxy {
            addr: listener.local_addr().unwrap(),
            target: Arc::new(Mutex::new(target)),
            rate: Arc::new(AtomicU64::new(bytes_per_second)),
            returned: Arc::default(),
        };
        let (target, rate, returned) = (
            proxy.target.clone(),
            proxy.rate.clone(),
            proxy.returned.clone(),
        );
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let count = Arc::new(AtomicU64::new(0));
                returned.lock().unwrap().push(count.clone());
                let to = *target.lock().unwrap();
                tokio::spawn(forward(client, to, rate.clone(), count));
            }
        });
        proxy
    }

    /// Sends new connections to `target`.
    pub(crate) fn retarget(&self, target: SocketAddr) {
        *self.target.lock().unwrap() = target;
    }

    /// Lifts the rate limit, for current connections too.
    pub(crate) fn unthrottle(&self) {
        self.rate.store(0, Ordering::SeqCst);
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

async fn forward(
    client: TcpStream,
    target: SocketAddr,
    rate: Arc<AtomicU64>,
    count: Arc<AtomicU64>,
) {
    // A small receive buffer towards the target, so that what the target
    // sends waits there, not in the kernel between it and us: a slow link,
    // rather than a fast one with a slow last hop.
    let Ok(socket) = TcpSocket::new_v4() else {
        return;
    };
    let _ = socket.set_recv_buffer_size(16 * 1024);
    let Ok(server) = socket.connect(target).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = async {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
    };
    let downstream = async {
        let mut buf = vec![0u8; 4096];
        loop {
            let limit = rate.load(Ordering::SeqCst);
            // Small reads while throttled, so the pace is even.
            let want = if limit == 0 { buf.len() } else { 1024 };
            let n = match server_read.read(&mut buf[..want]).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if client_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
            count.fetch_add(n as u64, Ordering::SeqCst);
            if limit > 0 {
                // Throttling is what this proxy is for: the pause is the point.
                tokio::time::sleep(Duration::from_secs_f64(n as f64 / limit as f64)).await;
            }
        }
    };
    // Whichever direction ends first ends the connection.
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
    }
}

/// Polls `check` every few milliseconds until it holds, failing after the
/// usual patience.
pub(crate) async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !check() {
        assert!(Instant::now() < deadline, "waited in vain for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub(crate) use flog_testkit::SmallDisk;

//! The `flog-gatherer` binary as an operator runs it: create, run, signals,
//! config errors, and a kill -9 in the middle of a fetch.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use flog_core::{Level, Logger};
use flog_publisher::Publisher;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BIN: &str = env!("CARGO_BIN_EXE_flog-gatherer");
const PATIENCE: Duration = Duration::from_secs(30);

fn gatherer(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args).env_remove("FLOG_LOG");
    command
}

/// A daemon run as a child process, its standard error read line by line.
struct Daemon {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Daemon {
    fn start(basedir: &Path) -> Daemon {
        Daemon::start_logging(basedir, None)
    }

    /// With `FLOG_LOG` set to `filter`.
    fn start_logging(basedir: &Path, filter: Option<&str>) -> Daemon {
        let mut command = gatherer(&["run", basedir.to_str().unwrap(), "--json"]);
        if let Some(filter) = filter {
            command.env("FLOG_LOG", filter);
        }
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Daemon {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing every one of `parts`.
    fn wait_line(&mut self, parts: &[&str]) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if parts.iter().all(|part| line.contains(part)) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with {parts:?}; saw:\n{}", self.seen.join("\n")),
            }
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args(["-s", signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the daemon did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` until it holds, failing after the usual patience.
fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !check() {
        assert!(Instant::now() < deadline, "waited in vain for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

struct Service {
    logger: Logger,
    publisher: Publisher,
    logdir: tempfile::TempDir,
    finished: mpsc::Receiver<String>,
}

impl Service {
    async fn start() -> Service {
        let logdir = tempfile::tempdir().unwrap();
        let logger = Logger::builder()
            .trailing(false)
            .incident_rate_limit(1000, Duration::from_secs(1))
            .build()
            .unwrap();
        logger.set_logdir(logdir.path()).unwrap();
        let (tx, finished) = mpsc::channel();
        let tx = std::sync::Mutex::new(tx);
        logger.add_incident_observer(Arc::new(
            move |name: &str, _: &Path, _: &flog_core::Event| {
                let _ = tx.lock().unwrap().send(name.to_owned());
            },
        ));
        let publisher = Publisher::builder(logger.clone()).start().await.unwrap();
        Service {
            logger,
            publisher,
            logdir,
            finished,
        }
    }

    fn incident(&self, facility: &'static str, blobs: usize) -> String {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..blobs {
            let mut noise = Vec::with_capacity(32 * 1024);
            while noise.len() < 32 * 1024 {
                // xorshift: noise that does not compress.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                noise.extend_from_slice(&state.to_le_bytes());
            }
            self.logger
                .event(Level::OPERATIONAL)
                .facility("app.noise")
                .message("noise")
                .field("blob", noise)
                .emit();
        }
        self.logger
            .event(Level::WEIRD)
            .facility(facility)
            .message("something odd")
            .emit();
        self.finished.recv_timeout(PATIENCE).unwrap()
    }

    fn file(&self, name: &str) -> PathBuf {
        self.logdir.path().join(format!("{name}.flog.bz2"))
    }
}

fn create(basedir: &Path, settings: &[(&str, &str)]) {
    let output = gatherer(&["create", basedir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("created"));
    let path = basedir.join("gatherer.toml");
    let mut text = fs::read_to_string(&path).unwrap();
    for (key, value) in settings {
        let old = text
            .lines()
            .find(|line| line.starts_with(&format!("{key} =")))
            .unwrap_or_else(|| panic!("{key} is in the template"))
            .to_owned();
        text = text.replace(&old, &format!("{key} = {value}"));
    }
    fs::write(&path, text).unwrap();
}

fn add_rule(basedir: &Path, rule: &str) {
    let path = basedir.join("gatherer.toml");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, format!("{text}\n{rule}\n")).unwrap();
}

fn list(basedir: &Path, category: &str) -> Vec<String> {
    fs::read_to_string(basedir.join("classified").join(category))
        .map(|text| text.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

#[test]
fn usage_errors_exit_2() {
    for args in [&[][..], &["run"][..], &["frobnicate", "x"][..]] {
        let status = gatherer(args).output().unwrap().status;
        assert_eq!(status.code(), Some(2), "{args:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path().join("g");
    create(&basedir, &[]);
    // A second create refuses to overwrite: a runtime failure.
    let output = gatherer(&["create", basedir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("already exists"));
}

#[test]
fn config_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path().join("g");
    create(&basedir, &[("poll_interval", "\"every so often\"")]);
    let line = fs::read_to_string(basedir.join("gatherer.toml"))
        .unwrap()
        .lines()
        .position(|line| line.starts_with("poll_interval"))
        .unwrap()
        + 1;
    let output = gatherer(&["run", basedir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!("gatherer.toml:{line}:17: poll_interval: invalid duration");
    assert!(stderr.contains(&expected), "{stderr}");

    let missing = gatherer(&["run", dir.path().join("nowhere").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nowhere/gatherer.toml"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_run_reload_and_stop_cleanly() {
    let service = Service::start().await;
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path().join("g");
    create(&basedir, &[("poll_interval", "\"100ms\"")]);
    add_rule(
        &basedir,
        "[[rule]]\ncategory = \"database\"\nfacility = \"app.db\"",
    );
    fs::copy(
        service.publisher.logport_file(),
        basedir.join("publishers").join("service.url"),
    )
    .unwrap();
    let mut daemon = Daemon::start(&basedir);
    let id = service.publisher.url().publisher_id().to_owned();
    daemon.wait_line(&["connected to", &id]);
    let name = service.incident("app.db.pool", 0);
    let line = daemon.wait_line(&["fetched incident", &name]);
    assert!(
        line.contains("\"categories\":\"[\\\"database\\\"]\""),
        "{line}"
    );
    assert!(!line.contains(service.publisher.url().secret()), "{line}");
    let path = format!("incidents/{id}/{name}.flog.bz2");
    assert_eq!(list(&basedir, "database"), [path.as_str()]);

    // New rules, then SIGHUP: the lists are rebuilt, nothing is fetched.
    add_rule(&basedir, "[[rule]]\ncategory = \"odd\"\nmessage = \"odd\"");
    daemon.signal("HUP");
    daemon.wait_line(&["reclassified 1 incidents"]);
    assert_eq!(list(&basedir, "odd"), [path.as_str()]);

    // A broken config on SIGHUP is reported and the running one kept.
    let config = basedir.join("gatherer.toml");
    let good = fs::read_to_string(&config).unwrap();
    fs::write(&config, good.replace("concurrency = 16", "concurrency = 0")).unwrap();
    daemon.signal("HUP");
    daemon.wait_line(&[
        "concurrency must be from 1",
        "keeping the running configuration",
    ]);

    daemon.signal("TERM");
    let status = daemon.wait_exit();
    assert_eq!(status.code(), Some(0));
    daemon.wait_line(&["stopped"]);
    assert_eq!(list(&basedir, "all"), [path]);
    service.publisher.shutdown().await;
}

/// Forwards connections to `target`; the first one stops forwarding from
/// the target after `stall_after` bytes and holds the connection open.
async fn stalling_proxy(target: SocketAddr, stall_after: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let first = connections.fetch_add(1, Ordering::SeqCst) == 0;
            let limit = if first { stall_after } else { usize::MAX };
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(target).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let upstream = tokio::io::copy(&mut client_read, &mut server_write);
                let downstream = async {
                    let mut sent = 0;
                    let mut buf = vec![0; 8192];
                    loop {
                        let n = match server_read.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        let allowed = n.min(limit - sent);
                        if client_write.write_all(&buf[..allowed]).await.is_err() {
                            return;
                        }
                        sent += allowed;
                        if sent == limit {
                            // Stall: keep the connection, send nothing more.
                            std::future::pending::<()>().await;
                        }
                    }
                };
                tokio::select! {
                    _ = upstream => {}
                    _ = downstream => {}
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_a_fetch_loses_and_repeats_nothing() {
    let service = Service::start().await;
    let name = service.incident("app", 6);
    let size = fs::metadata(service.file(&name)).unwrap().len();
    assert!(size > 150_000, "large enough: {size}");
    let proxy = stalling_proxy(service.publisher.local_addr(), size as usize / 2).await;
    let url = service.publisher.url();
    let id = url.publisher_id().to_owned();

    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path().join("g");
    create(
        &basedir,
        &[("poll_interval", "\"100ms\""), ("min_backoff", "\"50ms\"")],
    );
    add_rule(&basedir, "chunk_size = \"16 KiB\"");
    fs::write(
        basedir.join("publishers").join("service.url"),
        format!("flog://127.0.0.1:{}/{id}/{}\n", proxy.port(), url.secret()),
    )
    .unwrap();

    let mut daemon = Daemon::start(&basedir);
    let folder = basedir.join("incidents").join(&id);
    let partial = folder.join(format!(".{name}.flog.bz2.part"));
    eventually("part of the incident to arrive", || {
        fs::metadata(&partial).is_ok_and(|m| m.len() >= 16 * 1024)
    });
    daemon.child.kill().unwrap();
    daemon.wait_exit();
    assert!(!folder.join(format!("{name}.flog.bz2")).exists());

    let mut daemon = Daemon::start(&basedir);
    daemon.wait_line(&["removed 1 unfinished files"]);
    daemon.wait_line(&["fetched incident", &name]);
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit().code(), Some(0));

    assert_eq!(
        fs::read(folder.join(format!("{name}.flog.bz2"))).unwrap(),
        fs::read(service.file(&name)).unwrap()
    );
    let mut files: Vec<String> = fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, [format!("{name}.flog.bz2"), "latest".to_string()]);
    assert_eq!(
        list(&basedir, "all"),
        [format!("incidents/{id}/{name}.flog.bz2")]
    );
    service.publisher.shutdown().await;
}

#[test]
fn a_failure_repeating_at_every_retry_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path().join("g");
    create(
        &basedir,
        &[("min_backoff", "\"10ms\""), ("max_backoff", "\"20ms\"")],
    );
    // A port that nothing listens on any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("flog://127.0.0.1:{port}/p-dead/{}\n", "0".repeat(32));
    fs::write(basedir.join("publishers").join("dead.url"), url).unwrap();
    // Debug shows every retry, so the test knows several happened.
    let mut daemon = Daemon::start_logging(&basedir, Some("debug"));
    for _ in 0..3 {
        daemon.wait_line(&["p-dead still failing"]);
    }
    let warnings: Vec<_> = daemon
        .seen
        .iter()
        .filter(|l| l.contains("\"WARN\"") && l.contains("p-dead"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit().code(), Some(0));
}

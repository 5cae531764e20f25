//! A decompression bomb among good incidents: 856 bytes of bzip2 whose header
//! holds an unknown key declaring a byte string of 1 GiB (the seed in
//! `fuzz/seeds/flogfile`, written by flog-core's `tests/bomb.rs`). The
//! gatherer daemon, a real process under an address-space limit, reports the
//! bad file once and goes on gathering from that publisher and the others;
//! restarted, it comes up again; `flog-gatherer reclassify` does not abort.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use flog_core::{Event, FlogWriter, Header, Level, Logger};
use flog_publisher::Publisher;
use flog_wire::{
    Connection, EncodedEvent, ErrorCode, ErrorMessage, IncidentInfo, LogportUrl, Message, Op,
    Reply, Request, Response, Welcome,
};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

const BIN: &str = env!("CARGO_BIN_EXE_flog-gatherer");
const PATIENCE: Duration = Duration::from_secs(30);
/// Address space for the daemon: several times what it needs (see the peak it
/// prints), well under the 1 GiB the bomb declares.
const ADDRESS_SPACE: u64 = 768 * 1024 * 1024;

fn bomb() -> Vec<u8> {
    fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/flogfile/bomb-1gib.flog.bz2"),
    )
    .unwrap()
}

/// The gatherer under the limit; one arena per thread would reserve 64 MiB of
/// address space each, so glibc is asked for two.
fn gatherer(args: &[&str]) -> Command {
    let mut command = Command::new("prlimit");
    command
        .arg(format!("--as={ADDRESS_SPACE}"))
        .arg("--")
        .arg(BIN)
        .args(args)
        .env_remove("FLOG_LOG")
        .env("MALLOC_ARENA_MAX", "2")
        .env("RUST_BACKTRACE", "0");
    command
}

struct Daemon {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Daemon {
    fn start(basedir: &Path) -> Daemon {
        let mut child = gatherer(&["run", basedir.to_str().unwrap(), "--json"])
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

    /// The peak of its address space so far, from `/proc` (prlimit execs it,
    /// so the pid is the daemon's).
    fn peak(&self) -> String {
        fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("VmPeak") || l.starts_with("VmHWM"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// SIGTERM, then the exit status: `None` when a signal ended it.
    fn stop(mut self) -> Option<i32> {
        let status = Command::new("kill")
            .args(["-s", "TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
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

/// An incident file of the fake publisher's.
fn incident_file(name: &str) -> Vec<u8> {
    let trigger = Event {
        num: 1,
        level: Level::WEIRD,
        facility: Some("fake".into()),
        ..Event::default()
    };
    let header = Header {
        kind: flog_core::HEADER_INCIDENT.into(),
        name: Some(name.into()),
        trigger: Some(trigger.clone()),
        ..Header::default()
    };
    let mut writer = FlogWriter::new(Vec::new(), &header).unwrap();
    writer.write_event(&trigger).unwrap();
    writer.into_inner().unwrap()
}

/// A publisher that serves `files` (name, bytes) honestly: right sizes, right
/// digests, whatever the bytes are.
async fn fake_publisher(id: &str, files: Vec<(String, Vec<u8>)>) -> LogportUrl {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let files = Arc::new(files);
    let publisher_id = id.to_owned();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (files, id) = (files.clone(), publisher_id.clone());
            tokio::spawn(async move {
                let _ = serve(Connection::new(stream), &id, &files).await;
            });
        }
    });
    format!("flog://127.0.0.1:{port}/{id}/{}", "0".repeat(32))
        .parse()
        .unwrap()
}

async fn serve(
    mut connection: Connection,
    id: &str,
    files: &[(String, Vec<u8>)],
) -> Result<(), flog_wire::WireError> {
    let Some(Message::Hello(_)) = connection.read_message().await? else {
        return Ok(());
    };
    let welcome = Welcome {
        version: flog_wire::PROTOCOL_VERSION,
        publisher_id: id.into(),
        pid: 1,
        versions: BTreeMap::new(),
        incarnation: "0".into(),
        server: "fake/1".into(),
        idle_timeout_ms: None,
    };
    connection.write_message(&welcome.into()).await?;
    while let Some(message) = connection.read_message().await? {
        let Message::Request(Request { id, op }) = message else {
            continue;
        };
        let reply = |reply| Message::from(Response { id, reply });
        match op {
            Op::ListIncidents(query) => {
                let incidents = files
                    .iter()
                    .filter(|(name, _)| query.since_name.as_ref().is_none_or(|s| name > s))
                    .map(|(name, bytes)| IncidentInfo {
                        name: name.clone(),
                        trigger: EncodedEvent::new(
                            Event {
                                level: Level::WEIRD,
                                ..Event::default()
                            }
                            .to_cbor(),
                        ),
                        time: 0,
                        size: bytes.len() as u64,
                        level: Level::WEIRD.number(),
                    })
                    .collect();
                let page = Reply::Incidents {
                    incidents,
                    more: false,
                };
                connection.write_message(&reply(page)).await?;
            }
            Op::GetIncident { name, offset, .. } => {
                let Some((_, bytes)) = files.iter().find(|(n, _)| *n == name) else {
                    continue;
                };
                let start = usize::try_from(offset).unwrap().min(bytes.len());
                let chunk = Reply::IncidentChunk {
                    name: name.clone(),
                    offset: start as u64,
                    data: bytes[start..].to_vec().into(),
                    total_size: bytes.len() as u64,
                };
                connection.write_message(&reply(chunk)).await?;
                let done = Reply::IncidentDone {
                    name,
                    size: bytes.len() as u64,
                    sha256: Sha256::digest(bytes).to_vec().into(),
                };
                connection.write_message(&reply(done)).await?;
            }
            Op::Ping => connection.write_message(&reply(Reply::Pong)).await?,
            _ => {
                let refusal = ErrorMessage {
                    id: Some(id),
                    code: ErrorCode::Unsupported,
                    message: "not here".into(),
                };
                connection.write_message(&refusal.into()).await?;
            }
        }
    }
    Ok(())
}

/// A real service with its publisher, holding two incidents.
async fn real_service() -> (Logger, Publisher, tempfile::TempDir, Vec<String>) {
    let logdir = tempfile::tempdir().unwrap();
    let logger = Logger::builder().trailing(false).build().unwrap();
    logger.set_logdir(logdir.path()).unwrap();
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    logger.add_incident_observer(move |incident: &flog_core::IncidentReport| {
        let name = incident.name.as_str();
        let _ = tx.lock().unwrap().send(name.to_owned());
    });
    let names = ["first", "second"]
        .iter()
        .map(|text| {
            logger.msg(Level::WEIRD, *text);
            rx.recv_timeout(PATIENCE).unwrap()
        })
        .collect();
    let publisher = Publisher::builder(logger.clone()).start().await.unwrap();
    (logger, publisher, logdir, names)
}

fn stored(basedir: &Path, id: &str, name: &str) -> PathBuf {
    basedir
        .join("incidents")
        .join(id)
        .join(format!("{name}.flog.bz2"))
}

fn list(basedir: &Path, category: &str) -> Vec<String> {
    fs::read_to_string(basedir.join("classified").join(category))
        .map(|text| text.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decompression_bomb_is_reported_and_gathering_goes_on_in_bounded_memory() {
    let bomb_name = "incident-2026-01-01T00-00-02.000000Z-0000";
    let good = [
        "incident-2026-01-01T00-00-01.000000Z-0000",
        "incident-2026-01-01T00-00-03.000000Z-0000",
    ];
    let files = vec![
        (good[0].to_owned(), incident_file(good[0])),
        (bomb_name.to_owned(), bomb()),
        (good[1].to_owned(), incident_file(good[1])),
    ];
    let bomber = fake_publisher("p-bomber", files).await;
    let (_logger, publisher, _logdir, real_names) = real_service().await;
    let real_id = publisher.url().publisher_id().to_owned();

    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path().join("g");
    let out = gatherer(&["create", basedir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let config = basedir.join("gatherer.toml");
    let text = fs::read_to_string(&config).unwrap();
    let old = text
        .lines()
        .find(|l| l.starts_with("poll_interval ="))
        .unwrap()
        .to_owned();
    fs::write(&config, text.replace(&old, "poll_interval = \"100ms\"")).unwrap();
    let publishers = basedir.join("publishers");
    fs::write(publishers.join("bomber.url"), format!("{bomber}\n")).unwrap();
    fs::write(
        publishers.join("real.url"),
        format!("{}\n", publisher.url()),
    )
    .unwrap();

    let mut daemon = Daemon::start(&basedir);
    let warning = daemon.wait_line(&["cannot read the trigger", bomb_name]);
    assert!(
        warning.contains("\"WARN\"") && warning.contains("larger than the limit"),
        "{warning}"
    );
    // The rest of that publisher, and the other one.
    daemon.wait_line(&["fetched incident", good[1]]);
    for name in &real_names {
        if !stored(&basedir, &real_id, name).exists() {
            daemon.wait_line(&["fetched incident", name]);
        }
    }
    eprintln!("daemon memory after the bomb: {}", daemon.peak());
    for name in good.iter().chain([&bomb_name]) {
        assert!(stored(&basedir, "p-bomber", name).exists(), "{name}");
    }
    // The bomb is kept as fetched, classified as unknown.
    let bomb_path = format!("incidents/p-bomber/{bomb_name}.flog.bz2");
    assert!(list(&basedir, "unknown").contains(&bomb_path));
    assert_eq!(list(&basedir, "all").len(), 5);
    assert_eq!(daemon.stop(), Some(0), "stopped cleanly, not aborted");

    // Restarted with the bomb stored: it comes up and serves again.
    let mut daemon = Daemon::start(&basedir);
    daemon.wait_line(&["connected to", "p-bomber"]);
    assert_eq!(daemon.stop(), Some(0));

    // Rebuilding the lists reads every stored trigger, the bomb's too.
    let out = gatherer(&["reclassify", basedir.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("classified 5 incidents"),
        "{out:?}"
    );
    assert!(
        stderr.contains(bomb_name) && stderr.contains("larger than the limit"),
        "{stderr}"
    );
    assert_eq!(list(&basedir, "all").len(), 5);
    assert!(list(&basedir, "unknown").contains(&bomb_path));
    publisher.shutdown().await;
}

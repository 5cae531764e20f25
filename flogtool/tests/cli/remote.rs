//! list, fetch and tail against a real publisher in this process.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use flog_core::{msg, Level, Logger};
use flog_publisher::{Publisher, PublisherConfig};

use crate::util::{
    event_lines, flogtool, incident_channel, path_str, quick_logger, run, run_in, run_on_terminal,
    DEADLINE,
};

/// A service: a logger with a logdir and its publisher on 127.0.0.1:0, served by
/// a runtime of the test's own while the test blocks on the binary.
pub(crate) struct Service {
    logdir: tempfile::TempDir,
    pub(crate) logger: Logger,
    publisher: Option<Publisher>,
    runtime: tokio::runtime::Runtime,
    incidents: mpsc::Receiver<(String, PathBuf)>,
}

impl Service {
    pub(crate) fn start() -> Service {
        Service::start_with(PublisherConfig::default())
    }

    fn start_with(config: PublisherConfig) -> Service {
        let logdir = tempfile::tempdir().unwrap();
        let logger = quick_logger(logdir.path());
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let publisher = runtime
            .block_on(Publisher::builder(logger.clone()).config(config).start())
            .unwrap();
        // Observers run in order, so by the time this one hears of an incident
        // the publisher's index holds it.
        let incidents = incident_channel(&logger);
        Service {
            logdir,
            logger,
            publisher: Some(publisher),
            runtime,
            incidents,
        }
    }

    pub(crate) fn url(&self) -> String {
        self.publisher.as_ref().unwrap().url().to_string()
    }

    /// Declares an incident and waits until it is published.
    fn incident(&self, facility: &'static str, text: &'static str) -> (String, PathBuf) {
        msg!(
            logger = self.logger,
            Level::WEIRD,
            facility = facility,
            message = text
        );
        self.incidents
            .recv_timeout(DEADLINE)
            .expect("the incident finishes")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(publisher) = self.publisher.take() {
            self.runtime.block_on(publisher.shutdown());
        }
    }
}

#[test]
fn list_shows_each_incident_and_honours_since_and_after() {
    let service = Service::start();
    let (first, _) = service.incident("app.db", "pool exhausted");
    let (second, _) = service.incident("app.web", "handler panicked");
    let url = service.url();

    let out = run(&["list", &url]);
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert!(lines[0].starts_with(&first) && lines[1].starts_with(&second));
    assert!(
        lines[0].contains(" WEIRD ") && lines[0].ends_with("app.db: pool exhausted"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].ends_with("app.web: handler panicked"),
        "{}",
        lines[1]
    );

    let since = run(&["list", &url, "--since", &first]);
    assert_eq!(since.stdout.lines().collect::<Vec<_>>(), vec![lines[1]]);
    let later = run(&["list", &url, "--after", "2999-01-01"]);
    assert_eq!((later.code, later.stdout.as_str()), (0, ""));

    let json = run(&["list", "--json", &url]);
    let objects: Vec<serde_json::Value> = json
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects[0]["name"], first.as_str());
    assert_eq!(objects[1]["trigger"]["message"], "handler panicked");
}

#[test]
fn a_logport_may_be_named_by_its_logdir_or_its_logport_file() {
    let service = Service::start();
    let (name, _) = service.incident("app.db", "pool exhausted");
    let logport_file = service
        .publisher
        .as_ref()
        .unwrap()
        .logport_file()
        .to_owned();
    for target in [service.logdir.path(), logport_file.as_path()] {
        let out = run(&["list", path_str(target)]);
        assert_eq!(out.code, 0, "{target:?}: {out:?}");
        assert!(out.stdout.starts_with(&name), "{}", out.stdout);
    }
    let nowhere = run(&["list", "/no/such/logdir"]);
    assert_eq!(nowhere.code, 1);
    assert!(
        nowhere.stderr.contains("neither a flogs:// URL"),
        "{}",
        nowhere.stderr
    );
}

/// A man in the middle: terminates TLS with a key of its own at a port of
/// its own, and counts the bytes it got out of its victims once inside.
fn man_in_the_middle(service: &Service) -> (String, Arc<AtomicUsize>) {
    use flog_wire::{Acceptor, LogportUrl, ServerTls, TlsKey};
    use tokio::io::AsyncReadExt;

    let url = service.publisher.as_ref().unwrap().url().clone();
    let acceptor = Acceptor::tls(ServerTls::new(&TlsKey::generate().unwrap()).unwrap());
    let listener = service
        .runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let loot = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&loot);
    service.runtime.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, seen) = (acceptor.clone(), Arc::clone(&seen));
            tokio::spawn(async move {
                if let Ok(mut stream) = acceptor.accept(tcp).await {
                    let mut buf = vec![0u8; 4096];
                    while let Ok(n @ 1..) = stream.read(&mut buf).await {
                        seen.fetch_add(n, Ordering::SeqCst);
                    }
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
    (through.to_string(), loot)
}

#[test]
fn a_man_in_the_middle_is_refused_and_nothing_is_fetched() {
    let service = Service::start();
    let (name, _) = service.incident("app.db", "pool exhausted");
    let (through, loot) = man_in_the_middle(&service);
    let cwd = tempfile::tempdir().unwrap();
    for args in [vec!["list", &through], vec!["fetch", &through, &name]] {
        let out = run_in(Some(cwd.path()), &args);
        assert_eq!(out.code, 1, "{out:?}");
        assert!(
            out.stderr
                .contains("publisher key does not match the URL: expected"),
            "{}",
            out.stderr
        );
        assert!(!out
            .stderr
            .contains(service.publisher.as_ref().unwrap().url().secret()));
    }
    assert_eq!(
        std::fs::read_dir(cwd.path()).unwrap().count(),
        0,
        "nothing stored"
    );
    assert_eq!(loot.load(Ordering::SeqCst), 0, "no hello reached the proxy");
}

#[test]
fn a_wrong_secret_is_unauthorized_and_never_printed() {
    let service = Service::start();
    let url = service.url();
    let (base, _secret) = url.rsplit_once('/').unwrap();
    let wrong = format!("{base}/not-the-secret");
    let out = run(&["list", &wrong]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("unauthorized"), "{}", out.stderr);
    assert!(!out.stderr.contains("not-the-secret"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

#[test]
fn fetch_writes_the_publishers_file_byte_for_byte() {
    let service = Service::start();
    let (name, path) = service.incident("app.db", "pool exhausted");
    let cwd = tempfile::tempdir().unwrap();

    let out = run_in(Some(cwd.path()), &["fetch", &service.url(), &name]);
    assert_eq!(out.code, 0, "{out:?}");
    let fetched = cwd.path().join(format!("{name}.flog.bz2"));
    assert_eq!(
        std::fs::read(&fetched).unwrap(),
        std::fs::read(&path).unwrap()
    );
    assert!(out.stdout.contains("verified"), "{}", out.stdout);

    let chosen = cwd.path().join("mine.flog.bz2");
    let out = run(&[
        "fetch",
        path_str(service.logdir.path()),
        &name,
        "-o",
        path_str(&chosen),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        std::fs::read(&chosen).unwrap(),
        std::fs::read(&path).unwrap()
    );
    let dumped = run(&["dump", path_str(&chosen)]);
    assert!(
        dumped.stdout.contains("pool exhausted [TRIGGER]"),
        "{}",
        dumped.stdout
    );

    let names: Vec<_> = std::fs::read_dir(cwd.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "no temporary files left: {names:?}");
}

#[test]
fn fetch_reports_unknown_incidents_and_refuses_hostile_names() {
    let service = Service::start();
    let cwd = tempfile::tempdir().unwrap();
    let out = run_in(
        Some(cwd.path()),
        &[
            "fetch",
            &service.url(),
            "incident-2000-01-01T00-00-00.000000Z-0000",
        ],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("unknown_incident"), "{}", out.stderr);
    assert_eq!(
        std::fs::read_dir(cwd.path()).unwrap().count(),
        0,
        "nothing written"
    );

    for hostile in ["../../etc/passwd", "/tmp/x", "incident-../../x"] {
        let out = run_in(Some(cwd.path()), &["fetch", &service.url(), hostile]);
        assert_eq!(out.code, 2, "{hostile}: {out:?}");
    }
}

/// A running `flogtool tail`, its output lines arriving on channels.
pub(crate) struct Tail {
    child: Child,
    pub(crate) stdout: mpsc::Receiver<String>,
    pub(crate) stderr: mpsc::Receiver<String>,
}

impl Tail {
    pub(crate) fn start(args: &[&str]) -> Tail {
        let mut child = flogtool()
            .arg("tail")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = lines_of(child.stdout.take().unwrap());
        let stderr = lines_of(child.stderr.take().unwrap());
        let mut tail = Tail {
            child,
            stdout,
            stderr,
        };
        tail.wait_for(|t| &t.stderr, "tailing");
        tail
    }

    pub(crate) fn wait_for(
        &mut self,
        which: impl Fn(&Tail) -> &mpsc::Receiver<String>,
        text: &str,
    ) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match which(self).recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(e) => {
                    let _ = self.child.kill();
                    panic!("no line with {text:?}: {e}");
                }
            }
        }
    }

    /// Sends SIGINT, as Ctrl-C does, and waits for the exit code.
    pub(crate) fn interrupt(self) -> (i32, Vec<String>) {
        self.signal("INT")
    }

    /// Sends the signal `name` and waits for the exit code.
    fn signal(mut self, name: &str) -> (i32, Vec<String>) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .unwrap();
        assert!(status.success());
        let status = self.child.wait().unwrap();
        let rest: Vec<String> = self.stderr.iter().collect();
        (status.code().expect("exited by itself, not killed"), rest)
    }
}

fn lines_of(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn tail_prints_live_events_and_sigint_leaves_a_valid_saved_file() {
    let service = Service::start();
    msg!(
        logger = service.logger,
        Level::OPERATIONAL,
        facility = "app",
        "before the tail"
    );
    let saved_dir = tempfile::tempdir().unwrap();
    let saved = saved_dir.path().join("tail.flog");
    let mut tail = Tail::start(&["--catch-up", "--save-to", path_str(&saved), &service.url()]);

    tail.wait_for(|t| &t.stdout, "before the tail");
    for i in 0..3 {
        msg!(
            logger = service.logger,
            Level::UNUSUAL,
            facility = "app.jobs",
            "live event {i}",
            i = i
        );
    }
    let last = tail.wait_for(|t| &t.stdout, "live event 2");
    assert!(
        last.contains(" UNUSUAL ") && last.contains("app.jobs: live event 2"),
        "{last}"
    );

    let (code, stderr) = tail.interrupt();
    assert_eq!(code, 0, "{stderr:?}");
    assert!(
        stderr
            .iter()
            .any(|l| l.contains("saved") && l.contains("tail.flog")),
        "{stderr:?}"
    );

    let dumped = run(&["dump", "--json", path_str(&saved)]);
    assert_eq!(dumped.code, 0, "{dumped:?}");
    assert!(
        dumped.stderr.is_empty(),
        "complete, not truncated: {}",
        dumped.stderr
    );
    let objects: Vec<serde_json::Value> = dumped
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects[0]["record"], "header");
    assert_eq!(objects[0]["type"], "tail");
    assert_eq!(objects[0]["pid"], std::process::id());
    let messages: Vec<&str> = objects[1..]
        .iter()
        .map(|o| o["message"].as_str().unwrap())
        .collect();
    assert!(messages.contains(&"before the tail"), "{messages:?}");
    let live: Vec<&&str> = messages
        .iter()
        .filter(|m| m.starts_with("live event"))
        .collect();
    assert_eq!(live, [&"live event 0", &"live event 1", &"live event 2"]);
}

#[test]
fn tail_filters_and_refuses_to_overwrite() {
    let service = Service::start();
    let mut tail = Tail::start(&["--min-level", "CURIOUS", &service.url()]);
    msg!(
        logger = service.logger,
        Level::OPERATIONAL,
        facility = "app",
        "quiet"
    );
    msg!(
        logger = service.logger,
        Level::CURIOUS,
        facility = "app",
        "loud"
    );
    let line = tail.wait_for(|t| &t.stdout, "loud");
    assert!(!line.contains("quiet"));
    assert!(tail.stdout.try_iter().all(|l| !l.contains("quiet")));
    let (code, _) = tail.interrupt();
    assert_eq!(code, 0);

    let dir = tempfile::tempdir().unwrap();
    let existing = dir.path().join("old.flog");
    std::fs::write(&existing, "keep me").unwrap();
    let out = run(&["tail", "--save-to", path_str(&existing), &service.url()]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep me");
    // A compressed save is refused too when its file exists, before anything
    // is written (it was a usage error before --save-to could compress).
    let existing = dir.path().join("old.flog.bz2");
    std::fs::write(&existing, "keep me too").unwrap();
    let out = run(&["tail", "-s", path_str(&existing), &service.url()]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("never replaces"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep me too");
    let plain = dir.path().join("old.flog");
    assert_eq!(std::fs::read_to_string(plain).unwrap(), "keep me");
}

#[test]
fn tail_reports_where_events_were_dropped() {
    // A publisher queue of two events per subscriber cannot keep up with a flood.
    let service = Service::start_with(PublisherConfig {
        event_queue: 2,
        ..PublisherConfig::default()
    });
    let tail = Tail::start(&[&service.url()]);
    for i in 0..20_000 {
        msg!(
            logger = service.logger,
            Level::NOISY,
            facility = "app.flood",
            "flood {i}",
            i = i
        );
    }
    // Keep logging until a gap is reported, remembering the flood event
    // printed before it.
    let flood_number = |line: &str| {
        let at = line.find("flood ")? + "flood ".len();
        let digits: String = line[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse::<i64>().ok()
    };
    let deadline = Instant::now() + DEADLINE;
    let mut before: i64 = -1;
    let gap = loop {
        assert!(Instant::now() < deadline, "no gap reported");
        msg!(
            logger = service.logger,
            Level::OPERATIONAL,
            facility = "app",
            "after the flood"
        );
        match tail
            .stdout
            .recv_timeout(std::time::Duration::from_millis(100))
        {
            Ok(line) if line.contains("events dropped here") => break line,
            Ok(line) => before = flood_number(&line).unwrap_or(before),
            _ => {}
        }
    };
    let count: i64 = gap.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(count > 0, "{gap}");
    // The gap line sits where the events are missing: between flood N and
    // flood M exactly M - N - 1 were lost.
    // A gap may be reported before any event follows it: log one more.
    msg!(
        logger = service.logger,
        Level::OPERATIONAL,
        facility = "app",
        "after the gap"
    );
    let after = tail.stdout.recv_timeout(DEADLINE).unwrap();
    match flood_number(&after) {
        Some(next) => assert_eq!(next - before - 1, count, "{before} / {gap} / {after}"),
        None => assert!(count >= 20_000 - before - 1, "{before} / {gap} / {after}"),
    }
    let (code, _) = tail.interrupt();
    assert_eq!(code, 0);
}

#[test]
fn tail_starts_with_the_publishers_pid_and_versions() {
    let service = Service::start();
    let mut tail = Tail::start(&["-c", &service.url()]);
    let line = tail.wait_for(|t| &t.stdout, "== tail");
    for part in [
        format!("| pid {}", std::process::id()),
        "| incarnation ".to_owned(),
        "test-service 1.2.3".to_owned(),
    ] {
        assert!(line.contains(&part), "{part} in {line}");
    }
    assert!(!line.contains("suppressed"), "an incident's count: {line}");
    let (code, _) = tail.interrupt();
    assert_eq!(code, 0);

    let mut tail = Tail::start(&["--json", &service.url()]);
    let line = tail.wait_for(|t| &t.stdout, "header");
    let header: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(header["record"], "header");
    assert_eq!(header["type"], "tail");
    assert_eq!(header["pid"], std::process::id());
    assert_eq!(header["versions"]["test-service"], "1.2.3");
    let (code, _) = tail.interrupt();
    assert_eq!(code, 0);
}

#[test]
fn tail_saves_bz2_readable_while_it_runs_compressed_when_it_ends() {
    for signal in ["INT", "TERM"] {
        let service = Service::start();
        let dir = tempfile::tempdir().unwrap();
        let saved = dir.path().join("tail.flog.bz2");
        let plain = dir.path().join("tail.flog");
        let mut tail = Tail::start(&["-s", path_str(&saved), &service.url()]);
        for i in 0..3 {
            msg!(
                logger = service.logger,
                Level::UNUSUAL,
                facility = "app.jobs",
                "saved event {i}",
                i = i
            );
        }
        tail.wait_for(|t| &t.stdout, "saved event 2");
        // While it runs: the plain file, flushed as events arrive, reads.
        let deadline = Instant::now() + DEADLINE;
        loop {
            let dumped = run(&["dump", path_str(&plain)]);
            if dumped.stdout.contains("saved event 2") {
                break;
            }
            assert!(Instant::now() < deadline, "never readable: {dumped:?}");
        }
        assert!(!saved.exists(), "compressed only at the end");

        let (code, stderr) = tail.signal(signal);
        assert_eq!(code, 0, "SIG{signal}: {stderr:?}");
        assert!(
            stderr
                .iter()
                .any(|l| l.contains("saved 3 events to") && l.contains("tail.flog.bz2")),
            "{stderr:?}"
        );
        assert!(!plain.exists(), "SIG{signal}: the plain file is gone");
        assert!(std::fs::read(&saved).unwrap().starts_with(b"BZh"));
        let dumped = run(&["dump", path_str(&saved)]);
        assert_eq!(dumped.code, 0, "{dumped:?}");
        assert!(dumped.stderr.is_empty(), "complete: {}", dumped.stderr);
        assert!(dumped.stdout.starts_with("== tail"), "{}", dumped.stdout);
        assert_eq!(event_lines(&dumped.stdout).len(), 3, "{}", dumped.stdout);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary files left: {names:?}");
    }
}

#[test]
fn fetch_shows_progress_on_a_terminal_and_nothing_on_a_pipe() {
    let service = Service::start();
    let (name, path) = service.incident("app.db", "pool exhausted");
    let cwd = tempfile::tempdir().unwrap();
    let out = run_on_terminal(
        Some(cwd.path()),
        &["fetch", &service.url(), &name, "-o", "tty.flog.bz2"],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.terminal.contains(&format!("fetch {name}")),
        "a bar on the terminal: {:?}",
        out.terminal
    );
    assert!(out.stdout.contains("verified"), "{}", out.stdout);
    let fetched = std::fs::read(cwd.path().join("tty.flog.bz2")).unwrap();
    assert_eq!(fetched, std::fs::read(&path).unwrap());

    let piped = run_in(
        Some(cwd.path()),
        &["fetch", &service.url(), &name, "-o", "pipe.flog.bz2"],
    );
    assert_eq!(piped.code, 0, "{piped:?}");
    assert_eq!(piped.stderr, "", "nothing but the output on a pipe");
}

#[test]
fn snapshot_declares_an_incident_that_list_then_shows() {
    let service = Service::start();
    let url = service.url();
    let out = run(&["snapshot", &url, "--reason", "queue depth looks wrong"]);
    assert_eq!(out.code, 0, "{out:?}");
    let name = out
        .stdout
        .trim()
        .strip_prefix("declared ")
        .unwrap_or_else(|| panic!("{out:?}"))
        .to_owned();
    let (recorded, _) = service.incidents.recv_timeout(DEADLINE).unwrap();
    assert_eq!(recorded, name);
    let listed = run(&["list", path_str(service.logdir.path())]);
    assert_eq!(listed.code, 0, "{listed:?}");
    let line = listed.stdout.lines().find(|l| l.starts_with(&name));
    let line = line.unwrap_or_else(|| panic!("{}", listed.stdout));
    assert!(line.contains("queue depth looks wrong"), "{line}");

    let long = "x".repeat(5000);
    let refused = run(&["snapshot", &url, "--reason", &long]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("too_large"), "{}", refused.stderr);
    assert!(refused.stderr.contains("4096"), "{}", refused.stderr);
}

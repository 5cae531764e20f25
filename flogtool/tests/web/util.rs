//! Running `flogtool web` and making the files it shows: real incidents
//! written by a real Logger.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use flog_core::{
    flogfile::{FlogContents, FlogWriter, Header},
    msg, Event, Level, Logger, ManualClock, Text, Timestamp,
};
use tracing_subscriber::layer::SubscriberExt as _;

/// Generous: the machine is shared with other builds.
pub(crate) const DEADLINE: Duration = Duration::from_secs(60);

/// 2026-03-04T05:06:07.123456Z, where the sample incident starts.
pub(crate) const START_US: i64 = 1_772_600_767_123_456;

/// A `flogtool web` child process, stopped with SIGTERM when dropped.
pub(crate) struct WebServer {
    child: Child,
    /// `http://127.0.0.1:PORT/`.
    pub(crate) url: String,
}

impl WebServer {
    /// Starts `flogtool web FILES... ARGS...` and reads the URL it prints.
    pub(crate) fn start(files: &[&Path], args: &[&str]) -> WebServer {
        WebServer::start_with_env(files, args, &[])
    }

    /// [`start`](WebServer::start) with more in its environment.
    pub(crate) fn start_with_env(
        files: &[&Path],
        args: &[&str],
        env: &[(&str, &str)],
    ) -> WebServer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_flogtool"))
            .arg("web")
            .args(files)
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("BROWSER")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("flogtool starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(DEADLINE)
            .expect("flogtool web prints its URL");
        let url = line.trim().to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "printed {url:?}");
        WebServer { child, url }
    }

    /// The URL of `path` (no leading slash) on this server.
    pub(crate) fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// SIGTERM, then the exit code and stderr.
    pub(crate) fn stop(mut self) -> (i32, String) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let mut stderr = String::new();
        std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        let status = self.child.wait().unwrap();
        (status.code().expect("exited, not killed"), stderr)
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Calls back with every finished incident's file.
pub(crate) fn incident_channel(logger: &Logger) -> mpsc::Receiver<PathBuf> {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    logger.add_incident_observer(move |incident: &flog_core::IncidentReport| {
        let path = incident.path.as_path();
        let _ = tx.lock().map(|tx| tx.send(path.to_owned()));
    });
    rx
}

/// A real incident of a small service, logged through `tracing` with
/// `flog-tracing` spans (so parents are real span events) and through `msg!`:
///
/// ```text
/// #0 service starting                      app
/// #1 request{id=7}                         app.http     (span)
///    #2 query{table="users"}               app.db       (span)
///       #3 pool exhausted WEIRD            app.db.pool  TRIGGER
///       #4 retrying on the replica         app.db       (trailing)
///    #5 cache miss                         app.cache    (trailing)
/// ```
///
/// With a clock of our own: #4 is stamped *before* #3 (the clock stepped back),
/// so time order and number order differ.
pub(crate) fn request_incident(logdir: &Path) -> PathBuf {
    let clock = Arc::new(ManualClock::new(Timestamp(START_US)));
    let logger = Logger::builder()
        .clock(clock.clone())
        .trailing_event_limit(2)
        .trailing_delay(Duration::from_secs(3600))
        .build()
        .unwrap();
    logger.set_version("shop", "2.4.1");
    logger.set_logdir(logdir).unwrap();
    let incidents = incident_channel(&logger);
    let tick = |ms: u64| clock.advance(Duration::from_millis(ms));
    msg!(
        logger = logger,
        Level::OPERATIONAL,
        facility = "app",
        "service starting"
    );
    let subscriber =
        tracing_subscriber::registry().with(flog_tracing::FlogLayer::new(logger.clone()));
    tracing::subscriber::with_default(subscriber, || {
        tick(5);
        let request = tracing::info_span!(target: "app::http", "request", id = 7);
        let _request = request.enter();
        tick(3);
        let query = tracing::info_span!(target: "app::db", "query", table = "users");
        let _query = query.enter();
        tick(250);
        tracing::warn!(target: "app::db::pool", waited_ms = 250, "pool exhausted");
        clock.set(Timestamp(START_US + 1_000));
        tracing::info!(target: "app::db", replica = "db2", "retrying on the replica");
        drop(_query);
        clock.set(Timestamp(START_US + 300_000));
        tracing::debug!(target: "app::cache", key = "user:7", "cache miss");
    });
    incidents
        .recv_timeout(DEADLINE)
        .expect("the incident finishes")
}

/// A real incident whose every name and value is markup: facility, message,
/// field names and values, failure, versions, the file name.
pub(crate) fn hostile_incident(dir: &Path) -> PathBuf {
    let logdir = dir.join("logs");
    let logger = Logger::builder().trailing(false).build().unwrap();
    logger.set_version("<script>window.__pwned = 'version'</script>", "<b>1</b>");
    logger.set_logdir(&logdir).unwrap();
    let incidents = incident_channel(&logger);
    let parent = logger
        .event(Level::OPERATIONAL)
        .facility("<script>window.__pwned = 'facility'</script>")
        .message("<img src=x onerror=\"window.__pwned = 'message'\">")
        .field(
            "<script>window.__pwned = 'field name'</script>",
            "<img src=x onerror=\"window.__pwned = 'field value'\">",
        )
        .emit();
    logger
        .event(Level::WEIRD)
        .facility("app.<i>x</i>")
        .message("</pre><script>window.__pwned = 'failure'</script>")
        .failure("</pre><script>window.__pwned = 'failure text'</script>")
        .parent(parent)
        .emit();
    let report = incidents
        .recv_timeout(DEADLINE)
        .expect("the incident finishes");
    // No '/' in a file name, so no closing tag: an element with a handler.
    let hostile = dir.join("<img src=x onerror=window.__pwned='label'>.flog.bz2");
    std::fs::copy(&report, &hostile).unwrap();
    hostile
}

/// A file of `n` events, written with flog's own writer: requests of ten
/// events each (a root, three children, six grandchildren), levels cycling,
/// a few fields, a trigger near the end. A header makes it an incident, so it
/// opens nested.
pub(crate) fn big_file(path: &Path, n: u64) {
    let levels = [
        Level::NOISY,
        Level::OPERATIONAL,
        Level::OPERATIONAL,
        Level::UNUSUAL,
        Level::OPERATIONAL,
        Level::CURIOUS,
    ];
    let trigger_num = n - 5;
    let event = |num: u64| {
        let in_request = num % 10;
        let parent = match in_request {
            0 => None,
            1..=3 => Some(num - in_request),
            k => Some(num - in_request + 1 + (k - 4) / 2),
        };
        let level = if num == trigger_num {
            Level::WEIRD
        } else {
            levels[(num % levels.len() as u64) as usize]
        };
        Event {
            num,
            time: Timestamp(START_US + num as i64 * 1_000),
            level,
            facility: Some(
                ["app.http", "app.db", "app.db.pool", "app.cache"][(num % 4) as usize].into(),
            ),
            text: Text::Format("step {step} of request {request}".into()),
            fields: [
                ("step".into(), in_request.into()),
                ("request".into(), (num / 10).into()),
            ]
            .into_iter()
            .collect(),
            parent,
            ..Event::default()
        }
    };
    let header = Header {
        kind: flog_core::flogfile::HeaderKind::Incident.into(),
        name: Some("incident-big".into()),
        trigger: Some(event(trigger_num)),
        ..Header::default()
    };
    let file = std::fs::File::create(path).unwrap();
    let mut writer = FlogWriter::new(std::io::BufWriter::new(file), &header).unwrap();
    for num in 0..n {
        writer.write_event(&event(num)).unwrap();
    }
    writer.flush().unwrap();
}

/// Reads a flogfile (the truth the pages are checked against).
pub(crate) fn read(path: &Path) -> FlogContents {
    flog_core::flogfile::read_flogfile(path).unwrap()
}

/// Polls `f` until it gives `Some`, failing after [`DEADLINE`].
pub(crate) fn poll<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = f() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The JSON body of `url`, which must answer 200.
pub(crate) fn get_json(url: &str) -> serde_json::Value {
    let response = test_browser::http::get(url).unwrap();
    assert_eq!(response.status, 200, "{url}: {}", response.text());
    serde_json::from_slice(&response.body).unwrap()
}

//! What the daemon tests share: the daemon as a child process, real
//! services with publishers, fake publishers, and readings from `/proc`.

// Each test module uses part of this.
#![allow(dead_code)]

pub(crate) mod fake;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use flog_core::{Level, Logger};
use flog_publisher::Publisher;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_flog-gatherer");
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

pub(crate) fn gatherer(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args).env_remove("FLOG_LOG");
    command
}

/// [`gatherer`] under an address-space limit of `bytes` (prlimit execs it,
/// so the child's pid is the daemon's); one arena per thread would reserve
/// 64 MiB of address space each, so glibc is asked for two.
pub(crate) fn gatherer_limited(args: &[&str], bytes: u64) -> Command {
    let mut command = Command::new("prlimit");
    command
        .arg(format!("--as={bytes}"))
        .arg("--")
        .arg(BIN)
        .args(args)
        .env_remove("FLOG_LOG")
        .env("MALLOC_ARENA_MAX", "2")
        .env("RUST_BACKTRACE", "0");
    command
}

/// A daemon run as a child process, its standard error read line by line.
pub(crate) struct Daemon {
    pub(crate) child: Child,
    lines: mpsc::Receiver<String>,
    /// Every line read so far.
    pub(crate) seen: Vec<String>,
}

impl Daemon {
    pub(crate) fn start(basedir: &Path) -> Daemon {
        Daemon::start_logging(basedir, None)
    }

    /// With `FLOG_LOG` set to `filter`.
    pub(crate) fn start_logging(basedir: &Path, filter: Option<&str>) -> Daemon {
        let mut command = gatherer(&["run", basedir.to_str().unwrap(), "--json"]);
        if let Some(filter) = filter {
            command.env("FLOG_LOG", filter);
        }
        Daemon::spawn(command)
    }

    /// With these environment variables set.
    pub(crate) fn start_with_env(basedir: &Path, env: &[(&str, &str)]) -> Daemon {
        let mut command = gatherer(&["run", basedir.to_str().unwrap(), "--json"]);
        command.envs(env.iter().copied());
        Daemon::spawn(command)
    }

    /// `run BASEDIR --json` under an address-space limit of `bytes`.
    pub(crate) fn start_limited(basedir: &Path, bytes: u64) -> Daemon {
        Daemon::spawn(gatherer_limited(
            &["run", basedir.to_str().unwrap(), "--json"],
            bytes,
        ))
    }

    fn spawn(mut command: Command) -> Daemon {
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

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The peaks of its address space and resident memory so far, from
    /// `/proc`, for a person reading the test's output.
    pub(crate) fn peak(&self) -> String {
        fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("VmPeak") || l.starts_with("VmHWM"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Waits for a line containing every one of `parts`.
    pub(crate) fn wait_line(&mut self, parts: &[&str]) -> String {
        self.wait_line_until(parts, Instant::now() + PATIENCE)
            .unwrap_or_else(|| panic!("no line with {parts:?}; saw:\n{}", self.seen.join("\n")))
    }

    /// Waits until `deadline` for a line containing every one of `parts`.
    pub(crate) fn wait_line_until(&mut self, parts: &[&str], deadline: Instant) -> Option<String> {
        if let Some(line) = self
            .seen
            .iter()
            .find(|line| parts.iter().all(|part| line.contains(part)))
        {
            return Some(line.clone());
        }
        loop {
            // Checked before each line: a daemon that floods its log must
            // not keep this waiting past the deadline.
            let left = deadline.checked_duration_since(Instant::now())?;
            let line = self.lines.recv_timeout(left).ok()?;
            self.seen.push(line.clone());
            if parts.iter().all(|part| line.contains(part)) {
                return Some(line);
            }
        }
    }

    /// Takes in every line written so far, without waiting.
    pub(crate) fn read_available(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
    }

    /// After the daemon exited: every line it wrote.
    pub(crate) fn read_to_end(&mut self) {
        while let Ok(line) = self.lines.recv_timeout(PATIENCE) {
            self.seen.push(line);
        }
    }

    pub(crate) fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args(["-s", signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub(crate) fn wait_exit(&mut self) -> ExitStatus {
        self.wait_exit_until(Instant::now() + PATIENCE)
            .expect("the daemon did not exit")
    }

    /// The exit status, if the daemon exits before `deadline`.
    pub(crate) fn wait_exit_until(&mut self, deadline: Instant) -> Option<ExitStatus> {
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, then the exit status and every line written.
    pub(crate) fn stop(&mut self) -> ExitStatus {
        self.signal("TERM");
        let status = self.wait_exit();
        self.read_to_end();
        status
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` until it holds, failing after the usual patience.
pub(crate) fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !check() {
        assert!(Instant::now() < deadline, "waited in vain for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A service recording incidents, with its publisher.
pub(crate) struct Service {
    pub(crate) logger: Logger,
    pub(crate) publisher: Publisher,
    pub(crate) logdir: tempfile::TempDir,
    finished: mpsc::Receiver<String>,
}

impl Service {
    pub(crate) async fn start() -> Service {
        let logdir = tempfile::tempdir().unwrap();
        let logger = Logger::builder()
            .trailing(false)
            .incident_rate_limit(1000, Duration::from_secs(1))
            .build()
            .unwrap();
        logger.set_logdir(logdir.path()).unwrap();
        let (tx, finished) = mpsc::channel();
        let tx = std::sync::Mutex::new(tx);
        logger.add_incident_observer(move |incident: &flog_core::IncidentReport| {
            let name = incident.name.as_str();
            let _ = tx.lock().unwrap().send(name.to_owned());
        });
        let publisher = Publisher::builder(logger.clone()).start().await.unwrap();
        Service {
            logger,
            publisher,
            logdir,
            finished,
        }
    }

    pub(crate) fn id(&self) -> String {
        self.publisher.url().publisher_id().to_owned()
    }

    /// Declares an incident in `facility`, after `blobs` events of 32 kB
    /// of noise, and returns its name once it is finished.
    pub(crate) fn incident(&self, facility: &'static str, blobs: usize) -> String {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        // 32 KiB of noise per blob, in values of flog_core::flogfile::MAX_VALUE_BYTES:
        // the buffers cut longer ones.
        for _ in 0..blobs * 8 {
            let mut noise = Vec::with_capacity(4 * 1024);
            while noise.len() < 4 * 1024 {
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

    /// The publisher's file of incident `name`.
    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.logdir.path().join(format!("{name}.flog.bz2"))
    }
}

/// `flog-gatherer create BASEDIR`, then `settings` replace the template's
/// lines of those keys.
pub(crate) fn create(basedir: &Path, settings: &[(&str, &str)]) {
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

/// Appends `rule` (any TOML) to the config file.
pub(crate) fn add_rule(basedir: &Path, rule: &str) {
    let path = basedir.join("gatherer.toml");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, format!("{text}\n{rule}\n")).unwrap();
}

/// Points the daemon at a publisher by a file in its publishers folder.
pub(crate) fn add_publisher(basedir: &Path, file: &str, url: &str) {
    fs::write(basedir.join("publishers").join(file), format!("{url}\n")).unwrap();
}

/// The lines of a classification list.
pub(crate) fn list(basedir: &Path, category: &str) -> Vec<String> {
    fs::read_to_string(basedir.join("classified").join(category))
        .map(|text| text.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The files in a publisher's folder of the gatherer, sorted.
pub(crate) fn stored_files(basedir: &Path, id: &str) -> Vec<String> {
    let mut files: Vec<String> = fs::read_dir(basedir.join("incidents").join(id))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    files
}

/// The temporary files of fetches of `name` in `folder`.
pub(crate) fn partial_files(folder: &Path, name: &str) -> Vec<PathBuf> {
    let prefix = format!(".{name}.flog.bz2.");
    let Ok(entries) = fs::read_dir(folder) else {
        return Vec::new();
    };
    entries
        .map(|e| e.unwrap())
        .filter(|e| {
            let file = e.file_name().into_string().unwrap();
            file.starts_with(&prefix) && file.ends_with(".part")
        })
        .map(|e| e.path())
        .collect()
}

/// User plus system CPU time of a process, from /proc.
pub(crate) fn cpu_time(pid: u32) -> Duration {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let per_second: u64 = String::from_utf8(
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .parse()
    .unwrap();
    Duration::from_secs_f64(ticks as f64 / per_second as f64)
}

/// `VmRSS` and `VmHWM` (peak) of a process, in KiB.
pub(crate) fn memory(pid: u32) -> (u64, u64) {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

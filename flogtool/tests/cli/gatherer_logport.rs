//! `flogtool tail` on a gatherer's own logport: two real publishers, a real
//! gatherer gathering their events and serving them over TLS with its
//! pinned key, the real binary tailing it.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use flog_core::flogfile::{FlogReader, Record};
use flog_core::{msg, Level};
use flog_gatherer::{Config, Gatherer, EVENTS_DIR, GATHERER_LOGPORT_FILE};
use tokio_util::sync::CancellationToken;

use crate::remote::{Service, Tail};
use crate::util::{path_str, run, DEADLINE};

/// A gatherer of `services`' events with its logport, on a runtime of its own.
struct RunningGatherer {
    basedir: tempfile::TempDir,
    shutdown: CancellationToken,
    runtime: tokio::runtime::Runtime,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningGatherer {
    fn start(services: &[&Service]) -> RunningGatherer {
        let basedir = tempfile::tempdir().unwrap();
        let toml = "[events]\n[logport]\nlisten = \"127.0.0.1:0\"\n";
        let mut config = Config::from_toml(toml, "gatherer.toml").unwrap();
        for s in services {
            config.publishers.push(s.url().parse().unwrap());
        }
        let gatherer = Gatherer::new(basedir.path(), config).unwrap();
        let shutdown = CancellationToken::new();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let stop = shutdown.clone();
        let task = runtime.spawn(async move { gatherer.run(stop).await.unwrap() });
        let file = basedir.path().join(GATHERER_LOGPORT_FILE);
        poll("the logport file", || file.exists().then_some(()));
        RunningGatherer {
            basedir,
            shutdown,
            runtime,
            task: Some(task),
        }
    }

    fn url(&self) -> String {
        let file = self.basedir.path().join(GATHERER_LOGPORT_FILE);
        std::fs::read_to_string(file).unwrap().trim().to_owned()
    }

    /// (from, num, message) of every event in the current events file.
    fn stored(&self) -> Vec<(String, u64, String)> {
        let dir = self.basedir.path().join(EVENTS_DIR);
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let current = entries.flatten().find(|e| {
            e.file_name()
                .to_string_lossy()
                .ends_with("---to-present.flog")
        });
        current.map_or_else(Vec::new, |e| received(&e.path()))
    }
}

impl Drop for RunningGatherer {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let _ = self.runtime.block_on(task);
        }
    }
}

/// (from, num, message) of the events with a receipt in a flogfile.
fn received(path: &Path) -> Vec<(String, u64, String)> {
    let Ok(reader) = FlogReader::open(path) else {
        return Vec::new();
    };
    reader
        .map_while(Result::ok)
        .filter_map(|r| match r {
            Record::Received(r) => {
                Some((r.receipt.from, r.event.num, r.event.render().into_owned()))
            }
            _ => None,
        })
        .collect()
}

fn poll<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn id_of(service: &Service) -> String {
    let url = service.url();
    let path = url.split_once("://").unwrap().1;
    path.split('/').nth(1).unwrap().to_owned()
}

#[test]
fn tail_on_a_gatherer_shows_the_fleet_with_origins_caught_up_then_live_each_once() {
    let (a, b) = (Service::start(), Service::start());
    let gatherer = RunningGatherer::start(&[&a, &b]);
    let (id_a, id_b) = (id_of(&a), id_of(&b));
    const EACH: usize = 30;
    for n in 0..EACH {
        msg!(logger = a.logger, Level::OPERATIONAL, "before a {n}", n);
        msg!(logger = b.logger, Level::OPERATIONAL, "before b {n}", n);
    }
    poll("the events before the tail", || {
        let stored = gatherer.stored();
        let before = stored.iter().filter(|e| e.2.starts_with("before")).count();
        (before == 2 * EACH).then_some(())
    });

    let saved_dir = tempfile::tempdir().unwrap();
    let saved = saved_dir.path().join("fleet.flog");
    let basedir = path_str(gatherer.basedir.path()).to_owned();
    let args = [
        "--json",
        "--catch-up",
        "--save-to",
        path_str(&saved),
        &basedir,
    ];
    let tail = Tail::start(&args);
    // Logged while the catch-up is being read: across the seam.
    for n in 0..EACH {
        msg!(logger = a.logger, Level::OPERATIONAL, "after a {n}", n);
        msg!(logger = b.logger, Level::OPERATIONAL, "after b {n}", n);
    }
    let stored = poll("the events after the tail", || {
        let stored = gatherer.stored();
        let after = stored.iter().filter(|e| e.2.starts_with("after")).count();
        (after == 2 * EACH).then_some(stored)
    });

    // Everything the gatherer stored, from its current file, then live:
    // the same (origin, number)s, each once.
    let mut shown: Vec<(String, u64, String)> = Vec::new();
    let mut header = None;
    let deadline = Instant::now() + DEADLINE;
    while shown.len() < stored.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = tail
            .stdout
            .recv_timeout(left)
            .expect("every stored event is shown");
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        if json["record"] != "event" {
            header.get_or_insert(json);
            continue;
        }
        let from = json["from"].as_str().expect("an origin").to_owned();
        assert!(json["rx_time_us"].is_u64(), "{json}");
        let num = json["num"].as_u64().unwrap();
        let message = json["message"].as_str().unwrap().to_owned();
        shown.push((from, num, message));
    }
    let per_origin = |events: &[(String, u64, String)]| {
        let mut map: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for (from, num, _) in events {
            map.entry(from.clone()).or_default().push(*num);
        }
        map
    };
    let expected = per_origin(&stored);
    assert_eq!(per_origin(&shown), expected);
    let mut ids = vec![id_a.clone(), id_b.clone()];
    ids.sort();
    assert_eq!(expected.keys().cloned().collect::<Vec<_>>(), ids);
    for (from, nums) in &expected {
        let mut unique = nums.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), nums.len(), "{from}: a number twice");
    }
    for (from, message) in [(&id_a, "before a 0"), (&id_b, "after b 29")] {
        assert!(
            shown.iter().any(|e| &e.0 == from && e.2 == message),
            "{from} {message:?} not shown"
        );
    }
    let header = header.expect("a header first");
    assert_eq!(header["record"], "header", "{header}");
    assert!(
        tail.stdout.try_iter().all(|l| !l.contains("\"event\"")),
        "a duplicate after the last event"
    );

    let (code, stderr) = tail.interrupt();
    assert_eq!(code, 0, "{stderr:?}");
    // --save-to keeps the origins, as a gathered file's receipts.
    assert_eq!(per_origin(&received(&saved)), expected);

    // The text form shows the origin beside each event.
    let mut text = Tail::start(&["--catch-up", &basedir]);
    let line = text.wait_for(|t| &t.stdout, "before a 0");
    assert!(line.contains(&format!("[{id_a}]")), "{line}");
    let (code, _) = text.interrupt();
    assert_eq!(code, 0);
}

#[test]
fn a_gatherers_logport_refuses_a_wrong_secret_and_a_wrong_key_clearly() {
    let a = Service::start();
    let gatherer = RunningGatherer::start(&[&a]);
    let url = gatherer.url();

    let (base, _secret) = url.rsplit_once('/').unwrap();
    let wrong = format!("{base}/not-the-secret");
    let out = run(&["tail", &wrong]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("unauthorized"), "{}", out.stderr);
    assert!(!out.stderr.contains("not-the-secret"), "{}", out.stderr);

    // The publisher's key in the gatherer's URL: not the key it holds.
    let publisher_key = a
        .url()
        .split_once("://")
        .unwrap()
        .1
        .split_once('@')
        .unwrap()
        .0
        .to_owned();
    let rest = url.split_once('@').unwrap().1;
    let other_key = format!("flogs://{publisher_key}@{rest}");
    let out = run(&["tail", &other_key]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("does not match"), "{}", out.stderr);
}

//! A logdir has one owner: a second logger on it, in another process or in
//! this one, is refused while the first lives, and recovery never touches a
//! report whose writer is alive.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{files_in, wait_until};
use flog_core::{flogfile::read_flogfile, Level, Logger};

const DIR: &str = "FLOG_OWNER_CHILD_DIR";

/// The child's side: declares an incident whose trailing window lasts an
/// hour, says "ready" once its trailing events are on disk, and logs one more
/// trailing event per line read from stdin until stdin closes.
#[test]
#[ignore = "entry point of the child process of the owner tests"]
fn owner_child() {
    let dir = std::env::var(DIR).expect("run by the owner tests");
    let logger = Logger::builder()
        .trailing_delay(Duration::from_secs(3600))
        .build()
        .unwrap();
    logger.set_logdir(&dir).unwrap();
    logger.msg(Level::OPERATIONAL, "before");
    logger.msg(Level::WEIRD, "the trigger");
    logger.msg(Level::OPERATIONAL, "trailing 0");
    let flog = files_in(Path::new(&dir))
        .into_iter()
        .find(|n| n.ends_with(".flog"))
        .map(|n| Path::new(&dir).join(n))
        .unwrap();
    wait_until("the trailing event on disk", || {
        read_flogfile(&flog).is_ok_and(|c| c.events.len() == 3)
    });
    println!("ready");
    for (i, line) in std::io::stdin().lock().lines().enumerate() {
        if line.is_err() {
            break;
        }
        logger.msg(Level::OPERATIONAL, format!("trailing {}", i + 1));
        wait_until("the trailing event on disk", || {
            read_flogfile(&flog).is_ok_and(|c| c.events.len() == i + 4)
        });
        println!("logged {}", i + 1);
    }
    logger.finish_incidents();
}

struct OwnerChild {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
}

impl OwnerChild {
    fn start(dir: &Path) -> OwnerChild {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "owner_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR, dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let mut c = OwnerChild { child, out };
        c.wait_line("ready");
        c
    }

    fn wait_line(&mut self, want: &str) {
        let mut line = String::new();
        while !line.contains(want) {
            line.clear();
            assert!(
                self.out.read_line(&mut line).unwrap() > 0,
                "child ended early"
            );
        }
    }

    fn log_one_more(&mut self, n: usize) {
        use std::io::Write;
        writeln!(self.child.stdin.as_mut().unwrap(), "more").unwrap();
        self.wait_line(&format!("logged {n}"));
    }

    /// Closes its stdin: it finishes its incident and exits.
    fn finish(mut self) {
        drop(self.child.stdin.take());
        assert!(self.child.wait().unwrap().success());
    }
}

fn the_flog(dir: &Path) -> std::path::PathBuf {
    let flogs: Vec<String> = files_in(dir)
        .into_iter()
        .filter(|n| n.ends_with(".flog"))
        .collect();
    assert_eq!(flogs.len(), 1, "{:?}", files_in(dir));
    dir.join(&flogs[0])
}

#[test]
fn a_second_process_on_a_logdir_in_use_is_refused_and_the_live_report_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = OwnerChild::start(dir.path());
    let flog = the_flog(dir.path());
    let before = std::fs::read(&flog).unwrap();

    // An overlapping restart: the new process starts on the same logdir
    // while the old one is still recording trailing events.
    let second = Logger::new();
    let err = second
        .set_logdir(dir.path())
        .expect_err("the logdir belongs to the first process");
    assert!(err.to_string().contains("in use"), "{err}");
    assert_eq!(second.logdir(), None);
    assert_eq!(
        std::fs::read(&flog).unwrap(),
        before,
        "recovery left it alone"
    );
    assert!(second.msg(Level::WEIRD, "no logdir, no incident").is_some());
    assert_eq!(second.incident_stats().declared, 0);

    // The first goes on recording into the same file, and finishes it.
    first.log_one_more(1);
    let events = read_flogfile(&flog).unwrap().events;
    assert_eq!(events.last().unwrap().render(), "trailing 1");
    first.finish();
    let names = files_in(dir.path());
    let finished: Vec<&String> = names.iter().filter(|n| n.ends_with(".flog.bz2")).collect();
    assert_eq!(finished.len(), 1, "{names:?}");
    let report = read_flogfile(&dir.path().join(finished[0])).unwrap();
    let trailer = report.trailer.unwrap();
    assert!(
        !trailer.recovered,
        "finished by its own writer: {trailer:?}"
    );
    assert_eq!(report.events.len(), 4);

    // Once the first has exited, the logdir is free.
    second.set_logdir(dir.path()).unwrap();
    assert_eq!(second.logdir().as_deref(), Some(dir.path()));
}

#[test]
fn a_second_logger_in_this_process_is_refused_until_the_first_is_dropped() {
    use flog_core::{flogfile::LogdirOwner, LogdirError};

    let dir = tempfile::tempdir().unwrap();
    let first = Logger::new();
    first.set_logdir(dir.path()).unwrap();
    let owner = LogdirOwner::read(dir.path())
        .unwrap()
        .expect("an owner record");
    assert_eq!(owner.pid, Some(std::process::id()));
    assert_eq!(owner.incarnation, Some(first.incarnation()));
    assert!(owner.started.is_some() && owner.released.is_none());

    let second = Logger::new();
    match second.set_logdir(dir.path()) {
        Err(LogdirError::InUse {
            path,
            owner: Some(o),
        }) => {
            assert_eq!(path, dir.path());
            assert_eq!(o.pid, Some(std::process::id()));
        }
        other => panic!("expected InUse naming the owner, got {other:?}"),
    }
    // The same directory spelled another way is still the first's own.
    first.set_logdir(dir.path().join(".")).unwrap();
    assert_eq!(first.logdir().as_deref(), Some(dir.path()));

    // Dropping the last clone releases it at once, and says so.
    let clone = first.clone();
    drop(first);
    assert!(
        second.set_logdir(dir.path()).is_err(),
        "a clone still holds it"
    );
    drop(clone);
    let released = LogdirOwner::read(dir.path()).unwrap().unwrap();
    assert!(released.released.is_some(), "{released:?}");
    second.set_logdir(dir.path()).unwrap();
    let owner = LogdirOwner::read(dir.path()).unwrap().unwrap();
    assert_eq!(owner.incarnation, Some(second.incarnation()));
    assert_eq!(owner.released, None);
}

#[test]
fn moving_to_another_logdir_releases_the_first_once_its_incidents_are_done() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let logger = Logger::builder()
        .trailing_delay(Duration::from_secs(3600))
        .build()
        .unwrap();
    logger.set_logdir(a.path()).unwrap();
    logger.msg(Level::WEIRD, "recording in a");
    logger.set_logdir(b.path()).unwrap();
    assert_eq!(logger.logdir().as_deref(), Some(b.path()));
    let other = Logger::new();
    assert!(other.set_logdir(b.path()).is_err());
    // `a` still has an incident recording into it.
    assert!(other.set_logdir(a.path()).is_err());
    logger.finish_incidents();
    other.set_logdir(a.path()).unwrap();
    let finished: Vec<String> = files_in(a.path())
        .into_iter()
        .filter(|n| n.ends_with(".flog.bz2"))
        .collect();
    assert_eq!(finished.len(), 1, "finished in a, where it started");
    // New incidents go to b.
    logger.msg(Level::WEIRD, "recording in b");
    logger.finish_incidents();
    assert_eq!(
        files_in(b.path())
            .iter()
            .filter(|n| n.ends_with(".flog.bz2"))
            .count(),
        1
    );
}

//! The example configuration in `docs/gatherer.md`, read from the markdown
//! itself, classifies real incidents as the page says: one from flog's own
//! panic hook in a child process that panicked, one from a pool running dry.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Mutex};

use flog_core::{Level, Logger};
use flog_gatherer::{read_trigger, Config};

use crate::support::PATIENCE;

const CHILD_DIR: &str = "FLOG_DOCS_PANIC_CHILD_DIR";

/// The first ```toml block after the heading `heading` in the gatherer's
/// documentation.
fn toml_block_after(heading: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/gatherer.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let section = &text[text
        .find(heading)
        .unwrap_or_else(|| panic!("{heading:?} in the docs"))..];
    let start = section.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = start + section[start..].find("\n```").expect("the block ends");
    section[start..end].to_owned()
}

fn documented_config() -> Config {
    let block = toml_block_after("## Configuration: `BASEDIR/gatherer.toml`");
    Config::from_toml(&block, "docs/gatherer.md").unwrap()
}

/// A logger with a log directory, telling of each finished incident.
fn service(logdir: &Path) -> (Logger, mpsc::Receiver<PathBuf>) {
    let logger = Logger::builder().trailing(false).build().unwrap();
    logger.set_logdir(logdir).unwrap();
    let (tx, finished) = mpsc::channel();
    let tx = Mutex::new(tx);
    logger.add_incident_observer(move |incident: &flog_core::IncidentReport| {
        let path = incident.path.as_path();
        let _ = tx.lock().unwrap().send(path.to_owned());
    });
    (logger, finished)
}

/// The child's side: a service with flog's panic hook whose worker thread
/// panics. Ignored so that only the parent test runs it, on purpose.
#[test]
#[ignore = "entry point of the child process of the docs test"]
fn panicking_service_child() {
    let dir = std::env::var(CHILD_DIR).expect("run by the docs test");
    let (logger, finished) = service(Path::new(&dir));
    flog_core::install_panic_hook(logger);
    let worker = std::thread::Builder::new()
        .name("worker".into())
        .spawn(|| {
            let connections: Vec<u32> = Vec::new();
            connections[3]
        })
        .unwrap();
    assert!(worker.join().is_err());
    let path = finished
        .recv_timeout(PATIENCE)
        .expect("the panic's incident");
    // On a line of its own, after the harness's "test ... " prefix.
    println!("\nincident {}", path.display());
}

/// The incident file a real panic leaves, from a child process.
fn panic_incident(logdir: &Path) -> PathBuf {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "docs::panicking_service_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, logdir)
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix("incident "))
        .unwrap_or_else(|| panic!("the child names its incident: {stdout}"));
    PathBuf::from(line)
}

fn categories_of(config: &Config, incident: &Path) -> Vec<String> {
    let trigger = read_trigger(incident).unwrap().expect("a trigger");
    config.classifier.classify(&trigger)
}

#[test]
fn the_documented_rules_classify_real_incidents_as_the_docs_say() {
    let config = documented_config();
    assert_eq!(config.classifier.categories(), ["database", "panics"]);

    let logdir = tempfile::tempdir().unwrap();
    let panicked = panic_incident(logdir.path());
    assert_eq!(categories_of(&config, &panicked), ["panics"]);

    let logdir = tempfile::tempdir().unwrap();
    let (logger, finished) = service(logdir.path());
    logger
        .event(Level::WEIRD)
        .facility("app.db.pool")
        .message("pool exhausted")
        .field("host", "db1")
        .field("port", 5432)
        .emit();
    let exhausted = finished.recv_timeout(PATIENCE).unwrap();
    assert_eq!(categories_of(&config, &exhausted), ["database"]);

    // Not below app.db, and a pool on another host: neither category.
    logger
        .event(Level::WEIRD)
        .facility("app.dbx")
        .message("pool exhausted")
        .field("host", "db1")
        .field("port", 5432)
        .emit();
    let elsewhere = finished.recv_timeout(PATIENCE).unwrap();
    assert!(categories_of(&config, &elsewhere).is_empty());
}

/// The worked example of "Sharing a bucket" is a configuration the
/// gatherer takes, naming the bucket it says.
#[test]
fn the_shared_bucket_example_parses() {
    let block = toml_block_after("## Sharing a bucket\n");
    // The first block there is the layout; the config is the first toml one.
    let config = Config::from_toml(&block, "docs/gatherer.md").unwrap();
    let flog_gatherer::Storage::S3(s3) = config.storage else {
        panic!("the example is not storage = \"s3\"")
    };
    assert_eq!(s3.shown(), "s3://flog-incidents/fleet-1");
    assert_eq!(s3.endpoint.as_deref(), Some("https://minio.internal:9000"));
    assert_eq!(config.classifier.categories(), ["database"]);
}

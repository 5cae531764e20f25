//! A small service that embeds flog-core, logs at every level, triggers an
//! incident and prints where the report is.
//!
//! `cargo run -p flog-core --example service [LOGDIR]`

use std::sync::{mpsc, Mutex};
use std::time::Duration;

use flog_core::{msg, read_flogfile, Level, Logger};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let logdir = match std::env::args().nth(1) {
        Some(dir) => std::path::PathBuf::from(dir),
        None => std::env::temp_dir().join(format!("flog-service-{}", std::process::id())),
    };
    let logger = Logger::builder()
        .trailing_delay(Duration::from_millis(500))
        .build()?;
    logger.set_version("example-service", "1.0");
    logger.set_logdir(&logdir)?;
    flog_core::install_panic_hook(logger.clone());

    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    logger.add_incident_observer(move |incident: &flog_core::IncidentReport| {
        let name = incident.name.as_str();
        let path = incident.path.as_path();
        let _ = tx
            .lock()
            .map(|tx| tx.send((name.to_owned(), path.to_owned())));
    });

    let start = msg!(
        logger = logger,
        Level::OPERATIONAL,
        facility = "app",
        "service starting"
    );
    for (i, level) in Level::NAMED.iter().enumerate().take(5) {
        msg!(
            logger = logger,
            *level,
            facility = "app.work",
            parent = start,
            "step {i} at level {level}",
            i = i,
            level = level.to_string()
        );
    }
    msg!(
        logger = logger,
        Level::WEIRD,
        facility = "app.db",
        "pool exhausted after {waited_ms} ms",
        waited_ms = 250,
        pool = "main"
    );
    msg!(
        logger = logger,
        Level::OPERATIONAL,
        facility = "app.db",
        "pool recovered"
    );

    let (name, path) = rx.recv_timeout(Duration::from_secs(30))?;
    let report = read_flogfile(&path)?;
    println!("incident {name}\n  file: {}", path.display());
    for event in &report.events {
        println!("  {event}");
    }
    println!("logdir: {}", logdir.display());
    Ok(())
}

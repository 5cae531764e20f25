//! A small service that embeds flog-core, logs at every level, triggers an
//! incident and prints where the report is.
//!
//! `cargo run -p flog-core --example service [LOGDIR]`

use std::sync::mpsc;
use std::time::Duration;

use flog_core::{flogfile::read_flogfile, msg, operational, weird, Level, Logger};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let logdir = match std::env::args().nth(1) {
        Some(dir) => std::path::PathBuf::from(dir),
        None => std::env::temp_dir().join(format!("flog-service-{}", std::process::id())),
    };
    let (incidents, recorded) = mpsc::channel();
    let logger = Logger::builder()
        .logdir(&logdir)
        .trailing_delay(Duration::from_millis(500))
        .version("example-service", "1.0")
        .event_observer(flog_core::forward_to_stderr(Level::WEIRD))
        .incident_observer(move |incident| {
            let _ = incidents.send(incident.clone());
        })
        .install()?;
    flog_core::install_panic_hook(logger.clone());

    let start = operational!(facility = "app", "service starting");
    for (step, level) in Level::NAMED.iter().copied().enumerate().take(5) {
        msg!(
            level,
            facility = "app.work",
            parent = start,
            "step {step} at level {level}",
            step,
            level
        );
    }
    let pool = String::from("main");
    weird!(
        facility = "app.db",
        "pool {pool} exhausted after {waited_ms} ms",
        pool = pool.as_str(),
        waited_ms = 250
    );
    operational!(facility = "app.db", "pool {pool} recovered", pool);

    let incident = recorded.recv_timeout(Duration::from_secs(30))?;
    let report = read_flogfile(&incident.path)?;
    println!(
        "incident {}\n  file: {}",
        incident.name,
        incident.path.display()
    );
    for event in &report.events {
        println!("  {event}");
    }
    println!("logdir: {}", logdir.display());
    Ok(())
}

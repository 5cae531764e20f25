//! A service SIGKILLed right after a trigger, restarted on the same logdir:
//! the incident it was recording is recovered, listed by its publisher and
//! gathered.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;

use flog_core::{
    flogfile::{read_flogfile, FINISHED_SUFFIX, RECORDING_SUFFIX},
    Level,
};
use flog_wire::{ListQuery, LogportClient, LogportUrl};

use super::ChildService;
use crate::gatherer::{list, quick_config, relative, stored_names, Running};

fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("incident-"))
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_service_s_incident_is_recovered_listed_and_gathered_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let logdir = dir.path().join("logs");

    // The service declares an incident and goes on recording trailing
    // events; then it is killed, with no chance to finish the report.
    let service = ChildService::start("trigger", &logdir);
    service.wait_line("ready");
    let status = service.kill();
    assert_eq!(status.signal(), Some(9));
    let recording = files_in(&logdir);
    assert_eq!(recording.len(), 1, "{recording:?}");
    let stem = recording[0]
        .strip_suffix(RECORDING_SUFFIX)
        .expect("only the .flog of the report in progress");
    let flog: PathBuf = logdir.join(&recording[0]);
    let left = read_flogfile(&flog).unwrap();
    let header = left.header.clone().expect("the header is on disk");
    let trigger = header.trigger.clone().unwrap();
    assert_eq!(trigger.render(), "the trigger");
    assert_eq!(trigger.level, Level::WEIRD);
    // Every event up to the trigger, the trigger, and the trailing events
    // written before the kill; no trailer.
    let texts: Vec<String> = left
        .events
        .iter()
        .map(|e| e.render().into_owned())
        .collect();
    assert_eq!(texts.len(), 54);
    assert_eq!(texts[0], "working 0");
    assert_eq!(texts[50], "the trigger");
    assert_eq!(texts[53], "trailing 2");
    assert!(left.trailer.is_none() && left.damage.is_none());

    // The service starts again on the same logdir, with its publisher.
    let service = ChildService::start("serve", &logdir);
    let url: LogportUrl = service.wait_line("url ").parse().unwrap();
    let finished = format!("{stem}{FINISHED_SUFFIX}");
    assert_eq!(files_in(&logdir), [finished.as_str()], "recovered at start");

    let client = LogportClient::connect(&url).await.unwrap();
    let page = client.list_incidents(&ListQuery::default()).await.unwrap();
    let listed: Vec<&str> = page.incidents.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(listed, [stem]);
    assert_eq!(page.incidents[0].level, Level::WEIRD.number());
    let bytes = client.get_incident_bytes(stem).await.unwrap();
    assert_eq!(bytes, std::fs::read(logdir.join(&finished)).unwrap());

    // A gatherer collects it like any other.
    let base = tempfile::tempdir().unwrap();
    let basedir = base.path();
    let mut config = quick_config();
    config.publishers.push(url.clone());
    let mut gatherer = Running::start(basedir, config);
    let stored = gatherer.stored(url.publisher_id(), stem).await;
    let events = gatherer.stop().await;
    assert_eq!(
        stored_names(&events),
        [(url.publisher_id().to_owned(), stem.to_owned())]
    );
    assert_eq!(std::fs::read(&stored.path).unwrap(), bytes);
    assert_eq!(list(basedir, "all"), [relative(url.publisher_id(), stem)]);

    let report = read_flogfile(&stored.path).unwrap();
    let trailer = report.trailer.expect("recovery added a trailer");
    assert!(trailer.recovered && !trailer.truncated, "{trailer:?}");
    assert_eq!(trailer.end, Some(flog_core::flogfile::EndReason::Recovered));
    assert_eq!(report.header.as_ref(), Some(&header));
    assert_eq!(report.events, left.events);
    assert!(service.stop().success());
}

/// A second start on a logdir another run still holds is told so and exits
/// with its own code, without a panic, and leaves the first one serving.
#[test]
fn a_second_service_on_a_held_logdir_exits_cleanly_saying_it_is_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let logdir = dir.path().join("logs");
    let first = ChildService::start("serve", &logdir);
    first.wait_line("url ");
    let second = std::process::Command::new(env!("CARGO_BIN_EXE_flog-test-service"))
        .arg("serve")
        .arg(&logdir)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("in use by another logger"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(first.stop().success());
}

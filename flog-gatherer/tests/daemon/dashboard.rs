//! `http = "ADDR"` in gatherer.toml: the daemon serves its dashboard, and
//! refuses a bind beyond loopback without a token.

use test_browser::http;

use crate::support::{add_publisher, add_rule, create, eventually, gatherer, Daemon, Service};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_serves_its_dashboard_when_asked_to() {
    let service = Service::start().await;
    let id = service.id();
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path().join("g");
    create(&basedir, &[("poll_interval", "\"200ms\"")]);
    add_rule(&basedir, "http = \"127.0.0.1:0\"");
    add_publisher(
        &basedir,
        "service.url",
        &service.publisher.url().to_string(),
    );
    let name = service.incident("app.db", 0);

    let mut daemon = Daemon::start(&basedir);
    let line = daemon.wait_line(&["dashboard at http://127.0.0.1:"]);
    let logged: serde_json::Value = serde_json::from_str(&line).unwrap();
    let url = logged["url"].as_str().unwrap().to_owned();
    daemon.wait_line(&["fetched incident", &name]);
    let incidents = format!("{url}api/incidents");
    eventually("the dashboard lists the incident", || {
        let listed = http::get(&incidents).unwrap();
        listed.status == 200 && listed.text().contains(&name)
    });
    let page = http::get(&url).unwrap();
    assert_eq!(page.status, 200);
    assert!(page.text().contains(&format!("data-publisher=\"{id}\"")));
    let metrics = http::get(&format!("{url}metrics")).unwrap().text();
    assert!(metrics.contains(&format!(
        "flog_gatherer_incidents_stored{{publisher=\"{id}\",category=\"unknown\"}} 1"
    )));
    assert!(daemon.stop().success());
    assert!(
        http::get(&url).is_err(),
        "the dashboard stopped with the daemon"
    );
}

#[test]
fn a_dashboard_beyond_loopback_needs_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path().join("g");
    create(&basedir, &[]);
    add_rule(&basedir, "http = \"0.0.0.0:0\"");
    let output = gatherer(&["run", basedir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("http is not a loopback address"),
        "{stderr}"
    );
}

//! `flogtool web` over HTTP, without a browser: what it prints, serves and
//! refuses, and how it stops.

use std::time::Duration;

use flog_core::{msg, Level, Logger};
use test_browser::http;

use crate::util::{get_json, hostile_incident, poll, read, request_incident, WebServer};

#[test]
fn serves_a_real_incident_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let incident = request_incident(&dir.path().join("logs"));
    let truth = read(&incident);
    let server = WebServer::start(&[&incident], &[]);

    // One file: the index goes straight to its summary.
    let index = http::get(&server.url).unwrap();
    assert_eq!(index.status, 303);
    assert_eq!(index.header("location"), Some("/files/0"));

    let summary = http::get(&server.at("files/0")).unwrap();
    assert_eq!(summary.status, 200);
    assert!(summary
        .header("content-security-policy")
        .is_some_and(|csp| csp.contains("script-src 'self'")));
    assert_eq!(summary.header("cache-control"), Some("no-store"));
    let html = summary.text();
    let header = truth.header.as_ref().unwrap();
    for expected in [
        format!("<td id=\"pid\">{}</td>", header.pid.unwrap()),
        format!("<td id=\"host\">{}</td>", header.host.as_ref().unwrap()),
        "<span class=\"component\">shop</span> 2.4.1".to_owned(),
        "6 events covering 0.300000 seconds".to_owned(),
        "href=\"/files/0/events?levels=30\">1 event</a>".to_owned(),
        "href=\"/files/0/events#event-3\">#3</a>".to_owned(),
        "the trailing-event limit was reached (<code>event_limit</code>)".to_owned(),
        "0 triggers were suppressed".to_owned(),
    ] {
        assert!(
            html.contains(&expected),
            "summary lacks {expected:?}:\n{html}"
        );
    }

    // The rows, nested, with the file's own parents.
    let page = get_json(&server.at("files/0/events.json"));
    assert_eq!(
        (page["order"].as_str(), page["total"].as_u64()),
        (Some("tree"), Some(6))
    );
    let rows = page["rows"].as_array().unwrap();
    let nums: Vec<u64> = rows.iter().map(|r| r["num"].as_u64().unwrap()).collect();
    assert_eq!(nums, [0, 1, 2, 3, 4, 5]);
    let depths: Vec<u64> = rows.iter().map(|r| r["depth"].as_u64().unwrap()).collect();
    assert_eq!(depths, [0, 0, 1, 2, 2, 1]);
    for row in rows {
        let event = &truth.events[row["num"].as_u64().unwrap() as usize];
        let parent = row["parent"].as_str().map(|p| p.parse::<u64>().unwrap());
        assert_eq!(parent, event.parent, "row {row}");
    }
    assert_eq!(rows[3]["trigger"], true);
    assert_eq!(rows[3]["fields"][0]["name"], "waited_ms");
    assert_eq!(rows[3]["fields"][0]["value"], "250");

    // A page further on, and a row found by key.
    let tail = get_json(&server.at("files/0/events.json?sort=number&offset=4&limit=10"));
    assert_eq!(tail["rows"].as_array().unwrap().len(), 2);
    let found = get_json(&server.at("files/0/locate.json?key=4&sort=time"));
    assert_eq!(found["position"], 1, "#4 is stamped second: {found}");
    let found = get_json(&server.at("files/0/locate.json?key=4&levels=WEIRD"));
    assert!(found["position"].is_null(), "hidden by the filter: {found}");

    let summary = get_json(&server.at("files/0/summary.json"));
    assert_eq!(summary["events"], 6);
    assert_eq!(summary["triggers"][0]["num"], 3);
    assert_eq!(summary["trailer"]["end"], "event_limit");

    let trace = http::get(&server.at("files/0/trace.json")).unwrap();
    assert_eq!(trace.status, 200);
    let trace: serde_json::Value = serde_json::from_slice(&trace.body).unwrap();
    assert!(trace["traceEvents"].as_array().unwrap().len() > 6);

    let files = get_json(&server.at("files.json"));
    assert_eq!(files[0]["summary"]["events"], 6);

    let (code, stderr) = server.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("Ctrl-C to stop"), "{stderr}");
}

#[test]
fn markup_from_a_file_is_escaped_in_every_page() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = hostile_incident(dir.path());
    let server = WebServer::start(&[&hostile], &[]);
    for path in ["files/0", "files/0/events"] {
        let html = http::get(&server.at(path)).unwrap().text();
        assert!(!html.contains("<script>window"), "{path}:\n{html}");
        assert!(!html.contains("<img src=x"), "{path}:\n{html}");
        assert!(
            html.contains("&#60;img src=x onerror=window.__pwned=&#39;label&#39;&#62;"),
            "{path}: the label, as text:\n{html}"
        );
    }
    let summary = http::get(&server.at("files/0")).unwrap().text();
    assert!(
        summary.contains("&#60;script&#62;window.__pwned = &#39;version&#39;&#60;/script&#62;"),
        "{summary}"
    );
    // JSON carries the text as it is; the page puts it in the DOM as text.
    let page = get_json(&server.at("files/0/events.json?sort=number"));
    assert_eq!(
        page["rows"][0]["facility"],
        "<script>window.__pwned = 'facility'</script>"
    );
}

#[test]
fn unknown_files_bad_queries_and_foreign_hosts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let incident = request_incident(&dir.path().join("logs"));
    let other = dir.path().join("copy.flog.bz2");
    std::fs::copy(&incident, &other).unwrap();
    let server = WebServer::start(&[&incident, &other], &[]);

    // Two files: an index of both.
    let index = http::get(&server.url).unwrap();
    assert_eq!(index.status, 200);
    assert!(index.text().contains("copy.flog.bz2"));

    let status = |path: &str| http::get(&server.at(path)).unwrap().status;
    assert_eq!(status("files/2"), 404);
    assert_eq!(status("files/2/events.json"), 404);
    assert_eq!(status("files/x"), 400);
    assert_eq!(status("files/0/events.json?sort=random"), 400);
    assert_eq!(status("files/0/events.json?levels=LOUD"), 400);
    assert_eq!(
        status(&format!("files/0/events.json?text={}", "x".repeat(1001))),
        400
    );
    assert_eq!(status("files/0/locate.json?key=999"), 404);
    assert_eq!(status("files/0/locate.json?key=zz-1"), 404);
    assert_eq!(status("assets/../../etc/passwd"), 404);
    let bad = http::get(&server.at("files/0/events.json?sort=random")).unwrap();
    assert!(bad.text().contains("unknown sort order"), "{}", bad.text());

    // A name that is not ours (DNS rebinding) gets nothing.
    let port = server.url.rsplit(':').next().unwrap().trim_end_matches('/');
    let foreign =
        http::get_with_host(&server.at("files/0"), Some(&format!("evil.example:{port}"))).unwrap();
    assert_eq!(foreign.status, 403);
    let ours =
        http::get_with_host(&server.at("files/0"), Some(&format!("localhost:{port}"))).unwrap();
    assert_eq!(ours.status, 200);

    // A file gone after the start is an error page, not a crash.
    std::fs::remove_file(&other).unwrap();
    let gone = http::get(&server.at("files/1")).unwrap();
    assert_eq!(gone.status, 500);
    assert!(gone.text().contains("cannot read"), "{}", gone.text());
    assert_eq!(status("files/0"), 200);
    let (code, _) = server.stop();
    assert_eq!(code, 0);
}

#[test]
fn a_growing_flog_is_read_again_when_it_changed() {
    let dir = tempfile::tempdir().unwrap();
    let logdir = dir.path().join("logs");
    // Trailing events for an hour: the incident stays a .flog being written.
    let logger = Logger::builder()
        .trailing_event_limit(1000)
        .trailing_delay(Duration::from_secs(3600))
        .build()
        .unwrap();
    logger.set_logdir(&logdir).unwrap();
    msg!(
        logger = logger,
        Level::OPERATIONAL,
        facility = "app",
        "before"
    );
    msg!(logger = logger, Level::WEIRD, facility = "app", "trigger");
    let recording = poll("the incident file", || {
        std::fs::read_dir(&logdir)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "flog"))
    });
    let server = WebServer::start(&[&recording], &[]);
    let first = get_json(&server.at("files/0/events.json"));
    assert_eq!(first["events"], 2, "{first}");
    assert_eq!(first["generation"], 1);
    let summary = http::get(&server.at("files/0")).unwrap().text();
    assert!(summary.contains("still recording"), "{summary}");

    for n in 0..3 {
        msg!(
            logger = logger,
            Level::OPERATIONAL,
            facility = "app",
            "after {n}",
            n = n
        );
    }
    let grown = poll("the page to show the trailing events", || {
        let page = get_json(&server.at("files/0/events.json"));
        (page["events"] == 5).then_some(page)
    });
    assert!(grown["generation"].as_u64().unwrap() >= 2, "{grown}");
    let unchanged = get_json(&server.at("files/0/events.json"));
    assert_eq!(
        unchanged["generation"], grown["generation"],
        "not read again unchanged"
    );
    logger.finish_incidents();
}

#[test]
fn a_missing_file_fails_at_the_start() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flogtool"))
        .args(["web", "/nonexistent/incident.flog.bz2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("flogtool: error: cannot open /nonexistent/incident.flog.bz2"),
        "{stderr}"
    );
}

#[test]
fn port_and_open_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let incident = request_incident(&dir.path().join("logs"));
    // A free port, released for flogtool to take.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // $BROWSER: a script that notes the URL it was asked to open.
    let opened = dir.path().join("opened");
    let script = dir.path().join("browser.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$1\" > {}\n", opened.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let browser = format!("{} %s", script.display());
    let server = WebServer::start_with_env(
        &[&incident],
        &["--port", &port.to_string(), "--open"],
        &[("BROWSER", &browser)],
    );
    assert_eq!(server.url, format!("http://127.0.0.1:{port}/"));
    let url = poll("the browser to be started", || {
        std::fs::read_to_string(&opened)
            .ok()
            .filter(|s| s.ends_with('\n'))
    });
    assert_eq!(url.trim(), server.url);
    assert_eq!(http::get(&server.at("files/0")).unwrap().status, 200);
}

use std::path::Path;

use crate::util::{path_str, run};

fn files_below(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            found.extend(files_below(&entry.path()));
        } else {
            found.push(entry.path().display().to_string());
        }
    }
    found
}

#[test]
fn demo_gathers_classifies_and_shows_incidents() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["demo", "--dir", path_str(dir.path())]);
    assert_eq!(out.code, 0, "{out:?}");

    let gathered: Vec<String> = files_below(&dir.path().join("gatherer/incidents"))
        .into_iter()
        .filter(|f| f.ends_with(".flog.bz2"))
        .collect();
    assert_eq!(gathered.len(), 3, "{gathered:?}");
    let classified = dir.path().join("gatherer/classified");
    let list = |category: &str| std::fs::read_to_string(classified.join(category)).unwrap();
    assert_eq!(list("database").lines().count(), 1);
    assert_eq!(list("web").lines().count(), 1);
    assert_eq!(list("unknown").lines().count(), 1);

    for part in [
        "== What was gathered",
        "database: 1 incident",
        "unknown: 1 incident",
        "[TRIGGER]",
    ] {
        assert!(out.stdout.contains(part), "{part} in {}", out.stdout);
    }
    assert_eq!(
        out.stdout.matches("[TRIGGER]").count(),
        2,
        "both triggers of the database incident"
    );

    // The event gatherer's file: every event at OPERATIONAL and above,
    // each naming its publisher; the demo shows those at WEIRD and above.
    let events: Vec<String> = files_below(&dir.path().join("gatherer/events"))
        .into_iter()
        .filter(|f| f.contains("from-") && f.contains("---to-"))
        .collect();
    assert!(!events.is_empty(), "no gathered events file");
    let (_, shown) = out
        .stdout
        .split_once("== The service's events as the event gatherer keeps them")
        .unwrap_or_else(|| panic!("no events section in {}", out.stdout));
    let id = std::fs::read_to_string(dir.path().join("gatherer/publishers/demo-service")).unwrap();
    let id: flog_wire::LogportUrl = id.trim().parse().unwrap();
    let origin = format!("[{}]", id.publisher_id());
    let lines: Vec<&str> = shown.lines().filter(|l| l.contains(&origin)).collect();
    assert!(
        lines.iter().any(|l| l.contains("pool exhausted")),
        "the database trigger, with its origin, in {shown}"
    );
    assert!(
        lines.iter().all(|l| !l.contains("OPERATIONAL")),
        "only WEIRD and above shown: {shown}"
    );

    // The command it suggests for them reads them.
    assert!(
        out.stdout.contains("flogtool dump --facility app.db "),
        "{}",
        out.stdout
    );
    let mut args = vec!["dump", "--facility", "app.db"];
    args.extend(events.iter().map(String::as_str));
    let dumped = run(&args);
    assert_eq!(dumped.code, 0, "{dumped:?}");
    assert!(
        dumped.stdout.contains("pool exhausted"),
        "{}",
        dumped.stdout
    );
    assert!(!dumped.stdout.contains("app.web"), "{}", dumped.stdout);

    let again = run(&["demo", "--dir", path_str(dir.path())]);
    assert_eq!(again.code, 1, "refuses a used directory: {again:?}");
}

/// A plain HTTP/1.1 GET on loopback: status line and body.
fn http_get(url: &str) -> (String, String) {
    use std::io::{Read as _, Write as _};
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_once('/').expect("a path");
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(crate::util::DEADLINE))
        .unwrap();
    write!(
        stream,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("a whole response");
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

#[test]
fn demo_serve_keeps_the_dashboard_up_until_interrupted() {
    use std::io::BufRead as _;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    /// Kills the demo if the test fails before it ends it.
    struct Reaped(std::process::Child);
    impl Drop for Reaped {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Reaped(
        crate::util::flogtool()
            .args(["demo", "--serve", "--dir", path_str(dir.path())])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("flogtool runs"),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let next = |what: &str| loop {
        let line = lines
            .recv_timeout(crate::util::DEADLINE)
            .unwrap_or_else(|_| panic!("the demo prints {what}"));
        if let Some(rest) = line.strip_prefix(what) {
            break rest.trim().to_owned();
        }
    };
    let url = next("dashboard at ");
    let web = next("one incident in the viewer: flogtool web ");
    assert!(Path::new(&web).is_file(), "{web} is a gathered incident");

    // The dashboard shows the demo's incidents while the demo waits.
    let (status, page) = http_get(&url);
    assert!(status.contains("200"), "{status}");
    for category in ["database", "web", "unknown"] {
        assert!(page.contains(category), "{category} on the dashboard");
    }
    let (status, api) = http_get(&format!("{url}api/incidents"));
    assert!(status.contains("200"), "{status}");
    assert_eq!(api.matches("\"categories\"").count(), 3, "{api}");

    // Ctrl-C ends it cleanly, and the dashboard with it.
    let pid = rustix::process::Pid::from_raw(child.0.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    assert_eq!(next("stopping"), "");
    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    assert!(
        std::net::TcpStream::connect(host).is_err(),
        "the dashboard is gone"
    );
}

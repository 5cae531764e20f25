//! The `flog-gatherer` binary as an operator runs it: create, run, signals,
//! config errors, and a kill -9 in the middle of a fetch.

use std::fs;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use flog_wire::LogportUrl;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::{
    add_rule, create, eventually, gatherer, list, partial_files, Daemon, Service,
};

#[test]
fn usage_errors_exit_2() {
    for args in [&[][..], &["run"][..], &["frobnicate", "x"][..]] {
        let status = gatherer(args).output().unwrap().status;
        assert_eq!(status.code(), Some(2), "{args:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path().join("g");
    create(&basedir, &[]);
    // A second create refuses to overwrite: a runtime failure.
    let output = gatherer(&["create", basedir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("already exists"));
}

#[test]
fn config_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path().join("g");
    create(&basedir, &[("poll_interval", "\"every so often\"")]);
    let line = fs::read_to_string(basedir.join("gatherer.toml"))
        .unwrap()
        .lines()
        .position(|line| line.starts_with("poll_interval"))
        .unwrap()
        + 1;
    let output = gatherer(&["run", basedir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!("gatherer.toml:{line}:17: poll_interval: invalid duration");
    assert!(stderr.contains(&expected), "{stderr}");

    let missing = gatherer(&["run", dir.path().join("nowhere").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nowhere/gatherer.toml"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_run_reload_and_stop_cleanly() {
    let service = Service::start().await;
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path().join("g");
    create(&basedir, &[("poll_interval", "\"100ms\"")]);
    add_rule(
        &basedir,
        "[[rule]]\ncategory = \"database\"\nfacility = \"app.db\"",
    );
    fs::copy(
        service.publisher.logport_file(),
        basedir.join("publishers").join("service.url"),
    )
    .unwrap();
    let mut daemon = Daemon::start(&basedir);
    let id = service.publisher.url().publisher_id().to_owned();
    daemon.wait_line(&["connected to", &id]);
    let name = service.incident("app.db.pool", 0);
    let line = daemon.wait_line(&["fetched incident", &name]);
    assert!(
        line.contains("\"categories\":\"[\\\"database\\\"]\""),
        "{line}"
    );
    assert!(!line.contains(service.publisher.url().secret()), "{line}");
    let path = format!("incidents/{id}/{name}.flog.bz2");
    assert_eq!(list(&basedir, "database"), [path.as_str()]);

    // New rules, then SIGHUP: the lists are rebuilt, nothing is fetched.
    add_rule(&basedir, "[[rule]]\ncategory = \"odd\"\nmessage = \"odd\"");
    daemon.signal("HUP");
    daemon.wait_line(&["reclassified 1 incidents"]);
    assert_eq!(list(&basedir, "odd"), [path.as_str()]);

    // A broken config on SIGHUP is reported and the running one kept.
    let config = basedir.join("gatherer.toml");
    let good = fs::read_to_string(&config).unwrap();
    fs::write(&config, good.replace("concurrency = 16", "concurrency = 0")).unwrap();
    daemon.signal("HUP");
    daemon.wait_line(&[
        "concurrency must be from 1",
        "keeping the running configuration",
    ]);

    daemon.signal("TERM");
    let status = daemon.wait_exit();
    assert_eq!(status.code(), Some(0));
    daemon.wait_line(&["stopped"]);
    assert_eq!(list(&basedir, "all"), [path]);
    service.publisher.shutdown().await;
}

/// Forwards connections to `target`; the first one stops forwarding from
/// the target after `stall_after` bytes and holds the connection open.
async fn stalling_proxy(target: SocketAddr, stall_after: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let first = connections.fetch_add(1, Ordering::SeqCst) == 0;
            let limit = if first { stall_after } else { usize::MAX };
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(target).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let upstream = tokio::io::copy(&mut client_read, &mut server_write);
                let downstream = async {
                    let mut sent = 0;
                    let mut buf = vec![0; 8192];
                    loop {
                        let n = match server_read.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        let allowed = n.min(limit - sent);
                        if client_write.write_all(&buf[..allowed]).await.is_err() {
                            return;
                        }
                        sent += allowed;
                        if sent == limit {
                            // Stall: keep the connection, send nothing more.
                            std::future::pending::<()>().await;
                        }
                    }
                };
                tokio::select! {
                    _ = upstream => {}
                    _ = downstream => {}
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_a_fetch_loses_and_repeats_nothing() {
    let service = Service::start().await;
    let name = service.incident("app", 6);
    let size = fs::metadata(service.file(&name)).unwrap().len();
    assert!(size > 150_000, "large enough: {size}");
    let proxy = stalling_proxy(service.publisher.local_addr(), size as usize / 2).await;
    let url = service.publisher.url();
    let id = url.publisher_id().to_owned();

    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path().join("g");
    create(
        &basedir,
        &[("poll_interval", "\"100ms\""), ("min_backoff", "\"50ms\"")],
    );
    add_rule(&basedir, "chunk_size = \"16 KiB\"");
    fs::write(
        basedir.join("publishers").join("service.url"),
        // The publisher's own URL, its key pinned, at the proxy's port.
        format!(
            "{}\n",
            LogportUrl::new(url.security(), "127.0.0.1", proxy.port(), &id, url.secret()).unwrap()
        ),
    )
    .unwrap();

    let mut daemon = Daemon::start(&basedir);
    let folder = basedir.join("incidents").join(&id);
    eventually("part of the incident to arrive", || {
        partial_files(&folder, &name)
            .iter()
            .any(|partial| fs::metadata(partial).is_ok_and(|m| m.len() >= 16 * 1024))
    });
    daemon.child.kill().unwrap();
    daemon.wait_exit();
    assert!(!folder.join(format!("{name}.flog.bz2")).exists());

    let mut daemon = Daemon::start(&basedir);
    daemon.wait_line(&["removed 1 unfinished files"]);
    daemon.wait_line(&["fetched incident", &name]);
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit().code(), Some(0));

    assert_eq!(
        fs::read(folder.join(format!("{name}.flog.bz2"))).unwrap(),
        fs::read(service.file(&name)).unwrap()
    );
    let mut files: Vec<String> = fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, [format!("{name}.flog.bz2"), "latest".to_string()]);
    assert_eq!(
        list(&basedir, "all"),
        [format!("incidents/{id}/{name}.flog.bz2")]
    );
    service.publisher.shutdown().await;
}

#[test]
fn a_failure_repeating_at_every_retry_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path().join("g");
    create(
        &basedir,
        &[("min_backoff", "\"10ms\""), ("max_backoff", "\"20ms\"")],
    );
    // A port that nothing listens on any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!(
        "flog+insecure://127.0.0.1:{port}/p-dead/{}\n",
        "0".repeat(32)
    );
    fs::write(basedir.join("publishers").join("dead.url"), url).unwrap();
    // Debug shows every retry, so the test knows several happened.
    let mut daemon = Daemon::start_logging(&basedir, Some("debug"));
    for _ in 0..3 {
        daemon.wait_line(&["p-dead still failing"]);
    }
    let warnings: Vec<_> = daemon
        .seen
        .iter()
        .filter(|l| l.contains("\"WARN\"") && l.contains("p-dead"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit().code(), Some(0));
}

#[test]
fn accept_key_leaves_the_key_for_the_running_gatherer_and_refuses_nonsense() {
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path().join("g");
    create(&basedir, &[]);
    let key = flog_wire::TlsKey::generate()
        .unwrap()
        .fingerprint()
        .to_string();
    let base = basedir.to_str().unwrap();
    let output = gatherer(&["accept-key", base, "web-1", &key])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let kept =
        fs::read_to_string(basedir.join(flog_gatherer::ACCEPTED_KEYS_DIR).join("web-1")).unwrap();
    assert_eq!(kept.trim(), key);
    for (id, key) in [("web-1", "not-a-key"), ("../etc", key.as_str())] {
        let output = gatherer(&["accept-key", base, id, key]).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{id} {key}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("flog-gatherer: error:"), "{stderr}");
    }
    assert!(!dir.path().join("etc").exists());
}

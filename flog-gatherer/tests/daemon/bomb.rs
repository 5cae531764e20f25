//! A decompression bomb among good incidents: 856 bytes of bzip2 whose header
//! holds an unknown key declaring a byte string of 1 GiB (the seed in
//! `fuzz/seeds/flogfile`, written by flog-core's `tests/bomb.rs`). The
//! gatherer daemon, a real process under an address-space limit, reports the
//! bad file once and goes on gathering from that publisher and the others;
//! restarted, it comes up again; `flog-gatherer reclassify` does not abort.

use std::fs;
use std::path::{Path, PathBuf};

use crate::support::fake::{FakePublisher, Script, Served};
use crate::support::{add_publisher, create, gatherer, list, Daemon, Service};

/// Address space for the daemon: several times what it needs (see the peak it
/// prints), well under the 1 GiB the bomb declares.
const ADDRESS_SPACE: u64 = 768 * 1024 * 1024;

fn bomb() -> Vec<u8> {
    fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/flogfile/bomb-1gib.flog.bz2"),
    )
    .unwrap()
}

fn stored(basedir: &Path, id: &str, name: &str) -> PathBuf {
    basedir
        .join("incidents")
        .join(id)
        .join(format!("{name}.flog.bz2"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decompression_bomb_is_reported_and_gathering_goes_on_in_bounded_memory() {
    let bomb_name = "incident-2026-01-01T00-00-02.000000Z-0000";
    let good = [
        "incident-2026-01-01T00-00-01.000000Z-0000",
        "incident-2026-01-01T00-00-03.000000Z-0000",
    ];
    let script = Script {
        incidents: vec![
            Served::honest(good[0]),
            Served::with_bytes(bomb_name, bomb()),
            Served::honest(good[1]),
        ],
        ..Script::default()
    };
    let bomber = FakePublisher::start("p-bomber", script).await;
    let service = Service::start().await;
    let real_names = [
        service.incident("app.first", 0),
        service.incident("app.second", 0),
    ];
    let real_id = service.id();

    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path().join("g");
    create(&basedir, &[("poll_interval", "\"100ms\"")]);
    add_publisher(&basedir, "bomber.url", &bomber.url());
    add_publisher(&basedir, "real.url", &service.publisher.url().to_string());

    let mut daemon = Daemon::start_limited(&basedir, ADDRESS_SPACE);
    let warning = daemon.wait_line(&["cannot read the trigger", bomb_name]);
    assert!(
        warning.contains("\"WARN\"") && warning.contains("larger than the limit"),
        "{warning}"
    );
    // The rest of that publisher, and the other one.
    daemon.wait_line(&["fetched incident", good[1]]);
    for name in &real_names {
        if !stored(&basedir, &real_id, name).exists() {
            daemon.wait_line(&["fetched incident", name]);
        }
    }
    eprintln!("daemon memory after the bomb: {}", daemon.peak());
    for name in good.iter().chain([&bomb_name]) {
        assert!(stored(&basedir, "p-bomber", name).exists(), "{name}");
    }
    // The bomb is kept as fetched, classified as unknown.
    let bomb_path = format!("incidents/p-bomber/{bomb_name}.flog.bz2");
    assert!(list(&basedir, "unknown").contains(&bomb_path));
    assert_eq!(list(&basedir, "all").len(), 5);
    assert_eq!(
        daemon.stop().code(),
        Some(0),
        "stopped cleanly, not aborted"
    );

    // Restarted with the bomb stored: it comes up and serves again.
    let mut daemon = Daemon::start_limited(&basedir, ADDRESS_SPACE);
    daemon.wait_line(&["connected to", "p-bomber"]);
    assert_eq!(daemon.stop().code(), Some(0));

    // Rebuilding the lists reads every stored trigger, the bomb's too.
    let out = gatherer(&["reclassify", basedir.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("classified 5 incidents"),
        "{out:?}"
    );
    assert!(
        stderr.contains(bomb_name) && stderr.contains("larger than the limit"),
        "{stderr}"
    );
    assert_eq!(list(&basedir, "all").len(), 5);
    assert!(list(&basedir, "unknown").contains(&bomb_path));
}

//! The router as a dashboard would use it: nested under a path, over files
//! the caller wrote, served on 127.0.0.1 port 0.

use std::path::Path;
use std::sync::Arc;

use flog_core::{
    flogfile::{FlogWriter, Header},
    Event, Incarnation, Level, Text, Timestamp,
};
use flog_web::{router, ConfigError, PathSource, Viewer};
use test_browser::http;

/// A gathered file mixing two logger runs, whose numbers overlap.
fn gathered(path: &Path) {
    let header = Header {
        kind: flog_core::flogfile::HeaderKind::Gathered.into(),
        ..Header::default()
    };
    let mut writer = FlogWriter::new(std::fs::File::create(path).unwrap(), &header).unwrap();
    for (k, unique) in [[1u8; 8], [2u8; 8]].into_iter().enumerate() {
        for num in 0..3u64 {
            writer
                .write_event(&Event {
                    num,
                    parent: num.checked_sub(1),
                    time: Timestamp(1_000_000 * (num as i64 + 10 * k as i64)),
                    incarnation: Incarnation {
                        unique,
                        sequential: None,
                    },
                    level: if num == 2 {
                        Level::WEIRD
                    } else {
                        Level::OPERATIONAL
                    },
                    facility: Some("app".into()),
                    text: Text::Message(format!("run {k} event {num}").into()),
                    ..Event::default()
                })
                .unwrap();
        }
    }
    writer.flush().unwrap();
}

async fn serve(viewer: Viewer, base: &str) -> String {
    let app = if base.is_empty() {
        router(Arc::new(viewer))
    } else {
        axum::Router::new().nest(base, router(Arc::new(viewer)))
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}{base}")
}

async fn get(url: String) -> http::Response {
    // The client is blocking: off the runtime's threads.
    tokio::task::spawn_blocking(move || http::get(&url).unwrap())
        .await
        .unwrap()
}

async fn json(url: String) -> serde_json::Value {
    let response = get(url).await;
    assert_eq!(response.status, 200, "{}", response.text());
    serde_json::from_slice(&response.body).unwrap()
}

#[tokio::test]
async fn nested_under_a_base_path_every_link_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gathered.flog");
    gathered(&path);
    let viewer = Viewer::builder().base_path("/view").build().unwrap();
    viewer.add(PathSource::new(&path));
    let base = serve(viewer, "/view").await;

    let summary = get(format!("{base}/files/0")).await.text();
    for link in [
        "href=\"/view/assets/viewer.css\"",
        "src=\"/view/assets/viewer.js\"",
        "href=\"/view/files/0/events\"",
        "href=\"/view/files/0/events?levels=30\"",
        "href=\"/view/files/0/trace.json\"",
    ] {
        assert!(summary.contains(link), "{link} missing:\n{summary}");
    }
    let events = get(format!("{base}/files/0/events")).await.text();
    assert!(events.contains("data-base=\"/view\""), "{events}");
    assert_eq!(get(format!("{base}/assets/list.js")).await.status, 200);
    assert_eq!(get(format!("{base}/assets/nope.js")).await.status, 404);
}

#[tokio::test]
async fn a_file_of_several_runs_keys_events_by_run_and_filters_by_origin() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gathered.flog");
    gathered(&path);
    let viewer = Viewer::builder().build().unwrap();
    viewer.add(PathSource::new(&path));
    let base = serve(viewer, "").await;

    let summary = json(format!("{base}/files/0/summary.json")).await;
    let origins: Vec<String> = serde_json::from_value(summary["origins"].clone()).unwrap();
    assert_eq!(origins, ["0101010101010101", "0202020202020202"]);
    // Gathered files open by number; numbers repeat across runs, so keys
    // carry the run.
    let page = json(format!("{base}/files/0/events.json")).await;
    assert_eq!(page["order"], "number");
    let keys: Vec<&str> = page["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys[..2], ["0101010101010101-0", "0202020202020202-0"]);
    let tree = json(format!("{base}/files/0/events.json?sort=tree")).await;
    let depths: Vec<u64> = tree["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["depth"].as_u64().unwrap())
        .collect();
    assert_eq!(depths, [0, 1, 2, 0, 1, 2], "each run's own parents");

    let one = json(format!(
        "{base}/files/0/events.json?origin=0202020202020202"
    ))
    .await;
    assert_eq!(one["total"], 3);
    assert!(one["rows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["origin"] == "0202020202020202"));
    let found = json(format!(
        "{base}/files/0/locate.json?key=0202020202020202-2&sort=tree"
    ))
    .await;
    assert_eq!(found["position"], 5);
    assert_eq!(found["ancestors"], serde_json::json!([4, 3]));
    let events = get(format!("{base}/files/0/events")).await.text();
    assert!(
        events.contains("<option value=\"0202020202020202\">"),
        "{events}"
    );
}

#[test]
fn a_base_path_must_look_like_one() {
    for bad in ["view", "/view/", "/"] {
        assert_eq!(
            Viewer::builder().base_path(bad).build().unwrap_err(),
            ConfigError::BasePath(bad.into())
        );
    }
    assert!(Viewer::builder().base_path("/a/b").build().is_ok());
}

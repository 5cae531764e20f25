//! The dashboard of gatherers sharing a bucket, against a real S3 server
//! (moto): each one's shows the whole fleet (every publisher with its
//! lease, both gatherers, the incidents whichever stored them), follows a
//! SIGKILLed gatherer's publishers to the survivor, and keeps serving with
//! a notice when the server goes away.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use flog_testkit::{Moto, MOTO_ACCESS_KEY_ID};
use serde_json::Value;
use test_browser::http;

use crate::events::rotate;
use object_store::path::Path as Key;
use object_store::ObjectStoreExt as _;

use crate::s3::{s3_basedir, start, Reader, PREFIX};
use crate::support::{add_publisher, add_rule, Daemon, Service, PATIENCE};

/// Serves the dashboard on a free loopback port and reads the bucket for
/// it at most every 200 ms.
fn with_dashboard(basedir: &Path) {
    let config = basedir.join("gatherer.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text
        .replace(
            "storage = \"s3\"\n",
            "http = \"127.0.0.1:0\"\nstorage = \"s3\"\n",
        )
        .replace(
            "lease = \"3s\"\n",
            "lease = \"3s\"\ndashboard_refresh = \"200ms\"\n",
        );
    std::fs::write(&config, text).unwrap();
}

fn dashboard_url(daemon: &mut Daemon) -> String {
    let line = daemon.wait_line(&["dashboard at http://127.0.0.1:"]);
    let logged: Value = serde_json::from_str(&line).unwrap();
    logged["url"].as_str().unwrap().to_owned()
}

fn json(url: &str) -> Value {
    let response = http::get(url).unwrap();
    assert_eq!(response.status, 200, "{url}: {}", response.text());
    serde_json::from_str(&response.text()).unwrap()
}

/// What one dashboard says: its publishers and its gatherer's JSON.
struct Seen {
    publishers: Vec<Value>,
    gatherer: Value,
    incidents: Vec<Value>,
}

fn look(url: &str) -> Seen {
    Seen {
        publishers: json(&format!("{url}api/publishers"))
            .as_array()
            .unwrap()
            .clone(),
        gatherer: json(&format!("{url}api/gatherer")),
        incidents: json(&format!("{url}api/incidents?limit=1000"))
            .as_array()
            .unwrap()
            .clone(),
    }
}

impl Seen {
    fn live(&self) -> BTreeSet<String> {
        self.gatherer["bucket"]["gatherers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|g| g["live"] == true)
            .map(|g| g["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The holder of `id`'s unexpired lease.
    fn holder(&self, id: &str) -> Option<String> {
        let p = self.publishers.iter().find(|p| p["id"] == id)?;
        let lease = &p["lease"];
        (lease["expired"] == false).then(|| lease["holder"].as_str().unwrap().to_owned())
    }

    fn incident_names(&self) -> BTreeSet<String> {
        self.incidents
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// Polls `url`'s dashboard until `check` holds of what it says.
fn until(url: &str, what: &str, check: impl Fn(&Seen) -> bool) -> Seen {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let seen = look(url);
        if check(&seen) {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "waited in vain for {what}: {:#?} {:#?}",
            seen.gatherer,
            seen.publishers
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_gatherers_dashboard_shows_the_whole_fleet_of_the_bucket() {
    let Some(mut moto) = Moto::start("flog-dash") else {
        return;
    };
    let mut services = Vec::new();
    for _ in 0..4 {
        services.push(Service::start().await);
    }
    // A publisher no gatherer lists any more: known from the bucket alone.
    let gone = "old-1";
    let gone_name = "incident-2026-01-01T00-00-00.000000Z-0001";
    let gone_key = format!("incidents/{gone}/{gone_name}.flog.bz2");
    let reader = Reader::new(&moto);
    for (key, bytes) in [
        (gone_key.clone(), b"an old incident".to_vec()),
        (
            format!("incidents/{gone}/latest"),
            format!("{gone_name}\n").into_bytes(),
        ),
        (
            "classified/all".to_owned(),
            format!("{gone_key}\n").into_bytes(),
        ),
    ] {
        let key = Key::from(format!("{PREFIX}/{key}"));
        reader.store.put(&key, bytes.into()).await.unwrap();
    }

    let dir = tempfile::tempdir().unwrap();
    let mut daemons = Vec::new();
    let mut ids = Vec::new();
    let mut urls = Vec::new();
    let mut basedirs = Vec::new();
    for g in 0..2 {
        let basedir = s3_basedir(dir.path(), &format!("g{g}"), &moto);
        with_dashboard(&basedir);
        if g == 0 {
            // Its event files go to the bucket: the spool's figures.
            add_rule(&basedir, "[events]\n");
        }
        for (n, service) in services.iter().enumerate() {
            let url = service.publisher.url().to_string();
            add_publisher(&basedir, &format!("p{n}.url"), &url);
        }
        let mut daemon = start(&basedir, MOTO_ACCESS_KEY_ID);
        urls.push(dashboard_url(&mut daemon));
        let line = daemon.wait_line(&["sharing the publishers"]);
        let at = line.find("\"gatherer\":\"").unwrap() + "\"gatherer\":\"".len();
        ids.push(line[at..at + line[at..].find('"').unwrap()].to_owned());
        daemons.push(daemon);
        basedirs.push(basedir);
    }
    let mut expected: BTreeSet<String> = [gone_name.to_owned()].into();
    for service in &services {
        expected.insert(service.incident("app.db", 0));
    }
    let both: BTreeSet<String> = ids.iter().cloned().collect();
    let publisher_ids: Vec<String> = services.iter().map(Service::id).collect();

    // Each one's dashboard: every publisher, both gatherers live, each
    // publisher held by exactly one of them (two each), every incident.
    for (g, url) in urls.iter().enumerate() {
        let seen = until(url, "the whole fleet", |seen| {
            let holders: Vec<Option<String>> =
                publisher_ids.iter().map(|id| seen.holder(id)).collect();
            seen.live() == both
                && holders
                    .iter()
                    .all(|h| h.as_ref().is_some_and(|h| both.contains(h)))
                && ids
                    .iter()
                    .all(|id| holders.iter().filter(|h| h.as_ref() == Some(id)).count() == 2)
                && seen.incident_names() == expected
        });
        let bucket = &seen.gatherer["bucket"];
        assert_eq!(bucket["bucket"], format!("s3://flog-dash/{PREFIX}"));
        assert_eq!(bucket["this_gatherer"], ids[g].as_str());
        assert!(bucket["unreachable"].is_null(), "{bucket}");
        let this: Vec<&Value> = bucket["gatherers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g["this"] == true)
            .collect();
        assert_eq!(this.len(), 1);
        assert_eq!(this[0]["id"], ids[g].as_str());
        let old = seen.publishers.iter().find(|p| p["id"] == gone).unwrap();
        assert_eq!(old["local"], false);
        assert_eq!(old["latest"], gone_name);
        assert!(old["lease"].is_null());
        for id in &publisher_ids {
            let p = seen.publishers.iter().find(|p| p["id"] == *id).unwrap();
            assert_eq!(p["local"], true, "{p}");
        }
        let stored = seen
            .incidents
            .iter()
            .find(|i| i["name"] == gone_name)
            .unwrap();
        assert_eq!(stored["publisher"], gone);
        assert_eq!(stored["categories"], serde_json::json!(["unknown"]));
        // The spool is shown where event files go to the bucket.
        assert_eq!(
            seen.gatherer["spool"].is_object(),
            g == 0,
            "{}",
            seen.gatherer
        );
        let page = http::get(url).unwrap();
        assert_eq!(page.status, 200);
        let text = page.text();
        for id in &ids {
            assert!(text.contains(&format!("data-gatherer=\"{id}\"")), "{text}");
        }
        assert!(
            text.contains(&format!("{} (this gatherer)", ids[g])),
            "{text}"
        );
        assert!(
            text.contains(&format!("data-publisher=\"{gone}\"")),
            "{text}"
        );
        assert!(text.contains("held by g-"), "{text}");
    }

    // A rotated event file is uploaded: the spool says so.
    let rotated = rotate(&basedirs[0]);
    assert!(rotated.status.success(), "{rotated:?}");
    let seen = until(&urls[0], "an upload counted", |seen| {
        seen.gatherer["spool"]["uploaded_files"].as_u64() >= Some(1)
    });
    assert_eq!(seen.gatherer["spool"]["full"], false);
    let metrics = http::get(&format!("{}metrics", urls[0])).unwrap().text();
    assert!(
        metrics.contains("\nflog_gatherer_spool_uploaded_files_total "),
        "{metrics}"
    );
    assert!(
        metrics.contains("\nflog_gatherer_bucket_gatherers_live 2\n"),
        "{metrics}"
    );

    // g1 killed: g0's dashboard shows it no longer live and g0 holding
    // every publisher.
    daemons[1].signal("KILL");
    daemons[1].wait_exit();
    until(&urls[0], "the survivor holding all", |seen| {
        seen.live() == [ids[0].clone()].into()
            && publisher_ids
                .iter()
                .all(|id| seen.holder(id).as_ref() == Some(&ids[0]))
    });

    // The server stopped: the dashboard serves its last read with a notice.
    moto.down();
    let seen = until(&urls[0], "the notice", |seen| {
        seen.gatherer["bucket"]["unreachable"].is_object()
    });
    assert!(seen.incident_names() == expected, "{:?}", seen.incidents);
    let page = http::get(&urls[0]).unwrap();
    assert_eq!(page.status, 200);
    let text = page.text();
    assert!(text.contains("bucket unreachable since"), "{text}");
    assert!(text.contains("showing data from"), "{text}");
    moto.up();
    assert_eq!(daemons[0].stop().code(), Some(0));
    for service in services {
        service.publisher.shutdown().await;
    }
}

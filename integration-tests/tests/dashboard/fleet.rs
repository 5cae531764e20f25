//! The fleet, the incidents, trends, feeds, JSON and metrics of a real
//! gatherer, and the same again from its directory after a restart.

use flog_core::Level;
use serde_json::{json, Value};

use super::*;
use crate::gatherer::Service;

fn names(listed: &[Value]) -> Vec<String> {
    listed
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect()
}

// Long on purpose: one scenario whose steps build on the state the earlier ones left (real processes, sockets or a browser), so it reads top to bottom.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_what_the_gatherer_gathered() {
    let mut a = Service::start().await;
    let mut b = Service::start().await;
    let (a_id, b_id) = (a.id(), b.id());
    // A publisher nobody answers for: a port that was free a moment ago.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead: flog_wire::LogportUrl = format!(
        "flog+insecure://{}/dead-one/0123456789abcdef0123456789abcdef",
        closed.local_addr().unwrap()
    )
    .parse()
    .unwrap();
    drop(closed);

    let base = tempfile::tempdir().unwrap();
    let basedir = base.path();
    let mut config = config();
    config.publishers = vec![a.url().clone(), b.url().clone(), dead];
    let (mut gatherer, served) = gather_with_dashboard(basedir, config.clone()).await;

    let a1 = a
        .incident("app.db.pool", Level::WEIRD, "pool exhausted")
        .await;
    gatherer.stored(&a_id, &a1).await;
    let b1 = b.incident("app.net", Level::BAD, "link down").await;
    gatherer.stored(&b_id, &b1).await;
    let a2 = a.incident("app.db", Level::SCARY, "replica lag").await;
    gatherer.stored(&a_id, &a2).await;
    let b2 = b.incident("app.web", Level::WEIRD, "slow page").await;
    gatherer.stored(&b_id, &b2).await;

    // Newest first, with what the trigger said.
    let listed = served.wait_for_incidents(4).await;
    assert_eq!(
        names(&listed),
        [b2.as_str(), a2.as_str(), b1.as_str(), a1.as_str()]
    );
    assert_eq!(listed[1]["publisher"], json!(a_id));
    assert_eq!(listed[1]["categories"], json!(["database"]));
    assert_eq!(listed[1]["level"], json!("SCARY"));
    assert_eq!(listed[1]["facility"], json!("app.db"));
    assert_eq!(listed[1]["trigger"], json!("replica lag"));
    assert_eq!(listed[0]["categories"], json!(["unknown"]));
    assert_eq!(listed[1]["href"], json!(format!("/incidents/{a_id}/{a2}")));
    let newest = flog_core::Timestamp::parse(listed[0]["time"].as_str().unwrap()).unwrap();
    let oldest = flog_core::Timestamp::parse(listed[3]["time"].as_str().unwrap()).unwrap();
    assert!(newest >= oldest);

    // Filters.
    let only = |q: &str| {
        let q = q.to_owned();
        let served = &served;
        async move {
            names(
                served
                    .json(&format!("/api/incidents?{q}"))
                    .await
                    .as_array()
                    .unwrap(),
            )
        }
    };
    assert_eq!(
        only(&format!("publisher={a_id}")).await,
        [a2.as_str(), a1.as_str()]
    );
    assert_eq!(only("category=database").await, [a2.as_str(), a1.as_str()]);
    assert_eq!(only("category=network&limit=5").await, [b1.as_str()]);
    assert_eq!(only("limit=1").await, [b2.as_str()]);
    assert_eq!(
        only(&format!("since={}", listed[1]["time"].as_str().unwrap())).await,
        [b2.as_str(), a2.as_str()]
    );
    assert_eq!(
        only(&format!("until={}", listed[2]["time"].as_str().unwrap())).await,
        [a1.as_str()]
    );
    let bad = served.get("/api/incidents?since=tuesday").await;
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("since: not a time"), "{}", bad.text());

    // The publishers: the dead one first, the others working.
    let publishers = served
        .wait_for_publishers("two polled and one failing", |p| {
            p.len() == 3
                && p[0]["failing"] == json!(true)
                && p[1..].iter().all(|p| p["polls"].as_u64() > Some(0))
        })
        .await;
    assert_eq!(publishers[0]["id"], json!("dead-one"));
    assert_eq!(publishers[0]["connected"], json!(false));
    assert_eq!(publishers[0]["last_poll"], Value::Null);
    assert!(!publishers[0]["last_error"].as_str().unwrap().is_empty());
    assert!(publishers[0]["failures"].as_u64().unwrap() >= 1);
    let mut working: Vec<(String, u64)> = publishers[1..]
        .iter()
        .map(|p| {
            assert_eq!(p["connected"], json!(true));
            assert_eq!(p["contact"], json!("polled"));
            assert!(p["last_poll"].is_string());
            assert!(p["last_poll_duration"].as_f64().unwrap() >= 0.0);
            (
                p["id"].as_str().unwrap().to_owned(),
                p["incidents"].as_u64().unwrap(),
            )
        })
        .collect();
    working.sort();
    let mut expected = vec![(a_id.clone(), 2), (b_id.clone(), 2)];
    expected.sort();
    assert_eq!(working, expected);

    // The fleet page: broken first, the incidents newest first, each
    // opening in the viewer.
    let page = served.get("/").await;
    assert_eq!(page.status, 200);
    let html = page.text();
    let dead_at = html.find("data-publisher=\"dead-one\"").unwrap();
    let a_at = html.find(&format!("data-publisher=\"{a_id}\"")).unwrap();
    assert!(dead_at < a_at, "the broken publisher comes first");
    let rows: Vec<usize> = [b2.as_str(), a2.as_str(), b1.as_str(), a1.as_str()]
        .iter()
        .map(|n| html.find(&format!("data-name=\"{n}\"")).unwrap())
        .collect();
    assert!(rows.windows(2).all(|w| w[0] < w[1]), "newest first");
    let filtered = served.get("/?category=network").await.text();
    assert!(filtered.contains(&format!("data-name=\"{b1}\"")));
    assert!(!filtered.contains(&format!("data-name=\"{a1}\"")));

    let open = served.get(&format!("/incidents/{a_id}/{a2}")).await;
    assert_eq!(open.status, 303);
    let viewer = open.header("location").unwrap().to_owned();
    assert_eq!(viewer, "/view/files/0/events");
    let events = served.get(&viewer).await;
    assert_eq!(events.status, 200);
    let summary = served.json("/view/files/0/summary.json").await;
    assert_eq!(summary["name"], json!(a2));
    assert_eq!(served.get("/incidents/nobody/nothing").await.status, 404);

    // Trends: this hour holds them all.
    let trends = served.json("/api/trends?bucket=hour").await;
    assert_eq!(trends["starts"].as_array().unwrap().len(), 48);
    let sum = |c: &str| -> u64 {
        trends["categories"][c]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .sum()
    };
    assert_eq!((sum("database"), sum("network"), sum("unknown")), (2, 1, 1));
    let chart = served.get("/trends").await.text();
    assert!(chart.contains("<svg class=\"trend\""));
    assert!(chart.contains("data-category=\"database\""));
    assert_eq!(
        served.json("/api/trends?bucket=day").await["starts"]
            .as_array()
            .unwrap()
            .len(),
        30
    );

    // The feeds.
    let feed = served.get("/feed.atom").await;
    assert_eq!(
        feed.header("content-type"),
        Some("application/atom+xml; charset=utf-8")
    );
    let feed = feed.text();
    assert!(feed.starts_with(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">"
    ));
    assert_eq!(feed.matches("<entry>").count(), 4);
    assert!(feed.contains(&format!("<id>urn:flog:incident:{a_id}/{a2}</id>")));
    let db_feed = served.get("/feed/database.atom").await.text();
    assert_eq!(db_feed.matches("<entry>").count(), 2);
    assert!(db_feed.contains("<category term=\"database\"/>"));
    assert!(!db_feed.contains(&b1));
    assert_eq!(served.get("/feed/database").await.status, 404);

    // Metrics.
    let metrics = served.get("/metrics").await;
    assert_eq!(
        metrics.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let metrics = metrics.text();
    for line in [
        format!("flog_gatherer_incidents_stored{{publisher=\"{a_id}\",category=\"database\"}} 2"),
        format!("flog_gatherer_incidents_stored{{publisher=\"{b_id}\",category=\"network\"}} 1"),
        format!("flog_gatherer_incidents_stored{{publisher=\"{b_id}\",category=\"unknown\"}} 1"),
        format!("flog_gatherer_publisher_connected{{publisher=\"{a_id}\"}} 1"),
        "flog_gatherer_publisher_connected{publisher=\"dead-one\"} 0".to_owned(),
        "# TYPE flog_gatherer_fetch_failures_total counter".to_owned(),
        format!("flog_gatherer_fetch_failures_total{{publisher=\"{a_id}\"}} 0"),
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no {line:?} in\n{metrics}"
        );
    }
    let failures = metrics
        .lines()
        .find_map(|l| l.strip_prefix("flog_gatherer_fetch_failures_total{publisher=\"dead-one\"} "))
        .unwrap();
    assert!(failures.parse::<u64>().unwrap() >= 1);
    assert!(metrics.lines().any(|l| l.starts_with(&format!(
        "flog_gatherer_poll_duration_seconds_count{{publisher=\"{a_id}\"}} "
    ))));

    // Another host name is refused (DNS rebinding).
    let url = served.url("/api/incidents");
    let foreign = tokio::task::spawn_blocking(move || {
        http::get_with_host(&url, Some("evil.example:80")).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(foreign.status, 403);

    gatherer.stop().await;
    served.stop().await;
    a.stop().await;
    b.stop().await;

    // A new dashboard of the same directory, with no publisher running,
    // reads the same incidents from what was stored.
    let (served, _observer) = Served::start(basedir, &config, None).await;
    let again = served.wait_for_incidents(4).await;
    assert_eq!(again, listed);
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_asked_for_and_then_kept_in_a_cookie() {
    let base = tempfile::tempdir().unwrap();
    let (served, _observer) =
        Served::start(base.path(), &config(), Some("s3cret-token-0123456789")).await;
    for path in ["/", "/api/incidents", "/metrics", "/feed.atom", "/view/"] {
        let refused = served.get(path).await;
        assert_eq!(refused.status, 401, "{path}");
        assert!(!refused.text().contains("s3cret"));
    }
    assert_eq!(
        served.get("/?token=wrong-token-0123456789").await.status,
        401
    );
    let welcome = served.get("/?token=s3cret-token-0123456789").await;
    assert_eq!(welcome.status, 200);
    let cookie = welcome.header("set-cookie").unwrap();
    assert!(cookie.starts_with("flog_dashboard_token=s3cret-token-0123456789;"));
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    assert_eq!(
        served
            .get("/metrics?token=s3cret-token-0123456789")
            .await
            .status,
        200
    );
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_tells_dial_in_publishers_from_polled_ones() {
    use crate::dialout::{dialing_service, free_port};
    use flog_gatherer::GatherEvent;

    let polled = Service::start().await;
    let base = tempfile::tempdir().unwrap();
    let basedir = base.path();
    let mut config = config();
    config.publishers = vec![polled.url().clone()];
    config.listen = Some(([127, 0, 0, 1], free_port()).into());
    let (mut gatherer, served) = gather_with_dashboard(basedir, config).await;
    let GatherEvent::Listening { url } = gatherer
        .wait_for("the gatherer to listen", |e| {
            matches!(e, GatherEvent::Listening { .. })
        })
        .await
    else {
        unreachable!()
    };
    let dialing = dialing_service(&url).await;
    let (polled_id, dialing_id) = (polled.id(), dialing.id());

    let contact = |listed: &[Value], id: &str| {
        listed
            .iter()
            .find(|p| p["id"] == json!(id))
            .map(|p| (p["contact"].clone(), p["connected"].clone()))
    };
    let listed = served
        .wait_for_publishers("both connected", |listed| {
            contact(listed, &polled_id).is_some_and(|(_, c)| c == json!(true))
                && contact(listed, &dialing_id).is_some_and(|(_, c)| c == json!(true))
        })
        .await;
    assert_eq!(contact(&listed, &polled_id).unwrap().0, json!("polled"));
    assert_eq!(contact(&listed, &dialing_id).unwrap().0, json!("dial-in"));
    // And on the page.
    let page = served.get("/").await.text();
    assert!(page.contains("dial-in"), "{page}");
    gatherer.stop().await;
    served.stop().await;
}

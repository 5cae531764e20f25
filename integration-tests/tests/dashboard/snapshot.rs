//! "Record an incident now" from the dashboard, end to end: the fleet
//! page's form and the JSON route make the gatherer ask a real publisher
//! over its connection; the publisher declares an incident whose trigger is
//! the reason, and the dashboard links to it once gathered. A GET, a
//! forged form, a cross-site post and a missing token change nothing.

use serde_json::{json, Value};

use super::*;
use crate::gatherer::Service;

/// The reason, hostile: it must be inert on every page.
const HOSTILE_REASON: &str = "<script>window.__pwned=1</script> p99 doubled";

/// The form token the fleet page's forms carry.
fn form_token(html: &str) -> String {
    let start = html
        .find("name=\"form_token\" value=\"")
        .expect("the fleet page has a snapshot form")
        + "name=\"form_token\" value=\"".len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// A form body, percent-encoded.
fn form_body(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let v: String = v
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            format!("{k}={v}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

/// Waits until `/incidents/ID/NAME` opens in the viewer (a redirect), which
/// it does once the gatherer has gathered it.
async fn wait_until_it_opens(served: &Served, href: &str) -> String {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let response = served.get(href).await;
        if response.status == 303 {
            return response.header("location").unwrap().to_owned();
        }
        assert_eq!(response.status, 404, "{}", response.text());
        assert!(
            response.text().contains("has been gathered (yet)"),
            "{}",
            response.text()
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "{href} never opened"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

// Long on purpose: one scenario whose steps build on the state the earlier ones left (real processes, sockets or a browser), so it reads top to bottom.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_button_records_an_incident_and_the_dashboard_links_to_it() {
    let mut service = Service::start().await;
    let id = service.id();
    let base = tempfile::tempdir().unwrap();
    let mut config = config();
    config.publishers = vec![service.url().clone()];
    let (mut gatherer, served) = gather_with_full_dashboard(base.path(), config).await;
    served
        .wait_for_publishers("a poll", |p| {
            p.len() == 1 && p[0]["polls"].as_u64() > Some(0)
        })
        .await;
    let logger = service.logger.clone();
    let declared = || logger.incident_stats().declared;

    let fleet = served.get("/").await.text();
    let action = format!("action=\"/publishers/{id}/snapshot\"");
    assert!(fleet.contains(&action), "{fleet}");
    assert!(fleet.contains("Record an incident now"));
    let token = form_token(&fleet);
    assert_eq!(token.len(), 32);
    let url = served.url(&format!("/publishers/{id}/snapshot"));

    // Nothing but a proper POST from the dashboard's own page does anything.
    let got = served.get(&format!("/publishers/{id}/snapshot")).await;
    assert_eq!(got.status, 405, "a GET changes nothing: {}", got.text());
    let got = served.get(&format!("/api/publishers/{id}/snapshot")).await;
    assert_eq!(got.status, 405);
    let no_token = post(
        url.clone(),
        vec![(FORM.0, FORM.1.into())],
        form_body(&[("reason", "x")]),
    )
    .await;
    assert_eq!(no_token.status, 403, "{}", no_token.text());
    let wrong = form_body(&[("reason", "x"), ("form_token", &"0".repeat(32))]);
    assert_eq!(
        post(url.clone(), vec![(FORM.0, FORM.1.into())], wrong)
            .await
            .status,
        403
    );
    let cross_site = post(
        url.clone(),
        vec![
            (FORM.0, FORM.1.into()),
            ("Origin", "http://evil.example".into()),
            ("Sec-Fetch-Site", "cross-site".into()),
        ],
        form_body(&[("reason", "x"), ("form_token", &token)]),
    )
    .await;
    assert_eq!(cross_site.status, 403, "{}", cross_site.text());
    let too_long = "y".repeat(flog_wire::MAX_SNAPSHOT_REASON + 1);
    let long = post(
        url.clone(),
        vec![(FORM.0, FORM.1.into())],
        form_body(&[("reason", &too_long), ("form_token", &token)]),
    )
    .await;
    assert_eq!(long.status, 400, "{}", long.text());
    assert_eq!(declared(), 0, "none of those declared anything");

    // The button: the publisher declares an incident, the reason its trigger.
    let page = post(
        url.clone(),
        vec![(FORM.0, FORM.1.into()), ("Origin", "null".into())],
        form_body(&[("reason", HOSTILE_REASON), ("form_token", &token)]),
    )
    .await;
    let html = page.text();
    assert_eq!(page.status, 200, "{html}");
    assert!(html.contains("data-outcome=\"declared\""), "{html}");
    assert!(
        !html.contains("<script>window.__pwned"),
        "the reason is inert: {html}"
    );
    assert!(
        html.contains("&#60;script&#62;window.__pwned=1&#60;/script&#62; p99 doubled"),
        "{html}"
    );
    let name = service.finished().await;
    assert!(
        html.contains(&format!("id=\"snapshot-incident\">{name}</code>")),
        "{html}"
    );
    let href = format!("/incidents/{id}/{name}");
    assert!(html.contains(&format!("href=\"{href}\"")), "{html}");
    assert_eq!(declared(), 1);
    let trigger = flog_gatherer::read_trigger(&service.file(&name))
        .unwrap()
        .expect("the incident has a trigger");
    assert_eq!(trigger.render(), HOSTILE_REASON);
    assert_eq!(trigger.facility(), "flog.snapshot");

    // Once gathered, the link opens it, and the fleet lists it, inert.
    gatherer.stored(&id, &name).await;
    let viewer = wait_until_it_opens(&served, &href).await;
    assert!(viewer.starts_with("/view/files/"), "{viewer}");
    let listed = served.wait_for_incidents(1).await;
    assert_eq!(listed[0]["name"], json!(name));
    assert_eq!(listed[0]["trigger"], json!(HOSTILE_REASON));
    assert_eq!(listed[0]["facility"], json!("flog.snapshot"));
    let fleet = served.get("/").await.text();
    assert!(fleet.contains(&format!("data-name=\"{name}\"")));
    assert!(!fleet.contains("<script>window.__pwned"), "{fleet}");

    // The JSON twin: JSON only, and the same outcome, typed.
    let api = served.url(&format!("/api/publishers/{id}/snapshot"));
    let not_json = post(
        api.clone(),
        vec![(FORM.0, FORM.1.into())],
        "reason=x".into(),
    )
    .await;
    assert_eq!(not_json.status, 415, "{}", not_json.text());
    let answer = post(
        api.clone(),
        vec![("Content-Type", "application/json".into())],
        json!({"reason": "from the API"}).to_string(),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let answer: Value = serde_json::from_slice(&answer.body).unwrap();
    let second = service.finished().await;
    assert_eq!(answer["outcome"], json!("declared"));
    assert_eq!(answer["publisher"], json!(id));
    assert_eq!(answer["incident"], json!(second));
    assert_eq!(answer["href"], json!(format!("/incidents/{id}/{second}")));
    assert_eq!(answer["gathered"], json!(false));
    gatherer.stored(&id, &second).await;
    wait_until_it_opens(&served, &format!("/incidents/{id}/{second}")).await;
    assert_eq!(declared(), 2);

    // A publisher the gatherer does not know.
    let unknown = post(
        served.url("/api/publishers/nobody/snapshot"),
        vec![("Content-Type", "application/json".into())],
        json!({"reason": "?"}).to_string(),
    )
    .await;
    assert_eq!(unknown.status, 404);
    let unknown: Value = serde_json::from_slice(&unknown.body).unwrap();
    assert_eq!(unknown["outcome"], json!("unknown-publisher"));

    // A stopped publisher: unreachable, said so.
    service.stop().await;
    let gone = post(
        api,
        vec![("Content-Type", "application/json".into())],
        json!({"reason": "anyone there?"}).to_string(),
    )
    .await;
    let text = gone.text();
    assert_eq!(gone.status, 502, "{text}");
    let gone: Value = serde_json::from_slice(&gone.body).unwrap();
    assert_eq!(gone["outcome"], json!("unreachable"), "{gone}");
    assert!(!gone["message"].as_str().unwrap().is_empty());

    gatherer.stop().await;
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_the_button_needs_it() {
    let mut service = Service::start().await;
    let id = service.id();
    let base = tempfile::tempdir().unwrap();
    let mut config = config();
    config.publishers = vec![service.url().clone()];
    let gatherer = flog_gatherer::Gatherer::new(base.path(), config.clone()).unwrap();
    let token = "s3cret-token-0123456789";
    let (served, observer) =
        Served::start_with(base.path(), &config, Some(token), Some(&gatherer)).await;
    let mut running = Running::run(gatherer, observer);
    running
        .wait_for("a poll", |e| {
            matches!(e, flog_gatherer::GatherEvent::Polled { .. })
        })
        .await;
    let fleet = served.get(&format!("/?token={token}")).await;
    assert_eq!(fleet.status, 200);
    let form = form_token(&fleet.text());
    let url = served.url(&format!("/publishers/{id}/snapshot"));
    let body = form_body(&[("reason", "with a token"), ("form_token", &form)]);

    let without = post(url.clone(), vec![(FORM.0, FORM.1.into())], body.clone()).await;
    assert_eq!(without.status, 401, "{}", without.text());
    let wrong = post(
        url.clone(),
        vec![
            (FORM.0, FORM.1.into()),
            ("Authorization", "Bearer not-the-token-at-all".into()),
        ],
        body.clone(),
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(service.logger.incident_stats().declared, 0);

    let cookie = format!("flog_dashboard_token={token}");
    let with = post(url, vec![(FORM.0, FORM.1.into()), ("Cookie", cookie)], body).await;
    assert_eq!(with.status, 200, "{}", with.text());
    assert!(with.text().contains("data-outcome=\"declared\""));
    let name = service.finished().await;
    assert_eq!(service.logger.incident_stats().declared, 1);
    running.stored(&id, &name).await;

    running.stop().await;
    served.stop().await;
    service.stop().await;
}

/// A publisher of a logger built from `builder` (trailing off), with a
/// logdir of its own.
async fn publisher_of(
    builder: flog_core::LoggerBuilder,
) -> (
    tempfile::TempDir,
    flog_core::Logger,
    flog_publisher::Publisher,
) {
    let dir = tempfile::tempdir().unwrap();
    let logger = builder.trailing(false).build().unwrap();
    logger.set_logdir(dir.path()).unwrap();
    let publisher = flog_publisher::Publisher::builder(logger.clone())
        .start()
        .await
        .unwrap();
    (dir, logger, publisher)
}

/// A gatherer of `publisher` with the full dashboard, after its first poll.
async fn polled_with_dashboard(
    publisher: &flog_publisher::Publisher,
) -> (tempfile::TempDir, Running, Served) {
    let base = tempfile::tempdir().unwrap();
    let mut config = config();
    config.publishers = vec![publisher.url().clone()];
    let (mut gatherer, served) = gather_with_full_dashboard(base.path(), config).await;
    gatherer
        .wait_for("a poll", |e| {
            matches!(e, flog_gatherer::GatherEvent::Polled { .. })
        })
        .await;
    (base, gatherer, served)
}

/// "Record an incident now" for publisher `id`, through the JSON route.
async fn ask_api(served: &Served, id: &str, reason: &str) -> test_browser::http::Response {
    post(
        served.url(&format!("/api/publishers/{id}/snapshot")),
        vec![("Content-Type", "application/json".into())],
        json!({ "reason": reason }).to_string(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storm_control_is_reported_as_suppressed() {
    // Storm control allows one incident an hour.
    let (_logdir, logger, publisher) = publisher_of(
        flog_core::Logger::builder().incident_rate_limit(1, std::time::Duration::from_secs(3600)),
    )
    .await;
    let id = publisher.url().publisher_id().to_owned();
    let (_base, gatherer, served) = polled_with_dashboard(&publisher).await;
    let ask = |reason: &'static str| ask_api(&served, &id, reason);
    let first: Value = serde_json::from_slice(&ask("first").await.body).unwrap();
    assert_eq!(first["outcome"], json!("declared"), "{first}");
    let second = ask("second").await;
    assert_eq!(second.status, 200);
    let second: Value = serde_json::from_slice(&second.body).unwrap();
    assert_eq!(second["outcome"], json!("suppressed"), "{second}");
    assert_eq!(second.get("incident"), None);
    assert_eq!(logger.incident_stats().suppressed, 1);
    gatherer.stop().await;
    served.stop().await;
    publisher.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_that_takes_no_snapshots_refuses_and_the_dashboard_says_why() {
    // Its operator keeps snapshot events below the threshold: it cannot
    // declare one, and says so.
    let (_logdir, logger, publisher) = publisher_of(
        flog_core::Logger::builder().facility_threshold("flog.snapshot", flog_core::Level::BAD),
    )
    .await;
    let id = publisher.url().publisher_id().to_owned();
    let (_base, gatherer, served) = polled_with_dashboard(&publisher).await;
    let refused = ask_api(&served, &id, "look now").await;
    assert_eq!(refused.status, 409, "{}", refused.text());
    let body: Value = serde_json::from_slice(&refused.body).unwrap();
    assert_eq!(body["outcome"], json!("refused"), "{body}");
    assert!(
        body.to_string().contains("below the threshold"),
        "the publisher's reason is passed on: {body}"
    );
    assert_eq!(logger.incident_stats().declared, 0);
    gatherer.stop().await;
    served.stop().await;
    publisher.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dial_in_publisher_is_asked_over_its_session_and_not_once_gone() {
    use crate::dialout::{dialing_service, free_port, listening_gatherer};
    use flog_gatherer::{GatherEvent, SnapshotError};

    let base = tempfile::tempdir().unwrap();
    let (mut gatherer, url) = listening_gatherer(base.path(), free_port()).await;
    let mut service = dialing_service(&url).await;
    let id = service.id();
    gatherer
        .wait_for(
            "the dial-in's first poll",
            |e| matches!(e, GatherEvent::Polled { publisher_id, .. } if *publisher_id == id),
        )
        .await;
    let handle = gatherer.gatherer.snapshots();
    let snap = handle.request(&id, "over the dial-in").await.unwrap();
    assert_eq!(snap.outcome, flog_wire::SnapshotOutcome::Declared);
    let name = service.finished().await;
    assert_eq!(snap.incident.as_deref(), Some(name.as_str()));
    gatherer.stored(&id, &name).await;

    // Gone: the gatherer has no way to reach it, and says so (the request
    // may first meet the connection closing, as unreachable).
    service.stop().await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match handle.request(&id, "anyone?").await {
            Err(SnapshotError::NotConnected { publisher }) => {
                assert_eq!(publisher, id);
                break;
            }
            Err(SnapshotError::Unreachable(_)) => {}
            other => panic!("expected not connected, got {other:?}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never not connected"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let message = SnapshotError::NotConnected {
        publisher: id.clone(),
    }
    .to_string();
    assert!(message.contains("dials in"), "{message}");
    assert!(matches!(
        handle.request("nobody", "?").await,
        Err(SnapshotError::UnknownPublisher(_))
    ));
    gatherer.stop().await;
}

/// A publisher on `addr` recording into `logdir` (its identity, so its URL,
/// kept there across restarts).
async fn publisher_at(
    logdir: &std::path::Path,
    addr: std::net::SocketAddr,
) -> (flog_core::Logger, flog_publisher::Publisher) {
    let logger = flog_core::Logger::builder()
        .trailing(false)
        .build()
        .unwrap();
    logger.set_logdir(logdir).unwrap();
    let publisher = flog_publisher::Publisher::builder(logger.clone())
        .listen(addr)
        .start()
        .await
        .unwrap();
    (logger, publisher)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_while_waiting_to_retry_connects_at_once() {
    let logdir = tempfile::tempdir().unwrap();
    let addr = crate::dialout::free_port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], addr).into();
    let (_, publisher) = publisher_at(logdir.path(), addr).await;
    let url = publisher.url().clone();
    let id = url.publisher_id().to_owned();
    publisher.shutdown().await;

    // The gatherer fails to connect and waits an hour to try again.
    let base = tempfile::tempdir().unwrap();
    let mut config = config();
    config.publishers = vec![url];
    config.min_backoff = std::time::Duration::from_secs(3600);
    config.max_backoff = config.min_backoff;
    let mut gatherer = Running::start(base.path(), config);
    gatherer
        .wait_for("a failed connect", |e| {
            matches!(e, flog_gatherer::GatherEvent::Failed { retry_in, .. } if retry_in.as_secs() >= 60)
        })
        .await;

    // Back on the same address; the operator asks, the gatherer connects now.
    let (logger, publisher) = publisher_at(logdir.path(), addr).await;
    let snap = gatherer
        .gatherer
        .snapshots()
        .request(&id, "after the restart")
        .await
        .unwrap();
    assert_eq!(snap.outcome, flog_wire::SnapshotOutcome::Declared);
    assert_eq!(logger.incident_stats().declared, 1);
    gatherer
        .stored(&id, snap.incident.as_deref().unwrap())
        .await;
    gatherer.stop().await;
    publisher.shutdown().await;
}

//! A publisher's markup stays text in the dashboard's pages, feeds and JSON.

use flog_core::Level;
use serde_json::json;

use super::*;
use crate::gatherer::Service;

/// What the hostile service logs: a facility, a message and a field that
/// would run script if they were taken as markup.
const FACILITY: &str = "app.db.<script>window.__pwned='facility'</script>";
const MESSAGE: &str = "</td><script>window.__pwned='message'</script> {evil}";
const FIELD: &str = "<img src=x onerror=\"window.__pwned='field'\">&amp;";

/// The trigger text as rendered: the message with the field in it.
fn rendered() -> String {
    MESSAGE.replace("{evil}", FIELD)
}

/// Declares the hostile incident on `service`; returns its name.
pub(super) async fn hostile_incident(service: &mut Service) -> String {
    service
        .logger
        .event(Level::BAD)
        .facility(FACILITY)
        .format(MESSAGE)
        .field("evil", FIELD)
        .emit();
    service.finished().await
}

/// The text of markup escaped as askama escapes it (numeric entities), `&`
/// last so that an escaped entity stays one.
fn unescape(text: &str) -> String {
    let mut out = text.to_owned();
    for (entity, c) in [
        ("&#60;", "<"),
        ("&#62;", ">"),
        ("&#39;", "'"),
        ("&#34;", "\""),
        ("&#38;", "&"),
    ] {
        out = out.replace(entity, c);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_from_a_publisher_is_inert_in_pages_feeds_and_json() {
    let mut service = Service::start().await;
    let id = service.id();
    let base = tempfile::tempdir().unwrap();
    let mut config = config();
    config.publishers = vec![service.url().clone()];
    let (mut gatherer, served) = gather_with_dashboard(base.path(), config).await;
    let name = hostile_incident(&mut service).await;
    gatherer.stored(&id, &name).await;

    // JSON carries the text as it was, as JSON.
    let listed = served.wait_for_incidents(1).await;
    assert_eq!(listed[0]["facility"], json!(FACILITY));
    assert_eq!(listed[0]["trigger"], json!(rendered()));
    assert_eq!(listed[0]["categories"], json!(["database"]));

    // Pages and feeds carry it escaped: no tag of it survives.
    for path in [
        "/",
        "/?category=database",
        "/trends",
        "/feed.atom",
        "/feed/database.atom",
    ] {
        let response = served.get(path).await;
        assert_eq!(response.status, 200, "{path}");
        let text = response.text();
        for raw in ["<script>window", "<img", "</td><script>"] {
            assert!(!text.contains(raw), "{path} holds {raw:?} raw:\n{text}");
        }
        if path != "/trends" {
            let shown = unescape(&text);
            assert!(
                shown.contains(FACILITY),
                "{path} does not show the facility as text"
            );
            assert!(
                shown.contains(&rendered()),
                "{path} does not show the trigger as text"
            );
        }
        let csp = response.header("content-security-policy").unwrap();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
    }
    let metrics = served.get("/metrics").await.text();
    assert!(metrics.contains(&format!(
        "flog_gatherer_incidents_stored{{publisher=\"{id}\",category=\"database\"}} 1"
    )));

    gatherer.stop().await;
    served.stop().await;
    service.stop().await;
}

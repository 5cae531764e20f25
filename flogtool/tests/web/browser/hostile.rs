//! Markup in a file stays text.

use serde_json::{json, Value};
use test_browser::Browser;

use super::{browser, strings, wait_for_keys};
use crate::util::{hostile_incident, WebServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_in_a_file_stays_text_in_a_real_browser() {
    let Some(browser) = browser().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let hostile = hostile_incident(dir.path());
    let server = WebServer::start(&[&hostile], &[]);

    browser.goto(&server.at("files/0")).await.unwrap();
    browser
        .wait_for("the summary", "return document.getElementById('covering')")
        .await
        .unwrap();
    check_inert(&browser, &["version", "label"]).await;
    browser.screenshot("web-hostile-summary").await.unwrap();

    browser.goto(&server.at("files/0/events")).await.unwrap();
    wait_for_keys(&browser, "the rows", &strings(["0", "1"])).await;
    check_inert(
        &browser,
        &[
            "facility",
            "message",
            "field name",
            "field value",
            "failure",
            "failure text",
            "label",
        ],
    )
    .await;
    let failure = browser
        .eval("return document.querySelector('pre.failure').textContent")
        .await
        .unwrap();
    assert_eq!(
        failure,
        "</pre><script>window.__pwned = 'failure text'</script>"
    );
    browser.screenshot("web-hostile-events").await.unwrap();
    browser.close().await;
}

/// Nothing ran, no element came from the file, and each payload is on the
/// page as text.
async fn check_inert(browser: &Browser, payloads: &[&str]) {
    let report = browser
        .eval(
            "return {
                pwned: window.__pwned === undefined ? null : String(window.__pwned),
                scripts: Array.from(document.scripts).map(s => s.src.replace(location.origin, '')),
                images: document.images.length,
                italics: document.querySelectorAll('i, b').length,
                text: document.body.textContent + ' ' + document.title,
            }",
        )
        .await
        .unwrap();
    assert_eq!(report["pwned"], Value::Null, "a payload ran");
    assert_eq!(report["scripts"], json!(["/assets/viewer.js"]));
    assert_eq!(report["images"], 0);
    assert_eq!(report["italics"], 0);
    let text = report["text"].as_str().unwrap();
    for payload in payloads {
        assert!(
            text.contains(&format!("window.__pwned = '{payload}'"))
                || text.contains(&format!("window.__pwned='{payload}'")),
            "{payload} is not on the page as text"
        );
    }
}

//! The dashboard in a real headless Chromium: the fleet, a filter, an
//! incident opened in the viewer, the trends, and hostile text left inert.

use flog_core::Level;
use serde_json::{json, Value};
use test_browser::Browser;

use super::hostile::hostile_incident;
use super::*;
use crate::gatherer::Service;

// Long on purpose: one scenario whose steps build on the state the earlier ones left (real processes, sockets or a browser), so it reads top to bottom.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_works_in_a_real_browser() {
    let Some(browser) = Browser::start().await.expect("the browser starts") else {
        return;
    };
    let mut service = Service::start().await;
    let id = service.id();
    let base = tempfile::tempdir().unwrap();
    let mut config = config();
    config.publishers = vec![service.url().clone()];
    let (mut gatherer, served) = gather_with_dashboard(base.path(), config).await;
    let net = service
        .incident("app.net", Level::WEIRD, "link flapping")
        .await;
    gatherer.stored(&id, &net).await;
    let hostile = hostile_incident(&mut service).await;
    gatherer.stored(&id, &hostile).await;
    served.wait_for_incidents(2).await;
    served
        .wait_for_publishers("a poll", |p| {
            p.len() == 1 && p[0]["polls"].as_u64() > Some(0)
        })
        .await;

    browser.goto(&served.url("/")).await.unwrap();
    let page = browser
        .wait_for(
            "the fleet",
            "return document.getElementById('incidents') && {
                publishers: Array.from(document.querySelectorAll('#publishers tbody tr'))
                    .map(r => [r.dataset.publisher, r.querySelector('.state').textContent]),
                incidents: Array.from(document.querySelectorAll('#incidents tbody tr'))
                    .map(r => r.dataset.name),
                triggers: Array.from(document.querySelectorAll('#incidents td.trigger'))
                    .map(t => t.textContent),
                pwned: window.__pwned === undefined ? null : String(window.__pwned),
                images: document.images.length,
                scripts: Array.from(document.scripts).map(s => s.src.replace(location.origin, '')),
            }",
        )
        .await
        .unwrap();
    assert_eq!(page["publishers"], json!([[id, "connected"]]));
    assert_eq!(page["incidents"], json!([hostile, net]));
    assert_eq!(page["pwned"], Value::Null, "a payload ran");
    assert_eq!(page["images"], 0);
    assert_eq!(page["scripts"], json!(["/view/assets/viewer.js"]));
    assert!(page["triggers"][0]
        .as_str()
        .unwrap()
        .starts_with("</td><script>window.__pwned='message'</script>"));
    browser.screenshot("dashboard-fleet").await.unwrap();

    // Filter by category with the form.
    browser
        .eval("document.querySelector('select[name=category]').value = 'network'; return null")
        .await
        .unwrap();
    browser
        .click("form.filters button[type=submit]")
        .await
        .unwrap();
    let filtered = browser
        .wait_for(
            "the filtered list",
            "return location.search.includes('category=network') && document.getElementById('incidents')
                && Array.from(document.querySelectorAll('#incidents tbody tr')).map(r => r.dataset.name)",
        )
        .await
        .unwrap();
    assert_eq!(filtered, json!([net]));

    // Open it: the viewer's events page of that incident.
    browser.click("#incidents a.open").await.unwrap();
    let opened = browser
        .wait_for(
            "the incident in the viewer",
            "const l = document.getElementById('list');
             return l && l.dataset.state === 'ready' && {
                path: location.pathname,
                rows: Array.from(document.querySelectorAll('#spacer .row:not(.placeholder) .line'))
                    .map(r => r.textContent),
             }",
        )
        .await
        .unwrap();
    assert_eq!(opened["path"], json!("/view/files/0/events"));
    assert!(
        opened["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("link flapping")),
        "{opened}"
    );
    browser.screenshot("dashboard-incident").await.unwrap();

    // The trends: a chart per category, bars drawn.
    browser.goto(&served.url("/trends")).await.unwrap();
    let charts = browser
        .wait_for(
            "the charts",
            "const s = document.querySelectorAll('section.trend');
             return s.length > 0 && Array.from(s).map(c => [c.dataset.category,
                Array.from(c.querySelectorAll('rect.bar')).filter(b => Number(b.getAttribute('height')) > 0).length,
                c.querySelectorAll('rect.bar').length])",
        )
        .await
        .unwrap();
    assert_eq!(charts, json!([["database", 1, 48], ["network", 1, 48]]));
    browser.screenshot("dashboard-trends").await.unwrap();

    browser.close().await;
    gatherer.stop().await;
    served.stop().await;
    service.stop().await;
}

/// "Record an incident now" clicked in the browser: the result page says
/// declared, the hostile reason is inert, and its link opens the incident
/// in the viewer once gathered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_record_button_works_in_a_real_browser() {
    let Some(browser) = Browser::start().await.expect("the browser starts") else {
        return;
    };
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
    let reason = "<img src=x onerror=\"window.__pwned=1\"> disk latency up";

    browser.goto(&served.url("/")).await.unwrap();
    browser
        .wait_for(
            "the button",
            "return document.querySelector('form.snapshot button') !== null",
        )
        .await
        .unwrap();
    browser
        .type_into("form.snapshot input[name=reason]", reason)
        .await
        .unwrap();
    browser.screenshot("dashboard-fleet-record").await.unwrap();
    browser
        .click("form.snapshot button[type=submit]")
        .await
        .unwrap();
    let result = browser
        .wait_for(
            "the outcome",
            "const o = document.getElementById('snapshot-outcome');
             return o && {
                outcome: o.dataset.outcome,
                reason: document.getElementById('snapshot-reason').textContent,
                incident: document.getElementById('snapshot-incident').textContent,
                images: document.images.length,
                pwned: window.__pwned === undefined ? null : String(window.__pwned),
             }",
        )
        .await
        .unwrap();
    assert_eq!(result["outcome"], json!("declared"), "{result}");
    assert_eq!(result["reason"], json!(reason));
    assert_eq!(result["images"], 0, "the reason is text, not markup");
    assert_eq!(result["pwned"], Value::Null);
    let name = service.finished().await;
    assert_eq!(result["incident"], json!(name));
    let trigger = flog_gatherer::read_trigger(&service.file(&name))
        .unwrap()
        .unwrap();
    assert_eq!(trigger.render(), reason);
    browser.screenshot("dashboard-snapshot").await.unwrap();

    // Gathered, the result page's link opens it in the viewer.
    gatherer.stored(&id, &name).await;
    served.wait_for_incidents(1).await;
    browser.click("#snapshot-open").await.unwrap();
    let opened = browser
        .wait_for(
            "the incident in the viewer",
            "const l = document.getElementById('list');
             return l && l.dataset.state === 'ready' && {
                path: location.pathname,
                rows: Array.from(document.querySelectorAll('#spacer .row:not(.placeholder) .line'))
                    .map(r => r.textContent),
                pwned: window.__pwned === undefined ? null : String(window.__pwned),
             }",
        )
        .await
        .unwrap();
    assert!(
        opened["path"].as_str().unwrap().starts_with("/view/files/"),
        "{opened}"
    );
    assert!(
        opened["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("disk latency up")),
        "{opened}"
    );
    assert_eq!(opened["pwned"], Value::Null);

    browser.close().await;
    gatherer.stop().await;
    served.stop().await;
    service.stop().await;
}

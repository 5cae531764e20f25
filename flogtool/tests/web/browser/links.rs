//! Links and permalinks, and reloading a file that grew.

use serde_json::json;

use super::{browser, strings, wait_for_keys};
use crate::util::{request_incident, WebServer};

// Long on purpose: one scenario whose steps build on the state the earlier ones left (real processes, sockets or a browser), so it reads top to bottom.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_lead_from_the_summary_to_a_level_and_to_an_event() {
    let Some(browser) = browser().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let incident = request_incident(&dir.path().join("logs"));
    let server = WebServer::start(&[&incident], &[]);

    browser.goto(&server.url).await.unwrap();
    browser
        .wait_for("the summary", "return document.getElementById('covering')")
        .await
        .unwrap();
    assert!(browser.url().await.unwrap().ends_with("/files/0"));
    let covering = browser
        .eval("return document.getElementById('covering').textContent")
        .await
        .unwrap();
    assert_eq!(covering, "6 events covering 0.300000 seconds");
    browser.screenshot("web-summary").await.unwrap();

    // Summary -> the WEIRD events.
    browser.click("#levels a[href$='levels=30']").await.unwrap();
    wait_for_keys(&browser, "the WEIRD events", &strings(["1", "2", "3"])).await;
    assert!(browser
        .url()
        .await
        .unwrap()
        .ends_with("/files/0/events?levels=30"));
    let ticked = browser
        .eval("return Array.from(document.querySelectorAll('input[name=level]:checked')).map(b => b.value)")
        .await
        .unwrap();
    assert_eq!(ticked, json!(["30"]));
    browser.screenshot("web-events-level-weird").await.unwrap();

    // The trigger's permalink.
    browser.click("#event-3 a.num").await.unwrap();
    browser
        .wait_for(
            "the permalink target",
            "return document.querySelector('#event-3.target') !== null",
        )
        .await
        .unwrap();
    let permalink = browser.url().await.unwrap();
    assert!(
        permalink.ends_with("/files/0/events?levels=30#event-3"),
        "{permalink}"
    );

    // A permalink opened afresh, from the summary's trigger list: the event is
    // marked and in view.
    browser.goto(&server.at("files/0")).await.unwrap();
    browser.click("#triggers a").await.unwrap();
    browser
        .wait_for(
            "the trigger in view",
            "const r = document.querySelector('#event-3.target');
             if (!r) return false;
             const box = r.getBoundingClientRect();
             const list = document.getElementById('list').getBoundingClientRect();
             return box.top >= list.top && box.bottom <= list.bottom;",
        )
        .await
        .unwrap();
    assert!(browser
        .url()
        .await
        .unwrap()
        .ends_with("/files/0/events#event-3"));
    browser.screenshot("web-events-permalink").await.unwrap();

    // A permalink to an event the filters hide says so, and offers them all.
    browser
        .goto(&server.at("files/0/events?levels=30#event-5"))
        .await
        .unwrap();
    browser
        .wait_for("the hidden notice", "const n = document.getElementById('notice'); return !n.hidden && n.textContent.includes('hidden by the filters')")
        .await
        .unwrap();
    browser.click("#notice button").await.unwrap();
    browser
        .wait_for(
            "all events and the target",
            "return document.querySelector('#event-5.target') !== null",
        )
        .await
        .unwrap();
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloading_shows_what_a_recording_incident_gained() {
    let Some(browser) = browser().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let logdir = dir.path().join("logs");
    let logger = flog_core::Logger::builder()
        .trailing_event_limit(1000)
        .trailing_delay(std::time::Duration::from_secs(3600))
        .build()
        .unwrap();
    logger.set_logdir(&logdir).unwrap();
    let root = flog_core::msg!(
        logger = logger,
        flog_core::Level::OPERATIONAL,
        facility = "app",
        "request"
    );
    flog_core::msg!(
        logger = logger,
        flog_core::Level::WEIRD,
        facility = "app",
        parent = root,
        "trigger"
    );
    let recording = crate::util::poll("the incident file", || {
        std::fs::read_dir(&logdir)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "flog"))
    });
    let server = WebServer::start(&[&recording], &[]);
    browser.goto(&server.at("files/0/events")).await.unwrap();
    wait_for_keys(&browser, "the first two", &strings(["0", "1"])).await;
    flog_core::msg!(
        logger = logger,
        flog_core::Level::OPERATIONAL,
        facility = "app",
        parent = root,
        "trailing"
    );
    // Reload until the appended event shows (the reporter writes it soon).
    let deadline = std::time::Instant::now() + crate::util::DEADLINE;
    loop {
        browser.client().refresh().await.unwrap();
        let shown = browser
            .wait_for("the rows", "const l = document.getElementById('list'); return l.dataset.state === 'ready' ? l.dataset.total : null")
            .await
            .unwrap();
        if shown == "3" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the trailing event never showed"
        );
    }
    wait_for_keys(&browser, "three rows, nested", &strings(["0", "1", "2"])).await;
    browser.screenshot("web-recording-reloaded").await.unwrap();
    logger.finish_incidents();
    browser.close().await;
}

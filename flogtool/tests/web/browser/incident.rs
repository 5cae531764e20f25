//! A real incident in the events page: its tree, folding, the orders, time
//! zones and filters.

use flog_core::facility_has_prefix;
use serde_json::json;

use super::{browser, keys, local, rows, strings, utc, wait_for_keys};
use crate::util::{read, request_incident, WebServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tree_of_a_real_incident_nests_and_folds() {
    let Some(browser) = browser().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let incident = request_incident(&dir.path().join("logs"));
    let truth = read(&incident);
    let server = WebServer::start(&[&incident], &[]);
    browser.goto(&server.at("files/0/events")).await.unwrap();

    // Nested (the default for an incident): the rows are the file's tree.
    let nested = wait_for_keys(
        &browser,
        "the nested rows",
        &strings(["0", "1", "2", "3", "4", "5"]),
    )
    .await;
    browser.screenshot("web-events-nested").await.unwrap();
    for (k, row) in nested.iter().enumerate() {
        let event = &truth.events[k];
        let parent = row["parent"].as_str().map(|p| p.parse::<u64>().unwrap());
        assert_eq!(parent, event.parent, "row {row}");
        if let Some(p) = parent {
            // Below its parent, one level deeper, inside the parent's block.
            let at = nested
                .iter()
                .position(|r| r["key"].as_str().and_then(|k| k.parse().ok()) == Some(p))
                .unwrap();
            assert!(at < k);
            assert_eq!(
                row["depth"].as_u64(),
                nested[at]["depth"].as_u64().map(|d| d + 1)
            );
            assert!(nested[at + 1..k]
                .iter()
                .all(|r| r["depth"].as_u64() > nested[at]["depth"].as_u64()));
        }
    }
    assert!(nested[3]["classes"].as_str().unwrap().contains("trigger"));
    assert!(nested[3]["classes"].as_str().unwrap().contains("lvl-weird"));

    // Folding the request hides what happened inside it, and back.
    browser.click("#event-1 .twisty").await.unwrap();
    wait_for_keys(&browser, "the request folded", &strings(["0", "1"])).await;
    browser.screenshot("web-events-folded").await.unwrap();
    browser.click("#event-1 .twisty").await.unwrap();
    wait_for_keys(
        &browser,
        "the request unfolded",
        &strings(["0", "1", "2", "3", "4", "5"]),
    )
    .await;

    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_and_time_zones_change_the_rows() {
    let Some(browser) = browser().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let incident = request_incident(&dir.path().join("logs"));
    let truth = read(&incident);
    let server = WebServer::start(&[&incident], &[]);
    browser.goto(&server.at("files/0/events")).await.unwrap();

    // By number: flat, in number order.
    browser
        .click("input[name=sort][value=number]")
        .await
        .unwrap();
    let by_number = wait_for_keys(
        &browser,
        "rows by number",
        &strings(["0", "1", "2", "3", "4", "5"]),
    )
    .await;
    assert!(by_number.iter().all(|r| r["depth"] == 0));
    assert!(browser.url().await.unwrap().contains("sort=number"));

    // By time: the retry was stamped before the request began.
    let mut by_time: Vec<&flog_core::Event> = truth.events.iter().collect();
    by_time.sort_by_key(|e| (e.time, e.num));
    let time_keys: Vec<String> = by_time.iter().map(|e| e.num.to_string()).collect();
    assert_ne!(
        time_keys,
        keys(&by_number),
        "the sample's clock stepped back"
    );
    browser.click("input[name=sort][value=time]").await.unwrap();
    let rows_by_time = wait_for_keys(&browser, "rows by time", &time_keys).await;
    browser.screenshot("web-events-by-time").await.unwrap();

    // UTC, local on hover; then local, UTC on hover.
    let first = by_time[0].time.0;
    assert_eq!(rows_by_time[0]["time"], utc(first));
    assert_eq!(rows_by_time[0]["title"], format!("local: {}", local(first)));
    browser.click("#tz-toggle").await.unwrap();
    browser
        .wait_for(
            "local times",
            &format!(
                "return document.querySelector('#spacer .row time').textContent === {}",
                json!(local(first))
            ),
        )
        .await
        .unwrap();
    let local_rows = rows(&browser).await;
    for (row, event) in local_rows.iter().zip(&by_time) {
        assert_eq!(row["time"], local(event.time.0));
        assert_eq!(row["title"], format!("UTC: {}", utc(event.time.0)));
    }
    assert_eq!(
        browser
            .eval("return document.getElementById('tz-toggle').textContent")
            .await
            .unwrap(),
        "local time"
    );
    browser.screenshot("web-events-local-time").await.unwrap();

    browser.close().await;
}

// Long on purpose: one scenario whose steps build on the state the earlier ones left (real processes, sockets or a browser), so it reads top to bottom.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_apply_without_reloading() {
    let Some(browser) = browser().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let incident = request_incident(&dir.path().join("logs"));
    let truth = read(&incident);
    let server = WebServer::start(&[&incident], &[]);
    browser.goto(&server.at("files/0/events")).await.unwrap();

    wait_for_keys(
        &browser,
        "the nested rows",
        &strings(["0", "1", "2", "3", "4", "5"]),
    )
    .await;
    // A facility filter in the nested order: the matches, and the request
    // they happened in as context.
    browser.click("input[name=sort][value=tree]").await.unwrap();
    wait_for_keys(
        &browser,
        "nested again",
        &strings(["0", "1", "2", "3", "4", "5"]),
    )
    .await;
    browser
        .type_into("input[name=facility]", "app.db")
        .await
        .unwrap();
    let matching: Vec<u64> = truth
        .events
        .iter()
        .filter(|e| facility_has_prefix(e.facility(), "app.db"))
        .map(|e| e.num)
        .collect();
    assert_eq!(matching, [2, 3, 4]);
    let filtered = wait_for_keys(
        &browser,
        "the facility filter",
        &strings(["1", "2", "3", "4"]),
    )
    .await;
    let context: Vec<String> = filtered
        .iter()
        .filter(|r| r["classes"].as_str().unwrap().contains("context"))
        .map(|r| r["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(context, ["1"]);
    for row in filtered.iter().filter(|r| r["key"] != "1") {
        assert!(
            row["facility"].as_str().unwrap().starts_with("app.db"),
            "{row}"
        );
    }
    let status = browser
        .eval("return document.getElementById('status').textContent")
        .await
        .unwrap();
    assert_eq!(status, "3 of 6 events (and 1 of their ancestors)");
    browser.screenshot("web-events-filtered").await.unwrap();

    // Text, and levels, on top: the page never reloaded.
    browser
        .eval("document.body.dataset.sameDocument = 'yes'; return null")
        .await
        .unwrap();
    browser.type_into("input[name=facility]", "").await.unwrap();
    browser
        .type_into("input[name=text]", "REPLICA")
        .await
        .unwrap();
    wait_for_keys(&browser, "the text filter", &strings(["1", "2", "4"])).await;
    browser.type_into("input[name=text]", "").await.unwrap();
    browser
        .click("input[name=level][value='20']")
        .await
        .unwrap();
    let without_operational: Vec<String> = truth
        .events
        .iter()
        .filter(|e| e.level != flog_core::Level::OPERATIONAL)
        .map(|e| e.num.to_string())
        .collect();
    let shown = wait_for_keys(
        &browser,
        "OPERATIONAL unticked",
        &["1".into(), "2".into(), "3".into(), "5".into()],
    )
    .await;
    assert_eq!(
        shown
            .iter()
            .filter(|r| !r["classes"].as_str().unwrap().contains("context"))
            .map(|r| r["key"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>(),
        without_operational
    );
    assert_eq!(
        browser
            .eval("return document.body.dataset.sameDocument")
            .await
            .unwrap(),
        "yes"
    );
    assert!(browser.url().await.unwrap().contains("levels="));
    browser.close().await;
}

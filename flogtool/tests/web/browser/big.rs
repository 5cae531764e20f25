//! A file of 100,000 events: how fast it opens, how it scrolls.

use test_browser::Browser;

use super::browser;
use crate::util::{big_file, WebServer};

// Long on purpose: one scenario whose steps build on the state the earlier ones left (real processes, sockets or a browser), so it reads top to bottom.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_of_100000_events_opens_at_once_and_scrolls() {
    let Some(browser) = browser().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.flog");
    big_file(&path, 100_000);
    let server = WebServer::start(&[&path], &[]);

    // The first open: the server reads and prepares the file, the page
    // fetches its first rows. The figure is the page's own mark, taken when
    // the first rows are drawn, from the start of the navigation.
    browser.goto(&server.at("files/0/events")).await.unwrap();
    let opened_ms = wait_first_rows(&browser).await;
    // Again, with the file already read (the usual case: reloading, or the
    // summary opened first).
    browser.goto(&server.at("files/0/events")).await.unwrap();
    let reopened_ms = wait_first_rows(&browser).await;
    browser.screenshot("web-big-file").await.unwrap();
    let total = browser
        .eval("return Number(document.getElementById('list').dataset.total)")
        .await
        .unwrap();
    assert_eq!(total, 100_000);
    let drawn = browser
        .eval("return document.querySelectorAll('#spacer .row').length")
        .await
        .unwrap();
    assert!(
        drawn.as_u64().unwrap() < 200,
        "only the rows in view are drawn: {drawn}"
    );

    // Scrolling: 200 steps of 600 px, each drawn in its own frame; then jumps
    // to the middle and the end, waiting for their rows to arrive.
    let scroll = browser
        .eval_async(
            "const done = arguments[arguments.length - 1];
             const list = document.getElementById('list');
             const frame = () => new Promise(r => requestAnimationFrame(() => r(performance.now())));
             (async () => {
                 const times = [];
                 let last = await frame();
                 for (let i = 0; i < 200; i++) {
                     list.scrollTop += 600;
                     const now = await frame();
                     times.push(now - last);
                     last = now;
                 }
                 times.sort((a, b) => a - b);
                 // A jump: drawn at once as placeholders, then filled as
                 // the page of rows arrives.
                 const settle = async (top) => {
                     const start = performance.now();
                     list.scrollTop = top;
                     await frame();
                     await frame();
                     while (document.querySelector('#spacer .row.placeholder') ||
                            !document.querySelector('#spacer .row')) {
                         await frame();
                     }
                     return performance.now() - start;
                 };
                 const middle = await settle(list.scrollHeight / 2);
                 const end = await settle(list.scrollHeight);
                 done({
                     median: times[100], p95: times[190], worst: times[199],
                     middle: middle, end: end,
                 });
             })();",
        )
        .await
        .unwrap();
    // At the end, the last event is in view (heights measured on the way
    // keep the view at the end).
    let last_key = browser
        .eval(
            "const list = document.getElementById('list').getBoundingClientRect();
             const rows = Array.from(document.querySelectorAll('#spacer .row')).filter(r => {
                 const box = r.getBoundingClientRect();
                 return box.top >= list.top && box.bottom <= list.bottom + 1;
             });
             return rows.map(r => Number(r.dataset.num)).reduce((a, b) => Math.max(a, b), 0)",
        )
        .await
        .unwrap();
    browser.screenshot("web-big-file-end").await.unwrap();
    eprintln!(
        "100,000 events: first rows {opened_ms:.0} ms after navigation (file read on this \
         request), {reopened_ms:.0} ms reopened; scrolling frames median {:.1} ms, p95 {:.1} ms, \
         worst {:.1} ms; jump to the middle {:.0} ms, to the end {:.0} ms",
        scroll["median"].as_f64().unwrap(),
        scroll["p95"].as_f64().unwrap(),
        scroll["worst"].as_f64().unwrap(),
        scroll["middle"].as_f64().unwrap(),
        scroll["end"].as_f64().unwrap(),
    );
    assert!(
        last_key.as_u64().unwrap() >= 99_990,
        "the end shows the last rows: {last_key}"
    );
    // A sanity bound, not a benchmark: the machine is shared.
    assert!(opened_ms < 30_000.0 && reopened_ms < 30_000.0);
    browser.close().await;
}

async fn wait_first_rows(browser: &Browser) -> f64 {
    let ms = browser
        .wait_for(
            "the first rows",
            "const m = performance.getEntriesByName('flog-first-rows');
             return m.length ? m[0].startTime : null;",
        )
        .await
        .unwrap();
    ms.as_f64().unwrap()
}

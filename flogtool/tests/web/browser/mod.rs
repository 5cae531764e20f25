//! The pages of `flogtool web` in a real headless Chromium: the tree of a real
//! incident, orders, time zones, filters, links and permalinks, markup that
//! must stay text, a file of 100,000 events, a file that grows.

mod big;
mod hostile;
mod incident;
mod links;

use flog_core::Timestamp;
use serde_json::Value;
use test_browser::Browser;

/// The browser's local zone in these tests: +05:30 all year, no DST, so the
/// expected local times are plain arithmetic.
const ZONE: &str = "Asia/Kolkata";
const OFFSET_US: i64 = (5 * 3600 + 30 * 60) * 1_000_000;

/// The browser, or `None` to skip (a loud message was printed; under CI a
/// missing browser is an error instead).
async fn browser() -> Option<Browser> {
    Browser::builder()
        .timezone(ZONE)
        .start()
        .await
        .expect("the browser starts")
}

/// Every drawn row, top to bottom: key, parent key, depth, classes, time text.
const ROWS: &str = r#"
    return Array.from(document.querySelectorAll('#spacer .row:not(.placeholder)'))
        .sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top))
        .map(r => ({
            key: r.dataset.key, parent: r.dataset.parent || null,
            depth: Number(r.dataset.depth), classes: r.className,
            time: r.querySelector('time').textContent,
            title: r.querySelector('time').title,
            facility: (r.querySelector('.facility') || {}).textContent || null,
        }));
"#;

async fn rows(browser: &Browser) -> Vec<Value> {
    match browser.eval(ROWS).await.unwrap() {
        Value::Array(rows) => rows,
        other => panic!("rows: {other}"),
    }
}

fn keys(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| r["key"].as_str().unwrap().to_owned())
        .collect()
}

/// Waits until the list is ready and holds exactly the rows `keys`.
async fn wait_for_keys(browser: &Browser, what: &str, expected: &[String]) -> Vec<Value> {
    let script = format!(
        "const l = document.getElementById('list');
         if (l.dataset.state !== 'ready') return null;
         const keys = Array.from(document.querySelectorAll('#spacer .row:not(.placeholder)'))
             .sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top))
             .map(r => r.dataset.key);
         return JSON.stringify(keys) === {} ? keys : null;",
        serde_json::to_string(&serde_json::to_string(expected).unwrap()).unwrap()
    );
    if let Err(e) = browser.wait_for(what, &script).await {
        let shown = keys(&rows(browser).await);
        panic!("{e}; rows shown: {shown:?}, expected {expected:?}");
    }
    rows(browser).await
}

fn utc(us: i64) -> String {
    Timestamp(us).to_string()
}

fn local(us: i64) -> String {
    utc(us + OFFSET_US).replace('Z', "+05:30")
}

fn strings<const N: usize>(keys: [&str; N]) -> Vec<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

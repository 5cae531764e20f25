//! The gatherer's dashboard end to end: a real gatherer gathering from real
//! publishers on loopback, its dashboard served on 127.0.0.1 port 0, real
//! HTTP requests and a real browser.

mod browser;
mod fleet;
mod hostile;
mod metrics;
mod snapshot;

use std::path::Path;

use flog_gatherer::{Config, DashboardServer};
use serde_json::Value;
use test_browser::http;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::gatherer::{quick_config, Running, PATIENCE};

/// The rules of these tests.
const RULES: &str = r#"
[[rule]]
category = "database"
facility = "app.db"

[[rule]]
category = "network"
facility = "app.net"
"#;

/// Quick settings with [`RULES`].
fn config() -> Config {
    let rules = Config::from_toml(RULES, "gatherer.toml").unwrap();
    let mut config = quick_config();
    config.classifier = rules.classifier;
    config
}

/// A dashboard served on 127.0.0.1 port 0.
struct Served {
    base: String,
    shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

impl Served {
    /// The dashboard of the gatherer of `basedir`; its observer goes to
    /// `gatherer`.
    async fn start(
        basedir: &Path,
        config: &Config,
        token: Option<&str>,
    ) -> (Served, DashboardServerObserver) {
        Served::start_with(basedir, config, token, None).await
    }

    /// The same, relaying "record an incident now" to `gatherer` and
    /// showing its event figures.
    async fn start_with(
        basedir: &Path,
        config: &Config,
        token: Option<&str>,
        gatherer: Option<&flog_gatherer::Gatherer>,
    ) -> (Served, DashboardServerObserver) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut http = Config::from_toml(&format!("http = \"{addr}\"\n"), "gatherer.toml")
            .unwrap()
            .http
            .unwrap();
        http.token = token.map(str::to_owned);
        let mut server = DashboardServer::new(basedir, config, &http);
        if let Some(gatherer) = gatherer {
            server = server.with_gatherer(gatherer);
        }
        let observer = server.observer();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(server.serve(listener, shutdown.clone()));
        let served = Served {
            base: format!("http://{addr}"),
            shutdown,
            task,
        };
        (served, observer)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str) -> http::Response {
        get(self.url(path)).await
    }

    async fn json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        assert_eq!(
            response.header("content-type"),
            Some("application/json"),
            "{path}"
        );
        serde_json::from_slice(&response.body).unwrap()
    }

    /// Waits until `/api/incidents` lists `n` incidents (the dashboard
    /// takes in the gatherer's events on its own task).
    async fn wait_for_incidents(&self, n: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let listed = self.json("/api/incidents").await;
            let listed = listed.as_array().unwrap().clone();
            if listed.len() == n {
                return listed;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "waited in vain for {n} incidents; the dashboard lists {listed:#?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Waits until `ready` holds of `/api/publishers`.
    async fn wait_for_publishers(
        &self,
        what: &str,
        ready: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let listed = self.json("/api/publishers").await;
            let listed = listed.as_array().unwrap().clone();
            if ready(&listed) {
                return listed;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "waited in vain for {what}; the dashboard lists {listed:#?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

type DashboardServerObserver = flog_gatherer::DashboardObserver;

async fn get(url: String) -> http::Response {
    // The client is blocking: off the runtime's threads.
    tokio::task::spawn_blocking(move || http::get(&url).unwrap())
        .await
        .unwrap()
}

/// `POST` to the dashboard, off the runtime's threads.
async fn post(url: String, headers: Vec<(&'static str, String)>, body: String) -> http::Response {
    tokio::task::spawn_blocking(move || {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        http::post(&url, &headers, body.as_bytes()).unwrap()
    })
    .await
    .unwrap()
}

/// A gatherer of `basedir` with its dashboard, which relays "record an
/// incident now" to it and shows its event figures.
async fn gather_with_full_dashboard(basedir: &Path, config: Config) -> (Running, Served) {
    let gatherer = flog_gatherer::Gatherer::new(basedir, config.clone()).unwrap();
    let (served, observer) = Served::start_with(basedir, &config, None, Some(&gatherer)).await;
    (Running::run(gatherer, observer), served)
}

/// A gatherer of `basedir` with its dashboard.
async fn gather_with_dashboard(basedir: &Path, config: Config) -> (Running, Served) {
    let (served, observer) = Served::start(basedir, &config, None).await;
    let running = Running::start_with(basedir, config, observer);
    (running, served)
}

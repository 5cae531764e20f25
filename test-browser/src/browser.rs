//! A WebDriver session on a headless Chromium, with the few helpers tests use.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

use crate::driver::{artifacts_dir, find_program, Driver};
use crate::error::BrowserError;

/// How long a wait may take before the test fails: generous, as the machine
/// is shared with other builds.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The flags Chromium needs to run here (as root, in a container, with no
/// network beyond this machine).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-breakpad",
    "--disable-dev-shm-usage",
];

const BROWSERS: &[&str] = &["chromium", "chromium-browser", "google-chrome"];
const DRIVERS: &[&str] = &["chromedriver"];

/// How to start the browser.
#[must_use]
#[derive(Debug, Clone)]
pub struct BrowserBuilder {
    timezone: Option<String>,
    size: (u32, u32),
}

impl BrowserBuilder {
    /// The browser's local time zone (`TZ`, e.g. `Asia/Kolkata`), so that
    /// tests of local time know what to expect.
    pub fn timezone(mut self, tz: impl Into<String>) -> Self {
        self.timezone = Some(tz.into());
        self
    }

    /// The window size in CSS pixels (default 1280 x 900).
    pub fn window_size(mut self, width: u32, height: u32) -> Self {
        self.size = (width, height);
        self
    }

    /// Starts chromedriver and a browser session. `Ok(None)` when the
    /// browser or driver is missing and `CI` is not set: the caller skips its
    /// test (a loud message says so on stderr).
    pub async fn start(self) -> Result<Option<Browser>, BrowserError> {
        let browser = find_program(BROWSERS);
        let driver = find_program(DRIVERS);
        let missing = match (&browser, &driver) {
            (None, _) => Some(("browser", BROWSERS)),
            (_, None) => Some(("driver", DRIVERS)),
            _ => None,
        };
        if let Some((what, names)) = missing {
            let error = BrowserError::Missing {
                what,
                looked_for: names.join(", "),
            };
            if std::env::var_os("CI").is_some() {
                return Err(error);
            }
            // Written to the process's stderr, not eprintln!: the test
            // harness captures that for passing tests, and this must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!!!!! SKIPPING A BROWSER TEST: {error} !!!!!!!!\n"
            );
            return Ok(None);
        }
        let (browser, driver) = (browser.expect("found"), driver.expect("found"));
        let mut env = Vec::new();
        if let Some(tz) = &self.timezone {
            env.push(("TZ".to_owned(), tz.clone()));
        }
        let driver = Driver::start(&driver, &env, DEADLINE)?;
        let profile = tempfile::tempdir().map_err(|source| BrowserError::Spawn {
            program: browser.clone(),
            source,
        })?;
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.push(format!("--window-size={},{}", self.size.0, self.size.1));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": browser, "args": args },
        });
        let capabilities = match capabilities {
            Value::Object(map) => map,
            _ => unreachable!("a JSON object"),
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await?;
        Ok(Some(Browser {
            client,
            driver,
            _profile: profile,
        }))
    }
}

/// A browser session. [`close`](Browser::close) it at the end; dropping it
/// stops the driver and browser too, less politely.
#[derive(Debug)]
pub struct Browser {
    client: Client,
    driver: Driver,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A builder for a browser with options.
    pub fn builder() -> BrowserBuilder {
        BrowserBuilder {
            timezone: None,
            size: (1280, 900),
        }
    }

    /// A browser with the defaults; see [`BrowserBuilder::start`].
    pub async fn start() -> Result<Option<Browser>, BrowserError> {
        Browser::builder().start().await
    }

    /// The WebDriver client, for anything the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) -> Result<(), BrowserError> {
        Ok(self.client.goto(url).await?)
    }

    /// Runs `script` (a function body: `return ...`) in the page.
    pub async fn eval(&self, script: &str) -> Result<Value, BrowserError> {
        Ok(self.client.execute(script, Vec::new()).await?)
    }

    /// Runs `script` with `args` (`arguments[0]`, ...).
    pub async fn eval_with(&self, script: &str, args: Vec<Value>) -> Result<Value, BrowserError> {
        Ok(self.client.execute(script, args).await?)
    }

    /// Runs an asynchronous `script`, whose last argument is the callback to
    /// call with the result.
    pub async fn eval_async(&self, script: &str) -> Result<Value, BrowserError> {
        Ok(self.client.execute_async(script, Vec::new()).await?)
    }

    /// Polls `script` until it returns something other than `null`, `false`,
    /// `0`, `""` or `undefined`, and returns that; fails after [`DEADLINE`].
    pub async fn wait_for(&self, what: &str, script: &str) -> Result<Value, BrowserError> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let value = self.eval(script).await?;
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return Ok(value);
            }
            if Instant::now() > deadline {
                return Err(BrowserError::Timeout {
                    what: what.to_owned(),
                    waited: DEADLINE,
                    last: value,
                });
            }
            // A poll with a deadline, not a sleep standing in for a signal.
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Clicks the first element matching the CSS `selector` (a real click,
    /// through WebDriver).
    pub async fn click(&self, selector: &str) -> Result<(), BrowserError> {
        let element = self.client.find(Locator::Css(selector)).await?;
        Ok(element.click().await?)
    }

    /// Types `text` into the element matching `selector` (after clearing it).
    pub async fn type_into(&self, selector: &str, text: &str) -> Result<(), BrowserError> {
        let element = self.client.find(Locator::Css(selector)).await?;
        element.clear().await?;
        Ok(element.send_keys(text).await?)
    }

    /// The page's current URL.
    pub async fn url(&self) -> Result<String, BrowserError> {
        Ok(self.client.current_url().await?.to_string())
    }

    /// Saves a screenshot as `target/browser-artifacts/NAME.png`, prints and
    /// returns its path.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf, BrowserError> {
        let png = self.client.screenshot().await?;
        let dir = artifacts_dir();
        let path = dir.join(format!("{name}.png"));
        let write = |path: &Path| {
            std::fs::create_dir_all(&dir)?;
            std::fs::write(path, &png)
        };
        write(&path).map_err(|source| BrowserError::Artifact {
            path: path.clone(),
            source,
        })?;
        // Past the harness's capture, like the skip message.
        let _ = writeln!(std::io::stderr(), "screenshot: {}", path.display());
        Ok(path)
    }

    /// Ends the session (the browser quits) and stops the driver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        self.driver.stop();
    }
}

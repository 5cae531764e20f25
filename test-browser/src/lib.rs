//! test-browser: a real headless Chromium for tests of flog's web pages
//! (`flogtool web`, and later the gatherer's dashboard), driven over WebDriver
//! by a chromedriver that the test starts on a free port and stops at the end.
//!
//! Without a browser or driver a test is skipped with a loud message, unless
//! the `CI` environment variable is set: there a missing browser fails the
//! test. [`http::get`] is a plain HTTP client for checks that need no browser.
//!
//! ```no_run
//! # async fn page() -> Result<(), test_browser::BrowserError> {
//! let Some(browser) = test_browser::Browser::start().await? else {
//!     return Ok(()); // skipped (not under CI)
//! };
//! browser.goto("http://127.0.0.1:8080/").await?;
//! let title = browser.eval("return document.title").await?;
//! browser.screenshot("index").await?;
//! browser.close().await;
//! # Ok(()) }
//! ```

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod browser;
mod driver;
mod error;
pub mod http;

pub use crate::browser::{Browser, BrowserBuilder, DEADLINE};
pub use crate::driver::{artifacts_dir, find_program};
pub use crate::error::BrowserError;

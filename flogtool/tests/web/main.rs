//! `flogtool web`: the server over HTTP, and its pages in a real headless
//! Chromium (test-browser; skipped with a loud message when no browser is
//! installed, unless `CI` is set). Screenshots go to
//! `target/browser-artifacts/`.

mod browser;
mod bucket;
mod server;
mod util;

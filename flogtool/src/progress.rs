//! Progress bars for long work, on stderr when it is a terminal and nowhere
//! else: a pipe or a file gets only the command's own output.

use std::io::IsTerminal as _;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

const BYTES: &str = "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec})";
const BYTES_ARRIVING: &str = "{spinner} {msg} {binary_bytes} ({binary_bytes_per_sec})";
const COUNT: &str = "{msg} [{bar:30}] {human_pos}/{human_len}";

/// A bar over `total` bytes (of a file read or written), labelled `what`.
pub(crate) fn bytes(what: &str, total: u64) -> ProgressBar {
    bar(Some(total), what, BYTES)
}

/// Bytes arriving with no known total (a download), labelled `what`.
pub(crate) fn bytes_arriving(what: &str) -> ProgressBar {
    bar(None, what, BYTES_ARRIVING)
}

/// A bar over `total` things, labelled `what`.
pub(crate) fn count(what: &str, total: u64) -> ProgressBar {
    bar(Some(total), what, COUNT)
}

fn bar(total: Option<u64>, what: &str, template: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    // The templates are constants, checked by the tests below: the fallback
    // is only a safety net.
    let style = ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr())
        .with_style(style)
        .with_message(what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_templates_parse() {
        for template in [BYTES, BYTES_ARRIVING, COUNT] {
            assert!(ProgressStyle::with_template(template).is_ok(), "{template}");
        }
    }
}

//! An error as an event's failure text.

use std::error::Error;
use std::fmt::Write as _;

/// An error and its chain of sources as text, one per line: the error, then
/// `caused by: ...` for each [`source`](Error::source). What
/// [`msg!`](crate::msg)'s `failure = error` records.
///
/// ```
/// let inner = std::io::Error::other("disk full");
/// let outer = std::io::Error::new(std::io::ErrorKind::Other, Wrapped(inner));
/// # #[derive(Debug)] struct Wrapped(std::io::Error);
/// # impl std::fmt::Display for Wrapped {
/// #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("cannot save") }
/// # }
/// # impl std::error::Error for Wrapped {
/// #     fn source(&self) -> Option<&(dyn std::error::Error + 'static)> { Some(&self.0) }
/// # }
/// assert_eq!(flog_core::error_chain(&outer), "cannot save\ncaused by: disk full");
/// ```
pub fn error_chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    // A source chain is finite in practice, but nothing stops a buggy error
    // type from returning itself: cap it.
    let mut left = 64;
    while let Some(cause) = source {
        if left == 0 {
            text.push_str("\ncaused by: ...");
            break;
        }
        let _ = write!(text, "\ncaused by: {cause}");
        source = cause.source();
        left -= 1;
    }
    text
}

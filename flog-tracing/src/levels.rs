//! tracing's levels in flog-core's terms: the level map itself is
//! [`flog_core::LevelMap`], shared with flog-log.

use flog_core::Severity;

/// The [`Severity`] of a tracing level.
#[inline]
pub(crate) fn severity(level: &tracing::Level) -> Severity {
    match *level {
        tracing::Level::TRACE => Severity::Trace,
        tracing::Level::DEBUG => Severity::Debug,
        tracing::Level::INFO => Severity::Info,
        tracing::Level::WARN => Severity::Warn,
        _ => Severity::Error,
    }
}

#[cfg(test)]
mod tests {
    use flog_core::{Level, LevelMap};

    use super::*;

    #[test]
    fn default_map_is_ordered_and_warn_is_weird() {
        let map = LevelMap::default();
        assert!(map.check().is_ok());
        let get = |level| map.get(severity(&level));
        assert_eq!(get(tracing::Level::TRACE), Level(5));
        assert_eq!(get(tracing::Level::DEBUG), Level::NOISY);
        assert_eq!(get(tracing::Level::INFO), Level::OPERATIONAL);
        assert_eq!(get(tracing::Level::WARN), Level::WEIRD);
        assert_eq!(get(tracing::Level::ERROR), Level::BAD);
    }

    #[test]
    fn a_map_that_goes_down_is_rejected() {
        let mut map = LevelMap::default();
        map.set(severity(&tracing::Level::WARN), Level::NOISY);
        let err = map.check().unwrap_err().to_string();
        assert!(err.contains("WARN") && err.contains("INFO"), "{err}");
        map.set(severity(&tracing::Level::WARN), Level::OPERATIONAL);
        assert!(map.check().is_ok(), "equal levels are allowed");
    }
}

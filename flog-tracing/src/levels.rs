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

    /// The map's own tests are flog-core's; here, that each tracing level
    /// finds its place in it.
    #[test]
    fn default_map_is_ordered_and_warn_is_weird() {
        let levels = [
            tracing::Level::TRACE,
            tracing::Level::DEBUG,
            tracing::Level::INFO,
            tracing::Level::WARN,
            tracing::Level::ERROR,
        ];
        assert_eq!(levels.map(|l| severity(&l)), Severity::ALL);
        assert_eq!(
            LevelMap::DEFAULT.get(severity(&tracing::Level::WARN)),
            Level::WEIRD
        );
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

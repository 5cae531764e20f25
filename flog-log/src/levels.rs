//! log's levels in flog-core's terms: the level map itself is
//! [`flog_core::LevelMap`], shared with flog-tracing.

use flog_core::{LevelOrderError, Severity};

/// The [`Severity`] of a log level.
#[inline]
pub(crate) fn severity(level: log::Level) -> Severity {
    match level {
        log::Level::Trace => Severity::Trace,
        log::Level::Debug => Severity::Debug,
        log::Level::Info => Severity::Info,
        log::Level::Warn => Severity::Warn,
        log::Level::Error => Severity::Error,
    }
}

/// A logger configuration that cannot work.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A more severe log level would map to a less severe flog level.
    #[error(transparent)]
    LevelOrder(#[from] LevelOrderError),
}

#[cfg(test)]
mod tests {
    use flog_core::{Level, LevelMap};

    use super::*;

    /// The map's own tests are flog-core's; here, that each log level finds
    /// its place in it.
    #[test]
    fn default_map_is_ordered_and_warn_is_weird() {
        let levels = [
            log::Level::Trace,
            log::Level::Debug,
            log::Level::Info,
            log::Level::Warn,
            log::Level::Error,
        ];
        assert_eq!(levels.map(severity), Severity::ALL);
        assert_eq!(
            LevelMap::DEFAULT.get(severity(log::Level::Warn)),
            Level::WEIRD
        );
    }

    #[test]
    fn a_map_that_goes_down_is_rejected() {
        let mut map = LevelMap::default();
        map.set(severity(log::Level::Debug), Level::BAD);
        let err = map.check().unwrap_err().to_string();
        assert!(err.contains("INFO") && err.contains("DEBUG"), "{err}");
    }
}

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

    #[test]
    fn default_map_is_ordered_and_warn_is_weird() {
        let map = LevelMap::default();
        assert!(map.check().is_ok());
        let get = |level| map.get(severity(level));
        assert_eq!(get(log::Level::Trace), Level(5));
        assert_eq!(get(log::Level::Debug), Level::NOISY);
        assert_eq!(get(log::Level::Info), Level::OPERATIONAL);
        assert_eq!(get(log::Level::Warn), Level::WEIRD);
        assert_eq!(get(log::Level::Error), Level::BAD);
    }

    #[test]
    fn a_map_that_goes_down_is_rejected() {
        let mut map = LevelMap::default();
        map.set(severity(log::Level::Debug), Level::BAD);
        let err = map.check().unwrap_err().to_string();
        assert!(err.contains("INFO") && err.contains("DEBUG"), "{err}");
    }
}

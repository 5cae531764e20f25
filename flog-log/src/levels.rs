use flog_core::Level;

/// How the `log` crate's five levels become flog levels: the same mapping as
/// flog-tracing's, so a service using both sees one scheme.
///
/// | log | flog |
/// |---|---|
/// | `Trace` | `Level(5)`, below NOISY: not generated unless the threshold is lowered |
/// | `Debug` | NOISY (10) |
/// | `Info`  | OPERATIONAL (20) |
/// | `Warn`  | WEIRD (30): declares an incident by default |
/// | `Error` | BAD (40) |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelMap {
    /// The level of `Trace` records.
    pub trace: Level,
    /// The level of `Debug` records.
    pub debug: Level,
    /// The level of `Info` records.
    pub info: Level,
    /// The level of `Warn` records.
    pub warn: Level,
    /// The level of `Error` records.
    pub error: Level,
}

impl LevelMap {
    /// The default mapping (see the table above).
    pub const DEFAULT: LevelMap = LevelMap {
        trace: Level(5),
        debug: Level::NOISY,
        info: Level::OPERATIONAL,
        warn: Level::WEIRD,
        error: Level::BAD,
    };

    /// The flog level of a log level.
    #[inline]
    pub fn get(&self, level: log::Level) -> Level {
        match level {
            log::Level::Trace => self.trace,
            log::Level::Debug => self.debug,
            log::Level::Info => self.info,
            log::Level::Warn => self.warn,
            log::Level::Error => self.error,
        }
    }

    /// Maps `level` to `to`.
    pub fn set(&mut self, level: log::Level, to: Level) {
        let slot = match level {
            log::Level::Trace => &mut self.trace,
            log::Level::Debug => &mut self.debug,
            log::Level::Info => &mut self.info,
            log::Level::Warn => &mut self.warn,
            log::Level::Error => &mut self.error,
        };
        *slot = to;
    }

    /// A mapping that turned a more severe log level into a less severe flog
    /// level would make thresholds and qualifiers act backwards.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        let order = [
            (log::Level::Trace, self.trace),
            (log::Level::Debug, self.debug),
            (log::Level::Info, self.info),
            (log::Level::Warn, self.warn),
            (log::Level::Error, self.error),
        ];
        for pair in order.windows(2) {
            let ((lower, lower_level), (higher, higher_level)) = (pair[0], pair[1]);
            if higher_level < lower_level {
                return Err(ConfigError::LevelOrder {
                    lower,
                    lower_level,
                    higher,
                    higher_level,
                });
            }
        }
        Ok(())
    }
}

impl Default for LevelMap {
    fn default() -> Self {
        LevelMap::DEFAULT
    }
}

/// A logger configuration that cannot work.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A more severe log level would map to a less severe flog level.
    #[error(
        "level map goes down: {higher} maps to {higher_level:?}, below {lower}'s {lower_level:?}"
    )]
    LevelOrder {
        /// The less severe log level.
        lower: log::Level,
        /// What it maps to.
        lower_level: Level,
        /// The more severe log level.
        higher: log::Level,
        /// What it maps to.
        higher_level: Level,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_map_is_ordered_and_warn_is_weird() {
        let map = LevelMap::default();
        assert!(map.check().is_ok());
        assert_eq!(map.get(log::Level::Trace), Level(5));
        assert_eq!(map.get(log::Level::Debug), Level::NOISY);
        assert_eq!(map.get(log::Level::Info), Level::OPERATIONAL);
        assert_eq!(map.get(log::Level::Warn), Level::WEIRD);
        assert_eq!(map.get(log::Level::Error), Level::BAD);
    }

    #[test]
    fn a_map_that_goes_down_is_rejected() {
        let mut map = LevelMap::default();
        map.set(log::Level::Debug, Level::BAD);
        let err = map.check().unwrap_err().to_string();
        assert!(err.contains("INFO") && err.contains("DEBUG"), "{err}");
    }
}

use flog_core::Level;

use crate::layer::ConfigError;

/// How tracing's five levels become flog levels.
///
/// The default follows foolscap's intent: `warn!` means something is wrong, so it
/// maps to WEIRD and declares an incident under the default qualifier, as a
/// foolscap `WEIRD`/`WARNING` does.
///
/// | tracing | flog |
/// |---|---|
/// | `TRACE` | `Level(5)`, below NOISY: not generated unless the threshold is lowered |
/// | `DEBUG` | NOISY (10) |
/// | `INFO`  | OPERATIONAL (20) |
/// | `WARN`  | WEIRD (30): declares an incident by default |
/// | `ERROR` | BAD (40) |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelMap {
    /// The level of `TRACE` events and spans.
    pub trace: Level,
    /// The level of `DEBUG` events and spans.
    pub debug: Level,
    /// The level of `INFO` events and spans.
    pub info: Level,
    /// The level of `WARN` events and spans.
    pub warn: Level,
    /// The level of `ERROR` events and spans.
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

    /// The flog level of a tracing level.
    #[inline]
    pub fn get(&self, level: &tracing::Level) -> Level {
        match *level {
            tracing::Level::TRACE => self.trace,
            tracing::Level::DEBUG => self.debug,
            tracing::Level::INFO => self.info,
            tracing::Level::WARN => self.warn,
            _ => self.error,
        }
    }

    /// Maps `level` to `to`.
    pub fn set(&mut self, level: tracing::Level, to: Level) {
        let slot = match level {
            tracing::Level::TRACE => &mut self.trace,
            tracing::Level::DEBUG => &mut self.debug,
            tracing::Level::INFO => &mut self.info,
            tracing::Level::WARN => &mut self.warn,
            _ => &mut self.error,
        };
        *slot = to;
    }

    /// A mapping that turned a more severe tracing level into a less severe flog
    /// level would make thresholds and qualifiers act backwards.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        let order = [
            ("TRACE", self.trace),
            ("DEBUG", self.debug),
            ("INFO", self.info),
            ("WARN", self.warn),
            ("ERROR", self.error),
        ];
        for pair in order.windows(2) {
            let ((lower, a), (higher, b)) = (pair[0], pair[1]);
            if b < a {
                return Err(ConfigError::LevelOrder {
                    lower,
                    lower_level: a,
                    higher,
                    higher_level: b,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_map_is_ordered_and_warn_is_weird() {
        let map = LevelMap::default();
        assert!(map.check().is_ok());
        assert_eq!(map.get(&tracing::Level::TRACE), Level(5));
        assert_eq!(map.get(&tracing::Level::DEBUG), Level::NOISY);
        assert_eq!(map.get(&tracing::Level::INFO), Level::OPERATIONAL);
        assert_eq!(map.get(&tracing::Level::WARN), Level::WEIRD);
        assert_eq!(map.get(&tracing::Level::ERROR), Level::BAD);
    }

    #[test]
    fn a_map_that_goes_down_is_rejected() {
        let mut map = LevelMap::default();
        map.set(tracing::Level::WARN, Level::NOISY);
        let err = map.check().unwrap_err().to_string();
        assert!(err.contains("WARN") && err.contains("INFO"), "{err}");
        map.set(tracing::Level::WARN, Level::OPERATIONAL);
        assert!(map.check().is_ok(), "equal levels are allowed");
    }
}

//! The one mapping from the five levels of `log` and `tracing` to flog levels,
//! shared by flog-log and flog-tracing so a service using both sees one scheme.

use std::fmt;

use crate::level::Level;

/// The five levels of the `log` and `tracing` crates, least severe first;
/// the adapters turn their own level type into this one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// `TRACE`.
    Trace,
    /// `DEBUG`.
    Debug,
    /// `INFO`.
    Info,
    /// `WARN`.
    Warn,
    /// `ERROR`.
    Error,
}

impl Severity {
    /// All five, least severe first.
    pub const ALL: [Severity; 5] = [
        Severity::Trace,
        Severity::Debug,
        Severity::Info,
        Severity::Warn,
        Severity::Error,
    ];

    /// The name as `log` and `tracing` print it: `TRACE`, ..., `ERROR`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Trace => "TRACE",
            Severity::Debug => "DEBUG",
            Severity::Info => "INFO",
            Severity::Warn => "WARN",
            Severity::Error => "ERROR",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the five levels of `log` and `tracing` become flog levels.
///
/// The default follows foolscap's intent: `warn!` means something is wrong, so it
/// maps to WEIRD and declares an incident under the default qualifier, as a
/// foolscap `WEIRD`/`WARNING` does.
///
/// | log / tracing | flog |
/// |---|---|
/// | `TRACE` | `Level(5)`, below NOISY: not generated unless the threshold is lowered |
/// | `DEBUG` | NOISY (10) |
/// | `INFO`  | OPERATIONAL (20) |
/// | `WARN`  | WEIRD (30): declares an incident by default |
/// | `ERROR` | BAD (40) |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelMap {
    /// The level of `TRACE` records, events and spans.
    pub trace: Level,
    /// The level of `DEBUG` ones.
    pub debug: Level,
    /// The level of `INFO` ones.
    pub info: Level,
    /// The level of `WARN` ones.
    pub warn: Level,
    /// The level of `ERROR` ones.
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

    /// The flog level of `severity`.
    #[inline]
    pub fn get(&self, severity: Severity) -> Level {
        match severity {
            Severity::Trace => self.trace,
            Severity::Debug => self.debug,
            Severity::Info => self.info,
            Severity::Warn => self.warn,
            Severity::Error => self.error,
        }
    }

    /// Maps `severity` to `to`.
    pub fn set(&mut self, severity: Severity, to: Level) {
        let slot = match severity {
            Severity::Trace => &mut self.trace,
            Severity::Debug => &mut self.debug,
            Severity::Info => &mut self.info,
            Severity::Warn => &mut self.warn,
            Severity::Error => &mut self.error,
        };
        *slot = to;
    }

    /// A mapping that turned a more severe level into a less severe flog
    /// level would make thresholds and qualifiers act backwards; equal levels
    /// are fine.
    pub fn check(&self) -> Result<(), LevelOrderError> {
        for pair in Severity::ALL.windows(2) {
            let (lower, higher) = (pair[0], pair[1]);
            let (lower_level, higher_level) = (self.get(lower), self.get(higher));
            if higher_level < lower_level {
                return Err(LevelOrderError {
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

/// A [`LevelMap`] that goes down: a more severe level maps below a less
/// severe one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("level map goes down: {higher} maps to {higher_level:?}, below {lower}'s {lower_level:?}")]
pub struct LevelOrderError {
    /// The less severe level.
    pub lower: Severity,
    /// What it maps to.
    pub lower_level: Level,
    /// The more severe level.
    pub higher: Severity,
    /// What it maps to.
    pub higher_level: Level,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_map_is_ordered_and_warn_is_weird() {
        let map = LevelMap::default();
        assert!(map.check().is_ok());
        assert_eq!(map.get(Severity::Trace), Level(5));
        assert_eq!(map.get(Severity::Debug), Level::NOISY);
        assert_eq!(map.get(Severity::Info), Level::OPERATIONAL);
        assert_eq!(map.get(Severity::Warn), Level::WEIRD);
        assert_eq!(map.get(Severity::Error), Level::BAD);
    }

    #[test]
    fn a_map_that_goes_down_is_rejected() {
        let mut map = LevelMap::default();
        map.set(Severity::Warn, Level::NOISY);
        let err = map.check().unwrap_err();
        assert_eq!((err.lower, err.higher), (Severity::Info, Severity::Warn));
        let text = err.to_string();
        assert!(text.contains("WARN") && text.contains("INFO"), "{text}");
        map.set(Severity::Warn, Level::OPERATIONAL);
        assert!(map.check().is_ok(), "equal levels are allowed");
        map.set(Severity::Debug, Level::BAD);
        let err = map.check().unwrap_err();
        assert_eq!((err.lower, err.higher), (Severity::Debug, Severity::Info));
    }
}

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::event::Event;
use crate::level::Level;
use crate::time::Timestamp;

/// Decides which events declare an incident.
///
/// Called for every generated event once a log directory is set, on the logging
/// thread, so it must be quick and must not log.
///
/// The event has its time, incarnation and (redacted) fields, but its `num`
/// is not assigned yet: an event that qualifies is numbered in one step with
/// switching trailing capture on, so that its report holds every event
/// numbered after it.
pub trait IncidentQualifier: Send + Sync + fmt::Debug {
    /// Whether `event` declares an incident.
    fn check_event(&self, event: &Event) -> bool;

    /// When the verdict depends on the event's level alone: the lowest
    /// level that declares an incident (`check_event` must then say yes
    /// exactly for the events at or above it). Events below it are then
    /// stored without the qualifier seeing them, which saves building the
    /// [`Event`] that [`check_event`](Self::check_event) takes. `None`
    /// (the default) has every event checked.
    fn min_level(&self) -> Option<Level> {
        None
    }
}

/// The default qualifier: any event at or above a level (WEIRD by default).
#[derive(Debug, Clone, Copy)]
pub struct ThresholdQualifier {
    /// The lowest level that declares an incident.
    pub min_level: Level,
}

impl Default for ThresholdQualifier {
    fn default() -> Self {
        ThresholdQualifier {
            min_level: Level::WEIRD,
        }
    }
}

impl IncidentQualifier for ThresholdQualifier {
    fn check_event(&self, event: &Event) -> bool {
        event.level >= self.min_level
    }

    fn min_level(&self) -> Option<Level> {
        Some(self.min_level)
    }
}

/// Declares an incident for events of one facility (and its dotted children) at or
/// above a level of its own, and for every other event at or above `otherwise`.
#[derive(Debug, Clone)]
pub struct FacilityQualifier {
    prefix: String,
    min_level: Level,
    otherwise: Option<Level>,
}

impl FacilityQualifier {
    /// Events of `prefix` (e.g. `app.db`, which covers `app.db.pool`) at or above
    /// `min_level`; no other event qualifies.
    pub fn new(prefix: impl Into<String>, min_level: Level) -> FacilityQualifier {
        FacilityQualifier {
            prefix: prefix.into(),
            min_level,
            otherwise: None,
        }
    }

    /// Also qualify events of any facility at or above `level`.
    #[must_use]
    pub fn otherwise(mut self, level: Level) -> FacilityQualifier {
        self.otherwise = Some(level);
        self
    }
}

/// Whether `facility` is `prefix` or one of its dotted children.
pub fn facility_has_prefix(facility: &str, prefix: &str) -> bool {
    prefix.is_empty()
        || facility
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

impl IncidentQualifier for FacilityQualifier {
    fn check_event(&self, event: &Event) -> bool {
        if facility_has_prefix(event.facility(), &self.prefix) && event.level >= self.min_level {
            return true;
        }
        self.otherwise.is_some_and(|l| event.level >= l)
    }
}

/// Declares an incident when `count` events at or above `min_level` arrive within
/// `window` (by event time, so an injected clock drives it).
#[derive(Debug)]
pub struct RateQualifier {
    count: usize,
    min_level: Level,
    window: Duration,
    recent: Mutex<VecDeque<Timestamp>>,
}

impl RateQualifier {
    /// `count` events at or above `min_level` within `window`.
    pub fn new(count: usize, min_level: Level, window: Duration) -> RateQualifier {
        RateQualifier {
            count: count.max(1),
            min_level,
            window,
            recent: Mutex::new(VecDeque::new()),
        }
    }
}

impl IncidentQualifier for RateQualifier {
    fn check_event(&self, event: &Event) -> bool {
        if event.level < self.min_level {
            return false;
        }
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        let horizon = event.time.0.saturating_sub(self.window.as_micros() as i64);
        // A clock that stepped back leaves newer times at the front: drop those too,
        // so the window never counts events from "the future".
        while recent
            .front()
            .is_some_and(|t| t.0 <= horizon || t.0 > event.time.0)
        {
            recent.pop_front();
        }
        recent.push_back(event.time);
        if recent.len() >= self.count {
            // Start counting afresh, so a sustained burst declares one incident
            // per `count` events rather than one per event.
            recent.clear();
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(level: Level, facility: &'static str, micros: i64) -> Event {
        Event {
            level,
            facility: Some(facility.into()),
            time: Timestamp(micros),
            ..Event::default()
        }
    }

    #[test]
    fn threshold_default_is_weird() {
        let q = ThresholdQualifier::default();
        assert!(!q.check_event(&ev(Level::CURIOUS, "a", 0)));
        assert!(q.check_event(&ev(Level::WEIRD, "a", 0)));
        assert!(q.check_event(&ev(Level::BAD, "a", 0)));
    }

    #[test]
    fn facility_qualifier_matches_dotted_children_only() {
        let q = FacilityQualifier::new("app.db", Level::UNUSUAL);
        assert!(q.check_event(&ev(Level::UNUSUAL, "app.db", 0)));
        assert!(q.check_event(&ev(Level::UNUSUAL, "app.db.pool", 0)));
        assert!(!q.check_event(&ev(Level::UNUSUAL, "app.dbx", 0)));
        assert!(!q.check_event(&ev(Level::BAD, "app.web", 0)));
        assert!(!q.check_event(&ev(Level::OPERATIONAL, "app.db", 0)));
        let q = q.otherwise(Level::SCARY);
        assert!(q.check_event(&ev(Level::BAD, "app.web", 0)));
    }

    #[test]
    fn rate_qualifier_needs_count_within_window() {
        let q = RateQualifier::new(3, Level::UNUSUAL, Duration::from_secs(10));
        assert!(!q.check_event(&ev(Level::UNUSUAL, "a", 0)));
        assert!(
            !q.check_event(&ev(Level::NOISY, "a", 1)),
            "low levels ignored"
        );
        assert!(!q.check_event(&ev(Level::UNUSUAL, "a", 1_000_000)));
        // The first one fell out of the window: only two within 10 s.
        assert!(!q.check_event(&ev(Level::UNUSUAL, "a", 10_500_000)));
        assert!(
            !q.check_event(&ev(Level::UNUSUAL, "a", 11_000_000)),
            "1.0 s fell out"
        );
        assert!(q.check_event(&ev(Level::UNUSUAL, "a", 11_500_000)));
        assert!(
            !q.check_event(&ev(Level::UNUSUAL, "a", 11_500_001)),
            "window restarts"
        );
        // Clock stepped back: the newer entries are dropped, not counted.
        assert!(!q.check_event(&ev(Level::UNUSUAL, "a", 5)));
    }
}

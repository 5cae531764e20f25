//! Which events a command keeps: the filter flags shared by `dump`, `filter` and
//! `tail`, so they mean the same everywhere.

use clap::Args;
use flog_core::{facility_has_prefix, Event, Level, Timestamp};

/// Event filters; an event is kept when it passes every one given.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct EventFilter {
    /// Keep events at LEVEL or above: a name (WEIRD, any case) or a number (30).
    #[arg(long, value_name = "LEVEL", value_parser = parse_level)]
    pub(crate) min_level: Option<Level>,

    /// Keep events of facility PREFIX or its dotted children (`app.db` keeps
    /// `app.db.pool`, not `app.dbx`). Repeat to keep several.
    #[arg(long, value_name = "PREFIX")]
    pub(crate) facility: Vec<String>,

    /// Keep events whose rendered message contains TEXT (case-sensitive).
    #[arg(long, value_name = "TEXT")]
    pub(crate) grep: Option<String>,

    /// Keep events at or after TIME: RFC 3339 UTC (2026-11-27T23:08:35Z), a date
    /// (midnight UTC), or seconds since the epoch.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub(crate) after: Option<Timestamp>,

    /// Keep events before TIME (same forms as --after).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub(crate) before: Option<Timestamp>,
}

impl EventFilter {
    /// Whether `event` passes every filter.
    pub(crate) fn matches(&self, event: &Event) -> bool {
        self.min_level.is_none_or(|min| event.level >= min)
            && (self.facility.is_empty()
                || self
                    .facility
                    .iter()
                    .any(|prefix| facility_has_prefix(event.facility(), prefix)))
            && self.after.is_none_or(|t| event.time >= t)
            && self.before.is_none_or(|t| event.time < t)
            // Rendering allocates, so it comes last.
            && self
                .grep
                .as_deref()
                .is_none_or(|text| event.render().contains(text))
    }
}

/// Parses `--min-level`: clap turns the error into a usage error (exit 2).
pub(crate) fn parse_level(text: &str) -> Result<Level, String> {
    Level::parse(text).ok_or_else(|| {
        let names: Vec<_> = Level::NAMED.iter().filter_map(|l| l.name()).collect();
        format!("not a level: use a number or one of {}", names.join(", "))
    })
}

/// Parses `--after`/`--before`: clap turns the error into a usage error (exit 2).
pub(crate) fn parse_time(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse(text).ok_or_else(|| {
        "not a time: use RFC 3339 UTC (2026-11-27T23:08:35Z), a date (2026-11-27) \
         or seconds since the epoch"
            .to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flog_core::Text;

    fn event(level: Level, facility: &'static str, message: &'static str, time: i64) -> Event {
        Event {
            level,
            facility: Some(facility.into()),
            text: Text::Message(message.into()),
            time: Timestamp(time),
            ..Event::default()
        }
    }

    #[test]
    fn every_filter_must_pass() {
        let e = event(Level::WEIRD, "app.db.pool", "pool exhausted", 1_000);
        assert!(EventFilter::default().matches(&e));

        let by_level = |l| EventFilter {
            min_level: Some(l),
            ..EventFilter::default()
        };
        assert!(by_level(Level::WEIRD).matches(&e));
        assert!(!by_level(Level::SCARY).matches(&e));

        let by_facility = |f: &[&str]| EventFilter {
            facility: f.iter().map(|s| s.to_string()).collect(),
            ..EventFilter::default()
        };
        assert!(by_facility(&["app.db"]).matches(&e));
        assert!(by_facility(&["web", "app"]).matches(&e));
        assert!(!by_facility(&["app.d"]).matches(&e), "dotted prefix only");
        assert!(!by_facility(&["web"]).matches(&e));

        let by_grep = |t: &str| EventFilter {
            grep: Some(t.into()),
            ..EventFilter::default()
        };
        assert!(by_grep("exhausted").matches(&e));
        assert!(!by_grep("Exhausted").matches(&e));

        let window = |after, before| EventFilter {
            after,
            before,
            ..EventFilter::default()
        };
        assert!(
            window(Some(Timestamp(1_000)), None).matches(&e),
            "inclusive"
        );
        assert!(
            !window(None, Some(Timestamp(1_000))).matches(&e),
            "exclusive"
        );
        assert!(window(Some(Timestamp(0)), Some(Timestamp(1_001))).matches(&e));

        let all = EventFilter {
            min_level: Some(Level::WEIRD),
            grep: Some("nothing like it".into()),
            ..EventFilter::default()
        };
        assert!(!all.matches(&e));
    }

    #[test]
    fn levels_and_times_parse_or_explain() {
        assert_eq!(parse_level("weird"), Ok(Level::WEIRD));
        assert_eq!(parse_level("17"), Ok(Level(17)));
        assert!(parse_level("loud").unwrap_err().contains("OPERATIONAL"));
        assert_eq!(parse_time("1970-01-02"), Ok(Timestamp(86_400_000_000)));
        assert!(parse_time("yesterday").unwrap_err().contains("RFC 3339"));
    }
}

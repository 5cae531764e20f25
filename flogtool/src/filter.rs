//! Which events a command keeps: the filter flags shared by `dump`, `filter` and
//! `tail`, so they mean the same everywhere.

use clap::Args;
use flog_core::{facility_has_prefix, Event, Level, Timestamp};

/// Event filters; an event is kept when it passes every one given.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct EventFilter {
    /// Keep events at LEVEL or above: a name (WEIRD, any case) or a number (30).
    #[arg(long, visible_alias = "above", value_name = "LEVEL", value_parser = parse_level)]
    pub(crate) min_level: Option<Level>,

    /// Keep events of facility PREFIX or its dotted children (`app.db` keeps
    /// `app.db.pool`, not `app.dbx`). Repeat to keep several.
    #[arg(long, value_name = "PREFIX")]
    pub(crate) facility: Vec<String>,

    /// Drop events of facility PREFIX or its dotted children (the same
    /// prefixes as --facility). Repeat to drop several.
    #[arg(long, value_name = "PREFIX")]
    pub(crate) strip_facility: Vec<String>,

    /// Keep events gathered from PUBLISHER (its id, as gathered files and
    /// foolscap's `from` name it). Repeat to keep several. Events whose file
    /// does not say where they came from are dropped.
    #[arg(long = "from", value_name = "PUBLISHER")]
    pub(crate) from: Vec<String>,

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

/// The filter an event failed: the first in this order, so that each dropped
/// event is counted once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Dropped {
    /// Below `--min-level`.
    MinLevel,
    /// Of no `--facility` given.
    Facility,
    /// Of a `--strip-facility`.
    StripFacility,
    /// From no `--from` given.
    From,
    /// Before `--after`.
    After,
    /// At or after `--before`.
    Before,
    /// Without the `--grep` text.
    Grep,
}

impl Dropped {
    /// The flag, for summaries.
    pub(crate) fn flag(self) -> &'static str {
        match self {
            Dropped::MinLevel => "--min-level",
            Dropped::Facility => "--facility",
            Dropped::StripFacility => "--strip-facility",
            Dropped::From => "--from",
            Dropped::After => "--after",
            Dropped::Before => "--before",
            Dropped::Grep => "--grep",
        }
    }
}

impl EventFilter {
    /// Whether `event` passes every filter (the tests' shorthand; commands
    /// say whether they know the sender).
    #[cfg(test)]
    pub(crate) fn matches(&self, event: &Event) -> bool {
        self.verdict(event).is_ok()
    }

    /// `Ok` when `event`, of which no sender is known, passes every filter,
    /// else the first it failed.
    #[cfg(test)]
    pub(crate) fn verdict(&self, event: &Event) -> Result<(), Dropped> {
        self.verdict_from(event, None)
    }

    /// Whether an event sent by `from` (where its file says) passes.
    pub(crate) fn matches_from(&self, event: &Event, from: Option<&str>) -> bool {
        self.verdict_from(event, from).is_ok()
    }

    /// Whether a gap or incarnation change of publisher `from` is kept: by
    /// `--from` alone, since it stands for events of every kind.
    pub(crate) fn keeps_publisher(&self, from: &str) -> bool {
        self.from.is_empty() || self.from.iter().any(|f| f == from)
    }

    /// `Ok` when `event`, sent by `from`, passes every filter, else the
    /// first it failed.
    pub(crate) fn verdict_from(&self, event: &Event, from: Option<&str>) -> Result<(), Dropped> {
        let of = |prefixes: &[String]| {
            prefixes
                .iter()
                .any(|prefix| facility_has_prefix(event.facility(), prefix))
        };
        let checks = [
            (
                self.min_level.is_none_or(|min| event.level >= min),
                Dropped::MinLevel,
            ),
            (
                self.facility.is_empty() || of(&self.facility),
                Dropped::Facility,
            ),
            (!of(&self.strip_facility), Dropped::StripFacility),
            (
                self.from.is_empty() || from.is_some_and(|f| self.keeps_publisher(f)),
                Dropped::From,
            ),
            (self.after.is_none_or(|t| event.time >= t), Dropped::After),
            (self.before.is_none_or(|t| event.time < t), Dropped::Before),
        ];
        if let Some((_, dropped)) = checks.iter().find(|(passed, _)| !passed) {
            return Err(*dropped);
        }
        // Rendering allocates, so it comes last.
        match &self.grep {
            Some(text) if !event.render().contains(text.as_str()) => Err(Dropped::Grep),
            _ => Ok(()),
        }
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
        assert_eq!(all.verdict(&e), Err(Dropped::Grep));
    }

    #[test]
    fn strip_facility_drops_dotted_children_and_reasons_come_in_order() {
        let e = event(Level::WEIRD, "app.db.pool", "pool exhausted", 1_000);
        let strip = |f: &[&str]| EventFilter {
            strip_facility: f.iter().map(|s| s.to_string()).collect(),
            ..EventFilter::default()
        };
        assert_eq!(strip(&["app.db"]).verdict(&e), Err(Dropped::StripFacility));
        assert_eq!(
            strip(&["web", "app"]).verdict(&e),
            Err(Dropped::StripFacility)
        );
        assert!(strip(&["app.d"]).matches(&e), "dotted prefix only");
        assert!(strip(&["app.db.pool.x"]).matches(&e));
        let both = EventFilter {
            facility: vec!["app".into()],
            strip_facility: vec!["app.db".into()],
            ..EventFilter::default()
        };
        assert_eq!(both.verdict(&e), Err(Dropped::StripFacility));
        let many = EventFilter {
            min_level: Some(Level::BAD),
            strip_facility: vec!["app".into()],
            before: Some(Timestamp(0)),
            ..EventFilter::default()
        };
        assert_eq!(many.verdict(&e), Err(Dropped::MinLevel), "the first failed");
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

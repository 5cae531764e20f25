//! The incident filters of every list, feed and API answer: by publisher,
//! category and time range, newest first, at most a limit.

use flog_core::Timestamp;
use serde::Deserialize;

use super::IncidentEntry;

/// The most incidents one answer lists.
pub const MAX_LIMIT: usize = 1000;
/// How many when the query does not say.
const DEFAULT_LIMIT: usize = 200;

/// The query string of an incident list: `?publisher=&category=&since=&until=&limit=`.
/// Empty values mean "any". Times are RFC 3339 UTC, a date, `YYYY-MM-DDTHH:MM`
/// (what a browser's date-time field sends, read as UTC), or seconds since
/// the epoch.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct IncidentQuery {
    /// Only this publisher's.
    pub publisher: Option<String>,
    /// Only this category's.
    pub category: Option<String>,
    /// Only from this time on.
    pub since: Option<String>,
    /// Only before this time.
    pub until: Option<String>,
    /// At most this many (1 to [`MAX_LIMIT`]; default 200).
    pub limit: Option<String>,
}

/// A query that cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryProblem {
    /// A time that is none of the accepted forms.
    #[error("{key}: not a time (use 2026-12-01T12:00:00Z, 2026-12-01 or seconds since the epoch)")]
    Time {
        /// `since` or `until`.
        key: &'static str,
    },
    /// A limit that is not a number from 1 to [`MAX_LIMIT`].
    #[error("limit must be a number from 1 to {MAX_LIMIT}")]
    Limit,
}

/// A parsed [`IncidentQuery`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    pub(crate) publisher: Option<String>,
    pub(crate) category: Option<String>,
    pub(crate) since: Option<Timestamp>,
    pub(crate) until: Option<Timestamp>,
    pub(crate) limit: usize,
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn time(value: &Option<String>, key: &'static str) -> Result<Option<Timestamp>, QueryProblem> {
    let Some(text) = non_empty(value) else {
        return Ok(None);
    };
    // A browser's datetime-local field leaves out the seconds.
    let parsed = if text.len() == 16 && text.as_bytes().get(13) == Some(&b':') {
        Timestamp::parse(&format!("{text}:00"))
    } else {
        Timestamp::parse(text)
    };
    parsed.map(Some).ok_or(QueryProblem::Time { key })
}

impl IncidentQuery {
    pub(crate) fn filter(&self) -> Result<Filter, QueryProblem> {
        let limit = match non_empty(&self.limit) {
            None => DEFAULT_LIMIT,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or(QueryProblem::Limit)?,
        };
        Ok(Filter {
            publisher: non_empty(&self.publisher).map(str::to_owned),
            category: non_empty(&self.category).map(str::to_owned),
            since: time(&self.since, "since")?,
            until: time(&self.until, "until")?,
            limit,
        })
    }
}

impl Filter {
    /// Whether `entry` passes every filter but the limit.
    pub(crate) fn matches(&self, entry: &IncidentEntry) -> bool {
        self.publisher
            .as_ref()
            .is_none_or(|p| entry.publisher == *p)
            && self
                .category
                .as_ref()
                .is_none_or(|c| entry.categories.iter().any(|e| e == c))
            && self.since.is_none_or(|t| entry.time >= t)
            && self.until.is_none_or(|t| entry.time < t)
    }

    /// The matching incidents, newest first, at most `limit`.
    pub(crate) fn apply<'a>(&self, incidents: &'a [IncidentEntry]) -> Vec<&'a IncidentEntry> {
        let mut found: Vec<&IncidentEntry> = incidents.iter().filter(|e| self.matches(e)).collect();
        found.sort_by(|a, b| newest_first(a, b));
        found.truncate(self.limit);
        found
    }
}

/// Newest first; equal times by publisher and name, so pages are stable.
pub(crate) fn newest_first(a: &IncidentEntry, b: &IncidentEntry) -> std::cmp::Ordering {
    b.time
        .cmp(&a.time)
        .then_with(|| a.publisher.cmp(&b.publisher))
        .then_with(|| b.name.cmp(&a.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(publisher: &str, name: &str, secs: i64, category: &str) -> IncidentEntry {
        IncidentEntry {
            publisher: publisher.into(),
            name: name.into(),
            path: name.into(),
            time: Timestamp(secs * 1_000_000),
            categories: vec![category.into()],
            level: None,
            facility: String::new(),
            trigger: String::new(),
        }
    }

    #[test]
    fn filters_by_publisher_category_and_time_newest_first() {
        let all = [
            entry("a", "1", 10, "db"),
            entry("b", "2", 20, "db"),
            entry("a", "3", 30, "net"),
            entry("a", "4", 40, "db"),
        ];
        let query = |p: &str, c: &str, since: &str, until: &str| IncidentQuery {
            publisher: Some(p.into()),
            category: Some(c.into()),
            since: Some(since.into()),
            until: Some(until.into()),
            limit: None,
        };
        let names = |q: IncidentQuery| -> Vec<String> {
            q.filter()
                .unwrap()
                .apply(&all)
                .iter()
                .map(|e| e.name.clone())
                .collect()
        };
        assert_eq!(names(query("", "", "", "")), ["4", "3", "2", "1"]);
        assert_eq!(names(query("a", "db", "", "")), ["4", "1"]);
        assert_eq!(names(query("", "", "20", "40")), ["3", "2"]);
        assert_eq!(names(query("", "", "1970-01-01T00:00:30Z", "")), ["4", "3"]);
        // What a browser's date-time field sends.
        assert_eq!(
            names(query("", "", "", "1970-01-01T00:00")),
            Vec::<String>::new()
        );
        let limited = IncidentQuery {
            limit: Some("1".into()),
            ..IncidentQuery::default()
        };
        assert_eq!(names(limited), ["4"]);
    }

    #[test]
    fn bad_times_and_limits_are_refused() {
        let bad_time = IncidentQuery {
            since: Some("yesterday".into()),
            ..IncidentQuery::default()
        };
        assert_eq!(
            bad_time.filter().unwrap_err(),
            QueryProblem::Time { key: "since" }
        );
        for limit in ["0", "1001", "x", "-1"] {
            let q = IncidentQuery {
                limit: Some(limit.into()),
                ..IncidentQuery::default()
            };
            assert_eq!(q.filter().unwrap_err(), QueryProblem::Limit, "{limit}");
        }
    }
}

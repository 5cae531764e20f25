//! Incidents per category per hour or day, and the bars that draw them.

use std::collections::BTreeMap;

use flog_core::Timestamp;
use serde::{Deserialize, Serialize};

use super::IncidentEntry;

/// The width of a trend's bars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    /// The last 48 hours, by the hour.
    #[default]
    Hour,
    /// The last 30 days, by the day.
    Day,
}

impl Bucket {
    fn micros(self) -> i64 {
        match self {
            Bucket::Hour => 3_600_000_000,
            Bucket::Day => 86_400_000_000,
        }
    }

    fn count(self) -> usize {
        match self {
            Bucket::Hour => 48,
            Bucket::Day => 30,
        }
    }
}

/// Incidents per category per bucket, oldest bucket first, the last one
/// holding `now`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trends {
    /// The bucket width.
    pub bucket: Bucket,
    /// The start of the first bucket (aligned to the UTC hour or day).
    #[serde(serialize_with = "super::utc")]
    pub start: Timestamp,
    /// The start of every bucket.
    #[serde(serialize_with = "super::utc_all")]
    pub starts: Vec<Timestamp>,
    /// By category (sorted): the count in each bucket.
    pub categories: BTreeMap<String, Vec<u32>>,
}

impl Trends {
    /// Counts `incidents` into the buckets ending with the one holding `now`.
    /// Incidents outside them are left out.
    pub fn count(incidents: &[IncidentEntry], bucket: Bucket, now: Timestamp) -> Trends {
        let width = bucket.micros();
        let n = bucket.count();
        let last = now.0.div_euclid(width) * width;
        let start = last - width * (n as i64 - 1);
        let mut categories: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for entry in incidents {
            let offset = entry.time.0 - start;
            if offset < 0 || offset >= width * n as i64 {
                continue;
            }
            let i = (offset / width) as usize;
            for category in &entry.categories {
                let counts = categories
                    .entry(category.clone())
                    .or_insert_with(|| vec![0; n]);
                counts[i] = counts[i].saturating_add(1);
            }
        }
        Trends {
            bucket,
            start: Timestamp(start),
            starts: (0..n as i64)
                .map(|i| Timestamp(start + i * width))
                .collect(),
            categories,
        }
    }
}

/// One bar of a chart, in the SVG's units.
#[derive(Debug)]
pub(crate) struct Bar {
    pub(crate) x: u32,
    pub(crate) y: u32,
    pub(crate) height: u32,
    /// `2026-12-01T13:00Z: 3`, shown on hover.
    pub(crate) title: String,
}

/// One category's chart.
#[derive(Debug)]
pub(crate) struct Chart {
    pub(crate) category: String,
    pub(crate) total: u64,
    pub(crate) max: u32,
    pub(crate) bars: Vec<Bar>,
}

/// The drawing area of a chart, in SVG units.
pub(crate) const CHART_WIDTH: u32 = 480;
pub(crate) const CHART_HEIGHT: u32 = 80;

impl Trends {
    /// Bars scaled so that each chart's highest bar fills it.
    pub(crate) fn charts(&self) -> Vec<Chart> {
        let n = self.starts.len().max(1) as u32;
        let bar_width = CHART_WIDTH / n;
        self.categories
            .iter()
            .map(|(category, counts)| {
                let max = counts.iter().copied().max().unwrap_or(0).max(1);
                let bars = counts
                    .iter()
                    .zip(&self.starts)
                    .enumerate()
                    .map(|(i, (&count, start))| {
                        let height =
                            (u64::from(count) * u64::from(CHART_HEIGHT) / u64::from(max)) as u32;
                        Bar {
                            x: i as u32 * bar_width,
                            y: CHART_HEIGHT - height,
                            height,
                            title: format!("{}: {count}", self.label(*start)),
                        }
                    })
                    .collect();
                Chart {
                    category: category.clone(),
                    total: counts.iter().map(|&c| u64::from(c)).sum(),
                    max,
                    bars,
                }
            })
            .collect()
    }

    /// A bucket's start as shown: the hour or the day.
    pub(crate) fn label(&self, start: Timestamp) -> String {
        let text = start.to_string();
        match self.bucket {
            Bucket::Hour => format!("{}Z", &text[..16]),
            Bucket::Day => text[..10].to_owned(),
        }
    }

    /// The width of one bar.
    pub(crate) fn bar_width(&self) -> u32 {
        (CHART_WIDTH / self.starts.len().max(1) as u32)
            .saturating_sub(1)
            .max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64, category: &str) -> IncidentEntry {
        IncidentEntry {
            publisher: "p".into(),
            name: secs.to_string(),
            path: secs.to_string().into(),
            time: Timestamp(secs * 1_000_000),
            categories: vec![category.into()],
            level: None,
            facility: String::new(),
            trigger: String::new(),
        }
    }

    #[test]
    fn counts_per_category_per_hour_ending_now() {
        let now = Timestamp((100 * 3600 + 1800) * 1_000_000);
        let incidents = [
            at(100 * 3600 + 5, "db"),
            at(100 * 3600 + 6, "db"),
            at(99 * 3600, "db"),
            at(99 * 3600 + 7, "net"),
            // 48 hours back: just outside.
            at(52 * 3600 + 3599, "db"),
            at(53 * 3600, "net"),
        ];
        let trends = Trends::count(&incidents, Bucket::Hour, now);
        assert_eq!(trends.start, Timestamp(53 * 3600 * 1_000_000));
        assert_eq!(trends.starts.len(), 48);
        let db = &trends.categories["db"];
        assert_eq!((db[47], db[46], db.iter().sum::<u32>()), (2, 1, 3));
        let net = &trends.categories["net"];
        assert_eq!((net[0], net[46], net.iter().sum::<u32>()), (1, 1, 2));
        let charts = trends.charts();
        assert_eq!(charts[0].category, "db");
        assert_eq!(charts[0].bars[47].height, CHART_HEIGHT);
        assert_eq!(charts[0].bars[46].height, CHART_HEIGHT / 2);
        assert_eq!(charts[0].bars[47].title, "1970-01-05T04:00Z: 2");
    }

    #[test]
    fn days_align_to_utc_midnight() {
        let now = Timestamp((10 * 86_400 + 5) * 1_000_000);
        let trends = Trends::count(&[at(10 * 86_400 - 1, "x")], Bucket::Day, now);
        assert_eq!(trends.categories["x"][28], 1);
        assert_eq!(trends.label(trends.starts[29]), "1970-01-11");
    }
}

//! Times as people read them: the `--timestamps` modes of foolscap's
//! flogtool, defined once so that every command (and a web view) shows a time
//! the same way. A leaf: it knows timestamps and time zones, nothing else.

use std::fmt::Write as _;

use flog_core::Timestamp;
use jiff::tz::TimeZone;

/// The environment variable that sets the default `--timestamps` mode.
pub(crate) const TIMESTAMPS_ENV: &str = "FLOGTOOL_TIMESTAMPS";

/// How a time is shown (`--timestamps`), with foolscap's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum TimeMode {
    /// `HH:MM:SS.mmm` in the local time zone (foolscap's default).
    ShortLocal,
    /// RFC 3339 in the local time zone, with its offset:
    /// `2023-11-14T17:13:20.123456-05:00`.
    LongLocal,
    /// RFC 3339 UTC with microseconds: `2023-11-14T22:13:20.123456Z` (the
    /// default).
    #[default]
    Utc,
    /// Seconds since 1970 with microseconds: `1700000000.123456`.
    Epoch,
}

impl TimeMode {
    fn is_local(self) -> bool {
        matches!(self, TimeMode::ShortLocal | TimeMode::LongLocal)
    }
}

/// A mode with the time zone it shows local times in.
#[derive(Debug, Clone)]
pub(crate) struct TimeFormat {
    mode: TimeMode,
    zone: TimeZone,
}

impl Default for TimeFormat {
    fn default() -> TimeFormat {
        TimeFormat::in_zone(TimeMode::Utc, TimeZone::UTC)
    }
}

impl TimeFormat {
    /// `mode` in the local time zone, as `TZ` names it (else
    /// `/etc/localtime`). When it cannot be told, local times are shown in
    /// UTC, with a warning.
    pub(crate) fn local(mode: TimeMode) -> TimeFormat {
        let zone = if mode.is_local() {
            TimeZone::try_system().unwrap_or_else(|error| {
                eprintln!(
                    "flogtool: warning: cannot tell the local time zone ({error}); \
                     showing local times in UTC"
                );
                TimeZone::UTC
            })
        } else {
            TimeZone::UTC
        };
        TimeFormat::in_zone(mode, zone)
    }

    /// `mode` in `zone`.
    pub(crate) fn in_zone(mode: TimeMode, zone: TimeZone) -> TimeFormat {
        TimeFormat { mode, zone }
    }

    /// The same zone, with the date kept: for times that stand alone (when a
    /// file started) rather than in a run of events on one day.
    pub(crate) fn with_date(&self) -> TimeFormat {
        let mode = match self.mode {
            TimeMode::ShortLocal => TimeMode::LongLocal,
            other => other,
        };
        TimeFormat::in_zone(mode, self.zone.clone())
    }

    /// `time` in this mode.
    pub(crate) fn format(&self, time: Timestamp) -> String {
        let mut out = String::with_capacity(32);
        self.write(&mut out, time);
        out
    }

    /// Appends `time` in this mode to `out`.
    pub(crate) fn write(&self, out: &mut String, time: Timestamp) {
        match self.mode {
            TimeMode::Utc => {
                let _ = write!(out, "{time}");
            }
            TimeMode::Epoch => {
                let micros = time.as_micros();
                let sign = if micros < 0 { "-" } else { "" };
                let abs = micros.unsigned_abs();
                let _ = write!(out, "{sign}{}.{:06}", abs / 1_000_000, abs % 1_000_000);
            }
            TimeMode::ShortLocal | TimeMode::LongLocal => self.write_local(out, time),
        }
    }

    fn write_local(&self, out: &mut String, time: Timestamp) {
        // Files may hold any instant; one past what a calendar library spans
        // (±9999 years) is shown as UTC, which always works.
        let Ok(instant) = jiff::Timestamp::from_microsecond(time.as_micros()) else {
            let _ = write!(out, "{time}");
            return;
        };
        let zoned = instant.to_zoned(self.zone.clone());
        let micros = zoned.subsec_nanosecond() / 1_000;
        let (h, m, s) = (zoned.hour(), zoned.minute(), zoned.second());
        if self.mode == TimeMode::ShortLocal {
            let _ = write!(out, "{h:02}:{m:02}:{s:02}.{:03}", micros / 1_000);
            return;
        }
        let offset = zoned.offset().seconds();
        let sign = if offset < 0 { '-' } else { '+' };
        let offset = offset.unsigned_abs() / 60;
        let _ = write!(
            out,
            "{:04}-{:02}-{:02}T{h:02}:{m:02}:{s:02}.{micros:06}{sign}{:02}:{:02}",
            zoned.year(),
            zoned.month(),
            zoned.day(),
            offset / 60,
            offset % 60
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2023-11-14T22:13:20.123456Z.
    const WINTER: Timestamp = Timestamp(1_700_000_000_123_456);

    #[test]
    fn utc_and_epoch_need_no_zone() {
        let utc = TimeFormat::default();
        assert_eq!(utc.format(WINTER), "2023-11-14T22:13:20.123456Z");
        let epoch = TimeFormat::in_zone(TimeMode::Epoch, TimeZone::UTC);
        assert_eq!(epoch.format(WINTER), "1700000000.123456");
        assert_eq!(epoch.format(Timestamp(-1_500_000)), "-1.500000");
        assert_eq!(epoch.format(Timestamp(-1)), "-0.000001");
    }

    #[test]
    fn local_modes_use_the_zone_and_its_offset() {
        let zone = TimeZone::fixed(jiff::tz::offset(-5));
        let short = TimeFormat::in_zone(TimeMode::ShortLocal, zone.clone());
        assert_eq!(short.format(WINTER), "17:13:20.123", "milliseconds, cut");
        let long = TimeFormat::in_zone(TimeMode::LongLocal, zone);
        assert_eq!(long.format(WINTER), "2023-11-14T17:13:20.123456-05:00");
        assert_eq!(
            short.with_date().format(WINTER),
            long.format(WINTER),
            "standing alone, a short time keeps its date"
        );
        let half = TimeZone::fixed(jiff::tz::Offset::from_seconds(5 * 3600 + 1800).unwrap());
        let long = TimeFormat::in_zone(TimeMode::LongLocal, half);
        assert_eq!(long.format(WINTER), "2023-11-15T03:43:20.123456+05:30");
    }

    #[test]
    fn instants_past_the_calendar_show_as_utc() {
        let long = TimeFormat::in_zone(TimeMode::LongLocal, TimeZone::UTC);
        let far = Timestamp(i64::MAX);
        assert_eq!(long.format(far), far.to_string());
        let before = Timestamp(-1);
        assert_eq!(long.format(before), "1969-12-31T23:59:59.999999+00:00");
    }
}
